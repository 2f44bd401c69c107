// The FIXED_WIDTH tensor encoding: a quantized tensor with no entropy coding,
// a bit mask of where the weights are (none when every element is one) and
// each weight's codebook index in ceil(log2(centroids)) bits. It is the
// baseline the entropy coders must beat: the writer keeps whichever is
// smallest, so a file is never larger than this form of its weights. The
// byte layout is in docs/format.md. Functions are thread-safe.
#ifndef CONDENSE_CODEC_FIXED_WIDTH_H_
#define CONDENSE_CODEC_FIXED_WIDTH_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace condense::codec {

struct FixedWidthParts {
  uint64_t nonzeros = 0;
  uint32_t centroids = 0;
  int index_bits = 0;
  uint64_t codebook_bytes = 0;  // Centroids plus their count.
  uint64_t mask_bytes = 0;
  uint64_t index_bytes = 0;
  uint64_t other_bytes = 0;  // Nonzero count and position mode.
};

// Appends the encoding of `values` to *payload; every nonzero must equal one
// entry of `codebook` bit for bit (CheckCodebook's rules).
absl::Status EncodeFixedWidth(std::span<const float> values,
                              std::span<const float> codebook,
                              std::string* payload,
                              FixedWidthParts* parts = nullptr);

// The exact payload size EncodeFixedWidth would append.
uint64_t FixedWidthBytes(uint64_t numel, uint64_t nonzeros, uint32_t centroids);

absl::Status DecodeFixedWidth(std::span<const uint8_t> payload,
                              std::span<float> out, absl::string_view context);

absl::StatusOr<FixedWidthParts> AnalyzeFixedWidth(
    std::span<const uint8_t> payload, uint64_t numel,
    absl::string_view context);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_FIXED_WIDTH_H_
