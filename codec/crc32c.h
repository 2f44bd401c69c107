// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum every
// .cdz section carries. Uses the SSE4.2 instruction when the CPU has it and a
// table-driven software path otherwise; both give identical results.
// Thread-safe: pure functions over caller-owned memory.
#ifndef CONDENSE_CODEC_CRC32C_H_
#define CONDENSE_CODEC_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace condense::codec {

// Extends `crc` (the value returned for the preceding bytes, 0 to start) over
// n bytes. Crc32cExtend(Crc32cExtend(0, a), b) == Crc32c(a || b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) {
  return Crc32cExtend(0, data, n);
}

// The portable path, exposed so tests can check it against the fast one.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CRC32C_H_
