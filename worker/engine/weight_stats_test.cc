// The weight statistics on several threads give what one pass gives.
#include "worker/engine/weight_stats.h"

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace condense::engine {
namespace {

TEST(WeightStatsTest, ThreadsChangeNoResult) {
  // Past the size at which the span is shared out (two 4M-value chunks),
  // the extremes in the last chunk.
  const size_t n = (size_t{1} << 23) + 12345;
  std::vector<float> w(n);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (float& v : w) v = rng() % 3 == 0 ? 0.0f : normal(rng);
  w[n - 1] = 9.0f;
  w[n - 2] = -9.0f;
  const ValueRange one = RangeOf(w, 1);
  EXPECT_EQ(one.min, -9.0);
  EXPECT_EQ(one.max, 9.0);
  // A NaN opening a later chunk is passed over, as one pass does.
  std::vector<float> with_nan = w;
  with_nan[size_t{1} << 22] = std::numeric_limits<float>::quiet_NaN();
  for (int threads : {2, 3, 8}) {
    const ValueRange many = RangeOf(w, threads);
    EXPECT_EQ(many.min, one.min) << threads;
    EXPECT_EQ(many.max, one.max) << threads;
    const ValueRange nan = RangeOf(with_nan, threads);
    EXPECT_EQ(nan.min, -9.0) << threads;
    EXPECT_EQ(nan.max, 9.0) << threads;
    for (bool nonzero_only : {false, true}) {
      EXPECT_EQ(Histogram(w, -1, 1, kHistogramBins, nonzero_only, threads),
                Histogram(w, -1, 1, kHistogramBins, nonzero_only, 1))
          << threads;
    }
    EXPECT_EQ(CountNonzero(w, threads), CountNonzero(w, 1)) << threads;
  }
  int64_t nonzero = 0;
  for (float v : w) nonzero += v != 0.0f ? 1 : 0;
  // Gaps across chunk boundaries: a run of zeros from the middle of the
  // first chunk into the second, a chunk with no nonzero at all.
  std::vector<float> gaps = w;
  std::fill(gaps.begin() + (size_t{1} << 21), gaps.begin() + (size_t{3} << 21),
            0.0f);
  std::fill(gaps.begin() + (size_t{1} << 22), gaps.begin() + (size_t{1} << 23),
            0.0f);
  for (int bits : {1, 2, 5, 16}) {
    const int64_t one_pass = GapFillers(gaps, bits, 1);
    for (int threads : {2, 3}) {
      EXPECT_EQ(GapFillers(gaps, bits, threads), one_pass)
          << bits << " bits, " << threads << " threads";
    }
  }
  // And the one-pass count itself, from its definition.
  const int64_t filler = (int64_t{1} << 5) - 1;
  int64_t expect = 0, cursor = 0;
  for (int64_t pos = 0; pos < static_cast<int64_t>(gaps.size()); ++pos) {
    if (gaps[static_cast<size_t>(pos)] == 0.0f) continue;
    expect += (pos - cursor) / filler;
    cursor = pos + 1;
  }
  EXPECT_EQ(GapFillers(gaps, 5, 2), expect);
  EXPECT_EQ(CountNonzero(w, 2), nonzero);
  const std::vector<int64_t> h = Histogram(w, -1, 1, kHistogramBins, false, 2);
  int64_t counted = 0;
  for (int64_t c : h) counted += c;
  EXPECT_EQ(counted, static_cast<int64_t>(n));  // Extremes in the end bins.
}

}  // namespace
}  // namespace condense::engine
