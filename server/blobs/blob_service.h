// BlobService: condense.v1.Blobs (Write, Read, QueryWriteStatus) over a
// BlobStore, for authenticated callers. A thin adapter: resource names are
// parsed here, everything else is the store's.
//
// Tenants see their own blobs; callers whose token is marked `worker` read
// any blob, and what they upload is owned by the pseudo-tenant "@workers"
// (BlobStore::Grant hands it to a tenant later).
//
// File I/O runs inline on gRPC's callback threads (each step touches at most
// one 1 MiB chunk, apart from the hashing of a range's prefix when a read or
// a resumed upload starts mid-blob). Moving it to a thread pool is a later
// step if those threads become a bottleneck.
//
// Does not own the store or the authenticator; both must outlive the
// service. Thread-safe (as gRPC requires); the counters are atomics.
#ifndef CONDENSE_SERVER_BLOBS_BLOB_SERVICE_H_
#define CONDENSE_SERVER_BLOBS_BLOB_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "condense/v1/blobs.grpc.pb.h"
#include "server/auth.h"
#include "server/blobs/blob_store.h"

namespace condense::server {

// The tenant that owns what workers upload.
inline constexpr char kWorkersTenant[] = "@workers";

// The tenant that owns what `caller` uploads: kWorkersTenant for workers,
// except on an open server (no token file), whose anonymous callers are
// tenant "default" acting as both user and worker: their uploads are
// "default"'s, so the user's models can use them.
std::string UploadOwner(const Caller& caller, const Authenticator& auth);

// Parses "blobs/{sha256}/{size}". INVALID_ARGUMENT says what is wrong.
absl::StatusOr<BlobDigest> ParseBlobName(absl::string_view name);

struct UploadName {
  std::string uuid;
  BlobDigest digest;
};
// Parses "uploads/{uuid}/blobs/{sha256}/{size}".
absl::StatusOr<UploadName> ParseUploadName(absl::string_view name);

class BlobService final : public v1::Blobs::CallbackService {
 public:
  // Chunk size of Read responses.
  static constexpr int64_t kReadChunkBytes = 1 << 20;

  BlobService(BlobStore* store, const Authenticator* auth);

  grpc::ServerReadReactor<v1::WriteRequest>* Write(
      grpc::CallbackServerContext* context,
      v1::WriteResponse* response) override;
  grpc::ServerWriteReactor<v1::ReadResponse>* Read(
      grpc::CallbackServerContext* context,
      const v1::ReadRequest* request) override;
  grpc::ServerUnaryReactor* QueryWriteStatus(
      grpc::CallbackServerContext* context,
      const v1::QueryWriteStatusRequest* request,
      v1::QueryWriteStatusResponse* response) override;

  // Payload bytes received by Write and sent by Read since start.
  int64_t bytes_received() const { return bytes_received_.load(); }
  int64_t bytes_sent() const { return bytes_sent_.load(); }

 private:
  class WriteReactor;
  class ReadReactor;

  BlobStore* const store_;
  const Authenticator* const auth_;
  std::atomic<int64_t> bytes_received_{0};
  std::atomic<int64_t> bytes_sent_{0};
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_BLOBS_BLOB_SERVICE_H_
