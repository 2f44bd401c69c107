// Reads IDX files (the MNIST family's format: a magic number giving the
// element type and rank, big-endian dimensions, then big-endian data),
// gzipped or not. No LibTorch. Thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_IDX_FILE_H_
#define CONDENSE_WORKER_ENGINE_IDX_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace condense::engine {

enum class IdxType : uint8_t {
  kU8 = 0x08,
  kI8 = 0x09,
  kI16 = 0x0B,
  kI32 = 0x0C,
  kF32 = 0x0D,
  kF64 = 0x0E,
};

struct IdxArray {
  IdxType type = IdxType::kU8;
  std::vector<int64_t> dims;
  // Elements in native byte order, row-major.
  std::vector<uint8_t> data;

  int64_t numel() const;
};

size_t IdxTypeSize(IdxType type);

// Refuses files whose header asks for more than max_bytes of data.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path,
                                     uint64_t max_bytes = uint64_t{8} << 30);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_IDX_FILE_H_
