#include "proto/spec_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::spec {
namespace {

using ::testing::HasSubstr;

TEST(PresetTest, EveryPresetParsesAndValidates) {
  ASSERT_EQ(PresetNames().size(), 6u);
  for (const auto& name : PresetNames()) {
    auto spec = Preset(name);
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    EXPECT_EQ(spec->preset(), name);
    EXPECT_GT(spec->stages_size(), 0) << name;
    EXPECT_TRUE(ValidateSpec(*spec).ok()) << name;
  }
  auto dc = Preset("deep-compression");
  ASSERT_TRUE(dc.ok());
  ASSERT_EQ(dc->stages_size(), 2);
  EXPECT_TRUE(dc->stages(0).has_prune());
  EXPECT_TRUE(dc->stages(1).has_quantize());
  EXPECT_EQ(dc->fc().bits(), 5u);
  EXPECT_EQ(dc->conv().gap_bits(), 8u);
}

TEST(PresetTest, UnknownPresetListsTheKnownOnes) {
  auto spec = Preset("deep");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("deep-compression"));
}

TEST(SpecJsonTest, RoundTripsAndRejectsUnknownFields) {
  auto spec = Preset("dsd+deep-compression");
  ASSERT_TRUE(spec.ok());
  auto again = ParseSpecJson(SpecToJson(*spec, /*pretty=*/true));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), spec->SerializeAsString());
  auto bad = ParseSpecJson(R"({"stages": [], "bitz": 3})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("bitz"));
  EXPECT_FALSE(ParseSpecJson("{").ok());
}

TEST(OverrideTest, SetsNestedFieldsListsAndEnums) {
  auto spec = Preset("deep-compression");
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(ApplyOverride("training.learning_rate=0.01", &*spec).ok());
  EXPECT_DOUBLE_EQ(spec->training().learning_rate(), 0.01);
  ASSERT_TRUE(ApplyOverride("stages[0].prune.steps=5", &*spec).ok());
  EXPECT_EQ(spec->stages(0).prune().steps(), 5u);
  ASSERT_TRUE(ApplyOverride("stages[1].quantize.solver=OPTIMAL", &*spec).ok());
  EXPECT_EQ(spec->stages(1).quantize().solver(), v1::QuantizeStage::OPTIMAL);
  ASSERT_TRUE(ApplyOverride("fc.bits=6", &*spec).ok());
  EXPECT_EQ(spec->fc().bits(), 6u);
  EXPECT_EQ(spec->fc().gap_bits(), 5u);  // Siblings untouched.
  ASSERT_TRUE(
      ApplyOverride(
          R"(layers=[{"pattern":"fc3.weight","settings":{"bits":7}}])", &*spec)
          .ok());
  ASSERT_EQ(spec->layers_size(), 1);
  EXPECT_EQ(spec->layers(0).settings().bits(), 7u);
  ASSERT_TRUE(ApplyOverride("device=cpu", &*spec).ok());
  EXPECT_EQ(spec->device(), "cpu");
}

