// SHA-256 (FIPS 180-4), for content digests of models, data and blobs
// without a crypto library. Sha256 is a streaming hasher; not thread-safe.
#ifndef CONDENSE_CODEC_SHA256_H_
#define CONDENSE_CODEC_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace condense::codec {

class Sha256 {
 public:
  Sha256();
  void Update(absl::string_view data);
  // The digest; the hasher must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  // Lowercase hex of Finish().
  std::string FinishHex();

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

std::string Sha256Hex(absl::string_view data);
// Streams a file through the hasher.
absl::StatusOr<std::string> FileSha256Hex(const std::string& path);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_SHA256_H_
