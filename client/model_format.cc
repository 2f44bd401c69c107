#include "client/model_format.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codec/safetensors.h"
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
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model format '", name,
                   "': use torchscript, safetensors or onnx"));
}

}  // namespace condense::client
