#include "server/job_core.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "worker/engine/testing/spec_fit_cases.h"

namespace condense::server {
namespace {

namespace iv1 = ::condense::internal::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::FieldsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using v1::Job;
using v1::JobEvent;

// Remembers every notification, in order.
class RecordingObserver : public JobObserver {
 public:
  void OnJobCreated(const Job& job) override {
    std::lock_guard<std::mutex> lock(mu_);
    created.push_back(job.name());
  }
  void OnJobLeased(const Job& job, const std::string& worker) override {
    std::lock_guard<std::mutex> lock(mu_);
    leased.emplace_back(job.name(), worker);
  }
  void OnJobChanged(const Job& job) override {
    std::lock_guard<std::mutex> lock(mu_);
    changed.emplace_back(job.name(), job.state());
  }
  void OnStageFinished(const std::string& job, const std::string& stage,
                       double seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    stages.emplace_back(job, stage, seconds);
  }

  std::mutex mu_;
  std::vector<std::string> created;
  std::vector<std::pair<std::string, std::string>> leased;
  std::vector<std::pair<std::string, Job::State>> changed;
  std::vector<std::tuple<std::string, std::string, double>> stages;
};

class JobCoreTest : public ::testing::Test {
 protected:
  static constexpr char kTenant[] = "alice";
  static constexpr char kWorkerTenant[] = "fleet";

  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / "job_core_test" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = MetadataStore::Open((dir_ / "meta.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto blobs = BlobStore::Open({(dir_ / "blobs").string()});
    ASSERT_TRUE(blobs.ok()) << blobs.status();
    blobs_ = *std::move(blobs);
    options_.lease_timeout_seconds = 30;
    options_.heartbeat_interval_seconds = 5;
    options_.max_attempts = 2;
    MakeCore(nullptr);
  }
  void MakeCore(LongPoller* poller) {
    core_ = std::make_unique<JobCore>(store_.get(), blobs_.get(), &clock_,
                                      poller, options_, &observer_);
  }

  std::string NewModel(const std::string& tenant,
                       v1::Model::Format format = v1::Model::TORCHSCRIPT) {
    v1::Model model;
    model.set_display_name("lenet");
    model.set_format(format);
    // JobCore does not read the model's bytes; the record is enough.
    model.mutable_blob()->set_sha256(std::string(64, 'a'));
    model.mutable_blob()->set_size_bytes(10);
    auto created = store_->CreateModel(tenant, model, clock_.NowMs());
    EXPECT_TRUE(created.ok()) << created.status();
    return created->name();
  }
  std::string NewDataset(const std::string& tenant) {
    v1::Dataset dataset;
    dataset.set_display_name("mnist");
    auto* file = dataset.add_files();
    file->set_path("train.idx");
    file->mutable_blob()->set_sha256(std::string(64, 'b'));
    file->mutable_blob()->set_size_bytes(20);
    dataset.set_train_file("train.idx");
    auto created = store_->CreateDataset(tenant, dataset, clock_.NowMs());
    EXPECT_TRUE(created.ok()) << created.status();
    return created->name();
  }
  // Uploads `data` as `tenant` through the store's Writer.
  v1::Digest PutBlob(const std::string& tenant, const std::string& data) {
    BlobDigest digest{base::Sha256Hex(data), static_cast<int64_t>(data.size())};
    auto writer =
        blobs_->OpenWriter(tenant, absl::StrCat("up-", ++uploads_), digest, 0);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (writer.ok()) {
      EXPECT_TRUE((*writer)->Append(data).ok());
      auto st = (*writer)->Finish();
      EXPECT_TRUE(st.ok()) << st;
    }
    v1::Digest out;
    out.set_sha256(digest.sha256);
    out.set_size_bytes(digest.size_bytes);
    return out;
  }
  static BlobDigest ToBlob(const v1::Digest& d) {
    return BlobDigest{d.sha256(), d.size_bytes()};
  }
  static v1::Digest MissingDigest() {
    v1::Digest d;
    d.set_sha256(base::Sha256Hex("never uploaded"));
    d.set_size_bytes(14);
    return d;
  }

  // A job on a new model; with a new dataset unless one is given (the
  // default preset retrains).
  Job CreateJob(const std::string& preset = "deep-compression",
                const std::string& dataset = "") {
    v1::CreateJobRequest request;
    request.set_model(NewModel(kTenant));
    request.set_dataset(dataset.empty() ? NewDataset(kTenant) : dataset);
    request.set_preset(preset);
    auto job = core_->CreateJob(Caller{kTenant, false}, request);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job();
  }
  iv1::LeaseResponse Lease(const std::string& worker = "host:1") {
    iv1::WorkerInfo info;
    info.set_worker_id(worker);
    auto lease = core_->TryLease(info);
    EXPECT_TRUE(lease.ok()) << lease.status();
    EXPECT_TRUE(lease.ok() && lease->has_value()) << "no job to lease";
    return lease.ok() && lease->has_value() ? **lease : iv1::LeaseResponse();
  }
  bool NothingToLease() {
    iv1::WorkerInfo info;
    info.set_worker_id("host:9");
    auto lease = core_->TryLease(info);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() && !lease->has_value();
  }
  Job GetJob(const std::string& name) {
    auto job = store_->GetJob(kTenant, name);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : Job();
  }
  absl::Status Fail(const std::string& lease_id, bool retryable, bool release,
                    int code = 0) {
    iv1::FailRequest request;
    request.set_lease_id(lease_id);
    request.mutable_error()->set_code(code);
    request.mutable_error()->set_message("boom");
    request.set_retryable(retryable);
    request.set_release(release);
    return core_->Fail(request);
  }
  static JobEvent Event(JobEvent::Kind kind, const std::string& stage = "") {
    JobEvent e;
    e.set_kind(kind);
    e.set_stage(stage);
    return e;
  }
  absl::StatusOr<int64_t> Publish(const std::string& lease_id,
                                  int64_t first_index,
                                  const std::vector<JobEvent>& events) {
    iv1::PublishEventsRequest request;
    request.set_lease_id(lease_id);
    request.set_first_index(first_index);
    for (const auto& e : events) *request.add_events() = e;
    return core_->PublishEvents(request);
  }

  std::filesystem::path dir_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  FakeClock clock_;
  RecordingObserver observer_;
  JobCoreOptions options_;
  std::unique_ptr<JobCore> core_;
  int uploads_ = 0;
};

TEST_F(JobCoreTest, CreateJobValidatesItsInputs) {
  const Caller alice{kTenant, false};
  v1::CreateJobRequest request;
  auto missing = core_->CreateJob(alice, request);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("model is required"));

