// Retraining and evaluation. The Trainer keeps the compression invariants on
// every step: pruned weights are exactly zero after each optimizer step and
// their optimizer state (momentum, Adam moments) is zero, so nothing revives
// them; quantized layers train their centroids (each centroid's gradient is
// the sum of the gradients of the weights assigned to it) and their weights
// equal their centroids after each step. Not thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_TRAIN_H_
#define CONDENSE_WORKER_ENGINE_TRAIN_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "worker/engine/config.h"
#include "worker/engine/data.h"
#include "worker/engine/model.h"
#include "worker/engine/progress.h"
#include "worker/engine/run_report.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

// What training needs; pointers are borrowed and outlive the Trainer.
struct TrainEnv {
  Model* model = nullptr;
  const Data* data = nullptr;
  const EngineConfig* config = nullptr;
  torch::Device device = torch::kCPU;
  torch::jit::Module* teacher = nullptr;  // Set for distillation.
  ProgressObserver* observer = nullptr;   // May be null.
  const CancelFlag* cancel = nullptr;     // May be null.
};

// Where training is, for progress events.
struct StageInfo {
  std::string name;
  int index = 0;
  int count = 0;
};

class Trainer {
 public:
  // Trains the model's plain parameters and the centroids of its quantized
  // layers with the configured optimizer at `learning_rate`.
  Trainer(const TrainEnv& env, double learning_rate);

  // Runs `epochs` epochs; epoch e shuffles with salt (salt_base + e), so a
  // resumed run sees the same order. Returns Cancelled within one batch of
  // the cancel flag being set.
  absl::Status TrainEpochs(int epochs, const StageInfo& stage,
                           uint64_t salt_base);

  // Zeroes optimizer state at pruned positions; call after masks change.
  void ClearPrunedState();

  torch::optim::Optimizer& optimizer() { return *optimizer_; }

 private:
  torch::Tensor Loss(const torch::Tensor& logits, const torch::Tensor& x,
                     const torch::Tensor& y);
  void Step();

  TrainEnv env_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

// Top-1 (and top-5) accuracy and mean loss on the evaluation data.
EvalResult Evaluate(const TrainEnv& env);

// Per layer (in model.layers() order), the squared gradients of the
// cross-entropy loss summed over batches of `batch` samples from a seeded
// subset of at most `max_samples` training samples, in eval mode: a diagonal
// estimate of the loss's curvature for importance-weighted quantization.
// Needs labelled data; leaves every gradient zero.
std::vector<torch::Tensor> SquaredGradients(const TrainEnv& env,
                                            int64_t max_samples, int64_t batch,
                                            uint64_t salt);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_TRAIN_H_
