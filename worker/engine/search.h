// Compression to a goal (docs/engine.md, "The search"): the smallest model
// within the user's accuracy budget, or the most accurate within a size,
// found by measurement instead of hand-set sensitivities.
//
//  1. Sensitivity: each compressed tensor alone, without retraining, pruned
//     to a grid of sparsities and clustered to a grid of codebook sizes, on
//     a subsample of the validation split.
//  2. Costs: the codec's exact bytes of each tensor at each (sparsity, bits),
//     with the best gap width, tables and framing included.
//  3. Allocation (allocation.h): per tensor the option with the fewest
//     total bytes whose summed predicted loss is within a budget.
//  4. Closed loop: for a drop goal the spec's own recipe first (pruned by
//     its sensitivities, its configured bits), whose outcome sets the
//     scale of the loss budget; then the allocated candidate is pruned with
//     retraining (starting from the most pruned earlier state it can reuse),
//     quantized with training and measured on validation; the budget grows
//     while the goal is met with room and shrinks when it is missed, until
//     little room is left, the bracket is tight or the search budget is spent.
//
// Every decision reads the validation split (Data::ForSearch), never the
// evaluation split. Not thread-safe; runs on the model in memory.
#ifndef CONDENSE_WORKER_ENGINE_SEARCH_H_
#define CONDENSE_WORKER_ENGINE_SEARCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/run_report.h"
#include "worker/engine/stages.h"

namespace condense::engine {

// Leaves ctx.env.model as the chosen candidate (pruned, quantized, trained)
// and returns the search's record. ctx.env.data must hold a validation
// split. FailedPrecondition when no candidate meets the goal: the message
// names the closest candidate and what to relax.
absl::StatusOr<SearchRecord> RunSearch(const SearchConfig& config,
                                       StageContext& ctx);

// The goal in its one-flag form: "max-drop=0.5pt", "max-bytes=20000",
// "min-ratio=50x".
std::string GoalText(const GoalConfig& goal);

// The accuracy drop a goal allows: its max_accuracy_drop, the default
// without any goal, or none (size goals).
std::optional<double> AllowedDrop(const GoalConfig& goal);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_SEARCH_H_
