#include "server/blobs/blob_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/grpc_status.h"

namespace condense::server {
namespace {

absl::StatusOr<BlobDigest> ParseDigest(absl::string_view sha256,
                                       absl::string_view size,
                                       absl::string_view name,
                                       absl::string_view expected) {
  BlobDigest digest;
  digest.sha256 = std::string{sha256};
  if (!absl::SimpleAtoi(size, &digest.size_bytes) || digest.size_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size \"", size, "\" in resource name \"", name,
                     "\": expected ", expected, " with a decimal size >= 0"));
  }
  if (auto st = ValidateDigest(digest); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource name \"", name, "\" (", expected, "): ", st.message()));
  }
  return digest;
}

}  // namespace

std::string UploadOwner(const Caller& caller, const Authenticator& auth) {
  if (!caller.worker || (auth.open() && caller.tenant == "default")) {
    return caller.tenant;
  }
  return kWorkersTenant;
}

absl::StatusOr<BlobDigest> ParseBlobName(absl::string_view name) {
  constexpr absl::string_view kForm = "blobs/{sha256}/{size}";
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 3 || parts[0] != "blobs") {
    return absl::InvalidArgumentError(
        absl::StrCat("bad resource name \"", name, "\": expected ", kForm));
  }
  return ParseDigest(parts[1], parts[2], name, kForm);
}

absl::StatusOr<UploadName> ParseUploadName(absl::string_view name) {
  constexpr absl::string_view kForm = "uploads/{uuid}/blobs/{sha256}/{size}";
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 5 || parts[0] != "uploads" || parts[2] != "blobs") {
    return absl::InvalidArgumentError(
        absl::StrCat("bad resource name \"", name, "\": expected ", kForm));
  }
  if (auto st = ValidateUploadId(parts[1]); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource name \"", name, "\": ", st.message()));
  }
  auto digest = ParseDigest(parts[3], parts[4], name, kForm);
  if (!digest.ok()) return digest.status();
  return UploadName{std::string{parts[1]}, *std::move(digest)};
}

// One upload stream. Reads one request at a time and appends it to the
// store's Writer; ends at finish_write, at the first error, or when the
// client goes away (the partial stays for a resume).
class BlobService::WriteReactor
    : public grpc::ServerReadReactor<v1::WriteRequest> {
 public:
  WriteReactor(BlobService* service, grpc::CallbackServerContext* context,
               v1::WriteResponse* response)
      : service_(service), response_(response) {
    auto caller = service_->auth_->Authenticate(*context);
    if (!caller.ok()) {
      Finish(api::ToGrpcStatus(caller.status()));
      return;
    }
    tenant_ = UploadOwner(*caller, *service_->auth_);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Half-closed without finish_write, or cancelled: say what is held.
      if (writer_ == nullptr) {
        End(absl::InvalidArgumentError(
            "the Write stream ended before naming an upload: send "
            "resource_name uploads/{uuid}/blobs/{sha256}/{size} first"));
      } else {
        End(absl::OkStatus());
      }
      return;
    }
    absl::Status status = Handle();
    if (!status.ok() || done_) {
      End(status);
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Handle() {
    if (writer_ == nullptr) {
      if (request_.resource_name().empty()) {
        return absl::InvalidArgumentError(
            "the first WriteRequest must carry resource_name "
            "uploads/{uuid}/blobs/{sha256}/{size}");
      }
      auto name = ParseUploadName(request_.resource_name());
      if (!name.ok()) return name.status();
      auto writer = service_->store_->OpenWriter(
          tenant_, name->uuid, name->digest, request_.write_offset());
      if (!writer.ok()) return writer.status();
      writer_ = *std::move(writer);
      resource_name_ = request_.resource_name();
      if (writer_->complete()) {
        done_ = true;  // Dedup: the client may stop sending.
        return absl::OkStatus();
      }
    } else {
      if (!request_.resource_name().empty() &&
          request_.resource_name() != resource_name_) {
        return absl::InvalidArgumentError(
            absl::StrCat("resource_name changed within one Write stream (from ",
                         resource_name_, " to ", request_.resource_name(),
                         "); use one stream per upload"));
      }
      if (request_.write_offset() != writer_->committed_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "write_offset ", request_.write_offset(),
            " does not continue the stream, which is at ",
            writer_->committed_size(), "; send the chunks in order"));
      }
    }
    service_->bytes_received_.fetch_add(
        static_cast<int64_t>(request_.data().size()));
    if (auto st = writer_->Append(request_.data()); !st.ok()) return st;
    if (request_.finish_write()) {
      done_ = true;
      return writer_->Finish();
    }
    return absl::OkStatus();
  }

  void End(const absl::Status& status) {
    if (status.ok()) response_->set_committed_size(writer_->committed_size());
    // Let a resumed stream open the upload before this one is torn down.
    writer_.reset();
    Finish(api::ToGrpcStatus(status));
  }

  BlobService* const service_;
  v1::WriteResponse* const response_;
  std::string tenant_;
  std::string resource_name_;
  v1::WriteRequest request_;
  std::unique_ptr<BlobStore::Writer> writer_;
  bool done_ = false;
};

