#include "worker/engine/search.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/engine.h"
#include "worker/engine/testing/engine_testing.h"

namespace condense::engine {
namespace {

using ::testing::HasSubstr;
using testing::MakeMlp;
using testing::SaveModule;
using testing::TempDir;
using testing::WriteClassificationData;

EngineConfig SearchConfigFor(GoalConfig goal) {
  EngineConfig c;
  StageConfig search;
  search.kind = StageConfig::Kind::kSearch;
  search.search.max_epochs = 20;
  search.search.max_candidates = 4;
  search.search.validation_fraction = 0.2;
  search.search.sensitivity_samples = 200;
  c.stages = {search};
  c.goal = goal;
  c.training.batch_size = 32;
  c.training.learning_rate = 1e-2;
  c.device = DeviceChoice::kCpu;
  c.seed = 5;
  return c;
}

// A trained MLP (the search compresses a model that has learned) and its
// data; the evaluation data is drawn with `eval_seed`.
RunInputs SearchInputs(const std::string& name, uint64_t eval_seed) {
  const std::string dir = TempDir(name);
  auto module = MakeMlp(32, 64, 3, 1);
  RunInputs in;
  in.model_path = SaveModule(module, dir + "/mlp.pt");
  WriteClassificationData(dir + "/train.safetensors", 3000, 32, 3, 2);
  WriteClassificationData(dir + "/eval.safetensors", 1000, 32, 3, eval_seed);
  in.train_data = dir + "/train.safetensors";
  in.eval_data = dir + "/eval.safetensors";
  in.out_dir = dir + "/dense";
  in.threads = 1;
  EngineConfig train;
  StageConfig finetune;
  finetune.kind = StageConfig::Kind::kFinetune;
  finetune.finetune.epochs = 8;
  train.stages = {finetune};
  train.training.batch_size = 32;
  train.training.learning_rate = 1e-2;
  train.device = DeviceChoice::kCpu;
  auto trained = RunCompression(train, in, nullptr, nullptr);
  EXPECT_TRUE(trained.ok()) << trained.status();
  in.model_path = trained->torchscript_path;
  in.out_dir = dir + "/out";
  return in;
}

GoalConfig MaxDrop(double drop) {
  GoalConfig g;
  g.max_accuracy_drop = drop;
  return g;
}

nlohmann::json WithoutTimes(nlohmann::json search) {
  search.erase("sensitivity_seconds");
  for (auto& c : search["candidates"]) c.erase("seconds");
  return search;
}

TEST(SearchTest, MeetsTheGoalAndReportsEveryCandidate) {
  auto out = RunCompression(SearchConfigFor(MaxDrop(0.03)),
                            SearchInputs("meets", 3), nullptr, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& r = out->report;
  const auto& search = r["stages"][0]["search"];
  EXPECT_EQ(search["goal"], "max-drop=3pt");
  EXPECT_EQ(search["validation_samples"], 600);
  ASSERT_FALSE(search["candidates"].empty());
  ASSERT_TRUE(search["chosen"].is_number());
  const auto& chosen = search["candidates"][search["chosen"].get<int>()];
  EXPECT_TRUE(chosen["meets"].get<bool>());
  // The chosen candidate is what was written, to the byte.
  EXPECT_EQ(chosen["bytes"], r["totals"]["compressed_bytes"]);
  EXPECT_GT(r["totals"]["compression_ratio"].get<double>(), 3);
  // Judged on the evaluation split, within the goal.
  EXPECT_LE(r["accuracy"]["baseline"].get<double>() -
                r["accuracy"]["final"].get<double>(),
            0.03);
  // One sensitivity curve per compressed tensor, on both axes.
  ASSERT_EQ(search["sensitivity"].size(), 2u);
  EXPECT_EQ(search["sensitivity"][0]["name"], "fc1.weight");
  EXPECT_GE(search["sensitivity"][0]["sparsity"].size(), 5u);
  EXPECT_EQ(search["sensitivity"][0]["bits"].size(), 6u);
  EXPECT_LE(search["epochs"].get<int>(), 20);
  // The first candidate is the spec's recipe: every tensor at its
  // configured bits (5) and pruned where |w| <= sensitivity (1.0) x the
  // dense std, a threshold reached in steps with retraining between them
  // (the weights that survive grow): a large part but far from all.
  const auto& first = search["candidates"][0];
  EXPECT_TRUE(first["recipe"].get<bool>());
  for (const auto& t : first["tensors"]) {
    EXPECT_EQ(t["bits"], 5) << t;
    EXPECT_GT(t["sparsity"].get<double>(), 0.3) << t;
    EXPECT_LT(t["sparsity"].get<double>(), 0.9) << t;
  }
  for (size_t i = 1; i < search["candidates"].size(); ++i) {
    EXPECT_FALSE(search["candidates"][i]["recipe"].get<bool>());
  }
  // Drops are against the lower of the dense model and its control.
  EXPECT_LE(search["validation_reference"].get<double>(),
            search["validation_baseline"].get<double>());
}

TEST(SearchTest, NeverReadsTheEvaluationSplit) {
  // Two runs that differ only in their evaluation data make the same
  // decisions: every number the search recorded is the same.
  auto a = RunCompression(SearchConfigFor(MaxDrop(0.05)),
                          SearchInputs("eval_a", 3), nullptr, nullptr);
  auto b = RunCompression(SearchConfigFor(MaxDrop(0.05)),
                          SearchInputs("eval_b", 9), nullptr, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(WithoutTimes(a->report["stages"][0]["search"]),
            WithoutTimes(b->report["stages"][0]["search"]));
  EXPECT_NE(a->report["accuracy"]["baseline"],
            b->report["accuracy"]["baseline"]);
}

TEST(SearchTest, UnreachableGoalFailsNamingTheClosest) {
  GoalConfig tiny;
  tiny.max_bytes = 100;  // Less than the container's own framing.
  RunInputs in = SearchInputs("unreachable", 3);
  auto out = RunCompression(SearchConfigFor(tiny), in, nullptr, nullptr);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(out.status().message(),
              HasSubstr("no candidate of the search met the goal "
                        "max-bytes=100"));
  EXPECT_THAT(out.status().message(), HasSubstr("the closest, candidate"));
  EXPECT_THAT(out.status().message(),
              HasSubstr("relax the goal (the closest meets --goal "
                        "max-bytes="));
  EXPECT_FALSE(std::filesystem::exists(in.out_dir + "/model.cdz"));
}

// Cancels the run as the search reports its `after`th candidate: a worker
// killed in the middle of a search.
class KillAfterCandidate : public ProgressObserver {
 public:
  KillAfterCandidate(CancelFlag* flag, int after)
      : flag_(flag), prefix_("candidate " + std::to_string(after) + ":") {}
  void OnEvent(const ProgressEvent& e) override {
    if (e.message.rfind(prefix_, 0) == 0) flag_->Cancel();
    if (e.message.rfind("resuming the search", 0) == 0) resumed = true;
  }
  bool resumed = false;

 private:
  CancelFlag* flag_;
  std::string prefix_;
};

TEST(SearchTest, ResumesInsideTheSearchAfterAKill) {
  const EngineConfig config = SearchConfigFor(MaxDrop(0.05));
  // The same inputs (their paths are in the file's manifest), two outputs.
  RunInputs in = SearchInputs("resume", 3);
  const std::string out = in.out_dir;
  in.out_dir = out + "_whole";
  auto whole = RunCompression(config, in, nullptr, nullptr);
  ASSERT_TRUE(whole.ok()) << whole.status();
  const auto& candidates = whole->report["stages"][0]["search"]["candidates"];
  ASSERT_GE(candidates.size(), 2u) << "the kill must come mid-search";

  in.out_dir = out;
  in.checkpoint_dir = TempDir("resume_checkpoints");
  CancelFlag flag;
  KillAfterCandidate killer(&flag, 0);
  auto killed = RunCompression(config, in, &killer, &flag);
  ASSERT_EQ(killed.status().code(), absl::StatusCode::kCancelled)
      << killed.status();
  EXPECT_TRUE(std::filesystem::exists(in.checkpoint_dir + "/search.pt"));

  KillAfterCandidate watcher(&flag, -1);
  CancelFlag fresh;
  auto resumed = RunCompression(config, in, &watcher, &fresh);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(watcher.resumed);
  EXPECT_EQ(WithoutTimes(resumed->report["stages"][0]["search"]),
            WithoutTimes(whole->report["stages"][0]["search"]));
  EXPECT_EQ(resumed->report["totals"]["compressed_bytes"],
            whole->report["totals"]["compressed_bytes"]);
}

TEST(SearchTest, GoalText) {
  EXPECT_EQ(GoalText(GoalConfig{}), "max-drop=0.5pt");
  EXPECT_EQ(GoalText(MaxDrop(0.01)), "max-drop=1pt");
  GoalConfig bytes;
  bytes.max_bytes = 20000;
  EXPECT_EQ(GoalText(bytes), "max-bytes=20000");
  EXPECT_FALSE(AllowedDrop(bytes).has_value());
  GoalConfig ratio;
  ratio.min_ratio = 50;
  EXPECT_EQ(GoalText(ratio), "min-ratio=50x");
  EXPECT_EQ(AllowedDrop(GoalConfig{}), kDefaultMaxAccuracyDrop);
}

}  // namespace
}  // namespace condense::engine
