// What every `condense` subcommand shares: the global flags (server address,
// token, TLS, output format), where output goes and whether it is a
// terminal, connecting with a short deadline, and turning errors into
// "condense: ..." on stderr plus the exit code. One CommandEnv per process;
// not thread-safe.
#ifndef CONDENSE_CLIENT_CLI_CONTEXT_H_
#define CONDENSE_CLIENT_CLI_CONTEXT_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/rpc/connection.h"
#include "grpcpp/support/status.h"

namespace condense::client {

struct CliIo {
  std::ostream* out = nullptr;  // Results (names, tables, JSON).
  std::ostream* err = nullptr;  // Errors and progress.
  bool out_is_terminal = false;
  bool err_is_terminal = false;
  int terminal_width = 100;
};

struct CommandEnv {
  ConnectionOptions connection;
  std::string output = "text";  // "text" or "json".
  // How long to wait for the first connection before saying the server is
  // unreachable.
  absl::Duration connect_timeout = absl::Seconds(5);
  CliIo io;

  bool json() const { return output == "json"; }
};

// What a chosen subcommand does; returns the exit code.
using CommandAction = std::function<int()>;

// Prints "condense: <message>" to stderr and returns the exit code for it.
int Fail(const CommandEnv& env, const absl::Status& status);

// Creates the connection and waits until it is up (at most
// env.connect_timeout): UNAVAILABLE "cannot reach condense server at ADDR:
// ..." otherwise.
absl::StatusOr<std::unique_ptr<Connection>> Connect(const CommandEnv& env);

// A failed RPC as an absl::Status (one mapping: proto/grpc_status.h).
absl::Status RpcStatus(const grpc::Status& status);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_CLI_CONTEXT_H_
