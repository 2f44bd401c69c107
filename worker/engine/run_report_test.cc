#include "worker/engine/run_report.h"

#include "gtest/gtest.h"

namespace condense::engine {
namespace {

using nlohmann::json;

EvalResult Measured(double top1, double top5, double loss) {
  EvalResult r;
  r.top1 = top1;
  r.top5 = top5;
  r.loss = loss;
  return r;
}

StageRecord Base(const char* stage, int index, StageDetail detail) {
  StageRecord r;
  r.stage = stage;
  r.index = index;
  r.detail = std::move(detail);
  r.accuracy = Measured(0.875, 0.99, 0.25);
  r.sparsity = 0.9;
  r.ratio_pruned = 9.5;
  r.ratio_pruned_quantized = 31.25;
  r.duration_seconds = 1.5;
  r.weight_histograms = {{"fc1.weight", {0, 3, 5}}};
  return r;
}

std::vector<StageRecord> EveryKind() {
  PruneRecord prune;
  prune.steps.push_back(
      {1, 0.5, Measured(0.8, -1, 0.5), {{"fc1.weight", 0.5}}});
  prune.steps.push_back({2, 0.9, EvalResult{}, {{"fc1.weight", 0.9}}});
  prune.layer_sparsity = {{"fc1.weight", 0.9}};
  DsdRecord dsd{Measured(0.7, -1, 1), Measured(0.6, -1, 1.2),
                Measured(0.75, -1, 0.9), 0.3};
  QuantizeRecord quantize;
  quantize.layers.push_back({"fc1.weight", 5, 1000, 32, 0.125, 7, 0.01});
  quantize.layers.push_back({"fc2.weight", 5, 0});
  quantize.after_clustering = Measured(0.85, -1, 0.4);
  quantize.epochs = 2;
  return {Base("prune", 0, prune), Base("dsd", 1, dsd),
          Base("quantize", 2, quantize),
          Base("finetune", 3, FinetuneRecord{4})};
}

TEST(RunReportTest, StageRecordsRoundTripThroughTheirJson) {
  for (const StageRecord& r : EveryKind()) {
    const json j = ToJson(r);
    auto back = StageRecordFromJson(j);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(ToJson(*back), j) << r.stage;
    EXPECT_EQ(back->detail.index(), r.detail.index()) << r.stage;
  }
}

TEST(RunReportTest, StageDetailIsFlatInTheRecord) {
  const std::vector<StageRecord> records = EveryKind();
  const json prune = ToJson(records[0]);
  EXPECT_EQ(prune["steps"].size(), 2u);
  EXPECT_TRUE(prune["steps"][1]["accuracy"].is_null());
  EXPECT_EQ(prune["steps"][0]["accuracy"]["top1"], 0.8);
  EXPECT_FALSE(prune["steps"][0]["accuracy"].contains("top5"));
  const json quantize = ToJson(records[2]);
  EXPECT_EQ(quantize["layers"][0]["centroids"], 32);
  // A tensor with nothing to cluster has no clustering fields.
  EXPECT_FALSE(quantize["layers"][1].contains("centroids"));
  EXPECT_EQ(quantize["epochs"], 2);
  EXPECT_EQ(ToJson(records[1])["accuracy_sparse"]["top1"], 0.6);
  EXPECT_EQ(ToJson(records[3])["epochs"], 4);
}

TEST(RunReportTest, RejectsWhatIsNotAStageRecord) {
  EXPECT_FALSE(StageRecordFromJson(json::array()).ok());
  EXPECT_FALSE(StageRecordFromJson(json{{"stage", "compile"}}).ok());
  EXPECT_FALSE(
      StageRecordFromJson(json{{"stage", "prune"}, {"steps", "many"}}).ok());
}

TEST(RunReportTest, ReportJsonHasTheSchemaFields) {
  RunReport r;
  r.model = {"m.pt", "abc", "torchscript", 100};
  r.spec_json = R"({"preset":"quantize"})";
  r.stages = EveryKind();
  r.baseline = Measured(0.9, 0.99, 0.3);
  r.final = Measured(0.89, 0.98, 0.31);
  r.histogram_bins = 64;
  r.weights.push_back({"fc1.weight", -1, 1, {1, 2}, {0, 2}, std::nullopt});
  r.warnings = {"careful"};
  const json j = ToJson(r);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["spec"]["preset"], "quantize");
  EXPECT_EQ(j["stages"].size(), 4u);
  EXPECT_FALSE(j.contains("streamed"));
  EXPECT_EQ(j["accuracy"]["final"], 0.89);
  EXPECT_EQ(j["accuracy"]["baseline_top5"], 0.99);
  EXPECT_FALSE(j["weights"]["layers"][0].contains("centroids"));
  EXPECT_EQ(j["weights"]["bins"], 64);
  EXPECT_EQ(j["warnings"][0], "careful");
  r.baseline = r.final = EvalResult{};
  r.streamed = true;
  const json data_free = ToJson(r);
  EXPECT_TRUE(data_free["accuracy"]["final"].is_null());
  EXPECT_FALSE(data_free["accuracy"].contains("final_top5"));
  EXPECT_TRUE(data_free["streamed"].get<bool>());
}

}  // namespace
}  // namespace condense::engine
