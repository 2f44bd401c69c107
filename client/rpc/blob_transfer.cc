#include "client/rpc/blob_transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "condense/v1/blobs.grpc.pb.h"
#include "proto/grpc_status.h"
#include "proto/retry_policy.h"

namespace condense::client {
namespace {

using base::HashFileRange;
using base::IsSha256Hex;
using base::Sha256Stream;

// Stays under gRPC's default 4 MiB message cap with room for the name.
constexpr int64_t kMaxChunkBytes = 3 << 20;
constexpr auto kQueryTimeout = std::chrono::seconds(30);

// Closes a file descriptor when it goes out of scope.
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle() { Close(); }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int get() const { return fd_; }
  int Close() {
    int rc = 0;
    if (fd_ >= 0) rc = close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Waits as the retry policy says before each retry.
class Backoff {
 public:
  void Wait() {
    std::this_thread::sleep_for(
        absl::ToChronoMilliseconds(retry::Backoff(++retries_)));
  }

 private:
  int retries_ = 0;
};

// Transfers are streams: the retry policy's stream rule.
bool Retryable(const grpc::Status& status) {
  return retry::IsTransientError(api::FromGrpcStatus(status),
                                 retry::CallKind::kStream);
}

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(),
                      absl::StrCat(what, ": ", status.message()));
}

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  const int error = errno;
  if (error == ENOENT) {
    return absl::NotFoundError(absl::StrCat(what, " ", path, ": no such file"));
  }
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", strerror(error)));
}

absl::Status ReadAt(int fd, int64_t offset, int64_t length, std::string* out,
                    const std::string& path) {
  out->resize(static_cast<size_t>(length));
  int64_t got = 0;
  while (got < length) {
    ssize_t n = pread(fd, out->data() + got, static_cast<size_t>(length - got),
                      offset + got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read", path);
    if (n == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " got shorter while uploading; do not change it meanwhile"));
    }
    got += n;
  }
  return absl::OkStatus();
}

absl::Status WriteAt(int fd, int64_t offset, const std::string& data,
                     const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done,
                       offset + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == ENOSPC) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot write ", path, ": the disk is full"));
      }
      return ErrnoStatus("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status GaveUp(int attempts, const absl::Status& last) {
  return absl::UnavailableError(absl::StrCat(
      "gave up after ", attempts, " attempts; last error: ", last.ToString(),
      ". Check that the server is up, then run again: the transfer resumes"));
}

}  // namespace

std::string UploadIdFor(const v1::Digest& digest) {
  return absl::StrCat(digest.sha256().substr(0, 32), "-", digest.size_bytes());
}

std::string BlobResourceName(const v1::Digest& digest) {
  return absl::StrCat("blobs/", digest.sha256(), "/", digest.size_bytes());
}

std::string UploadResourceName(const std::string& uuid,
                               const v1::Digest& digest) {
  return absl::StrCat("uploads/", uuid, "/", BlobResourceName(digest));
}

absl::StatusOr<v1::Digest> DigestFile(const std::string& path) {
  FileHandle file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return ErrnoStatus("cannot open", path);
  Sha256Stream hash;
  if (auto st = HashFileRange(file.get(), 0, -1, &hash); !st.ok()) {
    return Annotate(st, path);
  }
  v1::Digest digest;
  digest.set_sha256(hash.HexDigest());
  digest.set_size_bytes(hash.bytes());
  return digest;
}

absl::StatusOr<v1::Digest> UploadFile(const Connection& connection,
                                      const std::string& path,
                                      const TransferOptions& options) {
  TransferReport unused;
  TransferReport& report = options.report ? *options.report : unused;
  report = TransferReport();
  auto digest_or = DigestFile(path);
  if (!digest_or.ok()) return digest_or.status();
  const v1::Digest digest = *std::move(digest_or);
  const int64_t size = digest.size_bytes();
  FileHandle file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return ErrnoStatus("cannot open", path);

  const int64_t chunk =
      std::clamp<int64_t>(options.chunk_bytes, 1, kMaxChunkBytes);
  const std::string name = UploadResourceName(UploadIdFor(digest), digest);
  const std::string what = absl::StrCat("upload of ", path, " as ", name);
  auto stub = v1::Blobs::NewStub(connection.channel());
  Backoff backoff;
  absl::Status last = absl::UnavailableError("no attempt made");
  bool first = true;
  for (int attempt = 1; attempt <= std::max(1, options.max_attempts);
       ++attempt) {
    if (attempt > 1) backoff.Wait();
    // Where to go on from: the server's bytes, which survive its restarts.
    int64_t offset = 0;
    {
      auto context = connection.NewContext(kQueryTimeout);
      v1::QueryWriteStatusRequest request;
      request.set_resource_name(name);
      v1::QueryWriteStatusResponse response;
      grpc::Status status =
          stub->QueryWriteStatus(context.get(), request, &response);
      if (status.ok() && response.complete()) {
        if (first) {
          report.resumed_from = size;
          report.deduplicated = true;
        }
        if (options.progress) options.progress(size, size);
        return digest;
      }
      if (status.ok()) {
        offset = response.committed_size();
      } else if (status.error_code() != grpc::StatusCode::NOT_FOUND) {
        last = api::FromGrpcStatus(status);
        if (Retryable(status)) continue;
        return Annotate(last, what);
      }
    }
    if (first) report.resumed_from = offset;
    first = false;
    report.attempts += 1;

    auto context = connection.NewContext();
    v1::WriteResponse response;
    auto stream = stub->Write(context.get(), &response);
    bool stream_open = true;
    int64_t position = offset;
    v1::WriteRequest request;
    do {
      const int64_t length = std::min(chunk, size - position);
      request.Clear();
      if (position == offset) request.set_resource_name(name);
      request.set_write_offset(position);
      request.set_finish_write(position + length == size);
      if (auto st = ReadAt(file.get(), position, length, request.mutable_data(),
                           path);
          !st.ok()) {
        context->TryCancel();
        stream->Finish();
        return st;
      }
      if (!stream->Write(request)) {
        // The server ended the stream: an error, or it has the blob.
        stream_open = false;
        break;
      }
      position += length;
      report.bytes_sent += length;
      if (options.progress) options.progress(position, size);
    } while (position < size);
    if (stream_open) stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (status.ok() && response.committed_size() == size) {
      if (options.progress) options.progress(size, size);
      return digest;
    }
    if (status.ok()) {
      last = absl::UnavailableError(
          absl::StrCat("the server holds ", response.committed_size(), " of ",
                       size, " bytes after the stream ended"));
      continue;
    }
    last = api::FromGrpcStatus(status);
    if (!Retryable(status)) return Annotate(last, what);
  }
  return Annotate(GaveUp(options.max_attempts, last), what);
}

