// Element types a .cdz tensor may have, with the names safetensors uses.
// Values are part of the file format: never renumber them.
#ifndef CONDENSE_CODEC_DTYPE_H_
#define CONDENSE_CODEC_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace condense::codec {

enum class DType : uint8_t {
  kF32 = 1,
  kF16 = 2,
  kBF16 = 3,
  kF64 = 4,
  kI64 = 5,
  kI32 = 6,
  kI16 = 7,
  kI8 = 8,
  kU8 = 9,
  kBool = 10,
};

// Bytes per element, or 0 for a value that is not a known DType.
size_t DTypeSize(DType t);
bool IsKnownDType(uint8_t raw);
bool IsFloatingDType(DType t);
// "F32", "BF16", ... as in safetensors headers.
absl::string_view DTypeName(DType t);
std::optional<DType> DTypeFromName(absl::string_view name);

// Converts n little-endian elements of a floating dtype to float32 (F64 is
// rounded). Returns false for non-floating dtypes.
bool ConvertToFloat32(DType t, const uint8_t* src, size_t n, float* dst);
// The inverse: n float32 values to little-endian elements of a floating
// dtype, rounded to nearest even (F16 and BF16). A value that came from t
// converts back to the same bits. Returns false for non-floating dtypes.
bool ConvertFromFloat32(DType t, const float* src, size_t n, uint8_t* dst);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_DTYPE_H_
