// Writes a .cdz container, tensor by tensor, so a model never needs to be in
// memory twice: each tensor is encoded, written, and only its index entry and
// size accounting are kept.
//
// Usage:
//   auto file = NewAtomicFile("model.cdz");
//   auto writer = CdzWriter::Create(*std::move(file), manifest);
//   (*writer)->AddQuantized("fc1.weight", DType::kF32, {300, 784}, values,
//                           codebook);
//   (*writer)->AddRaw("fc1.bias", DType::kF32, {300}, bias_bytes);
//   (*writer)->Finish();  // Index, end section, fsync, rename into place.
//
// A writer that fails, or is destroyed before Finish(), leaves no file at the
// destination when given an atomic file. Not thread-safe.
#ifndef CONDENSE_CODEC_CDZ_WRITER_H_
#define CONDENSE_CODEC_CDZ_WRITER_H_

#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codec/cdz_section.h"
#include "codec/file_io.h"
#include "codec/quantized_tensor.h"
#include "codec/size_report.h"

namespace condense::codec {

// Model-level metadata: unique UTF-8 keys to UTF-8 values. Conventional keys:
// "source_sha256", "spec" (the CompressionSpec as JSON), "stats" (JSON),
// "producer".
using Manifest = std::map<std::string, std::string>;

// A tensor encoded and checked, ready to be written: what
// CdzWriter::EncodeQuantized produces (on any thread) and AddEncoded writes
// (in order). `body` is the encoding's payload (quantized_tensor.h).
struct EncodedTensor {
  cdz::TensorInfo info;
  std::string body;
  TensorSize size;
};

class CdzWriter {
 public:
  // Encodes a quantized tensor as AddQuantized does, without writing it.
  // Thread-safe (no writer involved), so tensors encode in parallel.
  static absl::StatusOr<EncodedTensor> EncodeQuantized(
      const std::string& name, DType source_dtype,
      const std::vector<uint64_t>& shape, std::span<const float> values,
      std::span<const float> codebook,
      const QuantizedEncodeOptions& options = {});

  static absl::StatusOr<std::unique_ptr<CdzWriter>> Create(
      std::unique_ptr<WritableFile> file, const Manifest& manifest);

  // Stores `bytes` (little-endian elements of dtype, numel * size bytes).
  absl::Status AddRaw(const std::string& name, DType dtype,
                      const std::vector<uint64_t>& shape,
                      std::span<const uint8_t> bytes);

  // Stores a quantized tensor in the smallest allowed encoding: every
  // nonzero of `values` must be one of `codebook`'s entries (see
  // EncodeQuantized in quantized_tensor.h). `source_dtype` records the dtype
  // the model had (a floating one); the decoder returns float32.
  absl::Status AddQuantized(const std::string& name, DType source_dtype,
                            const std::vector<uint64_t>& shape,
                            std::span<const float> values,
                            std::span<const float> codebook,
                            const QuantizedEncodeOptions& options = {});

  // Writes a tensor that EncodeQuantized encoded.
  absl::Status AddEncoded(EncodedTensor tensor);

  // Writes the index and end sections and closes the file.
  absl::Status Finish();

  // Valid after Finish().
  const ModelSize& sizes() const { return sizes_; }
  // The tensors written so far, in order.
  const std::vector<TensorSize>& tensor_sizes() const { return sizes_.tensors; }

 private:
  explicit CdzWriter(std::unique_ptr<WritableFile> file)
      : file_(std::move(file)) {}
  // Name and shape checks that need no writer.
  static absl::Status CheckTensor(const std::string& name,
                                  const std::vector<uint64_t>& shape,
                                  uint64_t* numel);
  absl::Status CheckNewTensor(const std::string& name,
                              const std::vector<uint64_t>& shape,
                              uint64_t* numel) const;
  absl::Status WriteTensor(cdz::TensorInfo info, absl::string_view body,
                           TensorSize size);

  std::unique_ptr<WritableFile> file_;
  std::vector<cdz::TensorInfo> index_;
  std::set<std::string> names_;
  ModelSize sizes_;
  uint64_t container_bytes_ = 0;
  bool finished_ = false;
  absl::Status error_;  // Sticky: after one failure nothing more is written.
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_CDZ_WRITER_H_
