// Decodes a .cdz container back into safetensors, tensor by tensor: memory
// peaks at one decoded tensor, never the whole model. Every tensor comes back
// in the dtype the container records for it (a bf16 model decodes to bf16).
#ifndef CONDENSE_CODEC_CDZ_EXPORT_H_
#define CONDENSE_CODEC_CDZ_EXPORT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "codec/cdz_reader.h"
#include "codec/file_io.h"

namespace condense::codec {

// One safetensors file; the manifest becomes its __metadata__.
absl::Status ExportSafetensors(const CdzReader& reader,
                               std::unique_ptr<WritableFile> out);

// Whether the container came from a sharded checkpoint (its manifest holds
// the layout under kShardLayoutKey).
bool HasShardLayout(const CdzReader& reader);

// The sharded checkpoint the container came from, rebuilt in directory `dir`:
// the same shard files, tensors, metadata and index. InvalidArgument when the
// container has no layout or its tensors do not match it.
absl::Status ExportShardedSafetensors(const CdzReader& reader,
                                      const std::string& dir);

// What `decompress` does: the sharded checkpoint's directory at `output`
// when the container came from one, else one safetensors file there.
absl::Status Decompress(const CdzReader& reader, const std::string& output);

// The manifest key under which a .cdz made from an ONNX model keeps the
// model's skeleton (onnx_export.h, docs/format.md).
inline constexpr char kOnnxModelKey[] = "onnx_model";

// A manifest value as `inspect` shows it: the ONNX graph by its size, any
// other value cut to 100 characters.
std::string ManifestValueForDisplay(const std::string& key,
                                    const std::string& value);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CDZ_EXPORT_H_
