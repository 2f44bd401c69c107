#include "client/cli_context.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/exit_codes.h"
#include "grpcpp/channel.h"
#include "proto/grpc_status.h"

namespace condense::client {

int Fail(const CommandEnv& env, const absl::Status& status) {
  if (status.ok()) return kExitOk;
  *env.io.err << "condense: " << status.message() << "\n" << std::flush;
  return ExitCodeForStatus(status);
}

absl::StatusOr<std::unique_ptr<Connection>> Connect(const CommandEnv& env) {
  const ConnectionOptions options = WithEnvironmentDefaults(env.connection);
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Create(options);
  if (!connection.ok()) return connection.status();
  const auto deadline = std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(env.connect_timeout);
  if (!(*connection)->channel()->WaitForConnected(deadline)) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach condense server at ", (*connection)->address(),
        ": no connection within ", absl::FormatDuration(env.connect_timeout),
        "; check that condense-server runs there and --addr (or "
        "CONDENSE_ADDR)",
        options.tls_ca.empty() ? ""
                               : ", and that --tls-ca signed its certificate"));
  }
  return connection;
}

absl::Status RpcStatus(const grpc::Status& status) {
  return api::FromGrpcStatus(status);
}

}  // namespace condense::client
