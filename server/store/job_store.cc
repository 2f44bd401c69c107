// Jobs, their events, and the worker side of the scheduler (leases).
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/job_state.h"
#include "server/store/metadata_store.h"
#include "server/store/store_internal.h"

namespace condense::server {
namespace {

using v1::Job;
using v1::JobEvent;

// A job's row: the API record plus the scheduler's own columns.
struct JobRow {
  std::string id;
  std::string tenant;
  Job job;
  std::string lease_id;
  int64_t lease_deadline_ms = 0;
  bool cancel_requested = false;
  std::string checkpoint_sha256;
  int64_t checkpoint_size = 0;
  int64_t next_event_seq = 1;
  int64_t event_index = 0;  // Worker events stored in this attempt.
};

constexpr char kJobColumns[] =
    "id, tenant, lease_id, lease_deadline_ms, cancel_requested, "
    "checkpoint_sha256, checkpoint_size, next_event_seq, event_index, proto";

absl::StatusOr<std::optional<JobRow>> LoadJob(Database* db,
                                              const std::string& where,
                                              const std::string& a,
                                              const std::string& b = "") {
  auto stmt = db->Prepare(
      absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE ", where));
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, a);
  if (!b.empty()) stmt->Bind(2, b);
  auto found = stmt->Step();
  if (!found.ok()) return found.status();
  if (!*found) return std::nullopt;
  JobRow row;
  row.id = stmt->Text(0);
  row.tenant = stmt->Text(1);
  row.lease_id = stmt->Text(2);
  row.lease_deadline_ms = stmt->Int(3);
  row.cancel_requested = stmt->Int(4) != 0;
  row.checkpoint_sha256 = stmt->Text(5);
  row.checkpoint_size = stmt->Int(6);
  row.next_event_seq = stmt->Int(7);
  row.event_index = stmt->Int(8);
  if (!row.job.ParseFromString(stmt->Text(9))) {
    return absl::InternalError(
        absl::StrCat("stored job ", row.id, " does not parse"));
  }
  row.job.set_done(JobEnded(row.job.state()));  // Rows from before `done`.
  return row;
}

absl::StatusOr<JobRow> LoadTenantJob(Database* db, const std::string& tenant,
                                     const std::string& name) {
  auto id = ParseName("jobs", name);
  if (!id.ok()) return id.status();
  auto row = LoadJob(db, "id=? AND tenant=?", *id, tenant);
  if (!row.ok()) return row.status();
  if (!row->has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "no job jobs/", *id, " (list yours with `condense list`)"));
  }
  return **std::move(row);
}

absl::StatusOr<JobRow> LoadLeasedJob(Database* db,
                                     const std::string& lease_id) {
  auto row = lease_id.empty()
                 ? absl::StatusOr<std::optional<JobRow>>(std::nullopt)
                 : LoadJob(db, "lease_id=?", lease_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease ", lease_id,
                     " is not current (it expired and the job was requeued, "
                     "or the job ended); drop the job and lease again"));
  }
  return **std::move(row);
}

