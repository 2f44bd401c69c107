// The CONTEXT_CODED tensor encoding: a quantized tensor coded with adaptive
// binary models and a range coder (range_coder.h), in the manner of
// DeepCABAC. The tensor is seen as rows (its first dimension) of columns
// (the rest). Two streams:
//   - the mask: one significance flag per weight, in row-major order, its
//     model chosen by what is already known around it: how often its column
//     held a weight in the rows above (against the mean column), its row's
//     density so far (against what the rows above predict), the flag before
//     it and how many of the last eight in the row were set. This sees what
//     order-0 codes of gaps cannot: inputs pruned in every row, rows of
//     different density, clustered survivors.
//   - the indices: per nonzero, its codebook entry (the codebook ascending,
//     so neighbouring indices are neighbouring values) as a binary tree of
//     adaptive bits, optionally conditioned on the sign side of the nonzero
//     before it in the row.
// A large tensor is cut into segments of whole rows, each coded on its own
// (its own models and streams), so that cores share the work both ways.
// The byte layout is in docs/format.md. Functions are thread-safe.
#ifndef CONDENSE_CODEC_CONTEXT_CODED_H_
#define CONDENSE_CODEC_CONTEXT_CODED_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace condense::codec {

struct ContextCodedParts {
  uint64_t nonzeros = 0;
  uint32_t centroids = 0;
  uint64_t row_length = 0;
  uint64_t segments = 1;  // Runs of rows coded independently.
  // The first segment's models (the others' may differ).
  int index_contexts = 0;  // 0: one model set; 1: by the left neighbour.
  int mask_limit = 0;      // Adaptation limits (range_coder.h).
  int index_limit = 0;
  uint64_t codebook_bytes = 0;  // Centroids plus their count.
  uint64_t mask_bytes = 0;      // The significance stream.
  uint64_t index_bytes = 0;     // The index stream.
  uint64_t other_bytes = 0;     // Model byte, row length, counts, lengths.
};

// Appends the encoding of `values` (row-major, rows of `row_length`
// elements; row_length must divide the element count) to *payload. Every
// nonzero must equal one entry of `codebook` bit for bit (CheckCodebook's
// rules); zeros decode as +0.0. Tries three adaptation limits for the mask
// (one above 4M elements) and, for the indices, both model sets with every
// limit over the first 2^18 weights, going on with the one that coded
// smallest; keeps the smallest of each stream. A tensor of 8M elements or
// more is coded in segments of whole rows (about 4M elements each), on up
// to `threads` threads; the bytes do not depend on `threads`.
absl::Status EncodeContextCoded(std::span<const float> values,
                                std::span<const float> codebook,
                                uint64_t row_length, std::string* payload,
                                ContextCodedParts* parts = nullptr,
                                int threads = 1);

// Decodes a payload into `out` (the tensor's element count), its segments
// on up to `threads` threads. `context` names the tensor in error messages.
absl::Status DecodeContextCoded(std::span<const uint8_t> payload,
                                std::span<float> out, absl::string_view context,
                                int threads = 1);

// Validates the payload's framing and returns its parts without decoding.
absl::StatusOr<ContextCodedParts> AnalyzeContextCoded(
    std::span<const uint8_t> payload, uint64_t numel,
    absl::string_view context);

// The row length the writer uses for a shape: the product of all but the
// first dimension (the whole tensor for rank 0 and 1).
uint64_t DefaultRowLength(std::span<const uint64_t> shape);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CONTEXT_CODED_H_
