#include "codec/sparse_quantized.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/huffman.h"

namespace condense::codec {
namespace {

// The payload split into its fields, bounds already checked.
struct Layout {
  int gap_bits = 0;
  std::span<const uint8_t> codebook;  // 4 bytes per centroid, little-endian.
  uint32_t centroids = 0;
  std::span<const uint8_t> gap_stream;
  std::span<const uint8_t> index_stream;
  HuffmanStreamInfo gap_info;
  HuffmanStreamInfo index_info;
};

absl::Status ParseLayout(std::span<const uint8_t> payload, uint64_t numel,
                         absl::string_view context, Layout* l) {
  ByteReader r(payload, context);
  uint8_t gap_bits = 0;
  uint32_t centroids = 0;
  uint64_t gap_len = 0;
  if (auto s = r.U8("gap bits", &gap_bits); !s.ok()) return s;
  if (gap_bits < kMinGapBits || gap_bits > kMaxGapBits) {
    return r.Corrupt(absl::StrCat("gap bits ", gap_bits, " outside ",
                                  kMinGapBits, "..", kMaxGapBits));
  }
  if (auto s = r.U32("centroid count", &centroids); !s.ok()) return s;
  if (centroids == 0 || centroids > kMaxCentroids) {
    return r.Corrupt(absl::StrCat("centroid count ", centroids, " outside 1..",
                                  kMaxCentroids));
  }
  if (auto s = r.Bytes("codebook", uint64_t{centroids} * 4, &l->codebook);
      !s.ok())
    return s;
  if (auto s = r.U64("gap stream length", &gap_len); !s.ok()) return s;
  if (auto s = r.Bytes("gap stream", gap_len, &l->gap_stream); !s.ok())
    return s;
  l->index_stream = r.rest();
  l->gap_bits = gap_bits;
  l->centroids = centroids;

  auto gap_info = ParseHuffmanHeader(l->gap_stream);
  if (!gap_info.ok()) {
    return r.Corrupt(absl::StrCat("gap stream: ", gap_info.status().message()));
  }
  auto index_info = ParseHuffmanHeader(l->index_stream);
  if (!index_info.ok()) {
    return r.Corrupt(
        absl::StrCat("index stream: ", index_info.status().message()));
  }
  l->gap_info = *gap_info;
  l->index_info = *index_info;
  if (l->gap_info.alphabet_size != (uint32_t{1} << gap_bits)) {
    return r.Corrupt(absl::StrCat("gap stream alphabet ",
                                  l->gap_info.alphabet_size, " is not 2^",
                                  gap_bits));
  }
  if (l->index_info.alphabet_size != centroids) {
    return r.Corrupt(
        absl::StrCat("index stream alphabet ", l->index_info.alphabet_size,
                     " differs from the ", centroids, " centroids"));
  }
  // Every gap symbol advances the cursor by at least one position.
  if (l->gap_info.num_symbols > numel || l->index_info.num_symbols > numel) {
    return r.Corrupt(absl::StrCat("stream lengths (", l->gap_info.num_symbols,
                                  " gaps, ", l->index_info.num_symbols,
                                  " indices) exceed the ", numel,
                                  " elements of the tensor"));
  }
  if (l->index_info.num_symbols > l->gap_info.num_symbols) {
    return r.Corrupt("more cluster indices than gap entries");
  }
  return absl::OkStatus();
}

template <typename GapSym, typename IndexSym>
absl::Status Scatter(const Layout& l, std::span<float> out,
                     absl::string_view context) {
  std::vector<GapSym> gaps(l.gap_info.num_symbols);
  std::vector<IndexSym> indices(l.index_info.num_symbols);
  if (auto s = HuffmanDecode(l.gap_stream, std::span<GapSym>(gaps)); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat(context, ": gap stream: ", s.message()));
  }
  if (auto s = HuffmanDecode(l.index_stream, std::span<IndexSym>(indices));
      !s.ok()) {
    return absl::DataLossError(
        absl::StrCat(context, ": index stream: ", s.message()));
  }
  std::vector<float> codebook(l.centroids);
  for (uint32_t i = 0; i < l.centroids; ++i) {
    const uint32_t bits = LoadLE32(l.codebook.data() + 4 * i);
    std::memcpy(&codebook[i], &bits, 4);
  }

