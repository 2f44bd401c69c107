// `condense list [jobs|models|datasets]`: follows page tokens up to --limit
// items, newest first.
#include <algorithm>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/format.h"
#include "client/job_display.h"
#include "client/json_output.h"
#include "condense/v1/jobs.grpc.pb.h"
#include "condense/v1/models.grpc.pb.h"

namespace condense::client {
namespace {

struct ListOptions {
  std::string collection = "jobs";
  std::string state;
  int limit = 50;
};

std::string Created(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

// Calls `list(page_size, token, &next)` until `limit` items (0: all) or the
// last page.
template <typename Call>
absl::Status ForPages(int limit, Call list) {
  int have = 0;
  std::string token;
  do {
    const int want = limit == 0 ? 1000 : std::min(1000, limit - have);
    if (want <= 0) break;
    std::string next;
    absl::StatusOr<int> got = list(want, token, &next);
    if (!got.ok()) return got.status();
    have += *got;
    token = next;
  } while (!token.empty());
  return absl::OkStatus();
}

int ListJobs(const CommandEnv& env, const Connection& c, const ListOptions& o,
             v1::Job::State state) {
  auto stub = v1::Jobs::NewStub(c.channel());
  v1::ListJobsResponse all;
  absl::Status s = ForPages(
      o.limit,
      [&](int size, const std::string& token,
          std::string* next) -> absl::StatusOr<int> {
        v1::ListJobsRequest request;
        request.set_page_size(size);
        request.set_page_token(token);
        request.set_state(state);
        v1::ListJobsResponse page;
        auto context = c.NewContext(std::chrono::seconds(30));
        grpc::Status st = stub->ListJobs(context.get(), request, &page);
        if (!st.ok()) return RpcStatus(st);
        *next = page.next_page_token();
        for (auto& j : *page.mutable_jobs()) *all.add_jobs() = std::move(j);
        return page.jobs_size();
      });
  if (!s.ok()) return Fail(env, s);
  if (env.json()) {
    *env.io.out << MessageToJson(all) << "\n";
    return 0;
  }
  *env.io.out << absl::StrFormat("%-24s %-10s %-24s %-26s %s\n", "NAME",
                                 "STATE", "MODEL", "PROGRESS", "CREATED");
  for (const v1::Job& j : all.jobs()) {
    std::string progress = "-";
    if (j.state() == v1::Job::SUCCEEDED) {
      progress = absl::StrFormat("ratio %.1fx", j.result().ratio());
    } else if (j.state() == v1::Job::RUNNING && !j.progress().stage().empty()) {
      progress =
          absl::StrFormat("stage %d/%d %s", j.progress().stage_index() + 1,
                          j.progress().stage_count(), j.progress().stage());
    }
    *env.io.out << absl::StrFormat("%-24s %-10s %-24s %-26s %s\n", j.name(),
                                   JobStateName(j.state()), j.model(), progress,
                                   Created(j.create_time_unix_ms()));
  }
  return 0;
}

int ListModels(const CommandEnv& env, const Connection& c,
               const ListOptions& o) {
  auto stub = v1::Models::NewStub(c.channel());
  v1::ListModelsResponse all;
  absl::Status s = ForPages(
      o.limit,
      [&](int size, const std::string& token,
          std::string* next) -> absl::StatusOr<int> {
        v1::ListModelsRequest request;
        request.set_page_size(size);
        request.set_page_token(token);
        v1::ListModelsResponse page;
        auto context = c.NewContext(std::chrono::seconds(30));
        grpc::Status st = stub->ListModels(context.get(), request, &page);
        if (!st.ok()) return RpcStatus(st);
        *next = page.next_page_token();
        for (auto& m : *page.mutable_models()) {
          *all.add_models() = std::move(m);
        }
        return page.models_size();
      });
  if (!s.ok()) return Fail(env, s);
  if (env.json()) {
    *env.io.out << MessageToJson(all) << "\n";
    return 0;
  }
  *env.io.out << absl::StrFormat("%-26s %-19s %10s  %-16s %s\n", "NAME",
                                 "FORMAT", "SIZE", "CREATED", "DISPLAY NAME");
  for (const v1::Model& m : all.models()) {
    int64_t bytes = m.blob().size_bytes();
    for (const auto& f : m.files()) bytes += f.blob().size_bytes();
    *env.io.out << absl::StrFormat(
        "%-26s %-19s %10s  %-16s %s\n", m.name(),
        v1::Model::Format_Name(m.format()), FormatBytes(bytes),
        Created(m.create_time_unix_ms()), m.display_name());
  }
  return 0;
}

int ListDatasets(const CommandEnv& env, const Connection& c,
                 const ListOptions& o) {
  auto stub = v1::Models::NewStub(c.channel());
  v1::ListDatasetsResponse all;
  absl::Status s = ForPages(
      o.limit,
      [&](int size, const std::string& token,
          std::string* next) -> absl::StatusOr<int> {
        v1::ListDatasetsRequest request;
        request.set_page_size(size);
        request.set_page_token(token);
        v1::ListDatasetsResponse page;
        auto context = c.NewContext(std::chrono::seconds(30));
        grpc::Status st = stub->ListDatasets(context.get(), request, &page);
        if (!st.ok()) return RpcStatus(st);
        *next = page.next_page_token();
        for (auto& d : *page.mutable_datasets()) {
          *all.add_datasets() = std::move(d);
        }
        return page.datasets_size();
      });
  if (!s.ok()) return Fail(env, s);
  if (env.json()) {
    *env.io.out << MessageToJson(all) << "\n";
    return 0;
  }
  *env.io.out << absl::StrFormat("%-28s %5s %10s  %-16s %s\n", "NAME", "FILES",
                                 "SIZE", "CREATED", "DISPLAY NAME");
  for (const v1::Dataset& d : all.datasets()) {
    int64_t bytes = 0;
    for (const auto& f : d.files()) bytes += f.blob().size_bytes();
    *env.io.out << absl::StrFormat(
        "%-28s %5d %10s  %-16s %s\n", d.name(), d.files_size(),
        FormatBytes(bytes), Created(d.create_time_unix_ms()), d.display_name());
  }
  return 0;
}

int RunList(const CommandEnv& env, const ListOptions& o) {
  v1::Job::State state = v1::Job::STATE_UNSPECIFIED;
  if (!o.state.empty()) {
    if (o.collection != "jobs") {
      return Fail(env, absl::InvalidArgumentError(
                           "--state filters jobs only; leave it out for " +
                           o.collection));
    }
    if (!ParseJobState(o.state, &state)) {
      return Fail(env, absl::InvalidArgumentError(absl::StrCat(
                           "unknown --state '", o.state,
                           "': use queued, running, succeeded, failed or "
                           "cancelled")));
    }
  }
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());
  if (o.collection == "models") return ListModels(env, **connection, o);
  if (o.collection == "datasets") return ListDatasets(env, **connection, o);
  return ListJobs(env, **connection, o, state);
}

}  // namespace

void AddListCommand(CLI::App* app, const CommandEnv* env,
                    CommandAction* action) {
  auto o = std::make_shared<ListOptions>();
  CLI::App* cmd = app->add_subcommand(
      "list", "List jobs (default), models or datasets, newest first");
  cmd->add_option("what", o->collection, "jobs, models or datasets")
      ->check(CLI::IsMember({"jobs", "models", "datasets"}))
      ->capture_default_str();
  cmd->add_option("--state", o->state,
                  "jobs in this state only (queued, running, succeeded, "
                  "failed, cancelled)");
  cmd->add_option("--limit", o->limit, "at most this many (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback(
      [env, action, o] { *action = [env, o] { return RunList(*env, *o); }; });
}

}  // namespace condense::client