  request.set_model(NewModel("bob"));
  EXPECT_EQ(core_->CreateJob(alice, request).status().code(),
            absl::StatusCode::kNotFound);

  request.set_model(NewModel(kTenant));
  request.set_dataset(NewDataset("bob"));
  EXPECT_EQ(core_->CreateJob(alice, request).status().code(),
            absl::StatusCode::kNotFound);
  request.clear_dataset();

  request.add_overrides("fc.bits=9");
  auto bits = core_->CreateJob(alice, request);
  EXPECT_EQ(bits.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bits.status().message(), HasSubstr("fc.bits"));
  request.clear_overrides();

  request.set_preset("no-such-preset");
  auto preset = core_->CreateJob(alice, request);
  EXPECT_EQ(preset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(preset.status().message(), HasSubstr("no-such-preset"));

  // Nothing was queued by the failed calls.
  EXPECT_THAT(observer_.created, IsEmpty());
  EXPECT_TRUE(NothingToLease());
}

TEST_F(JobCoreTest, SafetensorsModelsTakeOnlyDataFreePresets) {
  const Caller alice{kTenant, false};
  v1::CreateJobRequest request;
  request.set_model(NewModel(kTenant, v1::Model::SAFETENSORS));
  for (const char* preset : {"deep-compression", "prune", "dsd"}) {
    request.set_preset(preset);
    auto job = core_->CreateJob(alice, request);
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument)
        << preset;
    EXPECT_THAT(job.status().message(), HasSubstr("safetensors")) << preset;
  }
  request.set_preset("quantize");
  auto job = core_->CreateJob(alice, request);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->spec().stages_size(), 1);
  EXPECT_TRUE(job->spec().stages(0).has_quantize());
}

TEST_F(JobCoreTest, WithoutAPresetDataMeansTheSearch) {
  const Caller alice{kTenant, false};
  v1::CreateJobRequest request;
  request.set_model(NewModel(kTenant));
  request.set_dataset(NewDataset(kTenant));
  auto job = core_->CreateJob(alice, request);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->spec().preset(), "auto");
  ASSERT_EQ(job->spec().stages_size(), 1);
  EXPECT_TRUE(job->spec().stages(0).has_search());
  // Without data the default is deep-compression, which needs data.
  request.clear_dataset();
  auto data_free = core_->CreateJob(alice, request);
  EXPECT_EQ(data_free.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data_free.status().message(), HasSubstr("no data was given"));
}

