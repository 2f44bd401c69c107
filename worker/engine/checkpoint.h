// Stage checkpoints: after each finished stage the engine saves what the
// next stage starts from (every tensor of the model, masks, codebooks and
// assignments, the pruning reference std, LibTorch's RNG state, the number
// of stages done and the report so far), so a killed run resumes after its
// last finished stage and reaches the same result. Each stage builds its
// optimizer afresh, so no optimizer state crosses a boundary.
//
// A checkpoint is one file, written to a temporary name and renamed, tagged
// with a fingerprint of the model, data and spec: a checkpoint of other
// inputs is ignored, never loaded. Not thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_CHECKPOINT_H_
#define CONDENSE_WORKER_ENGINE_CHECKPOINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/model.h"
#include "worker/engine/run_report.h"

namespace condense::engine {

struct CheckpointState {
  int stages_done = 0;
  std::vector<StageRecord> stages;  // The finished stages' records.
};

// The checkpoint file in `dir`.
std::string CheckpointPath(const std::string& dir);

absl::Status SaveCheckpoint(const std::string& dir,
                            const std::string& fingerprint, Model& model,
                            const CheckpointState& state);

// Restores `model` and returns the state when `dir` holds a checkpoint with
// this fingerprint; stages_done = 0 (model untouched) when it holds none.
absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& dir,
                                               const std::string& fingerprint,
                                               Model& model);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_CHECKPOINT_H_
