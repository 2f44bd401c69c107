// The codebook of a quantized tensor: the checks every quantized encoding
// makes of it, and the lookup from a weight to its codebook entry. Thread-
// safe: a lookup is immutable once built.
#ifndef CONDENSE_CODEC_CODEBOOK_H_
#define CONDENSE_CODEC_CODEBOOK_H_

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace condense::codec {

inline constexpr uint32_t kMaxCentroids = 65536;

// OK when the codebook has 1..65536 entries, all finite and distinct;
// otherwise InvalidArgument naming the entry.
absl::Status CheckCodebook(std::span<const float> codebook);

// The entries in ascending order (of a checked codebook).
std::vector<float> SortedCodebook(std::span<const float> codebook);

// Finds the entry a value equals bit for bit, in an open-addressing hash
// table of the entries' bits at most a quarter full: one probe for almost
// every weight, where a search over sorted entries takes log2(entries)
// dependent steps. Writers look up every weight of a tensor once per
// encoding they try, so this is on their hot path.
class CodebookLookup {
 public:
  // `codebook` must pass CheckCodebook.
  explicit CodebookLookup(std::span<const float> codebook);
  // The entry's index in `codebook`, or -1 when `v` is in no entry.
  int64_t Find(float v) const {
    const uint32_t bits = std::bit_cast<uint32_t>(v);
    for (uint32_t slot = Slot(bits);; slot = (slot + 1) & mask_) {
      const uint32_t index = index_[slot];
      if (index == kEmpty) return -1;
      if (keys_[slot] == bits) return index;
    }
  }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  uint32_t Slot(uint32_t bits) const {
    // Fibonacci hashing: the top bits of the product mix every input bit.
    return static_cast<uint32_t>((uint64_t{bits} * 0x9E3779B97F4A7C15u) >>
                                 shift_) &
           mask_;
  }

  std::vector<uint32_t> keys_;   // Entry bits, per slot.
  std::vector<uint32_t> index_;  // Entry index, per slot; kEmpty: free.
  uint32_t mask_ = 0;
  int shift_ = 0;
};

// The bits of an index into `centroids` entries: ceil(log2(centroids)), 0
// for a single entry.
int IndexBits(uint32_t centroids);

// A codebook as the formats store it: little-endian f32, 4 bytes each.
std::vector<float> LoadCodebook(std::span<const uint8_t> bytes);

// The InvalidArgument error for a weight that is in no entry.
absl::Status NotInCodebookError(float v, uint64_t position);

// The weights a quantized encoding stores: values other than +0.0 and -0.0.
uint64_t CountNonzeros(std::span<const float> values);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CODEBOOK_H_
