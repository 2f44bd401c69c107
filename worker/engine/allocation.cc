#include "worker/engine/allocation.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace condense::engine {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double Loss(const TensorOption& o) { return std::max(o.loss, 0.0); }

Allocation Summed(const std::vector<std::vector<TensorOption>>& tensors,
                  std::vector<int> choice) {
  Allocation a;
  a.choice = std::move(choice);
  for (size_t t = 0; t < tensors.size(); ++t) {
    a.bytes += tensors[t][a.choice[t]].bytes;
    a.loss += Loss(tensors[t][a.choice[t]]);
  }
  return a;
}

}  // namespace

Allocation Allocate(const std::vector<std::vector<TensorOption>>& tensors,
                    double budget, int resolution) {
  const size_t n = tensors.size();
  // The least lossy choice: the answer when nothing fits.
  std::vector<int> safest(n, 0);
  for (size_t t = 0; t < n; ++t) {
    for (size_t o = 1; o < tensors[t].size(); ++o) {
      const TensorOption& a = tensors[t][o];
      const TensorOption& b = tensors[t][safest[t]];
      if (Loss(a) < Loss(b) || (Loss(a) == Loss(b) && a.bytes < b.bytes)) {
        safest[t] = static_cast<int>(o);
      }
    }
  }
  Allocation fallback = Summed(tensors, safest);
  // Sums of losses that fill the budget exactly may round above it.
  const double limit = budget * (1 + 1e-9) + 1e-15;
  if (fallback.loss > limit || budget < 0) return fallback;
  resolution = std::max(resolution, 1);
  const double step = budget > 0 ? budget / resolution : 0;
  const auto units = [&](const TensorOption& o) -> int {
    const double l = Loss(o);
    if (l == 0) return 0;
    if (step == 0) return resolution + 1;
    // A tiny tolerance so a loss of exactly k steps is k, not k + 1; a
    // loss beyond the budget is one step beyond it (no int overflow).
    const double u = std::ceil(l / step - 1e-9);
    return u > resolution ? resolution + 1 : static_cast<int>(u);
  };
  const int width = resolution + 1;
  // best[u]: fewest bytes of the tensors so far with u loss units in all.
  std::vector<double> best(width, kInf), next(width);
  best[0] = 0;
  std::vector<std::vector<int>> pick(n, std::vector<int>(width, -1));
  for (size_t t = 0; t < n; ++t) {
    std::fill(next.begin(), next.end(), kInf);
    for (size_t o = 0; o < tensors[t].size(); ++o) {
      const int u = units(tensors[t][o]);
      if (u >= width) continue;
      const double bytes = tensors[t][o].bytes;
      for (int used = 0; used + u < width; ++used) {
        if (best[used] == kInf) continue;
        const double total = best[used] + bytes;
        if (total < next[used + u]) {
          next[used + u] = total;
          pick[t][used + u] = static_cast<int>(o);
        }
      }
    }
    best.swap(next);
  }
  int end = -1;
  for (int u = 0; u < width; ++u) {
    if (best[u] < kInf && (end < 0 || best[u] < best[end])) end = u;
  }
  if (end < 0) {
    fallback.feasible = fallback.loss <= limit;
    return fallback;
  }
  std::vector<int> choice(n);
  for (size_t t = n; t-- > 0;) {
    choice[t] = pick[t][end];
    end -= units(tensors[t][choice[t]]);
  }
  Allocation a = Summed(tensors, std::move(choice));
  a.feasible = true;
  return a;
}

void BudgetSteering::Met(double grow) {
  lo = std::max(lo, budget);
  budget = hi > 0 ? std::sqrt(budget * hi) : budget * grow;
}

void BudgetSteering::Missed(double shrink, bool clear) {
  if (!clear && lo == 0) {
    budget *= shrink;
    return;
  }
  hi = hi > 0 ? std::min(hi, budget) : budget;
  budget = lo > 0 ? std::sqrt(lo * budget) : budget * shrink;
}

bool BudgetSteering::Tight() const {
  constexpr double kTightBracket = 1.15;
  return lo > 0 && hi > 0 && hi / lo < kTightBracket;
}

}  // namespace condense::engine
