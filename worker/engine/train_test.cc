#include "worker/engine/train.h"

#include "gtest/gtest.h"
#include "worker/engine/stages.h"
#include "worker/engine/testing/engine_testing.h"

namespace condense::engine {
namespace {

using testing::MakeMlp;
using testing::SaveModule;
using testing::TempDir;
using testing::WriteClassificationData;

// A model, its data and a config, on CPU.
struct Fixture {
  EngineConfig config;
  std::optional<Model> model;
  std::optional<Data> data;
  TrainEnv env;

  explicit Fixture(OptimizerKind optimizer) {
    const std::string dir = TempDir("fixture");
    auto module = MakeMlp(8, 16, 3, /*seed=*/1);
    const std::string model_path = SaveModule(module, dir + "/mlp.pt");
    WriteClassificationData(dir + "/data.safetensors", 512, 8, 3, 2);
    config.training.optimizer = optimizer;
    config.training.batch_size = 32;
    config.training.momentum = 0.9;
    auto source = OpenModelSource(model_path, std::nullopt);
    EXPECT_TRUE(source.ok()) << source.status();
    auto m = Model::Load(*std::move(source), config, torch::kCPU);
    EXPECT_TRUE(m.ok()) << m.status();
    model.emplace(*std::move(m));
    auto d = Data::Load({"", dir + "/data.safetensors", ""}, config);
    EXPECT_TRUE(d.ok()) << d.status();
    data.emplace(*std::move(d));
    EXPECT_TRUE(data->FitTo(model->module(), torch::kCPU).ok());
    env.model = &*model;
    env.data = &*data;
    env.config = &config;
  }
};

void ExpectStateZeroWherePruned(Trainer& trainer, const Layer& l) {
  auto& state = trainer.optimizer().state();
  auto it = state.find(c10::guts::to_string(l.param.unsafeGetTensorImpl()));
  ASSERT_NE(it, state.end());
  const torch::Tensor pruned = l.mask.logical_not();
  if (auto* sgd =
          dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
    EXPECT_EQ(
        sgd->momentum_buffer().masked_select(pruned).abs().sum().item<float>(),
        0);
    EXPECT_GT(sgd->momentum_buffer().abs().sum().item<float>(), 0);
  } else {
    auto* adam = dynamic_cast<torch::optim::AdamParamState*>(it->second.get());
    ASSERT_NE(adam, nullptr);
    EXPECT_EQ(adam->exp_avg().masked_select(pruned).abs().sum().item<float>(),
              0);
    EXPECT_EQ(
        adam->exp_avg_sq().masked_select(pruned).abs().sum().item<float>(), 0);
    EXPECT_GT(adam->exp_avg_sq().abs().sum().item<float>(), 0);
  }
}

class MaskInvariantTest : public ::testing::TestWithParam<OptimizerKind> {};

TEST_P(MaskInvariantTest, PrunedWeightsAndTheirStateStayZero) {
  Fixture f(GetParam());
  Trainer trainer(f.env, 0.05);
  // Train dense first so the optimizer has momentum everywhere.
  ASSERT_TRUE(trainer.TrainEpochs(1, {"dense", 0, 1}, 1).ok());
  for (Layer& l : f.model->layers()) {
    l.mask = TopMagnitudeMask(l.param, 0.7);
    l.ApplyMask();
  }
  trainer.ClearPrunedState();
  // Observe every batch: after each optimizer step the invariant holds.
  struct Checker : ProgressObserver {
    Model* model;
    int batches = 0;
    void OnEvent(const ProgressEvent& e) override {
      if (e.kind != ProgressEvent::Kind::kBatch) return;
      ++batches;
      for (const Layer& l : model->layers()) {
        torch::Tensor pruned = l.param.masked_select(l.mask.logical_not());
        ASSERT_EQ(pruned.abs().sum().item<float>(), 0) << l.name;
        // +0.0, never -0.0: the codec's bit-exact check relies on it.
        ASSERT_FALSE(pruned.signbit().any().item<bool>()) << l.name;
      }
    }
  } checker;
  checker.model = &*f.model;
  f.env.observer = &checker;
  // A fresh trainer, observed on every batch...
  Trainer masked(f.env, 0.05);
  ASSERT_TRUE(masked.TrainEpochs(2, {"sparse", 0, 1}, 2).ok());
  EXPECT_EQ(checker.batches, 2 * 15);  // 461 training samples, batch 32.
  // ...and the first one, whose momentum from dense training was cleared.
  ASSERT_TRUE(trainer.TrainEpochs(1, {"sparse", 0, 1}, 3).ok());
  for (const Layer& l : f.model->layers()) {
    const int64_t n = l.param.numel();
    EXPECT_EQ(l.nonzeros(), n - static_cast<int64_t>(0.7 * n)) << l.name;
    ExpectStateZeroWherePruned(masked, l);
    ExpectStateZeroWherePruned(trainer, l);
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, MaskInvariantTest,
                         ::testing::Values(OptimizerKind::kSgd,
                                           OptimizerKind::kAdam));

TEST(TrainTest, CentroidGradientIsTheSumOfItsWeightsGradients) {
  Fixture f(OptimizerKind::kSgd);
  f.config.training.momentum = 0;
  Layer& l = f.model->layers()[0];
  // Four centroids, assignments by position; every other weight pruned.
  const int64_t n = l.param.numel();
  l.mask = (torch::arange(n) % 2 == 0).view(l.param.sizes());
  l.nz_index = l.mask.flatten().nonzero().squeeze(1);
  l.nz_assign = torch::arange(l.nz_index.numel()) % 4;
  l.centroids = torch::tensor({-0.3f, -0.1f, 0.1f, 0.3f});
  l.ApplyCentroids();
  const torch::Tensor before = l.centroids.detach().clone();

  // The expected gradient, from autograd on the same batch.
  torch::Tensor x = f.data->Prepare(f.data->train().inputs, torch::kCPU);
  torch::Tensor y = f.data->train().targets;
  l.param.mutable_grad() = torch::Tensor();
  auto loss = torch::nn::functional::cross_entropy(
      f.model->module().forward({x}).toTensor(), y);
  loss.backward();
  torch::Tensor g = l.param.grad().flatten();
  torch::Tensor want = torch::zeros({4});
  for (int64_t i = 0; i < l.nz_index.numel(); ++i) {
    want[l.nz_assign[i].item<int64_t>()] +=
        g[l.nz_index[i].item<int64_t>()].item<float>();
  }
  l.param.mutable_grad().zero_();

  // One full-batch SGD step at lr 1 moves each centroid by -gradient.
  f.config.training.batch_size = 512;
  Trainer trainer(f.env, 1.0);
  ASSERT_TRUE(trainer.TrainEpochs(1, {"quantize", 0, 1}, 3).ok());
  torch::Tensor moved = before - l.centroids.detach();
  EXPECT_TRUE(torch::allclose(moved, want, 1e-4, 1e-5)) << moved << "\nvs\n"
                                                        << want;
  // Weights equal their centroids exactly; pruned ones stay zero.
  torch::Tensor w = l.param.detach().flatten();
  EXPECT_TRUE(torch::equal(w.index_select(0, l.nz_index),
                           l.centroids.detach().index_select(0, l.nz_assign)));
  EXPECT_EQ(
      w.masked_select(l.mask.flatten().logical_not()).abs().sum().item<float>(),
      0);
}

TEST(TrainTest, CancelStopsWithinOneBatch) {
  Fixture f(OptimizerKind::kAdam);
  CancelFlag cancel;
  struct Canceller : ProgressObserver {
    CancelFlag* flag;
    int batches = 0;
    void OnEvent(const ProgressEvent& e) override {
      if (e.kind == ProgressEvent::Kind::kBatch && ++batches == 3)
        flag->Cancel();
    }
  } canceller;
  canceller.flag = &cancel;
  f.env.observer = &canceller;
  f.env.cancel = &cancel;
  Trainer trainer(f.env, 0.01);
  absl::Status st = trainer.TrainEpochs(5, {"prune", 0, 2}, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(canceller.batches, 3);
}

TEST(TrainTest, EvaluateCountsTopOneAndTopFive) {
  Fixture f(OptimizerKind::kAdam);
  EvalResult before = Evaluate(f.env);
  EXPECT_EQ(before.samples, f.data->eval().size());
  EXPECT_EQ(before.top5, -1);  // Three classes: no top-5.
  Trainer trainer(f.env, 0.01);
  ASSERT_TRUE(trainer.TrainEpochs(5, {"finetune", 0, 1}, 1).ok());
  EvalResult after = Evaluate(f.env);
  EXPECT_GT(after.top1, 0.8);
  EXPECT_GT(after.top1, before.top1);
  EXPECT_LT(after.loss, before.loss);
}

}  // namespace
}  // namespace condense::engine
