// FollowJobEvents against scripted streams: resume after the last sequence,
// no duplicates, backoff, and giving up.
#include "client/event_follower.h"

#include <deque>
#include <vector>

#include "gtest/gtest.h"

namespace condense::client {
namespace {

v1::JobEvent Event(int64_t sequence,
                   v1::JobEvent::Kind kind = v1::JobEvent::BATCH,
                   v1::Job::State state = v1::Job::STATE_UNSPECIFIED) {
  v1::JobEvent e;
  e.set_sequence(sequence);
  e.set_kind(kind);
  e.set_state(state);
  return e;
}

v1::JobEvent Final(int64_t sequence, v1::Job::State state) {
  return Event(sequence, v1::JobEvent::STATE_CHANGED, state);
}

class ScriptedStream : public JobEventStream {
 public:
  ScriptedStream(std::vector<v1::JobEvent> events, absl::Status end)
      : events_(std::move(events)), end_(std::move(end)) {}
  bool Read(v1::JobEvent* event) override {
    if (next_ >= events_.size()) return false;
    *event = events_[next_++];
    return true;
  }
  absl::Status Finish() override { return end_; }

 private:
  std::vector<v1::JobEvent> events_;
  size_t next_ = 0;
  absl::Status end_;
};

// A fake server: a job's events, and per call how many it sends before the
// stream breaks (or how the call ends).
struct FakeServer {
  std::vector<v1::JobEvent> log;
  std::deque<std::pair<int, absl::Status>> calls;  // events sent, end.
  std::vector<int64_t> opened_from;
  bool replay_from_start = false;  // A server that ignores from_sequence.

  std::unique_ptr<JobEventStream> Open(int64_t from) {
    opened_from.push_back(from);
    std::pair<int, absl::Status> call = {1 << 30, absl::OkStatus()};
    if (!calls.empty()) {
      call = calls.front();
      calls.pop_front();
    }
    std::vector<v1::JobEvent> events;
    for (const auto& e : log) {
      if (static_cast<int>(events.size()) >= call.first) break;
      if (replay_from_start || e.sequence() >= from) events.push_back(e);
    }
    return std::make_unique<ScriptedStream>(events, call.second);
  }
};

struct FollowRun {
  std::vector<int64_t> seen;
  std::vector<absl::Duration> sleeps;
  absl::Status status;
};

FollowRun Follow(FakeServer* server, int64_t from, int max_retries = 10,
                 std::function<absl::StatusOr<bool>()> finished = nullptr) {
  FollowRun run;
  FollowOptions options;
  options.open = [server](int64_t f) { return server->Open(f); };
  options.on_event = [&run](const v1::JobEvent& e) {
    run.seen.push_back(e.sequence());
  };
  options.sleep = [&run](absl::Duration d) { run.sleeps.push_back(d); };
  options.job_finished = std::move(finished);
  options.max_retries = max_retries;
  run.status = FollowJobEvents(options, from);
  return run;
}

TEST(FollowJobEvents, ReadsToTheFinalEvent) {
  FakeServer server;
  server.log = {Event(1), Event(2), Final(3, v1::Job::SUCCEEDED)};
  FollowRun run = Follow(&server, 0);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.seen, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(server.opened_from, (std::vector<int64_t>{1}));
  EXPECT_TRUE(run.sleeps.empty());
}

TEST(FollowJobEvents, ResumesAfterTheLastEventSeen) {
  FakeServer server;
  server.log = {Event(1), Event(2), Event(3), Event(4),
                Final(5, v1::Job::FAILED)};
  server.calls = {{2, absl::UnavailableError("server restarting")},
                  {0, absl::UnavailableError("connection refused")},
                  {1, absl::UnavailableError("broken")}};
  FollowRun run = Follow(&server, 1);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.seen, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(server.opened_from, (std::vector<int64_t>{1, 3, 3, 4}));
  // Backoff doubles while nothing arrives and starts over after an event.
  ASSERT_EQ(run.sleeps.size(), 3u);
  EXPECT_EQ(run.sleeps[1], run.sleeps[0] * 2);
  EXPECT_EQ(run.sleeps[2], run.sleeps[0]);
}

TEST(FollowJobEvents, NeverShowsAnEventTwice) {
  FakeServer server;
  server.replay_from_start = true;
  server.log = {Event(1), Event(2), Event(3), Final(4, v1::Job::CANCELLED)};
  server.calls = {{2, absl::UnavailableError("broken")}};
  FollowRun run = Follow(&server, 0);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.seen, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(FollowJobEvents, StartsFromTheGivenSequence) {
  FakeServer server;
  server.log = {Event(1), Event(2), Event(3), Final(4, v1::Job::SUCCEEDED)};
  FollowRun run = Follow(&server, 3);
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.seen, (std::vector<int64_t>{3, 4}));
}

TEST(FollowJobEvents, OtherErrorsEndIt) {
  FakeServer server;
  server.calls = {{0, absl::NotFoundError("jobs/x not found")}};
  FollowRun run = Follow(&server, 0);
  EXPECT_EQ(run.status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server.opened_from.size(), 1u);
}

TEST(FollowJobEvents, GivesUpAfterMaxRetriesWithoutProgress) {
  FakeServer server;
  for (int i = 0; i < 10; ++i) {
    server.calls.push_back({0, absl::UnavailableError("connection refused")});
  }
  FollowRun run = Follow(&server, 0, /*max_retries=*/3);
  EXPECT_EQ(run.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(run.status.message().find("--from 1"), std::string::npos)
      << run.status;
  EXPECT_EQ(server.opened_from.size(), 4u);
}

TEST(FollowJobEvents, CleanEndWithoutFinalEventAsksTheJob) {
  FakeServer server;
  server.log = {Event(1), Event(2)};
  int asked = 0;
  FollowRun run = Follow(&server, 0, 10, [&asked]() -> absl::StatusOr<bool> {
    return ++asked >= 2;  // Not finished the first time, then finished.
  });
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(run.seen, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(server.opened_from, (std::vector<int64_t>{1, 3}));
}

TEST(IsRetryableWatchError, TransientOnly) {
  EXPECT_TRUE(IsRetryableWatchError(absl::UnavailableError("x")));
  EXPECT_TRUE(IsRetryableWatchError(absl::CancelledError("CANCELLED")));
  EXPECT_TRUE(IsRetryableWatchError(
      absl::InternalError("Received RST_STREAM with error code 2")));
  EXPECT_FALSE(IsRetryableWatchError(absl::InternalError("invariant")));
  EXPECT_FALSE(IsRetryableWatchError(absl::PermissionDeniedError("x")));
}

}  // namespace
}  // namespace condense::client
