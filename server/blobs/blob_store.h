// BlobStore: content-addressed blobs in files under a root directory, with
// resumable uploads and per-tenant visibility. No gRPC here; BlobService
// adapts it to condense.v1.Blobs.
//
// Layout under the root:
//   blobs/<first 2 hex>/<sha256>_<size>    stored blobs (immutable)
//   uploads/<tenant key>/<uuid>.<sha256>_<size>
//                                          uploads in progress; they survive
//                                          restarts, so uploads resume
//   owners/<tenant key>/<sha256>_<size>    empty: the tenant may see the blob
// where <tenant key> is the hex sha256 of the tenant's name, so any tenant
// string is safe in a path. The upload file name carries the digest, so a
// reused uuid with another digest is another upload.
//
// A blob's bytes are stored once, but a tenant sees only the blobs it
// uploaded (or was granted): another tenant must send the bytes to own it,
// so the store never reveals what others hold. Data is streamed to and from
// files, never held whole in memory. Digests are checked when an upload
// finishes and on every read.
//
// Thread-safe: any number of uploads and reads at once. One Writer at a time
// per upload. The store must outlive its Writers and Readers; each Writer or
// Reader is used by one thread at a time.
#ifndef CONDENSE_SERVER_BLOBS_BLOB_STORE_H_
#define CONDENSE_SERVER_BLOBS_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/sha256.h"

namespace condense::server {

// A blob's identity: lowercase hex sha256 of its bytes and its length.
struct BlobDigest {
  std::string sha256;
  int64_t size_bytes = 0;
};

// INVALID_ARGUMENT unless sha256 is 64 lowercase hex characters and the size
// is >= 0.
absl::Status ValidateDigest(const BlobDigest& digest);
// INVALID_ARGUMENT unless uuid is 1..64 characters of [A-Za-z0-9-_].
absl::Status ValidateUploadId(absl::string_view uuid);

struct BlobStoreOptions {
  // Directory holding everything; created when missing.
  std::string root;
  // Largest blob accepted for upload; 0: no limit.
  int64_t max_blob_bytes = 0;
};

struct BlobStoreStats {
  int64_t blobs = 0;        // Distinct blobs stored.
  int64_t total_bytes = 0;  // Their sizes summed (each stored once).
};

class BlobStore {
 public:
  // Appends one upload's bytes to its partial file, hashing as it goes.
  class Writer {
   public:
    ~Writer();  // Releases the upload; the partial file stays for resume.
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Bytes held so far (the size, once complete).
    int64_t committed_size() const { return committed_; }
    // The tenant owns the blob: nothing more to send or finish.
    bool complete() const { return complete_; }

    // INVALID_ARGUMENT when the bytes would pass the size. A no-op once
    // complete.
    absl::Status Append(absl::string_view data);
    // Checks the size and the digest; stores the blob and makes this tenant
    // an owner. INVALID_ARGUMENT when truncated (the partial stays, to
    // resume) or when the digest differs (the partial is deleted).
    absl::Status Finish();

   private:
    friend class BlobStore;
    Writer(BlobStore* store, std::string tenant, BlobDigest digest,
           std::string partial_path);

    BlobStore* store_;
    std::string tenant_;
    BlobDigest digest_;
    std::string partial_path_;
    int fd_ = -1;
    int64_t committed_ = 0;
    bool complete_ = false;
    base::Sha256Stream hash_;
  };

  // Streams a range of a stored blob, checking the whole blob's digest.
  class Reader {
   public:
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // The next at most `max_bytes` of the range; "" once the range is done.
    // Before returning the range's last bytes it hashes the rest of the blob
    // (the bytes before the range on the first call, those after it on the
    // last), so a damaged blob fails with DATA_LOSS by the end at the
    // latest.
    absl::StatusOr<std::string> Next(int64_t max_bytes);
    // Bytes of the range not yet returned.
    int64_t remaining() const { return end_ - position_; }