absl::Status DownloadBlob(const Connection& connection,
                          const v1::Digest& digest, const std::string& path,
                          const TransferOptions& options) {
  TransferReport unused;
  TransferReport& report = options.report ? *options.report : unused;
  report = TransferReport();
  const std::string name = BlobResourceName(digest);
  const std::string what = absl::StrCat("download of ", name, " to ", path);
  if (!IsSha256Hex(digest.sha256()) || digest.size_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": expected a 64-hex-character sha256 and a size "
                     ">= 0"));
  }
  const int64_t size = digest.size_bytes();
  const std::string partial = path + ".partial";
  FileHandle file(open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (file.get() < 0) return ErrnoStatus("cannot open", partial);
  struct stat info;
  if (fstat(file.get(), &info) != 0) return ErrnoStatus("cannot stat", partial);
  int64_t held = info.st_size;
  if (held > size) {
    // Not a prefix of this blob: start over.
    if (ftruncate(file.get(), 0) != 0) {
      return ErrnoStatus("cannot truncate", partial);
    }
    held = 0;
  }
  report.resumed_from = held;

  auto stub = v1::Blobs::NewStub(connection.channel());
  Backoff backoff;
  absl::Status last = absl::OkStatus();
  bool done = held == size;
  for (int attempt = 1; !done && attempt <= std::max(1, options.max_attempts);
       ++attempt) {
    if (attempt > 1) backoff.Wait();
    report.attempts += 1;
    auto context = connection.NewContext();
    v1::ReadRequest request;
    request.set_resource_name(name);
    request.set_read_offset(held);
    auto stream = stub->Read(context.get(), request);
    v1::ReadResponse response;
    absl::Status local;
    while (stream->Read(&response)) {
      const auto length = static_cast<int64_t>(response.data().size());
      if (held + length > size) {
        local = absl::DataLossError(absl::StrCat(
            "the server sent more than the blob's ", size, " bytes"));
      } else {
        local = WriteAt(file.get(), held, response.data(), partial);
      }
      if (!local.ok()) {
        context->TryCancel();
        break;
      }
      held += length;
      report.bytes_sent += length;
      if (options.progress) options.progress(held, size);
    }
    grpc::Status status = stream->Finish();
    if (!local.ok()) {
      if (local.code() == absl::StatusCode::kDataLoss) {
        file.Close();
        unlink(partial.c_str());
      }
      return Annotate(local, what);
    }
    if (status.ok()) {
      done = true;
      break;
    }
    last = api::FromGrpcStatus(status);
    if (status.error_code() == grpc::StatusCode::DATA_LOSS) {
      // The server's copy is damaged: what we got from it is suspect too.
      file.Close();
      unlink(partial.c_str());
      return Annotate(last, what);
    }
    if (!Retryable(status)) break;
  }
  if (!done) {
    if (held == 0) {
      // Leave no empty file behind for a download that never started.
      file.Close();
      unlink(partial.c_str());
    }
    if (!Retryable(api::ToGrpcStatus(last))) return Annotate(last, what);
    return Annotate(GaveUp(options.max_attempts, last), what);
  }

  // The whole file, including bytes from earlier runs, against the digest.
  Sha256Stream hash;
  absl::Status hashed = HashFileRange(file.get(), 0, -1, &hash);
  if (hashed.ok() &&
      (hash.bytes() != size || hash.HexDigest() != digest.sha256())) {
    hashed = absl::DataLossError(
        absl::StrCat("the ", hash.bytes(), " bytes received hash to sha256 ",
                     hash.HexDigest(), ", not the blob's; deleted ", partial,
                     ": run again to download afresh"));
  }
  if (!hashed.ok()) {
    file.Close();
    unlink(partial.c_str());
    return Annotate(absl::DataLossError(hashed.message()), what);
  }
  if (fsync(file.get()) != 0) return ErrnoStatus("cannot fsync", partial);
  if (file.Close() != 0) return ErrnoStatus("cannot close", partial);
  if (rename(partial.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(absl::StrCat("cannot rename ", partial, " to"), path);
  }
  if (options.progress) options.progress(size, size);
  return absl::OkStatus();
}

}  // namespace condense::client
