#include "server/local_workers.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace condense::server {
namespace {

using std::chrono::milliseconds;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Gt;

// `exec` so that the shell's pid is the sleeping process: a signal to the
// pid reaches it and nothing is left behind.
const char kSleep[] = "exec sleep 30";

// Launches `/bin/sh -c SCRIPT` with posix_spawn, the script chosen per call
// (the last one repeats), and records what it was asked to run.
class FakeLauncher : public ProcessLauncher {
 public:
  explicit FakeLauncher(std::vector<std::string> scripts)
      : scripts_(std::move(scripts)) {}

  absl::StatusOr<pid_t> Launch(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string script = scripts_[std::min(calls_.size(), scripts_.size() - 1)];
    calls_.push_back(argv);
    envs_.push_back(env);
    std::vector<std::string> args = {"/bin/sh", "-c", std::move(script)};
    std::vector<char*> cargs;
    cargs.reserve(args.size() + 1);
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    pid_t pid = 0;
    const int err =
        posix_spawn(&pid, "/bin/sh", nullptr, nullptr, cargs.data(), environ);
    if (err != 0) return absl::InternalError("posix_spawn failed");
    pids_.push_back(pid);
    return pid;
  }

  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(calls_.size());
  }
  std::vector<std::vector<std::string>> argvs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<std::vector<std::string>> envs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return envs_;
  }
  std::vector<pid_t> pids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pids_;
  }

 private:
  const std::vector<std::string> scripts_;
  mutable std::mutex mu_;
  std::vector<std::vector<std::string>> calls_;  // Guarded by mu_.
  std::vector<std::vector<std::string>> envs_;   // Guarded by mu_.
  std::vector<pid_t> pids_;                      // Guarded by mu_.
};

LocalWorkersOptions Options(int count) {
  LocalWorkersOptions options;
  options.count = count;
  options.argv = {"condense-worker", "--server=127.0.0.1:1"};
  options.env = {"CONDENSE_TOKEN=secret"};
  options.min_restart_delay = milliseconds(50);
  options.max_restart_delay = milliseconds(200);
  return options;
}

// Polls `done` for up to 10 s; generous, it only stops a hang.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(10000);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// True once `pid` was reaped: it is no longer our child.
bool Reaped(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD;
}

TEST(LocalWorkersTest, StartLaunchesCountWorkersWithArgvAndEnv) {
  FakeLauncher launcher({kSleep});
  LocalWorkers workers(Options(3), &launcher, nullptr);
  ASSERT_TRUE(workers.Start().ok());
  EXPECT_EQ(launcher.calls(), 3);
  EXPECT_THAT(launcher.argvs(),
              Each(ElementsAre("condense-worker", "--server=127.0.0.1:1")));
  EXPECT_THAT(launcher.envs(), Each(ElementsAre("CONDENSE_TOKEN=secret")));
  EXPECT_EQ(workers.pids(), launcher.pids());
  EXPECT_THAT(workers.pids(), Each(Gt(0)));
  workers.Stop(milliseconds(5000));
  for (pid_t pid : launcher.pids()) EXPECT_TRUE(Reaped(pid)) << pid;
}

TEST(LocalWorkersTest, DeadWorkerIsRestarted) {
  // The second of two workers dies at once; its replacement stays up.
  FakeLauncher launcher({kSleep, "exit 3", kSleep});
  std::atomic<int> restarts{0};
  LocalWorkers workers(Options(2), &launcher, [&] { ++restarts; });
  ASSERT_TRUE(workers.Start().ok());
  const std::vector<pid_t> first = launcher.pids();
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(Eventually([&] { return restarts.load() >= 1; }));
  EXPECT_EQ(launcher.calls(), 3);
  const std::vector<pid_t> now = workers.pids();
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0], first[0]);  // The healthy one is left alone.
  EXPECT_NE(now[1], first[1]);
  EXPECT_EQ(now[1], launcher.pids()[2]);
  EXPECT_TRUE(Reaped(first[1]));
  workers.Stop(milliseconds(5000));
  EXPECT_EQ(restarts.load(), 1);
  for (pid_t pid : launcher.pids()) EXPECT_TRUE(Reaped(pid)) << pid;
}