// One download stream: a chunk at a time from the store's Reader.
class BlobService::ReadReactor
    : public grpc::ServerWriteReactor<v1::ReadResponse> {
 public:
  ReadReactor(BlobService* service, grpc::CallbackServerContext* context,
              const v1::ReadRequest& request)
      : service_(service) {
    absl::Status status = Open(*context, request);
    if (!status.ok()) {
      Finish(api::ToGrpcStatus(status));
      return;
    }
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "the client stopped reading"));
      return;
    }
    service_->bytes_sent_.fetch_add(
        static_cast<int64_t>(response_.data().size()));
    Next();
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Open(const grpc::CallbackServerContext& context,
                    const v1::ReadRequest& request) {
    auto caller = service_->auth_->Authenticate(context);
    if (!caller.ok()) return caller.status();
    auto digest = ParseBlobName(request.resource_name());
    if (!digest.ok()) return digest.status();
    auto reader = service_->store_->OpenReader(caller->tenant, caller->worker,
                                               *digest, request.read_offset(),
                                               request.read_limit());
    if (!reader.ok()) return reader.status();
    reader_ = *std::move(reader);
    return absl::OkStatus();
  }

  void Next() {
    auto chunk = reader_->Next(kReadChunkBytes);
    if (!chunk.ok()) {
      Finish(api::ToGrpcStatus(chunk.status()));
      return;
    }
    if (chunk->empty()) {
      Finish(grpc::Status::OK);
      return;
    }
    *response_.mutable_data() = *std::move(chunk);
    StartWrite(&response_);
  }

  BlobService* const service_;
  std::unique_ptr<BlobStore::Reader> reader_;
  v1::ReadResponse response_;
};

BlobService::BlobService(BlobStore* store, const Authenticator* auth)
    : store_(store), auth_(auth) {}

grpc::ServerReadReactor<v1::WriteRequest>* BlobService::Write(
    grpc::CallbackServerContext* context, v1::WriteResponse* response) {
  return new WriteReactor(this, context, response);
}

grpc::ServerWriteReactor<v1::ReadResponse>* BlobService::Read(
    grpc::CallbackServerContext* context, const v1::ReadRequest* request) {
  return new ReadReactor(this, context, *request);
}

grpc::ServerUnaryReactor* BlobService::QueryWriteStatus(
    grpc::CallbackServerContext* context,
    const v1::QueryWriteStatusRequest* request,
    v1::QueryWriteStatusResponse* response) {
  auto* reactor = context->DefaultReactor();
  absl::Status status = [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto name = ParseUploadName(request->resource_name());
    if (!name.ok()) return name.status();
    auto write_status = store_->QueryWriteStatus(UploadOwner(*caller, *auth_),
                                                 name->uuid, name->digest);
    if (!write_status.ok()) return write_status.status();
    response->set_committed_size(write_status->committed_size);
    response->set_complete(write_status->complete);
    return absl::OkStatus();
  }();
  reactor->Finish(api::ToGrpcStatus(status));
  return reactor;
}

}  // namespace condense::server
