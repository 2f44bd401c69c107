// The model being compressed: a TorchScript module (trainable) or a
// safetensors state dict (data-free only), its tensors in a fixed order with
// tied parameters listed once, and the compression state of every tensor the
// spec compresses (mask, codebook, assignments). Not thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_MODEL_H_
#define CONDENSE_WORKER_ENGINE_MODEL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/config.h"
#include "worker/engine/model_source.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

// One entry of the state dict: a parameter or a buffer.
struct NamedTensor {
  std::string name;                  // First name in module order.
  std::vector<std::string> aliases;  // Other names of the same tensor.
  torch::Tensor tensor;              // The live tensor (shared with module).
  bool is_parameter = false;
  TensorRole role = TensorRole::kBuffer;
};

// A compressed tensor and its state.
struct Layer {
  std::string name;
  torch::Tensor param;  // The live weight (same as its NamedTensor's).
  LayerConfig config;
  bool conv = false;        // Rank >= 3.
  bool first_conv = false;  // The first conv weight in module order.
  // Pruning: true where a weight is kept. Undefined while dense.
  torch::Tensor mask;
  // Weight sharing: flat positions of kept weights, their cluster, and the
  // centroids (a leaf tensor trained in place of the weights).
  torch::Tensor nz_index;
  torch::Tensor nz_assign;
  torch::Tensor centroids;
  // Std of the nonzero weights when the current prune stage began: the unit
  // of the sensitivity threshold.
  double dense_std = 0;

  // A dense layer of `param` with these settings.
  static Layer Of(const std::string& name, const torch::Tensor& param,
                  const LayerConfig& config, bool first_conv);

  bool quantized() const { return centroids.defined(); }
  // Writes centroids[assign] into the kept positions (zeros elsewhere).
  void ApplyCentroids();
  // Zeroes pruned weights (as +0.0, so the codec's bit-exact check holds).
  void ApplyMask();
  int64_t nonzeros() const;
  double sparsity() const;  // Fraction of the weights that are zero.
};

class Model {
 public:
  // Takes every tensor of `source` into memory on `device` (a TorchScript
  // source's module moves there), floating ones as float32, and resolves
  // which of them the spec compresses.
  static absl::StatusOr<Model> Load(std::unique_ptr<ModelSource> source,
                                    const EngineConfig& config,
                                    const torch::Device& device);

  bool trainable() const { return source_->module() != nullptr; }
  torch::jit::Module& module() { return *source_->module(); }
  const ModelSource& source() const { return *source_; }
  const std::string& path() const { return source_->path(); }
  const std::string& sha256() const { return source_->sha256(); }

  std::vector<NamedTensor>& tensors() { return tensors_; }
  std::vector<Layer>& layers() { return layers_; }
  // The compressed layer whose weight is `t`, or null.
  const Layer* FindLayer(const torch::Tensor& t) const;
  // Parameters the optimizer trains directly (not compressed-and-quantized).
  std::vector<torch::Tensor> PlainParameters() const;
  int64_t parameter_count() const;
  // Fraction of zeros over the compressed tensors.
  double Sparsity() const;

 private:
  std::unique_ptr<ModelSource> source_;
  std::vector<NamedTensor> tensors_;
  std::vector<Layer> layers_;
};

// Makes every floating parameter and buffer of `module` float32 (integer and
// bool buffers such as counters and index tables keep their type).
void FloatingToFloat32(torch::jit::Module& module);

// The error for a spec that selects no tensor of `path` for compression.
absl::Status NothingToCompressError(const std::string& path);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_MODEL_H_
