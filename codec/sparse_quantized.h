// The SPARSE_QUANTIZED tensor encoding of Deep Compression: the positions of
// nonzero weights as relative gaps coded in b bits, one cluster index per
// nonzero into a float32 codebook, both streams Huffman coded.
//
// Gap stream (alphabet 2^b): with F = 2^b - 1 and a cursor starting at 0,
//   symbol d < F : the next nonzero is at cursor + d; cursor moves past it;
//   symbol F     : a filler, cursor += F, no weight is stored for it.
// A filler is the paper's "filler zero": it bridges a gap too long for b bits
// and stands for a zero weight. Unlike the paper it spends no cluster index
// (the zero is implied), and it is counted in the gap stream's size.
//
// The byte layout is in docs/format.md. Functions are thread-safe.
#ifndef CONDENSE_CODEC_SPARSE_QUANTIZED_H_
#define CONDENSE_CODEC_SPARSE_QUANTIZED_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "codec/codebook.h"

namespace condense::codec {

inline constexpr int kMinGapBits = 1;
inline constexpr int kMaxGapBits = 16;
// At most this many cluster indices per index-stream symbol.
inline constexpr int kMaxIndexPack = 8;

// Where the bytes of one encoded tensor go.
struct SparseQuantizedParts {
  uint64_t nonzeros = 0;     // Weights stored (cluster indices).
  uint64_t gap_entries = 0;  // Gap symbols, fillers included.
  uint64_t fillers = 0;
  uint32_t centroids = 0;
  int gap_bits = 0;
  int index_pack = 1;           // Cluster indices per index symbol.
  uint64_t codebook_bytes = 0;  // Centroids plus their count.
  uint64_t table_bytes = 0;     // Both Huffman headers (code lengths etc).
  uint64_t gap_bytes = 0;       // Coded gap bits.
  uint64_t index_bytes = 0;     // Coded cluster-index bits.
  uint64_t other_bytes = 0;     // Gap bits, pack, nonzero count, stream length.
};

// Appends the encoding of `values` to *payload. Every nonzero value must equal
// (bit for bit, as a float) one entry of `codebook`; zeros (+0.0 and -0.0)
// are not stored and decode as +0.0. Codebook entries must be finite and
// distinct; at most 65,536 of them. gap_bits is b, in 1..16.
absl::Status EncodeSparseQuantized(std::span<const float> values,
                                   std::span<const float> codebook,
                                   int gap_bits, std::string* payload,
                                   SparseQuantizedParts* parts = nullptr);

// The exact size of the payload EncodeSparseQuantized would write for each
// of `gap_widths`, from the counts of its symbols, without coding them: for
// choosing an encoding before paying for it. Checks what the encoder checks
// (widths, codebook, every nonzero in it).
absl::StatusOr<std::vector<uint64_t>> SparseQuantizedBytes(
    std::span<const float> values, std::span<const float> codebook,
    std::span<const int> gap_widths);

// Decodes a payload into `out` (the tensor's element count). `context` names
// the tensor in error messages.
absl::Status DecodeSparseQuantized(std::span<const uint8_t> payload,
                                   std::span<float> out,
                                   absl::string_view context);

// Validates the payload's framing and returns its parts without decoding.
absl::StatusOr<SparseQuantizedParts> AnalyzeSparseQuantized(
    std::span<const uint8_t> payload, uint64_t numel,
    absl::string_view context);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_SPARSE_QUANTIZED_H_
