#include "worker/engine/requirements.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::engine {
namespace {

using ::testing::HasSubstr;

TEST(RequirementsTest, QuantizeTrainsTwoEpochsWithDataByDefault) {
  QuantizeConfig q;
  EXPECT_EQ(QuantizeEpochs(q, true), 2);
  EXPECT_EQ(QuantizeEpochs(q, false), 0);
  q.epochs = 5;
  EXPECT_EQ(QuantizeEpochs(q, false), 5);
  StageConfig dsd;
  dsd.kind = StageConfig::Kind::kDsd;
  dsd.dsd.sparse_epochs = dsd.dsd.dense_epochs = 0;
  EXPECT_GT(StageEpochs(dsd, true), 0);  // DSD always trains.
}

TEST(RequirementsTest, CrossEntropyNeedsLabelsOnceTheyAreKnown) {
  EngineConfig c;
  c.loss.kind = LossKind::kCrossEntropy;
  JobFacts facts{ModelFormat::kTorchScript, true, std::nullopt};
  EXPECT_TRUE(CheckSpecFits(c, facts).ok());  // The server cannot tell.
  facts.labelled = false;
  EXPECT_THAT(CheckSpecFits(c, facts).message(), HasSubstr("needs labels"));
  facts.labelled = true;
  EXPECT_TRUE(CheckSpecFits(c, facts).ok());
}

TEST(RequirementsTest, FormatNames) {
  for (ModelFormat f : {ModelFormat::kTorchScript, ModelFormat::kSafetensors,
                        ModelFormat::kSafetensorsSharded, ModelFormat::kOnnx}) {
    auto parsed = ParseModelFormat(ModelFormatName(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_THAT(
      ParseModelFormat("tflite").status().message(),
      HasSubstr("torchscript, safetensors, safetensors-sharded or onnx"));
}

TEST(RequirementsTest, OnnxModelsAreCompressedDataFree) {
  EngineConfig quantize;
  quantize.stages.resize(1);
  quantize.stages[0].kind = StageConfig::Kind::kQuantize;
  JobFacts facts{ModelFormat::kOnnx, false, std::nullopt};
  EXPECT_TRUE(CheckSpecFits(quantize, facts).ok());
  facts.has_data = true;
  EXPECT_THAT(CheckSpecFits(quantize, facts).message(),
              HasSubstr("an ONNX model"));
  EngineConfig prune;
  prune.stages.resize(1);
  prune.stages[0].kind = StageConfig::Kind::kPrune;
  facts.has_data = false;
  const absl::Status fits = CheckSpecFits(prune, facts);
  EXPECT_EQ(fits.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fits.message(), HasSubstr("stage 0 (prune) retrains"));
  EXPECT_THAT(fits.message(), HasSubstr("an ONNX model"));
}

}  // namespace
}  // namespace condense::engine
