// A copy of a model's values and compression state (masks, assignments,
// codebooks, settings) to go back to, and its form in a checkpoint archive.
// The search keeps several (earlier candidates' pruned states, the best
// candidate) and checkpoints them. Plain values; not synchronized.
#ifndef CONDENSE_WORKER_ENGINE_SNAPSHOT_H_
#define CONDENSE_WORKER_ENGINE_SNAPSHOT_H_

#include <string>
#include <vector>

#include "worker/engine/model.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

struct Snapshot {
  struct LayerState {
    torch::Tensor mask, nz_index, nz_assign, centroids;
    double dense_std = 0;
    LayerConfig config;
  };
  std::vector<torch::Tensor> tensors;  // One per model tensor, in order.
  std::vector<LayerState> layers;      // One per compressed layer.
  std::vector<double> sparsity;        // Per layer, reached.
};

// Copies (clones) of everything; the snapshot shares nothing with `model`.
Snapshot TakeSnapshot(Model& model);
// Puts `snapshot` back into `model` (of the same tensors), cloning again so
// the snapshot stays as it was.
void RestoreSnapshot(Model& model, const Snapshot& snapshot);

// An optional tensor in an archive: written (on the CPU) only when defined;
// read back undefined when absent.
void WriteIfDefined(torch::serialize::OutputArchive& archive,
                    const std::string& key, const torch::Tensor& t);
torch::Tensor ReadIfPresent(torch::serialize::InputArchive& archive,
                            const std::string& key,
                            const torch::Device& device);

// Under keys starting with `prefix`.
void WriteSnapshot(torch::serialize::OutputArchive& archive,
                   const std::string& prefix, const Snapshot& snapshot);
// Reads what WriteSnapshot wrote for a model shaped like `model` (whose
// layers give the settings' defaults), onto `device`.
Snapshot ReadSnapshot(torch::serialize::InputArchive& archive,
                      const std::string& prefix, Model& model,
                      const torch::Device& device);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_SNAPSHOT_H_
