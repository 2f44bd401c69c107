#include "worker/leased_job.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/artifacts.h"
#include "client/rpc/blob_transfer.h"
#include "nlohmann/json.hpp"
#include "proto/grpc_status.h"
#include "proto/retry_policy.h"
#include "spdlog/spdlog.h"
#include "worker/engine/engine.h"
#include "worker/job_events.h"
#include "worker/model_format_mapping.h"
#include "worker/spec_config.h"

namespace condense::worker {

namespace fs = std::filesystem;
namespace iv1 = ::condense::internal::v1;

namespace {

// Calls `rpc` until it answers something other than UNAVAILABLE (the server
// restarting) or `patience` has passed.
template <typename Rpc>
grpc::Status WithRetry(Rpc rpc, std::chrono::seconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (int retries = 1;; ++retries) {
    grpc::Status status = rpc();
    const auto delay = absl::ToChronoMilliseconds(retry::Backoff(retries));
    if (!retry::IsTransientError(api::FromGrpcStatus(status)) ||
        std::chrono::steady_clock::now() + delay > deadline) {
      return status;
    }
    std::this_thread::sleep_for(delay);
  }
}

std::string JobId(const std::string& name) {
  const auto slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

// Same file without copying when the cache and the job share a disk.
absl::Status LinkOrCopy(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::remove(to, ec);
  fs::create_hard_link(from, to, ec);
  if (!ec) return absl::OkStatus();
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot copy ", from, " to ", to, ": ", ec.message()));
  }
  return absl::OkStatus();
}

bool Retryable(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAborted:
      return false;
    default:
      return true;
  }
}

// Forwards engine events to the publisher and uploads each stage
// checkpoint as it is saved, so a requeued job resumes from it.
class JobObserver : public engine::ProgressObserver {
 public:
  JobObserver(EventPublisher* publisher, const client::Connection* connection,
              iv1::Worker::Stub* stub, std::string lease_id,
              std::string job_name)
      : publisher_(publisher),
        connection_(connection),
        stub_(stub),
        lease_id_(std::move(lease_id)),
        job_name_(std::move(job_name)) {}

  void OnEvent(const engine::ProgressEvent& event) override {
    publisher_->OnEvent(event);
    if (event.kind != engine::ProgressEvent::Kind::kCheckpointSaved) return;
    const int stages_done = event.stage_index + 1;
    // The stage's own events first, so the log reads in order.
    publisher_->Flush(std::chrono::seconds(30));
    auto digest = client::UploadFile(*connection_, event.message);
    if (!digest.ok()) {
      spdlog::warn("job={} event=checkpoint_upload_failed error=\"{}\"",
                   job_name_, digest.status().ToString());
      return;
    }
    iv1::SaveCheckpointRequest request;
    request.set_lease_id(lease_id_);
    *request.mutable_checkpoint() = *digest;
    request.set_stages_done(stages_done);
    grpc::Status status = WithRetry(
        [&] {
          iv1::SaveCheckpointResponse response;
          auto context = connection_->NewContext(std::chrono::seconds(30));
          return stub_->SaveCheckpoint(context.get(), request, &response);
        },
        std::chrono::seconds(60));
    if (status.ok()) {
      spdlog::info("job={} event=checkpoint_saved stages_done={}", job_name_,
                   stages_done);
    } else {
      spdlog::warn("job={} event=checkpoint_record_failed error=\"{}\"",
                   job_name_, status.error_message());
    }
  }

 private:
  EventPublisher* publisher_;
  const client::Connection* connection_;
  iv1::Worker::Stub* stub_;
  const std::string lease_id_;
  const std::string job_name_;
};

}  // namespace

LeasedJob::LeasedJob(const client::Connection* connection,
                     iv1::LeaseResponse lease, LeasedJobOptions options)
    : connection_(connection),
      stub_(iv1::Worker::NewStub(connection->channel())),
      lease_(std::move(lease)),
      options_(std::move(options)),
      job_dir_((fs::path(options_.cache_dir) / "jobs" / JobId(lease_.job()))
                   .string()) {}

absl::StatusOr<std::string> LeasedJob::Fetch(const v1::Digest& digest) {
  const std::string path =
      (fs::path(options_.cache_dir) / "blobs" /
       absl::StrCat(digest.sha256(), "_", digest.size_bytes()))
          .string();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (fs::exists(path, ec)) {
    // Cached: check it is still what it claims to be.
    auto local = client::DigestFile(path);
    if (local.ok() && local->sha256() == digest.sha256() &&
        local->size_bytes() == digest.size_bytes()) {
      return path;
    }
    fs::remove(path, ec);
  }
  // Local workers share one cache: download under a name of this process,
  // then rename (atomic; a concurrent copy of the same bytes may win).
  const std::string mine = absl::StrCat(path, ".", getpid());
  if (auto st = client::DownloadBlob(*connection_, digest, mine); !st.ok()) {
    return st;
  }
  fs::rename(mine, path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot move ", mine, " into the cache: ", ec.message()));
  }
  return path;
}

