#include "server/model_service.h"

#include <cstring>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codec/torchscript_archive.h"
#include "server/service_util.h"
#include "worker/engine/model_format.h"
#include "worker/missing_op_advice.h"

namespace condense::server {
namespace {

absl::Status CheckDigest(const v1::Digest& digest, absl::string_view field) {
  absl::Status st = ValidateDigest({digest.sha256(), digest.size_bytes()});
  if (st.ok()) return st;
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", st.message()));
}

}  // namespace

absl::Status ModelService::CheckModelBlob(const std::string& tenant,
                                          const v1::Model& model) {
  if (auto st = CheckDigest(model.blob(), "model.blob"); !st.ok()) return st;
  const BlobDigest digest{model.blob().sha256(), model.blob().size_bytes()};
  auto head = blobs_->ReadHead(tenant, digest, 16);
  if (!head.ok()) {
    if (head.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          "model.blob ", digest.sha256, "/", digest.size_bytes,
          " is not uploaded: upload the file first (Blobs.Write)"));
    }
    return head.status();
  }
  switch (model.format()) {
    case v1::Model::TORCHSCRIPT:
      // torch.jit.save writes a zip archive.
      if (head->size() < 4 || std::memcmp(head->data(), "PK\x03\x04", 4) != 0) {
        return absl::InvalidArgumentError(
            "the file is not a TorchScript model (not a zip archive as "
            "torch.jit.save writes): save the model with "
            "torch.jit.save(torch.jit.script(model), path)");
      }
      return CheckTorchScriptOps(tenant, digest);
    case v1::Model::SAFETENSORS: {
      // 8-byte little-endian header length, then a JSON object.
      if (head->size() < 9 || (*head)[8] != '{') {
        return absl::InvalidArgumentError(
            "the file is not a safetensors file (no 8-byte header length "
            "followed by a JSON header)");
      }
      uint64_t header = 0;
      std::memcpy(&header, head->data(), 8);
      // (9 or more bytes here, so the subtraction cannot wrap.)
      if (header > static_cast<uint64_t>(digest.size_bytes) - 8) {
        return absl::InvalidArgumentError(
            "the safetensors header length exceeds the file: the file is "
            "truncated or not safetensors");
      }
      return absl::OkStatus();
    }
    case v1::Model::ONNX:
      if (!engine::LooksLikeOnnx(*head)) {
        return absl::InvalidArgumentError(
            "the file is not an ONNX model (it does not start as a "
            "ModelProto does): export the model with torch.onnx.export or "
            "onnx.save_model");
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          "model.format must be TORCHSCRIPT, SAFETENSORS or ONNX");
  }
}

absl::Status ModelService::CheckTorchScriptOps(const std::string& tenant,
                                               const BlobDigest& digest) {
  if (torch_ops_.names.empty()) return absl::OkStatus();
  auto calls = codec::TorchScriptCalls(
      static_cast<uint64_t>(digest.size_bytes),
      [&](uint64_t offset, uint64_t size) {
        return blobs_->ReadAt(tenant, digest, static_cast<int64_t>(offset),
                              static_cast<int64_t>(size));
      });
  if (!calls.ok()) return calls.status();
  const std::vector<codec::TorchScriptCall> unknown =
      codec::UnknownCalls(*calls, torch_ops_.names);
  if (unknown.empty()) return absl::OkStatus();
  const absl::string_view version(torch_ops_.libtorch_version.data(),
                                  torch_ops_.libtorch_version.size());
  std::vector<std::string> named;
  named.reserve(unknown.size());
  for (const codec::TorchScriptCall& c : unknown) {
    named.push_back(
        absl::StrCat(c.ops.front(), " (", c.spelling, " in ", c.file, ")"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the model calls ", absl::StrJoin(named, ", "),
      ", which the workers' LibTorch ", version,
      " does not have: ", worker::MissingOpAdvice(torch_ops_.libtorch_version),
      "; a server whose workers run another LibTorch than its own checks "
      "against the wrong list: start it with --check-torchscript-ops=false"));
}

absl::Status ModelService::CheckDataset(const std::string& tenant,
                                        const v1::Dataset& dataset) {
  if (dataset.files().empty()) {
    return absl::InvalidArgumentError(
        "dataset.files is empty: list the uploaded data files");
  }
  std::set<std::string> paths;
  for (const auto& file : dataset.files()) {
    const std::string& p = file.path();
    if (p.empty() || p == "." || p == ".." ||
        p.find('/') != std::string::npos || p.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dataset file path \"", p, "\" must be a plain file name"));
    }
    if (!paths.insert(p).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset file path \"", p, "\" is listed twice"));
    }
    if (auto st = CheckDigest(file.blob(), p); !st.ok()) return st;
    if (!blobs_->Owns(tenant,
                      {file.blob().sha256(), file.blob().size_bytes()})) {
      return absl::NotFoundError(absl::StrCat(
          "dataset file ", p, " is not uploaded: upload it first"));
    }
  }
  for (const std::string* named :
       {&dataset.train_file(), &dataset.eval_file()}) {
    if (!named->empty() && paths.count(*named) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", *named, "\" is not one of the dataset's files"));
    }
  }
  if (!dataset.eval_file().empty() && dataset.train_file().empty()) {
    return absl::InvalidArgumentError("eval_file needs train_file");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* ModelService::CreateModel(
    grpc::CallbackServerContext* context, const v1::CreateModelRequest* request,
    v1::Model* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    if (auto st = CheckModelBlob(caller->tenant, request->model()); !st.ok()) {
      return st;
    }
    auto model =
        store_->CreateModel(caller->tenant, request->model(), clock_->NowMs());
    if (!model.ok()) return model.status();
    *response = *std::move(model);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ModelService::GetModel(
    grpc::CallbackServerContext* context, const v1::GetModelRequest* request,
    v1::Model* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto model = store_->GetModel(caller->tenant, request->name());
    if (!model.ok()) return model.status();
    *response = *std::move(model);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ModelService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto page = store_->ListModels(caller->tenant, request->page_size(),
                                   request->page_token());
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ModelService::DeleteModel(
    grpc::CallbackServerContext* context, const v1::DeleteModelRequest* request,
    v1::DeleteResponse*) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    return store_->DeleteModel(caller->tenant, request->name());
  });
}

grpc::ServerUnaryReactor* ModelService::CreateDataset(
    grpc::CallbackServerContext* context,
    const v1::CreateDatasetRequest* request, v1::Dataset* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    if (auto st = CheckDataset(caller->tenant, request->dataset()); !st.ok()) {
      return st;
    }
    auto dataset = store_->CreateDataset(caller->tenant, request->dataset(),
                                         clock_->NowMs());
    if (!dataset.ok()) return dataset.status();
    *response = *std::move(dataset);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ModelService::GetDataset(
    grpc::CallbackServerContext* context, const v1::GetDatasetRequest* request,
    v1::Dataset* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto dataset = store_->GetDataset(caller->tenant, request->name());
    if (!dataset.ok()) return dataset.status();
    *response = *std::move(dataset);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ModelService::ListDatasets(
    grpc::CallbackServerContext* context,
    const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto page = store_->ListDatasets(caller->tenant, request->page_size(),
                                     request->page_token());
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ModelService::DeleteDataset(
    grpc::CallbackServerContext* context,
    const v1::DeleteDatasetRequest* request, v1::DeleteResponse*) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    return store_->DeleteDataset(caller->tenant, request->name());
  });
}

}  // namespace condense::server
