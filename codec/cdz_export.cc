#include "codec/cdz_export.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "codec/safetensors.h"
#include "codec/safetensors_shards.h"

namespace condense::codec {
namespace {

SafetensorsWriter::Tensor Declared(const cdz::TensorInfo& t) {
  return {t.name, t.dtype, t.shape};
}

// Decodes every tensor in its own dtype, appends it to `writer` (a
// SafetensorsWriter or a ShardedSafetensorsWriter) and finishes it.
template <typename Writer>
absl::Status DecodeInto(const CdzReader& reader, Writer& writer) {
  DecodeScratch scratch;
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < reader.tensors().size(); ++i) {
    const cdz::TensorInfo& t = reader.tensors()[i];
    bytes.resize(t.numel * DTypeSize(t.dtype));
    if (auto s =
            reader.DecodeTo(i, t.dtype, std::span<uint8_t>(bytes), &scratch);
        !s.ok()) {
      return s;
    }
    if (auto s = writer.Append(
            t.name,
            absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                              bytes.size()));
        !s.ok()) {
      return s;
    }
  }
  return writer.Finish();
}

}  // namespace

absl::Status ExportSafetensors(const CdzReader& reader,
                               std::unique_ptr<WritableFile> out) {
  std::vector<SafetensorsWriter::Tensor> declared;
  for (const auto& t : reader.tensors()) declared.push_back(Declared(t));
  auto writer = SafetensorsWriter::Create(std::move(out), std::move(declared),
                                          reader.manifest());
  if (!writer.ok()) return writer.status();
  return DecodeInto(reader, **writer);
}

bool HasShardLayout(const CdzReader& reader) {
  return reader.manifest().contains(kShardLayoutKey);
}

absl::Status ExportShardedSafetensors(const CdzReader& reader,
                                      const std::string& dir) {
  auto it = reader.manifest().find(kShardLayoutKey);
  if (it == reader.manifest().end()) {
    return absl::InvalidArgumentError(
        "this .cdz was not made from a sharded checkpoint: decompress it to "
        "one safetensors file instead");
  }
  auto layout = ShardLayoutFromJson(it->second);
  if (!layout.ok()) return layout.status();
  // The layout's order is the container's: shard after shard.
  std::map<std::string, SafetensorsWriter::Tensor> tensors;
  size_t i = 0;
  for (const ShardLayout::Shard& s : layout->shards) {
    for (const std::string& name : s.tensors) {
      if (i >= reader.tensors().size() || reader.tensors()[i].name != name) {
        return absl::InvalidArgumentError(
            absl::StrCat("the .cdz's shard layout puts tensor '", name, "' of ",
                         s.file, " at position ", i,
                         ", where the container holds another: the "
                         "file is damaged"));
      }
      tensors[name] = Declared(reader.tensors()[i++]);
    }
  }
  if (i != reader.tensors().size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the .cdz holds ", reader.tensors().size(),
        " tensors but its shard layout names ", i, ": the file is damaged"));
  }
  auto writer =
      ShardedSafetensorsWriter::Create(dir, *std::move(layout), tensors);
  if (!writer.ok()) return writer.status();
  return DecodeInto(reader, **writer);
}

absl::Status Decompress(const CdzReader& reader, const std::string& output) {
  if (HasShardLayout(reader)) return ExportShardedSafetensors(reader, output);
  auto out = NewAtomicFile(output);
  if (!out.ok()) return out.status();
  return ExportSafetensors(reader, *std::move(out));
}

std::string ManifestValueForDisplay(const std::string& key,
                                    const std::string& value) {
  if (key == kOnnxModelKey) {
    return absl::StrCat("the ONNX graph, ", value.size(),
                        " bytes (decompress -o MODEL.onnx rebuilds the model)");
  }
  return value.size() > 100 ? value.substr(0, 97) + "..." : value;
}

}  // namespace condense::codec
