#include "server/local_workers.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace condense::server {

absl::StatusOr<pid_t> PosixLauncher::Launch(
    const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  // Build everything before fork: the child may only call
  // async-signal-safe functions.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& e : env) env_strings.push_back(e);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(
        absl::StrCat("fork failed: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

LocalWorkers::LocalWorkers(LocalWorkersOptions options,
                           ProcessLauncher* launcher,
                           std::function<void()> on_restart)
    : options_(std::move(options)),
      launcher_(launcher),
      on_restart_(std::move(on_restart)) {}

LocalWorkers::~LocalWorkers() { Stop(std::chrono::milliseconds(0)); }

absl::Status LocalWorkers::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < options_.count; ++i) {
    auto pid = launcher_->Launch(options_.argv, options_.env);
    if (!pid.ok()) return pid.status();
    pids_.push_back(*pid);
    spdlog::info("event=local_worker_started index={} pid={}", i, *pid);
  }
  supervisor_ = std::thread([this] { Supervise(); });
  return absl::OkStatus();
}

void LocalWorkers::Supervise() {
  std::vector<std::chrono::milliseconds> delay(options_.count,
                                               options_.min_restart_delay);
  // A worker that ran a while before dying restarts with the short delay
  // again; only one that keeps dying at once backs off.
  std::vector<std::chrono::steady_clock::time_point> started(
      options_.count, std::chrono::steady_clock::now());
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    for (int i = 0; i < options_.count; ++i) {
      if (pids_[i] <= 0) continue;
      int status = 0;
      const pid_t done = waitpid(pids_[i], &status, WNOHANG);
      if (done != pids_[i]) continue;
      const std::string how = WIFSIGNALED(status)
                                  ? absl::StrCat("signal ", WTERMSIG(status))
                                  : absl::StrCat("exit ", WEXITSTATUS(status));
      spdlog::warn(
          "event=local_worker_died index={} pid={} how=\"{}\" "
          "restart_in_ms={}",
          i, pids_[i], how, delay[i].count());
      pids_[i] = 0;
      if (std::chrono::steady_clock::now() - started[i] >
          options_.max_restart_delay) {
        delay[i] = options_.min_restart_delay;
      }
      // Restart after the delay without holding the lock meanwhile.
      const auto wait = delay[i];
      delay[i] = std::min(delay[i] * 2, options_.max_restart_delay);
      if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
      auto pid = launcher_->Launch(options_.argv, options_.env);
      if (!pid.ok()) {
        spdlog::error("event=local_worker_restart_failed index={} error=\"{}\"",
                      i, pid.status().ToString());
        continue;
      }
      pids_[i] = *pid;
      started[i] = std::chrono::steady_clock::now();
      if (on_restart_) on_restart_();
      spdlog::info("event=local_worker_restarted index={} pid={}", i, *pid);
    }
    cv_.wait_for(lock, std::chrono::milliseconds(200),
                 [this] { return stopping_; });
  }
}

void LocalWorkers::Stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (supervisor_.joinable()) supervisor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (pid_t pid : pids_) {
    if (pid > 0) kill(pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (pid_t& pid : pids_) {
    while (pid > 0) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = 0;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        spdlog::warn("event=local_worker_killed pid={}", pid);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        pid = 0;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

std::vector<pid_t> LocalWorkers::pids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pids_;
}

}  // namespace condense::server
