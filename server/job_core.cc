#include "server/job_core.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/artifacts.h"
#include "proto/spec_util.h"
#include "worker/engine/requirements.h"
#include "worker/model_format_mapping.h"
#include "worker/spec_config.h"

namespace condense::server {

namespace iv1 = ::condense::internal::v1;

namespace {

BlobDigest ToBlobDigest(const v1::Digest& d) {
  return BlobDigest{d.sha256(), d.size_bytes()};
}

}  // namespace

JobCore::JobCore(MetadataStore* store, BlobStore* blobs, const Clock* clock,
                 LongPoller* poller, JobCoreOptions options,
                 JobObserver* observer)
    : store_(store),
      blobs_(blobs),
      clock_(clock),
      poller_(poller),
      options_(options),
      observer_(observer) {}

int64_t JobCore::DeadlineMs() const {
  return clock_->NowMs() +
         static_cast<int64_t>(options_.lease_timeout_seconds * 1000);
}

void JobCore::Changed(const JobChange& change) {
  if (observer_ != nullptr) observer_->OnJobChanged(change.job);
  if (poller_ != nullptr) poller_->Wake();
}

absl::StatusOr<v1::Job> JobCore::CreateJob(
    const Caller& caller, const v1::CreateJobRequest& request) {
  if (request.model().empty()) {
    return absl::InvalidArgumentError(
        "model is required: upload one (`condense upload model FILE`) and "
        "pass its name");
  }
  auto model = store_->GetModel(caller.tenant, request.model());
  if (!model.ok()) return model.status();
  if (!request.dataset().empty()) {
    auto dataset = store_->GetDataset(caller.tenant, request.dataset());
    if (!dataset.ok()) return dataset.status();
  }
  auto spec = spec::ComposeSpec(
      request.preset(), request.spec(),
      {request.overrides().begin(), request.overrides().end()},
      !request.dataset().empty());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: ", spec.status().message()));
  }
  // The engine's own check, so a job that cannot run is refused now rather
  // than failed by a worker later.
  auto config = worker::ToEngineConfig(*spec);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: ", config.status().message()));
  }
  const engine::JobFacts facts{worker::ToEngineFormat(model->format()),
                               !request.dataset().empty(), std::nullopt};
  if (auto st = engine::CheckSpecFits(*config, facts); !st.ok()) return st;
  v1::Job job;
  job.set_model(model->name());
  if (!request.dataset().empty()) {
    job.set_dataset(
        absl::StrCat("datasets/", *ParseName("datasets", request.dataset())));
  }
  *job.mutable_spec() = *std::move(spec);
  job.set_priority(request.priority());
  job.set_max_attempts(options_.max_attempts);
  job.mutable_labels()->insert(request.labels().begin(),
                               request.labels().end());
  auto created =
      store_->CreateJob(caller.tenant, std::move(job), request.request_id(),
                        options_.max_queued_jobs, clock_->NowMs());
  if (!created.ok()) return created.status();
  if (observer_ != nullptr) observer_->OnJobCreated(*created);
  if (poller_ != nullptr) poller_->Wake();
  return created;
}

absl::StatusOr<v1::Job> JobCore::CancelJob(const Caller& caller,
                                           const std::string& name) {
  auto job = store_->CancelJob(caller.tenant, name, clock_->NowMs());
  if (!job.ok()) return job.status();
  Changed({caller.tenant, *job});
  return job;
}

absl::StatusOr<std::optional<iv1::LeaseResponse>> JobCore::TryLease(
    const iv1::WorkerInfo& worker) {
  if (worker.worker_id().empty()) {
    return absl::InvalidArgumentError("worker.worker_id is required");
  }
  auto grant =
      store_->LeaseNext(worker.worker_id(), clock_->NowMs(), DeadlineMs());
  if (!grant.ok()) return grant.status();
  if (!grant->has_value()) return std::nullopt;
  LeaseGrant& g = **grant;
  iv1::LeaseResponse response;
  response.set_lease_id(g.lease_id);
  response.set_job(g.job.name());
  response.set_attempt(g.job.attempts());
  *response.mutable_spec() = g.job.spec();
  *response.mutable_model() = g.model;
  if (g.dataset) *response.mutable_dataset() = *g.dataset;
  if (g.checkpoint) *response.mutable_checkpoint() = *g.checkpoint;
  response.set_stages_done(g.stages_done);
  response.set_heartbeat_interval_seconds(options_.heartbeat_interval_seconds);
  response.set_lease_timeout_seconds(options_.lease_timeout_seconds);
  {
    std::lock_guard<std::mutex> lock(mu_);
    leases_[g.lease_id] = LeaseInfo{g.job.name(), clock_->NowMs()};
  }
  if (observer_ != nullptr) observer_->OnJobLeased(g.job, worker.worker_id());
  if (poller_ != nullptr) poller_->Wake();
  return response;
}

