#include "base/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace condense::base {

struct Sha256Stream::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  State() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~State() { EVP_MD_CTX_free(ctx); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

Sha256Stream::Sha256Stream() : state_(std::make_unique<State>()) {}
Sha256Stream::~Sha256Stream() = default;
Sha256Stream::Sha256Stream(Sha256Stream&& other) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&& other) noexcept = default;

void Sha256Stream::Update(const void* data, size_t size) {
  if (size == 0) return;
  EVP_DigestUpdate(state_->ctx, data, size);
  bytes_ += static_cast<int64_t>(size);
}

void Sha256Stream::Update(absl::string_view data) {
  Update(data.data(), data.size());
}

std::string Sha256Stream::HexDigest() const {
  // Finalising consumes the context, so finalise a copy: the stream can go
  // on (the blob store reports digests of prefixes in errors).
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_MD_CTX_copy_ex(copy, state_->ctx);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(copy, md, &length);
  EVP_MD_CTX_free(copy);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * length, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return hex;
}

std::string Sha256Hex(absl::string_view data) {
  Sha256Stream stream;
  stream.Update(data);
  return stream.HexDigest();
}

bool IsSha256Hex(absl::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status HashFileRange(int fd, int64_t offset, int64_t length,
                           Sha256Stream* stream) {
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buffer(kChunk);
  const int64_t end = length < 0 ? -1 : offset + length;
  while (end < 0 || offset < end) {
    size_t want = kChunk;
    if (end >= 0) {
      want = static_cast<size_t>(
          std::min<int64_t>(static_cast<int64_t>(kChunk), end - offset));
    }
    ssize_t got = pread(fd, buffer.data(), want, offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("reading at offset ", offset, ": ", strerror(errno)));
    }
    if (got == 0) {
      if (end < 0) break;
      return absl::DataLossError(
          absl::StrCat("file ends at ", offset, " bytes, expected ", end));
    }
    stream->Update(buffer.data(), static_cast<size_t>(got));
    offset += got;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileSha256Hex(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  Sha256Stream stream;
  absl::Status st = HashFileRange(fd, 0, -1, &stream);
  ::close(fd);
  if (!st.ok()) return st;
  return stream.HexDigest();
}

}  // namespace condense::base
