// Pieces of the .cdz format shared by the writer and the reader: section
// framing (header, payload, CRC-32C) and the tensor header (name, dtype,
// shape, encoding) that both TENSOR and INDEX sections carry.
#ifndef CONDENSE_CODEC_CDZ_SECTION_H_
#define CONDENSE_CODEC_CDZ_SECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codec/byte_io.h"
#include "codec/cdz_format.h"
#include "codec/dtype.h"

namespace condense::codec::cdz {

// What the container says about one tensor, before decoding it.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;  // Of the source tensor.
  std::vector<uint64_t> shape;
  Encoding encoding = Encoding::kRaw;
  uint64_t numel = 1;
  uint64_t section_offset = 0;  // Of the TENSOR section in the file.
  uint64_t section_size = 0;    // Header, payload and CRC.
};

// Product of the dims, or InvalidArgument if it exceeds max_elements (the
// product is computed without overflow).
absl::StatusOr<uint64_t> ElementCount(const std::vector<uint64_t>& shape,
                                      uint64_t max_elements);

// Writes a section's frame (type, flags, payload length), which comes before
// its payload; the section's CRC covers frame and payload.
void WriteSectionFrame(SectionType type, uint32_t flags, uint64_t payload_size,
                       ByteWriter* w);

// Appends a whole section (header, payload, CRC) to *out.
void AppendSection(SectionType type, uint32_t flags, absl::string_view payload,
                   std::string* out);

// Name, dtype, rank, dims, encoding.
void WriteTensorHeader(const TensorInfo& info, ByteWriter* w);
absl::Status ReadTensorHeader(ByteReader* r, uint64_t max_elements,
                              TensorInfo* info);

}  // namespace condense::codec::cdz

#endif  // CONDENSE_CODEC_CDZ_SECTION_H_
