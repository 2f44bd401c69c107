// Uploading and downloading blobs (condense.v1.Blobs) in chunks, resuming
// after broken streams and restarts, and verifying digests. Files are
// streamed: never held whole in memory. Used by the CLI and the worker.
// Functions are thread-safe (each call uses its own streams).
#ifndef CONDENSE_CLIENT_RPC_BLOB_TRANSFER_H_
#define CONDENSE_CLIENT_RPC_BLOB_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "client/rpc/connection.h"
#include "condense/v1/common.pb.h"

namespace condense::client {

// Called after each chunk: bytes done so far (including bytes skipped
// because the server already held them) and the total.
using TransferProgress = std::function<void(int64_t done, int64_t total)>;

// What a transfer did, for callers and tests that want to know.
struct TransferReport {
  // Bytes the server (upload) or the partial file (download) already held
  // when this call began: what a resume skipped.
  int64_t resumed_from = 0;
  int64_t bytes_sent = 0;     // Payload bytes this call moved (all attempts).
  int attempts = 0;           // Streams opened.
  bool deduplicated = false;  // Upload: the server already had the blob.
};

struct TransferOptions {
  int64_t chunk_bytes = 1 << 20;
  // Attempts per transfer when the server is unavailable or the stream
  // breaks; each resumes where the server's (or the file's) bytes end.
  int max_attempts = 8;
  TransferProgress progress;
  // When set, filled in (also on failure).
  TransferReport* report = nullptr;
};

// sha256 and size of a local file.
absl::StatusOr<v1::Digest> DigestFile(const std::string& path);

// Uploads `path` and returns its digest. The upload id is derived from the
// digest, so running the same upload again resumes it.
absl::StatusOr<v1::Digest> UploadFile(const Connection& connection,
                                      const std::string& path,
                                      const TransferOptions& options = {});

// Downloads a blob to `path`: into `path`.partial (resuming from its length
// when it exists), checked against the digest, then renamed to `path`.
absl::Status DownloadBlob(const Connection& connection,
                          const v1::Digest& digest, const std::string& path,
                          const TransferOptions& options = {});

// The upload id UploadFile uses for a digest (the first 32 hex characters of
// the sha256 and the size), so that repeating an upload resumes it.
std::string UploadIdFor(const v1::Digest& digest);

// "blobs/{sha256}/{size}" and "uploads/{uuid}/blobs/{sha256}/{size}".
std::string BlobResourceName(const v1::Digest& digest);
std::string UploadResourceName(const std::string& uuid,
                               const v1::Digest& digest);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_RPC_BLOB_TRANSFER_H_
