// Which Model.Format a local model is, and which files it is made of:
// TorchScript archives are zip files ("PK\x03\x04"); safetensors files are
// named *.safetensors or start with a valid safetensors header; a directory
// (or its *.safetensors.index.json) is a sharded checkpoint; an ONNX model
// comes with the external data files its tensors name. Thread-safe.
#ifndef CONDENSE_CLIENT_MODEL_FORMAT_H_
#define CONDENSE_CLIENT_MODEL_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "condense/v1/models.pb.h"

namespace condense::client {

// Reads the start of `path` (and, when needed, its safetensors header).
// INVALID_ARGUMENT when the format cannot be told, saying to pass --format.
absl::StatusOr<v1::Model::Format> InferModelFormat(const std::string& path);

// "torchscript", "safetensors", "safetensors-sharded" or "onnx" (any case).
absl::StatusOr<v1::Model::Format> ParseModelFormat(absl::string_view name);

// What an upload sends for the model at `path`.
struct ModelFiles {
  v1::Model::Format format = v1::Model::FORMAT_UNSPECIFIED;
  // The files, in upload order; laid out by base name in one directory on
  // the worker.
  std::vector<std::string> paths;
  // True for a model of several files (Model.files), even when it has one
  // (a sharded checkpoint of one shard); false for Model.blob.
  bool several = false;
};

// The model at `path`, in `format` when it is not FORMAT_UNSPECIFIED (else
// inferred): a sharded checkpoint (a directory, or its index file) is
// checked and listed, index first then its shards; an ONNX model is parsed
// and listed with its external data files, which must be plain file names
// beside it. Errors say what is wrong with the model and what to do.
absl::StatusOr<ModelFiles> ResolveModelFiles(const std::string& path,
                                             v1::Model::Format format);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_MODEL_FORMAT_H_
