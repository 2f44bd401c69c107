// The one SHA-256 of condense: incremental hashing over OpenSSL's EVP
// interface (SHA-NI where the CPU has it), and hashing of files read in
// bounded chunks. At the bottom of the layering: the client, the server's
// blob store and the engine use it; it depends on nothing but OpenSSL and
// Abseil.
//
// A Sha256Stream is a value owned by one thread at a time; distinct
// objects may be used from different threads.
#ifndef CONDENSE_BASE_SHA256_H_
#define CONDENSE_BASE_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace condense::base {

class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(Sha256Stream&& other) noexcept;
  Sha256Stream& operator=(Sha256Stream&& other) noexcept;
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(absl::string_view data);
  void Update(const void* data, size_t size);

  // The digest of everything updated so far as 64 lowercase hex
  // characters. The stream can keep going afterwards (this hashes a copy).
  std::string HexDigest() const;

  // Bytes hashed so far.
  int64_t bytes() const { return bytes_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int64_t bytes_ = 0;
};

// Hex sha256 of a string (small inputs: names, test data).
std::string Sha256Hex(absl::string_view data);

// True when `hex` is 64 lowercase hex characters.
bool IsSha256Hex(absl::string_view hex);

// Feeds `length` bytes of the open file descriptor `fd` from `offset` into
// `stream`, reading 1 MiB at a time with pread (the descriptor's position is
// untouched). length < 0: to the end of the file. DATA_LOSS when the file
// ends first.
absl::Status HashFileRange(int fd, int64_t offset, int64_t length,
                           Sha256Stream* stream);

// Hex sha256 of the file at `path`; NotFound when it cannot be opened.
absl::StatusOr<std::string> FileSha256Hex(const std::string& path);

}  // namespace condense::base

#endif  // CONDENSE_BASE_SHA256_H_
