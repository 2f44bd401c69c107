// Which Model.Format a local model file is: TorchScript archives are zip
// files ("PK\x03\x04"); safetensors files are named *.safetensors or start
// with a valid safetensors header. Thread-safe.
#ifndef CONDENSE_CLIENT_MODEL_FORMAT_H_
#define CONDENSE_CLIENT_MODEL_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "condense/v1/models.pb.h"

namespace condense::client {

// Reads the start of `path` (and, when needed, its safetensors header).
// INVALID_ARGUMENT when the format cannot be told, saying to pass --format.
absl::StatusOr<v1::Model::Format> InferModelFormat(const std::string& path);

// "torchscript" or "safetensors" (any case).
absl::StatusOr<v1::Model::Format> ParseModelFormat(absl::string_view name);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_MODEL_FORMAT_H_
