// `condense download JOB`: the artifacts of a SUCCEEDED job, each resumable
// and verified against its digest by the transfer library.
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/artifacts.h"
#include "client/commands.h"
#include "client/format.h"
#include "client/job_display.h"
#include "client/resource_names.h"
#include "client/rpc/blob_transfer.h"
#include "client/transfer_display.h"
#include "condense/v1/jobs.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "proto/job_state.h"

namespace condense::client {
namespace {

namespace fs = std::filesystem;

struct DownloadOptions {
  std::string job;
  std::string dir = ".";
  std::string only;
};

// The artifacts to fetch: all, or those named in --only (each must exist).
absl::StatusOr<std::vector<v1::Artifact>> Select(const v1::Job& job,
                                                 const std::string& only) {
  std::vector<v1::Artifact> all(job.result().artifacts().begin(),
                                job.result().artifacts().end());
  if (only.empty()) return all;
  std::set<std::string> wanted;
  for (absl::string_view name : absl::StrSplit(only, ',', absl::SkipEmpty())) {
    wanted.emplace(name);
  }
  std::vector<v1::Artifact> chosen;
  std::vector<std::string> names;
  for (const v1::Artifact& a : all) {
    names.push_back(a.file_name());
    if (wanted.erase(a.file_name()) > 0) chosen.push_back(a);
  }
  if (!wanted.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(job.name(), " has no artifact ", *wanted.begin(),
                     "; it has: ", absl::StrJoin(names, ", ")));
  }
  return chosen;
}

int RunDownload(const CommandEnv& env, const DownloadOptions& o) {
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());
  auto stub = v1::Jobs::NewStub((*connection)->channel());
  v1::GetJobRequest request;
  request.set_name(FullName("jobs", o.job));
  v1::Job job;
  auto context = (*connection)->NewContext(std::chrono::seconds(30));
  grpc::Status status = stub->GetJob(context.get(), request, &job);
  if (!status.ok()) return Fail(env, RpcStatus(status));
  if (job.state() != v1::Job::SUCCEEDED) {
    return Fail(env, absl::FailedPreconditionError(absl::StrCat(
                         job.name(), " is ", JobStateName(job.state()),
                         "; artifacts exist once it has SUCCEEDED",
                         JobEnded(job.state())
                             ? ""
                             : absl::StrCat(" (follow it with condense watch ",
                                            job.name(), ")"))));
  }
  auto artifacts = Select(job, o.only);
  if (!artifacts.ok()) return Fail(env, artifacts.status());
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec) {
    return Fail(
        env, absl::InvalidArgumentError(absl::StrCat(
                 "cannot create the directory ", o.dir, ": ", ec.message())));
  }
  nlohmann::json files = nlohmann::json::array();
  std::vector<std::string> paths;
  for (const v1::Artifact& a : *artifacts) {
    // The name comes from the server: never let it leave the directory.
    if (!artifacts::IsArtifactName(a.file_name())) {
      return Fail(env, absl::InternalError(absl::StrCat(
                           "the server named an artifact '", a.file_name(),
                           "', which is not an output's name")));
    }
    const fs::path name(a.file_name());
    if (name.has_parent_path()) {
      fs::create_directories(fs::path(o.dir) / name.parent_path(), ec);
    }
    const std::string path = (fs::path(o.dir) / name).string();
    TransferDisplay display(env.io.err, env.io.err_is_terminal, a.file_name());
    TransferReport report;
    TransferOptions options;
    options.progress = display.Callback();
    options.report = &report;
    absl::Status s = DownloadBlob(**connection, a.blob(), path, options);
    if (!s.ok()) {
      if (env.io.err_is_terminal) *env.io.err << "\n";
      return Fail(env, s);
    }
    display.Finish(
        report.resumed_from > 0
            ? absl::StrCat("resumed at ", FormatBytes(report.resumed_from))
            : "");
    paths.push_back(path);
    files.push_back({{"file_name", a.file_name()},
                     {"path", path},
                     {"sha256", a.blob().sha256()},
                     {"size_bytes", a.blob().size_bytes()}});
  }
  if (env.json()) {
    *env.io.out << nlohmann::json{{"job", job.name()}, {"files", files}}.dump(2)
                << "\n";
  } else {
    for (const std::string& p : paths) *env.io.out << p << "\n";
  }
  return 0;
}

}  // namespace

void AddDownloadCommand(CLI::App* app, const CommandEnv* env,
                        CommandAction* action) {
  auto o = std::make_shared<DownloadOptions>();
  CLI::App* cmd = app->add_subcommand(
      "download",
      "Download a finished job's artifacts (model.cdz, model.pt, "
      "report.json, ...); an interrupted download resumes");
  cmd->add_option("job", o->job, "the job (jobs/ID or ID)")->required();
  cmd->add_option("-o,--dir", o->dir, "directory to write to")
      ->capture_default_str();
  cmd->add_option("--only", o->only,
                  "comma-separated artifact names, e.g. model.cdz,report.json");
  cmd->callback([env, action, o] {
    *action = [env, o] { return RunDownload(*env, *o); };
  });
}

}  // namespace condense::client
