// Allocation of per-tensor compression settings: from each tensor's options
// (a sparsity and a codebook size, with the codec's bytes for it and the
// accuracy it is predicted to cost), the choice per tensor with the fewest
// total bytes whose summed predicted loss is within a budget. An exact
// dynamic programme over the loss, discretised upwards (so a choice it
// returns never exceeds the budget), in O(tensors x options x resolution).
// No LibTorch; pure functions, thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_ALLOCATION_H_
#define CONDENSE_WORKER_ENGINE_ALLOCATION_H_

#include <cstdint>
#include <vector>

namespace condense::engine {

struct TensorOption {
  double sparsity = 0;
  int bits = 0;
  double bytes = 0;  // The tensor's bytes with this option.
  double loss = 0;   // Predicted accuracy loss (a fraction); < 0 counts 0.
};

struct Allocation {
  std::vector<int> choice;  // Per tensor, an index into its options.
  double bytes = 0;
  double loss = 0;        // Predicted, summed.
  bool feasible = false;  // Some choice fits the budget.
};

// The fewest-bytes choice with summed loss <= `budget`. When even the
// least lossy option of every tensor exceeds the budget, that choice, with
// feasible false. Every tensor must have at least one option.
// `resolution`: steps the budget is divided into; losses are rounded up to
// a step, so a tensor whose loss is a small fraction of a step counts one.
Allocation Allocate(const std::vector<std::vector<TensorOption>>& tensors,
                    double budget, int resolution = 1000);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_ALLOCATION_H_
