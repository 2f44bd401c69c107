// Constants of the .cdz container format (docs/format.md is the reference).
// Every value here is part of the on-disk format: never change one.
#ifndef CONDENSE_CODEC_CDZ_FORMAT_H_
#define CONDENSE_CODEC_CDZ_FORMAT_H_

#include <cstdint>

namespace condense::codec::cdz {

// 0x89 keeps the file from passing as text; \r\n and \x1a catch line-ending
// conversions and DOS type, as in PNG.
inline constexpr uint8_t kMagic[8] = {0x89, 'C',  'D',  'Z',
                                      '\r', '\n', 0x1a, '\n'};
inline constexpr uint16_t kMajorVersion = 1;
// 1.1 added the CONTEXT_CODED and FIXED_WIDTH encodings; 1.2 segmented
// CONTEXT_CODED bodies (model 2).
inline constexpr uint16_t kMinorVersion = 2;
inline constexpr uint64_t kFileHeaderSize = 20;  // magic, versions, flags, crc

inline constexpr uint64_t kSectionHeaderSize = 16;  // type, flags, length
inline constexpr uint64_t kSectionTrailerSize = 4;  // crc32c
inline constexpr uint32_t kSectionRequired = 1u;    // flags bit 0

enum class SectionType : uint32_t {
  kManifest = 1,
  kTensor = 2,
  kIndex = 3,
  kEnd = 4,
};

// The END section always has an 8-byte payload (the INDEX offset) and is the
// last 28 bytes of the file.
inline constexpr uint64_t kEndSectionSize =
    kSectionHeaderSize + 8 + kSectionTrailerSize;

enum class Encoding : uint8_t {
  kRaw = 0,
  kSparseQuantized = 1,  // Huffman-coded relative positions and indices.
  kContextCoded = 2,     // Since 1.1: adaptive binary range coding.
  kFixedWidth = 3,       // Since 1.1: bit mask and fixed-width indices.
};
inline constexpr uint8_t kMaxEncoding = 3;

inline constexpr int kMaxRank = 8;
inline constexpr uint64_t kMaxNameBytes = 65535;

}  // namespace condense::codec::cdz

#endif  // CONDENSE_CODEC_CDZ_FORMAT_H_
