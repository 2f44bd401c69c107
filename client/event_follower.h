// Follows a job's event stream to its end across broken streams and server
// restarts: on UNAVAILABLE (or a stream that ends before the job's final
// event) it reconnects with exponential backoff from the last sequence seen
// + 1, so no event is missed or shown twice. The stream itself is behind an
// interface so that tests replace the server. One follower per thread.
#ifndef CONDENSE_CLIENT_EVENT_FOLLOWER_H_
#define CONDENSE_CLIENT_EVENT_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "condense/v1/jobs.pb.h"
#include "proto/retry_policy.h"

namespace condense::client {

// One WatchJob call.
class JobEventStream {
 public:
  virtual ~JobEventStream() = default;
  // False when the stream has ended (then call Finish).
  virtual bool Read(v1::JobEvent* event) = 0;
  virtual absl::Status Finish() = 0;
};

struct FollowOptions {
  // Opens WatchJob from `from_sequence`.
  std::function<std::unique_ptr<JobEventStream>(int64_t from_sequence)> open;
  // Called for every event once, in sequence order.
  std::function<void(const v1::JobEvent&)> on_event;
  // Asked when a stream ends cleanly without a final state event: whether
  // the job has finished after all (e.g. --from past its last event).
  std::function<absl::StatusOr<bool>()> job_finished;
  // Told before each reconnect (to say so on stderr); may be empty.
  std::function<void(const absl::Status& why, absl::Duration wait)> on_retry;
  // Waits between reconnects; tests replace it.
  std::function<void(absl::Duration)> sleep;
  absl::Duration initial_backoff = retry::Backoff(1);
  absl::Duration max_backoff = retry::Backoff(retry::MaxAttempts());
  // Reconnects in a row without a new event before giving up.
  int max_retries = 20;
};

// Follows from `from_sequence` (0 or 1: the first event). Returns OK once
// the job's final STATE_CHANGED event was delivered (or job_finished said
// so), else the error that ended it (UNAVAILABLE after max_retries).
absl::Status FollowJobEvents(const FollowOptions& options,
                             int64_t from_sequence);

// Whether a failed watch is worth reconnecting: the retry policy's stream
// rule (proto/retry_policy.h).
bool IsRetryableWatchError(const absl::Status& status);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_EVENT_FOLLOWER_H_
