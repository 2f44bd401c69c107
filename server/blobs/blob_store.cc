#include "server/blobs/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace condense::server {
namespace {

namespace fs = std::filesystem;

std::string BlobFileName(const BlobDigest& digest) {
  return absl::StrCat(digest.sha256, "_", digest.size_bytes);
}

std::string BlobName(const BlobDigest& digest) {
  return absl::StrCat("blobs/", digest.sha256, "/", digest.size_bytes);
}

std::string UploadName(absl::string_view uuid, const BlobDigest& digest) {
  return absl::StrCat("uploads/", uuid, "/", BlobName(digest));
}

std::string TenantKey(absl::string_view tenant) {
  return base::Sha256Hex(tenant);
}

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  const int error = errno;
  std::string message = absl::StrCat(what, " ", path, ": ", strerror(error));
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(
        absl::StrCat(message, "; the server's disk is full"));
  }
  return absl::InternalError(message);
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

// Makes a rename or a new file in `dir` durable.
absl::Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir);
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir);
  return absl::OkStatus();
}

bool FileExists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

}  // namespace

absl::Status ValidateDigest(const BlobDigest& digest) {
  if (!base::IsSha256Hex(digest.sha256)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad sha256 \"", digest.sha256,
        "\": expected 64 lowercase hex characters (sha256sum's output)"));
  }
  if (digest.size_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad blob size ", digest.size_bytes, ": sizes are >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUploadId(absl::string_view uuid) {
  const bool chars_ok = std::all_of(uuid.begin(), uuid.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (uuid.empty() || uuid.size() > 64 || !chars_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad upload id \"", uuid,
        "\": use 1 to 64 characters of [A-Za-z0-9-_] (a UUID fits)"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- BlobStore

BlobStore::BlobStore(BlobStoreOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(
    BlobStoreOptions options) {
  if (options.root.empty()) {
    return absl::InvalidArgumentError("blob store root directory not set");
  }
  if (options.max_blob_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_blob_bytes is ", options.max_blob_bytes,
                     "; use 0 for no limit or a positive size"));
  }
  for (const char* dir : {"blobs", "uploads", "owners"}) {
    if (auto st = MakeDirs(absl::StrCat(options.root, "/", dir)); !st.ok()) {
      return st;
    }
  }
  std::unique_ptr<BlobStore> store(new BlobStore(std::move(options)));
  // Count what is stored once; the counters are kept up to date after.
  std::error_code error;
  for (fs::recursive_directory_iterator
           it(store->options_.root + "/blobs", error),
       end;
       !error && it != end; it.increment(error)) {
    if (!it->is_regular_file(error)) continue;
    const auto size = it->file_size(error);
    if (error) break;
    store->stats_.blobs += 1;
    store->stats_.total_bytes += static_cast<int64_t>(size);
  }
  if (error) {
    return absl::InternalError(absl::StrCat(
        "cannot scan ", store->options_.root, "/blobs: ", error.message()));
  }
  return store;
}

std::string BlobStore::BlobPath(const BlobDigest& digest) const {
  return absl::StrCat(options_.root, "/blobs/", digest.sha256.substr(0, 2), "/",
                      BlobFileName(digest));
}

std::string BlobStore::OwnerPath(absl::string_view tenant,
                                 const BlobDigest& digest) const {
  return absl::StrCat(options_.root, "/owners/", TenantKey(tenant), "/",
                      BlobFileName(digest));
}

std::string BlobStore::UploadPath(absl::string_view tenant,
                                  absl::string_view uuid,
                                  const BlobDigest& digest) const {
  return absl::StrCat(options_.root, "/uploads/", TenantKey(tenant), "/", uuid,
                      ".", BlobFileName(digest));
}

bool BlobStore::Exists(const BlobDigest& digest) const {
  return ValidateDigest(digest).ok() && FileExists(BlobPath(digest));
}

bool BlobStore::Owns(absl::string_view tenant, const BlobDigest& digest) const {
  return ValidateDigest(digest).ok() && FileExists(OwnerPath(tenant, digest)) &&
         FileExists(BlobPath(digest));
}

absl::StatusOr<std::string> BlobStore::ReadHead(absl::string_view tenant,
                                                const BlobDigest& digest,
                                                int64_t max_bytes) const {
  return ReadAt(tenant, digest, 0, max_bytes);
}

absl::StatusOr<std::string> BlobStore::ReadAt(absl::string_view tenant,
                                              const BlobDigest& digest,
                                              int64_t offset,
                                              int64_t max_bytes) const {
  if (!Owns(tenant, digest)) {
    return absl::NotFoundError(absl::StrCat(
        "blob ", digest.sha256, "/", digest.size_bytes, " is not stored"));
  }
  if (offset < 0) {
    return absl::InvalidArgumentError("a read offset must not be negative");
  }
  const int fd = open(BlobPath(digest).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open blob ", digest.sha256,
                                            ": ", std::strerror(errno)));
  }
  const int64_t left = std::max<int64_t>(digest.size_bytes - offset, 0);
  std::string out(static_cast<size_t>(std::clamp<int64_t>(max_bytes, 0, left)),
                  '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        pread(fd, out.data() + done, out.size() - done,
              static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  out.resize(done);
  return out;
}

BlobStoreStats BlobStore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

absl::Status BlobStore::AddOwner(absl::string_view tenant,
                                 const BlobDigest& digest) {
  const std::string path = OwnerPath(tenant, digest);
  const std::string dir = path.substr(0, path.rfind('/'));
  if (auto st = MakeDirs(dir); !st.ok()) return st;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create owner marker", path);
  close(fd);
  return SyncDir(dir);
}

absl::Status BlobStore::Grant(absl::string_view tenant,
                              const BlobDigest& digest) {
  if (auto st = ValidateDigest(digest); !st.ok()) return st;
  if (!Exists(digest)) {
    return absl::NotFoundError(absl::StrCat("cannot grant ", BlobName(digest),
                                            ": it is not stored; upload it "
                                            "first"));
  }
  return AddOwner(tenant, digest);
}

absl::Status BlobStore::Commit(const std::string& partial_path,
                               const BlobDigest& digest) {
  const std::string path = BlobPath(digest);
  const std::string dir = path.substr(0, path.rfind('/'));
  if (auto st = MakeDirs(dir); !st.ok()) return st;
  {
    // Under the lock so that two uploads of one blob count it once.
    std::lock_guard<std::mutex> lock(mu_);
    if (FileExists(path)) {
      unlink(partial_path.c_str());
      return absl::OkStatus();
    }
    if (rename(partial_path.c_str(), path.c_str()) != 0) {
      return ErrnoStatus("cannot move the upload into place at", path);
    }
    stats_.blobs += 1;
    stats_.total_bytes += digest.size_bytes;
  }
  return SyncDir(dir);
}

void BlobStore::Release(const std::string& partial_path) {
  std::lock_guard<std::mutex> lock(mu_);
  active_uploads_.erase(partial_path);
}

absl::StatusOr<std::unique_ptr<BlobStore::Writer>> BlobStore::OpenWriter(
    absl::string_view tenant, absl::string_view uuid, const BlobDigest& digest,
    int64_t write_offset) {
  if (auto st = ValidateDigest(digest); !st.ok()) return st;
  if (auto st = ValidateUploadId(uuid); !st.ok()) return st;
  if (options_.max_blob_bytes > 0 &&
      digest.size_bytes > options_.max_blob_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "blob of ", digest.size_bytes,
        " bytes is above this server's limit of ", options_.max_blob_bytes,
        " bytes per blob; send a smaller file or ask the operator to raise "
        "the limit"));
  }
  const std::string partial = UploadPath(tenant, uuid, digest);
  if (Owns(tenant, digest)) {
    // Dedup: nothing to send. Not registered as active: it touches no file.
    std::unique_ptr<Writer> writer(
        new Writer(nullptr, std::string{tenant}, digest, partial));
    writer->committed_ = digest.size_bytes;
    writer->complete_ = true;
    return writer;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!active_uploads_.insert(partial).second) {
      return absl::AbortedError(absl::StrCat(
          "upload in progress: ", UploadName(uuid, digest),
          " is being written by another stream; retry once it ends, or "
          "use another upload id"));
    }
  }
  // From here the Writer releases the upload when it goes away.
  std::unique_ptr<Writer> writer(
      new Writer(this, std::string{tenant}, digest, partial));
  writer->fd_ = open(partial.c_str(), O_RDWR | O_CLOEXEC);
  if (writer->fd_ < 0 && errno == ENOENT) {
    if (write_offset != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "write_offset ", write_offset, " for ", UploadName(uuid, digest),
          ", but the server holds 0 bytes of it (committed size 0): start at "
          "write_offset 0"));
    }
    const std::string dir = partial.substr(0, partial.rfind('/'));
    if (auto st = MakeDirs(dir); !st.ok()) return st;
    writer->fd_ = open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  }
  if (writer->fd_ < 0) return ErrnoStatus("cannot open upload file", partial);
  struct stat info;
  if (fstat(writer->fd_, &info) != 0) {
    return ErrnoStatus("cannot stat upload file", partial);
  }
  int64_t held = info.st_size;
  if (held > digest.size_bytes) {
    // Cannot happen through Append; start over rather than fail for good.
    if (ftruncate(writer->fd_, 0) != 0) {
      return ErrnoStatus("cannot truncate upload file", partial);
    }
    held = 0;
  }
  if (write_offset != held) {
    return absl::InvalidArgumentError(absl::StrCat(
        "write_offset ", write_offset, " for ", UploadName(uuid, digest),
        ", but the server holds ", held, " bytes of it (committed size ", held,
        "): resume at write_offset ", held, " (QueryWriteStatus tells)"));
  }
  // Restore the hash state from the bytes already held (after a restart the
  // partial file is all there is).
  if (auto st = base::HashFileRange(writer->fd_, 0, held, &writer->hash_);
      !st.ok()) {
    return absl::InternalError(absl::StrCat("cannot re-read upload file ",
                                            partial, ": ", st.message()));
  }
  writer->committed_ = held;
  return writer;
}

