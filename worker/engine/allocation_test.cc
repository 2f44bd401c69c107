#include "worker/engine/allocation.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace condense::engine {
namespace {

using OptionGrid = std::vector<std::vector<TensorOption>>;

TensorOption Opt(double bytes, double loss) {
  TensorOption o;
  o.bytes = bytes;
  o.loss = loss;
  return o;
}

// The exact optimum over every combination.
Allocation BruteForce(const OptionGrid& tensors, double budget) {
  Allocation best;
  best.bytes = 1e300;
  std::vector<int> choice(tensors.size(), 0);
  for (;;) {
    double bytes = 0, loss = 0;
    for (size_t t = 0; t < tensors.size(); ++t) {
      bytes += tensors[t][choice[t]].bytes;
      loss += std::max(tensors[t][choice[t]].loss, 0.0);
    }
    if (loss <= budget + 1e-12 && bytes < best.bytes) {
      best.choice = choice;
      best.bytes = bytes;
      best.loss = loss;
      best.feasible = true;
    }
    size_t t = 0;
    while (t < tensors.size() &&
           ++choice[t] == static_cast<int>(tensors[t].size())) {
      choice[t++] = 0;
    }
    if (t == tensors.size()) break;
  }
  return best;
}

TEST(AllocationTest, SpendsTheBudgetWhereBytesAreCheapest) {
  // Both tensors can save 900 bytes; the first costs 0.4 points of loss for
  // it, the second 0.1. With 0.2 to spend, only the second is compressed.
  const OptionGrid tensors = {{Opt(1000, 0), Opt(100, 0.004)},
                              {Opt(1000, 0), Opt(100, 0.001)}};
  const Allocation a = Allocate(tensors, 0.002);
  ASSERT_TRUE(a.feasible);
  EXPECT_EQ(a.choice, (std::vector<int>{0, 1}));
  EXPECT_DOUBLE_EQ(a.bytes, 1100);
  EXPECT_DOUBLE_EQ(a.loss, 0.001);
  // Enough for both.
  EXPECT_EQ(Allocate(tensors, 0.005).choice, (std::vector<int>{1, 1}));
}

TEST(AllocationTest, NeverExceedsTheBudget) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> bytes(1, 1000), loss(0, 0.01);
  for (int trial = 0; trial < 200; ++trial) {
    OptionGrid tensors(1 + trial % 5);
    for (auto& options : tensors) {
      options.push_back(Opt(2000, 0));
      for (int o = 0; o < 6; ++o) options.push_back(Opt(bytes(rng), loss(rng)));
    }
    const double budget = loss(rng);
    const Allocation a = Allocate(tensors, budget, 500);
    ASSERT_TRUE(a.feasible);
    EXPECT_LE(a.loss, budget + 1e-12);
    // Rounding losses up to a step costs at most one step per tensor.
    const Allocation exact = BruteForce(tensors, budget);
    const Allocation looser = BruteForce(
        tensors, budget - static_cast<double>(tensors.size()) * budget / 500);
    EXPECT_GE(a.bytes, exact.bytes - 1e-9);
    if (looser.feasible) {
      EXPECT_LE(a.bytes, looser.bytes + 1e-9);
    }
  }
}

TEST(AllocationTest, ReachesTheOptimumOnTheGrid) {
  // Losses on the budget's grid: the programme is exact, so it must equal
  // brute force on every case.
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> units(0, 40);
  std::uniform_real_distribution<double> bytes(1, 1000);
  const int resolution = 100;
  const double budget = 0.01;
  for (int trial = 0; trial < 300; ++trial) {
    OptionGrid tensors(1 + trial % 4);
    for (auto& options : tensors) {
      for (int o = 0; o < 1 + trial % 5; ++o) {
        options.push_back(Opt(bytes(rng), units(rng) * budget / resolution));
      }
    }
    const Allocation a = Allocate(tensors, budget, resolution);
    const Allocation b = BruteForce(tensors, budget);
    ASSERT_EQ(a.feasible, b.feasible) << trial;
    if (!b.feasible) continue;
    EXPECT_NEAR(a.bytes, b.bytes, 1e-9) << trial;
  }
}

