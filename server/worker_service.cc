#include "server/worker_service.h"

#include <algorithm>
#include <utility>

#include "server/service_util.h"

namespace condense::server {

namespace iv1 = ::condense::internal::v1;

grpc::ServerUnaryReactor* WorkerService::Lease(
    grpc::CallbackServerContext* context, const iv1::LeaseRequest* request,
    iv1::LeaseResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = auth_->AuthenticateWorker(*context);
  if (!caller.ok()) {
    reactor->Finish(api::ToGrpcStatus(caller.status()));
    return reactor;
  }
  const double wait = std::clamp(request->wait_seconds(), 0.0, 60.0);
  const int64_t deadline_ms =
      clock_->NowMs() + static_cast<int64_t>(wait * 1000);
  ++waiting_;
  poller_->Add([this, context, reactor, request, response,
                deadline_ms](bool shutting_down) {
    // An empty answer when stopping: the worker asks again (elsewhere).
    if (shutting_down || !leasing_ || context->IsCancelled()) {
      --waiting_;
      reactor->Finish(grpc::Status::OK);
      return true;
    }
    // Tried before the deadline check, so wait_seconds 0 still leases a
    // queued job.
    auto grant = core_->TryLease(request->worker());
    if (!grant.ok()) {
      --waiting_;
      reactor->Finish(api::ToGrpcStatus(grant.status()));
      return true;
    }
    if (!grant->has_value()) {
      if (clock_->NowMs() < deadline_ms) return false;
      --waiting_;
      reactor->Finish(grpc::Status::OK);
      return true;
    }
    --waiting_;
    *response = **std::move(grant);
    reactor->Finish(grpc::Status::OK);
    return true;
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Heartbeat(
    grpc::CallbackServerContext* context, const iv1::HeartbeatRequest* request,
    iv1::HeartbeatResponse* response) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->AuthenticateWorker(*context);
    if (!caller.ok()) return caller.status();
    auto action = core_->Heartbeat(request->lease_id());
    if (!action.ok()) return action.status();
    response->set_action(*action);
    return absl::OkStatus();
  });
}

// Stores each request's events as it arrives; answers with the next index
// when the worker closes the stream.
class WorkerService::EventsReactor
    : public grpc::ServerReadReactor<iv1::PublishEventsRequest> {
 public:
  EventsReactor(JobCore* core, iv1::PublishEventsResponse* response)
      : core_(core), response_(response) {}

  void Start() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The worker closed its side (or went away): report what is stored.
      Finish(grpc::Status::OK);
      return;
    }
    auto next = core_->PublishEvents(request_);
    if (!next.ok()) {
      Finish(api::ToGrpcStatus(next.status()));
      return;
    }
    response_->set_next_index(*next);
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  JobCore* core_;
  iv1::PublishEventsResponse* response_;
  iv1::PublishEventsRequest request_;
};

grpc::ServerReadReactor<iv1::PublishEventsRequest>*
WorkerService::PublishEvents(grpc::CallbackServerContext* context,
                             iv1::PublishEventsResponse* response) {
  auto* reactor = new EventsReactor(core_, response);
  auto caller = auth_->AuthenticateWorker(*context);
  if (!caller.ok()) {
    reactor->Finish(api::ToGrpcStatus(caller.status()));
  } else {
    reactor->Start();
  }
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::SaveCheckpoint(
    grpc::CallbackServerContext* context,
    const iv1::SaveCheckpointRequest* request, iv1::SaveCheckpointResponse*) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->AuthenticateWorker(*context);
    if (!caller.ok()) return caller.status();
    return core_->SaveCheckpoint(*request);
  });
}

grpc::ServerUnaryReactor* WorkerService::Complete(
    grpc::CallbackServerContext* context, const iv1::CompleteRequest* request,
    iv1::CompleteResponse*) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->AuthenticateWorker(*context);
    if (!caller.ok()) return caller.status();
    return core_->Complete(*request);
  });
}

grpc::ServerUnaryReactor* WorkerService::Fail(
    grpc::CallbackServerContext* context, const iv1::FailRequest* request,
    iv1::FailResponse*) {
  return FinishUnary(context, [&]() -> absl::Status {
    auto caller = auth_->AuthenticateWorker(*context);
    if (!caller.ok()) return caller.status();
    return core_->Fail(*request);
  });
}

}  // namespace condense::server
