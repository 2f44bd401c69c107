#include "worker/engine/kmeans_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace condense::engine::internal {
namespace {

// Nonempty bins in ascending order: each is a weighted point at its mean.
struct Bins {
  std::vector<double> count;  // Prefix sums, size m + 1.
  std::vector<double> sum;
  std::vector<double> sumsq;
  std::vector<double> mean;   // Per bin, ascending.
  std::vector<float> lo, hi;  // Smallest and largest value in each bin.
  size_t size() const { return mean.size(); }
};

Bins BuildBins(std::span<const float> values, bool skip_zeros) {
  float vmin = std::numeric_limits<float>::infinity();
  float vmax = -vmin;
  size_t n = 0;
  for (float v : values) {
    if (skip_zeros && v == 0.0f) continue;
    vmin = std::min(vmin, v);
    vmax = std::max(vmax, v);
    ++n;
  }
  // No more bins than values: past that they only add empty ones.
  size_t nbins = 1;
  while (nbins < std::min<size_t>(n, kLloydHistogramBins)) nbins *= 2;
  const double width = (static_cast<double>(vmax) - vmin) / nbins;
  const double scale = width > 0 ? 1.0 / width : 0.0;
  // One record per bin, so each value touches one cache line.
  struct Bin {
    double sum = 0;
    double sumsq = 0;
    uint64_t count = 0;
    float lo = std::numeric_limits<float>::infinity();
    float hi = -std::numeric_limits<float>::infinity();
  };
  std::vector<Bin> raw(nbins);
  for (float v : values) {
    if (skip_zeros && v == 0.0f) continue;
    const double x = v;
    const size_t b =
        std::min(static_cast<size_t>((x - vmin) * scale), nbins - 1);
    Bin& bin = raw[b];
    ++bin.count;
    bin.sum += x;
    bin.sumsq += x * x;
    bin.lo = std::min(bin.lo, v);
    bin.hi = std::max(bin.hi, v);
  }
  Bins bins;
  bins.count.push_back(0);
  bins.sum.push_back(0);
  bins.sumsq.push_back(0);
  for (const Bin& b : raw) {
    if (b.count == 0) continue;
    const auto c = static_cast<double>(b.count);
    bins.count.push_back(bins.count.back() + c);
    bins.sum.push_back(bins.sum.back() + b.sum);
    bins.sumsq.push_back(bins.sumsq.back() + b.sumsq);
    bins.mean.push_back(std::clamp(b.sum / c, double{b.lo}, double{b.hi}));
    bins.lo.push_back(b.lo);
    bins.hi.push_back(b.hi);
  }
  return bins;
}

double Midpoint(float a, float b) { return 0.5 * a + 0.5 * b; }

// ends[j]: one past the last bin nearest to centroid j (ties to the lower).
void ClusterEnds(const Bins& bins, const std::vector<float>& c,
                 std::vector<size_t>* ends) {
  ends->resize(c.size());
  for (size_t j = 0; j + 1 < c.size(); ++j) {
    const double mid = Midpoint(c[j], c[j + 1]);
    (*ends)[j] = static_cast<size_t>(
        std::upper_bound(bins.mean.begin(), bins.mean.end(), mid) -
        bins.mean.begin());
  }
  ends->back() = bins.size();
}

std::vector<float> Initial(const Bins& bins, const KMeansOptions& options) {
  const size_t k = static_cast<size_t>(options.k);
  const double n = bins.count.back();
  std::vector<float> c;
  switch (options.init) {
    case KMeansInit::kLinear: {
      const double lo = bins.lo.front();
      const double hi = bins.hi.back();
      if (k == 1) {
        c.push_back(
            static_cast<float>(Midpoint(bins.lo.front(), bins.hi.back())));
        break;
      }
      for (size_t i = 0; i < k; ++i) {
        const double t = static_cast<double>(i) / static_cast<double>(k - 1);
        c.push_back(static_cast<float>(lo + (hi - lo) * t));
      }
      c.front() = bins.lo.front();
      c.back() = bins.hi.back();
      break;
    }
    case KMeansInit::kDensity:
      for (size_t i = 0; i < k; ++i) {
        const double q = (2.0 * i + 1) * n / (2.0 * k);
        const size_t b = static_cast<size_t>(
            std::upper_bound(bins.count.begin() + 1, bins.count.end(), q) -
            (bins.count.begin() + 1));
        c.push_back(
            static_cast<float>(bins.mean[std::min(b, bins.size() - 1)]));
      }
      break;
    case KMeansInit::kRandom: {
      // Bins drawn without replacement, each with probability proportional
      // to its count (Efraimidis-Spirakis keys), as the sorted solver draws
      // distinct values.
      std::mt19937_64 rng(options.seed);
      std::vector<std::pair<double, size_t>> keys;
      keys.reserve(bins.size());
      for (size_t b = 0; b < bins.size(); ++b) {
        const double u = (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
        keys.emplace_back(std::log(u) / (bins.count[b + 1] - bins.count[b]), b);
      }
      const size_t take = std::min(k, keys.size());
      std::partial_sort(keys.begin(), keys.begin() + take, keys.end(),
                        [](auto& a, auto& b) { return a.first > b.first; });
      for (size_t i = 0; i < take; ++i) {
        c.push_back(static_cast<float>(bins.mean[keys[i].second]));
      }
      break;
    }
  }
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

float RangeMean(const Bins& bins, size_t lo, size_t hi) {
  const double m =
      (bins.sum[hi] - bins.sum[lo]) / (bins.count[hi] - bins.count[lo]);
  return std::clamp(static_cast<float>(m), bins.lo[lo], bins.hi[hi - 1]);
}

}  // namespace

KMeansResult LloydOverHistogram(std::span<const float> values, bool skip_zeros,
                                const KMeansOptions& options) {
  const Bins bins = BuildBins(values, skip_zeros);
  std::vector<float> centroids = Initial(bins, options);
  std::vector<size_t> ends, prev_ends;
  int iterations = 0;
  while (iterations < options.max_iterations) {
    ClusterEnds(bins, centroids, &ends);
    if (ends == prev_ends) break;
    double max_move = 0;
    size_t lo = 0;
    for (size_t j = 0; j < centroids.size(); ++j) {
      const size_t hi = ends[j];
      if (hi == lo) continue;
      const float mean = RangeMean(bins, lo, hi);
      max_move = std::max(max_move, std::abs(double{mean} - centroids[j]));
      centroids[j] = mean;
      lo = hi;
    }
    ++iterations;
    std::swap(ends, prev_ends);
    if (options.tolerance > 0 && max_move <= options.tolerance) break;
  }
  ClusterEnds(bins, centroids, &ends);
  KMeansResult result;
  result.iterations = iterations;
  size_t lo = 0;
  for (size_t j = 0; j < centroids.size(); ++j) {
    const size_t hi = ends[j];
    if (hi == lo) continue;
    const double c = centroids[j];
    const double n = bins.count[hi] - bins.count[lo];
    const double s = bins.sum[hi] - bins.sum[lo];
    const double s2 = bins.sumsq[hi] - bins.sumsq[lo];
    result.sse += std::max(0.0, s2 - 2 * c * s + c * c * n);
    result.centroids.push_back(centroids[j]);
    lo = hi;
  }
  return result;
}

}  // namespace condense::engine::internal
