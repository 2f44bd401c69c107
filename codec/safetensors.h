// The safetensors format (a JSON header of names, dtypes, shapes and byte
// offsets, then raw little-endian data), so users without condense can load
// decoded models with standard tools, and condense can read state dicts.
//
// SafetensorsReader reads tensors on demand from a RandomAccessFile; its const
// methods are thread-safe. SafetensorsWriter streams: the header is written
// first from the declared tensors, then each tensor's bytes in order; not
// thread-safe.
#ifndef CONDENSE_CODEC_SAFETENSORS_H_
#define CONDENSE_CODEC_SAFETENSORS_H_

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codec/dtype.h"
#include "codec/file_io.h"

namespace condense::codec {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;
  uint64_t numel = 0;
  uint64_t data_offset = 0;  // From the start of the file.
  uint64_t data_bytes = 0;
};

class SafetensorsReader {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(
      std::unique_ptr<RandomAccessFile> file);
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> OpenPath(
      const std::string& path);

  // In file order (by data offset).
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  absl::Status ReadBytes(const SafetensorsEntry& e,
                         std::vector<uint8_t>* out) const;
  // Floating tensors only; converts to float32.
  absl::Status ReadFloat32(const SafetensorsEntry& e,
                           std::vector<float>* out) const;
  // The same into a caller's buffer of exactly e.numel floats, converting a
  // bounded chunk at a time: no copy of the tensor beyond `out`.
  absl::Status ReadFloat32Into(const SafetensorsEntry& e,
                               std::span<float> out) const;
  // The raw bytes into a caller's buffer of exactly e.data_bytes.
  absl::Status ReadBytesInto(const SafetensorsEntry& e,
                             std::span<uint8_t> out) const;

 private:
  explicit SafetensorsReader(std::unique_ptr<RandomAccessFile> file)
      : file_(std::move(file)) {}
  absl::Status Load();

  std::unique_ptr<RandomAccessFile> file_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsWriter {
 public:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
  };
  // Writes the header for `tensors`, which must then be appended in order.
  static absl::StatusOr<std::unique_ptr<SafetensorsWriter>> Create(
      std::unique_ptr<WritableFile> file, std::vector<Tensor> tensors,
      const std::map<std::string, std::string>& metadata);

  // The next tensor's data: exactly numel * dtype size bytes.
  absl::Status Append(const std::string& name, absl::string_view bytes);
  // Fails unless every declared tensor was appended.
  absl::Status Finish();

 private:
  SafetensorsWriter(std::unique_ptr<WritableFile> file,
                    std::vector<Tensor> tensors)
      : file_(std::move(file)), tensors_(std::move(tensors)) {}

  std::unique_ptr<WritableFile> file_;
  std::vector<Tensor> tensors_;
  size_t next_ = 0;
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_SAFETENSORS_H_