// A fresh directory for one test's marker files.
std::filesystem::path TestDir() {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      absl::StrCat(
          "local_workers_test_", getpid(), "_",
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(LocalWorkersTest, StopSendsSigtermAndReaps) {
  const std::filesystem::path dir = TestDir();
  const std::string ready = (dir / "ready").string();
  const std::string term = (dir / "term").string();
  // Records that it got SIGTERM, then exits. The loop lets the shell run
  // the trap (it runs traps between commands); `ready` says the trap is set.
  FakeLauncher launcher(
      {absl::StrCat("trap 'echo term > ", term, "; exit 0' TERM; touch ", ready,
                    "; while :; do sleep 0.05; done")});
  LocalWorkers workers(Options(1), &launcher, nullptr);
  ASSERT_TRUE(workers.Start().ok());
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(ready); }));
  const auto start = std::chrono::steady_clock::now();
  workers.Stop(milliseconds(20000));
  // Far below the grace: the worker exited on SIGTERM, no SIGKILL needed.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(10000));
  EXPECT_TRUE(Reaped(launcher.pids()[0]));
  std::ifstream in(term);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "term");
  std::filesystem::remove_all(dir);
}

TEST(LocalWorkersTest, WorkerIgnoringSigtermIsKilledAfterGrace) {
  const std::filesystem::path dir = TestDir();
  const std::string ready = (dir / "ready").string();
  // Ignored signals stay ignored across exec.
  FakeLauncher launcher(
      {absl::StrCat("trap '' TERM; touch ", ready, "; exec sleep 30")});
  LocalWorkers workers(Options(1), &launcher, nullptr);
  ASSERT_TRUE(workers.Start().ok());
  ASSERT_TRUE(Eventually([&] { return std::filesystem::exists(ready); }));
  const auto start = std::chrono::steady_clock::now();
  workers.Stop(milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - start;
  // It outlived SIGTERM, so Stop waited out the grace...
  EXPECT_GE(took, milliseconds(200));
  // ...and then killed it: it would otherwise sleep for 30 s.
  EXPECT_LT(took, milliseconds(10000));
  EXPECT_TRUE(Reaped(launcher.pids()[0]));
  EXPECT_EQ(launcher.calls(), 1);
  std::filesystem::remove_all(dir);
}

TEST(LocalWorkersTest, NoRestartsAfterStop) {
  FakeLauncher launcher({kSleep});
  std::atomic<int> restarts{0};
  LocalWorkers workers(Options(2), &launcher, [&] { ++restarts; });
  ASSERT_TRUE(workers.Start().ok());
  workers.Stop(milliseconds(5000));
  // Several supervision rounds' worth of time.
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_EQ(launcher.calls(), 2);
  EXPECT_EQ(restarts.load(), 0);
  workers.Stop(milliseconds(5000));  // A second Stop is a no-op.
}

TEST(LocalWorkersTest, StopDuringRestartDelayDoesNotRelaunch) {
  FakeLauncher launcher({"exit 1"});
  std::atomic<int> restarts{0};
  LocalWorkersOptions options = Options(1);
  options.min_restart_delay = milliseconds(60000);
  options.max_restart_delay = milliseconds(60000);
  LocalWorkers workers(options, &launcher, [&] { ++restarts; });
  ASSERT_TRUE(workers.Start().ok());
  // The supervisor saw the death and is waiting out the delay.
  ASSERT_TRUE(Eventually([&] { return workers.pids() == std::vector{0}; }));
  const auto start = std::chrono::steady_clock::now();
  workers.Stop(milliseconds(5000));
  // Stop cut the 60 s delay short.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(launcher.calls(), 1);
  EXPECT_EQ(restarts.load(), 0);
}

TEST(LocalWorkersTest, DestructorStopsWorkers) {
  FakeLauncher launcher({kSleep});
  {
    LocalWorkers workers(Options(2), &launcher, nullptr);
    ASSERT_TRUE(workers.Start().ok());
  }
  for (pid_t pid : launcher.pids()) EXPECT_TRUE(Reaped(pid)) << pid;
}

TEST(PosixLauncherTest, PassesEnvironmentAndStartsAProcessGroup) {
  PosixLauncher launcher;
  // Exit 0 only when the variable arrived and the child leads its own
  // process group (field 5 of /proc/self/stat).
  auto pid =
      launcher.Launch({"/bin/sh", "-c",
                       "test \"$CONDENSE_TEST_VALUE\" = hello && "
                       "test \"$(cut -d' ' -f5 /proc/$$/stat)\" = \"$$\""},
                      {"CONDENSE_TEST_VALUE=hello"});
  ASSERT_TRUE(pid.ok()) << pid.status();
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(PosixLauncherTest, MissingProgramExits127) {
  PosixLauncher launcher;
  auto pid = launcher.Launch({"/nonexistent/condense-worker"}, {});
  ASSERT_TRUE(pid.ok()) << pid.status();
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127);
}

}  // namespace
}  // namespace condense::server
