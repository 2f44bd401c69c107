#include "codec/test_distributions.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace condense::codec::testing {

std::vector<uint16_t> GeometricSymbols(size_t n, uint32_t alphabet,
                                       double ratio, uint64_t seed) {
  std::vector<double> weights(alphabet);
  double w = 1.0;
  for (uint32_t i = 0; i < alphabet; ++i, w *= ratio) weights[i] = w;
  std::discrete_distribution<uint32_t> dist(weights.begin(), weights.end());
  std::mt19937_64 rng(seed);
  std::vector<uint16_t> out(n);
  for (auto& s : out) s = static_cast<uint16_t>(dist(rng));
  return out;
}

std::vector<uint16_t> UniformSymbols(size_t n, uint32_t alphabet,
                                     uint64_t seed) {
  std::uniform_int_distribution<uint32_t> dist(0, alphabet - 1);
  std::mt19937_64 rng(seed);
  std::vector<uint16_t> out(n);
  for (auto& s : out) s = static_cast<uint16_t>(dist(rng));
  return out;
}

namespace {

// Maps each value to the index of the nearest of `k` centroids placed
// linearly over [lo, hi].
uint32_t NearestLinear(float v, float lo, float hi, int k) {
  if (k == 1 || hi <= lo) return 0;
  const double t = (v - lo) / (hi - lo) * (k - 1);
  return static_cast<uint32_t>(std::clamp(std::lround(t), 0L, long{k - 1}));
}

}  // namespace

std::vector<float> QuantizedSparseWeights(size_t n, double density,
                                          int centroids, bool laplacian,
                                          uint64_t seed,
                                          std::vector<float>* codebook) {
  std::mt19937_64 rng(seed);
  std::vector<float> w(n);
  if (laplacian) {
    std::exponential_distribution<float> e(1.0f);
    std::bernoulli_distribution sign(0.5);
    for (auto& x : w) x = (sign(rng) ? 1.0f : -1.0f) * e(rng) * 0.05f;
  } else {
    std::normal_distribution<float> g(0.0f, 0.05f);
    for (auto& x : w) x = g(rng);
  }
  // Prune by magnitude to the requested density.
  const size_t keep = static_cast<size_t>(std::llround(density * n));
  if (keep == 0) {
    std::fill(w.begin(), w.end(), 0.0f);
  } else if (keep < n) {
    std::vector<float> mags(n);
    for (size_t i = 0; i < n; ++i) mags[i] = std::fabs(w[i]);
    std::nth_element(mags.begin(), mags.begin() + (n - keep), mags.end());
    const float threshold = mags[n - keep];
    size_t kept = 0;
    for (auto& x : w) {
      if (std::fabs(x) < threshold || kept >= keep) {
        x = 0.0f;
      } else {
        ++kept;
      }
    }
  }
  float lo = 0, hi = 0;
  bool any = false;
  for (float x : w) {
    if (x == 0.0f) continue;
    lo = any ? std::min(lo, x) : x;
    hi = any ? std::max(hi, x) : x;
    any = true;
  }
  std::vector<float> grid(centroids);
  for (int i = 0; i < centroids; ++i) {
    grid[i] = centroids == 1 ? lo : lo + (hi - lo) * i / (centroids - 1);
    if (grid[i] == 0.0f) grid[i] = 1e-6f;  // Zero means "pruned".
  }
  std::set<int> used;
  for (auto& x : w) {
    if (x == 0.0f) continue;
    const uint32_t c = NearestLinear(x, lo, hi, centroids);
    x = grid[c];
    used.insert(static_cast<int>(c));
  }
  codebook->clear();
  for (int c : used) codebook->push_back(grid[c]);
  if (codebook->empty()) codebook->push_back(1.0f);
  return w;
}

std::vector<uint16_t> QuantizedIndices(size_t n, int centroids, bool laplacian,
                                       uint64_t seed) {
  // Survivors of magnitude pruning to 10% density: the two tails beyond the
  // 90th percentile of |w|. For a Laplacian (|w| ~ Exp(1)) that threshold is
  // ln 10 and, being memoryless, the survivors are ln 10 + Exp(1).
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> e(1.0);
  std::normal_distribution<double> g(0.0, 1.0);
  std::bernoulli_distribution sign(0.5);
  const double threshold = laplacian ? std::log(10.0) : 1.6448536;
  std::vector<double> w(n);
  double hi = 0;
  for (auto& x : w) {
    double m;
    if (laplacian) {
      m = threshold + e(rng);
    } else {
      do {
        m = std::fabs(g(rng));
      } while (m < threshold);
    }
    x = sign(rng) ? m : -m;
    hi = std::max(hi, m);
  }
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint16_t>(
        NearestLinear(static_cast<float>(w[i]), static_cast<float>(-hi),
                      static_cast<float>(hi), centroids));
  }
  return out;
}

double EmpiricalEntropyBits(const std::vector<uint16_t>& symbols,
                            uint32_t alphabet) {
  std::vector<uint64_t> count(alphabet, 0);
  for (auto s : symbols) ++count[s];
  double h = 0;
  const double n = static_cast<double>(symbols.size());
  for (auto c : count) {
    if (c) h -= c / n * std::log2(c / n);
  }
  return h;
}

}  // namespace condense::codec::testing
