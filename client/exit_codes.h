// The condense CLI's exit codes, and how statuses and job states map to
// them. Scripts depend on these numbers: change them only with docs/cli.md.
// Pure functions; thread-safe.
#ifndef CONDENSE_CLIENT_EXIT_CODES_H_
#define CONDENSE_CLIENT_EXIT_CODES_H_

#include <string>

#include "absl/status/status.h"
#include "condense/v1/jobs.pb.h"

namespace condense::client {

enum ExitCode : int {
  kExitOk = 0,
  // Any other error the server (or the local operation) returned.
  kExitError = 1,
  // Bad flags, or input the server refused (INVALID_ARGUMENT, NOT_FOUND).
  kExitUsage = 2,
  kExitJobFailed = 3,
  kExitJobCancelled = 4,
  // The server could not be reached (UNAVAILABLE, DEADLINE_EXCEEDED).
  kExitUnreachable = 5,
};

int ExitCodeForStatus(const absl::Status& status);

// SUCCEEDED 0, FAILED 3, CANCELLED 4; a job not finished yet 1.
int ExitCodeForJobState(v1::Job::State state);

// The table for `condense --help` and docs/cli.md.
std::string ExitCodesHelp();

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_EXIT_CODES_H_
