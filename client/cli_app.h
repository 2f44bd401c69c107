// The `condense` command line: global flags, the subcommands, parsing and
// exit codes. cli_main.cc wires it to the process's streams; tests call
// RunCli with their own. Not thread-safe.
#ifndef CONDENSE_CLIENT_CLI_APP_H_
#define CONDENSE_CLIENT_CLI_APP_H_

#include "client/cli_context.h"

namespace condense::client {

// Parses argv, runs the chosen subcommand and returns the exit code
// (client/exit_codes.h). Help goes to io.out; errors to io.err.
int RunCli(int argc, const char* const* argv, const CliIo& io);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_CLI_APP_H_
