// Builders shared by the container tests: a small model with every kind of
// tensor, and byte surgery that keeps checksums valid.
#ifndef CONDENSE_CODEC_CDZ_TEST_UTIL_H_
#define CONDENSE_CODEC_CDZ_TEST_UTIL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "codec/cdz_reader.h"
#include "codec/cdz_writer.h"

namespace condense::codec::testing {

struct ModelTensor {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  bool compressed;
  std::vector<float> values = {};  // Floating tensors (compressed or raw F32).
  std::vector<float> codebook = {};  // Compressed only.
  int gap_bits = 5;
  std::vector<uint8_t> raw = {};  // Raw non-F32 tensors.
  // Compressed only: the one encoding to use (unset: the smallest).
  std::optional<cdz::Encoding> encoding = std::nullopt;
};

// conv (4-D, context coded), fc (2-D, Huffman with 5-bit gaps), fc in F16
// (fixed width), biases, an I64 buffer, an F16 tensor, a scalar and an empty
// tensor.
std::vector<ModelTensor> SampleModel(uint64_t seed);

// A 2048 x 4100 matrix at 5% density, context coded: large enough to be
// stored in segments (docs/format.md).
ModelTensor SegmentedTensor(uint64_t seed);

// Writes the tensors into an in-memory .cdz file.
std::string WriteModel(const std::vector<ModelTensor>& tensors,
                       const Manifest& manifest, ModelSize* sizes = nullptr);

// The bytes of a string, as the codec's decoders take them.
inline std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Opens an in-memory file.
absl::StatusOr<std::unique_ptr<CdzReader>> OpenBytes(
    std::string bytes, ReaderOptions options = {});

// Recomputes the CRC of the section starting at `offset`.
void FixSectionCrc(std::string* file, uint64_t offset);

}  // namespace condense::codec::testing

#endif  // CONDENSE_CODEC_CDZ_TEST_UTIL_H_
