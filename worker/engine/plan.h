// A CompressionPlan: what happens to every tensor of a model (stored raw, or
// pruned to a sparsity and shared into 2^bits centroids with b-bit gaps),
// resolved once from the spec and the model's tensor index by the layer
// roles and rules. Evaluate(plan) says what that plan would cost and keep
// without retraining: the file's exact bytes, from the codec's own encoding
// of every tensor (codebooks, Huffman tables, gaps, framing and container
// included), and top-1 accuracy on the given data. The goal-directed search
// calls it for every candidate and for sensitivity curves.
//
// Not thread-safe: Evaluate changes the model's tensors while it measures
// and restores them before it returns.
#ifndef CONDENSE_WORKER_ENGINE_PLAN_H_
#define CONDENSE_WORKER_ENGINE_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codec/cdz_writer.h"
#include "worker/engine/config.h"
#include "worker/engine/model_source.h"
#include "worker/engine/train.h"

namespace condense::engine {

struct TensorPlan {
  std::string name;
  TensorRole role = TensorRole::kBuffer;
  // settings.compress false: stored raw. Otherwise settings.bits and
  // settings.gap_bits apply, and `sparsity` of the weights, the smallest in
  // magnitude, are pruned before clustering (0: none beyond existing zeros).
  LayerConfig settings;
  double sparsity = 0;
  bool first_conv = false;  // The first compressed convolution weight.
};

struct CompressionPlan {
  std::vector<TensorPlan> tensors;  // In the model's tensor order.
  // How weights are shared: the spec's first quantize stage, if any.
  QuantizeConfig quantize;
  uint64_t seed = 0;
};

// The plan of `config` for a model with this tensor index: every tensor's
// settings from its role, the fc/conv defaults and the rules
// (ResolveLayer), and its sparsity from a per-layer `sparsity` setting.
CompressionPlan ResolvePlan(const EngineConfig& config,
                            const std::vector<TensorEntry>& index);

struct PlanCost {
  uint64_t file_bytes = 0;      // The .cdz, whole.
  uint64_t original_bytes = 0;  // The model as float32 (others at size).
  double ratio = 0;
  std::vector<uint64_t> tensor_bytes;  // Per tensor, framing included.
  double top1 = -1;                    // -1: no data, or unlabelled.
};

// What `plan` gives on `model` (whose tensors are restored after): bytes
// always, accuracy when `env` has data (env.model must be `model`).
// InvalidArgument when the plan does not match the model's tensors.
// `manifest` is the container's metadata, counted in the bytes as the run's
// own would be.
absl::StatusOr<PlanCost> Evaluate(const CompressionPlan& plan, Model& model,
                                  const TrainEnv* env,
                                  const codec::Manifest& manifest = {});

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_PLAN_H_
