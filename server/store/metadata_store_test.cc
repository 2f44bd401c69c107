#include "server/store/metadata_store.h"

#include <filesystem>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::server {
namespace {

using ::testing::HasSubstr;
using v1::Job;
using v1::JobEvent;

class MetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto store = MetadataStore::Open((dir_ / "meta.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::string NewModel(const std::string& tenant) {
    v1::Model model;
    model.set_display_name("lenet");
    model.set_format(v1::Model::TORCHSCRIPT);
    model.mutable_blob()->set_sha256(std::string(64, 'a'));
    model.mutable_blob()->set_size_bytes(10);
    auto created = store_->CreateModel(tenant, model, 1);
    EXPECT_TRUE(created.ok()) << created.status();
    return created->name();
  }
  Job NewJob(const std::string& tenant, int priority = 0,
             const std::string& request_id = "") {
    Job job;
    job.set_model(NewModel(tenant));
    job.set_priority(priority);
    job.set_max_attempts(2);
    auto created = store_->CreateJob(tenant, job, request_id, 100, ++now_);
    EXPECT_TRUE(created.ok()) << created.status();
    return *created;
  }
  std::vector<JobEvent> Events(const std::string& job) {
    auto events = store_->ReadEvents("", job, 1, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    return *events;
  }

  std::filesystem::path dir_;
  std::unique_ptr<MetadataStore> store_;
  int64_t now_ = 1000;
};

TEST_F(MetadataStoreTest, RecordsAreScopedByTenant) {
  const std::string name = NewModel("alice");
  EXPECT_TRUE(store_->GetModel("alice", name).ok());
  auto other = store_->GetModel("bob", name);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound);
  auto bad = store_->GetModel("alice", "jobs/x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->DeleteModel("bob", name).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->DeleteModel("alice", name).ok());
  EXPECT_EQ(store_->GetModel("alice", name).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MetadataStoreTest, ListPagesNewestFirst) {
  std::vector<std::string> names;
  names.reserve(5);
  for (int i = 0; i < 5; ++i) names.push_back(NewModel("t"));
  std::vector<std::string> seen;
  std::string token;
  do {
    auto page = store_->ListModels("t", 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->models_size(), 2);
    for (const auto& m : page->models()) seen.push_back(m.name());
    token = page->next_page_token();
  } while (!token.empty());
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen.front(), names.back());
  EXPECT_EQ(seen.back(), names.front());
  EXPECT_EQ(store_->ListModels("t", 2, "garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MetadataStoreTest, LeasesByPriorityThenAge) {
  Job low = NewJob("t", 0);
  Job high = NewJob("t", 5);
  Job low2 = NewJob("t", 0);
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    ++now_;
    auto grant = store_->LeaseNext("w", now_, now_ + 1000);
    ASSERT_TRUE(grant.ok() && grant->has_value());
    order.push_back((*grant)->job.name());
    EXPECT_EQ((*grant)->job.state(), Job::RUNNING);
    EXPECT_EQ((*grant)->job.attempts(), 1);
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{high.name(), low.name(), low2.name()}));
  ++now_;
  auto none = store_->LeaseNext("w", now_, now_ + 1000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(MetadataStoreTest, RequestIdMakesCreateIdempotent) {
  Job first = NewJob("t", 0, "req-1");
  Job job;
  job.set_model(first.model());
  auto again = store_->CreateJob("t", job, "req-1", 100, ++now_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->name(), first.name());
  // Another tenant's request ids are its own.
  Job other = NewJob("u", 0, "req-1");
  EXPECT_NE(other.name(), first.name());
}

TEST_F(MetadataStoreTest, QueueLimitPerTenant) {
  Job job;
  job.set_model(NewModel("t"));
  ASSERT_TRUE(store_->CreateJob("t", job, "", 1, 1).ok());
  auto second = store_->CreateJob("t", job, "", 1, 2);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("--max-queued-jobs"));
}

TEST_F(MetadataStoreTest, ExpiredLeaseRequeuesThenFails) {
  Job job = NewJob("t");
  auto grant = store_->LeaseNext("w1", 100, 200);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  const std::string lease = (*grant)->lease_id;
  // Before the deadline nothing expires.
  auto none = store_->ExpireLeases(150);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto changes = store_->ExpireLeases(201);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].job.state(), Job::QUEUED);
  // The old lease is gone.
  EXPECT_EQ(store_->Heartbeat(lease, 300).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = store_->LeaseNext("w2", 300, 400);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->job.attempts(), 2);
  auto last = store_->ExpireLeases(401);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].job.state(), Job::FAILED);
  EXPECT_THAT((*last)[0].job.error().message(), HasSubstr("gave up after 2"));
}

TEST_F(MetadataStoreTest, CheckpointTravelsToTheNextLease) {
  NewJob("t");
  auto grant = store_->LeaseNext("w1", 100, 200);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  EXPECT_FALSE((*grant)->checkpoint.has_value());
  v1::Digest ckpt;
  ckpt.set_sha256(std::string(64, 'c'));
  ckpt.set_size_bytes(42);
  ASSERT_TRUE(store_->SaveCheckpoint((*grant)->lease_id, ckpt, 2, 150).ok());
  ASSERT_TRUE(store_->ExpireLeases(201).ok());
  auto next = store_->LeaseNext("w2", 300, 400);
  ASSERT_TRUE(next.ok() && next->has_value());
  ASSERT_TRUE((*next)->checkpoint.has_value());
  EXPECT_EQ((*next)->checkpoint->size_bytes(), 42);
  EXPECT_EQ((*next)->stages_done, 2);
}

