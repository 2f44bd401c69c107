#include "worker/model_format_mapping.h"

namespace condense::worker {

engine::ModelFormat ToEngineFormat(v1::Model::Format format) {
  switch (format) {
    case v1::Model::SAFETENSORS:
      return engine::ModelFormat::kSafetensors;
    case v1::Model::ONNX:
      return engine::ModelFormat::kOnnx;
    case v1::Model::SAFETENSORS_SHARDED:
      return engine::ModelFormat::kSafetensorsSharded;
    default:
      return engine::ModelFormat::kTorchScript;
  }
}

}  // namespace condense::worker
