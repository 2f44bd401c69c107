// condense-server: the API, the metadata and blob stores, the scheduler,
// /metrics, and (with --local-workers) the embedded worker processes.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codec/file_io.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/auth.h"
#include "server/blobs/blob_service.h"
#include "server/blobs/blob_store.h"
#include "server/clock.h"
#include "server/job_core.h"
#include "server/job_service.h"
#include "server/local_workers.h"
#include "server/long_poll.h"
#include "server/metrics/grpc_metrics.h"
#include "server/metrics/http_server.h"
#include "server/metrics/registry.h"
#include "server/model_service.h"
#include "server/server_metrics.h"
#include "server/store/metadata_store.h"
#include "server/web/web_view.h"
#include "server/worker_service.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace condense::server {
namespace {

struct Flags {
  std::string listen = "127.0.0.1:7350";
  std::string data_dir;
  std::string metrics_listen = "127.0.0.1:9350";
  std::string token_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  int local_workers = 0;
  std::string worker_binary;
  int worker_threads = 0;
  std::vector<std::string> worker_args;
  int64_t max_upload_bytes = int64_t{16} << 30;
  int max_queued_jobs = 1000;
  int max_attempts = 3;
  double lease_timeout = 30;
  double heartbeat_interval = 5;
  double shutdown_grace = 30;
  std::string port_file;
  bool check_torchscript_ops = true;
};

bool IsLoopback(const std::string& address) {
  return absl::StartsWith(address, "127.") ||
         absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string RandomToken() {
  std::random_device rd;
  std::string token;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&token, absl::StrFormat("%08x", rd()));
  }
  return token;
}

// The worker binary: the flag, else next to this binary (installed), else
// in the build tree's worker/ folder.
std::string FindWorkerBinary(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const auto& candidate :
       {self.parent_path() / "condense-worker",
        self.parent_path().parent_path() / "worker" / "condense-worker"}) {
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
  }
  return "condense-worker";
}

