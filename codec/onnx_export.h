// Decodes a .cdz container into an ONNX model: the graph is the model the
// container was made from (the original file, or the skeleton the container
// keeps), its tensors are replaced by the decoded ones (each in its dtype),
// one at a time.
#ifndef CONDENSE_CODEC_ONNX_EXPORT_H_
#define CONDENSE_CODEC_ONNX_EXPORT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"
#include "codec/onnx_model.h"

namespace condense::codec {

// A .cdz made from an ONNX model keeps the model's skeleton
// (OnnxModel::Skeleton: the graph without the tensors' data) under
// kOnnxModelKey (cdz_export.h), so that the container alone rebuilds a model
// any ONNX runtime runs. The value is the skeleton deflated (zlib) and
// base64-encoded.

// The manifest value for `model` (kOnnxModelKey). Not safe beside other
// calls on `model` (OnnxModel::Skeleton).
absl::StatusOr<std::string> OnnxSkeletonValue(OnnxModel& model);

// The skeleton a container keeps, named `name` in errors; NotFound when the
// container was not made from an ONNX model, InvalidArgument when the value
// is damaged.
absl::StatusOr<std::unique_ptr<OnnxModel>> OnnxSkeletonOf(
    const CdzReader& reader, std::string name);

// Writes `model` with its tensors decoded from `reader` to `path` (external
// data at path + ".data" when OnnxModelWriter::WantsExternal says so).
// `model` is changed in memory. InvalidArgument when the container lacks one
// of the model's tensors or holds it with another shape or dtype.
absl::Status ExportOnnx(const CdzReader& reader, OnnxModel& model,
                        const std::string& path);

// What `decompress` does: to an ONNX model when `output` ends in ".onnx"
// (the container must keep the model's skeleton), else as Decompress in
// cdz_export.h (a safetensors file, or a sharded checkpoint's directory).
absl::Status DecompressModel(const CdzReader& reader,
                             const std::string& output);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_ONNX_EXPORT_H_