  // Zeroing runs just ahead of the scatter, a cache-sized chunk at a time, so
  // the output is written in one pass while it is hot in cache.
  constexpr uint64_t kZeroChunk = 16384;
  const uint32_t filler = (uint32_t{1} << l.gap_bits) - 1;
  const uint64_t numel = out.size();
  const uint64_t num_indices = indices.size();
  float* dst = out.data();
  uint64_t zeroed = 0;
  uint64_t cursor = 0;
  uint64_t next_index = 0;
  for (const GapSym g : gaps) {
    if (g == filler) {
      cursor += filler;
      continue;
    }
    cursor += g;
    if (cursor >= numel || next_index >= num_indices) {
      return absl::DataLossError(absl::StrCat(
          context, cursor >= numel
                       ? ": gap stream runs past the end of the tensor"
                       : ": gap stream has more weights than index stream"));
    }
    if (cursor >= zeroed) {
      const uint64_t upto = std::min(numel, cursor + kZeroChunk);
      std::memset(dst + zeroed, 0, (upto - zeroed) * sizeof(float));
      zeroed = upto;
    }
    dst[cursor++] = codebook[indices[next_index++]];
  }
  if (zeroed < numel) {
    std::memset(dst + zeroed, 0, (numel - zeroed) * sizeof(float));
  }
  if (next_index != num_indices) {
    return absl::DataLossError(
        absl::StrCat(context, ": index stream has ", num_indices - next_index,
                     " more entries than the gap stream places"));
  }
  if (cursor > numel + filler) {
    return absl::DataLossError(
        absl::StrCat(context, ": fillers run past the end of the tensor"));
  }
  return absl::OkStatus();
}

template <typename GapSym, typename IndexSym>
absl::Status EncodeStreams(
    std::span<const float> values,
    const std::vector<std::pair<float, uint32_t>>& sorted, int gap_bits,
    std::string* gap_stream, std::string* index_stream, uint64_t* fillers) {
  const uint32_t filler = (uint32_t{1} << gap_bits) - 1;
  std::vector<GapSym> gaps;
  std::vector<IndexSym> indices;
  uint64_t cursor = 0;
  *fillers = 0;
  for (uint64_t pos = 0; pos < values.size(); ++pos) {
    const float v = values[pos];
    if (v == 0.0f) continue;
    auto it = std::lower_bound(sorted.begin(), sorted.end(), v,
                               [](const std::pair<float, uint32_t>& e,
                                  float x) { return e.first < x; });
    if (it == sorted.end() ||
        std::bit_cast<uint32_t>(it->first) != std::bit_cast<uint32_t>(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "value ", v, " at flat position ", pos,
          " is not in the codebook: quantize the tensor to its codebook "
          "before encoding"));
    }
    uint64_t d = pos - cursor;
    while (d >= filler) {
      gaps.push_back(static_cast<GapSym>(filler));
      d -= filler;
      ++*fillers;
    }
    gaps.push_back(static_cast<GapSym>(d));
    indices.push_back(static_cast<IndexSym>(it->second));
    cursor = pos + 1;
  }
  if (auto s =
          HuffmanEncode(std::span<const GapSym>(gaps), filler + 1, gap_stream);
      !s.ok())
    return s;
  return HuffmanEncode(std::span<const IndexSym>(indices),
                       static_cast<uint32_t>(sorted.size()), index_stream);
}

SparseQuantizedParts PartsOf(const Layout& l) {
  SparseQuantizedParts p;
  p.nonzeros = l.index_info.num_symbols;
  p.gap_entries = l.gap_info.num_symbols;
  p.fillers = p.gap_entries - p.nonzeros;
  p.centroids = l.centroids;
  p.gap_bits = l.gap_bits;
  p.codebook_bytes = 4 + l.codebook.size();
  p.table_bytes = l.gap_info.header_bytes + l.index_info.header_bytes;
  p.gap_bytes = l.gap_info.payload_bytes;
  p.index_bytes = l.index_info.payload_bytes;
  p.other_bytes = 1 + 8;
  return p;
}

}  // namespace

absl::Status EncodeSparseQuantized(std::span<const float> values,
                                   std::span<const float> codebook,
                                   int gap_bits, std::string* payload,
                                   SparseQuantizedParts* parts) {
  if (gap_bits < kMinGapBits || gap_bits > kMaxGapBits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gap bits ", gap_bits, " outside ", kMinGapBits, "..", kMaxGapBits));
  }
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

  std::string gap_stream;
  std::string index_stream;
  uint64_t fillers = 0;
  const bool wide_gaps = gap_bits > 8;
  const bool wide_indices = codebook.size() > 256;
  absl::Status s;
  if (!wide_gaps && !wide_indices) {
    s = EncodeStreams<uint8_t, uint8_t>(values, sorted, gap_bits, &gap_stream,
                                        &index_stream, &fillers);
  } else if (!wide_gaps) {
    s = EncodeStreams<uint8_t, uint16_t>(values, sorted, gap_bits, &gap_stream,
                                         &index_stream, &fillers);
  } else if (!wide_indices) {
    s = EncodeStreams<uint16_t, uint8_t>(values, sorted, gap_bits, &gap_stream,
                                         &index_stream, &fillers);
  } else {
    s = EncodeStreams<uint16_t, uint16_t>(values, sorted, gap_bits, &gap_stream,
                                          &index_stream, &fillers);
  }
  if (!s.ok()) return s;

  const size_t start = payload->size();
  ByteWriter w(payload);
  w.U8(static_cast<uint8_t>(gap_bits));
  w.U32(static_cast<uint32_t>(codebook.size()));
  for (float c : codebook) w.F32(c);
  w.U64(gap_stream.size());
  w.Bytes(gap_stream);
  w.Bytes(index_stream);
  if (parts != nullptr) {
    auto analyzed = AnalyzeSparseQuantized(
        {reinterpret_cast<const uint8_t*>(payload->data()) + start,
         payload->size() - start},
        values.size(), "new tensor");
    if (!analyzed.ok()) return analyzed.status();
    *parts = *analyzed;
  }
  return absl::OkStatus();
}

absl::Status DecodeSparseQuantized(std::span<const uint8_t> payload,
                                   std::span<float> out,
                                   absl::string_view context) {
  Layout l;
  if (auto s = ParseLayout(payload, out.size(), context, &l); !s.ok()) return s;
  const bool wide_gaps = l.gap_bits > 8;
  const bool wide_indices = l.centroids > 256;
  if (!wide_gaps && !wide_indices) {
    return Scatter<uint8_t, uint8_t>(l, out, context);
  }
  if (!wide_gaps) return Scatter<uint8_t, uint16_t>(l, out, context);
  if (!wide_indices) return Scatter<uint16_t, uint8_t>(l, out, context);
  return Scatter<uint16_t, uint16_t>(l, out, context);
}

absl::StatusOr<SparseQuantizedParts> AnalyzeSparseQuantized(
    std::span<const uint8_t> payload, uint64_t numel,
    absl::string_view context) {
  Layout l;
  if (auto s = ParseLayout(payload, numel, context, &l); !s.ok()) return s;
  return PartsOf(l);
}

}  // namespace condense::codec
