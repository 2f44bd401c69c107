#include "codec/onnx_export.h"

#include <zlib.h>

#include <map>
#include <span>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/cdz_export.h"

namespace condense::codec {

namespace {

// The largest skeleton a container may claim to inflate to: protobuf's own
// limit on a model.
constexpr uint64_t kMaxSkeletonBytes = uint64_t{1} << 31;

}  // namespace

absl::StatusOr<std::string> OnnxSkeletonValue(OnnxModel& model) {
  auto skeleton = model.Skeleton();
  if (!skeleton.ok()) return skeleton.status();
  uLongf size = compressBound(skeleton->size());
  // The inflated size first (8 bytes, little-endian), then the deflate
  // stream.
  std::string packed(8 + size, '\0');
  StoreLE64(reinterpret_cast<uint8_t*>(packed.data()), skeleton->size());
  if (compress2(reinterpret_cast<Bytef*>(packed.data() + 8), &size,
                reinterpret_cast<const Bytef*>(skeleton->data()),
                skeleton->size(), Z_BEST_COMPRESSION) != Z_OK) {
    return absl::InternalError(
        absl::StrCat("cannot deflate the graph of ONNX model ", model.name()));
  }
  packed.resize(8 + size);
  return absl::Base64Escape(packed);
}

absl::StatusOr<std::unique_ptr<OnnxModel>> OnnxSkeletonOf(
    const CdzReader& reader, std::string name) {
  auto it = reader.manifest().find(kOnnxModelKey);
  if (it == reader.manifest().end()) {
    return absl::NotFoundError(
        "this .cdz was not made from an ONNX model (its manifest keeps no "
        "onnx_model): decompress it to a .safetensors file");
  }
  const auto damaged = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("the .cdz's ONNX graph (manifest key ", kOnnxModelKey,
                     ") ", what, ": the file is damaged"));
  };
  std::string packed;
  if (!absl::Base64Unescape(it->second, &packed) || packed.size() < 8) {
    return damaged("is not base64 of a deflated model");
  }
  const uint64_t raw =
      LoadLE64(reinterpret_cast<const uint8_t*>(packed.data()));
  // Deflate expands at most about 1032:1, so a larger claim is damage,
  // found before anything that size is allocated.
  if (raw > kMaxSkeletonBytes || raw > 1032 * (packed.size() - 8) + 64) {
    return damaged("claims more bytes than it can inflate to");
  }
  std::string skeleton(raw, '\0');
  uLongf size = raw;
  if (uncompress(reinterpret_cast<Bytef*>(skeleton.data()), &size,
                 reinterpret_cast<const Bytef*>(packed.data() + 8),
                 packed.size() - 8) != Z_OK ||
      size != raw) {
    return damaged("does not inflate");
  }
  return OnnxModel::ParseSkeleton(skeleton, std::move(name));
}

absl::Status DecompressModel(const CdzReader& reader,
                             const std::string& output) {
  if (!absl::EndsWithIgnoreCase(output, ".onnx")) {
    return Decompress(reader, output);
  }
  auto model = OnnxSkeletonOf(reader, output);
  if (!model.ok()) {
    if (absl::IsNotFound(model.status())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot write ", output, ": ", model.status().message()));
    }
    return model.status();
  }
  return ExportOnnx(reader, **model, output);
}

absl::Status ExportOnnx(const CdzReader& reader, OnnxModel& model,
                        const std::string& path) {
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < reader.tensors().size(); ++i) {
    by_name[reader.tensors()[i].name] = i;
  }
  auto writer = OnnxModelWriter::Create(&model, path,
                                        OnnxModelWriter::WantsExternal(model));
  if (!writer.ok()) return writer.status();
  DecodeScratch scratch;
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < model.tensors().size(); ++i) {
    const OnnxTensor& t = model.tensors()[i];
    auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the .cdz does not hold tensor '", t.name, "' of ONNX model ",
          model.name(), ": it was made from another model"));
    }
    const cdz::TensorInfo& info = reader.tensors()[it->second];
    if (info.dtype != t.dtype ||
        info.numel != static_cast<uint64_t>(t.numel())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name, "' is ", DTypeName(info.dtype),
                       " of ", info.numel, " elements in the .cdz but ",
                       DTypeName(t.dtype), " of ", t.numel(), " in ONNX model ",
                       model.name(), ": it was made from another model"));
    }
    bytes.resize(t.bytes());
    if (auto s = reader.DecodeTo(it->second, t.dtype, std::span<uint8_t>(bytes),
                                 &scratch);
        !s.ok()) {
      return s;
    }
    if (auto s = (*writer)->Append(
            i, absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                                 bytes.size()));
        !s.ok()) {
      return s;
    }
  }
  return (*writer)->Finish();
}

}  // namespace condense::codec
