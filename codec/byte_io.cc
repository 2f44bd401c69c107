#include "codec/byte_io.h"

#include "absl/strings/str_cat.h"

namespace condense::codec {

bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

absl::Status ByteReader::Corrupt(absl::string_view message) const {
  return absl::DataLossError(absl::StrCat(context_, ": ", message));
}

absl::Status ByteReader::Need(absl::string_view field, uint64_t n) const {
  if (n <= remaining()) return absl::OkStatus();
  return Corrupt(absl::StrCat("truncated while reading ", field, " at byte ",
                              offset(), ": needs ", n, " bytes, ", remaining(),
                              " left"));
}

absl::Status ByteReader::U8(absl::string_view field, uint8_t* v) {
  if (auto s = Need(field, 1); !s.ok()) return s;
  *v = *p_++;
  return absl::OkStatus();
}

absl::Status ByteReader::U16(absl::string_view field, uint16_t* v) {
  if (auto s = Need(field, 2); !s.ok()) return s;
  *v = static_cast<uint16_t>(p_[0] | (p_[1] << 8));
  p_ += 2;
  return absl::OkStatus();
}

absl::Status ByteReader::U32(absl::string_view field, uint32_t* v) {
  if (auto s = Need(field, 4); !s.ok()) return s;
  *v = LoadLE32(p_);
  p_ += 4;
  return absl::OkStatus();
}

absl::Status ByteReader::U64(absl::string_view field, uint64_t* v) {
  if (auto s = Need(field, 8); !s.ok()) return s;
  *v = LoadLE64(p_);
  p_ += 8;
  return absl::OkStatus();
}

absl::Status ByteReader::F32(absl::string_view field, float* v) {
  uint32_t bits;
  if (auto s = U32(field, &bits); !s.ok()) return s;
  std::memcpy(v, &bits, 4);
  return absl::OkStatus();
}

absl::Status ByteReader::Varint(absl::string_view field, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p_ == end_) {
      return Corrupt(absl::StrCat("truncated inside varint ", field));
    }
    const uint8_t byte = *p_++;
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && byte > 1) break;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return absl::OkStatus();
    }
  }
  return Corrupt(absl::StrCat("varint ", field, " overflows 64 bits"));
}

absl::Status ByteReader::Bytes(absl::string_view field, uint64_t n,
                               std::span<const uint8_t>* out) {
  if (auto s = Need(field, n); !s.ok()) return s;
  *out = {p_, static_cast<size_t>(n)};
  p_ += n;
  return absl::OkStatus();
}

}  // namespace condense::codec
