#include "worker/engine/streaming.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"
#include "codec/safetensors_shards.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/engine.h"
#include "worker/engine/testing/engine_testing.h"

namespace condense::engine {
namespace {

using testing::MakeMlp;
using testing::SaveModule;
using testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

EngineConfig DataFreeConfig(bool prune) {
  EngineConfig c;
  c.device = DeviceChoice::kCpu;
  if (prune) {
    StageConfig p;
    p.kind = StageConfig::Kind::kPrune;
    p.prune.epochs_per_step = 0;
    c.stages.push_back(p);
  }
  StageConfig q;
  q.kind = StageConfig::Kind::kQuantize;
  c.stages.push_back(q);
  return c;
}

class StreamedVsInMemory : public ::testing::TestWithParam<bool> {};

// The stream must produce the very bytes the in-memory path does: same
// clustering, same codebooks, same container, same exports.
TEST_P(StreamedVsInMemory, SameFiles) {
  const std::string dir = TempDir(GetParam() ? "stream_prune" : "stream_q");
  auto module = MakeMlp(64, 96, 10, /*seed=*/3);
  const std::string model = SaveModule(module, dir + "/mlp.pt");
  RunInputs in;
  in.model_path = model;
  in.threads = 2;
  in.out_dir = dir + "/streamed";
  const EngineConfig config = DataFreeConfig(GetParam());
  ASSERT_TRUE(StreamsDataFree(config));
  auto streamed = RunCompression(config, in, nullptr, nullptr);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_TRUE(streamed->report.value("streamed", false));
  in.out_dir = dir + "/memory";
  in.streaming = false;
  auto memory = RunCompression(config, in, nullptr, nullptr);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_FALSE(memory->report.value("streamed", false));
  EXPECT_EQ(ReadFile(streamed->cdz_path), ReadFile(memory->cdz_path));
  EXPECT_EQ(ReadFile(streamed->safetensors_path),
            ReadFile(memory->safetensors_path));
  torch::jit::Module a = torch::jit::load(streamed->torchscript_path);
  torch::jit::Module b = torch::jit::load(memory->torchscript_path);
  auto pa = a.named_parameters(true);
  auto pb = b.named_parameters(true);
  auto ib = pb.begin();
  for (const auto& p : pa) {
    ASSERT_NE(ib, pb.end());
    EXPECT_EQ(p.name, (*ib).name);
    EXPECT_TRUE(torch::equal(p.value, (*ib).value)) << p.name;
    ++ib;
  }
  EXPECT_EQ(streamed->report["totals"]["compressed_bytes"],
            memory->report["totals"]["compressed_bytes"]);
}

INSTANTIATE_TEST_SUITE_P(Specs, StreamedVsInMemory, ::testing::Bool());

// Synthetic tensors whose reads count the bytes alive at once.
class CountingSource : public ModelSource {
 public:
  explicit CountingSource(std::vector<int64_t> sizes) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      TensorEntry e;
      e.name = "layer" + std::to_string(i) + ".weight";
      e.shape = {sizes[i] / 16, 16};
      e.parameter = true;
      e.role = TensorRole::kLinearWeight;
      tensors_.push_back(e);
      largest_ = std::max(largest_, sizes[i] * 4);
    }
    TensorEntry bias;
    bias.name = "layer0.bias";
    bias.shape = {16};
    bias.parameter = true;
    bias.role = TensorRole::kBias;
    tensors_.push_back(bias);
    path_ = "synthetic";
    sha256_ = "0";
  }
  ModelFormat format() const override { return ModelFormat::kSafetensors; }
  bool reads_allocate() const override { return true; }
  absl::StatusOr<torch::Tensor> Read(size_t i) const override {
    const TensorEntry& e = tensors_[i];
    const int64_t bytes = e.numel() * 4;
    auto* data = new float[static_cast<size_t>(e.numel())];
    torch::Tensor values = torch::randn(
        e.shape, torch::Generator(
                     at::detail::createCPUGenerator(static_cast<uint64_t>(i))));
    std::memcpy(data, values.data_ptr<float>(), static_cast<size_t>(bytes));
    const int64_t now = live_ += bytes;
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return torch::from_blob(
        data, e.shape,
        [this, bytes](void* p) {
          delete[] static_cast<float*>(p);
          live_ -= bytes;
        },
        torch::kFloat32);
  }
  int64_t peak() const { return peak_; }
  int64_t live() const { return live_; }
  int64_t largest() const { return largest_; }

