// MetadataStore: everything the server must not forget, in SQLite (WAL,
// foreign keys, numbered migrations): tenants, models, datasets, jobs, their
// attempts and events. Every state change of a job is one transaction that
// also appends the job's STATE_CHANGED event, so the record and its event
// log never disagree.
//
// Records are scoped by tenant: another tenant's record answers NOT_FOUND,
// exactly like a missing one. Worker-side calls are scoped by lease id: a
// lease that is no longer current answers FAILED_PRECONDITION.
//
// Thread-safe: calls are serialized on one connection (the server's load is
// a few writes per second per job; batch events are throttled by workers).
#ifndef CONDENSE_SERVER_STORE_METADATA_STORE_H_
#define CONDENSE_SERVER_STORE_METADATA_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "condense/v1/jobs.pb.h"
#include "condense/v1/models.pb.h"
#include "server/store/sqlite.h"

namespace condense::server {

// A job as a worker receives it.
struct LeaseGrant {
  std::string lease_id;
  std::string tenant;
  v1::Job job;  // After the lease: RUNNING, attempts incremented.
  v1::Model model;
  std::optional<v1::Dataset> dataset;
  std::optional<v1::Digest> checkpoint;
  int stages_done = 0;
};

// What a job-ending call did, for notifications and metrics.
struct JobChange {
  std::string tenant;
  v1::Job job;
};

class MetadataStore {
 public:
  // Opens or creates the database at `path` and migrates it.
  static absl::StatusOr<std::unique_ptr<MetadataStore>> Open(
      const std::string& path);

  // Models and datasets. The name is assigned ("models/{id}").
  absl::StatusOr<v1::Model> CreateModel(const std::string& tenant,
                                        v1::Model model, int64_t now_ms);
  absl::StatusOr<v1::Model> GetModel(const std::string& tenant,
                                     const std::string& name);
  absl::StatusOr<v1::ListModelsResponse> ListModels(
      const std::string& tenant, int page_size, const std::string& page_token);
  // FAILED_PRECONDITION while a queued or running job uses it.
  absl::Status DeleteModel(const std::string& tenant, const std::string& name);

  absl::StatusOr<v1::Dataset> CreateDataset(const std::string& tenant,
                                            v1::Dataset dataset,
                                            int64_t now_ms);
  absl::StatusOr<v1::Dataset> GetDataset(const std::string& tenant,
                                         const std::string& name);
  absl::StatusOr<v1::ListDatasetsResponse> ListDatasets(
      const std::string& tenant, int page_size, const std::string& page_token);
  absl::Status DeleteDataset(const std::string& tenant,
                             const std::string& name);

  // Queues `job` (model, dataset, spec, priority, labels, max_attempts set
  // by the caller). With a request_id already used by this tenant, returns
  // that job instead. RESOURCE_EXHAUSTED when the tenant already has
  // `max_queued` jobs QUEUED.
  absl::StatusOr<v1::Job> CreateJob(const std::string& tenant, v1::Job job,
                                    const std::string& request_id,
                                    int max_queued, int64_t now_ms);
  absl::StatusOr<v1::Job> GetJob(const std::string& tenant,
                                 const std::string& name);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const std::string& tenant,
                                                v1::Job::State state,
                                                int page_size,
                                                const std::string& page_token);
  // QUEUED -> CANCELLED now; RUNNING -> cancel requested (the worker hears
  // it on its next heartbeat); finished: FAILED_PRECONDITION.
  absl::StatusOr<v1::Job> CancelJob(const std::string& tenant,
                                    const std::string& name, int64_t now_ms);

  // Events of a job with sequence >= from_sequence, at most `limit`.
  // `tenant` empty: no tenant check (the caller already checked).
  absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(
      const std::string& tenant, const std::string& name, int64_t from_sequence,
      int limit);

  // Worker side. LeaseNext takes the first QUEUED job by priority, then age;
  // nullopt when none is queued.
  absl::StatusOr<std::optional<LeaseGrant>> LeaseNext(const std::string& worker,
                                                      int64_t now_ms,
                                                      int64_t deadline_ms);
  // Extends the lease; returns true when a cancel was requested.
  absl::StatusOr<bool> Heartbeat(const std::string& lease_id,
                                 int64_t deadline_ms);
  // Appends events sent by the lease's worker, skipping indices already
  // stored; returns the next index expected.
  absl::StatusOr<int64_t> AppendEvents(const std::string& lease_id,
                                       int64_t first_index,
                                       std::vector<v1::JobEvent> events,
                                       int64_t now_ms);
  absl::Status SaveCheckpoint(const std::string& lease_id,
                              const v1::Digest& checkpoint, int stages_done,
                              int64_t now_ms);
  absl::StatusOr<JobChange> Complete(const std::string& lease_id,
                                     const v1::JobResult& result,
                                     int64_t now_ms);
  // Retryable failures requeue the job while attempts remain; `release`
  // (worker shutting down) requeues it without spending the attempt. A job
  // with a cancel requested ends CANCELLED.
  absl::StatusOr<JobChange> Fail(const std::string& lease_id,
                                 const v1::Error& error, bool retryable,
                                 bool release, int64_t now_ms);
  // Leases past their deadline: requeued (attempts left) or FAILED.
  absl::StatusOr<std::vector<JobChange>> ExpireLeases(int64_t now_ms);

  // Job counts by state, for metrics.
  absl::StatusOr<std::map<v1::Job::State, int64_t>> CountJobsByState();

 private:
  explicit MetadataStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  std::mutex mu_;
  std::unique_ptr<Database> db_;  // Guarded by mu_.
};

// "jobs/abc" -> "abc" (also accepts "abc"); INVALID_ARGUMENT for names of
// another collection or with bad characters.
absl::StatusOr<std::string> ParseName(absl::string_view collection,
                                      absl::string_view name);

}  // namespace condense::server

#endif  // CONDENSE_SERVER_STORE_METADATA_STORE_H_
