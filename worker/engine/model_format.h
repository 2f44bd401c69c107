// The model formats condense reads, as the model record names them. No
// LibTorch: the server checks jobs against them too.
#ifndef CONDENSE_WORKER_ENGINE_MODEL_FORMAT_H_
#define CONDENSE_WORKER_ENGINE_MODEL_FORMAT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace condense::engine {

enum class ModelFormat {
  kTorchScript,  // torch.jit.save: a module, trainable.
  kSafetensors,  // A state dict: tensors only, data-free stages only.
  // A Hugging Face style checkpoint: a directory (or its
  // model.safetensors.index.json) of safetensors shards; like kSafetensors.
  kSafetensorsSharded,
  // An ONNX model (ModelProto, weights inline or as external data): its
  // graph is kept and its weights replaced; like kSafetensors, data-free.
  kOnnx,
};

// Whether the format holds tensors only (no module to run or retrain).
inline bool IsStateDict(ModelFormat format) {
  return format != ModelFormat::kTorchScript;
}

// Whether a file starting with `head` may be an ONNX model: a ModelProto's
// serializers write its fields in number order, the first one of
// ir_version (1), producer_name (2) ... graph (7), opset_import (8). A cheap
// sniff; parsing the model says for sure.
inline bool LooksLikeOnnx(std::string_view head) {
  constexpr std::string_view kFirstTags = "\x08\x12\x1A\x22\x28\x32\x3A\x42";
  return head.size() >= 2 && kFirstTags.find(head[0]) != std::string_view::npos;
}

// "torchscript", "safetensors", "safetensors-sharded", "onnx".
const char* ModelFormatName(ModelFormat format);
// The inverse of ModelFormatName; InvalidArgument names the known formats.
absl::StatusOr<ModelFormat> ParseModelFormat(const std::string& name);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_MODEL_FORMAT_H_
