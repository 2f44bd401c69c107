// The internal Worker service: a thin adapter over JobCore. Lease
// long-polls on the LongPoller. Only worker tokens may call it.
// Thread-safe.
#ifndef CONDENSE_SERVER_WORKER_SERVICE_H_
#define CONDENSE_SERVER_WORKER_SERVICE_H_

#include <atomic>
#include <functional>

#include "condense/internal/v1/worker.grpc.pb.h"
#include "server/auth.h"
#include "server/clock.h"
#include "server/job_core.h"
#include "server/long_poll.h"

namespace condense::server {

class WorkerService final : public internal::v1::Worker::CallbackService {
 public:
  WorkerService(JobCore* core, LongPoller* poller, const Authenticator* auth,
                const Clock* clock)
      : core_(core), poller_(poller), auth_(auth), clock_(clock) {}

  // Stop handing out jobs (graceful shutdown): Lease answers empty.
  void StopLeasing() { leasing_ = false; }
  // Workers that called Lease in the last minute, for metrics.
  int64_t waiting_workers() const { return waiting_.load(); }

  grpc::ServerUnaryReactor* Lease(
      grpc::CallbackServerContext* context,
      const internal::v1::LeaseRequest* request,
      internal::v1::LeaseResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(
      grpc::CallbackServerContext* context,
      const internal::v1::HeartbeatRequest* request,
      internal::v1::HeartbeatResponse* response) override;
  grpc::ServerReadReactor<internal::v1::PublishEventsRequest>* PublishEvents(
      grpc::CallbackServerContext* context,
      internal::v1::PublishEventsResponse* response) override;
  grpc::ServerUnaryReactor* SaveCheckpoint(
      grpc::CallbackServerContext* context,
      const internal::v1::SaveCheckpointRequest* request,
      internal::v1::SaveCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* Complete(
      grpc::CallbackServerContext* context,
      const internal::v1::CompleteRequest* request,
      internal::v1::CompleteResponse* response) override;
  grpc::ServerUnaryReactor* Fail(grpc::CallbackServerContext* context,
                                 const internal::v1::FailRequest* request,
                                 internal::v1::FailResponse* response) override;

 private:
  class EventsReactor;

  JobCore* core_;
  LongPoller* poller_;
  const Authenticator* auth_;
  const Clock* clock_;
  std::atomic<bool> leasing_{true};
  std::atomic<int64_t> waiting_{0};
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_WORKER_SERVICE_H_
