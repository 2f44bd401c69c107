// The Models service (models and datasets): a thin adapter over
// MetadataStore that checks the blobs a record points at. Thread-safe.
#ifndef CONDENSE_SERVER_MODEL_SERVICE_H_
#define CONDENSE_SERVER_MODEL_SERVICE_H_

#include "condense/v1/models.grpc.pb.h"
#include "server/auth.h"
#include "server/blobs/blob_store.h"
#include "server/clock.h"
#include "server/store/metadata_store.h"

namespace condense::server {

class ModelService final : public v1::Models::CallbackService {
 public:
  ModelService(MetadataStore* store, BlobStore* blobs,
               const Authenticator* auth, const Clock* clock)
      : store_(store), blobs_(blobs), auth_(auth), clock_(clock) {}

  grpc::ServerUnaryReactor* CreateModel(grpc::CallbackServerContext* context,
                                        const v1::CreateModelRequest* request,
                                        v1::Model* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::Model* response) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteModel(grpc::CallbackServerContext* context,
                                        const v1::DeleteModelRequest* request,
                                        v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* CreateDataset(
      grpc::CallbackServerContext* context,
      const v1::CreateDatasetRequest* request, v1::Dataset* response) override;
  grpc::ServerUnaryReactor* GetDataset(grpc::CallbackServerContext* context,
                                       const v1::GetDatasetRequest* request,
                                       v1::Dataset* response) override;
  grpc::ServerUnaryReactor* ListDatasets(
      grpc::CallbackServerContext* context,
      const v1::ListDatasetsRequest* request,
      v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteDataset(
      grpc::CallbackServerContext* context,
      const v1::DeleteDatasetRequest* request,
      v1::DeleteResponse* response) override;

 private:
  // The blob exists for this tenant and its first bytes look like `format`.
  absl::Status CheckModelBlob(const std::string& tenant,
                              const v1::Model& model);
  absl::Status CheckDataset(const std::string& tenant,
                            const v1::Dataset& dataset);

  MetadataStore* store_;
  BlobStore* blobs_;
  const Authenticator* auth_;
  const Clock* clock_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_MODEL_SERVICE_H_
