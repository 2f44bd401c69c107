// `condense upload dataset PATH...`: each file as a blob, then
// Models.CreateDataset naming them by base name.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/json_output.h"
#include "client/labels.h"
#include "client/upload_file.h"
#include "condense/v1/models.grpc.pb.h"

namespace condense::client {
namespace {

namespace fs = std::filesystem;

struct UploadDatasetOptions {
  std::vector<std::string> paths;
  std::string name;
  std::string train;
  std::string eval;
  std::vector<std::string> labels;
};

// The files to upload: directories contribute their regular files (not
// recursively; sorted), files themselves. Base names must be unique since
// the worker lays them out in one directory.
absl::StatusOr<std::vector<fs::path>> ListFiles(
    const std::vector<std::string>& paths) {
  std::vector<fs::path> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> in_dir;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.is_regular_file()) in_dir.push_back(entry.path());
      }
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot list ", p, ": ", ec.message()));
      }
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      return absl::NotFoundError(absl::StrCat(
          p, " is neither a file nor a directory: check the path"));
    }
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(
        "no files to upload: the directories given are empty");
  }
  std::set<std::string> names;
  for (const fs::path& f : files) {
    if (!names.insert(f.filename().string()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "two files are named ", f.filename().string(),
          "; dataset files are laid out in one directory, so rename one"));
    }
  }
  return files;
}

int RunUploadDataset(const CommandEnv& env, const UploadDatasetOptions& o) {
  auto files = ListFiles(o.paths);
  if (!files.ok()) return Fail(env, files.status());
  auto labels = ParseLabels(o.labels);
  if (!labels.ok()) return Fail(env, labels.status());
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());

  v1::CreateDatasetRequest request;
  v1::Dataset* dataset = request.mutable_dataset();
  for (const fs::path& f : *files) {
    auto digest = UploadWithProgress(env, **connection, f.string());
    if (!digest.ok()) return Fail(env, digest.status());
    v1::Dataset::File* file = dataset->add_files();
    file->set_path(f.filename().string());
    *file->mutable_blob() = *digest;
  }
  dataset->set_display_name(o.name);
  // --train and --eval name files among those uploaded, by base name.
  if (!o.train.empty()) {
    dataset->set_train_file(fs::path(o.train).filename().string());
  }
  if (!o.eval.empty()) {
    dataset->set_eval_file(fs::path(o.eval).filename().string());
  }
  dataset->mutable_labels()->insert(labels->begin(), labels->end());
  auto stub = v1::Models::NewStub((*connection)->channel());
  v1::Dataset created;
  auto context = (*connection)->NewContext(std::chrono::seconds(60));
  grpc::Status status = stub->CreateDataset(context.get(), request, &created);
  if (!status.ok()) return Fail(env, RpcStatus(status));
  *env.io.out << (env.json() ? MessageToJson(created) : created.name()) << "\n";
  return 0;
}

}  // namespace

void AddUploadDatasetCommand(CLI::App* upload, const CommandEnv* env,
                             CommandAction* action) {
  auto o = std::make_shared<UploadDatasetOptions>();
  CLI::App* cmd = upload->add_subcommand(
      "dataset",
      "Upload data to retrain on (a directory's files, or files) and "
      "register it; prints its name (datasets/...)");
  cmd->add_option("paths", o->paths, "directories or files")->required();
  cmd->add_option("--name", o->name, "display name");
  cmd->add_option("--train", o->train,
                  "the training file among them (default: MNIST layout)");
  cmd->add_option("--eval", o->eval, "the evaluation file among them");
  cmd->add_option("--label", o->labels, "KEY=VALUE label (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([env, action, o] {
    *action = [env, o] { return RunUploadDataset(*env, *o); };
  });
}

}  // namespace condense::client
