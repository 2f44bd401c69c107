// The retry policy of condense's clients (CLI, workers; the Python SDK reads
// the same proto/condense/v1/retry_policy.json): which failed calls to the
// server are worth another attempt, and how long to wait before it.
// Thread-safe (the policy is parsed once, then read-only).
#ifndef CONDENSE_PROTO_RETRY_POLICY_H_
#define CONDENSE_PROTO_RETRY_POLICY_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace condense::retry {

enum class CallKind {
  kUnary,
  kStream,  // Uploads, downloads, watching a job: also CANCELLED, DEADLINE.
};

// Whether a call that failed with `code` should be tried again.
bool IsTransient(absl::StatusCode code, CallKind kind = CallKind::kUnary);

// The same for a whole status: on streams also a cut by the transport
// (RST_STREAM, GOAWAY), which surfaces as INTERNAL or UNKNOWN.
bool IsTransientError(const absl::Status& status,
                      CallKind kind = CallKind::kUnary);

// The wait before retry number `retry` (1 for the first retry).
absl::Duration Backoff(int retry);

// Attempts in all, the first included, before a transient error is final.
int MaxAttempts();

}  // namespace condense::retry

#endif  // CONDENSE_PROTO_RETRY_POLICY_H_
