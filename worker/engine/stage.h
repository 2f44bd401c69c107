// One kind of stage behind one interface, made from its StageConfig by the
// registry (MakeStage), the one place that maps a stage kind to code. A
// stage owns its defaults (beside each field of its config struct; its
// training epochs in requirements.cc, which CheckSpecFits and the server
// use), and its runs: on the whole model in memory (retraining when there is
// data) and, where it needs neither data nor the other tensors, on one
// tensor of a streamed data-free run.
//
// Stages are immutable after construction; Run changes the model, not the
// stage. A TensorState belongs to one thread.
#ifndef CONDENSE_WORKER_ENGINE_STAGE_H_
#define CONDENSE_WORKER_ENGINE_STAGE_H_

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/config.h"
#include "worker/engine/run_report.h"
#include "worker/engine/stages.h"

namespace condense::engine {

// One tensor of a streamed run, as the stages leave it.
struct TensorState {
  std::string name;
  torch::Tensor tensor;      // CPU float32, contiguous; changed in place.
  std::span<float> weights;  // The tensor's values.
  LayerConfig settings;
  bool first_conv = false;
  uint64_t seed = 0;
  int threads = 1;  // For the per-weight passes of a large tensor.
  // Set by the stages: whether a mask was applied, and once quantized the
  // centroids and the codebook of those in use (UsedCentroids).
  bool pruned = false;
  torch::Tensor centroids;
  std::vector<float> codebook;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual const char* name() const = 0;
  // Runs on the whole model; returns the stage's record for the report.
  virtual absl::StatusOr<StageDetail> Run(StageContext& ctx) const = 0;
  // Whether the stage runs tensor by tensor without data (RunOnTensor).
  virtual bool StreamsDataFree() const { return false; }
  // Applies the stage to one tensor of a data-free run; returns this
  // tensor's part of the record. Only when StreamsDataFree().
  virtual absl::StatusOr<TensorStageRecord> RunOnTensor(TensorState& t) const;
};

// The stage for `config` (its kind picks the implementation).
std::unique_ptr<Stage> MakeStage(const StageConfig& config);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_STAGE_H_
