// The Models service (models and datasets): a thin adapter over
// MetadataStore that checks the blobs a record points at, and that a
// TorchScript model calls only ops the workers' LibTorch has. Thread-safe.
#ifndef CONDENSE_SERVER_MODEL_SERVICE_H_
#define CONDENSE_SERVER_MODEL_SERVICE_H_

#include "condense/v1/models.grpc.pb.h"
#include "server/auth.h"
#include "server/blobs/blob_store.h"
#include "server/clock.h"
#include "server/store/metadata_store.h"
#include "worker/known_torch_ops.h"

namespace condense::server {

class ModelService final : public v1::Models::CallbackService {
 public:
  // `torch_ops`: the workers' operators, against which uploaded TorchScript
  // is checked; without names (a server built without the engine, or
  // --check-torchscript-ops=false) the workers find out at load.
  ModelService(MetadataStore* store, BlobStore* blobs,
               const Authenticator* auth, const Clock* clock,
               worker::KnownTorchOps torch_ops = {})
      : store_(store),
        blobs_(blobs),
        auth_(auth),
        clock_(clock),
        torch_ops_(torch_ops) {}

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
  // The model's blob or files exist for this tenant and their first bytes
  // look like its format.
  absl::Status CheckModel(const std::string& tenant, const v1::Model& model);
  // A model of several files: sharded safetensors (shards, at most one
  // index, which maps tensors to exactly those shards) or ONNX (one .onnx
  // file and its external data).
  absl::Status CheckModelFiles(const std::string& tenant,
                               const v1::Model& model);
  // Every op the model's saved code calls is one the workers have.
  absl::Status CheckTorchScriptOps(const std::string& tenant,
                                   const BlobDigest& digest);
  absl::Status CheckDataset(const std::string& tenant,
                            const v1::Dataset& dataset);

  MetadataStore* store_;
  BlobStore* blobs_;
  const Authenticator* auth_;
  const Clock* clock_;
  const worker::KnownTorchOps torch_ops_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_MODEL_SERVICE_H_
