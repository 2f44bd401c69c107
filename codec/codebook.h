// The codebook of a quantized tensor: the checks every quantized encoding
// makes of it, and the lookup from a weight to its codebook entry. Thread-
// safe: a lookup is immutable once built.
#ifndef CONDENSE_CODEC_CODEBOOK_H_
#define CONDENSE_CODEC_CODEBOOK_H_

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

// Finds the entry a value equals bit for bit, by a branchless binary search
// over the sorted entries padded to a power of two with +inf (real weights
// make a branching search mispredict on almost every step).
class CodebookLookup {
 public:
  // `codebook` must pass CheckCodebook.
  explicit CodebookLookup(std::span<const float> codebook);
  // The entry's index in `codebook`, or -1 when `v` is in no entry.
  int64_t Find(float v) const;

 private:
  std::vector<float> keys_;
  std::vector<uint32_t> index_;
};

// The bits of an index into `centroids` entries: ceil(log2(centroids)), 0
// for a single entry.
int IndexBits(uint32_t centroids);

// A codebook as the formats store it: little-endian f32, 4 bytes each.
std::vector<float> LoadCodebook(std::span<const uint8_t> bytes);

// The InvalidArgument error for a weight that is in no entry.
absl::Status NotInCodebookError(float v, uint64_t position);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CODEBOOK_H_
