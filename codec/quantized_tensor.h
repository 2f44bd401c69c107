// A quantized tensor in whichever of the three quantized encodings stores it
// smallest: SPARSE_QUANTIZED (Huffman-coded relative positions and indices,
// sparse_quantized.h), CONTEXT_CODED (adaptive range coding, context_coded.h)
// or FIXED_WIDTH (bit mask and fixed-width indices, fixed_width.h). Since
// FIXED_WIDTH is always a candidate, no tensor is stored larger than its
// fixed-width form. Functions are thread-safe.
#ifndef CONDENSE_CODEC_QUANTIZED_TENSOR_H_
#define CONDENSE_CODEC_QUANTIZED_TENSOR_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "codec/cdz_format.h"

namespace condense::codec {

// Where the bytes of one quantized tensor go, whatever its encoding.
struct QuantizedParts {
  uint64_t nonzeros = 0;
  uint64_t fillers = 0;  // SPARSE_QUANTIZED only.
  uint32_t centroids = 0;
  int gap_bits = 0;         // SPARSE_QUANTIZED only.
  int index_pack = 0;       // SPARSE_QUANTIZED only.
  uint64_t row_length = 0;  // CONTEXT_CODED only.
  int index_contexts = 0;   // CONTEXT_CODED only.
  uint64_t codebook_bytes = 0;
  uint64_t table_bytes = 0;     // Huffman code tables.
  uint64_t position_bytes = 0;  // Gaps, mask stream or bit mask.
  uint64_t index_bytes = 0;
  uint64_t other_bytes = 0;  // Counts, lengths, mode bytes.
};

// The body bytes each encoding took (0: not tried).
struct QuantizedAlternatives {
  uint64_t sparse_quantized = 0;
  uint64_t context_coded = 0;
  uint64_t fixed_width = 0;
};

struct QuantizedEncodeOptions {
  // SPARSE_QUANTIZED's gap width b; 0 tries the widths around the mean gap
  // and keeps the smallest.
  int gap_bits = 0;
  bool allow_sparse_quantized = true;
  bool allow_context_coded = true;
  // Always tried when nothing else is allowed.
  bool allow_fixed_width = true;
  // Threads the encodings may use together. Above 1, on a tensor of at
  // least kParallelEncodeElements the context coder (the slowest by far)
  // runs on a thread of its own beside the others, and codes the segments
  // of a tensor large enough to have them (context_coded.h) on `threads`
  // threads of its own. The bytes do not depend on it.
  int threads = 1;
};

inline constexpr uint64_t kParallelEncodeElements = uint64_t{1} << 20;

struct EncodedQuantized {
  cdz::Encoding encoding = cdz::Encoding::kFixedWidth;
  std::string body;
  QuantizedParts parts;
  QuantizedAlternatives alternatives;
};

// Encodes `values` (row-major, of `shape`) under every allowed encoding and
// keeps the smallest. Every nonzero must equal one entry of `codebook` bit
// for bit (CheckCodebook's rules); zeros decode as +0.0.
absl::StatusOr<EncodedQuantized> EncodeQuantized(
    std::span<const float> values, std::span<const uint64_t> shape,
    std::span<const float> codebook, const QuantizedEncodeOptions& options);

// Decodes a body of a quantized encoding into `out` (the element count),
// on up to `threads` threads where the encoding has independent parts.
absl::Status DecodeQuantized(cdz::Encoding encoding,
                             std::span<const uint8_t> body,
                             std::span<float> out, absl::string_view context,
                             int threads = 1);

// Validates a body's framing and returns its parts, without decoding.
absl::StatusOr<QuantizedParts> AnalyzeQuantized(cdz::Encoding encoding,
                                                std::span<const uint8_t> body,
                                                uint64_t numel,
                                                absl::string_view context);

// True for the encodings above (not RAW).
bool IsQuantizedEncoding(cdz::Encoding encoding);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_QUANTIZED_TENSOR_H_
