// Canonical, length-limited Huffman coding of symbol streams over alphabets of
// up to 65,536 symbols (cluster indices, sparse-position gaps).
//
// A stream is self-describing: symbol count, alphabet size, compact code
// lengths, then the coded bits, split into one or four independently decodable
// sub-streams so the decoder can interleave them. The byte layout is in
// docs/format.md ("Huffman stream").
//
// Code lengths are limited to L = max(11, ceil(log2(used symbols))) bits, or
// L + 1 where that is at least 0.1% smaller (skewed 32-centroid index streams
// save 0.4%), so one table lookup always decodes a symbol. Long streams over
// byte-sized alphabets (every cluster-index and gap stream) decode through
// 12-bit multi-symbol tables (up to seven symbols per lookup; 36 KiB, in L1
// on current cores). The decoder never reads or
// writes out of bounds: a corrupt or truncated stream returns a DataLoss error
// that says what is wrong.
//
// All functions are thread-safe: they touch only caller-owned memory.
#ifndef CONDENSE_CODEC_HUFFMAN_H_
#define CONDENSE_CODEC_HUFFMAN_H_

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace condense::codec {

inline constexpr uint32_t kHuffmanMaxAlphabet = 65536;
inline constexpr int kHuffmanMaxCodeLength = 16;
// Lengths are limited to this unless the alphabet needs more.
inline constexpr int kHuffmanPreferredCodeLength = 11;

// What a stream's header says, without decoding it.
struct HuffmanStreamInfo {
  uint64_t num_symbols = 0;
  uint32_t alphabet_size = 0;
  // Bytes of everything but coded bits: counts, code lengths, stream sizes.
  size_t header_bytes = 0;
  // Bytes of coded bits (0 for an empty or one-symbol stream).
  size_t payload_bytes = 0;
};

// Appends a stream coding `symbols` to *out. Every symbol must be below
// alphabet_size (1..65536); otherwise returns InvalidArgument and leaves *out
// unchanged. min_length_limit replaces the 11 of the length limit above.
absl::Status HuffmanEncode(std::span<const uint8_t> symbols,
                           uint32_t alphabet_size, std::string* out,
                           int min_length_limit = kHuffmanPreferredCodeLength);
absl::Status HuffmanEncode(std::span<const uint16_t> symbols,
                           uint32_t alphabet_size, std::string* out,
                           int min_length_limit = kHuffmanPreferredCodeLength);

// The exact size of the stream HuffmanEncode would append for a sequence of
// symbols, from their counts alone: Add the symbols in order (the encoder
// splits long streams into four equal segments, so order matters), then ask
// Bytes(). For choosing between codings without coding them all. Not
// thread-safe; Add must be called exactly num_symbols times, each symbol
// below alphabet_size.
class HuffmanStreamSizer {
 public:
  HuffmanStreamSizer(uint64_t num_symbols, uint32_t alphabet_size);
  void Add(uint32_t symbol) {
    if (left_ == 0) {
      // Into the next segment; the last takes whatever remains.
      ++current_;
      left_ = current_ == 3 ? UINT64_MAX : segment_;
    }
    --left_;
    ++freq_[current_][symbol];
  }
  uint64_t Bytes(int min_length_limit = kHuffmanPreferredCodeLength) const;

 private:
  uint64_t n_;
  uint32_t alphabet_;
  uint64_t segment_;
  size_t current_ = 0;                       // The segment being counted.
  uint64_t left_;                            // Symbols it still takes.
  std::vector<std::vector<uint64_t>> freq_;  // Per segment.
};

// Parses and validates the header of a whole stream (`stream` must be exactly
// the bytes HuffmanEncode appended).
absl::StatusOr<HuffmanStreamInfo> ParseHuffmanHeader(
    std::span<const uint8_t> stream);

// Decodes a whole stream into `out`, whose size must equal the stream's symbol
// count. The uint8_t overload needs an alphabet of at most 256 symbols.
absl::Status HuffmanDecode(std::span<const uint8_t> stream,
                           std::span<uint8_t> out);
absl::Status HuffmanDecode(std::span<const uint8_t> stream,
                           std::span<uint16_t> out);

namespace internal {
// Optimal prefix-code lengths for `freqs` (0 for unused symbols), limited to
// max_length bits. Needs at least two used symbols and
// 2^max_length >= used symbols. Exposed for tests.
std::vector<uint8_t> BuildCodeLengths(std::span<const uint64_t> freqs,
                                      int max_length);
// false: decode with the portable loop even where BMI2 is available (both
// builds of the loop are tested).
void AllowBmi2DecodeForTesting(bool allow);
}  // namespace internal

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_HUFFMAN_H_
