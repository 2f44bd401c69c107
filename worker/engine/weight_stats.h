// Statistics of one layer's weights over a flat float span, in one pass
// (shared among threads on a large span, with a small result per chunk):
// histograms for the report, the gap fillers and nonzero count the storage
// estimates need. The streaming and the in-memory paths share them, so both
// report the same numbers.
// Pure functions; thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_WEIGHT_STATS_H_
#define CONDENSE_WORKER_ENGINE_WEIGHT_STATS_H_

#include <cstdint>
#include <span>
#include <vector>

namespace condense::engine {

// Bins of the report's weight histograms.
inline constexpr int kHistogramBins = 64;

struct ValueRange {
  double min = 0;
  double max = 0;
};
// The functions taking `threads` share a large span (8M+ values) among that
// many threads; their results do not depend on it.
ValueRange RangeOf(std::span<const float> w, int threads = 1);

// Counts of `w` (its nonzeros only when `nonzero_only`) in `bins` equal
// bins over [lo, hi]; values outside are counted in the end bins. All zero
// when hi <= lo or nothing is counted.
std::vector<int64_t> Histogram(std::span<const float> w, double lo, double hi,
                               int bins, bool nonzero_only, int threads = 1);

int64_t CountNonzero(std::span<const float> w, int threads = 1);

// Filler entries the b-bit relative-index stream of `w` needs.
int64_t GapFillers(std::span<const float> w, int gap_bits, int threads = 1);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_WEIGHT_STATS_H_