absl::Status SaveJob(Database* db, const JobRow& row) {
  auto stmt = db->Prepare(
      "UPDATE jobs SET state=?, priority=?, lease_id=?, lease_deadline_ms=?, "
      "cancel_requested=?, checkpoint_sha256=?, checkpoint_size=?, "
      "next_event_seq=?, event_index=?, proto=? WHERE id=?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, int64_t{row.job.state()}).Bind(2, int64_t{row.job.priority()});
  if (row.lease_id.empty()) {
    stmt->BindNull(3);
  } else {
    stmt->Bind(3, row.lease_id);
  }
  return stmt->Bind(4, row.lease_deadline_ms)
      .Bind(5, int64_t{row.cancel_requested})
      .Bind(6, row.checkpoint_sha256)
      .Bind(7, row.checkpoint_size)
      .Bind(8, row.next_event_seq)
      .Bind(9, row.event_index)
      .BindBlob(10, row.job.SerializeAsString())
      .Bind(11, row.id)
      .Run();
}

// Stores `event` with the job's next sequence and folds it into the job's
// progress. The caller saves the row.
absl::Status AppendEvent(Database* db, JobRow& row, JobEvent event,
                         int64_t now_ms) {
  event.set_sequence(row.next_event_seq++);
  event.set_time_unix_ms(now_ms);
  if (event.attempt() == 0) event.set_attempt(row.job.attempts());
  auto stmt =
      db->Prepare("INSERT INTO events(job_id, seq, proto) VALUES(?,?,?)");
  if (!stmt.ok()) return stmt.status();
  if (auto st = stmt->Bind(1, row.id)
                    .Bind(2, event.sequence())
                    .BindBlob(3, event.SerializeAsString())
                    .Run();
      !st.ok()) {
    return st;
  }
  v1::JobProgress& p = *row.job.mutable_progress();
  p.set_last_sequence(event.sequence());
  switch (event.kind()) {
    case JobEvent::STAGE_STARTED:
    case JobEvent::BATCH:
    case JobEvent::EPOCH_FINISHED:
    case JobEvent::STAGE_FINISHED:
      p.set_stage(event.stage());
      p.set_stage_index(event.stage_index());
      p.set_stage_count(event.stage_count());
      p.set_epoch(event.epoch());
      p.set_epochs(event.epochs());
      p.set_batch(event.batch());
      p.set_batches(event.batches());
      if (event.loss() != 0) p.set_loss(event.loss());
      if (event.accuracy() >= 0) p.set_accuracy(event.accuracy());
      if (event.sparsity() != 0) p.set_sparsity(event.sparsity());
      if (event.ratio() != 0) p.set_ratio(event.ratio());
      p.set_eta_seconds(event.eta_seconds());
      break;
    case JobEvent::CHECKPOINT_SAVED:
      p.set_stages_done(event.stages_done());
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

// Moves the job to `state` and logs it.
absl::Status ChangeState(Database* db, JobRow& row, Job::State state,
                         const std::string& message, const v1::Error* error,
                         int64_t now_ms) {
  row.job.set_state(state);
  row.job.set_done(JobEnded(state));
  if (error != nullptr) *row.job.mutable_error() = *error;
  if (JobEnded(state)) row.job.set_end_time_unix_ms(now_ms);
  JobEvent event;
  event.set_kind(JobEvent::STATE_CHANGED);
  event.set_state(state);
  event.set_message(message);
  if (error != nullptr) *event.mutable_error() = *error;
  return AppendEvent(db, row, std::move(event), now_ms);
}

absl::Status EndAttempt(Database* db, const JobRow& row, int64_t now_ms,
                        const std::string& outcome) {
  auto stmt = db->Prepare(
      "UPDATE attempts SET end_ms=?, outcome=? WHERE job_id=? AND attempt=?");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, now_ms)
      .Bind(2, outcome)
      .Bind(3, row.id)
      .Bind(4, int64_t{row.job.attempts()})
      .Run();
}

// Requeues (attempts left, or `free`: the attempt does not count) or fails.
absl::Status RequeueOrFail(Database* db, JobRow& row, const std::string& why,
                           bool free, int64_t now_ms) {
  row.lease_id.clear();
  row.lease_deadline_ms = 0;
  if (free) row.job.set_attempts(row.job.attempts() - 1);
  if (row.job.attempts() < row.job.max_attempts()) {
    return ChangeState(
        db, row, Job::QUEUED,
        absl::StrCat(why, "; requeued (", row.job.attempts(), " of ",
                     row.job.max_attempts(), " attempts used)"),
        nullptr, now_ms);
  }
  v1::Error error;
  error.set_code(static_cast<int>(absl::StatusCode::kUnavailable));
  error.set_message(
      absl::StrCat(why, "; gave up after ", row.job.attempts(), " attempts"));
  return ChangeState(db, row, Job::FAILED, "gave up", &error, now_ms);
}

}  // namespace

absl::StatusOr<Job> MetadataStore::CreateJob(const std::string& tenant, Job job,
                                             const std::string& request_id,
                                             int max_queued, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  if (!request_id.empty()) {
    auto prior = LoadJob(db, "request_id=? AND tenant=?", request_id, tenant);
    if (!prior.ok()) return prior.status();
    if (prior->has_value()) return (*prior)->job;
  }
  auto count =
      db->Prepare("SELECT COUNT(*) FROM jobs WHERE tenant=? AND state=1");
  if (!count.ok()) return count.status();
  count->Bind(1, tenant);
  if (auto row = count->Step(); !row.ok()) return row.status();
  if (count->Int(0) >= max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this tenant already has ", count->Int(0),
                     " queued jobs, the limit (--max-queued-jobs) is ",
                     max_queued, "; wait for some to start or cancel some"));
  }
  if (auto st = internal::EnsureTenant(db, tenant, now_ms); !st.ok()) {
    return st;
  }
  JobRow row;
  row.id = internal::NewId();
  row.tenant = tenant;
  row.job = std::move(job);
  row.job.set_name(absl::StrCat("jobs/", row.id));
  row.job.set_state(Job::QUEUED);
  row.job.set_create_time_unix_ms(now_ms);
  row.job.mutable_progress()->set_accuracy(-1);
  row.job.mutable_progress()->set_eta_seconds(-1);
  auto model_id = ParseName("models", row.job.model());
  if (!model_id.ok()) return model_id.status();
  std::string dataset_id;
  if (!row.job.dataset().empty()) {
    auto id = ParseName("datasets", row.job.dataset());
    if (!id.ok()) return id.status();
    dataset_id = *id;
  }
  auto insert = db->Prepare(
      "INSERT INTO jobs(id, tenant, model_id, dataset_id, request_id, state, "
      "priority, proto) VALUES(?,?,?,?,?,?,?,?)");
  if (!insert.ok()) return insert.status();
  insert->Bind(1, row.id).Bind(2, tenant).Bind(3, *model_id);
  if (dataset_id.empty()) {
    insert->BindNull(4);
  } else {
    insert->Bind(4, dataset_id);
  }
  if (request_id.empty()) {
    insert->BindNull(5);
  } else {
    insert->Bind(5, request_id);
  }
  if (auto st = insert->Bind(6, int64_t{Job::QUEUED})
                    .Bind(7, int64_t{row.job.priority()})
                    .BindBlob(8, "")
                    .Run();
      !st.ok()) {
    return st;
  }
  if (auto st = ChangeState(db, row, Job::QUEUED, "queued", nullptr, now_ms);
      !st.ok()) {
    return st;
  }
  if (auto st = SaveJob(db, row); !st.ok()) return st;
  if (auto st = tx.Commit(); !st.ok()) return st;
  return row.job;
}

