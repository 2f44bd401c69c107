#include "client/event_follower.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/job_display.h"
#include "proto/job_state.h"
#include "proto/retry_policy.h"

namespace condense::client {

bool IsRetryableWatchError(const absl::Status& status) {
  // The CLI never cancels its own watch, so CANCELLED comes from the server
  // stopping (it cancels open calls on shutdown): the stream policy.
  return retry::IsTransientError(status, retry::CallKind::kStream);
}

absl::Status FollowJobEvents(const FollowOptions& options,
                             int64_t from_sequence) {
  int64_t last_seen = std::max<int64_t>(from_sequence, 1) - 1;
  int failures = 0;
  absl::Duration backoff = options.initial_backoff;
  while (true) {
    std::unique_ptr<JobEventStream> stream = options.open(last_seen + 1);
    v1::JobEvent event;
    bool final_seen = false;
    while (stream->Read(&event)) {
      // A server replaying from an earlier point must not show events twice.
      if (event.sequence() != 0 && event.sequence() <= last_seen) continue;
      if (event.sequence() != 0) last_seen = event.sequence();
      failures = 0;
      backoff = options.initial_backoff;
      options.on_event(event);
      if (event.kind() == v1::JobEvent::STATE_CHANGED &&
          JobEnded(event.state())) {
        final_seen = true;
      }
    }
    absl::Status status = stream->Finish();
    if (final_seen && (status.ok() || IsRetryableWatchError(status))) {
      return absl::OkStatus();
    }
    if (status.ok()) {
      if (options.job_finished) {
        absl::StatusOr<bool> finished = options.job_finished();
        if (!finished.ok() && !IsRetryableWatchError(finished.status())) {
          return finished.status();
        }
        if (finished.ok() && *finished) return absl::OkStatus();
      }
      status = absl::UnavailableError(
          "the event stream ended before the job finished");
    } else if (!IsRetryableWatchError(status)) {
      return status;
    }
    if (++failures > options.max_retries) {
      return absl::UnavailableError(absl::StrCat(
          "lost the job's event stream ", options.max_retries,
          " times in a row (last: ", status.message(),
          "); check the server and run condense watch again with --from ",
          last_seen + 1));
    }
    if (options.on_retry) options.on_retry(status, backoff);
    if (options.sleep) options.sleep(backoff);
    backoff = std::min(backoff * 2, options.max_backoff);
  }
}

}  // namespace condense::client
