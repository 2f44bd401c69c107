#include "codec/quantized_tensor.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "codec/context_coded.h"
#include "codec/fixed_width.h"
#include "codec/sparse_quantized.h"

namespace condense::codec {
namespace {

using cdz::Encoding;

QuantizedParts FromParts(const SparseQuantizedParts& p) {
  QuantizedParts q;
  q.nonzeros = p.nonzeros;
  q.fillers = p.fillers;
  q.centroids = p.centroids;
  q.gap_bits = p.gap_bits;
  q.index_pack = p.index_pack;
  q.codebook_bytes = p.codebook_bytes;
  q.table_bytes = p.table_bytes;
  q.position_bytes = p.gap_bytes;
  q.index_bytes = p.index_bytes;
  q.other_bytes = p.other_bytes;
  return q;
}

QuantizedParts FromParts(const ContextCodedParts& p) {
  QuantizedParts q;
  q.nonzeros = p.nonzeros;
  q.centroids = p.centroids;
  q.row_length = p.row_length;
  q.index_contexts = p.index_contexts;
  q.codebook_bytes = p.codebook_bytes;
  q.position_bytes = p.mask_bytes;
  q.index_bytes = p.index_bytes;
  q.other_bytes = p.other_bytes;
  return q;
}

QuantizedParts FromParts(const FixedWidthParts& p) {
  QuantizedParts q;
  q.nonzeros = p.nonzeros;
  q.centroids = p.centroids;
  q.codebook_bytes = p.codebook_bytes;
  q.position_bytes = p.mask_bytes;
  q.index_bytes = p.index_bytes;
  q.other_bytes = p.other_bytes;
  return q;
}

// Gap widths worth trying: from ceil(log2(mean gap)) up two bits, where
// Huffman over the gaps is usually smallest. A dense tensor's gaps are all
// zero, one symbol whatever the width: the narrowest is as small as any.
std::vector<int> GapWidths(uint64_t numel, uint64_t nonzeros) {
  if (nonzeros == numel) return {1};
  const double mean_gap = static_cast<double>(numel) /
                          static_cast<double>(std::max<uint64_t>(nonzeros, 1));
  const int centre = std::clamp(
      static_cast<int>(std::ceil(std::log2(std::max(mean_gap, 1.0)))), 1,
      kMaxGapBits - 2);
  return {centre, centre + 1, centre + 2};
}

}  // namespace

bool IsQuantizedEncoding(Encoding encoding) {
  return encoding == Encoding::kSparseQuantized ||
         encoding == Encoding::kContextCoded ||
         encoding == Encoding::kFixedWidth;
}

absl::StatusOr<EncodedQuantized> EncodeQuantized(
    std::span<const float> values, std::span<const uint64_t> shape,
    std::span<const float> codebook, const QuantizedEncodeOptions& options) {
  // Huffman's and fixed width's exact sizes are known from counts alone;
  // the context coder's only by coding. So the context coder codes (on a
  // thread of its own for a large tensor) while the others are sized, and
  // only the smallest is coded: for most large tensors, the context coder's
  // stream, already there.
  struct {
    absl::Status status;
    std::string body;
    ContextCodedParts parts;
  } context;  // Declared before the thread that writes it: joined first.
  auto code_context = [&] {
    context.status =
        EncodeContextCoded(values, codebook, DefaultRowLength(shape),
                           &context.body, &context.parts, options.threads);
  };
  std::jthread context_thread;
  if (options.allow_context_coded && options.threads > 1 &&
      values.size() >= kParallelEncodeElements) {
    try {
      context_thread = std::jthread(code_context);
    } catch (const std::system_error&) {
      // No thread to be had: the context coder runs on this one, below.
    }
  }
  EncodedQuantized best;
  const uint64_t nonzeros = CountNonzeros(values);
  int gap_bits = 0;  // Huffman's best width.
  if (options.allow_sparse_quantized) {
    const std::vector<int> widths = options.gap_bits == 0
                                        ? GapWidths(values.size(), nonzeros)
                                        : std::vector<int>{options.gap_bits};
    auto sizes = SparseQuantizedBytes(values, codebook, widths);
    if (!sizes.ok()) return sizes.status();
    // The first of equal sizes, as when each width was coded in turn.
    const auto it = std::min_element(sizes->begin(), sizes->end());
    gap_bits = widths[static_cast<size_t>(it - sizes->begin())];
    best.alternatives.sparse_quantized = *it;
  }
  const bool fixed =
      options.allow_fixed_width ||
      (!options.allow_sparse_quantized && !options.allow_context_coded);
  if (fixed) {
    best.alternatives.fixed_width = FixedWidthBytes(
        values.size(), nonzeros, static_cast<uint32_t>(codebook.size()));
  }
  if (options.allow_context_coded) {
    if (context_thread.joinable()) {
      context_thread.join();
    } else {
      code_context();
    }
    if (!context.status.ok()) return context.status;
    best.alternatives.context_coded = context.body.size();
  }
  // The smallest; equal sizes go to Huffman, then the context coder, then
  // fixed width.
  const QuantizedAlternatives& a = best.alternatives;
  Encoding pick = Encoding::kFixedWidth;
  uint64_t smallest = fixed ? a.fixed_width : UINT64_MAX;
  if (options.allow_context_coded && a.context_coded <= smallest) {
    pick = Encoding::kContextCoded;
    smallest = a.context_coded;
  }
  if (options.allow_sparse_quantized && a.sparse_quantized <= smallest) {
    pick = Encoding::kSparseQuantized;
  }
  best.encoding = pick;
  switch (pick) {
    case Encoding::kContextCoded:
      best.body = std::move(context.body);
      best.parts = FromParts(context.parts);
      break;
    case Encoding::kSparseQuantized: {
      context.body = std::string();  // Not kept: give its memory back.
      SparseQuantizedParts parts;
      if (auto s = EncodeSparseQuantized(values, codebook, gap_bits, &best.body,
                                         &parts);
          !s.ok()) {
        return s;
      }
      best.parts = FromParts(parts);
      break;
    }
    default: {
      context.body = std::string();
      FixedWidthParts parts;
      if (auto s = EncodeFixedWidth(values, codebook, &best.body, &parts);
          !s.ok()) {
        return s;
      }
      best.parts = FromParts(parts);
      break;
    }
  }
  return best;
}

absl::Status DecodeQuantized(Encoding encoding, std::span<const uint8_t> body,
                             std::span<float> out, absl::string_view context,
                             int threads) {
  switch (encoding) {
    case Encoding::kSparseQuantized:
      return DecodeSparseQuantized(body, out, context);
    case Encoding::kContextCoded:
      return DecodeContextCoded(body, out, context, threads);
    case Encoding::kFixedWidth:
      return DecodeFixedWidth(body, out, context);
    case Encoding::kRaw:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(context, ": encoding ", static_cast<int>(encoding),
                   " is not a quantized encoding"));
}

absl::StatusOr<QuantizedParts> AnalyzeQuantized(Encoding encoding,
                                                std::span<const uint8_t> body,
                                                uint64_t numel,
                                                absl::string_view context) {
  switch (encoding) {
    case Encoding::kSparseQuantized: {
      auto p = AnalyzeSparseQuantized(body, numel, context);
      if (!p.ok()) return p.status();
      return FromParts(*p);
    }
    case Encoding::kContextCoded: {
      auto p = AnalyzeContextCoded(body, numel, context);
      if (!p.ok()) return p.status();
      return FromParts(*p);
    }
    case Encoding::kFixedWidth: {
      auto p = AnalyzeFixedWidth(body, numel, context);
      if (!p.ok()) return p.status();
      return FromParts(*p);
    }
    case Encoding::kRaw:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(context, ": encoding ", static_cast<int>(encoding),
                   " is not a quantized encoding"));
}

}  // namespace condense::codec