 private:
  mutable std::atomic<int64_t> live_{0};
  mutable std::atomic<int64_t> peak_{0};
  int64_t largest_ = 0;
};

TEST(StreamingTest, HoldsNoMoreThanTheLargestTensor) {
  const std::string dir = TempDir("stream_bound");
  CountingSource source({1 << 18, 1 << 12, 1 << 14, 1 << 16, 1 << 12, 1 << 12,
                         1 << 15, 1 << 12, 1 << 17, 1 << 12});
  StreamPaths paths{dir + "/m.cdz", dir + "/m.safetensors", ""};
  auto run = CompressStreaming(source, DataFreeConfig(false), {}, paths,
                               /*workers=*/4, nullptr, nullptr,
                               /*shared_budget=*/0);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_GT(source.peak(), 0);
  EXPECT_LE(source.peak(), source.largest());
  EXPECT_EQ(source.live(), 0);
  EXPECT_EQ(run->compressed_tensors, 10);
  auto reader = codec::CdzReader::OpenPath(paths.cdz);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->tensors().size(), 11u);
}

// With a shared budget, small tensors run together up to it (and not past
// it): the bound is the largest tensor or the budget, whichever is more.
TEST(StreamingTest, SmallTensorsShareTheBudget) {
  const std::string dir = TempDir("stream_shared");
  CountingSource source(std::vector<int64_t>(12, 1 << 16));
  StreamPaths paths{dir + "/m.cdz", dir + "/m.safetensors", ""};
  // Working memory per tensor: 4 bytes read plus 3 of work per weight, so
  // this budget admits three tensors at a time.
  const int64_t budget = 3 * 7 * (1 << 16);
  auto run = CompressStreaming(source, DataFreeConfig(false), {}, paths,
                               /*workers=*/4, nullptr, nullptr, budget);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_LE(source.peak(), 3 * source.largest());
  EXPECT_EQ(source.live(), 0);
  EXPECT_EQ(run->compressed_tensors, 12);
}

TEST(StreamingTest, CancelStopsAndLeavesNoOutput) {
  const std::string dir = TempDir("stream_cancel");
  auto module = MakeMlp(8, 16, 3, /*seed=*/1);
  RunInputs in;
  in.model_path = SaveModule(module, dir + "/mlp.pt");
  in.out_dir = dir + "/out";
  CancelFlag cancel;
  cancel.Cancel();
  auto out = RunCompression(DataFreeConfig(false), in, nullptr, &cancel);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(std::filesystem::exists(in.out_dir + "/model.cdz"));
}

