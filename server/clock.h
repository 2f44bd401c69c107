// Time as the server's cores see it, replaceable in tests. Thread-safe.
#ifndef CONDENSE_SERVER_CLOCK_H_
#define CONDENSE_SERVER_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace condense::server {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 1'000'000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void AdvanceMs(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_CLOCK_H_
