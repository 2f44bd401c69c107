#include "codec/fixed_width.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/codebook.h"

namespace condense::codec {
namespace {

constexpr uint8_t kBitMask = 0;
constexpr uint8_t kDense = 1;

uint64_t VarintSize(uint64_t v) {
  uint64_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Packs values of `bits` bits, least significant bit first.
class BitPacker {
 public:
  explicit BitPacker(std::string* out) : out_(out) {}
  void Put(uint32_t v, int bits) {
    acc_ |= uint64_t{v} << filled_;
    filled_ += bits;
    while (filled_ >= 8) {
      out_->push_back(static_cast<char>(acc_ & 0xFF));
      acc_ >>= 8;
      filled_ -= 8;
    }
  }
  void Flush() {
    if (filled_ > 0) out_->push_back(static_cast<char>(acc_ & 0xFF));
    acc_ = 0;
    filled_ = 0;
  }

 private:
  std::string* out_;
  uint64_t acc_ = 0;
  int filled_ = 0;
};

struct Layout {
  uint32_t centroids = 0;
  std::span<const uint8_t> codebook;
  uint64_t nonzeros = 0;
  uint8_t positions = kBitMask;
  std::span<const uint8_t> mask;
  std::span<const uint8_t> indices;
  size_t count_bytes = 0;
  size_t field_bytes = 0;
};

absl::Status ParseLayout(std::span<const uint8_t> payload, uint64_t numel,
                         absl::string_view context, Layout* l) {
  ByteReader r(payload, context);
  uint64_t centroids = 0;
  if (auto s = r.Varint("centroid count", &centroids); !s.ok()) return s;
  l->count_bytes = r.offset();
  if (centroids == 0 || centroids > kMaxCentroids) {
    return r.Corrupt(absl::StrCat("centroid count ", centroids, " outside 1..",
                                  kMaxCentroids));
  }
  l->centroids = static_cast<uint32_t>(centroids);
  if (auto s = r.Bytes("codebook", centroids * 4, &l->codebook); !s.ok())
    return s;
  const size_t before = r.offset();
  if (auto s = r.Varint("nonzero count", &l->nonzeros); !s.ok()) return s;
  if (l->nonzeros > numel) {
    return r.Corrupt(absl::StrCat("nonzero count ", l->nonzeros,
                                  " exceeds the ", numel, " elements"));
  }
  if (auto s = r.U8("position mode", &l->positions); !s.ok()) return s;
  if (l->positions > kDense) {
    return r.Corrupt(absl::StrCat("position mode ", l->positions,
                                  " unknown (0 bit mask, 1 dense)"));
  }
  if (l->positions == kDense && l->nonzeros != numel) {
    return r.Corrupt("dense position mode with fewer weights than elements");
  }
  l->field_bytes = r.offset() - before;
  if (l->positions == kBitMask) {
    if (auto s = r.Bytes("bit mask", (numel + 7) / 8, &l->mask); !s.ok())
      return s;
  }
  const uint64_t index_bytes =
      (l->nonzeros * static_cast<uint64_t>(IndexBits(l->centroids)) + 7) / 8;
  if (r.remaining() != index_bytes) {
    return r.Corrupt(absl::StrCat("index data has ", r.remaining(), " bytes; ",
                                  l->nonzeros, " weights need ", index_bytes));
  }
  l->indices = r.rest();
  return absl::OkStatus();
}

}  // namespace

uint64_t FixedWidthBytes(uint64_t numel, uint64_t nonzeros,
                         uint32_t centroids) {
  const uint64_t mask = nonzeros == numel ? 0 : (numel + 7) / 8;
  return VarintSize(centroids) + 4 * uint64_t{centroids} +
         VarintSize(nonzeros) + 1 + mask +
         (nonzeros * static_cast<uint64_t>(IndexBits(centroids)) + 7) / 8;
}

absl::Status EncodeFixedWidth(std::span<const float> values,
                              std::span<const float> codebook,
                              std::string* payload, FixedWidthParts* parts) {
  if (auto s = CheckCodebook(codebook); !s.ok()) return s;
  const CodebookLookup lookup(codebook);
  const uint64_t numel = values.size();
  uint64_t nonzeros = 0;
  for (uint64_t pos = 0; pos < numel; ++pos) {
    if (values[pos] == 0.0f) continue;
    if (lookup.Find(values[pos]) < 0) {
      return NotInCodebookError(values[pos], pos);
    }
    ++nonzeros;
  }
  const auto centroids = static_cast<uint32_t>(codebook.size());
  const size_t start = payload->size();
  ByteWriter w(payload);
  w.Varint(centroids);
  for (float c : codebook) w.F32(c);
  w.Varint(nonzeros);
  const bool dense = nonzeros == numel;
  w.U8(dense ? kDense : kBitMask);
  if (!dense) {
    BitPacker mask(payload);
    for (float v : values) mask.Put(v != 0.0f ? 1 : 0, 1);
    mask.Flush();
  }
  const int bits = IndexBits(centroids);
  BitPacker packer(payload);
  if (bits > 0) {
    for (float v : values) {
      if (v != 0.0f) packer.Put(static_cast<uint32_t>(lookup.Find(v)), bits);
    }
  }
  packer.Flush();
  if (parts != nullptr) {
    auto analyzed = AnalyzeFixedWidth(
        {reinterpret_cast<const uint8_t*>(payload->data()) + start,
         payload->size() - start},
        numel, "new tensor");
    if (!analyzed.ok()) return analyzed.status();
    *parts = *analyzed;
  }
  return absl::OkStatus();
}

absl::Status DecodeFixedWidth(std::span<const uint8_t> payload,
                              std::span<float> out, absl::string_view context) {
  Layout l;
  const uint64_t numel = out.size();
  if (auto s = ParseLayout(payload, numel, context, &l); !s.ok()) return s;
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(context, ": ", what));
  };
  const std::vector<float> codebook = LoadCodebook(l.codebook);
  const int bits = IndexBits(l.centroids);
  const uint32_t value_mask = (1u << bits) - 1;
  uint64_t bit_pos = 0;  // In the index data.
  uint64_t placed = 0;
  auto next_index = [&]() -> uint32_t {
    // An index spans at most three bytes (16 bits from any offset).
    uint32_t v = 0;
    const uint64_t byte = bit_pos / 8;
    for (uint64_t k = 0; k < 3 && byte + k < l.indices.size(); ++k) {
      v |= uint32_t{l.indices[byte + k]} << (8 * k);
    }
    v = (v >> (bit_pos % 8)) & value_mask;
    bit_pos += static_cast<uint64_t>(bits);
    return v;
  };
  for (uint64_t pos = 0; pos < numel; ++pos) {
    const bool set =
        l.positions == kDense || ((l.mask[pos / 8] >> (pos % 8)) & 1) != 0;
    if (!set) {
      out[pos] = 0.0f;
      continue;
    }
    if (++placed > l.nonzeros) {
      return corrupt("bit mask holds more weights than the nonzero count");
    }
    const uint32_t index = bits == 0 ? 0 : next_index();
    if (index >= l.centroids) {
      return corrupt(absl::StrCat("index ", index, " at flat position ", pos,
                                  " is outside the ", l.centroids,
                                  "-entry codebook"));
    }
    out[pos] = codebook[index];
  }
  if (placed != l.nonzeros) {
    return corrupt(absl::StrCat("bit mask holds ", placed,
                                " weights; the header says ", l.nonzeros));
  }
  if (l.positions == kBitMask && numel % 8 != 0 &&
      (l.mask.back() >> (numel % 8)) != 0) {
    return corrupt("bit mask has bits set past the last element");
  }
  return absl::OkStatus();
}

absl::StatusOr<FixedWidthParts> AnalyzeFixedWidth(
    std::span<const uint8_t> payload, uint64_t numel,
    absl::string_view context) {
  Layout l;
  if (auto s = ParseLayout(payload, numel, context, &l); !s.ok()) return s;
  FixedWidthParts p;
  p.nonzeros = l.nonzeros;
  p.centroids = l.centroids;
  p.index_bits = IndexBits(l.centroids);
  p.codebook_bytes = l.count_bytes + l.codebook.size();
  p.mask_bytes = l.mask.size();
  p.index_bytes = l.indices.size();
  p.other_bytes = l.field_bytes;
  return p;
}

}  // namespace condense::codec