absl::StatusOr<Job> MetadataStore::GetJob(const std::string& tenant,
                                          const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto row = LoadTenantJob(db_.get(), tenant, name);
  if (!row.ok()) return row.status();
  return row->job;
}

absl::StatusOr<v1::ListJobsResponse> MetadataStore::ListJobs(
    const std::string& tenant, Job::State state, int page_size,
    const std::string& page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto before = internal::ParsePageToken(page_token);
  if (!before.ok()) return before.status();
  const int limit = internal::ClampPageSize(page_size);
  auto stmt = db_->Prepare(
      "SELECT seq, proto FROM jobs WHERE tenant=? AND seq<? AND (?=0 OR "
      "state=?) ORDER BY seq DESC LIMIT ?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant)
      .Bind(2, *before)
      .Bind(3, int64_t{state})
      .Bind(4, int64_t{state})
      .Bind(5, int64_t{limit + 1});
  v1::ListJobsResponse response;
  int64_t last_seq = 0;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (response.jobs_size() == limit) {
      response.set_next_page_token(absl::StrCat(last_seq));
      break;
    }
    Job* job = response.add_jobs();
    if (!job->ParseFromString(stmt->Text(1))) {
      return absl::InternalError("stored job does not parse");
    }
    job->set_done(JobEnded(job->state()));
    last_seq = stmt->Int(0);
  }
  return response;
}

