#include "worker/engine/tensor_role.h"

#include <array>
#include <string_view>

namespace condense::engine {
namespace {

bool OneOf(std::string_view s, std::initializer_list<std::string_view> set) {
  for (std::string_view x : set) {
    if (s == x) return true;
  }
  return false;
}

bool IsRecurrentWeightName(std::string_view p) {
  return p.starts_with("weight_ih") || p.starts_with("weight_hh") ||
         p.starts_with("weight_hr");
}

bool IsAttentionWeightName(std::string_view p) {
  return OneOf(
      p, {"in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"});
}

std::string_view LastComponent(std::string_view name) {
  const size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

}  // namespace

std::string ShortTypeName(const std::string& module_type) {
  return std::string(LastComponent(module_type));
}

TensorRole RoleInModule(const std::string& module_type,
                        const std::string& param_name, int rank,
                        bool is_parameter) {
  if (!is_parameter) return TensorRole::kBuffer;
  const std::string type = ShortTypeName(module_type);
  const std::string_view p = param_name;
  const bool weight = p == "weight";
  if (OneOf(type, {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
                   "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
                   "InstanceNorm3d", "LocalResponseNorm", "RMSNorm",
                   "FrozenBatchNorm2d"})) {
    return TensorRole::kNorm;
  }
  if (p.starts_with("bias") || p.ends_with("_bias")) return TensorRole::kBias;
  if (rank < 2) return TensorRole::kFreeParameter;
  if (OneOf(type, {"Linear", "LazyLinear", "Bilinear",
                   "NonDynamicallyQuantizableLinear"}) &&
      weight) {
    return TensorRole::kLinearWeight;
  }
  if (OneOf(type, {"Conv1d", "Conv2d", "Conv3d", "LazyConv1d", "LazyConv2d",
                   "LazyConv3d", "Conv2dNormActivation"}) &&
      weight) {
    return TensorRole::kConvWeight;
  }
  if (OneOf(type, {"ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                   "LazyConvTranspose1d", "LazyConvTranspose2d",
                   "LazyConvTranspose3d"}) &&
      weight) {
    return TensorRole::kConvTransposeWeight;
  }
  if (OneOf(type, {"Embedding", "EmbeddingBag"}) && weight) {
    return TensorRole::kEmbeddingWeight;
  }
  if (OneOf(type, {"LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"}) &&
      IsRecurrentWeightName(p)) {
    return TensorRole::kRecurrentWeight;
  }
  if (type == "MultiheadAttention" && IsAttentionWeightName(p)) {
    return TensorRole::kAttentionWeight;
  }
  if (weight) return TensorRole::kOtherWeight;
  return TensorRole::kFreeParameter;
}

TensorRole RoleFromName(const std::string& name, int rank) {
  const std::string_view n = name;
  const std::string_view last = LastComponent(n);
  if (last.starts_with("bias") || last.ends_with("_bias")) {
    return TensorRole::kBias;
  }
  if (rank < 2) {
    // Without a module, a vector named weight is most often a norm's scale.
    return last == "weight" ? TensorRole::kNorm : TensorRole::kFreeParameter;
  }
  if (IsRecurrentWeightName(last)) return TensorRole::kRecurrentWeight;
  if (IsAttentionWeightName(last)) return TensorRole::kAttentionWeight;
  if (last != "weight" && !last.ends_with("_weight")) {
    return TensorRole::kFreeParameter;
  }
  const std::string_view owner = n.substr(0, n.size() - last.size());
  if (owner.find("embed") != std::string_view::npos ||
      owner.ends_with("wte.") || owner.ends_with("wpe.")) {
    return TensorRole::kEmbeddingWeight;
  }
  return rank >= 3 ? TensorRole::kConvWeight : TensorRole::kLinearWeight;
}

TensorRole RoleFromOnnxUse(const std::string& op_type, int input, int rank) {
  const std::string_view op = op_type;
  if (op == "MatMul" || op == "Gemm" || op == "Einsum") {
    if (op == "Gemm" && input == 2) return TensorRole::kBias;
    return rank >= 2 ? TensorRole::kLinearWeight : TensorRole::kFreeParameter;
  }
  if (op == "Conv" || op == "ConvTranspose") {
    if (input != 1) return TensorRole::kBias;
    return op == "Conv" ? TensorRole::kConvWeight
                        : TensorRole::kConvTransposeWeight;
  }
  if (op == "Gather") {
    return input == 0 && rank >= 2 ? TensorRole::kEmbeddingWeight
                                   : TensorRole::kBuffer;
  }
  if (op == "LSTM" || op == "GRU" || op == "RNN") {
    // W, R; then B; then sequence lengths, initial states, peepholes.
    if (input == 1 || input == 2) return TensorRole::kRecurrentWeight;
    return input == 3 ? TensorRole::kBias : TensorRole::kFreeParameter;
  }
  if (op.ends_with("Normalization")) return TensorRole::kNorm;
  // MatMul then Add is how exporters write a linear layer's bias.
  if (op == "Add" && rank <= 1) return TensorRole::kBias;
  return TensorRole::kFreeParameter;
}

TensorRole RoleFromOnnxUses(
    const std::vector<std::pair<std::string, int>>& uses, int rank) {
  if (uses.empty()) return TensorRole::kBuffer;
  for (const auto& [op, input] : uses) {
    const TensorRole role = RoleFromOnnxUse(op, input, rank);
    if (CompressedByDefault(role)) return role;
  }
  return RoleFromOnnxUse(uses.front().first, uses.front().second, rank);
}

bool CompressedByDefault(TensorRole role) { return RawReason(role)[0] == '\0'; }

bool TakesConvSettings(TensorRole role, int rank) {
  switch (role) {
    case TensorRole::kConvWeight:
    case TensorRole::kConvTransposeWeight:
      return true;
    case TensorRole::kLinearWeight:
    case TensorRole::kEmbeddingWeight:
    case TensorRole::kRecurrentWeight:
    case TensorRole::kAttentionWeight:
      return false;
    default:
      return rank >= 3;
  }
}

const char* RoleName(TensorRole role) {
  switch (role) {
    case TensorRole::kLinearWeight:
      return "linear weight";
    case TensorRole::kConvWeight:
      return "convolution weight";
    case TensorRole::kConvTransposeWeight:
      return "transposed convolution weight";
    case TensorRole::kEmbeddingWeight:
      return "embedding table";
    case TensorRole::kRecurrentWeight:
      return "recurrent gate matrix";
    case TensorRole::kAttentionWeight:
      return "attention projection";
    case TensorRole::kOtherWeight:
      return "weight of another layer kind";
    case TensorRole::kBias:
      return "bias";
    case TensorRole::kNorm:
      return "normalization parameter";
    case TensorRole::kFreeParameter:
      return "free parameter";
    case TensorRole::kBuffer:
      return "buffer";
  }
  return "unknown";
}

const char* RawReason(TensorRole role) {
  switch (role) {
    case TensorRole::kBias:
      return "biases are few and sensitive: stored raw by default";
    case TensorRole::kNorm:
      return "normalization scales and shifts are few and sensitive: stored "
             "raw by default";
    case TensorRole::kFreeParameter:
      return "a parameter held outside any known layer (positional table, "
             "class token, layer scale): stored raw by default";
    case TensorRole::kBuffer:
      return "buffers (running statistics, masks, tables) are state, not "
             "weights: never compressed";
    default:
      return "";
  }
}

}  // namespace condense::engine
