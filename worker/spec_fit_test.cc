// The engine refuses every spec, model and data that the server refuses at
// CreateJob, with the same message: the table is shared with
// server/job_core_test.cc.
#include <filesystem>

#include "codec/file_io.h"
#include "codec/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/spec_util.h"
#include "worker/engine/engine.h"
#include "worker/engine/testing/engine_testing.h"
#include "worker/engine/testing/spec_fit_cases.h"
#include "worker/spec_config.h"

namespace condense::worker {
namespace {

using engine::testing::SpecFitCase;
using ::testing::HasSubstr;

class EngineSpecFitTest : public ::testing::TestWithParam<SpecFitCase> {};

TEST_P(EngineSpecFitTest, RefusesWhatTheServerRefuses) {
  const SpecFitCase& c = GetParam();
  auto spec = spec::ComposeSpec(c.preset, {}, c.overrides, c.has_data);
  ASSERT_TRUE(spec.ok()) << spec.status();
  // A short run: one epoch a stage at most, so the accepted cases finish
  // quickly.
  auto config = ToEngineConfig(*spec);
  ASSERT_TRUE(config.ok()) << config.status();
  config->device = engine::DeviceChoice::kCpu;
  for (engine::StageConfig& s : config->stages) {
    s.prune.steps = std::min(s.prune.steps, 1);
    s.prune.epochs_per_step = std::min(s.prune.epochs_per_step, 1);
    s.dsd.sparse_epochs = s.dsd.dense_epochs = 0;
    if (s.quantize.epochs) s.quantize.epochs = std::min(*s.quantize.epochs, 1);
  }
  const std::string dir = engine::testing::TempDir("fit_" + c.name);
  auto module = engine::testing::MakeMlp(8, 16, 3, /*seed=*/1);
  engine::RunInputs in;
  in.model_path = engine::testing::SaveModule(module, dir + "/mlp.pt");
  if (c.safetensors) {
    // The module's state dict, as a user would hand it over.
    std::vector<codec::SafetensorsWriter::Tensor> decl;
    std::vector<torch::Tensor> values;
    for (const auto& p : module.named_parameters(true)) {
      decl.push_back({p.name,
                      codec::DType::kF32,
                      {p.value.sizes().begin(), p.value.sizes().end()}});
      values.push_back(p.value.contiguous());
    }
    in.model_path = dir + "/mlp.safetensors";
    auto w = codec::SafetensorsWriter::Create(
        *codec::NewAtomicFile(in.model_path), decl, {});
    ASSERT_TRUE(w.ok());
    for (size_t i = 0; i < decl.size(); ++i) {
      ASSERT_TRUE((*w)->Append(decl[i].name,
                               {static_cast<const char*>(values[i].data_ptr()),
                                static_cast<size_t>(values[i].numel() * 4)})
                      .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
    in.model_format = "safetensors";
  }
  if (c.has_data) {
    in.train_data = dir + "/data.safetensors";
    engine::testing::WriteClassificationData(in.train_data, 256, 8, 3, 2);
  }
  in.out_dir = dir + "/out";
  in.threads = 1;
  auto out = engine::RunCompression(*config, in, nullptr, nullptr);
  if (c.refusal.empty()) {
    EXPECT_TRUE(out.ok()) << out.status();
  } else {
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(), HasSubstr(c.refusal));
    EXPECT_FALSE(std::filesystem::exists(in.out_dir + "/model.cdz"));
  }
}

// fast_decode reaches the codec's options, per layer kind (through --set)
// and per rule, and is off by default.
TEST(SpecConfigTest, FastDecodeReachesTheEncodeOptions) {
  v1::CompressionSpec rules;
  v1::LayerRule* rule = rules.add_layers();
  rule->set_pattern("conv2.weight");
  rule->mutable_settings()->set_fast_decode(true);
  auto spec = spec::ComposeSpec("quantize", rules, {"fc.fast_decode=true"},
                                /*has_data=*/false);
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto config = ToEngineConfig(*spec);
  ASSERT_TRUE(config.ok()) << config.status();
  auto allows_context = [&](const std::string& name, int rank,
                            engine::TensorRole role) {
    return engine::EncodeOptions(
               engine::ResolveLayer(*config, name, rank, role))
        .allow_context_coded;
  };
  EXPECT_FALSE(
      allows_context("fc1.weight", 2, engine::TensorRole::kLinearWeight));
  EXPECT_TRUE(
      allows_context("conv1.weight", 4, engine::TensorRole::kConvWeight));
  EXPECT_FALSE(
      allows_context("conv2.weight", 4, engine::TensorRole::kConvWeight));
  auto plain = ToEngineConfig(*spec::ComposeSpec("quantize", {}, {}, false));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(engine::EncodeOptions(
                  engine::ResolveLayer(*plain, "fc1.weight", 2,
                                       engine::TensorRole::kLinearWeight))
                  .allow_context_coded);
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineSpecFitTest,
                         ::testing::ValuesIn(engine::testing::SpecFitCases()),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace condense::worker
