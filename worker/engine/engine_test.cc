#include "worker/engine/engine.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "codec/cdz_reader.h"
#include "codec/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/model.h"
#include "worker/engine/model_source.h"
#include "worker/engine/stages.h"
#include "worker/engine/testing/engine_testing.h"

namespace condense::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::MakeMlp;
using ::testing::Not;
using testing::SaveModule;
using testing::TempDir;
using testing::WriteClassificationData;

// Every tensor of a .cdz, decoded, by name.
std::map<std::string, std::vector<float>> DecodeAll(const std::string& path) {
  std::map<std::string, std::vector<float>> out;
  auto reader = codec::CdzReader::OpenPath(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  codec::DecodedTensor t;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    EXPECT_TRUE((*reader)->Decode(i, &t).ok());
    out[t.info.name] = t.values;
  }
  return out;
}

// A small deep-compression-like config that trains in well under a second.
EngineConfig SmallConfig() {
  EngineConfig c;
  StageConfig prune;
  prune.kind = StageConfig::Kind::kPrune;
  prune.prune.steps = 2;
  prune.prune.epochs_per_step = 1;
  StageConfig quantize;
  quantize.kind = StageConfig::Kind::kQuantize;
  quantize.quantize.epochs = 1;
  c.stages = {prune, quantize};
  c.fc.sensitivity = 1.0;
  c.fc.bits = 4;
  c.training.batch_size = 32;
  c.training.learning_rate = 1e-2;
  c.device = DeviceChoice::kCpu;
  c.seed = 7;
  return c;
}

struct Inputs {
  std::string dir;
  RunInputs run;
};

Inputs MakeInputs(const std::string& name) {
  Inputs in;
  in.dir = TempDir(name);
  auto module = MakeMlp(32, 128, 3, 1);
  in.run.model_path = SaveModule(module, in.dir + "/mlp.pt");
  WriteClassificationData(in.dir + "/train.safetensors", 600, 32, 3, 2);
  WriteClassificationData(in.dir + "/eval.safetensors", 200, 32, 3, 3);
  in.run.train_data = in.dir + "/train.safetensors";
  in.run.eval_data = in.dir + "/eval.safetensors";
  in.run.out_dir = in.dir + "/out";
  in.run.threads = 1;
  return in;
}

TEST(EngineTest, CompressesVerifiesAndExports) {
  Inputs in = MakeInputs("run");
  auto out = RunCompression(SmallConfig(), in.run, nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& r = out->report;
  EXPECT_GT(r["totals"]["compression_ratio"].get<double>(), 3);
  EXPECT_GT(r["accuracy"]["final"].get<double>(), 0.7);
  EXPECT_EQ(r["stages"].size(), 2u);
  EXPECT_EQ(r["tensors"].size(), 4u);
  EXPECT_EQ(r["model"]["format"], "torchscript");
  // The exported TorchScript holds exactly the .cdz's tensors.
  auto reader = codec::CdzReader::OpenPath(out->cdz_path);
  ASSERT_TRUE(reader.ok());
  torch::jit::Module exported = torch::jit::load(out->torchscript_path);
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : exported.named_parameters(true))
    params[p.name] = p.value;
  codec::DecodedTensor t;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    ASSERT_TRUE((*reader)->Decode(i, &t).ok());
    torch::Tensor want = torch::from_blob(
        t.values.data(), {static_cast<int64_t>(t.values.size())});
    EXPECT_TRUE(torch::equal(params.at(t.info.name).flatten(), want))
        << t.info.name;
  }
  // Quantized layers use at most 2^bits distinct values.
  EXPECT_LE(std::get<0>(at::_unique(params.at("fc1.weight"))).numel(), 17);
  EXPECT_TRUE(fs::exists(out->safetensors_path));
  EXPECT_TRUE(fs::exists(out->report_path));
  // report.html beside it; histograms for the report; nothing to warn of.
  ASSERT_TRUE(fs::exists(out->report_html_path));
  EXPECT_GT(fs::file_size(out->report_html_path), 5000u);
  const auto& layers = r["weights"]["layers"];
  ASSERT_EQ(layers.size(), 2u);
  int64_t dense_count = 0;
  for (const auto& c : layers[0]["dense"]) dense_count += c.get<int64_t>();
  EXPECT_EQ(dense_count, params.at("fc1.weight").numel());
  EXPECT_LE(layers[0]["centroids"].size(), 16u);
  EXPECT_TRUE(r["stages"][0]["weight_histograms"].contains("fc1.weight"));
  EXPECT_TRUE(r["warnings"].empty()) << r["warnings"];
}

