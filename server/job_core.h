// JobCore: what the Jobs and Worker services do, without gRPC: composing
// and checking specs, queueing, leases, heartbeats, events, checkpoints,
// completion, and expiring the leases of lost workers. Tested with a fake
// clock and no network (job_core_test.cc).
//
// Thread-safe. Owns nothing it is given; all pointers outlive it.
#ifndef CONDENSE_SERVER_JOB_CORE_H_
#define CONDENSE_SERVER_JOB_CORE_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "condense/internal/v1/worker.pb.h"
#include "condense/v1/jobs.pb.h"
#include "server/auth.h"
#include "server/blobs/blob_store.h"
#include "server/clock.h"
#include "server/long_poll.h"
#include "server/store/metadata_store.h"

namespace condense::server {

struct JobCoreOptions {
  // A lease expires this long after the last heartbeat.
  double lease_timeout_seconds = 30;
  // Workers are asked to heartbeat this often.
  double heartbeat_interval_seconds = 5;
  // Leases per job before it FAILs (workers lost, retryable failures).
  int max_attempts = 3;
  // QUEUED jobs per tenant.
  int max_queued_jobs = 1000;
};

// Hooks for metrics and logs; called after the change is stored.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void OnJobCreated(const v1::Job& job) = 0;
  virtual void OnJobLeased(const v1::Job& job, const std::string& worker) = 0;
  // SUCCEEDED, FAILED, CANCELLED, or QUEUED again (lost worker).
  virtual void OnJobChanged(const v1::Job& job) = 0;
  virtual void OnStageFinished(const std::string& job, const std::string& stage,
                               double seconds) = 0;
};

class JobCore {
 public:
  JobCore(MetadataStore* store, BlobStore* blobs, const Clock* clock,
          LongPoller* poller, JobCoreOptions options,
          JobObserver* observer = nullptr);

  const JobCoreOptions& options() const { return options_; }

  // Jobs API. NOT_FOUND for another tenant's model or dataset;
  // INVALID_ARGUMENT (naming the field) for a spec out of bounds.
  absl::StatusOr<v1::Job> CreateJob(const Caller& caller,
                                    const v1::CreateJobRequest& request);
  absl::StatusOr<v1::Job> CancelJob(const Caller& caller,
                                    const std::string& name);

  // Worker protocol. TryLease never waits (the service long-polls it).
  absl::StatusOr<std::optional<internal::v1::LeaseResponse>> TryLease(
      const internal::v1::WorkerInfo& worker);
  absl::StatusOr<internal::v1::HeartbeatResponse::Action> Heartbeat(
      const std::string& lease_id);
  absl::StatusOr<int64_t> PublishEvents(
      const internal::v1::PublishEventsRequest& request);
  absl::Status SaveCheckpoint(const internal::v1::SaveCheckpointRequest& r);
  absl::Status Complete(const internal::v1::CompleteRequest& request);
  absl::Status Fail(const internal::v1::FailRequest& request);

  // Requeues or fails jobs whose worker missed its heartbeats; returns how
  // many. Called periodically by the server.
  absl::StatusOr<int> ExpireLeases();

 private:
  int64_t DeadlineMs() const;
  void Changed(const JobChange& change);

  MetadataStore* store_;
  BlobStore* blobs_;
  const Clock* clock_;
  LongPoller* poller_;
  const JobCoreOptions options_;
  JobObserver* observer_;

  mutable std::mutex mu_;
  // Per lease: its job and when the current stage started (for the stage
  // duration histogram). Lost on restart, which only skips one sample.
  struct LeaseInfo {
    std::string job;
    int64_t stage_start_ms = 0;
    int64_t next_index = 0;  // Worker events seen so far.
  };
  std::map<std::string, LeaseInfo> leases_;  // Guarded by mu_.
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_JOB_CORE_H_
