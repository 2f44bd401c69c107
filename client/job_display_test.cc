// Event lines, the live view, status and summary text, the live area's
// escapes, and the JSON form of a Job.
#include "client/job_display.h"

#include <sstream>

#include "client/json_output.h"
#include "client/live_area.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/job_state.h"

namespace condense::client {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

v1::JobEvent BatchEvent() {
  v1::JobEvent e;
  e.set_sequence(17);
  e.set_time_unix_ms(3723000);  // 01:02:03 UTC.
  e.set_kind(v1::JobEvent::BATCH);
  e.set_stage("quantize");
  e.set_stage_index(1);
  e.set_stage_count(4);
  e.set_epoch(2);
  e.set_epochs(3);
  e.set_batch(120);
  e.set_batches(468);
  e.set_loss(0.12345);
  e.set_samples_per_second(2500);
  e.set_eta_seconds(80);
  return e;
}

TEST(RenderEventLine, Batch) {
  const std::string line = RenderEventLine(BatchEvent());
  EXPECT_EQ(line.rfind("01:02:03 #17 batch [2/4 quantize]", 0), 0u) << line;
  EXPECT_TRUE(Has(line, "epoch 2/3 batch 120/468 loss 0.1235")) << line;
  EXPECT_TRUE(Has(line, "ETA 1m20s")) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(RenderEventLine, StateChangeWithError) {
  v1::JobEvent e;
  e.set_sequence(40);
  e.set_kind(v1::JobEvent::STATE_CHANGED);
  e.set_state(v1::Job::FAILED);
  e.set_attempt(2);
  e.mutable_error()->set_message("the model has no layers to compress");
  const std::string line = RenderEventLine(e);
  EXPECT_TRUE(Has(line, "#40 state_changed FAILED attempt 2")) << line;
  EXPECT_TRUE(Has(line, ": the model has no layers to compress")) << line;
}

TEST(RenderEventLine, StageFinishedShowsAccuracyAndRatio) {
  v1::JobEvent e;
  e.set_sequence(3);
  e.set_kind(v1::JobEvent::STAGE_FINISHED);
  e.set_stage("prune");
  e.set_stage_count(3);
  e.set_accuracy(0.9812);
  e.set_sparsity(0.92);
  e.set_ratio(12.34);
  const std::string line = RenderEventLine(e);
  EXPECT_TRUE(Has(line, "[1/3 prune]")) << line;
  EXPECT_TRUE(Has(line, "accuracy 98.12% sparsity 92.00% ratio 12.3x")) << line;
}

TEST(WatchView, FollowsEventsAndResetsPerStage) {
  WatchView view;
  view.job = "jobs/j1";
  v1::JobEvent running;
  running.set_kind(v1::JobEvent::STATE_CHANGED);
  running.set_state(v1::Job::RUNNING);
  running.set_attempt(1);
  ApplyEvent(running, &view);
  ApplyEvent(BatchEvent(), &view);
  EXPECT_EQ(view.state, v1::Job::RUNNING);
  EXPECT_EQ(view.batch, 120);
  EXPECT_EQ(view.stage, "quantize");

  std::vector<std::string> lines = RenderLiveView(view, 100);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLiveViewLines));
  EXPECT_TRUE(Has(lines[0], "jobs/j1  RUNNING  attempt 1")) << lines[0];
  EXPECT_TRUE(Has(lines[1], "stage  2/4 quantize")) << lines[1];
  EXPECT_TRUE(Has(lines[2], "2/3")) << lines[2];
  EXPECT_TRUE(Has(lines[3], "120/468")) << lines[3];
  EXPECT_TRUE(Has(lines[3], "ETA 1m20s")) << lines[3];
  EXPECT_TRUE(Has(lines[4], "accuracy -")) << lines[4];

  v1::JobEvent next_stage;
  next_stage.set_kind(v1::JobEvent::STAGE_STARTED);
  next_stage.set_stage("huffman");
  next_stage.set_stage_index(2);
  next_stage.set_stage_count(4);
  ApplyEvent(next_stage, &view);
  EXPECT_EQ(view.batch, 0);
  EXPECT_EQ(view.epochs, 0);
  EXPECT_EQ(view.stage_index, 2);
}

TEST(WatchView, LinesFitTheWidth) {
  WatchView view;
  view.job = std::string(200, 'j');
  view.last_message = std::string(300, 'm');
  for (const std::string& line : RenderLiveView(view, 60)) {
    EXPECT_LE(line.size(), 60u) << line;
  }
}

