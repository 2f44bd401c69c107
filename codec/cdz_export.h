// Decodes a .cdz container into a safetensors file, tensor by tensor: memory
// peaks at one decoded tensor, never the whole model. Compressed and raw
// floating tensors are written as F32; integer and bool tensors keep their
// dtype. The manifest becomes the safetensors __metadata__.
#ifndef CONDENSE_CODEC_CDZ_EXPORT_H_
#define CONDENSE_CODEC_CDZ_EXPORT_H_

#include <memory>

#include "absl/status/status.h"
#include "codec/cdz_reader.h"
#include "codec/file_io.h"

namespace condense::codec {

absl::Status ExportSafetensors(const CdzReader& reader,
                               std::unique_ptr<WritableFile> out);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CDZ_EXPORT_H_