absl::Status LeasedJob::FetchInputs(std::string* model_path,
                                    std::string* data_dir, std::string* train,
                                    std::string* eval) {
  std::error_code ec;
  for (const char* sub : {"inputs", "data", "out"}) {
    fs::remove_all(fs::path(job_dir_) / sub, ec);
    fs::create_directories(fs::path(job_dir_) / sub, ec);
  }
  const v1::Model& record = lease_.model();
  if (record.files().empty()) {
    auto model = Fetch(record.blob());
    if (!model.ok()) return model.status();
    *model_path = (fs::path(job_dir_) / "inputs" / "model").string();
    if (auto st = LinkOrCopy(*model, *model_path); !st.ok()) return st;
  } else {
    // A model of several files, laid out as they were uploaded: the
    // checkpoint's directory (sharded safetensors), or the .onnx file with
    // its external data beside it.
    const fs::path dir = fs::path(job_dir_) / "inputs" / "model";
    fs::create_directories(dir, ec);
    *model_path = dir.string();
    for (const v1::Model::File& file : record.files()) {
      auto cached = Fetch(file.blob());
      if (!cached.ok()) return cached.status();
      const std::string to = (dir / file.path()).string();
      if (auto st = LinkOrCopy(*cached, to); !st.ok()) return st;
      // The server let exactly one ONNX file through.
      if (record.format() == v1::Model::ONNX &&
          absl::EndsWithIgnoreCase(file.path(), ".onnx")) {
        *model_path = to;
      }
    }
  }
  if (lease_.has_dataset()) {
    const fs::path dir = fs::path(job_dir_) / "data";
    for (const auto& file : lease_.dataset().files()) {
      auto cached = Fetch(file.blob());
      if (!cached.ok()) return cached.status();
      if (auto st = LinkOrCopy(*cached, (dir / file.path()).string());
          !st.ok()) {
        return st;
      }
    }
    if (lease_.dataset().train_file().empty()) {
      *data_dir = dir.string();
    } else {
      *train = (dir / lease_.dataset().train_file()).string();
      if (!lease_.dataset().eval_file().empty()) {
        *eval = (dir / lease_.dataset().eval_file()).string();
      }
    }
  }
  const fs::path ckpt = fs::path(job_dir_) / "checkpoint";
  fs::remove_all(ckpt, ec);
  fs::create_directories(ckpt, ec);
  if (lease_.has_checkpoint()) {
    auto cached = Fetch(lease_.checkpoint());
    if (!cached.ok()) return cached.status();
    if (auto st = LinkOrCopy(*cached, (ckpt / "checkpoint.pt").string());
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

void LeasedJob::Heartbeats() {
  const auto interval = std::chrono::milliseconds(static_cast<int64_t>(
      std::max(0.2, lease_.heartbeat_interval_seconds()) * 1000));
  auto next = std::chrono::steady_clock::now() + interval;
  while (!done_) {
    if (std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    next = std::chrono::steady_clock::now() + interval;
    iv1::HeartbeatRequest request;
    request.set_lease_id(lease_.lease_id());
    iv1::HeartbeatResponse response;
    auto context = connection_->NewContext(interval);
    grpc::Status status = stub_->Heartbeat(context.get(), request, &response);
    if (status.ok() && response.action() == iv1::HeartbeatResponse::CANCEL) {
      if (!cancel_requested_.exchange(true)) {
        spdlog::info("job={} event=cancel_received", lease_.job());
      }
      cancel_.Cancel();
    } else if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      spdlog::warn("job={} event=lease_lost message=\"{}\"", lease_.job(),
                   status.error_message());
      lease_lost_ = true;
      cancel_.Cancel();
    }
    // UNAVAILABLE and the like: the server may be restarting; keep trying
    // until the lease says otherwise.
  }
}

absl::Status LeasedJob::UploadArtifacts(const std::string& out_dir,
                                        v1::JobResult* result) {
  const auto upload = [&](const std::string& name) -> absl::Status {
    auto digest =
        client::UploadFile(*connection_, (fs::path(out_dir) / name).string());
    if (!digest.ok()) return digest.status();
    v1::Artifact* artifact = result->add_artifacts();
    artifact->set_file_name(name);
    *artifact->mutable_blob() = *digest;
    return absl::OkStatus();
  };
  std::error_code ec;
  for (const char* name : artifacts::kAll) {
    if (!fs::exists(fs::path(out_dir) / name, ec)) continue;
    if (auto st = upload(name); !st.ok()) return st;
  }
  // A sharded checkpoint's decoded shards and index, as
  // "model-shards/FILE", in name order.
  const fs::path shards = fs::path(out_dir) / artifacts::kShardedSafetensors;
  if (fs::is_directory(shards, ec)) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(shards, ec)) {
      if (e.is_regular_file()) names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      if (auto st =
              upload(absl::StrCat(artifacts::kShardedSafetensors, "/", n));
          !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

void LeasedJob::ReportFailure(const absl::Status& status) {
  if (lease_lost_) return;  // Nothing to report: the job is not ours.
  iv1::FailRequest request;
  request.set_lease_id(lease_.lease_id());
  request.mutable_error()->set_code(static_cast<int>(status.code()));
  const std::string message(status.message());
  request.mutable_error()->set_message(message);
  request.set_release(released_ && !cancel_requested_);
  request.set_retryable(Retryable(status.code()));
  grpc::Status sent = WithRetry(
      [&] {
        iv1::FailResponse response;
        auto context = connection_->NewContext(std::chrono::seconds(30));
        return stub_->Fail(context.get(), request, &response);
      },
      std::chrono::seconds(released_ ? 10 : 300));
  if (!sent.ok()) {
    spdlog::warn("job={} event=fail_report_failed error=\"{}\"", lease_.job(),
                 sent.error_message());
  }
}

void LeasedJob::Run() {
  spdlog::info("job={} event=started attempt={} lease={}", lease_.job(),
               lease_.attempt(), lease_.lease_id());
  std::thread heartbeat([this] { Heartbeats(); });
  absl::Status status;
  {
    EventPublisher publisher(connection_, lease_.lease_id());
    JobObserver observer(&publisher, connection_, stub_.get(),
                         lease_.lease_id(), lease_.job());
    engine::RunInputs inputs;
    // The record's format picks the model source, whatever the file name.
    inputs.model_format =
        engine::ModelFormatName(ToEngineFormat(lease_.model().format()));
    status = FetchInputs(&inputs.model_path, &inputs.data_dir,
                         &inputs.train_data, &inputs.eval_data);
    if (!status.ok()) {
      // The inputs were checked when they were registered: failing to
      // fetch them is this machine's or the network's fault, worth a retry.
      status = absl::UnavailableError(
          absl::StrCat("fetching the job's inputs: ", status.message()));
    }
    v1::CompressionSpec spec = lease_.spec();
    if (options_.device != "auto") spec.set_device(options_.device);
    auto config = ToEngineConfig(spec);
    if (status.ok() && !config.ok()) status = config.status();
    absl::StatusOr<engine::RunOutputs> outputs =
        absl::FailedPreconditionError("not run");
    if (status.ok()) {
      inputs.out_dir = (fs::path(job_dir_) / "out").string();
      inputs.checkpoint_dir = (fs::path(job_dir_) / "checkpoint").string();
      inputs.threads = options_.threads;
      outputs = engine::RunCompression(*config, inputs, &observer, &cancel_);
      status = outputs.status();
    }
    v1::JobResult result;
    if (status.ok()) {
      const nlohmann::json& report = outputs->report;
      result.set_report_json(report.dump());
      result.set_ratio(report["totals"].value("compression_ratio", 0.0));
      const nlohmann::json& acc = report["accuracy"];
      result.set_accuracy_before(acc.contains("baseline") &&
                                         acc["baseline"].is_number()
                                     ? acc["baseline"].get<double>()
                                     : -1);
      result.set_accuracy_after(acc.contains("final") &&
                                        acc["final"].is_number()
                                    ? acc["final"].get<double>()
                                    : -1);
      status = UploadArtifacts(inputs.out_dir, &result);
    }
    // Events first, so a watcher sees the run's end before its state.
    publisher.Flush(std::chrono::seconds(30));
    if (status.ok()) {
      iv1::CompleteRequest request;
      request.set_lease_id(lease_.lease_id());
      *request.mutable_result() = result;
      grpc::Status sent = WithRetry(
          [&] {
            iv1::CompleteResponse response;
            auto context = connection_->NewContext(std::chrono::seconds(30));
            return stub_->Complete(context.get(), request, &response);
          },
          std::chrono::seconds(300));
      if (sent.ok()) {
        spdlog::info("job={} event=completed ratio={:.1f}", lease_.job(),
                     result.ratio());
      } else {
        spdlog::error("job={} event=complete_failed error=\"{}\"", lease_.job(),
                      sent.error_message());
      }
    } else {
      spdlog::warn("job={} event=failed error=\"{}\"", lease_.job(),
                   status.ToString());
      ReportFailure(status);
    }
  }
  done_ = true;
  heartbeat.join();
  std::error_code ec;
  // Outputs and inputs are on the server now; keep the cache of blobs.
  for (const char* sub : {"inputs", "data", "out"}) {
    fs::remove_all(fs::path(job_dir_) / sub, ec);
  }
}

}  // namespace condense::worker
