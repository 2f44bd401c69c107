#include "worker/engine/ecvq.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/kmeans_1d.h"
#include "worker/engine/testing/laplacian.h"

namespace condense::engine {
namespace {

using testing::Laplacian;

KMeansResult KMeans(const std::vector<float>& v, int k) {
  KMeansOptions o;
  o.k = k;
  o.max_iterations = 1000;
  auto km = KMeans1D(v, o);
  EXPECT_TRUE(km.ok()) << km.status();
  return *km;
}

TEST(Ecvq, LambdaZeroWithoutImportanceIsKMeans) {
  const auto v = Laplacian(20000, 1);
  const KMeansResult km = KMeans(v, 16);
  auto r = EntropyConstrainedQuantize(v, {}, km.centroids, {.lambda = 0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->centroids, km.centroids);
  std::vector<int32_t> nearest(v.size());
  AssignNearest(v, km.centroids, nearest);
  EXPECT_EQ(r->assign, nearest);
}

TEST(Ecvq, RaisingLambdaLowersTheIndexEntropyMonotonically) {
  const auto v = Laplacian(20000, 2);
  const KMeansResult km = KMeans(v, 32);
  double previous_entropy = 1e9;
  double first_distortion = -1, distortion = 0;
  for (double lambda : {0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3}) {
    auto r =
        EntropyConstrainedQuantize(v, {}, km.centroids, {.lambda = lambda});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LT(r->entropy_bits, previous_entropy) << "lambda " << lambda;
    previous_entropy = r->entropy_bits;
    // Distortion is not monotone step by step (k-means from its linear start
    // is only a local optimum, which a small lambda can leave), but the
    // bits saved are paid for in error.
    if (first_distortion < 0) first_distortion = r->distortion;
    distortion = r->distortion;
    ASSERT_EQ(r->assign.size(), v.size());
    for (int32_t a : r->assign) {
      ASSERT_GE(a, 0);
      ASSERT_LT(a, static_cast<int32_t>(r->centroids.size()));
    }
  }
  EXPECT_LT(previous_entropy, 3.0);  // From about 5 bits at lambda 0.
  EXPECT_GT(distortion, 2 * first_distortion);
}

TEST(Ecvq, ImportantWeightsPullTheirCentroids) {
  // Two clumps share one centroid; the important clump decides where it is.
  std::vector<float> v, h;
  for (int i = 0; i < 100; ++i) {
    v.push_back(1.0f);
    h.push_back(10.0f);
    v.push_back(2.0f);
    h.push_back(1.0f);
  }
  auto plain = EntropyConstrainedQuantize(v, {}, std::vector<float>{1.5f},
                                          {.lambda = 0});
  auto weighted =
      EntropyConstrainedQuantize(v, h, std::vector<float>{1.5f}, {.lambda = 0});
  ASSERT_TRUE(plain.ok() && weighted.ok());
  EXPECT_FLOAT_EQ(plain->centroids[0], 1.5f);
  EXPECT_NEAR(weighted->centroids[0], (10.0 + 2.0) / 11.0, 1e-6);
}

TEST(Ecvq, WeightsThatLookUnimportantStayNearTheirValues) {
  // A pruned layer (no weight within 1 of zero) whose squared gradients are
  // heavy-tailed, as a few thousand samples give them: 1% of the weights
  // carry nearly all the importance. The others are not free to move: none
  // may cross zero to a more popular centroid.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> magnitude(1.0f, 2.0f);
  std::vector<float> v, h;
  for (int i = 0; i < 20000; ++i) {
    // Three positive weights for each negative one: the positive clusters
    // are the popular, cheap ones.
    v.push_back(i % 4 == 0 ? -magnitude(rng) : magnitude(rng));
    h.push_back(i % 100 == 0 ? 1000.0f : 1e-4f);
  }
  const KMeansResult km = KMeans(v, 4);
  for (double lambda : {0.01, 0.05}) {
    auto r = EntropyConstrainedQuantize(v, h, km.centroids, {.lambda = lambda});
    ASSERT_TRUE(r.ok()) << r.status();
    int crossed = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      crossed += (v[i] > 0) != (r->centroids[r->assign[i]] > 0);
    }
    EXPECT_EQ(crossed, 0) << "lambda " << lambda;
  }
}

TEST(Ecvq, RejectsBadInputs) {
  const std::vector<float> v = {1, 2, 3};
  const std::vector<float> c = {1, 3};
  EXPECT_FALSE(EntropyConstrainedQuantize({}, {}, c, {}).ok());
  EXPECT_FALSE(EntropyConstrainedQuantize(v, {}, {}, {}).ok());
  EXPECT_FALSE(
      EntropyConstrainedQuantize(v, std::vector<float>{1, 1}, c, {}).ok());
  EXPECT_FALSE(EntropyConstrainedQuantize(v, {}, c, {.lambda = -1}).ok());
  EXPECT_FALSE(
      EntropyConstrainedQuantize(v, std::vector<float>{1, -1, 1}, c, {}).ok());
}

}  // namespace
}  // namespace condense::engine