// A Hugging Face style checkpoint in bf16 and fp16: two shards and an index.
std::string MakeHalfCheckpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  struct T {
    std::string name;
    codec::DType dtype;
    std::vector<uint64_t> shape;
  };
  const std::vector<std::vector<T>> shards = {
      {{"embed.weight", codec::DType::kBF16, {40, 24}},
       {"block.fc.weight", codec::DType::kBF16, {48, 24}},
       {"block.fc.bias", codec::DType::kBF16, {48}}},
      {{"block.norm.weight", codec::DType::kF32, {24}},
       {"block.out.weight", codec::DType::kF16, {24, 48}},
       {"step", codec::DType::kI64, {1}}}};
  nlohmann::json map = nlohmann::json::object();
  torch::manual_seed(5);
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file =
        "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
    std::vector<codec::SafetensorsWriter::Tensor> declared;
    for (const T& t : shards[s]) {
      declared.push_back({t.name, t.dtype, t.shape});
      map[t.name] = file;
    }
    auto w = codec::SafetensorsWriter::Create(
        *codec::NewAtomicFile(dir + "/" + file), declared, {{"format", "pt"}});
    EXPECT_TRUE(w.ok());
    for (const T& t : shards[s]) {
      std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
      torch::Tensor x =
          t.dtype == codec::DType::kI64
              ? torch::full(shape, 7, torch::kInt64)
              : (0.05 * torch::randn(shape))
                    .to(t.dtype == codec::DType::kBF16  ? torch::kBFloat16
                        : t.dtype == codec::DType::kF16 ? torch::kFloat16
                                                        : torch::kFloat32);
      EXPECT_TRUE((*w)->Append(t.name, {static_cast<const char*>(x.data_ptr()),
                                        static_cast<size_t>(x.numel() *
                                                            x.element_size())})
                      .ok());
    }
    EXPECT_TRUE((*w)->Finish().ok());
  }
  std::ofstream(dir + "/model.safetensors.index.json") << nlohmann::json{
      {"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump();
  return dir;
}

// Read and written in their own dtypes, shard by shard: the exported
// checkpoint has the input's layout, its raw tensors bit for bit, and its
// compressed ones exactly as the .cdz decodes them in their dtype.
TEST(StreamingTest, ShardedHalfCheckpointComesBackInItsLayoutAndDTypes) {
  namespace fs = std::filesystem;
  const std::string dir = TempDir("stream_sharded");
  const std::string model = MakeHalfCheckpoint(dir + "/ckpt");
  RunInputs in;
  in.model_path = model + "/model.safetensors.index.json";
  in.out_dir = dir + "/out";
  in.threads = 2;
  auto out = RunCompression(DataFreeConfig(false), in, nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->report["model"]["format"], "safetensors-sharded");
  ASSERT_TRUE(fs::is_directory(out->safetensors_path));
  EXPECT_EQ(fs::path(out->safetensors_path).filename(), "model-shards");

  auto original = codec::ShardedSafetensors::Open(model);
  auto exported = codec::ShardedSafetensors::Open(out->safetensors_path);
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_TRUE(exported.ok()) << exported.status();
  const codec::ShardLayout& a_layout = (*original)->layout();
  const codec::ShardLayout& b_layout = (*exported)->layout();
  EXPECT_EQ(b_layout.index_file, a_layout.index_file);
  ASSERT_EQ(b_layout.shards.size(), a_layout.shards.size());
  for (size_t s = 0; s < a_layout.shards.size(); ++s) {
    EXPECT_EQ(b_layout.shards[s].file, a_layout.shards[s].file);
    EXPECT_EQ(b_layout.shards[s].metadata, a_layout.shards[s].metadata);
    EXPECT_EQ(b_layout.shards[s].tensors, a_layout.shards[s].tensors);
  }
  auto reader = codec::CdzReader::OpenPath(out->cdz_path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  uint64_t original_bytes = 0;
  int compressed = 0;
  for (size_t i = 0; i < (*original)->entries().size(); ++i) {
    const auto& a = (*original)->entries()[i];
    const auto& b = (*exported)->entries()[i];
    SCOPED_TRACE(a.entry->name);
    ASSERT_EQ(b.entry->name, a.entry->name);
    EXPECT_EQ(b.entry->dtype, a.entry->dtype);
    EXPECT_EQ(b.entry->shape, a.entry->shape);
    original_bytes += a.entry->data_bytes;
    std::vector<uint8_t> before, after;
    ASSERT_TRUE((*original)->shard(a.shard).ReadBytes(*a.entry, &before).ok());
    ASSERT_TRUE((*exported)->shard(b.shard).ReadBytes(*b.entry, &after).ok());
    const codec::cdz::TensorInfo& info = (*reader)->tensors()[i];
    EXPECT_EQ(info.name, a.entry->name);
    EXPECT_EQ(info.dtype, a.entry->dtype);
    std::vector<uint8_t> decoded(after.size());
    codec::DecodeScratch scratch;
    ASSERT_TRUE((*reader)->DecodeTo(i, info.dtype, decoded, &scratch).ok());
    EXPECT_EQ(decoded, after);
    if (info.encoding == codec::cdz::Encoding::kRaw) {
      EXPECT_EQ(after, before);
      continue;
    }
    ++compressed;
    // Quantized in its own dtype: few distinct values, close to the input.
    std::vector<float> x(a.entry->numel), y(a.entry->numel);
    codec::ConvertToFloat32(a.entry->dtype, before.data(), x.size(), x.data());
    codec::ConvertToFloat32(a.entry->dtype, after.data(), y.size(), y.data());
    std::set<float> distinct(y.begin(), y.end());
    EXPECT_LE(distinct.size(), 257u);
    double err = 0, norm = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      err += (x[k] - y[k]) * (x[k] - y[k]);
      norm += x[k] * x[k];
    }
    EXPECT_LT(std::sqrt(err / norm), 0.1);
  }
  EXPECT_EQ(compressed, 3);  // embed, fc and out weights.
  // The ratio's baseline is the checkpoint's own bytes, 2 per bf16 weight.
  EXPECT_EQ(out->report["totals"]["original_bytes"], original_bytes);
  EXPECT_EQ(nlohmann::json::parse(b_layout.index_metadata)["total_size"],
            original_bytes);

  // The .cdz alone rebuilds the same checkpoint.
  const std::string again = dir + "/again";
  ASSERT_TRUE(codec::ExportShardedSafetensors(**reader, again).ok());
  for (const auto& f : fs::directory_iterator(again)) {
    EXPECT_EQ(
        ReadFile(f.path().string()),
        ReadFile(out->safetensors_path + "/" + f.path().filename().string()))
        << f.path();
  }
}

// The encodings each quantized tensor of a run's .cdz was stored with.
std::vector<codec::cdz::Encoding> QuantizedEncodings(const std::string& path) {
  std::vector<codec::cdz::Encoding> out;
  auto reader = codec::CdzReader::OpenPath(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  for (const codec::cdz::TensorInfo& info : (*reader)->tensors()) {
    if (info.encoding != codec::cdz::Encoding::kRaw) {
      out.push_back(info.encoding);
    }
  }
  return out;
}

// fast_decode keeps the context coder out of the file, streamed or not; by
// default it stores these tensors (the smallest encoding wins).
TEST(StreamingTest, FastDecodeStoresNoTensorContextCoded) {
  const std::string dir = TempDir("fast_decode");
  auto module = MakeMlp(400, 300, 10, /*seed=*/3);
  const std::string model = SaveModule(module, dir + "/mlp.pt");
  for (bool streaming : {true, false}) {
    for (bool fast : {false, true}) {
      SCOPED_TRACE(absl::StrCat("streaming ", streaming, " fast ", fast));
      EngineConfig config = DataFreeConfig(/*prune=*/true);
      config.fc.fast_decode = fast;
      RunInputs in;
      in.model_path = model;
      in.streaming = streaming;
      in.out_dir = absl::StrCat(dir, "/", streaming, fast);
      auto out = RunCompression(config, in, nullptr, nullptr);
      ASSERT_TRUE(out.ok()) << out.status();
      const auto encodings = QuantizedEncodings(out->cdz_path);
      EXPECT_EQ(encodings.size(), 2u);  // The two weight matrices.
      const auto context_coded =
          std::count(encodings.begin(), encodings.end(),
                     codec::cdz::Encoding::kContextCoded);
      if (fast) {
        EXPECT_EQ(context_coded, 0);
      } else {
        EXPECT_GT(context_coded, 0);
      }
    }
  }
}

TEST(StreamingTest, GlobalSparsityRunsInMemory) {
  EngineConfig c = DataFreeConfig(true);
  c.stages[0].prune.criterion = PruneCriterion::kGlobalSparsity;
  EXPECT_FALSE(StreamsDataFree(c));
  EXPECT_TRUE(StreamsDataFree(DataFreeConfig(true)));
}

}  // namespace
}  // namespace condense::engine
