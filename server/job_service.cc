#include "server/job_service.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/job_state.h"
#include "server/service_util.h"

namespace condense::server {
namespace {

bool IsFinalEvent(const v1::JobEvent& e) {
  return e.kind() == v1::JobEvent::STATE_CHANGED && JobEnded(e.state());
}

constexpr int kEventBatch = 256;

}  // namespace

grpc::ServerUnaryReactor* JobService::CreateJob(
    grpc::CallbackServerContext* context, const v1::CreateJobRequest* request,
    v1::Job* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto job = core_->CreateJob(*caller, *request);
    if (!job.ok()) return job.status();
    *response = *std::move(job);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobService::GetJob(
    grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
    v1::Job* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto job = store_->GetJob(caller->tenant, request->name());
    if (!job.ok()) return job.status();
    *response = *std::move(job);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobService::ListJobs(
    grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
    v1::ListJobsResponse* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto page = store_->ListJobs(caller->tenant, request->state(),
                                 request->page_size(), request->page_token());
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobService::CancelJob(
    grpc::CallbackServerContext* context, const v1::CancelJobRequest* request,
    v1::Job* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    auto job = core_->CancelJob(*caller, request->name());
    if (!job.ok()) return job.status();
    *response = *std::move(job);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* JobService::WaitJob(
    grpc::CallbackServerContext* context, const v1::WaitJobRequest* request,
    v1::Job* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = auth_->Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(api::ToGrpcStatus(caller.status()));
    return reactor;
  }
  double timeout = request->timeout_seconds();
  if (timeout <= 0) timeout = 60;
  timeout = std::min(timeout, 600.0);
  const int64_t deadline_ms =
      clock_->NowMs() + static_cast<int64_t>(timeout * 1000);
  // `request` and `response` live until Finish.
  poller_->Add([this, context, reactor, request, response,
                tenant = caller->tenant, deadline_ms](bool shutting_down) {
    auto job = store_->GetJob(tenant, request->name());
    if (!job.ok()) {
      reactor->Finish(api::ToGrpcStatus(job.status()));
      return true;
    }
    if (JobEnded(job->state()) || shutting_down || context->IsCancelled() ||
        clock_->NowMs() >= deadline_ms) {
      *response = *std::move(job);
      reactor->Finish(grpc::Status::OK);
      return true;
    }
    return false;
  });
  return reactor;
}

// Streams a job's events: replays from the requested sequence, then waits
// on the poller for new ones, and ends after the job's final event.
class JobService::WatchReactor : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  WatchReactor(JobService* service, grpc::CallbackServerContext* context,
               std::string name, int64_t from_sequence)
      : service_(service),
        context_(context),
        name_(std::move(name)),
        next_sequence_(std::max<int64_t>(1, from_sequence)) {}

  void Start(const std::string& tenant) {
    tenant_ = tenant;
    auto job = service_->store_->GetJob(tenant, name_);
    if (!job.ok()) {
      Finish(api::ToGrpcStatus(job.status()));
      return;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    if (sent_final_) {
      Finish(grpc::Status::OK);
      return;
    }
    Pump();
  }

  void OnDone() override { delete this; }

 private:
  // Writes the next buffered event, fetching more first; when there are
  // none, waits on the poller. Runs with no write in flight.
  void Pump() {
    if (buffer_.empty()) {
      absl::Status st = Fetch();
      if (!st.ok()) {
        Finish(api::ToGrpcStatus(st));
        return;
      }
    }
    if (!buffer_.empty()) {
      WriteNext();
      return;
    }
    if (AlreadyOver()) {
      Finish(grpc::Status::OK);
      return;
    }
    service_->poller_->Add([this](bool shutting_down) {
      if (shutting_down || context_->IsCancelled()) {
        Finish(shutting_down
                   ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "the server is shutting down; watch again "
                                  "from the next sequence")
                   : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        return true;
      }
      absl::Status st = Fetch();
      if (!st.ok()) {
        Finish(api::ToGrpcStatus(st));
        return true;
      }
      if (buffer_.empty()) {
        if (!AlreadyOver()) return false;
        Finish(grpc::Status::OK);
        return true;
      }
      WriteNext();
      return true;
    });
  }

  absl::Status Fetch() {
    auto events =
        service_->store_->ReadEvents("", name_, next_sequence_, kEventBatch);
    if (!events.ok()) return events.status();
    for (auto& e : *events) {
      next_sequence_ = e.sequence() + 1;
      buffer_.push_back(std::move(e));
    }
    return absl::OkStatus();
  }

  // The job has finished and its final event lies before from_sequence.
  bool AlreadyOver() {
    auto job = service_->store_->GetJob(tenant_, name_);
    return job.ok() && JobEnded(job->state()) &&
           job->progress().last_sequence() < next_sequence_;
  }

  void WriteNext() {
    current_ = std::move(buffer_.front());
    buffer_.pop_front();
    sent_final_ = IsFinalEvent(current_);
    StartWrite(&current_);
  }

  JobService* service_;
  grpc::CallbackServerContext* context_;
  const std::string name_;
  std::string tenant_;
  int64_t next_sequence_;
  std::deque<v1::JobEvent> buffer_;
  v1::JobEvent current_;
  bool sent_final_ = false;
};

grpc::ServerWriteReactor<v1::JobEvent>* JobService::WatchJob(
    grpc::CallbackServerContext* context, const v1::WatchJobRequest* request) {
  auto* reactor = new WatchReactor(this, context, request->name(),
                                   request->from_sequence());
  auto caller = auth_->Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(api::ToGrpcStatus(caller.status()));
  } else {
    reactor->Start(caller->tenant);
  }
  return reactor;
}

}  // namespace condense::server