absl::StatusOr<BlobStore::WriteStatus> BlobStore::QueryWriteStatus(
    absl::string_view tenant, absl::string_view uuid,
    const BlobDigest& digest) {
  if (auto st = ValidateDigest(digest); !st.ok()) return st;
  if (auto st = ValidateUploadId(uuid); !st.ok()) return st;
  if (Owns(tenant, digest)) return WriteStatus{digest.size_bytes, true};
  struct stat info;
  if (stat(UploadPath(tenant, uuid, digest).c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat("no upload ", UploadName(uuid, digest),
                     ": start it with Write at write_offset 0"));
  }
  return WriteStatus{
      std::min<int64_t>(static_cast<int64_t>(info.st_size), digest.size_bytes),
      false};
}

absl::StatusOr<std::unique_ptr<BlobStore::Reader>> BlobStore::OpenReader(
    absl::string_view tenant, bool any_tenant, const BlobDigest& digest,
    int64_t offset, int64_t limit) {
  if (auto st = ValidateDigest(digest); !st.ok()) return st;
  if (limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "read_limit ", limit, " is negative; use 0 to read to the end"));
  }
  const std::string not_found =
      absl::StrCat(BlobName(digest),
                   " not found: upload it first (blobs are visible only "
                   "to the tenant that uploaded them)");
  if (!any_tenant && !FileExists(OwnerPath(tenant, digest))) {
    return absl::NotFoundError(not_found);
  }
  const std::string path = BlobPath(digest);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(not_found);
    return ErrnoStatus("cannot open blob", path);
  }
  // Owned by the Reader from here (closes it).
  std::unique_ptr<Reader> reader(new Reader(digest, fd, 0, 0));
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoStatus("cannot stat blob", path);
  if (info.st_size != digest.size_bytes) {
    return absl::DataLossError(absl::StrCat(
        BlobName(digest), " is damaged on the server: ", info.st_size,
        " bytes on disk (", path,
        "); an operator must remove that file, "
        "then upload the blob again"));
  }
  if (offset < 0 || offset > digest.size_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("read_offset ", offset, " is outside ", BlobName(digest),
                     ": use 0 to ", digest.size_bytes));
  }
  reader->position_ = offset;
  // limit may be anything up to INT64_MAX: compare without adding.
  reader->end_ = limit == 0 || limit > digest.size_bytes - offset
                     ? digest.size_bytes
                     : offset + limit;
  return reader;
}

