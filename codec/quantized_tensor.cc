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
// Huffman over the gaps is usually smallest.
std::vector<int> GapWidths(std::span<const float> values) {
  uint64_t nonzeros = 0;
  for (float v : values) nonzeros += v != 0.0f ? 1 : 0;
  const double mean_gap = static_cast<double>(values.size()) /
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
  EncodedQuantized best;
  bool have = false;
  auto consider = [&](Encoding encoding, std::string body,
                      const QuantizedParts& parts) {
    if (!have || body.size() < best.body.size()) {
      best.encoding = encoding;
      best.body = std::move(body);
      best.parts = parts;
      have = true;
    }
  };
  // Declared before the thread that writes it, so that the thread is
  // joined (on every return) before it goes away.
  struct {
    absl::Status status;
    std::string body;
    ContextCodedParts parts;
  } context;
  auto code_context = [&] {
    context.status =
        EncodeContextCoded(values, codebook, DefaultRowLength(shape),
                           &context.body, &context.parts);
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
  if (options.allow_sparse_quantized) {
    const std::vector<int> widths = options.gap_bits == 0
                                        ? GapWidths(values)
                                        : std::vector<int>{options.gap_bits};
    for (int gap_bits : widths) {
      std::string body;
      SparseQuantizedParts parts;
      if (auto s =
              EncodeSparseQuantized(values, codebook, gap_bits, &body, &parts);
          !s.ok()) {
        return s;
      }
      if (best.alternatives.sparse_quantized == 0 ||
          body.size() < best.alternatives.sparse_quantized) {
        best.alternatives.sparse_quantized = body.size();
      }
      consider(Encoding::kSparseQuantized, std::move(body), FromParts(parts));
    }
  }
  if (options.allow_context_coded) {
    if (context_thread.joinable()) {
      context_thread.join();
    } else {
      code_context();
    }
    if (!context.status.ok()) return context.status;
    best.alternatives.context_coded = context.body.size();
    consider(Encoding::kContextCoded, std::move(context.body),
             FromParts(context.parts));
  }
  if (options.allow_fixed_width || !have) {
    std::string body;
    FixedWidthParts parts;
    if (auto s = EncodeFixedWidth(values, codebook, &body, &parts); !s.ok()) {
      return s;
    }
    best.alternatives.fixed_width = body.size();
    consider(Encoding::kFixedWidth, std::move(body), FromParts(parts));
  }
  return best;
}

absl::Status DecodeQuantized(Encoding encoding, std::span<const uint8_t> body,
                             std::span<float> out, absl::string_view context) {
  switch (encoding) {
    case Encoding::kSparseQuantized:
      return DecodeSparseQuantized(body, out, context);
    case Encoding::kContextCoded:
      return DecodeContextCoded(body, out, context);
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