// Entropy-constrained sharing: the same run with rate_lambda above 0 codes
// fewer bits per index, and with labelled data the errors are importance
// weighted either way.
TEST(EngineTest, RateLambdaLowersTheIndexEntropyAndTheBytes) {
  double entropy[2] = {}, bytes[2] = {};
  for (int i = 0; i < 2; ++i) {
    Inputs in = MakeInputs(i == 0 ? "rate0" : "rate1");
    EngineConfig c = SmallConfig();
    c.stages[1].quantize.rate_lambda = i == 0 ? 0.0 : 0.2;
    auto out = RunCompression(c, in.run, nullptr, nullptr);
    ASSERT_TRUE(out.ok()) << out.status();
    const auto& layers = out->report["stages"][1]["layers"];
    ASSERT_FALSE(layers.empty());
    for (const auto& l : layers) {
      EXPECT_TRUE(l["importance_weighted"].get<bool>()) << l;
      EXPECT_EQ(l["rate_lambda"].get<double>(), i == 0 ? 0.0 : 0.2);
      entropy[i] +=
          l["index_entropy_bits"].get<double>() * l["nonzeros"].get<double>();
    }
    bytes[i] = out->report["totals"]["compressed_bytes"].get<double>();
  }
  EXPECT_LT(entropy[1], 0.8 * entropy[0]);
  EXPECT_LT(bytes[1], bytes[0]);
}

TEST(EngineTest, WarnsOfALayerPrunedAway) {
  Inputs in = MakeInputs("pruned_away");
  EngineConfig c;
  StageConfig prune;
  prune.prune.steps = 1;
  prune.prune.epochs_per_step = 0;
  c.stages = {prune};
  c.fc.sensitivity = 50;  // Far beyond any weight: nothing survives.
  c.device = DeviceChoice::kCpu;
  in.run.train_data.clear();
  in.run.eval_data.clear();
  std::vector<ProgressEvent> events;
  struct Collect : ProgressObserver {
    std::vector<ProgressEvent>* events;
    void OnEvent(const ProgressEvent& e) override { events->push_back(e); }
  } collect;
  collect.events = &events;
  auto out = RunCompression(c, in.run, &collect, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& warnings = out->report["warnings"];
  ASSERT_EQ(warnings.size(), 2u) << warnings;
  EXPECT_THAT(warnings[0].get<std::string>(),
              HasSubstr("layer fc1.weight was pruned entirely"));
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const auto& e) {
    return e.message.rfind("warning: layer fc2.weight", 0) == 0;
  }));
}

