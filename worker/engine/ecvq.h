// Rate-aware weight sharing for one layer: importance-weighted,
// entropy-constrained scalar quantization (Chou, Lookabaugh and Gray's ECVQ
// in one dimension, with the Hessian weighting of Choi et al., "Towards the
// limit of network quantization").
//
// Each surviving weight w_i, with importance h_i (an estimate of the loss's
// curvature; all equal without data), goes to the centroid c_k minimising
//     (h_i / mean h) (w_i - c_k)^2 / var(w)  +  lambda * l_k,
// where l_k = -log2(n_k / n) is the code length of index k under the
// current index distribution; centroids then move to the importance-weighted
// mean of their weights, code lengths to the new distribution, until the
// assignments stop changing. lambda trades distortion (in units of the
// layer's variance) for bits per weight: 0 is importance-weighted k-means
// (plain k-means without importance), and raising it empties rarely used
// clusters and lowers the index entropy the codec pays for.
//
// Thread safety: pure functions of their arguments.
#ifndef CONDENSE_WORKER_ENGINE_ECVQ_H_
#define CONDENSE_WORKER_ENGINE_ECVQ_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace condense::engine {

// The least a weight's importance counts, as a fraction of its layer's mean
// importance (ecvq.cc says why).
inline constexpr double kMinRelativeImportance = 1.0 / 32;

struct EcvqOptions {
  double lambda = 0;  // >= 0.
  int max_iterations = 100;
};

struct EcvqResult {
  std::vector<float> centroids;  // Ascending; only those in use.
  std::vector<int32_t> assign;   // Per value, into `centroids`.
  // Importance-weighted mean squared error over the layer's variance.
  double distortion = 0;
  // Empirical entropy of the assignments, bits per weight.
  double entropy_bits = 0;
  int iterations = 0;
};

// `values`: the layer's surviving weights (nonempty, finite). `importance`:
// one nonnegative finite value per weight, or empty for all equal.
// `initial`: the starting centroids (nonempty, ascending, e.g. k-means').
absl::StatusOr<EcvqResult> EntropyConstrainedQuantize(
    std::span<const float> values, std::span<const float> importance,
    std::span<const float> initial, const EcvqOptions& options);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_ECVQ_H_
