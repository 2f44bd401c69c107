#include "codec/dtype.h"

#include <array>
#include <bit>
#include <cstring>

namespace condense::codec {

// The format is little-endian; raw copies below rely on the host being so.
static_assert(std::endian::native == std::endian::little);
namespace {

struct DTypeRow {
  DType type;
  size_t size;
  absl::string_view name;
  bool floating;
};

constexpr std::array<DTypeRow, 10> kRows = {{
    {DType::kF32, 4, "F32", true},
    {DType::kF16, 2, "F16", true},
    {DType::kBF16, 2, "BF16", true},
    {DType::kF64, 8, "F64", true},
    {DType::kI64, 8, "I64", false},
    {DType::kI32, 4, "I32", false},
    {DType::kI16, 2, "I16", false},
    {DType::kI8, 1, "I8", false},
    {DType::kU8, 1, "U8", false},
    {DType::kBool, 1, "BOOL", false},
}};

const DTypeRow* Find(DType t) {
  for (const auto& row : kRows) {
    if (row.type == t) return &row;
  }
  return nullptr;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal: normalize.
    exp = 113;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

size_t DTypeSize(DType t) {
  const DTypeRow* row = Find(t);
  return row ? row->size : 0;
}

bool IsKnownDType(uint8_t raw) { return Find(static_cast<DType>(raw)); }

bool IsFloatingDType(DType t) {
  const DTypeRow* row = Find(t);
  return row && row->floating;
}

absl::string_view DTypeName(DType t) {
  const DTypeRow* row = Find(t);
  return row ? row->name : "UNKNOWN";
}

std::optional<DType> DTypeFromName(absl::string_view name) {
  for (const auto& row : kRows) {
    if (row.name == name) return row.type;
  }
  return std::nullopt;
}

bool ConvertToFloat32(DType t, const uint8_t* src, size_t n, float* dst) {
  if (n == 0) return IsFloatingDType(t);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      return true;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        dst[i] = HalfToFloat(
            static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8)));
      }
      return true;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits =
            (uint32_t{src[2 * i]} << 16) | (uint32_t{src[2 * i + 1]} << 24);
        std::memcpy(&dst[i], &bits, 4);
      }
      return true;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      return true;
    default:
      return false;
  }
}

}  // namespace condense::codec
