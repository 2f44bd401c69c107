// `condense upload model FILE`: the blob, then Models.CreateModel.
#include <chrono>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/format.h"
#include "client/json_output.h"
#include "client/labels.h"
#include "client/model_format.h"
#include "client/rpc/blob_transfer.h"
#include "client/transfer_display.h"
#include "client/upload_file.h"
#include "condense/v1/models.grpc.pb.h"

namespace condense::client {
namespace {

struct UploadModelOptions {
  std::string file;
  std::string name;
  std::string format;
  std::vector<std::string> labels;
};

int RunUploadModel(const CommandEnv& env, const UploadModelOptions& o) {
  absl::StatusOr<v1::Model::Format> format = o.format.empty()
                                                 ? v1::Model::FORMAT_UNSPECIFIED
                                                 : ParseModelFormat(o.format);
  if (!format.ok()) return Fail(env, format.status());
  auto files = ResolveModelFiles(o.file, *format);
  if (!files.ok()) return Fail(env, files.status());
  auto labels = ParseLabels(o.labels);
  if (!labels.ok()) return Fail(env, labels.status());
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());

  v1::CreateModelRequest request;
  v1::Model* model = request.mutable_model();
  for (const std::string& path : files->paths) {
    auto digest = UploadWithProgress(env, **connection, path);
    if (!digest.ok()) return Fail(env, digest.status());
    if (files->several) {
      v1::Model::File* file = model->add_files();
      file->set_path(std::filesystem::path(path).filename().string());
      *file->mutable_blob() = *digest;
    } else {
      *model->mutable_blob() = *digest;
    }
  }
  std::filesystem::path shown(o.file);
  if (!shown.has_filename()) shown = shown.parent_path();  // "dir/"
  model->set_display_name(o.name.empty() ? shown.filename().string() : o.name);
  model->set_format(files->format);
  model->mutable_labels()->insert(labels->begin(), labels->end());
  auto stub = v1::Models::NewStub((*connection)->channel());
  v1::Model created;
  auto context = (*connection)->NewContext(std::chrono::seconds(60));
  grpc::Status status = stub->CreateModel(context.get(), request, &created);
  if (!status.ok()) return Fail(env, RpcStatus(status));
  *env.io.out << (env.json() ? MessageToJson(created) : created.name()) << "\n";
  return 0;
}

}  // namespace

absl::StatusOr<v1::Digest> UploadWithProgress(const CommandEnv& env,
                                              const Connection& connection,
                                              const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    return absl::NotFoundError(
        absl::StrCat(path, " is not a regular file: check the path"));
  }
  TransferDisplay display(env.io.err, env.io.err_is_terminal,
                          std::filesystem::path(path).filename().string());
  TransferReport report;
  TransferOptions options;
  options.progress = display.Callback();
  options.report = &report;
  absl::StatusOr<v1::Digest> digest = UploadFile(connection, path, options);
  if (!digest.ok()) {
    if (env.io.err_is_terminal) *env.io.err << "\n";
    return digest.status();
  }
  if (report.deduplicated) {
    display.Finish("already on the server");
  } else if (report.resumed_from > 0) {
    display.Finish(
        absl::StrCat("resumed at ", FormatBytes(report.resumed_from)));
  } else {
    display.Finish();
  }
  return digest;
}

void AddUploadCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action) {
  CLI::App* upload =
      app->add_subcommand("upload", "Upload a model or a dataset");
  upload->require_subcommand(1);

  auto o = std::make_shared<UploadModelOptions>();
  CLI::App* model = upload->add_subcommand(
      "model",
      "Upload a model (a TorchScript, safetensors or ONNX file, an ONNX "
      "model with its external data, or a sharded safetensors checkpoint's "
      "directory) and register it; prints its name (models/...). Re-running "
      "an interrupted upload resumes it.");
  model
      ->add_option("file", o->file,
                   "the model file, or a sharded checkpoint's directory or "
                   "index")
      ->required();
  model->add_option("--name", o->name,
                    "display name (default: the file's name)");
  model
      ->add_option("--format", o->format,
                   "torchscript, safetensors, safetensors-sharded or onnx "
                   "(default: from the file)")
      ->check(CLI::IsMember(
          {"torchscript", "safetensors", "safetensors-sharded", "onnx"}));
  model->add_option("--label", o->labels, "KEY=VALUE label (repeatable)")
      ->allow_extra_args(false);
  model->callback([env, action, o] {
    *action = [env, o] { return RunUploadModel(*env, *o); };
  });

  AddUploadDatasetCommand(upload, env, action);
}

}  // namespace condense::client
