// k-means benchmark: KMeans1D's Lloyd (sort once, O(k log n) per iteration)
// and optimal (histogram DP + Lloyd refinement) solvers against textbook
// O(n k) Lloyd, on 10M Laplacian weights (scale 0.05, fixed seed) at k = 32
// and k = 256. One call per benchmark; counters give the SSE, the iterations
// run and the centroids kept.
//
// The naive loop costs seconds per iteration at k = 256, so both Lloyd
// variants also run with kNaiveIterations for a like-for-like comparison
// (same iterations, same result); "lloyd/k/100" is the solver as configured
// by default.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "worker/engine/kmeans_1d.h"

namespace condense::engine {
namespace {

constexpr size_t kWeights = 10'000'000;
constexpr int kNaiveIterations = 5;

const std::vector<float>& Weights() {
  static const std::vector<float>* const weights = [] {
    auto* w = new std::vector<float>(kWeights);
    std::mt19937_64 rng(20160501);
    for (float& x : *w) {
      // Inverse CDF from 53 uniform bits; std distributions vary by library.
      const double u = (static_cast<double>(rng() >> 11) + 0.5) * 0x1p-53;
      const double a = u - 0.5;
      x = static_cast<float>(-0.05 *
                             std::copysign(std::log1p(-2 * std::abs(a)), a));
    }
    return w;
  }();
  return *weights;
}

template <auto kSolve>
void Run(benchmark::State& state, KMeansOptions options) {
  const std::vector<float>& weights = Weights();
  KMeansResult result;
  for (auto _ : state) {
    absl::StatusOr<KMeansResult> r = kSolve(weights, options);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    result = *std::move(r);
    benchmark::DoNotOptimize(result);
  }
  state.counters["sse"] = result.sse;
  state.counters["lloyd_steps"] = result.iterations;
  state.counters["centroids"] = static_cast<double>(result.centroids.size());
}

KMeansOptions Options(const benchmark::State& state, KMeansSolver solver) {
  KMeansOptions o;
  o.k = static_cast<int>(state.range(0));
  o.solver = solver;
  if (state.range(1) > 0) o.max_iterations = static_cast<int>(state.range(1));
  return o;
}

void BM_Lloyd(benchmark::State& state) {
  Run<KMeans1D>(state, Options(state, KMeansSolver::kLloyd));
}
void BM_Optimal(benchmark::State& state) {
  Run<KMeans1D>(state, Options(state, KMeansSolver::kOptimal));
}
void BM_NaiveLloyd(benchmark::State& state) {
  Run<NaiveLloyd1D>(state, Options(state, KMeansSolver::kLloyd));
}

BENCHMARK(BM_Lloyd)
    ->ArgNames({"k", "iters"})
    ->ArgsProduct({{32, 256}, {100, kNaiveIterations}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Optimal)
    ->ArgNames({"k", "iters"})
    ->ArgsProduct({{32, 256}, {100}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NaiveLloyd)
    ->ArgNames({"k", "iters"})
    ->ArgsProduct({{32, 256}, {kNaiveIterations}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace condense::engine
