#include "codec/sparse_quantized.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/codebook.h"
#include "codec/huffman.h"

namespace condense::codec {
namespace {

// Index packs above 1 only for alphabets this small: their symbols still
// decode through byte- or short-sized tables.
constexpr uint64_t kMaxPackedAlphabet = 4096;

// centroids^pack, saturating above kMaxPackedAlphabet.
uint64_t PackedAlphabet(uint32_t centroids, int pack) {
  uint64_t a = 1;
  for (int i = 0; i < pack; ++i) {
    a *= centroids;
    if (a > kMaxCentroids) return kMaxCentroids + 1;
  }
  return a;
}

// The index packs worth sizing for a codebook: 1, and for more than one
// centroid every wider pack whose alphabet stays within
// kMaxPackedAlphabet. The encoder and SparseQuantizedBytes both size these,
// so that the size promised is the size written.
std::vector<int> PackCandidates(uint32_t centroids) {
  std::vector<int> packs = {1};
  for (int m = 2; centroids > 1 && m <= kMaxIndexPack &&
                  PackedAlphabet(centroids, m) <= kMaxPackedAlphabet;
       ++m) {
    packs.push_back(m);
  }
  return packs;
}

// The payload split into its fields, bounds already checked.
struct Layout {
  int gap_bits = 0;
  int pack = 1;  // Cluster indices per index-stream symbol.
  uint64_t nonzeros = 0;
  size_t field_bytes = 0;  // Gap bits, pack, nonzero count, stream length.
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
  uint8_t pack = 0;
  if (auto s = r.U8("index pack", &pack); !s.ok()) return s;
  if (pack < 1 || pack > kMaxIndexPack) {
    return r.Corrupt(
        absl::StrCat("index pack ", pack, " outside 1..", kMaxIndexPack));
  }
  if (auto s = r.U32("centroid count", &centroids); !s.ok()) return s;
  if (centroids == 0 || centroids > kMaxCentroids) {
    return r.Corrupt(absl::StrCat("centroid count ", centroids, " outside 1..",
                                  kMaxCentroids));
  }
  const uint64_t packed_alphabet = PackedAlphabet(centroids, pack);
  if (pack > 1 && packed_alphabet > kMaxPackedAlphabet) {
    return r.Corrupt(absl::StrCat(centroids, " centroids packed ", pack,
                                  " per symbol exceed ", kMaxPackedAlphabet,
                                  " symbols"));
  }
  if (auto s = r.Bytes("codebook", uint64_t{centroids} * 4, &l->codebook);
      !s.ok())
    return s;
  if (auto s = r.Varint("nonzero count", &l->nonzeros); !s.ok()) return s;
  if (l->nonzeros > numel) {
    return r.Corrupt(absl::StrCat("nonzero count ", l->nonzeros,
                                  " exceeds the ", numel, " elements"));
  }
  if (auto s = r.U64("gap stream length", &gap_len); !s.ok()) return s;
  l->field_bytes = r.offset() - l->codebook.size() - 4;
  if (auto s = r.Bytes("gap stream", gap_len, &l->gap_stream); !s.ok())
    return s;
  l->index_stream = r.rest();
  l->gap_bits = gap_bits;
  l->pack = pack;
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
  if (l->index_info.alphabet_size != packed_alphabet) {
    return r.Corrupt(absl::StrCat("index stream alphabet ",
                                  l->index_info.alphabet_size, " is not ",
                                  centroids, "^", pack));
  }
  if (l->index_info.num_symbols != (l->nonzeros + pack - 1) / pack) {
    return r.Corrupt(
        absl::StrCat("index stream holds ", l->index_info.num_symbols,
                     " symbols; ", l->nonzeros, " nonzeros packed ", pack,
                     " per symbol need ", (l->nonzeros + pack - 1) / pack));
  }
  if (l->nonzeros > l->gap_info.num_symbols) {
    return r.Corrupt("more nonzeros than gap entries");
  }
  // Every gap symbol advances the cursor by at least one position.
  if (l->gap_info.num_symbols > numel || l->index_info.num_symbols > numel) {
    return r.Corrupt(absl::StrCat("stream lengths (", l->gap_info.num_symbols,
                                  " gaps, ", l->index_info.num_symbols,
                                  " indices) exceed the ", numel,
                                  " elements of the tensor"));
  }
  return absl::OkStatus();
}

// Decodes the index stream into one cluster index per nonzero.
template <typename IndexSym>
absl::Status DecodeIndices(const Layout& l, std::vector<IndexSym>* indices,
                           absl::string_view context) {
  auto fail = [&](const absl::Status& s) {
    return absl::DataLossError(
        absl::StrCat(context, ": index stream: ", s.message()));
  };
  if (l.pack == 1) {
    indices->resize(l.nonzeros);
    if (auto s = HuffmanDecode(l.index_stream, std::span<IndexSym>(*indices));
        !s.ok())
      return fail(s);
    return absl::OkStatus();
  }
  // Packed: symbol = sum of index_t * C^t over t < pack; unpacked through a
  // table of `pack` digits per symbol.
  const uint32_t c = l.centroids;
  const size_t m = static_cast<size_t>(l.pack);
  std::vector<uint16_t> packed(l.index_info.num_symbols);
  if (auto s = HuffmanDecode(l.index_stream, std::span<uint16_t>(packed));
      !s.ok())
    return fail(s);
  const uint32_t alphabet = l.index_info.alphabet_size;
  std::vector<IndexSym> digits(size_t{alphabet} * m);
  for (uint32_t v = 0; v < alphabet; ++v) {
    uint32_t rest = v;
    for (size_t t = 0; t < m; ++t, rest /= c) {
      digits[v * m + t] = static_cast<IndexSym>(rest % c);
    }
  }
  indices->resize(packed.size() * m);
  IndexSym* out = indices->data();
  for (uint16_t v : packed) {
    std::memcpy(out, &digits[size_t{v} * m], m * sizeof(IndexSym));
    out += m;
  }
  indices->resize(l.nonzeros);
  return absl::OkStatus();
}

template <typename GapSym, typename IndexSym>
absl::Status Scatter(const Layout& l, std::span<float> out,
                     absl::string_view context) {
  std::vector<GapSym> gaps(l.gap_info.num_symbols);
  std::vector<IndexSym> indices;
  if (auto s = HuffmanDecode(l.gap_stream, std::span<GapSym>(gaps)); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat(context, ": gap stream: ", s.message()));
  }
  if (auto s = DecodeIndices(l, &indices, context); !s.ok()) return s;
  const std::vector<float> codebook = LoadCodebook(l.codebook);

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

// Splits a quantized tensor into its gap symbols and cluster indices, each
// in the narrowest type its alphabet fits (a byte per symbol for b <= 8 and
// codebooks of up to 256 entries), since for a large layer these two streams
// are the encoder's whole working memory.
template <typename GapSym, typename IndexSym>
absl::Status Collect(std::span<const float> values,
                     const CodebookLookup& lookup, int gap_bits,
                     std::vector<GapSym>* gaps,
                     std::vector<IndexSym>* indices) {
  const uint32_t filler = (uint32_t{1} << gap_bits) - 1;
  uint64_t cursor = 0;
  for (uint64_t pos = 0; pos < values.size(); ++pos) {
    const float v = values[pos];
    if (v == 0.0f) continue;
    const int64_t index = lookup.Find(v);
    if (index < 0) return NotInCodebookError(v, pos);
    uint64_t d = pos - cursor;
    while (d >= filler) {
      gaps->push_back(static_cast<GapSym>(filler));
      d -= filler;
    }
    gaps->push_back(static_cast<GapSym>(d));
    indices->push_back(static_cast<IndexSym>(index));
    cursor = pos + 1;
  }
  return absl::OkStatus();
}

// Codes the cluster indices `pack` per symbol (pack 1: one per symbol).
template <typename IndexSym>
absl::Status EncodeIndices(const std::vector<IndexSym>& indices,
                           uint32_t centroids, int pack, std::string* out) {
  if (pack == 1) {
    return HuffmanEncode(std::span<const IndexSym>(indices), centroids, out);
  }
  const auto alphabet = static_cast<uint32_t>(PackedAlphabet(centroids, pack));
  auto encode = [&]<typename PackedSym>(PackedSym) {
    std::vector<PackedSym> packed((indices.size() + pack - 1) / pack, 0);
    for (size_t j = 0; j < packed.size(); ++j) {
      uint32_t v = 0;
      for (int t = pack - 1; t >= 0; --t) {
        const size_t i = j * pack + t;
        v = v * centroids + (i < indices.size() ? indices[i] : 0);
      }
      packed[j] = static_cast<PackedSym>(v);
    }
    return HuffmanEncode(std::span<const PackedSym>(packed), alphabet, out);
  };
  return alphabet <= 256 ? encode(uint8_t{}) : encode(uint16_t{});
}

// Both streams of a tensor: the gap stream, then the index stream with the
// index pack that codes smallest.
template <typename GapSym, typename IndexSym>
absl::Status EncodeStreams(std::span<const float> values,
                           std::span<const float> codebook, int gap_bits,
                           std::string* gap_stream, std::string* index_stream,
                           int* pack, uint64_t* nonzeros) {
  std::vector<IndexSym> indices;
  {
    std::vector<GapSym> gaps;
    if (auto s = Collect(values, CodebookLookup(codebook), gap_bits, &gaps,
                         &indices);
        !s.ok()) {
      return s;
    }
    if (auto s = HuffmanEncode(std::span<const GapSym>(gaps),
                               uint32_t{1} << gap_bits, gap_stream);
        !s.ok())
      return s;
  }  // The gap symbols go before the index packs are tried.
  *nonzeros = indices.size();
  // Huffman spends at least one bit per symbol, which wastes much of it on
  // indices of small codebooks (2-4 bits): code several indices per symbol
  // when that comes out smaller. Wider packs approach the entropy but their
  // alphabets outgrow the code length limit, so each candidate's exact size
  // is computed from its symbol counts (HuffmanStreamSizer) and only the
  // smallest is coded.
  const auto centroids = static_cast<uint32_t>(codebook.size());
  *pack = 1;
  uint64_t best = 0;
  for (int candidate : PackCandidates(centroids)) {
    const size_t m = static_cast<size_t>(candidate);
    const size_t symbols = (indices.size() + m - 1) / m;
    HuffmanStreamSizer sizer(
        symbols, candidate == 1 ? centroids
                                : static_cast<uint32_t>(
                                      PackedAlphabet(centroids, candidate)));
    for (size_t j = 0; j < symbols; ++j) {
      uint32_t v = 0;
      for (size_t t = m; t-- > 0;) {
        const size_t i = j * m + t;
        v = v * centroids + (i < indices.size() ? indices[i] : 0);
      }
      sizer.Add(v);
    }
    const uint64_t bytes = sizer.Bytes();
    if (candidate == 1 || bytes < best) {
      best = bytes;
      *pack = candidate;
    }
  }
  if (auto s = EncodeIndices(indices, centroids, *pack, index_stream);
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

SparseQuantizedParts PartsOf(const Layout& l) {
  SparseQuantizedParts p;
  p.nonzeros = l.nonzeros;
  p.gap_entries = l.gap_info.num_symbols;
  p.fillers = p.gap_entries - p.nonzeros;
  p.centroids = l.centroids;
  p.gap_bits = l.gap_bits;
  p.codebook_bytes = 4 + l.codebook.size();
  p.table_bytes = l.gap_info.header_bytes + l.index_info.header_bytes;
  p.gap_bytes = l.gap_info.payload_bytes;
  p.index_bytes = l.index_info.payload_bytes;
  p.other_bytes = l.field_bytes;
  p.index_pack = l.pack;
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
  if (auto s = CheckCodebook(codebook); !s.ok()) return s;

  std::string gap_stream;
  std::string index_stream;
  int pack = 1;
  uint64_t nonzeros = 0;
  const bool narrow_gaps = gap_bits <= 8;
  const bool narrow_indices = codebook.size() <= 256;
  absl::Status encoded =
      narrow_gaps && narrow_indices
          ? EncodeStreams<uint8_t, uint8_t>(values, codebook, gap_bits,
                                            &gap_stream, &index_stream, &pack,
                                            &nonzeros)
      : narrow_gaps ? EncodeStreams<uint8_t, uint16_t>(
                          values, codebook, gap_bits, &gap_stream,
                          &index_stream, &pack, &nonzeros)
      : narrow_indices
          ? EncodeStreams<uint16_t, uint8_t>(values, codebook, gap_bits,
                                             &gap_stream, &index_stream, &pack,
                                             &nonzeros)
          : EncodeStreams<uint16_t, uint16_t>(values, codebook, gap_bits,
                                              &gap_stream, &index_stream, &pack,
                                              &nonzeros);
  if (!encoded.ok()) return encoded;
  const auto centroids = static_cast<uint32_t>(codebook.size());

  const size_t start = payload->size();
  ByteWriter w(payload);
  w.U8(static_cast<uint8_t>(gap_bits));
  w.U8(static_cast<uint8_t>(pack));
  w.U32(centroids);
  for (float c : codebook) w.F32(c);
  w.Varint(nonzeros);
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

absl::StatusOr<std::vector<uint64_t>> SparseQuantizedBytes(
    std::span<const float> values, std::span<const float> codebook,
    std::span<const int> gap_widths) {
  for (int b : gap_widths) {
    if (b < kMinGapBits || b > kMaxGapBits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gap bits ", b, " outside ", kMinGapBits, "..", kMaxGapBits));
    }
  }
  if (auto s = CheckCodebook(codebook); !s.ok()) return s;
  const size_t widths = gap_widths.size();
  std::vector<uint64_t> filler(widths);
  for (size_t k = 0; k < widths; ++k) {
    filler[k] = (uint64_t{1} << gap_widths[k]) - 1;
  }
  // The sizers need their symbol counts first: nonzeros, and each width's
  // fillers.
  uint64_t nonzeros = 0;
  std::vector<uint64_t> fillers(widths, 0);
  uint64_t cursor = 0;
  for (uint64_t pos = 0; pos < values.size(); ++pos) {
    if (values[pos] == 0.0f) continue;
    if (const uint64_t d = pos - cursor; d != 0) {
      for (size_t k = 0; k < widths; ++k) fillers[k] += d / filler[k];
    }
    ++nonzeros;
    cursor = pos + 1;
  }
  const auto centroids = static_cast<uint32_t>(codebook.size());
  std::vector<HuffmanStreamSizer> gaps;
  gaps.reserve(widths);
  for (size_t k = 0; k < widths; ++k) {
    gaps.emplace_back(nonzeros + fillers[k], uint32_t{1} << gap_widths[k]);
  }
  // The index packs EncodeStreams tries, each summed as it goes.
  struct Pack {
    uint32_t m;
    HuffmanStreamSizer sizer;
    uint32_t value = 0;
    uint32_t filled = 0;
    uint32_t weight = 1;  // centroids^filled.
  };
  std::vector<Pack> packs;
  for (int m : PackCandidates(centroids)) {
    const auto alphabet = static_cast<uint32_t>(PackedAlphabet(centroids, m));
    packs.push_back({static_cast<uint32_t>(m),
                     HuffmanStreamSizer((nonzeros + m - 1) / m, alphabet)});
  }
  const CodebookLookup lookup(codebook);
  cursor = 0;
  for (uint64_t pos = 0; pos < values.size(); ++pos) {
    const float v = values[pos];
    if (v == 0.0f) continue;
    const int64_t index = lookup.Find(v);
    if (index < 0) return NotInCodebookError(v, pos);
    const uint64_t d = pos - cursor;
    for (size_t k = 0; k < widths; ++k) {
      for (uint64_t f = d / filler[k]; f > 0; --f) {
        gaps[k].Add(static_cast<uint32_t>(filler[k]));
      }
      gaps[k].Add(static_cast<uint32_t>(d % filler[k]));
    }
    for (Pack& p : packs) {
      p.value += static_cast<uint32_t>(index) * p.weight;
      p.weight *= centroids;
      if (++p.filled == p.m) {
        p.sizer.Add(p.value);
        p.value = 0;
        p.filled = 0;
        p.weight = 1;
      }
    }
    cursor = pos + 1;
  }
  uint64_t index_bytes = 0;
  for (Pack& p : packs) {
    if (p.filled > 0) p.sizer.Add(p.value);  // Padded with index 0.
    const uint64_t b = p.sizer.Bytes();
    if (p.m == 1 || b < index_bytes) index_bytes = b;
  }
  // Gap bits, index pack, centroid count, codebook, nonzero count, gap
  // stream length: the body's fields.
  std::string count;
  ByteWriter(&count).Varint(nonzeros);
  const uint64_t fields =
      1 + 1 + 4 + 4 * uint64_t{centroids} + count.size() + 8;
  std::vector<uint64_t> bytes(widths);
  for (size_t k = 0; k < widths; ++k) {
    bytes[k] = fields + gaps[k].Bytes() + index_bytes;
  }
  return bytes;
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
