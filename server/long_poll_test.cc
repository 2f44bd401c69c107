#include "server/long_poll.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;

// Records what checks saw, and lets the test wait for it. Bounds are
// generous: they only keep a broken poller from hanging the test.
class Recorder {
 public:
  void Record(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(what);
    cv_.notify_all();
  }
  // Waits until `what` was recorded at least `n` times.
  bool WaitFor(const std::string& what, int n,
               milliseconds timeout = milliseconds(10000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return CountLocked(what) >= n; });
  }
  int Count(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    return CountLocked(what);
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

 private:
  int CountLocked(const std::string& what) const {
    int n = 0;
    for (const auto& s : log_) n += s == what ? 1 : 0;
    return n;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> log_;
};

TEST(LongPollerTest, CheckReturningTrueIsDropped) {
  Recorder rec;
  LongPoller poller(seconds(10));
  int calls = 0;  // Only the poller thread touches it.
  poller.Add([&](bool shutting_down) {
    if (shutting_down) {
      rec.Record("shutdown");
      return true;
    }
    ++calls;
    rec.Record("check");
    return calls == 3;
  });
  // Add wakes the poller: the first run needs no Wake.
  ASSERT_TRUE(rec.WaitFor("check", 1));
  poller.Wake();
  ASSERT_TRUE(rec.WaitFor("check", 2));
  poller.Wake();
  ASSERT_TRUE(rec.WaitFor("check", 3));
  // Dropped: more wakes do not run it, and shutdown does not see it.
  poller.Wake();
  poller.Wake();
  poller.Shutdown();
  EXPECT_EQ(rec.Count("check"), 3);
  EXPECT_EQ(rec.Count("shutdown"), 0);
}

TEST(LongPollerTest, WakeRunsChecksLongBeforeTheTick) {
  Recorder rec;
  LongPoller poller(seconds(10));
  std::atomic<bool> ready{false};
  poller.Add([&](bool shutting_down) {
    if (shutting_down) return true;
    // Read once: what it records is what it answers.
    const bool now_ready = ready.load();
    rec.Record(now_ready ? "ready" : "not ready");
    return now_ready;
  });
  ASSERT_TRUE(rec.WaitFor("not ready", 1));
  ready = true;
  poller.Wake();
  // Well under the 10 s tick: only a Wake can have run it.
  EXPECT_TRUE(rec.WaitFor("ready", 1, milliseconds(2000)));
}

TEST(LongPollerTest, TicksRunChecksWithoutWake) {
  Recorder rec;
  LongPoller poller(milliseconds(20));
  poller.Add([&](bool shutting_down) {
    if (shutting_down) return true;
    rec.Record("check");
    return false;
  });
  // One run comes from Add's wake; the rest only from the tick.
  EXPECT_TRUE(rec.WaitFor("check", 4));
}

TEST(LongPollerTest, ShutdownRunsEveryPendingCheckOnceWithShuttingDown) {
  Recorder rec;
  auto poller = std::make_unique<LongPoller>(seconds(10));
  for (const std::string name : {"a", "b", "c"}) {
    poller->Add([&rec, name](bool shutting_down) {
      rec.Record(name + (shutting_down ? ":down" : ":up"));
      return shutting_down;
    });
  }
  ASSERT_TRUE(rec.WaitFor("c:up", 1));
  poller->Shutdown();
  EXPECT_EQ(rec.Count("a:down"), 1);
  EXPECT_EQ(rec.Count("b:down"), 1);
  EXPECT_EQ(rec.Count("c:down"), 1);
  // A second Shutdown (the destructor's) runs nothing again.
  poller->Shutdown();
  poller.reset();
  EXPECT_EQ(rec.Count("a:down"), 1);
  EXPECT_EQ(rec.Count("b:down"), 1);
  EXPECT_EQ(rec.Count("c:down"), 1);
}

TEST(LongPollerTest, DestructorShutsDown) {
  Recorder rec;
  {
    LongPoller poller(seconds(10));
    poller.Add([&](bool shutting_down) {
      rec.Record(shutting_down ? "down" : "up");
      return shutting_down;
    });
    ASSERT_TRUE(rec.WaitFor("up", 1));
  }
  EXPECT_EQ(rec.Count("down"), 1);
}

TEST(LongPollerTest, AddAfterShutdownRunsAtOnceWithShuttingDown) {
  LongPoller poller(seconds(10));
  poller.Shutdown();
  int calls = 0;
  bool saw = false;
  poller.Add([&](bool shutting_down) {
    ++calls;
    saw = shutting_down;
    return true;
  });
  // Run on this thread, before Add returned.
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(saw);
}

TEST(LongPollerTest, ChecksRunInFifoOrderWithinAPass) {
  Recorder rec;
  LongPoller poller(seconds(10));
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool open = false;
  poller.Add([&](bool shutting_down) {
    if (shutting_down) return true;
    rec.Record("old");
    return false;
  });
  // Holds the poller inside a pass while newer checks arrive.
  poller.Add([&](bool shutting_down) {
    if (shutting_down) return true;
    rec.Record("blocker");
    std::unique_lock<std::mutex> lock(gate_mu);
    gate_cv.wait(lock, [&] { return open; });
    return true;
  });
  ASSERT_TRUE(rec.WaitFor("blocker", 1));
  for (const std::string name : {"n1", "n2", "n3"}) {
    poller.Add([&rec, name](bool shutting_down) {
      if (!shutting_down) rec.Record(name);
      return true;
    });
  }
  const size_t before = rec.log().size();
  {
    std::lock_guard<std::mutex> lock(gate_mu);
    open = true;
  }
  gate_cv.notify_all();
  ASSERT_TRUE(rec.WaitFor("n3", 1));
  poller.Shutdown();
  std::vector<std::string> log = rec.log();
  ASSERT_GE(log.size(), before + 4);
  // The next pass: the older waiter first, then the new ones as added.
  EXPECT_THAT(
      std::vector<std::string>(log.begin() + before, log.begin() + before + 4),
      ElementsAre("old", "n1", "n2", "n3"));
}

}  // namespace
}  // namespace condense::server
