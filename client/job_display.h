// How jobs and their events look in the CLI: one log line per event (for
// pipes and logs), the live multi-line view a terminal redraws in place, the
// job's status and its final summary. Pure functions over the API's
// messages, so they are tested without a server; thread-safe.
#ifndef CONDENSE_CLIENT_JOB_DISPLAY_H_
#define CONDENSE_CLIENT_JOB_DISPLAY_H_

#include <string>
#include <vector>

#include "condense/v1/jobs.pb.h"

namespace condense::client {

// "QUEUED", "RUNNING", ...
std::string JobStateName(v1::Job::State state);

// Accepts "queued", "RUNNING", ... (any case); false for anything else.
bool ParseJobState(const std::string& name, v1::Job::State* state);

// One line, no newline: "12:03:04 #17 batch [2/4 quantize] epoch 1/3 batch
// 120/468 loss 0.1234 ...". Times are UTC.
std::string RenderEventLine(const v1::JobEvent& event);

// What the live view shows: the latest of every field, from the events.
struct WatchView {
  std::string job;
  v1::Job::State state = v1::Job::STATE_UNSPECIFIED;
  int attempt = 0;
  std::string stage;
  int stage_index = 0;  // 0-based, as in events.
  int stage_count = 0;
  int epoch = 0;
  int epochs = 0;
  int64_t batch = 0;
  int64_t batches = 0;
  double loss = 0;
  double accuracy = -1;
  double sparsity = 0;
  double ratio = 0;
  double samples_per_second = 0;
  double eta_seconds = -1;
  std::string last_message;
};

void ApplyEvent(const v1::JobEvent& event, WatchView* view);

// A fixed number of lines (kLiveViewLines), each at most `width` columns,
// so a terminal can redraw them in place.
inline constexpr int kLiveViewLines = 5;
std::vector<std::string> RenderLiveView(const WatchView& view, int width);

// `condense status`: name, state, model, dataset, times, progress, error or
// result. Ends with a newline.
std::string RenderJobStatus(const v1::Job& job);

// After a watch: the final state, ratio, accuracy before and after,
// artifacts, or the error. Ends with a newline.
std::string RenderJobSummary(const v1::Job& job);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_JOB_DISPLAY_H_
