// The stages a spec composes: iterative magnitude pruning with retraining,
// DSD, weight sharing with trained quantization, and plain fine-tuning. Each
// works on the model in place and returns a typed record (run_report.h).
#ifndef CONDENSE_WORKER_ENGINE_STAGES_H_
#define CONDENSE_WORKER_ENGINE_STAGES_H_

#include "absl/status/statusor.h"
#include "codec/cdz_writer.h"
#include "worker/engine/config.h"
#include "worker/engine/train.h"

namespace condense::engine {

struct StageContext {
  TrainEnv env;  // env.data is null in data-free runs.
  StageInfo info;
  // The container's metadata, so a stage that sizes the model (the search)
  // counts the bytes the run's file will have.
  codec::Manifest manifest;
  // Where a stage that checkpoints inside itself (the search) keeps its
  // progress, and the run's fingerprint that tags it; empty: none.
  std::string checkpoint_dir;
  std::string fingerprint;
};

// A message event from the stage in `ctx` (with a ratio and top-1 when
// known), to its observer if any.
void NotifyStage(const StageContext& ctx, const std::string& message,
                 double ratio = 0, double top1 = -1);

// Keeps the largest (1 - sparsity) of |w| (ties broken by position); the
// rest is pruned. Returns a bool mask.
torch::Tensor TopMagnitudeMask(const torch::Tensor& w, double sparsity);

// The paper's storage estimates, as compression ratios of the whole model:
// after pruning (32-bit values plus b-bit relative indices, fillers counted)
// and after pruning and quantization (bits-wide cluster indices plus a
// float32 codebook); tensors not compressed count at their size.
struct StorageEstimate {
  double pruned_ratio = 0;
  double quantized_ratio = 0;
};
StorageEstimate EstimateStorage(Model& model);

// The same estimate's bytes, summed tensor by tensor (the streaming path
// has one tensor at a time).
struct StorageBytes {
  double original = 0;
  double pruned = 0;
  double quantized = 0;
  void Add(const StorageBytes& other);
  StorageEstimate Estimate() const;
};
// One tensor's part: raw when `lc` is null; `centroids` is the codebook size
// of a quantized tensor (0: not quantized yet, 2^bits assumed).
StorageBytes TensorStorageBytes(const torch::Tensor& t, const LayerConfig* lc,
                                int64_t centroids, int threads = 1);

// Per-layer pruning, as a prune stage does it to every layer (the global
// criterion aside): BeginPrune takes the dense statistics once, then step s
// of p.steps raises the threshold (or sparsity) a step and applies the mask.
void BeginPrune(Layer& layer);
void PruneLayerStep(const PruneConfig& p, int step, Layer& layer);

// Filler entries the gap stream of `w` needs with b-bit gaps.
int64_t GapFillers(const torch::Tensor& w, int gap_bits);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_STAGES_H_
