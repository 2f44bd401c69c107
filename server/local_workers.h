// LocalWorkers: the embedded default's worker processes. Starts N
// condense-worker processes pointed at this server, restarts any that dies
// (with a backoff, so a worker that cannot start does not spin), and stops
// them on shutdown: SIGTERM (each releases its job, which resumes from its
// last checkpoint elsewhere), then SIGKILL after the grace period.
//
// Process creation goes through a ProcessLauncher so tests can replace it.
// Thread-safe.
#ifndef CONDENSE_SERVER_LOCAL_WORKERS_H_
#define CONDENSE_SERVER_LOCAL_WORKERS_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace condense::server {

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts argv with extra environment entries ("K=V"); returns the pid.
  virtual absl::StatusOr<pid_t> Launch(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& env) = 0;
};

// fork + exec, the child in its own process group so a terminal's ^C
// reaches the server first (which then stops the workers in order).
class PosixLauncher : public ProcessLauncher {
 public:
  absl::StatusOr<pid_t> Launch(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) override;
};

struct LocalWorkersOptions {
  int count = 0;
  std::vector<std::string> argv;  // condense-worker and its flags.
  std::vector<std::string> env;   // e.g. CONDENSE_TOKEN=...
  std::chrono::milliseconds min_restart_delay{500};
  std::chrono::milliseconds max_restart_delay{30000};
};

class LocalWorkers {
 public:
  LocalWorkers(LocalWorkersOptions options, ProcessLauncher* launcher,
               std::function<void()> on_restart);
  ~LocalWorkers();  // Stop(0) if still running.

  // Launches the workers and starts supervising.
  absl::Status Start();
  // SIGTERM to all, wait up to `grace`, then SIGKILL; no more restarts.
  void Stop(std::chrono::milliseconds grace);

  std::vector<pid_t> pids() const;

 private:
  void Supervise();

  const LocalWorkersOptions options_;
  ProcessLauncher* launcher_;
  std::function<void()> on_restart_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<pid_t> pids_;  // Guarded by mu_; 0 while waiting to restart.
  bool stopping_ = false;    // Guarded by mu_.
  std::thread supervisor_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_LOCAL_WORKERS_H_
