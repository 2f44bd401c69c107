// Decodes a .cdz container into an ONNX model: the graph is the model the
// container was made from, its tensors are replaced by the decoded ones
// (each in its dtype), one at a time.
#ifndef CONDENSE_CODEC_ONNX_EXPORT_H_
#define CONDENSE_CODEC_ONNX_EXPORT_H_

#include <string>

#include "absl/status/status.h"
#include "codec/cdz_reader.h"
#include "codec/onnx_model.h"

namespace condense::codec {

// Writes `model` with its tensors decoded from `reader` to `path` (external
// data at path + ".data" when OnnxModelWriter::WantsExternal says so).
// `model` is changed in memory. InvalidArgument when the container lacks one
// of the model's tensors or holds it with another shape or dtype.
absl::Status ExportOnnx(const CdzReader& reader, OnnxModel& model,
                        const std::string& path);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_ONNX_EXPORT_H_
