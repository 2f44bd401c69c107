#include "codec/codebook.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace condense::codec {

absl::Status CheckCodebook(std::span<const float> codebook) {
  if (codebook.empty() || codebook.size() > kMaxCentroids) {
    return absl::InvalidArgumentError(
        absl::StrCat("codebook has ", codebook.size(),
                     " centroids; it needs 1..", kMaxCentroids));
  }
  std::vector<std::pair<float, uint32_t>> sorted;
  sorted.reserve(codebook.size());
  for (uint32_t i = 0; i < codebook.size(); ++i) {
    if (!std::isfinite(codebook[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("codebook entry ", i, " is not finite"));
    }
    sorted.emplace_back(codebook[i], i);
  }
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].first == sorted[i - 1].first) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codebook entries ", sorted[i - 1].second, " and ", sorted[i].second,
          " are equal (", sorted[i].first, "); centroids must be distinct"));
    }
  }
  return absl::OkStatus();
}

std::vector<float> SortedCodebook(std::span<const float> codebook) {
  std::vector<float> sorted(codebook.begin(), codebook.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

CodebookLookup::CodebookLookup(std::span<const float> codebook) {
  // At least four slots per entry: probes stay short, and a value in no
  // entry meets a free slot soon.
  int bits = 2;
  while ((size_t{1} << bits) < 4 * codebook.size()) ++bits;
  const size_t slots = size_t{1} << bits;
  mask_ = static_cast<uint32_t>(slots - 1);
  shift_ = 64 - bits;
  keys_.assign(slots, 0);
  index_.assign(slots, kEmpty);
  for (uint32_t i = 0; i < codebook.size(); ++i) {
    const uint32_t key = std::bit_cast<uint32_t>(codebook[i]);
    uint32_t slot = Slot(key);
    while (index_[slot] != kEmpty) slot = (slot + 1) & mask_;
    keys_[slot] = key;
    index_[slot] = i;
  }
}

int IndexBits(uint32_t centroids) {
  return centroids <= 1 ? 0 : std::bit_width(centroids - 1);
}

std::vector<float> LoadCodebook(std::span<const uint8_t> bytes) {
  std::vector<float> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    const uint32_t bits = static_cast<uint32_t>(bytes[4 * i]) |
                          static_cast<uint32_t>(bytes[4 * i + 1]) << 8 |
                          static_cast<uint32_t>(bytes[4 * i + 2]) << 16 |
                          static_cast<uint32_t>(bytes[4 * i + 3]) << 24;
    out[i] = std::bit_cast<float>(bits);
  }
  return out;
}

uint64_t CountNonzeros(std::span<const float> values) {
  uint64_t n = 0;
  for (float v : values) n += v != 0.0f ? 1 : 0;
  return n;
}

absl::Status NotInCodebookError(float v, uint64_t position) {
  return absl::InvalidArgumentError(absl::StrCat(
      "value ", v, " at flat position ", position,
      " is not in the codebook: quantize the tensor to its codebook before "
      "encoding"));
}

}  // namespace condense::codec
