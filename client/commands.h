// The `condense` subcommands. Each Add*Command registers its flags on `app`
// and, when it is the one chosen, sets *action to run it with *env (which
// the caller fills from the global flags before running). Runs return the
// exit code (client/exit_codes.h). Not thread-safe.
#ifndef CONDENSE_CLIENT_COMMANDS_H_
#define CONDENSE_CLIENT_COMMANDS_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace condense::client {

void AddUploadCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action);
void AddSubmitCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action);
void AddWatchCommand(CLI::App* app, const CommandEnv* env,
                     CommandAction* action);
void AddStatusCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action);
void AddListCommand(CLI::App* app, const CommandEnv* env,
                    CommandAction* action);
void AddCancelCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action);
void AddDownloadCommand(CLI::App* app, const CommandEnv* env,
                        CommandAction* action);
void AddInspectCommand(CLI::App* app, const CommandEnv* env,
                       CommandAction* action);
void AddDecompressCommand(CLI::App* app, const CommandEnv* env,
                          CommandAction* action);
void AddHealthCommand(CLI::App* app, const CommandEnv* env,
                      CommandAction* action);

// Follows `job` from event `from_sequence` until it finishes (watch, and
// submit --watch); the exit code reflects the job's final state.
int FollowJob(const CommandEnv& env, const Connection& connection,
              const std::string& job, int64_t from_sequence);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_COMMANDS_H_