TEST_F(MetadataStoreTest, CancelQueuedAndRunning) {
  Job queued = NewJob("t");
  auto cancelled = store_->CancelJob("t", queued.name(), 10);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), Job::CANCELLED);
  EXPECT_EQ(store_->CancelJob("t", queued.name(), 11).status().code(),
            absl::StatusCode::kFailedPrecondition);

  Job running = NewJob("t");
  auto grant = store_->LeaseNext("w", 20, 1000);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  ASSERT_TRUE(store_->CancelJob("t", running.name(), 21).ok());
  auto hb = store_->Heartbeat((*grant)->lease_id, 2000);
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(*hb);
  v1::Error error;
  error.set_message("stopped");
  auto end = store_->Fail((*grant)->lease_id, error, true, false, 30);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->job.state(), Job::CANCELLED);
  // Another tenant cannot cancel.
  Job mine = NewJob("t");
  EXPECT_EQ(store_->CancelJob("u", mine.name(), 40).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MetadataStoreTest, ACancelBeforeTheResultWins) {
  Job job = NewJob("t");
  auto grant = store_->LeaseNext("w", 20, 1000);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  ASSERT_TRUE(store_->CancelJob("t", job.name(), 21).ok());
  // The worker completes before its next heartbeat tells it to stop.
  v1::JobResult result;
  result.set_ratio(40);
  auto end = store_->Complete((*grant)->lease_id, result, 22);
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(end->job.state(), Job::CANCELLED);
  EXPECT_EQ(end->job.error().message(), "cancelled by a client");
  auto stored = store_->GetJob("t", job.name());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), Job::CANCELLED);
  EXPECT_FALSE(stored->has_result());
}

TEST_F(MetadataStoreTest, EventsAreSequencedAndResendsStoredOnce) {
  Job job = NewJob("t");
  auto grant = store_->LeaseNext("w", 10, 1000);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  const std::string lease = (*grant)->lease_id;
  std::vector<JobEvent> batch(3);
  for (auto& e : batch) e.set_kind(JobEvent::BATCH);
  batch[2].set_kind(JobEvent::STAGE_STARTED);
  batch[2].set_stage("prune");
  auto next = store_->AppendEvents(lease, 0, batch, 11);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 3);
  // A resend of the last two plus one new.
  std::vector<JobEvent> resend(3);
  for (auto& e : resend) e.set_kind(JobEvent::MESSAGE);
  next = store_->AppendEvents(lease, 1, resend, 12);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 4);
  EXPECT_EQ(store_->AppendEvents(lease, 9, resend, 12).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::JobResult result;
  result.set_ratio(40);
  auto done = store_->Complete(lease, result, 20);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->job.state(), Job::SUCCEEDED);
  EXPECT_EQ(done->tenant, "t");
  std::vector<JobEvent> events = Events(job.name());
  // queued, running, 4 worker events, succeeded.
  ASSERT_EQ(events.size(), 7u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(events.back().state(), Job::SUCCEEDED);
  auto from5 = store_->ReadEvents("t", job.name(), 5, 100);
  ASSERT_TRUE(from5.ok());
  EXPECT_EQ(from5->size(), 3u);
  EXPECT_EQ(store_->ReadEvents("u", job.name(), 1, 100).status().code(),
            absl::StatusCode::kNotFound);
  auto got = store_->GetJob("t", job.name());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->progress().stage(), "prune");
  EXPECT_EQ(got->result().ratio(), 40);
}

TEST_F(MetadataStoreTest, SurvivesReopen) {
  Job job = NewJob("t");
  auto grant = store_->LeaseNext("w", 10, 1000);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  Reopen();
  auto hb = store_->Heartbeat((*grant)->lease_id, 2000);
  ASSERT_TRUE(hb.ok()) << hb.status();
  auto got = store_->GetJob("t", job.name());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state(), Job::RUNNING);
  EXPECT_EQ(Events(job.name()).size(), 2u);
}

TEST_F(MetadataStoreTest, NonRetryableFailureEndsTheJob) {
  Job job = NewJob("t");
  auto grant = store_->LeaseNext("w", 10, 1000);
  ASSERT_TRUE(grant.ok() && grant->has_value());
  v1::Error error;
  error.set_code(3);
  error.set_message("the dataset does not fit the model");
  auto end = store_->Fail((*grant)->lease_id, error, false, false, 20);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->job.state(), Job::FAILED);
  EXPECT_EQ(end->job.error().code(), 3);
  // Releasing (worker shutdown) does not spend an attempt.
  Job second = NewJob("t");
  for (int i = 0; i < 3; ++i) {
    auto g = store_->LeaseNext("w", 30 + i, 1000);
    ASSERT_TRUE(g.ok() && g->has_value());
    auto r = store_->Fail((*g)->lease_id, error, false, true, 31 + i);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->job.state(), Job::QUEUED);
  }
  auto counts = store_->CountJobsByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[Job::FAILED], 1);
  EXPECT_EQ((*counts)[Job::QUEUED], 1);
}

}  // namespace
}  // namespace condense::server
