// The model formats condense reads, as the model record names them. No
// LibTorch: the server checks jobs against them too.
#ifndef CONDENSE_WORKER_ENGINE_MODEL_FORMAT_H_
#define CONDENSE_WORKER_ENGINE_MODEL_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"

namespace condense::engine {

enum class ModelFormat {
  kTorchScript,  // torch.jit.save: a module, trainable.
  kSafetensors,  // A state dict: tensors only, data-free stages only.
  // A Hugging Face style checkpoint: a directory (or its
  // model.safetensors.index.json) of safetensors shards; like kSafetensors.
  kSafetensorsSharded,
};

// Whether the format holds tensors only (no module to run or retrain).
inline bool IsStateDict(ModelFormat format) {
  return format != ModelFormat::kTorchScript;
}

// "torchscript", "safetensors", "safetensors-sharded".
const char* ModelFormatName(ModelFormat format);
// The inverse of ModelFormatName; InvalidArgument names the known formats.
absl::StatusOr<ModelFormat> ParseModelFormat(const std::string& name);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_MODEL_FORMAT_H_
