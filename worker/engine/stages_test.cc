#include "worker/engine/stages.h"

#include "gtest/gtest.h"

namespace condense::engine {
namespace {

TEST(TopMagnitudeMaskTest, KeepsTheLargestAndBreaksTiesByPosition) {
  torch::Tensor w = torch::tensor({0.5f, -2.0f, 0.1f, 1.0f, -1.0f, 0.0f});
  torch::Tensor m = TopMagnitudeMask(w, 0.5);  // Keep 3 of 6.
  EXPECT_TRUE(
      torch::equal(m, torch::tensor({false, true, false, true, true, false})));
  EXPECT_EQ(TopMagnitudeMask(w, 0.0).sum().item<int64_t>(), 6);
  EXPECT_EQ(TopMagnitudeMask(w, 0.99).sum().item<int64_t>(), 1);
  // Equal magnitudes: the earlier position wins.
  torch::Tensor ties = torch::ones({4});
  EXPECT_TRUE(torch::equal(TopMagnitudeMask(ties, 0.5),
                           torch::tensor({true, true, false, false})));
}

TEST(GapFillersTest, CountsFillersForGapsBeyondTheWidth) {
  // b = 2: F = 3. Gaps (zeros before each nonzero): 0, 3, 7, 2.
  torch::Tensor w = torch::zeros({20});
  w[0] = 1;
  w[4] = 1;   // 3 zeros before: one filler (3), then symbol 0.
  w[12] = 1;  // 7 zeros: two fillers (6), then symbol 1.
  w[15] = 1;  // 2 zeros: symbol 2, no filler.
  EXPECT_EQ(GapFillers(w, 2), 3);
  EXPECT_EQ(GapFillers(w, 3), 1);  // F = 7: only the gap of 7.
  EXPECT_EQ(GapFillers(w, 8), 0);
  EXPECT_EQ(GapFillers(torch::zeros({10}), 2), 0);
  torch::Tensor last = torch::zeros({10});
  last[9] = 1;  // 9 zeros, F = 3: three fillers then symbol 0.
  EXPECT_EQ(GapFillers(last, 2), 3);
}

}  // namespace
}  // namespace condense::engine
