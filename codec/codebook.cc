#include "codec/codebook.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
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
  std::vector<std::pair<float, uint32_t>> sorted;
  sorted.reserve(codebook.size());
  for (uint32_t i = 0; i < codebook.size(); ++i) {
    sorted.emplace_back(codebook[i], i);
  }
  std::sort(sorted.begin(), sorted.end());
  size_t size = 1;
  while (size < sorted.size() + 1) size *= 2;
  keys_.assign(size, std::numeric_limits<float>::infinity());
  index_.assign(size, 0);
  for (size_t i = 0; i < sorted.size(); ++i) {
    keys_[i] = sorted[i].first;
    index_[i] = sorted[i].second;
  }
}

int64_t CodebookLookup::Find(float v) const {
  size_t i = 0;
  for (size_t step = keys_.size() / 2; step > 0; step /= 2) {
    i += keys_[i + step - 1] < v ? step : 0;
  }
  if (std::bit_cast<uint32_t>(keys_[i]) != std::bit_cast<uint32_t>(v)) {
    return -1;
  }
  return index_[i];
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

absl::Status NotInCodebookError(float v, uint64_t position) {
  return absl::InvalidArgumentError(absl::StrCat(
      "value ", v, " at flat position ", position,
      " is not in the codebook: quantize the tensor to its codebook before "
      "encoding"));
}

}  // namespace condense::codec
