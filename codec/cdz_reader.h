// Reads a .cdz container: verifies its framing on Open(), then decodes
// tensors one at a time on request, so a large model never needs twice its
// size in memory. Every section's CRC-32C is checked before its bytes are
// used; errors name the damaged tensor.
//
// Thread-safety: after Open() returns, all methods are const and may be
// called concurrently (reads go through RandomAccessFile::ReadAt).
#ifndef CONDENSE_CODEC_CDZ_READER_H_
#define CONDENSE_CODEC_CDZ_READER_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codec/cdz_section.h"
#include "codec/cdz_writer.h"
#include "codec/file_io.h"
#include "codec/size_report.h"

namespace condense::codec {

struct ReaderOptions {
  // Tensors claiming more elements are refused: a few bytes of compressed
  // zeros could otherwise ask for terabytes. 2^32 floats is 16 GiB.
  uint64_t max_tensor_elements = uint64_t{1} << 32;
  // Threads one tensor's decode may use where its encoding has independent
  // parts (the segments of a large context-coded tensor).
  int decode_threads = 1;
};

// One decoded tensor. Compressed tensors and raw floating tensors come back
// as float32 in `values`; raw integer and bool tensors as their little-endian
// bytes in `bytes`.
struct DecodedTensor {
  cdz::TensorInfo info;
  DType dtype = DType::kF32;  // Of the data held: F32 means `values`.
  std::vector<float> values;
  std::vector<uint8_t> bytes;
};

// Buffers a decode reuses across calls, so decoding tensor after tensor
// allocates only when one is larger than all before.
struct DecodeScratch {
  std::string section;
  std::vector<float> values;
};

class CdzReader {
 public:
  static absl::StatusOr<std::unique_ptr<CdzReader>> Open(
      std::unique_ptr<RandomAccessFile> file, ReaderOptions options = {});
  static absl::StatusOr<std::unique_ptr<CdzReader>> OpenPath(
      const std::string& path, ReaderOptions options = {});

  uint16_t major_version() const { return major_; }
  uint16_t minor_version() const { return minor_; }
  // ReaderOptions::decode_threads (at least 1). Not while another thread
  // decodes with this reader.
  void set_decode_threads(int threads) {
    options_.decode_threads = threads < 1 ? 1 : threads;
  }
  const Manifest& manifest() const { return manifest_; }
  const std::vector<cdz::TensorInfo>& tensors() const { return tensors_; }
  std::optional<size_t> Find(const std::string& name) const;

  // Reads, verifies and decodes tensor i into *out, reusing its buffers.
  absl::Status Decode(size_t i, DecodedTensor* out) const;

  // Decodes tensor i into the caller's buffer as `as`: a floating tensor
  // (compressed or raw) as any floating dtype, rounded to nearest even where
  // `as` is narrower; an integer or bool tensor only as its own dtype. `out`
  // must hold exactly numel * DTypeSize(as) bytes.
  absl::Status DecodeTo(size_t i, DType as, std::span<uint8_t> out,
                        DecodeScratch* scratch) const;
  // The bytes of scratch DecodeTo(i, as) needs: the stored section, plus
  // float32 values when `as` is not F32 and the tensor is compressed or
  // needs a conversion through float32.
  absl::StatusOr<uint64_t> ScratchBytes(size_t i, DType as) const;

  // Where the bytes go, from the sections' headers (no decoding; every
  // tensor section is read and checksummed).
  absl::StatusOr<ModelSize> Sizes() const;

 private:
  CdzReader(std::unique_ptr<RandomAccessFile> file, ReaderOptions options)
      : file_(std::move(file)), options_(options) {}
  absl::Status Load();
  absl::Status LoadIndex(uint64_t offset);
  // Reads the whole section of tensor i and checks its CRC and header.
  absl::Status ReadTensorSection(size_t i, std::string* section,
                                 size_t* body_offset) const;
  std::string Describe(uint64_t offset) const;

  std::unique_ptr<RandomAccessFile> file_;
  ReaderOptions options_;
  uint16_t major_ = 0;
  uint16_t minor_ = 0;
  Manifest manifest_;
  std::vector<cdz::TensorInfo> tensors_;
  uint64_t container_bytes_ = 0;
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CDZ_READER_H_
