// `condense health`: asks the server's grpc.health.v1 service whether it
// serves. Container healthchecks and scripts use it; it needs no token.
#include <chrono>
#include <memory>
#include <string>

#include "client/commands.h"
#include "client/exit_codes.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace condense::client {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

int RunHealth(const CommandEnv& env, const std::string& service,
              double timeout_seconds) {
  auto connection = Connect(env);
  if (!connection.ok()) return Fail(env, connection.status());
  auto stub = ::grpc::health::v1::Health::NewStub((*connection)->channel());
  auto context = (*connection)
                     ->NewContext(std::chrono::milliseconds(
                         static_cast<int64_t>(timeout_seconds * 1000)));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(context.get(), request, &response);
  if (!status.ok()) return Fail(env, RpcStatus(status));
  const std::string state =
      HealthCheckResponse::ServingStatus_Name(response.status());
  if (env.json()) {
    *env.io.out << nlohmann::json{{"status", state}}.dump() << "\n";
  } else {
    *env.io.out << state << "\n";
  }
  // A server that answers but does not serve (shutting down) is unhealthy.
  return response.status() == HealthCheckResponse::SERVING ? kExitOk
                                                           : kExitError;
}

}  // namespace

void AddHealthCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action) {
  auto service = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(5);
  CLI::App* cmd = app->add_subcommand(
      "health",
      "Check that the server serves (grpc.health.v1; exit 0 when SERVING)");
  cmd->add_option("--service", *service,
                  "a service registered with the health service (default: "
                  "the server as a whole, the only one condense-server "
                  "registers)");
  cmd->add_option("--timeout", *timeout, "seconds to wait for the answer")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([env, action, service, timeout] {
    *action = [env, service, timeout] {
      return RunHealth(*env, *service, *timeout);
    };
  });
}

}  // namespace condense::client