   private:
    friend class BlobStore;
    Reader(BlobDigest digest, int fd, int64_t offset, int64_t end);
    absl::Status Verify();

    BlobDigest digest_;
    int fd_;
    int64_t position_;
    int64_t end_;
    bool prefix_hashed_ = false;
    bool verified_ = false;
    base::Sha256Stream hash_;
  };

  struct WriteStatus {
    int64_t committed_size = 0;
    bool complete = false;
  };

  // Creates the directories and counts the stored blobs.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(
      BlobStoreOptions options);

  // Opens (or resumes) the upload `uuid` of `digest` for `tenant`.
  // `write_offset` must equal the bytes already held (0 for a new upload),
  // else INVALID_ARGUMENT naming them. RESOURCE_EXHAUSTED above the size
  // limit; ABORTED while another Writer holds the upload. When the tenant
  // already owns the blob the Writer is complete at once (dedup).
  absl::StatusOr<std::unique_ptr<Writer>> OpenWriter(absl::string_view tenant,
                                                     absl::string_view uuid,
                                                     const BlobDigest& digest,
                                                     int64_t write_offset);

  // How much of an upload is held. NOT_FOUND when never started and the
  // tenant does not own the blob.
  absl::StatusOr<WriteStatus> QueryWriteStatus(absl::string_view tenant,
                                               absl::string_view uuid,
                                               const BlobDigest& digest);

  // Reads [offset, offset + limit) of a blob (limit 0: to the end).
  // `any_tenant` (workers) skips the ownership check. NOT_FOUND when not
  // stored or not owned; OUT_OF_RANGE when offset > size; INVALID_ARGUMENT
  // for a negative limit.
  absl::StatusOr<std::unique_ptr<Reader>> OpenReader(absl::string_view tenant,
                                                     bool any_tenant,
                                                     const BlobDigest& digest,
                                                     int64_t offset,
                                                     int64_t limit = 0);

  // Makes `tenant` an owner of a stored blob (a worker's artifacts becoming
  // a tenant's results). NOT_FOUND when the blob is not stored.
  absl::Status Grant(absl::string_view tenant, const BlobDigest& digest);

  // The first `max_bytes` of a blob `tenant` owns, NOT verified against the
  // digest: for sniffing a file's format without hashing all of it (the
  // blob was verified when it was stored; readers of the whole blob still
  // check it). NOT_FOUND as OpenReader.
  absl::StatusOr<std::string> ReadHead(absl::string_view tenant,
                                       const BlobDigest& digest,
                                       int64_t max_bytes) const;
  // As ReadHead, the at most `max_bytes` at `offset` ("" past the end): for
  // reading the parts of a file a check needs (a zip's directory).
  absl::StatusOr<std::string> ReadAt(absl::string_view tenant,
                                     const BlobDigest& digest, int64_t offset,
                                     int64_t max_bytes) const;

  bool Exists(const BlobDigest& digest) const;
  bool Owns(absl::string_view tenant, const BlobDigest& digest) const;
  BlobStoreStats Stats() const;

  const BlobStoreOptions& options() const { return options_; }

 private:
  explicit BlobStore(BlobStoreOptions options);

  std::string BlobPath(const BlobDigest& digest) const;
  std::string OwnerPath(absl::string_view tenant,
                        const BlobDigest& digest) const;
  std::string UploadPath(absl::string_view tenant, absl::string_view uuid,
                         const BlobDigest& digest) const;
  absl::Status AddOwner(absl::string_view tenant, const BlobDigest& digest);
  // Moves a verified partial into place (or drops it when the blob is
  // already stored) and counts the blob.
  absl::Status Commit(const std::string& partial_path,
                      const BlobDigest& digest);
  void Release(const std::string& partial_path);

  const BlobStoreOptions options_;
  mutable std::mutex mu_;
  std::set<std::string> active_uploads_;  // Partial paths; guarded by mu_.
  BlobStoreStats stats_;                  // Guarded by mu_.
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_BLOBS_BLOB_STORE_H_
