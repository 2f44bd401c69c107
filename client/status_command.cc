// `condense status JOB` and `condense cancel JOB`.
#include <chrono>
#include <memory>

#include "client/commands.h"
#include "client/job_display.h"
#include "client/json_output.h"
#include "client/resource_names.h"
#include "condense/v1/jobs.grpc.pb.h"
#include "proto/job_state.h"

namespace condense::client {
namespace {

enum class JobCall { kGet, kCancel };

int RunJobCall(const CommandEnv& env, const std::string& name, JobCall call) {
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());
  auto stub = v1::Jobs::NewStub((*connection)->channel());
  auto context = (*connection)->NewContext(std::chrono::seconds(30));
  v1::Job job;
  grpc::Status status;
  if (call == JobCall::kGet) {
    v1::GetJobRequest request;
    request.set_name(FullName("jobs", name));
    status = stub->GetJob(context.get(), request, &job);
  } else {
    v1::CancelJobRequest request;
    request.set_name(FullName("jobs", name));
    status = stub->CancelJob(context.get(), request, &job);
  }
  if (!status.ok()) return Fail(env, RpcStatus(status));
  if (env.json()) {
    *env.io.out << MessageToJson(job) << "\n";
  } else if (call == JobCall::kGet) {
    *env.io.out << RenderJobStatus(job);
  } else {
    // A running job ends CANCELLED once its worker stops.
    *env.io.out << job.name() << " " << JobStateName(job.state())
                << (JobEnded(job.state()) ? "" : " (cancel requested)") << "\n";
  }
  return 0;
}

void AddJobCommand(CLI::App* app, const CommandEnv* env, CommandAction* action,
                   const char* name, const char* description, JobCall call) {
  auto job = std::make_shared<std::string>();
  CLI::App* cmd = app->add_subcommand(name, description);
  cmd->add_option("job", *job, "the job (jobs/ID or ID)")->required();
  cmd->callback([env, action, job, call] {
    *action = [env, job, call] { return RunJobCall(*env, *job, call); };
  });
}

}  // namespace

void AddStatusCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action) {
  AddJobCommand(app, env, action, "status",
                "Show a job: state, progress, result or error", JobCall::kGet);
}

void AddCancelCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action) {
  AddJobCommand(app, env, action, "cancel",
                "Cancel a job (a running one stops within a batch and a "
                "heartbeat)",
                JobCall::kCancel);
}

}  // namespace condense::client