TEST_F(JobCoreTest, CreateJobComposesPresetAndOverrides) {
  const std::string dataset = NewDataset(kTenant);
  v1::CreateJobRequest request;
  request.set_model(NewModel(kTenant));
  request.set_dataset(dataset);
  request.set_preset("prune");
  request.add_overrides("fc.bits=4");
  request.add_overrides("stages[0].prune.steps=7");
  request.set_priority(3);
  (*request.mutable_labels())["team"] = "vision";
  auto job = core_->CreateJob(Caller{kTenant, false}, request);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), Job::QUEUED);
  EXPECT_EQ(job->model(), request.model());
  EXPECT_EQ(job->dataset(), dataset);
  EXPECT_EQ(job->priority(), 3);
  EXPECT_EQ(job->max_attempts(), options_.max_attempts);
  EXPECT_EQ(job->labels().at("team"), "vision");
  const auto& spec = job->spec();
  EXPECT_EQ(spec.preset(), "prune");
  ASSERT_EQ(spec.stages_size(), 1);
  ASSERT_TRUE(spec.stages(0).has_prune());
  EXPECT_EQ(spec.stages(0).prune().steps(), 7u);
  EXPECT_EQ(spec.fc().bits(), 4u);
  EXPECT_EQ(spec.conv().bits(), 8u);  // The preset's, untouched.
  EXPECT_THAT(observer_.created, ElementsAre(job->name()));
  // What was stored is what was returned.
  EXPECT_TRUE(MessageDifferencer::Equals(GetJob(job->name()).spec(), spec));
}

