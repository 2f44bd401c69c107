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

// What the search's closed loop steers by: the allocation's budget, raised
// after a candidate that meets the goal and lowered after one that misses
// it, bisected once both ends are known. Plain value; thread-compatible.
struct BudgetSteering {
  double budget = 0;
  double lo = 0;  // Largest budget that met the goal (0: none yet).
  double hi = 0;  // Smallest budget that missed it (0: none yet).

  // `grow` > 1 scales the budget until some budget has missed.
  void Met(double grow);
  // `shrink` < 1 scales it until some budget has met. `clear`: the miss is
  // beyond its measurement's noise. Before any candidate has met, a
  // marginal miss (the goal within one standard error of the drop) backs
  // off without closing the bracket: retraining's own noise is of that
  // size, and one unlucky first candidate should not cap the search below
  // what it can reach.
  void Missed(double shrink, bool clear);
  // The budgets that meet and miss are within 15% of each other.
  bool Tight() const;
};

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_ALLOCATION_H_
