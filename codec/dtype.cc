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

// Round to nearest, ties to even; NaN stays NaN (quiet), overflow goes to
// infinity, as a hardware conversion does.
uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN.
    return sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u);
  }
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // Rounds past 65504.
  if (abs < 0x38800000u) {                        // Below 2^-14: subnormal.
    if (abs < 0x33000000u) return sign;           // Below half of 2^-24.
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = ((abs >> 23) - 112) << 10 | ((abs >> 13) & 0x3ffu);
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) ++half;
  return sign | static_cast<uint16_t>(half);
}

uint16_t FloatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // Quiet NaN.
  }
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
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

bool ConvertFromFloat32(DType t, const float* src, size_t n, uint8_t* dst) {
  if (n == 0) return IsFloatingDType(t);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      return true;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h =
            t == DType::kF16 ? FloatToHalf(src[i]) : FloatToBFloat16(src[i]);
        dst[2 * i] = static_cast<uint8_t>(h);
        dst[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      return true;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        const double d = src[i];
        std::memcpy(dst + 8 * i, &d, 8);
      }
      return true;
    default:
      return false;
  }
}

}  // namespace condense::codec
