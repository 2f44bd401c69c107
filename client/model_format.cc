#include "client/model_format.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codec/onnx_model.h"
#include "codec/safetensors.h"
#include "codec/safetensors_shards.h"
#include "worker/engine/model_format.h"

namespace condense::client {

absl::StatusOr<v1::Model::Format> InferModelFormat(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": check the path"));
  }
  char magic[4] = {};
  in.read(magic, sizeof(magic));
  if (in.gcount() == 4 && absl::string_view(magic, 4) == "PK\x03\x04") {
    return v1::Model::TORCHSCRIPT;
  }
  if (absl::EndsWithIgnoreCase(path, ".safetensors")) {
    return v1::Model::SAFETENSORS;
  }
  auto reader = codec::SafetensorsReader::OpenPath(path);
  if (reader.ok()) return v1::Model::SAFETENSORS;
  if (engine::LooksLikeOnnx(
          std::string_view(magic, static_cast<size_t>(in.gcount())))) {
    return v1::Model::ONNX;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot tell the format of ", path,
      ": it is neither a TorchScript archive (torch.jit.save), a "
      "safetensors file nor an ONNX model; pass --format torchscript, "
      "safetensors or onnx"));
}

absl::StatusOr<v1::Model::Format> ParseModelFormat(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "torchscript") return v1::Model::TORCHSCRIPT;
  if (lower == "safetensors") return v1::Model::SAFETENSORS;
  if (lower == "onnx") return v1::Model::ONNX;
  if (lower == "safetensors-sharded") return v1::Model::SAFETENSORS_SHARDED;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model format '", name,
      "': use torchscript, safetensors, safetensors-sharded or onnx"));
}

namespace {

namespace fs = std::filesystem;

absl::StatusOr<ModelFiles> ShardedFiles(const std::string& path) {
  auto checkpoint = codec::ShardedSafetensors::Open(path);
  if (!checkpoint.ok()) return checkpoint.status();
  ModelFiles m;
  m.format = v1::Model::SAFETENSORS_SHARDED;
  m.several = true;
  m.paths = (*checkpoint)->Files();
  return m;
}

absl::StatusOr<ModelFiles> OnnxFiles(const std::string& path) {
  ModelFiles m;
  m.format = v1::Model::ONNX;
  m.paths.push_back(path);
  auto model = codec::OnnxModel::Open(path);
  if (!model.ok()) return model.status();
  const fs::path dir = fs::path(path).parent_path();
  for (const std::string& location : (*model)->ExternalFiles()) {
    const fs::path loc(location);
    if (loc.has_parent_path() || location == "." || location == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " keeps external data in ", location,
          ", not beside it: the service lays a model's files out in one "
          "directory; save the model with its data in a file beside it "
          "(onnx.save_model(model, path, save_as_external_data=True, "
          "location=\"model.onnx.data\"))"));
    }
    if (loc == fs::path(path).filename()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " names itself as its external data file"));
    }
    m.paths.push_back((dir / loc).string());
  }
  m.several = m.paths.size() > 1;
  return m;
}

}  // namespace

absl::StatusOr<ModelFiles> ResolveModelFiles(const std::string& path,
                                             v1::Model::Format format) {
  std::error_code ec;
  const bool dir = fs::is_directory(path, ec);
  if (format == v1::Model::SAFETENSORS_SHARDED ||
      (format == v1::Model::FORMAT_UNSPECIFIED &&
       (dir || absl::EndsWith(path, ".index.json")))) {
    return ShardedFiles(path);
  }
  if (dir) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is a directory, and only a sharded safetensors checkpoint "
        "is uploaded as one: give the model file, or use --format "
        "safetensors-sharded"));
  }
  if (format == v1::Model::FORMAT_UNSPECIFIED) {
    auto inferred = InferModelFormat(path);
    if (!inferred.ok()) return inferred.status();
    format = *inferred;
  }
  if (format == v1::Model::ONNX) return OnnxFiles(path);
  ModelFiles m;
  m.format = format;
  m.paths.push_back(path);
  return m;
}

}  // namespace condense::client