// ------------------------------------------------------------------ Writer

BlobStore::Writer::Writer(BlobStore* store, std::string tenant,
                          BlobDigest digest, std::string partial_path)
    : store_(store),
      tenant_(std::move(tenant)),
      digest_(std::move(digest)),
      partial_path_(std::move(partial_path)) {}

BlobStore::Writer::~Writer() {
  if (fd_ >= 0) close(fd_);
  if (store_ != nullptr) store_->Release(partial_path_);
}

absl::Status BlobStore::Writer::Append(absl::string_view data) {
  if (complete_) return absl::OkStatus();
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        "this upload has ended; open it again to go on");
  }
  const auto size = static_cast<int64_t>(data.size());
  if (committed_ + size > digest_.size_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "too many bytes: ", committed_, " held plus ", size, " sent is past ",
        BlobName(digest_), "'s size of ", digest_.size_bytes,
        " bytes; check the size in the resource name"));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t wrote = pwrite(fd_, data.data() + done, data.size() - done,
                           committed_ + static_cast<int64_t>(done));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      absl::Status st = ErrnoStatus("cannot write upload file", partial_path_);
      // Keep the file equal to what was hashed, so the upload can resume.
      (void)!ftruncate(fd_, committed_);
      return st;
    }
    done += static_cast<size_t>(wrote);
  }
  hash_.Update(data);
  committed_ += size;
  return absl::OkStatus();
}

