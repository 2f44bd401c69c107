// `condense watch JOB`: follows the job's events to its end (reconnecting
// with backoff, resuming after the last event seen), then prints the
// summary; the exit code is the job's final state.
#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/event_follower.h"
#include "client/exit_codes.h"
#include "client/job_display.h"
#include "client/json_output.h"
#include "client/live_area.h"
#include "client/resource_names.h"
#include "condense/v1/jobs.grpc.pb.h"
#include "proto/job_state.h"
#include "proto/retry_policy.h"

namespace condense::client {
namespace {

class GrpcEventStream : public JobEventStream {
 public:
  GrpcEventStream(const Connection& connection, v1::Jobs::Stub* stub,
                  const std::string& job, int64_t from_sequence)
      : context_(connection.NewContext()) {
    v1::WatchJobRequest request;
    request.set_name(job);
    request.set_from_sequence(from_sequence);
    reader_ = stub->WatchJob(context_.get(), request);
  }
  bool Read(v1::JobEvent* event) override { return reader_->Read(event); }
  absl::Status Finish() override { return RpcStatus(reader_->Finish()); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader_;
};

// Shows events as lines, JSON, or a live view, whichever fits the output.
class EventPrinter {
 public:
  EventPrinter(const CommandEnv& env, const std::string& job)
      : env_(env),
        live_(env.io.out_is_terminal && !env.json()),
        area_(env.io.out) {
    view_.job = job;
  }

  void OnEvent(const v1::JobEvent& event) {
    if (env_.json()) {
      *env_.io.out << MessageToJson(event, JsonStyle::kOneLine) << "\n"
                   << std::flush;
      return;
    }
    if (!live_) {
      *env_.io.out << RenderEventLine(event) << "\n" << std::flush;
      return;
    }
    ApplyEvent(event, &view_);
    const auto now = std::chrono::steady_clock::now();
    if (event.kind() != v1::JobEvent::BATCH) {
      area_.Log(RenderEventLine(event));
    } else if (now - last_draw_ < std::chrono::milliseconds(100)) {
      return;  // At most ~10 redraws a second.
    }
    last_draw_ = now;
    area_.Draw(RenderLiveView(view_, env_.io.terminal_width));
  }

  void Close() {
    if (live_) area_.Close();
  }

 private:
  const CommandEnv& env_;
  const bool live_;
  LiveArea area_;
  WatchView view_;
  std::chrono::steady_clock::time_point last_draw_{};
};

absl::StatusOr<v1::Job> GetJob(const Connection& connection,
                               v1::Jobs::Stub* stub, const std::string& job) {
  v1::GetJobRequest request;
  request.set_name(job);
  v1::Job result;
  auto context = connection.NewContext(std::chrono::seconds(30));
  grpc::Status status = stub->GetJob(context.get(), request, &result);
  if (!status.ok()) return RpcStatus(status);
  return result;
}

struct WatchOptions {
  std::string job;
  int64_t from = 1;
};

}  // namespace

int FollowJob(const CommandEnv& env, const Connection& connection,
              const std::string& job, int64_t from_sequence) {
  auto stub = v1::Jobs::NewStub(connection.channel());
  EventPrinter printer(env, job);
  FollowOptions options;
  options.open = [&](int64_t from) {
    return std::make_unique<GrpcEventStream>(connection, stub.get(), job, from);
  };
  options.on_event = [&](const v1::JobEvent& e) { printer.OnEvent(e); };
  options.job_finished = [&]() -> absl::StatusOr<bool> {
    auto j = GetJob(connection, stub.get(), job);
    if (!j.ok()) return j.status();
    return JobEnded(j->state());
  };
  options.on_retry = [&](const absl::Status& why, absl::Duration wait) {
    *env.io.err << "condense: lost the event stream (" << why.message()
                << "); reconnecting in " << absl::FormatDuration(wait) << "\n";
  };
  options.sleep = [](absl::Duration d) {
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(d));
  };
  absl::Status followed = FollowJobEvents(options, from_sequence);
  printer.Close();
  if (!followed.ok()) return Fail(env, followed);

  // The result (artifacts, accuracy) is on the job, not in the events. The
  // server may be restarting: try a few times.
  absl::StatusOr<v1::Job> final_job;
  for (int attempt = 1; attempt <= retry::MaxAttempts(); ++attempt) {
    final_job = GetJob(connection, stub.get(), job);
    if (final_job.ok() || !retry::IsTransientError(final_job.status())) break;
    std::this_thread::sleep_for(
        absl::ToChronoMilliseconds(retry::Backoff(attempt)));
  }
  if (!final_job.ok()) return Fail(env, final_job.status());
  if (!env.json()) *env.io.out << RenderJobSummary(*final_job) << std::flush;
  return ExitCodeForJobState(final_job->state());
}

void AddWatchCommand(CLI::App* app, const CommandEnv* env,
                     CommandAction* action) {
  auto o = std::make_shared<WatchOptions>();
  CLI::App* cmd = app->add_subcommand(
      "watch",
      "Follow a job's progress until it finishes; the exit code is its final "
      "state (0 SUCCEEDED, 3 FAILED, 4 CANCELLED)");
  cmd->add_option("job", o->job, "the job (jobs/ID or ID)")->required();
  cmd->add_option("--from", o->from,
                  "first event sequence to show (1: from the start)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback([env, action, o] {
    *action = [env, o] {
      auto connection = Connect(*env);
      if (!connection.ok()) return Fail(*env, connection.status());
      return FollowJob(*env, **connection, FullName("jobs", o->job), o->from);
    };
  });
}

}  // namespace condense::client
