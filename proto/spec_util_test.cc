#include "proto/spec_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::spec {
namespace {

using ::testing::HasSubstr;

TEST(PresetTest, EveryPresetParsesAndValidates) {
  ASSERT_EQ(PresetNames().size(), 5u);
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

}  // namespace
}  // namespace condense::spec
