#include "worker/engine/kmeans_1d.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/testing/laplacian.h"

namespace condense::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::Laplacian;

// Small integers: many repeated values, exact means, exact ties.
std::vector<float> SmallInts(size_t n, uint64_t seed, int range) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(-range, range);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(d(rng));
  return v;
}

KMeansOptions Options(int k, KMeansSolver solver = KMeansSolver::kLloyd,
                      KMeansInit init = KMeansInit::kLinear) {
  KMeansOptions o;
  o.k = k;
  o.solver = solver;
  o.init = init;
  return o;
}

KMeansResult Cluster(const std::vector<float>& v, const KMeansOptions& o) {
  absl::StatusOr<KMeansResult> r = KMeans1D(v, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : KMeansResult{};
}

// Exhaustive minimum SSE over all splits of the sorted values into at most k
// contiguous groups (an optimal 1-D clustering is contiguous).
double BruteOptimalSse(std::vector<float> v, int k) {
  std::sort(v.begin(), v.end());
  const int n = static_cast<int>(v.size());
  if (n == 0) return 0;
  long double best = std::numeric_limits<long double>::infinity();
  for (uint32_t cuts = 0; cuts < (1u << (n - 1)); ++cuts) {
    if (std::popcount(cuts) > k - 1) continue;
    long double sse = 0;
    for (int lo = 0; lo < n;) {
      int hi = lo + 1;
      while (hi < n && !(cuts >> (hi - 1) & 1)) ++hi;
      long double mean = 0;
      for (int i = lo; i < hi; ++i) mean += v[i];
      mean /= hi - lo;
      for (int i = lo; i < hi; ++i) sse += (v[i] - mean) * (v[i] - mean);
      lo = hi;
    }
    best = std::min(best, sse);
  }
  return static_cast<double>(best);
}

double SseAgainst(const std::vector<float>& v, const std::vector<float>& c) {
  double sse = 0;
  for (float x : v) {
    double best = std::numeric_limits<double>::infinity();
    for (float y : c) best = std::min(best, std::abs(double{x} - y));
    sse += best * best;
  }
  return sse;
}

void ExpectValid(const KMeansResult& r, int k) {
  ASSERT_FALSE(r.centroids.empty());
  EXPECT_LE(r.centroids.size(), static_cast<size_t>(k));
  for (size_t j = 0; j < r.centroids.size(); ++j) {
    EXPECT_TRUE(std::isfinite(r.centroids[j]));
    if (j > 0) {
      EXPECT_LT(r.centroids[j - 1], r.centroids[j]);
    }
  }
}

TEST(KMeans1DTest, RejectsBadInput) {
  const std::vector<float> ok = {1, 2, 3};
  EXPECT_THAT(KMeans1D({}, Options(2)).status().message(),
              HasSubstr("no values"));
  std::vector<float> nan = {1, 2, std::nanf(""), 4};
  absl::Status s = KMeans1D(nan, Options(2)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("values[2] is nan"));
  std::vector<float> inf = {-std::numeric_limits<float>::infinity()};
  EXPECT_THAT(KMeans1D(inf, Options(1)).status().message(),
              HasSubstr("values[0] is -inf"));
  EXPECT_THAT(KMeans1D(ok, Options(0)).status().message(),
              HasSubstr("k must be in [1, 65536], got 0"));
  EXPECT_THAT(KMeans1D(ok, Options(65537)).status().message(),
              HasSubstr("got 65537"));
  EXPECT_TRUE(KMeans1D(ok, Options(65536)).ok());
  KMeansOptions o = Options(2);
  o.max_iterations = -1;
  EXPECT_THAT(KMeans1D(ok, o).status().message(), HasSubstr("max_iterations"));
  o = Options(2);
  o.tolerance = std::nan("");
  EXPECT_THAT(KMeans1D(ok, o).status().message(), HasSubstr("tolerance"));
  o = Options(2);
  o.histogram_bins = 0;
  EXPECT_THAT(KMeans1D(ok, o).status().message(), HasSubstr("histogram_bins"));
  // The other entry points validate the same way.
  EXPECT_EQ(NaiveLloyd1D(nan, Options(2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KMeansInitialCentroids(ok, Options(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KMeans1D(nan, Options(2, KMeansSolver::kOptimal)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KMeans1DTest, OptimalRefusesHugeTable) {
  std::vector<float> v(100'000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  KMeansOptions o = Options(65535, KMeansSolver::kOptimal);
  o.histogram_bins = 1 << 20;
  absl::Status s = KMeans1D(v, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("histogram_bins"));
}

TEST(KMeans1DTest, DegenerateInputs) {
  for (KMeansSolver solver : {KMeansSolver::kLloyd, KMeansSolver::kOptimal}) {
    SCOPED_TRACE(static_cast<int>(solver));
    KMeansResult one = Cluster({-0.25f}, Options(8, solver));
    EXPECT_THAT(one.centroids, ElementsAre(-0.25f));
    EXPECT_EQ(one.sse, 0);

    KMeansResult same =
        Cluster(std::vector<float>(100, 3.5f), Options(32, solver));
    EXPECT_THAT(same.centroids, ElementsAre(3.5f));
    EXPECT_EQ(same.sse, 0);

    // k >= distinct values: each is its own centroid; -0 and +0 are one.
    std::vector<float> few = {2, -1, 0.5f, -0.0f, 2, -1, 0, 7};
    KMeansResult r = Cluster(few, Options(5, solver));
    EXPECT_THAT(r.centroids, ElementsAre(-1, 0, 0.5f, 2, 7));
    EXPECT_FALSE(std::signbit(r.centroids[1]));
    EXPECT_EQ(r.sse, 0);

    // k = 1: the mean.
    KMeansResult mean = Cluster({-3, -1, 1, 7}, Options(1, solver));
    EXPECT_THAT(mean.centroids, ElementsAre(1.0f));
    EXPECT_DOUBLE_EQ(mean.sse, 16 + 4 + 0 + 36);

    // Mixed signs, two obvious groups.
    KMeansResult two = Cluster({-2, 1, -1, 2}, Options(2, solver));
    EXPECT_THAT(two.centroids, ElementsAre(-1.5f, 1.5f));
    EXPECT_DOUBLE_EQ(two.sse, 1.0);
  }
}

TEST(KMeans1DTest, OptimalMatchesExhaustiveSearch) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = 1 + rng() % 12;
    const int k = 1 + static_cast<int>(rng() % 4);
    std::vector<float> v =
        trial % 3 == 0 ? SmallInts(n, trial, 4) : Laplacian(n, trial, 1.0);
    KMeansResult r = Cluster(v, Options(k, KMeansSolver::kOptimal));
    const double brute = BruteOptimalSse(v, k);
    EXPECT_NEAR(r.sse, brute, 1e-9 * brute) << "trial " << trial;
    EXPECT_NEAR(r.sse, SseAgainst(v, r.centroids), 1e-12 + 1e-12 * r.sse);
    ExpectValid(r, k);
  }
}

TEST(KMeans1DTest, OptimalNeverWorseThanLloyd) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::vector<float> v =
        seed % 2 ? Laplacian(4000, seed) : SmallInts(4000, seed, 50);
    for (int k : {2, 5, 16, 33}) {
      KMeansResult opt = Cluster(v, Options(k, KMeansSolver::kOptimal));
      ExpectValid(opt, k);
      for (KMeansInit init :
           {KMeansInit::kLinear, KMeansInit::kDensity, KMeansInit::kRandom}) {
        KMeansResult lloyd = Cluster(v, Options(k, KMeansSolver::kLloyd, init));
        // Slack only for rounding the centroids to float.
        EXPECT_LE(opt.sse, lloyd.sse * (1 + 1e-9))
            << "seed " << seed << " k " << k;
      }
    }
  }
}

TEST(KMeans1DTest, HistogramSolveIsNearOptimal) {
  std::vector<float> v = Laplacian(20000, 3);
  for (int k : {4, 32}) {
    KMeansResult exact = Cluster(v, Options(k, KMeansSolver::kOptimal));
    KMeansOptions o = Options(k, KMeansSolver::kOptimal);
    o.histogram_bins = 512;  // far fewer than the 20000 distinct values
    KMeansResult binned = Cluster(v, o);
    ExpectValid(binned, k);
    EXPECT_EQ(exact.iterations, 0);
    EXPECT_GT(binned.iterations, 0);  // it took the histogram path
    EXPECT_GE(binned.sse, exact.sse * (1 - 1e-9));
    EXPECT_LE(binned.sse, exact.sse * 1.01);
  }
}

TEST(KMeans1DTest, LloydMatchesNaive) {
  int compared = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    std::vector<std::vector<float>> inputs = {
        Laplacian(3000, seed), SmallInts(2000, seed, 30), Laplacian(7, seed)};
    for (const std::vector<float>& v : inputs) {
      for (int k : {1, 2, 3, 7, 16, 64}) {
        for (KMeansInit init :
             {KMeansInit::kLinear, KMeansInit::kDensity, KMeansInit::kRandom}) {
          for (double tolerance : {0.0, 1e-3}) {
            KMeansOptions o = Options(k, KMeansSolver::kLloyd, init);
            o.seed = seed;
            o.tolerance = tolerance;
            o.max_iterations = seed == 1 ? 3 : 100;
            KMeansResult fast = Cluster(v, o);
            absl::StatusOr<KMeansResult> naive = NaiveLloyd1D(v, o);
            ASSERT_TRUE(naive.ok()) << naive.status();
            ASSERT_EQ(fast.centroids.size(), naive->centroids.size());
            for (size_t j = 0; j < fast.centroids.size(); ++j) {
              EXPECT_FLOAT_EQ(fast.centroids[j], naive->centroids[j]);
            }
            EXPECT_EQ(fast.iterations, naive->iterations);
            EXPECT_NEAR(fast.sse, naive->sse, 1e-9 * naive->sse);
            ExpectValid(fast, k);
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_EQ(compared, 5 * 3 * 6 * 3 * 2);
}

TEST(KMeans1DTest, LloydConvergesToAFixedPoint) {
  std::vector<float> v = Laplacian(5000, 11);
  KMeansOptions o = Options(16);
  o.max_iterations = 100'000;  // Lloyd crawls on heavy tails
  KMeansResult r = Cluster(v, o);
  ASSERT_LT(r.iterations, o.max_iterations);
  std::vector<int32_t> idx(v.size());
  AssignNearest(v, r.centroids, idx);
  std::vector<double> sum(r.centroids.size(), 0);
  std::vector<int> count(r.centroids.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) {
    sum[idx[i]] += v[i];
    ++count[idx[i]];
  }
  for (size_t j = 0; j < r.centroids.size(); ++j) {
    ASSERT_GT(count[j], 0);
    EXPECT_FLOAT_EQ(r.centroids[j], sum[j] / count[j]);
  }
  EXPECT_NEAR(r.sse, SseAgainst(v, r.centroids), 1e-9 * r.sse);
}

TEST(KMeans1DTest, ToleranceAndIterationLimit) {
  std::vector<float> v = Laplacian(5000, 5);
  KMeansOptions o = Options(16);
  o.tolerance = 1.0;  // larger than any move
  EXPECT_EQ(Cluster(v, o).iterations, 1);
  o = Options(16);
  o.max_iterations = 2;
  EXPECT_EQ(Cluster(v, o).iterations, 2);
  // No iterations: the initial centroids (random ones are all data values,
  // so none is empty).
  o = Options(16, KMeansSolver::kLloyd, KMeansInit::kRandom);
  o.max_iterations = 0;
  KMeansResult r = Cluster(v, o);
  EXPECT_EQ(r.iterations, 0);
  EXPECT_EQ(r.centroids, *KMeansInitialCentroids(v, o));
}

TEST(KMeans1DTest, IndependentOfInputOrder) {
  std::vector<float> v = Laplacian(3000, 9);
  std::vector<float> shuffled = v;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(1));
  for (KMeansSolver solver : {KMeansSolver::kLloyd, KMeansSolver::kOptimal}) {
    KMeansResult a = Cluster(v, Options(8, solver, KMeansInit::kRandom));
    KMeansResult b = Cluster(shuffled, Options(8, solver, KMeansInit::kRandom));
    EXPECT_EQ(a.centroids, b.centroids);
    EXPECT_EQ(a.sse, b.sse);
  }
}

TEST(KMeansInitTest, NegativeZeroIsZero) {
  std::vector<float> c =
      *KMeansInitialCentroids(std::vector<float>{-0.0f, 1, -0.0f}, Options(2));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_FALSE(std::signbit(c[0]));
}

TEST(KMeansInitTest, LinearSpansMinToMax) {
  EXPECT_THAT(*KMeansInitialCentroids(
                  std::vector<float>{3, -1, 0.5f, 2, 1.5f, 0.25f}, Options(5)),
              ElementsAre(-1, 0, 1, 2, 3));
  EXPECT_THAT(
      *KMeansInitialCentroids(std::vector<float>{3, -1, 0.5f}, Options(1)),
      ElementsAre(1));
  std::vector<float> v = Laplacian(1000, 2);
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  std::vector<float> c = *KMeansInitialCentroids(v, Options(32));
  ASSERT_EQ(c.size(), 32u);
  EXPECT_EQ(c.front(), *lo);
  EXPECT_EQ(c.back(), *hi);
  const double step = (double{*hi} - *lo) / 31;
  for (int j = 0; j < 32; ++j) EXPECT_NEAR(c[j], *lo + j * step, 1e-6);
}

TEST(KMeansInitTest, DensityAreQuantiles) {
  std::vector<float> v(100);
  for (int i = 0; i < 100; ++i) v[i] = static_cast<float>(99 - i) * 0.5f;
  // Quantiles 1/8, 3/8, 5/8, 7/8 of 0, 0.5, ..., 49.5.
  EXPECT_THAT(*KMeansInitialCentroids(
                  v, Options(4, KMeansSolver::kLloyd, KMeansInit::kDensity)),
              ElementsAre(6, 18.5f, 31, 43.5f));
  // Repeated values collapse: 90% zeros leave one centroid at 0.
  std::vector<float> w(100, 0.0f);
  for (int i = 0; i < 10; ++i) w[i] = static_cast<float>(i + 1);
  EXPECT_THAT(*KMeansInitialCentroids(
                  w, Options(4, KMeansSolver::kLloyd, KMeansInit::kDensity)),
              ElementsAre(0));
}

TEST(KMeansInitTest, RandomIsDeterministicPerSeed) {
  std::vector<float> v = SmallInts(5000, 4, 100);
  KMeansOptions o = Options(16, KMeansSolver::kLloyd, KMeansInit::kRandom);
  o.seed = 42;
  std::vector<float> a = *KMeansInitialCentroids(v, o);
  EXPECT_EQ(a, *KMeansInitialCentroids(v, o));
  ASSERT_EQ(a.size(), 16u);  // k distinct values despite many repeats
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
  for (float x : a) EXPECT_NE(std::find(v.begin(), v.end(), x), v.end());
  o.seed = 43;
  EXPECT_NE(a, *KMeansInitialCentroids(v, o));
}

TEST(KMeansInitTest, RandomFavoursFrequentValues) {
  // 1000 copies of 0 and one each of 1..99: 0 is nearly always drawn.
  std::vector<float> v(1000, 0.0f);
  for (int i = 1; i < 100; ++i) v.push_back(static_cast<float>(i));
  int zero = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    KMeansOptions o = Options(2, KMeansSolver::kLloyd, KMeansInit::kRandom);
    o.seed = seed;
    zero += (*KMeansInitialCentroids(v, o))[0] == 0;
  }
  EXPECT_GE(zero, 45);
}

TEST(AssignNearestTest, MatchesBruteForce) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> c = Laplacian(1 + rng() % 40, trial + 100, 1.0);
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    std::vector<float> v = Laplacian(2000, trial, 1.5);
    v.insert(v.end(), c.begin(), c.end());  // exact hits
    std::vector<int32_t> got(v.size());
    AssignNearest(v, c, got);
    for (size_t i = 0; i < v.size(); ++i) {
      int32_t want = 0;
      for (size_t j = 1; j < c.size(); ++j) {
        if (std::abs(double{v[i]} - c[j]) < std::abs(double{v[i]} - c[want])) {
          want = static_cast<int32_t>(j);
        }
      }
      ASSERT_EQ(got[i], want) << "value " << v[i];
    }
  }
}

TEST(AssignNearestTest, TiesGoToTheLowerIndex) {
  const std::vector<float> c = {-1, 0, 1, 4};
  const std::vector<float> v = {-5, -0.5f, 0.5f, 2.5f, 2.4f, 2.6f, 9, 0};
  std::vector<int32_t> out(v.size());
  AssignNearest(v, c, out);
  EXPECT_THAT(out, ElementsAre(0, 0, 1, 2, 2, 3, 3, 1));
  std::vector<int32_t> single(v.size());
  AssignNearest(v, std::vector<float>{7}, single);
  EXPECT_THAT(single, ::testing::Each(0));
}

}  // namespace
}  // namespace condense::engine

namespace condense::engine {
namespace {

// Past max_sorted_values Lloyd runs over a histogram: the centroids stay
// those of the sorted solver to well within the spacing of the clusters.
TEST(KMeansHistogramTest, MatchesTheSortedSolver) {
  std::mt19937_64 rng(7);
  std::exponential_distribution<float> mag(30.0f);
  std::vector<float> values(200000);
  for (float& v : values) v = (rng() & 1 ? 1.0f : -1.0f) * (mag(rng) + 1e-4f);
  KMeansOptions opts;
  opts.k = 32;
  opts.max_iterations = 10000;
  auto sorted = KMeans1D(values, opts);
  ASSERT_TRUE(sorted.ok());
  opts.max_sorted_values = 1000;
  auto binned = KMeans1D(values, opts);
  ASSERT_TRUE(binned.ok());
  ASSERT_EQ(binned->centroids.size(), sorted->centroids.size());
  const std::vector<float>& c = sorted->centroids;
  for (size_t j = 0; j < c.size(); ++j) {
    // Within 1% of the distance to the nearer neighbouring centroid.
    const double spacing =
        std::min(j > 0 ? c[j] - c[j - 1] : INFINITY,
                 j + 1 < c.size() ? c[j + 1] - c[j] : INFINITY);
    EXPECT_NEAR(binned->centroids[j], c[j], 0.01 * spacing) << j;
  }
  EXPECT_NEAR(binned->sse, sorted->sse, 1e-3 * sorted->sse);
  // Zeros are left out by KMeans1DNonzero, on either path.
  std::vector<float> with_zeros = values;
  with_zeros.insert(with_zeros.end(), 5000, 0.0f);
  auto nz = KMeans1DNonzero(with_zeros, opts);
  ASSERT_TRUE(nz.ok());
  EXPECT_EQ(nz->centroids, binned->centroids);
  opts.max_sorted_values = int64_t{1} << 24;
  auto nz_sorted = KMeans1DNonzero(with_zeros, opts);
  ASSERT_TRUE(nz_sorted.ok());
  EXPECT_EQ(nz_sorted->centroids, sorted->centroids);
}

TEST(KMeansHistogramTest, SnapToCentroidsUsesTheNearest) {
  std::vector<float> w = {0.0f, -0.0f, 0.9f, -1.2f, 2.6f, 0.1f};
  const std::vector<float> c = {-1.0f, 0.0f, 1.0f, 3.0f};
  const std::vector<uint64_t> used = SnapToCentroids(w, c);
  EXPECT_EQ(w, (std::vector<float>{0.0f, 0.0f, 1.0f, -1.0f, 3.0f, 0.0f}));
  EXPECT_FALSE(std::signbit(w[1]));
  EXPECT_EQ(used, (std::vector<uint64_t>{1, 1, 1, 1}));
}

}  // namespace
}  // namespace condense::engine