v1::Job SucceededJob() {
  v1::Job job;
  job.set_name("jobs/j1");
  job.set_model("models/m1");
  job.set_state(v1::Job::SUCCEEDED);
  job.set_priority(3);
  job.mutable_result()->set_ratio(39.7);
  job.mutable_result()->set_accuracy_before(0.9836);
  job.mutable_result()->set_accuracy_after(0.9842);
  v1::Artifact* a = job.mutable_result()->add_artifacts();
  a->set_file_name("model.cdz");
  a->mutable_blob()->set_sha256(std::string(64, 'a'));
  a->mutable_blob()->set_size_bytes(27 * 1024);
  return job;
}

TEST(RenderJobSummary, SucceededShowsRatioAccuracyAndArtifacts) {
  const std::string text = RenderJobSummary(SucceededJob());
  EXPECT_TRUE(Has(text, "jobs/j1 SUCCEEDED")) << text;
  EXPECT_TRUE(Has(text, "ratio:    39.7x")) << text;
  EXPECT_TRUE(Has(text, "98.36% -> 98.42%")) << text;
  EXPECT_TRUE(Has(text, "model.cdz")) << text;
  EXPECT_TRUE(Has(text, "27.0 KiB")) << text;
}

TEST(RenderJobSummary, FailedShowsTheError) {
  v1::Job job;
  job.set_name("jobs/j2");
  job.set_state(v1::Job::FAILED);
  job.mutable_error()->set_message("out of memory: lower batch_size");
  const std::string text = RenderJobSummary(job);
  EXPECT_TRUE(Has(text, "jobs/j2 FAILED")) << text;
  EXPECT_TRUE(Has(text, "out of memory: lower batch_size")) << text;
  EXPECT_FALSE(Has(text, "ratio")) << text;
}

TEST(RenderJobStatus, IncludesResultOfFinishedJobs) {
  const std::string text = RenderJobStatus(SucceededJob());
  EXPECT_TRUE(Has(text, "model:    models/m1")) << text;
  EXPECT_TRUE(Has(text, "priority: 3")) << text;
  EXPECT_TRUE(Has(text, "ratio:    39.7x")) << text;
}

TEST(JobStates, ParseAndFinal) {
  v1::Job::State state;
  EXPECT_TRUE(ParseJobState("running", &state));
  EXPECT_EQ(state, v1::Job::RUNNING);
  EXPECT_TRUE(ParseJobState("CANCELLED", &state));
  EXPECT_FALSE(ParseJobState("done", &state));
  EXPECT_FALSE(ParseJobState("state_unspecified", &state));
  EXPECT_TRUE(JobEnded(v1::Job::FAILED));
  EXPECT_FALSE(JobEnded(v1::Job::QUEUED));
}

TEST(JsonOutput, JobUsesProtoNamesAndKeepsDefaults) {
  v1::Job job = SucceededJob();
  const nlohmann::json j = nlohmann::json::parse(MessageToJson(job));
  EXPECT_EQ(j["name"], "jobs/j1");
  EXPECT_EQ(j["state"], "SUCCEEDED");
  EXPECT_DOUBLE_EQ(j["result"]["ratio"].get<double>(), 39.7);
  EXPECT_EQ(j["result"]["artifacts"][0]["file_name"], "model.cdz");
  // int64 is a string in the protobuf JSON mapping.
  EXPECT_EQ(j["result"]["artifacts"][0]["blob"]["size_bytes"], "27648");
  // Defaults are printed, so scripts can rely on the fields.
  EXPECT_EQ(j["attempts"], 0);
  EXPECT_EQ(j["dataset"], "");
}

TEST(JsonOutput, OneLineForEvents) {
  const std::string line = MessageToJson(BatchEvent(), JsonStyle::kOneLine);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["kind"], "BATCH");
  EXPECT_EQ(j["sequence"], "17");
}

TEST(LiveArea, RedrawsInPlaceAndLogsAbove) {
  std::ostringstream out;
  LiveArea area(&out);
  area.Draw({"a", "b"});
  EXPECT_EQ(out.str(), "a\nb\n");
  out.str("");
  area.Draw({"c", "d"});
  // Back up two lines, clear, redraw.
  EXPECT_EQ(out.str(), "\033[2F\033[Jc\nd\n");
  out.str("");
  area.Log("event");
  EXPECT_EQ(out.str(), "\033[2F\033[Jevent\nc\nd\n");
  out.str("");
  area.Close();
  area.Log("after");
  EXPECT_EQ(out.str(), "after\n");
}

}  // namespace
}  // namespace condense::client