absl::StatusOr<Job> MetadataStore::CancelJob(const std::string& tenant,
                                             const std::string& name,
                                             int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto row = LoadTenantJob(db, tenant, name);
  if (!row.ok()) return row.status();
  if (JobEnded(row->job.state())) {
    return absl::FailedPreconditionError(absl::StrCat(
        row->job.name(), " has already finished (",
        Job::State_Name(row->job.state()), "); nothing to cancel"));
  }
  v1::Error error;
  error.set_code(static_cast<int>(absl::StatusCode::kCancelled));
  error.set_message("cancelled by a client");
  if (row->job.state() == Job::QUEUED) {
    if (auto st = ChangeState(db, *row, Job::CANCELLED,
                              "cancelled while "
                              "queued",
                              &error, now_ms);
        !st.ok()) {
      return st;
    }
  } else if (!row->cancel_requested) {
    row->cancel_requested = true;
    JobEvent event;
    event.set_kind(JobEvent::MESSAGE);
    event.set_message("cancel requested; the worker stops within a batch");
    if (auto st = AppendEvent(db, *row, std::move(event), now_ms); !st.ok()) {
      return st;
    }
  }
  if (auto st = SaveJob(db, *row); !st.ok()) return st;
  if (auto st = tx.Commit(); !st.ok()) return st;
  return row->job;
}

absl::StatusOr<std::vector<JobEvent>> MetadataStore::ReadEvents(
    const std::string& tenant, const std::string& name, int64_t from_sequence,
    int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  auto id = ParseName("jobs", name);
  if (!id.ok()) return id.status();
  if (!tenant.empty()) {
    auto row = LoadTenantJob(db_.get(), tenant, name);
    if (!row.ok()) return row.status();
  }
  auto stmt = db_->Prepare(
      "SELECT proto FROM events WHERE job_id=? AND seq>=? ORDER BY seq "
      "LIMIT ?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, *id).Bind(2, from_sequence).Bind(3, int64_t{limit});
  std::vector<JobEvent> events;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (!events.emplace_back().ParseFromString(stmt->Text(0))) {
      return absl::InternalError("stored event does not parse");
    }
  }
  return events;
}

absl::StatusOr<std::optional<LeaseGrant>> MetadataStore::LeaseNext(
    const std::string& worker, int64_t now_ms, int64_t deadline_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto next = db->Prepare(
      "SELECT id FROM jobs WHERE state=1 ORDER BY priority DESC, seq LIMIT 1");
  if (!next.ok()) return next.status();
  auto found = next->Step();
  if (!found.ok()) return found.status();
  if (!*found) return std::nullopt;
  auto loaded = LoadJob(db, "id=?", next->Text(0));
  if (!loaded.ok()) return loaded.status();
  JobRow row = **std::move(loaded);
  LeaseGrant grant;
  grant.tenant = row.tenant;
  auto model = [&]() -> absl::StatusOr<v1::Model> {
    auto stmt = db->Prepare(
        "SELECT m.proto FROM models m JOIN jobs j ON "
        "j.model_id=m.id WHERE j.id=?");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, row.id);
    auto r = stmt->Step();
    if (!r.ok()) return r.status();
    v1::Model m;
    if (!*r || !m.ParseFromString(stmt->Text(0))) {
      return absl::InternalError(
          absl::StrCat("job ", row.id, " has lost its model record"));
    }
    return m;
  }();
  if (!model.ok()) return model.status();
  grant.model = *std::move(model);
  if (!row.job.dataset().empty()) {
    auto stmt = db->Prepare(
        "SELECT d.proto FROM datasets d JOIN jobs j ON "
        "j.dataset_id=d.id WHERE j.id=?");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, row.id);
    auto r = stmt->Step();
    if (!r.ok()) return r.status();
    v1::Dataset d;
    if (!*r || !d.ParseFromString(stmt->Text(0))) {
      return absl::InternalError(
          absl::StrCat("job ", row.id, " has lost its dataset record"));
    }
    grant.dataset = std::move(d);
  }
  row.lease_id = internal::NewId() + internal::NewId();
  row.lease_deadline_ms = deadline_ms;
  row.event_index = 0;
  row.job.set_attempts(row.job.attempts() + 1);
  row.job.set_worker(worker);
  if (row.job.start_time_unix_ms() == 0) row.job.set_start_time_unix_ms(now_ms);
  auto attempt = db->Prepare(
      "INSERT OR REPLACE INTO attempts(job_id, attempt, worker, start_ms) "
      "VALUES(?,?,?,?)");
  if (!attempt.ok()) return attempt.status();
  if (auto st = attempt->Bind(1, row.id)
                    .Bind(2, int64_t{row.job.attempts()})
                    .Bind(3, worker)
                    .Bind(4, now_ms)
                    .Run();
      !st.ok()) {
    return st;
  }
  if (auto st = ChangeState(
          db, row, Job::RUNNING,
          absl::StrCat("leased by ", worker, " (attempt ", row.job.attempts(),
                       " of ", row.job.max_attempts(), ")"),
          nullptr, now_ms);
      !st.ok()) {
    return st;
  }
  if (auto st = SaveJob(db, row); !st.ok()) return st;
  if (auto st = tx.Commit(); !st.ok()) return st;
  grant.lease_id = row.lease_id;
  if (!row.checkpoint_sha256.empty()) {
    v1::Digest digest;
    digest.set_sha256(row.checkpoint_sha256);
    digest.set_size_bytes(row.checkpoint_size);
    grant.checkpoint = digest;
    grant.stages_done = row.job.progress().stages_done();
  }
  grant.job = std::move(row.job);
  return grant;
}

