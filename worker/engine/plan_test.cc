#include "worker/engine/plan.h"

#include "codec/cdz_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/data.h"
#include "worker/engine/engine.h"
#include "worker/engine/model.h"
#include "worker/engine/testing/engine_testing.h"

namespace condense::engine {
namespace {

using testing::MakeMlp;
using testing::SaveModule;
using testing::TempDir;
using testing::WriteClassificationData;

EngineConfig QuantizeConfig() {
  EngineConfig c;
  c.device = DeviceChoice::kCpu;
  StageConfig q;
  q.kind = StageConfig::Kind::kQuantize;
  c.stages = {q};
  return c;
}

absl::StatusOr<Model> LoadModel(const std::string& path,
                                const EngineConfig& c) {
  auto source = OpenModelSource(path, std::nullopt);
  if (!source.ok()) return source.status();
  return Model::Load(*std::move(source), c, torch::kCPU);
}

// Evaluate's bytes are the codec's own: for the plan a data-free quantize
// run carries out, exactly the file that run writes.
TEST(PlanTest, BytesAreTheFileTheRunWrites) {
  const std::string dir = TempDir("plan_bytes");
  auto module = MakeMlp(32, 64, 10, /*seed=*/5);
  RunInputs in;
  in.model_path = SaveModule(module, dir + "/mlp.pt");
  in.out_dir = dir + "/out";
  const EngineConfig c = QuantizeConfig();
  auto run = RunCompression(c, in, nullptr, nullptr);
  ASSERT_TRUE(run.ok()) << run.status();
  auto reader = codec::CdzReader::OpenPath(run->cdz_path);
  ASSERT_TRUE(reader.ok());

  auto model = LoadModel(in.model_path, c);
  ASSERT_TRUE(model.ok()) << model.status();
  const CompressionPlan plan = ResolvePlan(c, model->source().tensors());
  ASSERT_EQ(plan.tensors.size(), model->tensors().size());
  auto cost = Evaluate(plan, *model, nullptr, (*reader)->manifest());
  ASSERT_TRUE(cost.ok()) << cost.status();
  EXPECT_EQ(cost->file_bytes,
            run->report["totals"]["compressed_bytes"].get<uint64_t>());
  EXPECT_DOUBLE_EQ(cost->ratio,
                   run->report["totals"]["compression_ratio"].get<double>());
  EXPECT_EQ(cost->top1, -1);  // No data.
}

TEST(PlanTest, MeasuresAccuracyAndRestoresTheModel) {
  const std::string dir = TempDir("plan_acc");
  auto module = MakeMlp(64, 128, 3, /*seed=*/1);
  const std::string path = SaveModule(module, dir + "/mlp.pt");
  WriteClassificationData(dir + "/data.safetensors", 512, 64, 3, 2);
  const EngineConfig c = QuantizeConfig();
  auto model = LoadModel(path, c);
  ASSERT_TRUE(model.ok()) << model.status();
  auto data = Data::Load({"", dir + "/data.safetensors", ""}, c);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_TRUE(data->FitTo(model->module(), torch::kCPU).ok());
  TrainEnv env;
  env.model = &*model;
  env.data = &*data;
  env.config = &c;
  {
    Trainer trainer(env, 1e-2);  // A model worth measuring: well above chance.
    ASSERT_TRUE(trainer.TrainEpochs(5, StageInfo{"train", 0, 1}, 0).ok());
  }
  const double dense = engine::Evaluate(env).top1;
  ASSERT_GT(dense, 0.6);
  std::vector<torch::Tensor> before;
  for (const NamedTensor& nt : model->tensors()) {
    before.push_back(nt.tensor.detach().clone());
  }

  CompressionPlan plan = ResolvePlan(c, model->source().tensors());
  CompressionPlan raw = plan;
  for (TensorPlan& tp : raw.tensors) tp.settings.compress = false;
  auto all_raw = Evaluate(raw, *model, &env);
  ASSERT_TRUE(all_raw.ok()) << all_raw.status();
  EXPECT_DOUBLE_EQ(all_raw->top1, dense);
  EXPECT_NEAR(all_raw->ratio, 1.0, 0.05);  // Raw, but for the framing.

  // One bit and most weights pruned: far smaller, and it shows in accuracy.
  for (TensorPlan& tp : plan.tensors) {
    tp.settings.bits = 1;
    tp.sparsity = 0.95;
  }
  auto tiny = Evaluate(plan, *model, &env);
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  EXPECT_LT(tiny->file_bytes, all_raw->file_bytes / 4);
  EXPECT_GE(tiny->top1, 0.0);
  EXPECT_LT(tiny->top1, dense);
  ASSERT_EQ(tiny->tensor_bytes.size(), model->tensors().size());

  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(before[i], model->tensors()[i].tensor))
        << model->tensors()[i].name;
  }
  EXPECT_DOUBLE_EQ(engine::Evaluate(env).top1, dense);
}

TEST(PlanTest, RefusesAPlanOfAnotherModel) {
  const std::string dir = TempDir("plan_other");
  auto module = MakeMlp(8, 16, 3, /*seed=*/1);
  const EngineConfig c = QuantizeConfig();
  auto model = LoadModel(SaveModule(module, dir + "/mlp.pt"), c);
  ASSERT_TRUE(model.ok());
  CompressionPlan plan = ResolvePlan(c, model->source().tensors());
  plan.tensors.pop_back();
  EXPECT_EQ(Evaluate(plan, *model, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace condense::engine
