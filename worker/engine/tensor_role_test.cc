#include "worker/engine/tensor_role.h"

#include "gtest/gtest.h"

namespace condense::engine {
namespace {

TEST(TensorRoleTest, ByModuleType) {
  const std::string lin = "__torch__.torch.nn.modules.linear.Linear";
  EXPECT_EQ(RoleInModule(lin, "weight", 2, true), TensorRole::kLinearWeight);
  EXPECT_EQ(RoleInModule(lin, "bias", 1, true), TensorRole::kBias);
  EXPECT_EQ(
      RoleInModule("__torch__.torch.nn.modules.rnn.___torch_mangle_3.LSTM",
                   "weight_hh_l1_reverse", 2, true),
      TensorRole::kRecurrentWeight);
  EXPECT_EQ(RoleInModule("GRU", "bias_ih_l0", 1, true), TensorRole::kBias);
  EXPECT_EQ(RoleInModule("MultiheadAttention", "in_proj_weight", 2, true),
            TensorRole::kAttentionWeight);
  EXPECT_EQ(RoleInModule("ConvTranspose2d", "weight", 4, true),
            TensorRole::kConvTransposeWeight);
  EXPECT_EQ(RoleInModule("Conv3d", "weight", 5, true), TensorRole::kConvWeight);
  EXPECT_EQ(RoleInModule("Embedding", "weight", 2, true),
            TensorRole::kEmbeddingWeight);
  EXPECT_EQ(RoleInModule("LayerNorm", "weight", 1, true), TensorRole::kNorm);
  EXPECT_EQ(RoleInModule("BatchNorm2d", "running_mean", 1, false),
            TensorRole::kBuffer);
  EXPECT_EQ(RoleInModule("Encoder", "pos_embedding", 3, true),
            TensorRole::kFreeParameter);
  EXPECT_EQ(RoleInModule("CNBlock", "layer_scale", 3, true),
            TensorRole::kFreeParameter);
  // A weight matrix of a module type we do not know is still a weight.
  EXPECT_EQ(RoleInModule("MyFancyLayer", "weight", 2, true),
            TensorRole::kOtherWeight);
}

TEST(TensorRoleTest, ByNameForStateDicts) {
  EXPECT_EQ(RoleFromName("model.layers.0.self_attn.q_proj.weight", 2),
            TensorRole::kLinearWeight);
  EXPECT_EQ(RoleFromName("model.embed_tokens.weight", 2),
            TensorRole::kEmbeddingWeight);
  EXPECT_EQ(RoleFromName("model.norm.weight", 1), TensorRole::kNorm);
  EXPECT_EQ(RoleFromName("encoder.lstm.weight_ih_l0", 2),
            TensorRole::kRecurrentWeight);
  EXPECT_EQ(RoleFromName("features.0.weight", 4), TensorRole::kConvWeight);
  EXPECT_EQ(RoleFromName("fc.bias", 1), TensorRole::kBias);
  EXPECT_EQ(RoleFromName("cls_token", 3), TensorRole::kFreeParameter);
}

TEST(TensorRoleTest, DefaultsAndReasons) {
  for (TensorRole r :
       {TensorRole::kLinearWeight, TensorRole::kConvWeight,
        TensorRole::kConvTransposeWeight, TensorRole::kEmbeddingWeight,
        TensorRole::kRecurrentWeight, TensorRole::kAttentionWeight,
        TensorRole::kOtherWeight}) {
    EXPECT_TRUE(CompressedByDefault(r)) << RoleName(r);
    EXPECT_STREQ(RawReason(r), "");
  }
  for (TensorRole r : {TensorRole::kBias, TensorRole::kNorm,
                       TensorRole::kFreeParameter, TensorRole::kBuffer}) {
    EXPECT_FALSE(CompressedByDefault(r)) << RoleName(r);
    EXPECT_STRNE(RawReason(r), "");
  }
}

TEST(TensorRoleTest, ByOnnxUse) {
  EXPECT_EQ(RoleFromOnnxUse("MatMul", 1, 2), TensorRole::kLinearWeight);
  EXPECT_EQ(RoleFromOnnxUse("Gemm", 2, 1), TensorRole::kBias);
  EXPECT_EQ(RoleFromOnnxUse("Conv", 1, 4), TensorRole::kConvWeight);
  EXPECT_EQ(RoleFromOnnxUse("Conv", 2, 1), TensorRole::kBias);
  EXPECT_EQ(RoleFromOnnxUse("ConvTranspose", 1, 4),
            TensorRole::kConvTransposeWeight);
  EXPECT_EQ(RoleFromOnnxUse("Gather", 0, 2), TensorRole::kEmbeddingWeight);
  EXPECT_EQ(RoleFromOnnxUse("Gather", 1, 1), TensorRole::kBuffer);
  EXPECT_EQ(RoleFromOnnxUse("LSTM", 1, 3), TensorRole::kRecurrentWeight);
  EXPECT_EQ(RoleFromOnnxUse("GRU", 2, 3), TensorRole::kRecurrentWeight);
  EXPECT_EQ(RoleFromOnnxUse("LSTM", 3, 2), TensorRole::kBias);
  EXPECT_EQ(RoleFromOnnxUse("LayerNormalization", 1, 1), TensorRole::kNorm);
  EXPECT_EQ(RoleFromOnnxUse("Add", 1, 1), TensorRole::kBias);
  EXPECT_EQ(RoleFromOnnxUse("Mul", 1, 3), TensorRole::kFreeParameter);
  // A weight used by a Reshape first and a MatMul later is a weight.
  EXPECT_EQ(RoleFromOnnxUses({{"Reshape", 0}, {"MatMul", 1}}, 2),
            TensorRole::kLinearWeight);
  EXPECT_EQ(RoleFromOnnxUses({}, 2), TensorRole::kBuffer);
}

TEST(TensorRoleTest, ConvSettingsGoByLayerKindThenRank) {
  EXPECT_TRUE(TakesConvSettings(TensorRole::kConvWeight, 4));
  EXPECT_TRUE(TakesConvSettings(TensorRole::kConvTransposeWeight, 3));
  // ONNX holds an LSTM's gate matrices as [directions, 4 * hidden, input].
  EXPECT_FALSE(TakesConvSettings(TensorRole::kRecurrentWeight, 3));
  EXPECT_FALSE(TakesConvSettings(TensorRole::kLinearWeight, 3));
  EXPECT_FALSE(TakesConvSettings(TensorRole::kEmbeddingWeight, 2));
  EXPECT_TRUE(TakesConvSettings(TensorRole::kOtherWeight, 3));
  EXPECT_FALSE(TakesConvSettings(TensorRole::kOtherWeight, 2));
}

}  // namespace
}  // namespace condense::engine
