// What a tensor of a model is: which layer kind holds it and which parameter
// of that layer it is. Compression follows the role, not the name: the
// weight matrices of linear, convolution, transposed convolution, embedding,
// recurrent (every gate matrix of LSTM, GRU, RNN) and attention layers are
// compressed by default; norms, biases, free parameters (positional tables,
// class tokens, layer scales) and buffers are stored raw, each with a reason
// the report gives. The user's layer rules override either way.
//
// No LibTorch here: the module type arrives as its class name. Pure
// functions; thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_TENSOR_ROLE_H_
#define CONDENSE_WORKER_ENGINE_TENSOR_ROLE_H_

#include <string>
#include <utility>
#include <vector>

namespace condense::engine {

enum class TensorRole {
  kLinearWeight,
  kConvWeight,
  kConvTransposeWeight,
  kEmbeddingWeight,
  kRecurrentWeight,  // weight_ih_l*, weight_hh_l*, weight_hr_l* (projections)
  kAttentionWeight,  // in_proj_weight, q/k/v_proj_weight of attention
  kOtherWeight,      // "weight" of rank >= 2 in a module type we do not know
  kBias,
  kNorm,           // Weights and biases of batch, layer, group norms.
  kFreeParameter,  // A parameter held directly by a container module.
  kBuffer,         // Running statistics, masks, index tables.
};

// The role of parameter (or buffer) `param_name` of a module whose class is
// `module_type` (a TorchScript qualified name such as
// "__torch__.torch.nn.modules.linear.Linear", or just "Linear"; empty when
// unknown). `rank` is the tensor's number of dimensions.
TensorRole RoleInModule(const std::string& module_type,
                        const std::string& param_name, int rank,
                        bool is_parameter);

// The role of a tensor known only by its full name (a safetensors state
// dict): "*.weight" of rank >= 2 is a layer weight (embedding, recurrent and
// attention names recognised), rank 1 a bias or norm.
TensorRole RoleFromName(const std::string& name, int rank);

// The role of a tensor of an ONNX graph from one use of it: input `input`
// of an op `op_type` ("MatMul", "Conv", "LSTM", ...). A tensor with several
// uses takes the first that makes it a compressed weight (see
// RoleFromOnnxUses).
TensorRole RoleFromOnnxUse(const std::string& op_type, int input, int rank);
// Over all uses (op type, input slot) in graph order; an unused tensor is a
// buffer.
TensorRole RoleFromOnnxUses(
    const std::vector<std::pair<std::string, int>>& uses, int rank);

// Whether tensors of this role are compressed unless a rule says otherwise.
bool CompressedByDefault(TensorRole role);

// Whether a tensor takes the `conv` settings rather than the `fc` ones:
// convolution kernels, and tensors of rank >= 3 of no matrix role (an ONNX
// LSTM's gate matrices are 3-D and still take the fc settings).
bool TakesConvSettings(TensorRole role, int rank);

// "linear weight", "bias", ...: for reports and messages.
const char* RoleName(TensorRole role);

// Why a tensor of this role is stored raw by default (empty when it is
// compressed by default).
const char* RawReason(TensorRole role);

// "Linear" from "__torch__.torch.nn.modules.linear.Linear".
std::string ShortTypeName(const std::string& module_type);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_TENSOR_ROLE_H_
