#include "codec/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

namespace condense::codec {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path,
                        int err) {
  const std::string msg =
      absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  uint64_t Size() const override { return size_; }
  const std::string& Name() const override { return path_; }

  absl::Status ReadAt(uint64_t offset, size_t n, uint8_t* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return absl::OutOfRangeError(
          absl::StrCat(path_, ": read of ", n, " bytes at ", offset,
                       " passes the end (", size_, " bytes)"));
    }
    while (n > 0) {
      const ssize_t got = ::pread(fd_, dst, n, static_cast<off_t>(offset));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot read", path_, errno);
      }
      if (got == 0) {
        return absl::DataLossError(
            absl::StrCat(path_, ": file shrank while being read"));
      }
      dst += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
    return absl::OkStatus();
  }

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
};

// Reads from bytes that outlive it: a borrowed view, or (OwnedMemoryFile)
// its own copy.
class MemoryView : public RandomAccessFile {
 public:
  MemoryView(absl::string_view data, std::string name)
      : data_(data), name_(std::move(name)) {}
  uint64_t Size() const override { return data_.size(); }
  const std::string& Name() const override { return name_; }
  absl::Status ReadAt(uint64_t offset, size_t n, uint8_t* dst) const override {
    if (offset > data_.size() || n > data_.size() - offset) {
      return absl::OutOfRangeError(
          absl::StrCat(name_, ": read of ", n, " bytes at ", offset,
                       " passes the end (", data_.size(), " bytes)"));
    }
    if (n != 0) std::memcpy(dst, data_.data() + offset, n);
    return absl::OkStatus();
  }

 protected:
  void Rebind(absl::string_view data) { data_ = data; }

 private:
  absl::string_view data_;
  std::string name_;
};

class OwnedMemoryFile final : public MemoryView {
 public:
  OwnedMemoryFile(std::string data, std::string name)
      : MemoryView({}, std::move(name)), owned_(std::move(data)) {
    Rebind(owned_);
  }

 private:
  std::string owned_;
};

class AtomicFile final : public WritableFile {
 public:
  AtomicFile(int fd, std::string tmp, std::string path)
      : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)) {
    buffer_.reserve(kBufferSize);
  }
  ~AtomicFile() override {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("file already closed");
    size_ += data.size();
    if (buffer_.size() + data.size() <= kBufferSize) {
      buffer_.append(data.data(), data.size());
      return absl::OkStatus();
    }
    if (auto s = Flush(); !s.ok()) return s;
    if (data.size() >= kBufferSize) return WriteAll(data);
    buffer_.append(data.data(), data.size());
    return absl::OkStatus();
  }

  uint64_t Size() const override { return size_; }

  absl::Status Close() override {
    if (fd_ < 0) return absl::FailedPreconditionError("file already closed");
    if (auto s = Flush(); !s.ok()) return s;
    if (::fsync(fd_) != 0) return ErrnoError("cannot fsync", tmp_, errno);
    if (::close(fd_) != 0) {
      fd_ = -1;
      ::unlink(tmp_.c_str());
      return ErrnoError("cannot close", tmp_, errno);
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp_.c_str());
      return ErrnoError("cannot rename into place", path_, err);
    }
    // Make the rename itself durable.
    const size_t slash = path_.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return absl::OkStatus();
  }

 private:
  static constexpr size_t kBufferSize = 1 << 20;

  absl::Status Flush() {
    auto s = WriteAll(buffer_);
    buffer_.clear();
    return s;
  }
  absl::Status WriteAll(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", tmp_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  int fd_;
  std::string tmp_;
  std::string path_;
  std::string buffer_;
  uint64_t size_ = 0;
};

class StringFile final : public WritableFile {
 public:
  explicit StringFile(std::string* out) : out_(out) {}
  absl::Status Append(absl::string_view data) override {
    out_->append(data.data(), data.size());
    return absl::OkStatus();
  }
  uint64_t Size() const override { return out_->size(); }
  absl::Status Close() override { return absl::OkStatus(); }

 private:
  std::string* out_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RandomAccessFile>> OpenRandomAccessFile(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  return std::make_unique<PosixRandomAccessFile>(
      fd, static_cast<uint64_t>(st.st_size), path);
}

std::unique_ptr<RandomAccessFile> NewMemoryFile(std::string data,
                                                std::string name) {
  return std::make_unique<OwnedMemoryFile>(std::move(data), std::move(name));
}

std::unique_ptr<RandomAccessFile> NewMemoryView(absl::string_view data,
                                                std::string name) {
  return std::make_unique<MemoryView>(data, std::move(name));
}

absl::StatusOr<std::unique_ptr<WritableFile>> NewAtomicFile(
    const std::string& path) {
  std::random_device rd;
  const std::string tmp =
      absl::StrCat(path, ".tmp.", ::getpid(), ".", rd() % 1000000);
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp, errno);
  return std::make_unique<AtomicFile>(fd, tmp, path);
}

std::unique_ptr<WritableFile> NewStringFile(std::string* out) {
  return std::make_unique<StringFile>(out);
}

}  // namespace condense::codec