std::shared_ptr<grpc::ServerCredentials> Credentials(const Flags& flags) {
  if (flags.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      flags.tls_client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_key_cert_pairs.push_back(
      {ReadFile(flags.tls_key), ReadFile(flags.tls_cert)});
  if (!flags.tls_client_ca.empty()) {
    options.pem_root_certs = ReadFile(flags.tls_client_ca);
  }
  return grpc::SslServerCredentials(options);
}

int Fail(const absl::Status& status) {
  spdlog::critical("{}", status.ToString());
  return 1;
}

int Serve(const Flags& flags) {
  if (flags.data_dir.empty()) {
    return Fail(absl::InvalidArgumentError("--data-dir is required"));
  }
  if (flags.token_file.empty() && !IsLoopback(flags.listen)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "no --token-file: an open server listens on loopback only, not on ",
        flags.listen, "; give a token file (lines: TOKEN TENANT [worker])")));
  }
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return Fail(
        absl::InvalidArgumentError("--tls-cert and --tls-key go together"));
  }
  for (const std::string* file :
       {&flags.tls_cert, &flags.tls_key, &flags.tls_client_ca}) {
    if (!file->empty() && !std::filesystem::exists(*file)) {
      return Fail(absl::NotFoundError(absl::StrCat("cannot read ", *file)));
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);

  // Signals are handled by sigwait on the main thread only: block them
  // before any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Authenticator> auth;
  if (flags.token_file.empty()) {
    auth = std::make_unique<Authenticator>();
    spdlog::warn(
        "event=open_server listen={} message=\"no --token-file: every caller "
        "is tenant 'default'; listening on loopback only\"",
        flags.listen);
  } else {
    auto loaded = Authenticator::FromFile(flags.token_file);
    if (!loaded.ok()) return Fail(loaded.status());
    auth = *std::move(loaded);
  }
  auto store = MetadataStore::Open(
      (std::filesystem::path(flags.data_dir) / "metadata.db").string());
  if (!store.ok()) return Fail(store.status());
  auto blobs = BlobStore::Open(
      {(std::filesystem::path(flags.data_dir) / "blobs").string(),
       flags.max_upload_bytes});
  if (!blobs.ok()) return Fail(blobs.status());

  SystemClock clock;
  LongPoller poller(std::chrono::milliseconds(250));
  metrics::Registry registry;
  JobCoreOptions core_options;
  core_options.lease_timeout_seconds = flags.lease_timeout;
  core_options.heartbeat_interval_seconds = flags.heartbeat_interval;
  core_options.max_attempts = flags.max_attempts;
  core_options.max_queued_jobs = flags.max_queued_jobs;

  BlobService blob_service(blobs->get(), auth.get());
  WorkerService* worker_service_ptr = nullptr;
  ServerMetrics server_metrics(
      &registry, store->get(), blobs->get(), &blob_service,
      [&worker_service_ptr] {
        return worker_service_ptr ? worker_service_ptr->waiting_workers() : 0;
      });
  JobCore core(store->get(), blobs->get(), &clock, &poller, core_options,
               &server_metrics);
  const worker::KnownTorchOps torch_ops = flags.check_torchscript_ops
                                              ? worker::BuiltInTorchOps()
                                              : worker::KnownTorchOps{};
  if (torch_ops.names.empty()) {
    spdlog::info(
        "event=torchscript_ops_unchecked reason={}",
        flags.check_torchscript_ops ? "built_without_libtorch" : "flag");
  }
  ModelService model_service(store->get(), blobs->get(), auth.get(), &clock,
                             torch_ops);
  JobService job_service(&core, store->get(), &poller, auth.get(), &clock);
  WorkerService worker_service(&core, &poller, auth.get(), &clock);
  worker_service_ptr = &worker_service;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.listen, Credentials(flags), &port);
  builder.RegisterService(&blob_service);
  builder.RegisterService(&model_service);
  builder.RegisterService(&job_service);
  builder.RegisterService(&worker_service);
  // Uploads stream 1 MiB chunks; leave headroom over gRPC's 4 MiB default.
  builder.SetMaxReceiveMessageSize(8 << 20);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(metrics::NewGrpcMetricsInterceptorFactory(&registry));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot listen on ", flags.listen,
                     " (in use? pass another --listen, or port 0 for any)")));
  }
  // The web view shares the metrics port. An open server shows its jobs to
  // loopback callers only, as it does over gRPC.
  WebView web_view(store->get(), blobs->get(), auth.get());
  const bool web_on = !auth->open() || IsLoopback(flags.metrics_listen);
  if (!web_on) {
    spdlog::warn(
        "event=web_view_off metrics_listen={} message=\"an open server "
        "serves its web view on loopback only; give a token file\"",
        flags.metrics_listen);
  }
  std::unique_ptr<metrics::MetricsHttpServer> http;
  if (!flags.metrics_listen.empty()) {
    auto started = metrics::MetricsHttpServer::Start(
        flags.metrics_listen, &registry, web_on ? &web_view : nullptr);
    if (!started.ok()) return Fail(started.status());
    http = *std::move(started);
  }
  const std::string address =
      absl::StrCat(flags.listen.substr(0, flags.listen.rfind(':')), ":", port);
  spdlog::info("event=listening grpc={} metrics_port={} data_dir={}", address,
               http ? http->port() : 0, flags.data_dir);
  if (!flags.port_file.empty()) {
    // Atomic, so a test polling for the file never reads half of it.
    auto file = codec::NewAtomicFile(flags.port_file);
    if (!file.ok()) return Fail(file.status());
    auto st = (*file)->Append(
        absl::StrFormat("{\"grpc_port\": %d, \"metrics_port\": %d}\n", port,
                        http ? http->port() : 0));
    if (st.ok()) st = (*file)->Close();
    if (!st.ok()) return Fail(st);
  }

  // Leases of lost workers expire here.
  std::atomic<bool> stopping{false};
  std::thread expirer([&] {
    while (!stopping) {
      auto expired = core.ExpireLeases();
      if (!expired.ok()) {
        spdlog::error("event=expire_failed error=\"{}\"",
                      expired.status().ToString());
      } else if (*expired > 0) {
        server_metrics.OnLeasesExpired(*expired);
      }
      for (int i = 0; i < 10 && !stopping; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });

  PosixLauncher launcher;
  std::unique_ptr<LocalWorkers> workers;
  if (flags.local_workers > 0) {
    const std::string token = RandomToken();
    auth->AddToken(token, "@workers", true);
    const std::string connect = absl::StrCat("127.0.0.1:", port);
    LocalWorkersOptions options;
    options.count = flags.local_workers;
    options.argv = {
        FindWorkerBinary(flags.worker_binary), "--server", connect,
        "--cache-dir",
        (std::filesystem::path(flags.data_dir) / "worker-cache").string()};
    if (flags.worker_threads > 0) {
      options.argv.push_back("--threads");
      options.argv.push_back(absl::StrCat(flags.worker_threads));
    }
    for (const auto& a : flags.worker_args) options.argv.push_back(a);
    options.env = {absl::StrCat("CONDENSE_TOKEN=", token)};
    workers = std::make_unique<LocalWorkers>(
        options, &launcher, [&] { server_metrics.OnLocalWorkerRestarted(); });
    if (auto st = workers->Start(); !st.ok()) return Fail(st);
  }

  while (true) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      auto st = auth->Reload();
      if (st.ok()) {
        spdlog::info("event=tokens_reloaded file={}", flags.token_file);
      } else {
        spdlog::error(
            "event=tokens_reload_failed error=\"{}\" "
            "message=\"the previous tokens stay in force\"",
            st.ToString());
      }
      continue;
    }
    break;
  }
  spdlog::info("event=shutting_down grace_seconds={}", flags.shutdown_grace);
  // Probes see NOT_SERVING while the server drains.
  server->GetHealthCheckService()->SetServingStatus(false);
  worker_service.StopLeasing();
  if (workers) {
    workers->Stop(std::chrono::milliseconds(
        static_cast<int64_t>(flags.shutdown_grace * 1000)));
  }
  stopping = true;
  expirer.join();
  poller.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  http.reset();
  spdlog::info("event=stopped");
  return 0;
}

}  // namespace
}  // namespace condense::server

