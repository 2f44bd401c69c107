// Training and evaluation data for the engine: loading (IDX files, an MNIST
// layout directory, safetensors files with `inputs` and `targets`),
// preprocessing as the spec says, the checks that data fits the model, and
// seeded batching. Data is immutable once loaded; not thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_DATA_H_
#define CONDENSE_WORKER_ENGINE_DATA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/engine/config.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

// Where the data comes from. Either `dir` (MNIST layout: both splits), or
// `train` with an optional `eval` file; with no eval, eval_fraction of the
// training data is held out with the spec's seed. A file is a safetensors
// file (tensors "inputs" and optionally "targets") or an IDX images file,
// whose labels are the IDX file of the same name with "labels-idx1" in place
// of "images-idx3", when it exists.
struct DataSources {
  std::string dir;
  std::string train;
  std::string eval;
  bool empty() const { return dir.empty() && train.empty(); }
};

struct Split {
  torch::Tensor inputs;   // As stored: [N, sample dims...], uint8 or float.
  torch::Tensor targets;  // int64 [N], or undefined when unlabelled.
  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
};

class Data {
 public:
  static absl::StatusOr<Data> Load(const DataSources& sources,
                                   const EngineConfig& config);

  // Settles the per-sample shape (the spec's, else the first of the data's
  // own, flattened, or with a channel axis that `module` accepts), checks the
  // output is [batch, classes] and every label is below `classes`. Runs two
  // samples through the model in eval mode.
  absl::Status FitTo(torch::jit::Module& module, const torch::Device& device);

  // A batch as the model takes it: float32 on `device`, scaled, normalized,
  // reshaped to [B, sample_shape...].
  torch::Tensor Prepare(const torch::Tensor& raw,
                        const torch::Device& device) const;

  // The sample order for one epoch: a permutation seeded by (seed, salt).
  static torch::Tensor Shuffle(int64_t n, uint64_t seed, uint64_t salt);

  bool labelled() const { return train_.targets.defined(); }
  const Split& train() const { return train_; }
  const Split& eval() const { return eval_; }
  // Held out of the training data for a search's decisions
  // (ValidationFraction(config), seeded); empty without a search.
  const Split& validation() const { return validation_; }
  // This data with the validation split in place of the evaluation split,
  // for a search, which must never see the evaluation data. Shares the
  // tensors.
  Data ForSearch() const;
  int64_t classes() const { return classes_; }
  const std::vector<int64_t>& sample_shape() const { return sample_shape_; }
  // Sources, sizes and preprocessing, for the report.
  nlohmann::json Describe() const;

  // Moves the raw tensors to `device` once, so batches need no copies.
  void MoveTo(const torch::Device& device);

 private:
  Split train_;
  Split eval_;
  Split validation_;
  DataConfig config_;
  std::vector<int64_t> sample_shape_;
  int64_t classes_ = 0;
  nlohmann::json description_;
};

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_DATA_H_
