#include "worker/engine/streaming.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "codec/cdz_reader.h"
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
                               /*workers=*/4, nullptr, nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_GT(source.peak(), 0);
  EXPECT_LE(source.peak(), source.largest());
  EXPECT_EQ(source.live(), 0);
  EXPECT_EQ(run->compressed_tensors, 10);
  auto reader = codec::CdzReader::OpenPath(paths.cdz);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->tensors().size(), 11u);
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

TEST(StreamingTest, GlobalSparsityRunsInMemory) {
  EngineConfig c = DataFreeConfig(true);
  c.stages[0].prune.criterion = PruneCriterion::kGlobalSparsity;
  EXPECT_FALSE(StreamsDataFree(c));
  EXPECT_TRUE(StreamsDataFree(DataFreeConfig(true)));
}

}  // namespace
}  // namespace condense::engine
