// `condense submit`: Jobs.CreateJob from a preset, a spec file and --set
// overrides (the server composes and validates them), with a generated
// request_id so that retrying the create never queues a second job.
#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/event_follower.h"
#include "client/json_output.h"
#include "client/labels.h"
#include "client/resource_names.h"
#include "condense/v1/jobs.grpc.pb.h"
#include "proto/retry_policy.h"
#include "proto/spec_util.h"

namespace condense::client {
namespace {

struct SubmitOptions {
  std::string model;
  std::string dataset;
  std::string preset;
  std::string spec_file;
  std::vector<std::string> overrides;
  std::string goal;
  int priority = 0;
  std::vector<std::string> labels;
  bool watch = false;
};

// 128 random bits as a UUID-like string.
std::string NewRequestId() {
  std::random_device device;
  std::mt19937_64 random((static_cast<uint64_t>(device()) << 32) ^ device());
  const uint64_t a = random();
  const uint64_t b = random();
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32,
                         (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                         b & 0xffffffffffffULL);
}

absl::StatusOr<v1::CreateJobRequest> BuildRequest(const SubmitOptions& o) {
  v1::CreateJobRequest request;
  request.set_model(FullName("models", o.model));
  if (!o.dataset.empty()) request.set_dataset(FullName("datasets", o.dataset));
  request.set_preset(o.preset);
  if (!o.spec_file.empty()) {
    std::ifstream in(o.spec_file);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read the spec file ", o.spec_file));
    }
    std::stringstream text;
    text << in.rdbuf();
    auto spec = spec::ParseSpecJson(text.str());
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.spec_file, ": ", spec.status().message()));
    }
    *request.mutable_spec() = *std::move(spec);
  }
  if (!o.goal.empty()) {
    if (auto st = spec::ApplyGoal(o.goal, request.mutable_spec()); !st.ok()) {
      return st;
    }
    // A goal is for the search: the auto preset unless one was named.
    if (o.preset.empty() && request.spec().preset().empty()) {
      request.set_preset("auto");
    }
  }
  for (const std::string& s : o.overrides) request.add_overrides(s);
  request.set_priority(o.priority);
  auto labels = ParseLabels(o.labels);
  if (!labels.ok()) return labels.status();
  request.mutable_labels()->insert(labels->begin(), labels->end());
  request.set_request_id(NewRequestId());
  return request;
}

int RunSubmit(const CommandEnv& env, const SubmitOptions& o) {
  auto request = BuildRequest(o);
  if (!request.ok()) return Fail(env, request.status());
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());
  auto stub = v1::Jobs::NewStub((*connection)->channel());
  v1::Job job;
  absl::Status status;
  // The request_id makes a repeated create return the first job.
  for (int attempt = 0; attempt < retry::MaxAttempts(); ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(
          absl::ToChronoMilliseconds(retry::Backoff(attempt)));
    }
    auto context = (*connection)->NewContext(std::chrono::seconds(30));
    status = RpcStatus(stub->CreateJob(context.get(), *request, &job));
    if (status.ok() || !retry::IsTransientError(status)) break;
  }
  if (!status.ok()) return Fail(env, status);
  if (env.json() && !o.watch) {
    *env.io.out << MessageToJson(job) << "\n";
  } else if (!env.json()) {
    *env.io.out << job.name() << "\n" << std::flush;
  }
  if (!o.watch) return 0;
  return FollowJob(env, **connection, job.name(), 1);
}

}  // namespace

void AddSubmitCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action) {
  auto o = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app->add_subcommand(
      "submit", "Queue a compression job; prints its name (jobs/...)");
  cmd->add_option("--model", o->model, "the model (models/ID)")->required();
  cmd->add_option("--dataset", o->dataset,
                  "data to retrain on (datasets/ID); data-free without");
  std::string presets;
  for (const std::string& p : spec::PresetNames()) {
    absl::StrAppend(&presets, presets.empty() ? "" : ", ", p);
  }
  cmd->add_option("--preset", o->preset,
                  absl::StrCat("start from a named spec: ", presets));
  cmd->add_option("--spec", o->spec_file,
                  "a CompressionSpec as JSON (merged over the preset)");
  cmd->add_option("--goal", o->goal,
                  "what the result must keep, for the auto preset (the "
                  "default with a goal): max-drop=0.5pt (points of top-1, "
                  "or a fraction: 0.005), max-bytes=N or min-ratio=50x");
  cmd->add_option("--set", o->overrides,
                  "FIELD=VALUE override, e.g. training.learning_rate=0.01 "
                  "(repeatable, applied in order)")
      ->allow_extra_args(false);
  cmd->add_option("--priority", o->priority, "higher runs first")
      ->capture_default_str();
  cmd->add_option("--label", o->labels, "KEY=VALUE label (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--watch", o->watch, "follow the job until it finishes");
  cmd->callback(
      [env, action, o] { *action = [env, o] { return RunSubmit(*env, *o); }; });
}

}  // namespace condense::client
