#include "worker/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "condense/internal/v1/worker.grpc.pb.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "worker/engine/engine.h"
#include "worker/leased_job.h"

namespace condense::worker {
namespace {

namespace iv1 = ::condense::internal::v1;

std::string DefaultCacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return absl::StrCat(xdg, "/condense-worker");
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return absl::StrCat(home, "/.cache/condense-worker");
  }
  return "/tmp/condense-worker";
}

iv1::WorkerInfo Describe(const ServeFlags& flags) {
  iv1::WorkerInfo info;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  info.set_worker_id(flags.name.empty() ? absl::StrCat(host, ":", getpid())
                                        : flags.name);
  info.set_version(engine::EngineVersion());
  info.set_cpu_cores(static_cast<int>(std::thread::hardware_concurrency()));
  info.set_memory_bytes(static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) *
                        sysconf(_SC_PAGE_SIZE));
  info.set_device(flags.device);
  return info;
}

// What the signal thread and the lease loop share.
struct Shared {
  std::mutex mu;
  grpc::ClientContext* lease_call = nullptr;  // Guarded by mu.
  LeasedJob* job = nullptr;                   // Guarded by mu.
  std::atomic<bool> stopping{false};
  std::atomic<bool> exiting{false};
};

}  // namespace

int ServeCommand(const ServeFlags& flags) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("condense-worker"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ worker %v");
  auto connection = client::Connection::Create(
      client::WithEnvironmentDefaults(flags.connection));
  if (!connection.ok()) {
    spdlog::critical("{}", connection.status().ToString());
    return 2;
  }
  LeasedJobOptions job_options;
  job_options.cache_dir =
      flags.cache_dir.empty() ? DefaultCacheDir() : flags.cache_dir;
  job_options.device = flags.device;
  job_options.threads = flags.threads;
  const iv1::WorkerInfo info = Describe(flags);
  job_options.worker_name = info.worker_id();
  std::error_code ec;
  std::filesystem::create_directories(job_options.cache_dir, ec);

  // SIGTERM/SIGINT are taken by a thread of their own (blocked everywhere
  // else) so that stopping can cancel a call and release a job safely.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Shared shared;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (shared.exiting) return;  // Woken by the main loop to exit.
    spdlog::info("event=stopping signal={}", sig);
    shared.stopping = true;
    std::lock_guard<std::mutex> lock(shared.mu);
    if (shared.lease_call != nullptr) shared.lease_call->TryCancel();
    if (shared.job != nullptr) shared.job->Release();
  });

  auto stub = iv1::Worker::NewStub((*connection)->channel());
  spdlog::info("event=serving server={} id={} version=\"{}\" cache={}",
               (*connection)->address(), info.worker_id(), info.version(),
               job_options.cache_dir);
  auto backoff = std::chrono::milliseconds(500);
  int jobs = 0;
  while (!shared.stopping) {
    iv1::LeaseRequest request;
    *request.mutable_worker() = info;
    request.set_wait_seconds(20);
    iv1::LeaseResponse lease;
    auto context = (*connection)->NewContext(std::chrono::seconds(30));
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.lease_call = context.get();
    }
    grpc::Status status = shared.stopping
                              ? grpc::Status(grpc::StatusCode::CANCELLED, "")
                              : stub->Lease(context.get(), request, &lease);
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.lease_call = nullptr;
    }
    if (shared.stopping) break;
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        spdlog::critical("event=refused error=\"{}\"", status.error_message());
        break;
      }
      spdlog::warn("event=server_unreachable error=\"{}\" retry_ms={}",
                   status.error_message(), backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
      continue;
    }
    backoff = std::chrono::milliseconds(500);
    if (lease.lease_id().empty()) continue;
    LeasedJob job(connection->get(), lease, job_options);
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.job = &job;
      if (shared.stopping) job.Release();
    }
    job.Run();
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.job = nullptr;
    }
    if (flags.max_jobs > 0 && ++jobs >= flags.max_jobs) break;
  }
  // Wake the signal thread if no signal came.
  shared.exiting = true;
  // (The signal is blocked in every thread; sigwait takes it.)
  kill(getpid(), SIGTERM);
  signal_thread.join();
  spdlog::info("event=stopped");
  return 0;
}

}  // namespace condense::worker
