// LongPoller: one thread that drives calls that wait for something (a job to
// lease, a job to finish, new events to stream) without blocking gRPC's
// callback threads. A waiter is a check function; the poller runs every
// waiter's check when woken (something changed) and at least every `tick`,
// and drops the waiter once its check returns true.
//
// Thread-safe. Checks run on the poller thread only, one at a time; a check
// must not call Add or Wake re-entrantly (it may call them from elsewhere).
#ifndef CONDENSE_SERVER_LONG_POLL_H_
#define CONDENSE_SERVER_LONG_POLL_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace condense::server {

class LongPoller {
 public:
  // `shutting_down`: the server is stopping; the check must finish its call
  // now and return true.
  using Check = std::function<bool(bool shutting_down)>;

  explicit LongPoller(std::chrono::milliseconds tick);
  ~LongPoller();  // Calls Shutdown.

  void Add(Check check);
  // Something changed: run the checks soon.
  void Wake();
  // Runs every check once with shutting_down = true and stops the thread.
  // Later Adds are run at once with shutting_down = true.
  void Shutdown();

 private:
  void Loop();

  const std::chrono::milliseconds tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Check> waiters_;  // Guarded by mu_.
  bool woken_ = false;        // Guarded by mu_.
  bool stopping_ = false;     // Guarded by mu_.
  std::thread thread_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_LONG_POLL_H_