TEST(AllocationTest, ReportsWhenNothingFits) {
  const OptionGrid tensors = {{Opt(100, 0.02), Opt(10, 0.05)},
                              {Opt(100, 0.0), Opt(5, 0.01)}};
  const Allocation a = Allocate(tensors, 0.01);
  EXPECT_FALSE(a.feasible);
  // The least lossy choice, so the caller sees how far off it is.
  EXPECT_EQ(a.choice, (std::vector<int>{0, 0}));
  EXPECT_DOUBLE_EQ(a.loss, 0.02);
}

TEST(AllocationTest, NegativeLossesCountAsNone) {
  // A measured gain (noise) is not spent as extra budget.
  const OptionGrid tensors = {{Opt(100, 0), Opt(10, -0.01)},
                              {Opt(100, 0), Opt(10, 0.003)}};
  const Allocation a = Allocate(tensors, 0.002);
  EXPECT_EQ(a.choice, (std::vector<int>{1, 0}));
  EXPECT_DOUBLE_EQ(a.loss, 0);
}

TEST(AllocationTest, TinyBudgetsAgainstLargeLosses) {
  // Losses of many billions of steps must not overflow the step count.
  const OptionGrid tensors = {{Opt(100, 0), Opt(1, 0.5)}, {Opt(100, 0)}};
  for (double budget : {1e-12, 1e-9, 1e-300}) {
    const Allocation a = Allocate(tensors, budget);
    ASSERT_TRUE(a.feasible) << budget;
    EXPECT_EQ(a.choice, (std::vector<int>{0, 0})) << budget;
  }
}

TEST(AllocationTest, ZeroBudgetTakesOnlyLosslessOptions) {
  const OptionGrid tensors = {{Opt(100, 0), Opt(50, 0), Opt(1, 0.001)}};
  const Allocation a = Allocate(tensors, 0);
  ASSERT_TRUE(a.feasible);
  EXPECT_EQ(a.choice, (std::vector<int>{1}));
}

TEST(BudgetSteeringTest, GrowsUntilAMissThenBisects) {
  BudgetSteering s{.budget = 1};
  s.Met(4);
  EXPECT_DOUBLE_EQ(s.lo, 1);
  EXPECT_DOUBLE_EQ(s.budget, 4);
  s.Missed(0.5, /*clear=*/true);
  EXPECT_DOUBLE_EQ(s.hi, 4);
  EXPECT_DOUBLE_EQ(s.budget, 2);  // sqrt(1 * 4).
  s.Met(4);
  EXPECT_DOUBLE_EQ(s.lo, 2);
  EXPECT_NEAR(s.budget, std::sqrt(8.0), 1e-12);
  EXPECT_FALSE(s.Tight());
}

TEST(BudgetSteeringTest, AMarginalFirstMissLeavesTheBracketOpen) {
  BudgetSteering s{.budget = 1};
  s.Missed(0.5, /*clear=*/false);
  EXPECT_DOUBLE_EQ(s.hi, 0);  // Noise, not a ceiling.
  EXPECT_DOUBLE_EQ(s.budget, 0.5);
  s.Met(4);
  // Free to grow past the budget that missed marginally.
  EXPECT_DOUBLE_EQ(s.budget, 2);
  EXPECT_DOUBLE_EQ(s.lo, 0.5);
}

TEST(BudgetSteeringTest, AfterAMeetEveryMissClosesTheBracket) {
  BudgetSteering s{.budget = 1};
  s.Met(2);
  s.Missed(0.5, /*clear=*/false);
  EXPECT_DOUBLE_EQ(s.hi, 2);
  EXPECT_NEAR(s.budget, std::sqrt(2.0), 1e-12);
}

TEST(BudgetSteeringTest, ClearFirstMissIsACeiling) {
  BudgetSteering s{.budget = 1};
  s.Missed(0.25, /*clear=*/true);
  EXPECT_DOUBLE_EQ(s.hi, 1);
  EXPECT_DOUBLE_EQ(s.budget, 0.25);
  s.Met(8);
  EXPECT_DOUBLE_EQ(s.budget, 0.5);  // sqrt(0.25 * 1), not 0.25 * 8.
}

TEST(BudgetSteeringTest, TightWhenTheEndsAreClose) {
  BudgetSteering s{.budget = 1};
  s.Met(1.1);
  s.Missed(0.5, /*clear=*/true);
  EXPECT_TRUE(s.Tight());
}

}  // namespace
}  // namespace condense::engine
