#include "server/model_service.h"

#include <cstring>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codec/torchscript_archive.h"
#include "nlohmann/json.hpp"
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

BlobDigest ToBlobDigest(const v1::Digest& d) {
  return {d.sha256(), d.size_bytes()};
}

// A safetensors file starts with an 8-byte little-endian header length, then
// a JSON object that fits in the file. `file` names it in errors (empty: the
// model's one file).
absl::Status CheckSafetensorsHead(const std::string& head, int64_t size,
                                  absl::string_view file) {
  if (head.size() < 9 || head[8] != '{') {
    return absl::InvalidArgumentError(absl::StrCat(
        file.empty() ? "the file" : file,
        " is not a safetensors file (no 8-byte header length followed by a "
        "JSON header)"));
  }
  uint64_t header = 0;
  std::memcpy(&header, head.data(), 8);
  // (9 or more bytes here, so the subtraction cannot wrap.)
  if (header > static_cast<uint64_t>(size) - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the safetensors header length", file.empty() ? "" : " of ", file,
        " exceeds the file: the file is truncated or not safetensors"));
  }
  return absl::OkStatus();
}

// The paths and digests of a record made of several files (a dataset, a
// model of several files): plain names, each once, each uploaded by the
// tenant.
template <typename Files>
absl::Status CheckFileList(const BlobStore& blobs, const std::string& tenant,
                           const Files& files, absl::string_view noun) {
  std::set<std::string> paths;
  for (const auto& file : files) {
    const std::string& p = file.path();
    if (p.empty() || p == "." || p == ".." ||
        p.find('/') != std::string::npos || p.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          noun, " file path \"", p, "\" must be a plain file name"));
    }
    if (!paths.insert(p).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(noun, " file path \"", p, "\" is listed twice"));
    }
    if (auto st = CheckDigest(file.blob(), p); !st.ok()) return st;
    if (!blobs.Owns(tenant, ToBlobDigest(file.blob()))) {
      return absl::NotFoundError(
          absl::StrCat(noun, " file ", p, " is not uploaded: upload it first"));
    }
  }
  return absl::OkStatus();
}

// The largest index file the server reads to check a sharded checkpoint's
// files against it (a real index is kilobytes: a line per tensor).
constexpr int64_t kMaxIndexBytes = int64_t{64} << 20;

}  // namespace

absl::Status ModelService::CheckModel(const std::string& tenant,
                                      const v1::Model& model) {
  if (!model.files().empty()) return CheckModelFiles(tenant, model);
  if (model.format() == v1::Model::SAFETENSORS_SHARDED) {
    return absl::InvalidArgumentError(
        "a SAFETENSORS_SHARDED model is several files: list its shards and "
        "index in model.files (condense upload model DIR does)");
  }
  if (auto st = CheckDigest(model.blob(), "model.blob"); !st.ok()) return st;
  const BlobDigest digest = ToBlobDigest(model.blob());
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
    case v1::Model::SAFETENSORS:
      return CheckSafetensorsHead(*head, digest.size_bytes, "");
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
          "model.format must be TORCHSCRIPT, SAFETENSORS, SAFETENSORS_SHARDED "
          "or ONNX");
  }
}

absl::Status ModelService::CheckModelFiles(const std::string& tenant,
                                           const v1::Model& model) {
  if (model.has_blob()) {
    return absl::InvalidArgumentError(
        "the model sets both model.blob and model.files: a model of one file "
        "sets blob, a model of several (sharded safetensors, ONNX with "
        "external data) sets files");
  }
  const bool sharded = model.format() == v1::Model::SAFETENSORS_SHARDED;
  if (!sharded && model.format() != v1::Model::ONNX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", v1::Model::Format_Name(model.format()),
        " model is one file: set model.blob, not model.files (models of "
        "several files are SAFETENSORS_SHARDED or ONNX with external data)"));
  }
  if (auto st = CheckFileList(*blobs_, tenant, model.files(), "model");
      !st.ok()) {
    return st;
  }
  const v1::Model::File* index = nullptr;  // Sharded: the index.
  const v1::Model::File* graph = nullptr;  // ONNX: the model file.
  std::set<std::string> shards;
  for (const v1::Model::File& f : model.files()) {
    const BlobDigest digest = ToBlobDigest(f.blob());
    auto head = blobs_->ReadHead(tenant, digest, 16);
    if (!head.ok()) return head.status();
    if (!sharded) {
      if (!absl::EndsWithIgnoreCase(f.path(), ".onnx")) continue;
      if (graph != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model.files holds two ONNX models, ", graph->path(), " and ",
            f.path(), ": upload one model with its external data files"));
      }
      if (!engine::LooksLikeOnnx(*head)) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.path(),
                         " is not an ONNX model (it does not start as a "
                         "ModelProto does)"));
      }
      graph = &f;
    } else if (absl::EndsWith(f.path(), ".index.json")) {
      if (index != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("model.files holds two indexes, ", index->path(),
                         " and ", f.path(), ": a checkpoint has one"));
      }
      index = &f;
    } else if (absl::EndsWith(f.path(), ".safetensors")) {
      if (auto st = CheckSafetensorsHead(*head, digest.size_bytes, f.path());
          !st.ok()) {
        return st;
      }
      shards.insert(f.path());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file ", f.path(),
          " is neither a shard (*.safetensors) nor the index "
          "(*.index.json): a sharded checkpoint is its shards and index "
          "only"));
    }
  }
  if (!sharded) {
    if (graph == nullptr) {
      return absl::InvalidArgumentError(
          "model.files holds no ONNX model (*.onnx): list the model file and "
          "its external data files");
    }
    return absl::OkStatus();
  }
  if (shards.empty()) {
    return absl::InvalidArgumentError(
        "model.files holds no shard (*.safetensors)");
  }
  if (index == nullptr) return absl::OkStatus();
  // The index maps every tensor to a shard: each must be among the files,
  // and each file must be one of them, so the worker finds what it names.
  if (index->blob().size_bytes() > kMaxIndexBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the index ", index->path(), " is larger than ",
                     kMaxIndexBytes >> 20, " MiB: it is not an index"));
  }
  auto text = blobs_->ReadAt(tenant, ToBlobDigest(index->blob()), 0,
                             index->blob().size_bytes());
  if (!text.ok()) return text.status();
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  if (!json.is_object() || !json.contains("weight_map") ||
      !json["weight_map"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the index ", index->path(),
                     " is not a JSON object with a \"weight_map\" object"));
  }
  std::set<std::string> named;
  for (const auto& [tensor, shard] : json["weight_map"].items()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the index ", index->path(), " maps tensor ", tensor,
                       " to something that is not a file name"));
    }
    const std::string file = shard.get<std::string>();
    if (shards.count(file) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the index ", index->path(), " maps tensor ", tensor, " to ", file,
          ", which is not among model.files: upload every shard"));
    }
    named.insert(file);
  }
  for (const std::string& s : shards) {
    if (named.count(s) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard ", s, " holds no tensor the index ",
                       index->path(), " maps: leave it out, or fix the index"));
    }
  }
  return absl::OkStatus();
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
  if (auto st = CheckFileList(*blobs_, tenant, dataset.files(), "dataset");
      !st.ok()) {
    return st;
  }
  std::set<std::string> paths;
  for (const auto& file : dataset.files()) paths.insert(file.path());
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
    if (auto st = CheckModel(caller->tenant, request->model()); !st.ok()) {
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