TEST(OverrideTest, BadOverridesSayWhatIsWrong) {
  auto spec = Preset("deep-compression");
  ASSERT_TRUE(spec.ok());
  const std::string before = spec->SerializeAsString();
  auto expect_error = [&](const std::string& assignment,
                          const std::string& needle) {
    absl::Status st = ApplyOverride(assignment, &*spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << assignment;
    EXPECT_THAT(st.message(), HasSubstr(needle)) << assignment;
    EXPECT_EQ(spec->SerializeAsString(), before) << "changed by " << assignment;
  };
  expect_error("training.learning_rate", "no '='");
  expect_error("stages[7].prune.steps=2", "no [7]");
  expect_error("training.learnin_rate=2", "learnin_rate");
  expect_error("fc.bits=many", "fc");
  expect_error("a..b=1", "position");
  expect_error("stages[x]=1", "bad index");
}

TEST(ValidateTest, NamesTheFieldAndTheRange) {
  auto spec = Preset("deep-compression");
  ASSERT_TRUE(spec.ok());
  struct Case {
    const char* assignment;
    const char* needle;
  } cases[] = {
      {"fc.bits=9", "fc.bits = 9 is out of range: allowed [1, 8]"},
      {"conv.gap_bits=17", "conv.gap_bits"},
      {"stages[0].prune.steps=0", "stages[0].prune.steps"},
      {"stages[1].quantize.epochs=5000", "stages[1].quantize.epochs"},
      {"stages[1].quantize.rate_lambda=-0.1", "stages[1].quantize.rate_lambda"},
      {"fc.rate_lambda=11", "fc.rate_lambda"},
      {"training.batch_size=0", "training.batch_size"},
      {"training.learning_rate=-1", "training.learning_rate"},
      {"data.eval_fraction=1", "data.eval_fraction"},
      {"data.mean=[0.5]", "data.std"},
      {"device=tpu", "auto, cpu or cuda"},
      {R"(layers=[{"settings":{"bits":2}}])", "layers[0].pattern"},
      {R"(layers=[{"pattern":"x","settings":{"sparsity":1.0}}])",
       "layers[0].settings.sparsity"},
  };
  for (const Case& c : cases) {
    CompressionSpec s = *spec;
    ASSERT_TRUE(ApplyOverride(c.assignment, &s).ok()) << c.assignment;
    absl::Status st = ValidateSpec(s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.assignment;
    EXPECT_THAT(st.message(), HasSubstr(c.needle)) << c.assignment;
  }
  CompressionSpec late_prune = *spec;
  *late_prune.add_stages()->mutable_prune() = spec->stages(0).prune();
  EXPECT_THAT(ValidateSpec(late_prune).message(),
              HasSubstr("prune before quantizing"));
  CompressionSpec global = *spec;
  global.mutable_stages(0)->mutable_prune()->set_criterion(
      v1::PruneStage::GLOBAL_SPARSITY);
  EXPECT_THAT(ValidateSpec(global).message(),
              HasSubstr("stages[0].prune.global_sparsity"));
  CompressionSpec empty_stage = *spec;
  empty_stage.add_stages();
  EXPECT_THAT(ValidateSpec(empty_stage).message(), HasSubstr("names no stage"));
}

TEST(GoalTest, OneFlagForms) {
  CompressionSpec s;
  ASSERT_TRUE(ApplyGoal("max-drop=0.5pt", &s).ok());
  EXPECT_DOUBLE_EQ(s.goal().max_accuracy_drop(), 0.005);
  ASSERT_TRUE(ApplyGoal("max-drop=0.01", &s).ok());
  EXPECT_DOUBLE_EQ(s.goal().max_accuracy_drop(), 0.01);
  ASSERT_TRUE(ApplyGoal("max-bytes=20000", &s).ok());
  EXPECT_EQ(s.goal().max_bytes(), 20000u);
  // A new goal replaces the old one.
  EXPECT_FALSE(s.goal().has_max_accuracy_drop());
  ASSERT_TRUE(ApplyGoal("min-ratio=50x", &s).ok());
  EXPECT_DOUBLE_EQ(s.goal().min_ratio(), 50);
  for (const char* bad : {"max-drop", "max-drop=-1", "max-drop=lots",
                          "max-bytes=0", "max-bytes=2.5", "speed=fast"}) {
    absl::Status st = ApplyGoal(bad, &s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(st.message(), HasSubstr("max-drop=0.5pt")) << bad;
  }
}

TEST(GoalTest, TheSearchIsTheDefaultWithData) {
  EXPECT_EQ(DefaultPreset(true), "auto");
  EXPECT_EQ(DefaultPreset(false), "deep-compression");
  auto with_data = ComposeSpec("", {}, {}, /*has_data=*/true);
  ASSERT_TRUE(with_data.ok()) << with_data.status();
  EXPECT_EQ(with_data->preset(), "auto");
  auto without = ComposeSpec("", {}, {}, /*has_data=*/false);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->preset(), "deep-compression");
  // A named preset wins either way.
  auto named = ComposeSpec("quantize", {}, {}, /*has_data=*/true);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->preset(), "quantize");
}

TEST(GoalTest, SearchSpecsAreChecked) {
  auto spec = Preset("auto");
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(spec->stages(0).has_search());
  EXPECT_TRUE(ValidateSpec(*spec).ok());
  CompressionSpec with_goal = *spec;
  ASSERT_TRUE(ApplyGoal("max-drop=1pt", &with_goal).ok());
  EXPECT_TRUE(ValidateSpec(with_goal).ok());
  with_goal.mutable_goal()->set_max_bytes(100);
  EXPECT_THAT(ValidateSpec(with_goal).message(), HasSubstr("more than one"));
  // A goal without a search would be ignored: refused.
  auto dc = Preset("deep-compression");
  ASSERT_TRUE(dc.ok());
  ASSERT_TRUE(ApplyGoal("max-drop=1pt", &*dc).ok());
  EXPECT_THAT(ValidateSpec(*dc).message(), HasSubstr("no search stage"));
  // The search prunes and quantizes itself.
  CompressionSpec both = *spec;
  both.add_stages()->mutable_quantize();
  EXPECT_THAT(ValidateSpec(both).message(), HasSubstr("prunes and quantizes"));
  CompressionSpec late_dsd = *spec;
  late_dsd.add_stages()->mutable_dsd();
  EXPECT_THAT(ValidateSpec(late_dsd).message(), HasSubstr("run dsd before"));
  CompressionSpec budget = *spec;
  ASSERT_TRUE(
      ApplyOverride("stages[0].search.validation_fraction=0.9", &budget).ok());
  EXPECT_THAT(ValidateSpec(budget).message(),
              HasSubstr("stages[0].search.validation_fraction"));
}

}  // namespace
}  // namespace condense::spec