absl::StatusOr<bool> MetadataStore::Heartbeat(const std::string& lease_id,
                                              int64_t deadline_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto row = LoadLeasedJob(db_.get(), lease_id);
  if (!row.ok()) return row.status();
  auto stmt =
      db_->Prepare("UPDATE jobs SET lease_deadline_ms=? WHERE lease_id=?");
  if (!stmt.ok()) return stmt.status();
  if (auto st = stmt->Bind(1, deadline_ms).Bind(2, lease_id).Run(); !st.ok()) {
    return st;
  }
  return row->cancel_requested;
}

absl::StatusOr<int64_t> MetadataStore::AppendEvents(
    const std::string& lease_id, int64_t first_index,
    std::vector<JobEvent> events, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto row = LoadLeasedJob(db, lease_id);
  if (!row.ok()) return row.status();
  if (first_index > row->event_index) {
    return absl::InvalidArgumentError(absl::StrCat(
        "events from index ", first_index, " but the server holds only ",
        row->event_index, "; resend from there"));
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t index = first_index + static_cast<int64_t>(i);
    if (index < row->event_index) continue;  // A resend: stored already.
    JobEvent& event = events[i];
    if (event.kind() == JobEvent::STATE_CHANGED ||
        event.kind() == JobEvent::KIND_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          "workers may not send STATE_CHANGED or unspecified events");
    }
    event.set_attempt(row->job.attempts());
    if (auto st = AppendEvent(db, *row, std::move(event), now_ms); !st.ok()) {
      return st;
    }
    ++row->event_index;
  }
  if (auto st = SaveJob(db, *row); !st.ok()) return st;
  if (auto st = tx.Commit(); !st.ok()) return st;
  return row->event_index;
}

absl::Status MetadataStore::SaveCheckpoint(const std::string& lease_id,
                                           const v1::Digest& checkpoint,
                                           int stages_done, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto row = LoadLeasedJob(db, lease_id);
  if (!row.ok()) return row.status();
  row->checkpoint_sha256 = checkpoint.sha256();
  row->checkpoint_size = checkpoint.size_bytes();
  JobEvent event;
  event.set_kind(JobEvent::CHECKPOINT_SAVED);
  event.set_stages_done(stages_done);
  event.set_message(absl::StrCat("checkpoint after ", stages_done,
                                 " stages stored on the server"));
  if (auto st = AppendEvent(db, *row, std::move(event), now_ms); !st.ok()) {
    return st;
  }
  if (auto st = SaveJob(db, *row); !st.ok()) return st;
  return tx.Commit();
}

absl::StatusOr<JobChange> MetadataStore::Complete(const std::string& lease_id,
                                                  const v1::JobResult& result,
                                                  int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto row = LoadLeasedJob(db, lease_id);
  if (!row.ok()) return row.status();
  row->lease_id.clear();
  if (row->cancel_requested) {
    // The cancel came before the result: the job ends as the client asked.
    v1::Error cancelled;
    cancelled.set_code(static_cast<int>(absl::StatusCode::kCancelled));
    cancelled.set_message("cancelled by a client");
    if (auto st = EndAttempt(db, *row, now_ms, "CANCELLED"); !st.ok()) {
      return st;
    }
    if (auto st = ChangeState(db, *row, Job::CANCELLED,
                              "cancelled while running", &cancelled, now_ms);
        !st.ok()) {
      return st;
    }
    if (auto st = SaveJob(db, *row); !st.ok()) return st;
    if (auto st = tx.Commit(); !st.ok()) return st;
    return JobChange{row->tenant, row->job};
  }
  *row->job.mutable_result() = result;
  if (auto st = EndAttempt(db, *row, now_ms, "SUCCEEDED"); !st.ok()) return st;
  if (auto st =
          ChangeState(db, *row, Job::SUCCEEDED, "succeeded", nullptr, now_ms);
      !st.ok()) {
    return st;
  }
  if (auto st = SaveJob(db, *row); !st.ok()) return st;
  if (auto st = tx.Commit(); !st.ok()) return st;
  return JobChange{row->tenant, row->job};
}

