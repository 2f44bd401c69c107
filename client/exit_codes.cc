#include "client/exit_codes.h"

namespace condense::client {

int ExitCodeForStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnreachable;
    default:
      return kExitError;
  }
}

int ExitCodeForJobState(v1::Job::State state) {
  switch (state) {
    case v1::Job::SUCCEEDED:
      return kExitOk;
    case v1::Job::FAILED:
      return kExitJobFailed;
    case v1::Job::CANCELLED:
      return kExitJobCancelled;
    default:
      return kExitError;
  }
}

std::string ExitCodesHelp() {
  return "Exit codes:\n"
         "  0  success (for watch and submit --watch: the job SUCCEEDED)\n"
         "  1  any other error returned by the server\n"
         "  2  usage error or invalid input (bad flags, INVALID_ARGUMENT, "
         "NOT_FOUND)\n"
         "  3  the job FAILED\n"
         "  4  the job was CANCELLED\n"
         "  5  the server could not be reached (UNAVAILABLE, "
         "DEADLINE_EXCEEDED)\n";
}

}  // namespace condense::client
