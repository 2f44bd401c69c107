// What a spec needs of the model and the data, decided in one place: the
// server calls CheckSpecFits at CreateJob, so a job that cannot run is
// refused before it is queued, and the engine calls it again before it loads
// anything. The per-stage defaults that decide it (how many epochs a stage
// trains) live here too, once. No LibTorch; pure functions, thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_REQUIREMENTS_H_
#define CONDENSE_WORKER_ENGINE_REQUIREMENTS_H_

#include <optional>

#include "absl/status/status.h"
#include "worker/engine/config.h"
#include "worker/engine/model_format.h"

namespace condense::engine {

// What is known of a job's inputs before it runs.
struct JobFacts {
  ModelFormat format = ModelFormat::kTorchScript;
  bool has_data = false;
  // Whether the data has labels; unset when not known yet (the server does
  // not read dataset files).
  std::optional<bool> labelled;
};

// "prune", "dsd", "quantize", "finetune", "search".
const char* StageName(StageConfig::Kind kind);

// Epochs of training in the quantize stage: its `epochs`, or by default 2
// with data and none (data-free) without.
int QuantizeEpochs(const QuantizeConfig& q, bool has_data);

// Epochs the stage trains for; DSD counts as training even at zero epochs
// (it is a training method and always needs data).
int StageEpochs(const StageConfig& stage, bool has_data);

// OK when `config` can run on inputs like `facts`; otherwise
// InvalidArgument saying which stage needs what, and what to do.
absl::Status CheckSpecFits(const EngineConfig& config, const JobFacts& facts);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_REQUIREMENTS_H_