absl::StatusOr<JobChange> MetadataStore::Fail(const std::string& lease_id,
                                              const v1::Error& error,
                                              bool retryable, bool release,
                                              int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto row = LoadLeasedJob(db, lease_id);
  if (!row.ok()) return row.status();
  absl::Status st;
  if (row->cancel_requested) {
    row->lease_id.clear();
    v1::Error cancelled;
    cancelled.set_code(static_cast<int>(absl::StatusCode::kCancelled));
    cancelled.set_message("cancelled by a client");
    st = EndAttempt(db, *row, now_ms, "CANCELLED");
    if (st.ok()) {
      st = ChangeState(db, *row, Job::CANCELLED, "cancelled while running",
                       &cancelled, now_ms);
    }
  } else if (retryable || release) {
    st = EndAttempt(db, *row, now_ms, release ? "RELEASED" : "RETRY");
    if (st.ok()) {
      st = RequeueOrFail(db, *row,
                         absl::StrCat(release ? "worker released the job: "
                                              : "worker failed: ",
                                      error.message()),
                         release, now_ms);
    }
  } else {
    row->lease_id.clear();
    st = EndAttempt(db, *row, now_ms, "FAILED");
    if (st.ok()) {
      st = ChangeState(db, *row, Job::FAILED, "failed", &error, now_ms);
    }
  }
  if (!st.ok()) return st;
  if (auto s = SaveJob(db, *row); !s.ok()) return s;
  if (auto s = tx.Commit(); !s.ok()) return s;
  return JobChange{row->tenant, row->job};
}

absl::StatusOr<std::vector<JobChange>> MetadataStore::ExpireLeases(
    int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Database* db = db_.get();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto stmt =
      db->Prepare("SELECT id FROM jobs WHERE state=2 AND lease_deadline_ms<?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, now_ms);
  std::vector<std::string> ids;
  while (true) {
    auto r = stmt->Step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    ids.push_back(stmt->Text(0));
  }
  std::vector<JobChange> changes;
  for (const std::string& id : ids) {
    auto loaded = LoadJob(db, "id=?", id);
    if (!loaded.ok()) return loaded.status();
    JobRow row = **std::move(loaded);
    if (auto st = EndAttempt(db, row, now_ms, "LOST"); !st.ok()) return st;
    absl::Status st;
    if (row.cancel_requested) {
      row.lease_id.clear();
      v1::Error cancelled;
      cancelled.set_code(static_cast<int>(absl::StatusCode::kCancelled));
      cancelled.set_message("cancelled by a client (its worker was lost)");
      st =
          ChangeState(db, row, Job::CANCELLED, "cancelled", &cancelled, now_ms);
    } else {
      st = RequeueOrFail(db, row,
                         absl::StrCat("worker ", row.job.worker(),
                                      " lost (no heartbeat before the lease "
                                      "deadline)"),
                         false, now_ms);
    }
    if (!st.ok()) return st;
    if (auto s = SaveJob(db, row); !s.ok()) return s;
    changes.push_back({row.tenant, row.job});
  }
  if (auto st = tx.Commit(); !st.ok()) return st;
  return changes;
}

absl::StatusOr<std::map<Job::State, int64_t>>
MetadataStore::CountJobsByState() {
  std::lock_guard<std::mutex> lock(mu_);
  auto stmt = db_->Prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state");
  if (!stmt.ok()) return stmt.status();
  std::map<Job::State, int64_t> counts;
  while (true) {
    auto r = stmt->Step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    counts[static_cast<Job::State>(stmt->Int(0))] = stmt->Int(1);
  }
  return counts;
}

}  // namespace condense::server