absl::StatusOr<iv1::HeartbeatResponse::Action> JobCore::Heartbeat(
    const std::string& lease_id) {
  auto cancel = store_->Heartbeat(lease_id, DeadlineMs());
  if (!cancel.ok()) return cancel.status();
  return *cancel ? iv1::HeartbeatResponse::CANCEL
                 : iv1::HeartbeatResponse::CONTINUE;
}

absl::StatusOr<int64_t> JobCore::PublishEvents(
    const iv1::PublishEventsRequest& request) {
  const int64_t now = clock_->NowMs();
  auto next = store_->AppendEvents(
      request.lease_id(), request.first_index(),
      {request.events().begin(), request.events().end()}, now);
  if (!next.ok()) return next.status();
  // Stage timings from the events stored just now (a resend is skipped).
  std::vector<std::pair<std::string, double>> stages;
  std::string job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = leases_.find(request.lease_id()); it != leases_.end()) {
      LeaseInfo& info = it->second;
      job = info.job;
      for (int i = 0; i < request.events_size(); ++i) {
        const int64_t index = request.first_index() + i;
        if (index < info.next_index || index >= *next) continue;
        const v1::JobEvent& e = request.events(i);
        if (e.kind() == v1::JobEvent::STAGE_STARTED) {
          info.stage_start_ms = now;
        } else if (e.kind() == v1::JobEvent::STAGE_FINISHED &&
                   info.stage_start_ms > 0) {
          stages.emplace_back(e.stage(), (now - info.stage_start_ms) / 1000.0);
          info.stage_start_ms = 0;
        }
      }
      info.next_index = std::max(info.next_index, *next);
    }
  }
  if (observer_ != nullptr) {
    for (const auto& [stage, seconds] : stages) {
      observer_->OnStageFinished(job, stage, seconds);
    }
  }
  if (poller_ != nullptr) poller_->Wake();
  return next;
}

absl::Status JobCore::SaveCheckpoint(const iv1::SaveCheckpointRequest& r) {
  if (!blobs_->Exists(ToBlobDigest(r.checkpoint()))) {
    return absl::FailedPreconditionError(
        "the checkpoint blob is not stored: upload it before recording it");
  }
  auto st = store_->SaveCheckpoint(r.lease_id(), r.checkpoint(),
                                   r.stages_done(), clock_->NowMs());
  if (st.ok() && poller_ != nullptr) poller_->Wake();
  return st;
}

absl::Status JobCore::Complete(const iv1::CompleteRequest& request) {
  for (const auto& artifact : request.result().artifacts()) {
    if (!artifacts::IsArtifactName(artifact.file_name())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "artifact name '", artifact.file_name(),
          "' is not one a job has (base/artifacts.h): a worker of another "
          "version?"));
    }
    if (!blobs_->Exists(ToBlobDigest(artifact.blob()))) {
      return absl::FailedPreconditionError(
          absl::StrCat("artifact ", artifact.file_name(),
                       " is not stored: upload it before completing"));
    }
  }
  auto change =
      store_->Complete(request.lease_id(), request.result(), clock_->NowMs());
  if (!change.ok()) return change.status();
  // The worker uploaded the artifacts; they become the tenant's now (unless
  // a cancel came first and the job ended CANCELLED).
  const bool succeeded = change->job.state() == v1::Job::SUCCEEDED;
  for (const auto& artifact : request.result().artifacts()) {
    if (!succeeded) break;
    if (auto st = blobs_->Grant(change->tenant, ToBlobDigest(artifact.blob()));
        !st.ok()) {
      return st;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.erase(request.lease_id());
  }
  Changed(*change);
  return absl::OkStatus();
}

absl::Status JobCore::Fail(const iv1::FailRequest& request) {
  v1::Error error = request.error();
  if (error.code() == 0)
    error.set_code(static_cast<int>(absl::StatusCode::kUnknown));
  auto change = store_->Fail(request.lease_id(), error, request.retryable(),
                             request.release(), clock_->NowMs());
  if (!change.ok()) return change.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.erase(request.lease_id());
  }
  Changed(*change);
  return absl::OkStatus();
}

absl::StatusOr<int> JobCore::ExpireLeases() {
  auto changes = store_->ExpireLeases(clock_->NowMs());
  if (!changes.ok()) return changes.status();
  if (!changes->empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const JobChange& change : *changes) {
      std::erase_if(leases_, [&](const auto& entry) {
        return entry.second.job == change.job.name();
      });
    }
  }
  for (const JobChange& change : *changes) Changed(change);
  return static_cast<int>(changes->size());
}

}  // namespace condense::server