absl::Status BlobStore::Writer::Finish() {
  if (complete_) return absl::OkStatus();
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        "this upload has ended; open it again to go on");
  }
  if (committed_ < digest_.size_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "truncated: got ", committed_, " of ", digest_.size_bytes, " bytes of ",
        BlobName(digest_), "; send the rest from write_offset ", committed_,
        " before finish_write"));
  }
  const std::string actual = hash_.HexDigest();
  if (actual != digest_.sha256) {
    close(fd_);
    fd_ = -1;
    unlink(partial_path_.c_str());
    return absl::InvalidArgumentError(absl::StrCat(
        "digest mismatch: the bytes sent hash to sha256 ", actual,
        " but the resource name says ", digest_.sha256,
        "; the upload was discarded: check the file and upload it again"));
  }
  if (fsync(fd_) != 0) {
    return ErrnoStatus("cannot fsync upload file", partial_path_);
  }
  close(fd_);
  fd_ = -1;
  if (auto st = store_->Commit(partial_path_, digest_); !st.ok()) return st;
  if (auto st = store_->AddOwner(tenant_, digest_); !st.ok()) return st;
  complete_ = true;
  return absl::OkStatus();
}

// ------------------------------------------------------------------ Reader

BlobStore::Reader::Reader(BlobDigest digest, int fd, int64_t offset,
                          int64_t end)
    : digest_(std::move(digest)), fd_(fd), position_(offset), end_(end) {}

BlobStore::Reader::~Reader() { close(fd_); }

absl::Status BlobStore::Reader::Verify() {
  // The bytes after the range, then the whole blob's digest.
  if (auto st = base::HashFileRange(fd_, end_, -1, &hash_); !st.ok()) {
    return absl::DataLossError(
        absl::StrCat("cannot verify ", BlobName(digest_), ": ", st.message()));
  }
  const std::string actual = hash_.HexDigest();
  if (actual != digest_.sha256 || hash_.bytes() != digest_.size_bytes) {
    return absl::DataLossError(absl::StrCat(
        BlobName(digest_), " is damaged on the server: its ", hash_.bytes(),
        " bytes hash to sha256 ", actual,
        "; an operator must remove it, then upload the blob again"));
  }
  verified_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobStore::Reader::Next(int64_t max_bytes) {
  if (!prefix_hashed_) {
    if (auto st = base::HashFileRange(fd_, 0, position_, &hash_); !st.ok()) {
      return absl::DataLossError(absl::StrCat(
          "cannot verify ", BlobName(digest_), ": ", st.message()));
    }
    prefix_hashed_ = true;
  }
  if (position_ >= end_) {
    if (!verified_) {
      if (auto st = Verify(); !st.ok()) return st;
    }
    return std::string();
  }
  const int64_t want =
      std::min(std::max<int64_t>(max_bytes, 1), end_ - position_);
  std::string data(static_cast<size_t>(want), '\0');
  int64_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd_, data.data() + got, static_cast<size_t>(want - got),
                      position_ + got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(absl::StrCat(
          "cannot read ", BlobName(digest_), " at offset ", position_ + got,
          n == 0 ? ": the file ends early"
                 : absl::StrCat(": ", strerror(errno))));
    }
    got += n;
  }
  hash_.Update(data);
  position_ += want;
  // Do not hand out the range's last bytes before the whole blob checks out.
  if (position_ == end_) {
    if (auto st = Verify(); !st.ok()) return st;
  }
  return data;
}

}  // namespace condense::server