TEST_F(JobCoreTest, TryLeaseHandsOutTheJobOnce) {
  iv1::WorkerInfo nameless;
  EXPECT_EQ(core_->TryLease(nameless).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(NothingToLease());

  const Job job = CreateJob("deep-compression", NewDataset(kTenant));
  const iv1::LeaseResponse lease = Lease("host:42");
  EXPECT_FALSE(lease.lease_id().empty());
  EXPECT_EQ(lease.job(), job.name());
  EXPECT_EQ(lease.attempt(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(lease.spec(), job.spec()));
  EXPECT_EQ(lease.model().name(), job.model());
  EXPECT_EQ(lease.model().blob().sha256(), std::string(64, 'a'));
  EXPECT_EQ(lease.dataset().name(), job.dataset());
  EXPECT_EQ(lease.dataset().train_file(), "train.idx");
  EXPECT_FALSE(lease.has_checkpoint());
  EXPECT_EQ(lease.stages_done(), 0);
  EXPECT_EQ(lease.heartbeat_interval_seconds(), 5);
  EXPECT_EQ(lease.lease_timeout_seconds(), 30);
  EXPECT_THAT(observer_.leased,
              ElementsAre(std::make_pair(job.name(), std::string("host:42"))));
  EXPECT_EQ(GetJob(job.name()).state(), Job::RUNNING);
  EXPECT_TRUE(NothingToLease());
}

TEST_F(JobCoreTest, HeartbeatContinuesUntilCancelled) {
  const Job job = CreateJob();
  const iv1::LeaseResponse lease = Lease();
  auto action = core_->Heartbeat(lease.lease_id());
  ASSERT_TRUE(action.ok()) << action.status();
  EXPECT_EQ(*action, iv1::HeartbeatResponse::CONTINUE);

  // Another tenant cannot cancel it.
  EXPECT_EQ(core_->CancelJob(Caller{"bob", false}, job.name()).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(core_->CancelJob(Caller{kTenant, false}, job.name()).ok());
  action = core_->Heartbeat(lease.lease_id());
  ASSERT_TRUE(action.ok()) << action.status();
  EXPECT_EQ(*action, iv1::HeartbeatResponse::CANCEL);

  // The worker stops and reports; the job ends CANCELLED.
  ASSERT_TRUE(Fail(lease.lease_id(), false, false,
                   static_cast<int>(absl::StatusCode::kCancelled))
                  .ok());
  EXPECT_EQ(GetJob(job.name()).state(), Job::CANCELLED);
  ASSERT_FALSE(observer_.changed.empty());
  EXPECT_EQ(observer_.changed.back(),
            std::make_pair(job.name(), Job::CANCELLED));
  EXPECT_EQ(core_->Heartbeat(lease.lease_id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobCoreTest, CancelQueuedJobEndsItAtOnce) {
  const Job job = CreateJob();
  auto cancelled = core_->CancelJob(Caller{kTenant, false}, job.name());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), Job::CANCELLED);
  EXPECT_THAT(observer_.changed,
              ElementsAre(std::make_pair(job.name(), Job::CANCELLED)));
  EXPECT_TRUE(NothingToLease());
}

TEST_F(JobCoreTest, ExpiredLeasesRequeueThenFail) {
  const Job job = CreateJob();
  const iv1::LeaseResponse first = Lease("host:1");
  // Not yet past the deadline.
  clock_.AdvanceMs(29'000);
  auto expired = core_->ExpireLeases();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);

  clock_.AdvanceMs(2'000);
  expired = core_->ExpireLeases();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1);
  EXPECT_EQ(GetJob(job.name()).state(), Job::QUEUED);
  EXPECT_EQ(observer_.changed.back(), std::make_pair(job.name(), Job::QUEUED));
  // The lost worker's lease is gone.
  EXPECT_EQ(core_->Heartbeat(first.lease_id()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  // Heartbeats keep the second lease alive past the first deadline.
  const iv1::LeaseResponse second = Lease("host:2");
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_NE(second.lease_id(), first.lease_id());
  clock_.AdvanceMs(20'000);
  ASSERT_TRUE(core_->Heartbeat(second.lease_id()).ok());
  clock_.AdvanceMs(20'000);
  expired = core_->ExpireLeases();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);

  // Lost again: no attempts left.
  clock_.AdvanceMs(11'000);
  expired = core_->ExpireLeases();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1);
  const Job failed = GetJob(job.name());
  EXPECT_EQ(failed.state(), Job::FAILED);
  EXPECT_EQ(failed.attempts(), 2);
  EXPECT_FALSE(failed.error().message().empty());
  EXPECT_EQ(observer_.changed.back(), std::make_pair(job.name(), Job::FAILED));
  EXPECT_TRUE(NothingToLease());
}

TEST_F(JobCoreTest, CheckpointMustBeStoredAndTravelsWithTheNextLease) {
  const Job job = CreateJob();
  const iv1::LeaseResponse first = Lease();
  iv1::SaveCheckpointRequest request;
  request.set_lease_id(first.lease_id());
  *request.mutable_checkpoint() = MissingDigest();
  request.set_stages_done(1);
  auto missing = core_->SaveCheckpoint(request);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("not stored"));

  const v1::Digest checkpoint = PutBlob(kWorkerTenant, "checkpoint bytes");
  *request.mutable_checkpoint() = checkpoint;
  ASSERT_TRUE(core_->SaveCheckpoint(request).ok());

  // The worker shuts down; the next lease resumes from the checkpoint.
  ASSERT_TRUE(Fail(first.lease_id(), false, /*release=*/true).ok());
  const iv1::LeaseResponse second = Lease("host:2");
  EXPECT_EQ(second.job(), job.name());
  ASSERT_TRUE(second.has_checkpoint());
  EXPECT_EQ(second.checkpoint().sha256(), checkpoint.sha256());
  EXPECT_EQ(second.checkpoint().size_bytes(), checkpoint.size_bytes());
  EXPECT_EQ(second.stages_done(), 1);

  // A checkpoint under a lease that is no longer current is refused.
  request.set_lease_id(first.lease_id());
  EXPECT_EQ(core_->SaveCheckpoint(request).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobCoreTest, CompleteNeedsStoredArtifactsAndGrantsThemToTheTenant) {
  const Job job = CreateJob();
  const iv1::LeaseResponse lease = Lease();
  iv1::CompleteRequest request;
  request.set_lease_id(lease.lease_id());
  auto* cdz = request.mutable_result()->add_artifacts();
  cdz->set_file_name("model.cdz");
  *cdz->mutable_blob() = MissingDigest();
  request.mutable_result()->set_ratio(35.0);
  auto missing = core_->Complete(request);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("model.cdz"));
  EXPECT_EQ(GetJob(job.name()).state(), Job::RUNNING);

  // The worker uploads under its own tenant; the job's tenant owns nothing
  // yet.
  const v1::Digest blob = PutBlob(kWorkerTenant, "compressed model");
  *cdz->mutable_blob() = blob;
  auto* report = request.mutable_result()->add_artifacts();
  report->set_file_name("report.json");
  *report->mutable_blob() = PutBlob(kWorkerTenant, "{}");
  EXPECT_FALSE(blobs_->Owns(kTenant, ToBlob(blob)));
  ASSERT_TRUE(core_->Complete(request).ok());
  EXPECT_TRUE(blobs_->Owns(kTenant, ToBlob(blob)));
  EXPECT_TRUE(blobs_->Owns(kTenant, ToBlob(report->blob())));
  EXPECT_FALSE(blobs_->Owns("bob", ToBlob(blob)));

  const Job done = GetJob(job.name());
  EXPECT_EQ(done.state(), Job::SUCCEEDED);
  ASSERT_EQ(done.result().artifacts_size(), 2);
  EXPECT_EQ(done.result().artifacts(0).blob().sha256(), blob.sha256());
  EXPECT_EQ(done.result().ratio(), 35.0);
  EXPECT_EQ(observer_.changed.back(),
            std::make_pair(job.name(), Job::SUCCEEDED));
  // A repeated Complete finds no lease.
  EXPECT_EQ(core_->Complete(request).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobCoreTest, RetryableFailureRequeuesUntilAttemptsRunOut) {
  const Job job = CreateJob();
  const iv1::LeaseResponse first = Lease();
  ASSERT_TRUE(Fail(first.lease_id(), /*retryable=*/true, false).ok());
  EXPECT_EQ(GetJob(job.name()).state(), Job::QUEUED);
  EXPECT_EQ(observer_.changed.back(), std::make_pair(job.name(), Job::QUEUED));
  // The old lease is over.
  EXPECT_EQ(Fail(first.lease_id(), true, false).code(),
            absl::StatusCode::kFailedPrecondition);

  const iv1::LeaseResponse second = Lease();
  EXPECT_EQ(second.attempt(), 2);
  ASSERT_TRUE(Fail(second.lease_id(), /*retryable=*/true, false).ok());
  EXPECT_EQ(GetJob(job.name()).state(), Job::FAILED);
  EXPECT_EQ(observer_.changed.back(), std::make_pair(job.name(), Job::FAILED));
  EXPECT_TRUE(NothingToLease());
}

TEST_F(JobCoreTest, NonRetryableFailureEndsTheJobWithItsError) {
  const Job job = CreateJob();
  const iv1::LeaseResponse lease = Lease();
  ASSERT_TRUE(Fail(lease.lease_id(), false, false,
                   static_cast<int>(absl::StatusCode::kInvalidArgument))
                  .ok());
  const Job failed = GetJob(job.name());
  EXPECT_EQ(failed.state(), Job::FAILED);
  EXPECT_EQ(failed.error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(failed.error().message(), HasSubstr("boom"));
  EXPECT_TRUE(NothingToLease());
}

TEST_F(JobCoreTest, FailureWithoutCodeIsRecordedAsUnknown) {
  const Job job = CreateJob();
  ASSERT_TRUE(Fail(Lease().lease_id(), false, false, /*code=*/0).ok());
  EXPECT_EQ(GetJob(job.name()).error().code(),
            static_cast<int>(absl::StatusCode::kUnknown));
}

TEST_F(JobCoreTest, ReleaseRequeuesWithoutSpendingAnAttempt) {
  const Job job = CreateJob();
  // More releases than max_attempts: none of them counts.
  for (int i = 0; i < options_.max_attempts + 1; ++i) {
    const iv1::LeaseResponse lease = Lease();
    EXPECT_EQ(lease.attempt(), 1) << "release " << i;
    ASSERT_TRUE(Fail(lease.lease_id(), false, /*release=*/true).ok());
    EXPECT_EQ(GetJob(job.name()).state(), Job::QUEUED);
  }
}

TEST_F(JobCoreTest, PublishEventsStoresThemAndTimesStages) {
  const Job job = CreateJob();
  const iv1::LeaseResponse lease = Lease();
  auto next = Publish(
      lease.lease_id(), 0,
      {Event(JobEvent::RUN_STARTED), Event(JobEvent::STAGE_STARTED, "prune")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 2);
  clock_.AdvanceMs(2'500);
  next = Publish(lease.lease_id(), 2,
                 {Event(JobEvent::BATCH, "prune"),
                  Event(JobEvent::STAGE_FINISHED, "prune")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 4);
  ASSERT_EQ(observer_.stages.size(), 1u);
  EXPECT_THAT(observer_.stages[0],
              FieldsAre(job.name(), "prune", DoubleEq(2.5)));

  // A resend of events already held stores nothing twice.
  next = Publish(lease.lease_id(), 2, {Event(JobEvent::BATCH, "prune")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 4);
  // A gap is refused.
  EXPECT_EQ(
      Publish(lease.lease_id(), 7, {Event(JobEvent::BATCH)}).status().code(),
      absl::StatusCode::kInvalidArgument);
  // Workers may not forge state changes.
  EXPECT_EQ(Publish(lease.lease_id(), 4, {Event(JobEvent::STATE_CHANGED)})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  auto events = store_->ReadEvents(kTenant, job.name(), 1, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<JobEvent::Kind> worker_kinds;
  for (const auto& e : *events) {
    if (e.kind() != JobEvent::STATE_CHANGED) worker_kinds.push_back(e.kind());
  }
  EXPECT_THAT(worker_kinds,
              ElementsAre(JobEvent::RUN_STARTED, JobEvent::STAGE_STARTED,
                          JobEvent::BATCH, JobEvent::STAGE_FINISHED));
  EXPECT_EQ(observer_.stages.size(), 1u);
}

TEST_F(JobCoreTest, ResentStageEventsDoNotReportTheStageTwice) {
  const Job job = CreateJob();
  const iv1::LeaseResponse lease = Lease();
  const std::vector<JobEvent> stage = {
      Event(JobEvent::STAGE_STARTED, "prune"),
      Event(JobEvent::STAGE_FINISHED, "prune")};
  ASSERT_TRUE(Publish(lease.lease_id(), 0, {stage[0]}).ok());
  clock_.AdvanceMs(4'000);
  ASSERT_TRUE(Publish(lease.lease_id(), 1, {stage[1]}).ok());
  ASSERT_EQ(observer_.stages.size(), 1u);
  // The worker did not hear the answers and resends both from index 0.
  clock_.AdvanceMs(1'000);
  auto next = Publish(lease.lease_id(), 0, stage);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 2);
  EXPECT_EQ(observer_.stages.size(), 1u);
}

TEST_F(JobCoreTest, ChangesWakeThePoller) {
  LongPoller poller(std::chrono::seconds(10));
  MakeCore(&poller);
  std::mutex mu;
  std::condition_variable cv;
  bool leased = false;
  // A waiting Lease call as the service runs it: try on every wake.
  poller.Add([&](bool shutting_down) {
    if (shutting_down) return true;
    iv1::WorkerInfo info;
    info.set_worker_id("host:7");
    auto lease = core_->TryLease(info);
    if (!lease.ok() || !lease->has_value()) return false;
    std::lock_guard<std::mutex> lock(mu);
    leased = true;
    cv.notify_all();
    return true;
  });
  const Job job = CreateJob();
  std::unique_lock<std::mutex> lock(mu);
  // Far sooner than the 10 s tick: CreateJob woke it.
  EXPECT_TRUE(
      cv.wait_for(lock, std::chrono::seconds(5), [&] { return leased; }));
  lock.unlock();
  poller.Shutdown();
  EXPECT_EQ(GetJob(job.name()).state(), Job::RUNNING);
}

}  // namespace
}  // namespace condense::server

namespace condense::server {
namespace {

// Every rule of what a spec needs (worker/engine/requirements.h) holds at
// CreateJob: the same table the engine's test runs through the engine.
class CreateJobSpecFitTest
    : public JobCoreTest,
      public ::testing::WithParamInterface<engine::testing::SpecFitCase> {};

TEST_P(CreateJobSpecFitTest, RefusesWhatTheEngineRefuses) {
  const engine::testing::SpecFitCase& c = GetParam();
  v1::CreateJobRequest request;
  request.set_model(NewModel(kTenant, c.safetensors ? v1::Model::SAFETENSORS
                                                    : v1::Model::TORCHSCRIPT));
  if (c.has_data) request.set_dataset(NewDataset(kTenant));
  request.set_preset(c.preset);
  for (const std::string& o : c.overrides) request.add_overrides(o);
  auto job = core_->CreateJob(Caller{kTenant, false}, request);
  if (c.refusal.empty()) {
    EXPECT_TRUE(job.ok()) << job.status();
  } else {
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(job.status().message(), HasSubstr(c.refusal));
    EXPECT_TRUE(NothingToLease());
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CreateJobSpecFitTest,
                         ::testing::ValuesIn(engine::testing::SpecFitCases()),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace condense::server
