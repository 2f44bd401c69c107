// One-dimensional k-means for Deep Compression's weight sharing: clusters the
// surviving weights of one layer into at most k shared values (the codebook).
//
// Two solvers. Lloyd's algorithm runs on a sorted copy: clusters are then
// contiguous ranges, so each iteration finds the k boundaries by binary search
// and the k means from prefix sums, O(k log n) after the O(n log n) sort. The
// optimal solver is exact dynamic programming over the distinct values (or a
// histogram of them), O(k m log m) for m distinct values or bins.
// NaiveLloyd1D is the textbook O(n k) loop, a reference for tests and the
// benchmark only.
//
// Thread safety: every function here is pure (reads its arguments, allocates
// its own scratch, keeps no state), so concurrent calls are safe.
#ifndef CONDENSE_WORKER_ENGINE_KMEANS_1D_H_
#define CONDENSE_WORKER_ENGINE_KMEANS_1D_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace condense::engine {

// Largest codebook: cluster indices must fit in 16 bits.
inline constexpr int kKMeansMaxK = 65536;

enum class KMeansInit {
  // k points evenly spaced over [min, max], both ends included (the paper's
  // default; a single point is the midpoint).
  kLinear,
  // The (i + 1/2) / k quantiles of the values, i = 0..k-1.
  kDensity,
  // k distinct values drawn with `seed`, each with probability proportional
  // to how often it occurs (Forgy's method without repeated values).
  kRandom,
};

enum class KMeansSolver { kLloyd, kOptimal };

struct KMeansOptions {
  int k = 32;                             // 1..kKMeansMaxK
  KMeansInit init = KMeansInit::kLinear;  // Lloyd only
  KMeansSolver solver = KMeansSolver::kLloyd;
  // Lloyd update steps at most (also bounds the optimal solver's refinement
  // of a histogram solution). 0 returns the initial centroids.
  int max_iterations = 100;
  // Stop once no centroid moves more than this; 0 runs until the assignments
  // stop changing.
  double tolerance = 0.0;
  uint64_t seed = 0;  // kRandom init
  // The optimal solver is exact on at most this many distinct values. With
  // more it solves exactly over this many equal-width bins (each keeps the
  // count, sum and sum of squares of its values), then refines with Lloyd.
  int histogram_bins = 65536;
  // Lloyd sorts a copy of the values when there are at most this many; with
  // more it runs over a histogram of 2^16 bins (kmeans_histogram.h), in
  // fixed memory and one pass, which past a million values gives the same
  // centroids to within float rounding. The choice depends only on the
  // count, so a layer clusters the same way in every path.
  int64_t max_sorted_values = int64_t{1} << 20;
};

struct KMeansResult {
  // Ascending, distinct, finite. Fewer than k when there are fewer distinct
  // values or some clusters ended up empty (those are dropped).
  std::vector<float> centroids;
  // Sum over the values of the squared distance to the nearest centroid.
  double sse = 0;
  // Lloyd update steps performed (for the optimal solver: refinement steps
  // after a histogram solve, 0 when it was exact).
  int iterations = 0;
};

// Clusters `values` (the nonzero weights of one layer, any order). Errors:
// InvalidArgument for empty or non-finite values and out-of-range options;
// ResourceExhausted when the optimal solver's table would exceed 2^28 cells
// ((k - 1) * (points + 1); lower histogram_bins or use Lloyd). The result
// depends only on the multiset of values and the options.
absl::StatusOr<KMeansResult> KMeans1D(std::span<const float> values,
                                      const KMeansOptions& options);

// Clusters the nonzero entries of `weights` (a whole layer, zeros standing
// for pruned weights) without copying them when they are too many to sort:
// the same result as KMeans1D over the nonzeros. InvalidArgument when all
// are zero.
absl::StatusOr<KMeansResult> KMeans1DNonzero(std::span<const float> weights,
                                             const KMeansOptions& options);

// Replaces every nonzero of `weights` by its nearest centroid (AssignNearest's
// rule), in place; zeros stay +0.0, and a centroid that is zero gives +0.0.
// Returns how many weights went to each centroid. Large spans are split
// over `threads` threads.
std::vector<uint64_t> SnapToCentroids(std::span<float> weights,
                                      std::span<const float> centroids,
                                      int threads = 1);

// The codebook a tensor snapped to `centroids` is stored with: the nonzero
// centroids some weight went to (`used`, as SnapToCentroids counts them),
// ascending, i.e. the tensor's distinct nonzero values. Never empty: a layer
// pruned to nothing still needs a (never used) codebook, {0}.
std::vector<float> UsedCentroids(std::span<const float> centroids,
                                 std::span<const uint64_t> used);

// The initial centroids Lloyd starts from (ascending, duplicates removed);
// all the distinct values when k >= their number.
absl::StatusOr<std::vector<float>> KMeansInitialCentroids(
    std::span<const float> values, const KMeansOptions& options);

// Writes to out[i] the index of the centroid nearest to values[i], the lower
// index on a tie, in O(log k) per value. Requires `centroids` nonempty and
// ascending, and out.size() == values.size().
void AssignNearest(std::span<const float> values,
                   std::span<const float> centroids, std::span<int32_t> out);

// Lloyd's algorithm as textbook O(n k) iterations from the same initial
// centroids; same result as the kLloyd solver (up to rounding). For tests and
// the benchmark only.
absl::StatusOr<KMeansResult> NaiveLloyd1D(std::span<const float> values,
                                          const KMeansOptions& options);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_KMEANS_1D_H_