TEST(EngineTest, ResumedRunReachesTheSameResult) {
  Inputs whole = MakeInputs("whole");
  auto a = RunCompression(SmallConfig(), whole.run, nullptr, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();

  Inputs parts = MakeInputs("parts");
  parts.run.checkpoint_dir = parts.dir + "/ckpt";
  parts.run.stop_after_stages = 1;
  auto stopped = RunCompression(SmallConfig(), parts.run, nullptr, nullptr);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(fs::exists(parts.run.out_dir + "/model.cdz"));
  parts.run.stop_after_stages = 0;
  struct Log : ProgressObserver {
    std::vector<std::string> stages;
    void OnEvent(const ProgressEvent& e) override {
      if (e.kind == ProgressEvent::Kind::kStageStarted)
        stages.push_back(e.stage);
    }
  } log;
  auto b = RunCompression(SmallConfig(), parts.run, &log, nullptr);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(log.stages, std::vector<std::string>{"quantize"});
  EXPECT_EQ(DecodeAll(a->cdz_path), DecodeAll(b->cdz_path));
  EXPECT_EQ(b->report["stages"].size(), 2u);

  // A checkpoint of another spec is not used.
  EngineConfig other = SmallConfig();
  other.spec_json = "{\"other\": true}";
  log.stages.clear();
  ASSERT_TRUE(RunCompression(other, parts.run, &log, nullptr).ok());
  EXPECT_EQ(log.stages.size(), 2u);
}

TEST(EngineTest, CancelledRunWritesNothing) {
  Inputs in = MakeInputs("cancel");
  CancelFlag cancel;
  struct Canceller : ProgressObserver {
    CancelFlag* flag;
    void OnEvent(const ProgressEvent& e) override {
      if (e.kind == ProgressEvent::Kind::kBatch && e.stage == "quantize") {
        flag->Cancel();
      }
    }
  } canceller;
  canceller.flag = &cancel;
  auto out = RunCompression(SmallConfig(), in.run, &canceller, &cancel);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(out.status().message(), HasSubstr("quantize"));
  EXPECT_FALSE(fs::exists(in.run.out_dir + "/model.cdz"));
  EXPECT_FALSE(fs::exists(in.run.out_dir + "/.partial"));
}

TEST(EngineTest, SensitivityPruningUsesStdOfTheLayer) {
  Inputs in = MakeInputs("threshold");
  EngineConfig c;
  StageConfig prune;
  prune.prune.steps = 2;
  prune.prune.epochs_per_step = 0;
  c.stages = {prune};
  c.fc.sensitivity = 0.8;
  c.device = DeviceChoice::kCpu;
  torch::jit::Module dense = torch::jit::load(in.run.model_path);
  in.run.train_data.clear();
  in.run.eval_data.clear();
  auto out = RunCompression(c, in.run, nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  torch::jit::Module pruned = torch::jit::load(out->torchscript_path);
  for (const char* name : {"fc1", "fc2"}) {
    torch::Tensor w = dense.attr(name).toModule().attr("weight").toTensor();
    torch::Tensor p = pruned.attr(name).toModule().attr("weight").toTensor();
    torch::Tensor keep = w.abs() > 0.8 * w.std().item<double>();
    EXPECT_TRUE(torch::equal(p, w * keep)) << name;
    EXPECT_GT(keep.logical_not().sum().item<int64_t>(), 0);
  }
}

TEST(EngineTest, DataFreeSafetensorsModel) {
  Inputs in = MakeInputs("datafree");
  // The MLP's state dict as safetensors.
  torch::jit::Module m = torch::jit::load(in.run.model_path);
  std::vector<codec::SafetensorsWriter::Tensor> decl;
  std::vector<torch::Tensor> values;
  for (const auto& p : m.named_parameters(true)) {
    decl.push_back({p.name,
                    codec::DType::kF32,
                    {p.value.sizes().begin(), p.value.sizes().end()}});
    values.push_back(p.value.contiguous());
  }
  const std::string path = in.dir + "/mlp.safetensors";
  {
    auto w =
        codec::SafetensorsWriter::Create(*codec::NewAtomicFile(path), decl, {});
    ASSERT_TRUE(w.ok());
    for (size_t i = 0; i < decl.size(); ++i) {
      ASSERT_TRUE((*w)->Append(decl[i].name,
                               absl::string_view(static_cast<const char*>(
                                                     values[i].data_ptr()),
                                                 values[i].numel() * 4))
                      .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
  in.run.model_path = path;
  in.run.train_data.clear();
  in.run.eval_data.clear();
  EngineConfig c;
  StageConfig q;
  q.kind = StageConfig::Kind::kQuantize;
  c.stages = {q};
  c.device = DeviceChoice::kCpu;
  auto out = RunCompression(c, in.run, nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->torchscript_path.empty());
  EXPECT_EQ(out->report["model"]["format"], "safetensors");
  EXPECT_TRUE(out->report["accuracy"]["final"].is_null());
  // 5-bit codebooks without pruning: about 6x with Huffman.
  EXPECT_GT(out->report["totals"]["compression_ratio"].get<double>(), 4);

  // Retraining needs a module.
  c.stages[0].quantize.epochs = 1;
  auto bad = RunCompression(c, in.run, nullptr, nullptr);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

// A model saved by a newer PyTorch that calls an op this LibTorch lacks
// (worker/engine/testdata/make_unknown_op_model.py) is refused with the op's
// name and what to do, not LibTorch's traceback.
TEST(EngineTest, ModelCallingAnUnknownOpIsRefusedNamingIt) {
  const std::string path = std::string(CONDENSE_SOURCE_DIR) +
                           "/worker/engine/testdata/unknown_op.pt";
  auto source = OpenModelSource(path, std::nullopt);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(source.status().message());
  EXPECT_THAT(m, HasSubstr("calls aten::zelu, which this worker's LibTorch"));
  EXPECT_THAT(m, HasSubstr("Re-export it"));
  EXPECT_THAT(m, Not(HasSubstr("suggestions")));
}

TEST(EngineTest, TiedParametersAreStoredOnceAndStayTied) {
  Inputs in = MakeInputs("tied");
  torch::manual_seed(3);
  torch::jit::Module m("Tied");
  torch::Tensor shared = torch::randn({32, 32}) / 6;
  for (const char* name : {"enc", "dec"}) {
    torch::jit::Module lin("Linear");
    lin.register_parameter("weight", shared, false);
    lin.define(
        "def forward(self, x):\n  return torch.linear(x, self.weight)\n");
    m.register_module(name, lin);
  }
  torch::jit::Module head("Linear");
  head.register_parameter("weight", torch::randn({3, 32}) / 6, false);
  head.define("def forward(self, x):\n  return torch.linear(x, self.weight)\n");
  m.register_module("head", head);
  m.define(
      "def forward(self, x):\n"
      "  return "
      "self.head.forward(torch.relu(self.dec.forward(self.enc.forward(x))))\n");
  in.run.model_path = SaveModule(m, in.dir + "/tied.pt");
  EngineConfig c = SmallConfig();
  auto out = RunCompression(c, in.run, nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  auto reader = codec::CdzReader::OpenPath(out->cdz_path);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->tensors().size(), 2u);  // enc.weight once, head.weight.
  EXPECT_THAT((*reader)->manifest().at("aliases"), HasSubstr("dec.weight"));
  torch::jit::Module exported = torch::jit::load(out->torchscript_path);
  torch::Tensor enc = exported.attr("enc").toModule().attr("weight").toTensor();
  torch::Tensor dec = exported.attr("dec").toModule().attr("weight").toTensor();
  EXPECT_TRUE(torch::equal(enc, dec));
  EXPECT_GT((enc == 0).sum().item<int64_t>(), 0);
}

struct BadCase {
  const char* name;
  std::function<void(Inputs&, EngineConfig&)> mutate;
  absl::StatusCode code;
  const char* needle;
};

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInputTest, ClearErrorAndNoOutput) {
  Inputs in = MakeInputs("bad");
  EngineConfig c = SmallConfig();
  GetParam().mutate(in, c);
  auto out = RunCompression(c, in.run, nullptr, nullptr);
  EXPECT_EQ(out.status().code(), GetParam().code) << out.status();
  EXPECT_THAT(out.status().message(), HasSubstr(GetParam().needle));
  EXPECT_FALSE(fs::exists(in.run.out_dir + "/model.cdz"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadInputTest,
    ::testing::Values(
        BadCase{"MissingModel",
                [](Inputs& in, EngineConfig&) { in.run.model_path += ".x"; },
                absl::StatusCode::kNotFound, "not found"},
        BadCase{"NotTorchScript",
                [](Inputs& in, EngineConfig&) {
                  std::ofstream(in.dir + "/junk.pt") << "not a model";
                  in.run.model_path = in.dir + "/junk.pt";
                },
                absl::StatusCode::kInvalidArgument, "torch.jit.save"},
        BadCase{"WrongSampleShape",
                [](Inputs& in, EngineConfig&) {
                  WriteClassificationData(in.dir + "/wide.safetensors", 50, 33,
                                          3, 1);
                  in.run.train_data = in.dir + "/wide.safetensors";
                  in.run.eval_data.clear();
                },
                absl::StatusCode::kInvalidArgument,
                "the model does not accept the data"},
        BadCase{"LabelsOutOfRange",
                [](Inputs& in, EngineConfig&) {
                  WriteClassificationData(in.dir + "/many.safetensors", 300, 32,
                                          5, 1);
                  in.run.train_data = in.dir + "/many.safetensors";
                  in.run.eval_data.clear();
                },
                absl::StatusCode::kInvalidArgument, "labels go up to 4"},
        BadCase{"TrainingWithoutData",
                [](Inputs& in, EngineConfig&) {
                  in.run.train_data.clear();
                  in.run.eval_data.clear();
                },
                absl::StatusCode::kInvalidArgument, "no data was given"},
        BadCase{"MissingDataFile",
                [](Inputs& in, EngineConfig&) { in.run.eval_data += ".x"; },
                absl::StatusCode::kNotFound, "not found"},
        BadCase{"SampleShapeThatDoesNotFit",
                [](Inputs&, EngineConfig& c) {
                  c.data.sample_shape = {5, 5};
                },
                absl::StatusCode::kInvalidArgument, "holds 25 values"},
        BadCase{"CrossEntropyWithoutLabels",
                [](Inputs& in, EngineConfig& c) {
                  WriteClassificationData(in.dir + "/u.safetensors", 300, 32, 3,
                                          1, /*with_targets=*/false);
                  in.run.train_data = in.dir + "/u.safetensors";
                  in.run.eval_data.clear();
                  c.loss.kind = LossKind::kCrossEntropy;
                },
                absl::StatusCode::kInvalidArgument, "needs labels"}),
    [](const ::testing::TestParamInfo<BadCase>& case_info) {
      return std::string(case_info.param.name);
    });

TEST(EngineTest, DistillsWithoutLabels) {
  Inputs in = MakeInputs("distill");
  WriteClassificationData(in.dir + "/u.safetensors", 400, 32, 3, 1,
                          /*with_targets=*/false);
  in.run.train_data = in.dir + "/u.safetensors";
  in.run.eval_data.clear();
  auto out = RunCompression(SmallConfig(), in.run, nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->report["data"]["labelled"].get<bool>());
  EXPECT_TRUE(out->report["accuracy"]["final"].is_null());
}

}  // namespace
}  // namespace condense::engine
