// The file seam of the codec: random-access reads and atomic writes, with
// POSIX and in-memory implementations. Tests and fuzzers use the in-memory
// ones; anything that must simulate disk trouble implements these interfaces.
//
// RandomAccessFile::ReadAt is thread-safe (pread). WritableFile is not; one
// writer per file.
#ifndef CONDENSE_CODEC_FILE_IO_H_
#define CONDENSE_CODEC_FILE_IO_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace condense::codec {

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  virtual uint64_t Size() const = 0;
  // Reads exactly n bytes at offset into dst; OutOfRange if they are not all
  // there.
  virtual absl::Status ReadAt(uint64_t offset, size_t n,
                              uint8_t* dst) const = 0;
  // For messages: the path, or a description.
  virtual const std::string& Name() const = 0;
};

absl::StatusOr<std::unique_ptr<RandomAccessFile>> OpenRandomAccessFile(
    const std::string& path);
std::unique_ptr<RandomAccessFile> NewMemoryFile(std::string data,
                                                std::string name = "memory");
// Reads bytes the caller owns and keeps alive (and unchanged) as long as the
// file: no copy, for models embedded in a program or mapped from flash.
std::unique_ptr<RandomAccessFile> NewMemoryView(absl::string_view data,
                                                std::string name = "memory");

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(absl::string_view data) = 0;
  // Bytes appended so far.
  virtual uint64_t Size() const = 0;
  // Makes the data durable and visible. For an atomic file: flush, fsync,
  // rename over the destination, fsync the directory.
  virtual absl::Status Close() = 0;
};

// Writes to a temporary file beside `path` and renames it into place on
// Close(); a file destroyed before Close() leaves `path` untouched and its
// temporary removed.
absl::StatusOr<std::unique_ptr<WritableFile>> NewAtomicFile(
    const std::string& path);
// Appends to a string the caller owns and keeps alive.
std::unique_ptr<WritableFile> NewStringFile(std::string* out);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_FILE_IO_H_