namespace {

int Main(int argc, char** argv) {
  condense::server::Flags flags;
  CLI::App app{
      "condense-server: Deep Compression as a service (gRPC API, scheduler, "
      "blob store, /metrics)"};
  app.add_option("--listen", flags.listen,
                 "gRPC address (host:port; port 0: any)")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Directory for the metadata database and blobs")
      ->required();
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "HTTP address for /metrics (empty: off)")
      ->capture_default_str();
  app.add_option("--token-file", flags.token_file,
                 "Bearer tokens: lines `TOKEN TENANT [worker]`; reloaded on "
                 "SIGHUP. Without it the server is open, on loopback only");
  app.add_option("--tls-cert", flags.tls_cert, "Server certificate (PEM)");
  app.add_option("--tls-key", flags.tls_key, "Server private key (PEM)");
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "CA for client certificates: turns on mutual TLS");
  app.add_option("--local-workers", flags.local_workers,
                 "Worker processes to run on this machine")
      ->check(CLI::Range(0, 64));
  app.add_option("--worker-binary", flags.worker_binary,
                 "condense-worker for --local-workers (default: beside this "
                 "binary)");
  app.add_option("--worker-threads", flags.worker_threads,
                 "LibTorch threads per local worker (0: one per core)");
  app.add_option("--worker-arg", flags.worker_args,
                 "Extra argument for local workers (repeatable)");
  app.add_option("--max-upload-bytes", flags.max_upload_bytes,
                 "Largest blob accepted")
      ->capture_default_str();
  app.add_option("--max-queued-jobs", flags.max_queued_jobs,
                 "Queued jobs per tenant")
      ->capture_default_str();
  app.add_option("--max-attempts", flags.max_attempts,
                 "Leases per job before it fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--lease-timeout", flags.lease_timeout,
                 "Seconds without a heartbeat before a lease expires")
      ->capture_default_str();
  app.add_option("--heartbeat-interval", flags.heartbeat_interval,
                 "Seconds between worker heartbeats")
      ->capture_default_str();
  app.add_option("--shutdown-grace", flags.shutdown_grace,
                 "Seconds local workers get to release their jobs on stop")
      ->capture_default_str();
  app.add_option("--port-file", flags.port_file,
                 "Write the bound ports here as JSON (for port 0)");
  app.add_option("--check-torchscript-ops", flags.check_torchscript_ops,
                 "Refuse at upload a TorchScript model calling an op this "
                 "build's LibTorch lacks (false when workers run another "
                 "LibTorch)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Logs go to stderr, one key=value line per event.
  spdlog::set_default_logger(spdlog::stderr_color_mt("condense-server"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  return condense::server::Serve(flags);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "condense-server: %s\n", e.what());
    return 1;
  }
}
