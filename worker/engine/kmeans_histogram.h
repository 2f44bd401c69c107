// Lloyd's algorithm over a fine histogram of the values, for layers too large
// to sort (tens of millions of weights): one pass builds equal-width bins that
// each keep the count, sum and sum of squares of their values, and every
// iteration then costs O(k log bins) however many values there are. Memory is
// fixed by the bin count, not by the layer. The centroids differ from the
// sorted solver's only where a cluster boundary falls inside a bin (the whole
// bin goes to one side), which at 2^16 bins moves a centroid by far less than
// the spacing between neighbouring float weights of a real layer.
//
// Internal to kmeans_1d.cc; pure functions, safe to call concurrently.
#ifndef CONDENSE_WORKER_ENGINE_KMEANS_HISTOGRAM_H_
#define CONDENSE_WORKER_ENGINE_KMEANS_HISTOGRAM_H_

#include <span>

#include "worker/engine/kmeans_1d.h"

namespace condense::engine::internal {

// Bins of the histogram solver: 2 MiB of state, which stays in cache while
// every value is binned.
inline constexpr int kLloydHistogramBins = 1 << 16;

// Clusters `values` (the zeros among them left out when `skip_zeros`).
// Requires at least one value to cluster, all finite, and valid options.
KMeansResult LloydOverHistogram(std::span<const float> values, bool skip_zeros,
                                const KMeansOptions& options);

}  // namespace condense::engine::internal

#endif  // CONDENSE_WORKER_ENGINE_KMEANS_HISTOGRAM_H_
