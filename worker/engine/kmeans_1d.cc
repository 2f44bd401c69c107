#include "worker/engine/kmeans_1d.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <queue>
#include <random>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "worker/engine/kmeans_histogram.h"

namespace condense::engine {
namespace {

// The optimal solver's argmin table has (k - 1) * (m + 1) int32 cells; past
// 2^28 (1 GiB, and minutes of work) we refuse rather than thrash.
constexpr int64_t kMaxDpCells = int64_t{1} << 28;

// Neumaier's compensated sum: prefix sums over millions of weights must keep
// float precision after two of them are subtracted.
class CompensatedSum {
 public:
  void Add(double x) {
    const double t = sum_ + x;
    comp_ += std::abs(sum_) >= std::abs(x) ? (sum_ - t) + x : (x - t) + sum_;
    sum_ = t;
  }
  double Value() const { return sum_ + comp_; }

 private:
  double sum_ = 0;
  double comp_ = 0;
};

absl::Status Validate(std::span<const float> values,
                      const KMeansOptions& options) {
  if (values.empty()) {
    return absl::InvalidArgumentError("k-means: no values to cluster");
  }
  if (options.k < 1 || options.k > kKMeansMaxK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: k must be in [1, ", kKMeansMaxK, "], got ", options.k));
  }
  if (options.max_iterations < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: max_iterations must be >= 0, got ", options.max_iterations));
  }
  if (!(options.tolerance >= 0) || !std::isfinite(options.tolerance)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: tolerance must be finite and >= 0, got ", options.tolerance));
  }
  if (options.histogram_bins < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: histogram_bins must be >= 1, got ", options.histogram_bins));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("k-means: values[", i, "] is ", values[i],
                       "; weights must be finite"));
    }
  }
  return absl::OkStatus();
}

std::vector<float> SortedCopy(std::span<const float> values) {
  std::vector<float> sorted(values.begin(), values.end());
  // -0 == +0 but they print differently; one spelling keeps results
  // independent of the input order.
  for (float& x : sorted) {
    if (x == 0) x = 0;
  }
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

size_t CountDistinct(std::span<const float> sorted) {
  size_t distinct = 1;
  for (size_t i = 1; i < sorted.size(); ++i)
    distinct += sorted[i] != sorted[i - 1];
  return distinct;
}

// The boundary between two neighbouring clusters, in double: exact for floats
// within 2^29 of each other in magnitude, and monotone always, so clusters
// stay contiguous ranges of the sorted values.
double Midpoint(float lo, float hi) { return 0.5 * lo + 0.5 * hi; }

// The nearest centroid by a branchless binary search over the midpoints,
// padded to a power of two with +inf: the lower_bound of AssignNearest
// without its unpredictable branches (several times faster on real weights).
class NearestIndex {
 public:
  explicit NearestIndex(std::span<const float> centroids) {
    size_t size = 1;
    while (size < centroids.size()) size *= 2;
    mids_.assign(size, std::numeric_limits<double>::infinity());
    for (size_t j = 0; j + 1 < centroids.size(); ++j) {
      mids_[j] = Midpoint(centroids[j], centroids[j + 1]);
    }
  }
  // Centroid j takes the values in (mids[j - 1], mids[j]].
  size_t operator()(float v) const {
    const double x = v;
    size_t i = 0;
    for (size_t step = mids_.size() / 2; step > 0; step /= 2) {
      i += mids_[i + step - 1] < x ? step : 0;
    }
    return i;
  }

 private:
  std::vector<double> mids_;
};

// ends[j] is one past the last sorted value nearest to centroids[j] (ties go
// to the lower centroid, as in AssignNearest).
void ClusterEnds(std::span<const float> sorted,
                 std::span<const float> centroids, std::vector<size_t>* ends) {
  ends->resize(centroids.size());
  auto it = sorted.begin();
  for (size_t j = 0; j + 1 < centroids.size(); ++j) {
    const double mid = Midpoint(centroids[j], centroids[j + 1]);
    it = std::upper_bound(it, sorted.end(), mid,
                          [](double m, float x) { return m < x; });
    (*ends)[j] = it - sorted.begin();
  }
  ends->back() = sorted.size();
}

// Rounding can push a mean just outside its values; clamping keeps centroids
// strictly ordered, since the ranges of neighbouring clusters are disjoint.
float ClampedMean(double sum, size_t count, float min, float max) {
  return std::clamp(static_cast<float>(sum / static_cast<double>(count)), min,
                    max);
}

float RangeMean(std::span<const float> sorted, size_t lo, size_t hi) {
  CompensatedSum sum;
  for (size_t i = lo; i < hi; ++i) sum.Add(sorted[i]);
  return ClampedMean(sum.Value(), hi - lo, sorted[lo], sorted[hi - 1]);
}

// Drops centroids no value is nearest to and computes the SSE.
KMeansResult Finish(std::span<const float> sorted,
                    std::span<const float> centroids, int iterations) {
  std::vector<size_t> ends;
  ClusterEnds(sorted, centroids, &ends);
  KMeansResult result;
  result.iterations = iterations;
  CompensatedSum sse;
  size_t lo = 0;
  for (size_t j = 0; j < centroids.size(); ++j) {
    const size_t hi = ends[j];
    if (hi == lo) continue;
    result.centroids.push_back(centroids[j]);
    for (size_t i = lo; i < hi; ++i) {
      const double d = static_cast<double>(sorted[i]) - centroids[j];
      sse.Add(d * d);
    }
    lo = hi;
  }
  result.sse = sse.Value();
  return result;
}

// Weighted sampling without replacement (Efraimidis-Spirakis keys
// log(u) / weight): each distinct value is picked with probability
// proportional to its multiplicity, like drawing weights at random, but no
// value twice.
std::vector<float> SampleDistinct(std::span<const float> sorted, size_t k,
                                  uint64_t seed) {
  // mt19937_64's output is fixed by the standard (the distributions are not),
  // so a seed means the same centroids on every platform.
  std::mt19937_64 rng(seed);
  using Keyed = std::pair<double, float>;
  std::priority_queue<Keyed, std::vector<Keyed>, std::greater<Keyed>> best;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    const double u = (static_cast<double>(rng() >> 11) + 0.5) * 0x1p-53;
    const double key = std::log(u) / static_cast<double>(j - i);
    if (best.size() < k) {
      best.emplace(key, sorted[i]);
    } else if (key > best.top().first) {
      best.pop();
      best.emplace(key, sorted[i]);
    }
    i = j;
  }
  std::vector<float> picked;
  for (; !best.empty(); best.pop()) picked.push_back(best.top().second);
  return picked;
}

std::vector<float> InitialCentroids(std::span<const float> sorted,
                                    const KMeansOptions& options) {
  const size_t n = sorted.size();
  const size_t k = static_cast<size_t>(options.k);
  std::vector<float> c;
  if (k >= CountDistinct(sorted)) {
    std::unique_copy(sorted.begin(), sorted.end(), std::back_inserter(c));
    return c;
  }
  switch (options.init) {
    case KMeansInit::kLinear: {
      const double lo = sorted.front();
      const double hi = sorted.back();
      if (k == 1) {
        c.push_back(
            static_cast<float>(Midpoint(sorted.front(), sorted.back())));
        break;
      }
      for (size_t i = 0; i < k; ++i) {
        const double t = static_cast<double>(i) / static_cast<double>(k - 1);
        c.push_back(static_cast<float>(lo + (hi - lo) * t));
      }
      c.front() = sorted.front();  // exact ends despite rounding
      c.back() = sorted.back();
      break;
    }
    case KMeansInit::kDensity:
      for (size_t i = 0; i < k; ++i) {
        c.push_back(sorted[std::min(n - 1, (2 * i + 1) * n / (2 * k))]);
      }
      break;
    case KMeansInit::kRandom:
      c = SampleDistinct(sorted, k, options.seed);
      break;
  }
  // Float rounding (linear) and repeated values (density) can collide;
  // a duplicate centroid would only ever be an empty cluster.
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

KMeansResult LloydSorted(std::span<const float> sorted,
                         std::vector<float> centroids,
                         const KMeansOptions& options) {
  std::vector<double> prefix(sorted.size() + 1);
  CompensatedSum running;
  for (size_t i = 0; i < sorted.size(); ++i) {
    running.Add(sorted[i]);
    prefix[i + 1] = running.Value();
  }
  std::vector<size_t> ends;
  std::vector<size_t> prev_ends;
  int iterations = 0;
  while (iterations < options.max_iterations) {
    ClusterEnds(sorted, centroids, &ends);
    if (ends == prev_ends) break;  // same assignment, same means
    double max_move = 0;
    size_t lo = 0;
    for (size_t j = 0; j < centroids.size(); ++j) {
      const size_t hi = ends[j];
      if (hi == lo) continue;  // empty: keep its position
      const float mean = ClampedMean(prefix[hi] - prefix[lo], hi - lo,
                                     sorted[lo], sorted[hi - 1]);
      max_move = std::max(max_move,
                          std::abs(static_cast<double>(mean) - centroids[j]));
      centroids[j] = mean;
      lo = hi;
    }
    ++iterations;
    std::swap(ends, prev_ends);
    if (options.tolerance > 0 && max_move <= options.tolerance) break;
  }
  return Finish(sorted, centroids, iterations);
}

// Starts of the runs of sorted values the optimal solver treats as points:
// one per distinct value, or per nonempty equal-width bin when there are more
// than `bins` distinct values. Ends with sorted.size().
std::vector<size_t> PointStarts(std::span<const float> sorted, bool binned,
                                int bins) {
  std::vector<size_t> starts;
  if (!binned) {
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i == 0 || sorted[i] != sorted[i - 1]) starts.push_back(i);
    }
  } else {
    const double lo = sorted.front();
    const double width = (static_cast<double>(sorted.back()) - lo) / bins;
    int64_t prev_bin = -1;
    for (size_t i = 0; i < sorted.size(); ++i) {
      const int64_t bin = std::min<int64_t>(
          bins - 1, static_cast<int64_t>((sorted[i] - lo) / width));
      if (bin != prev_bin) starts.push_back(i);
      prev_bin = bin;
    }
  }
  starts.push_back(sorted.size());
  return starts;
}

// Within-cluster sum of squares of points [i, j) from prefix sums of count,
// sum and sum of squares: exact for the values, not just per-point means.
class ClusterCost {
 public:
  ClusterCost(std::span<const float> sorted, std::span<const size_t> starts)
      : count_(starts.size()), sum_(starts.size()), sum_sq_(starts.size()) {
    // Centring on the median keeps the sums small, so q - s^2 / c loses
    // fewer digits to cancellation.
    const double shift = sorted[sorted.size() / 2];
    CompensatedSum s;
    CompensatedSum q;
    for (size_t p = 0; p + 1 < starts.size(); ++p) {
      for (size_t i = starts[p]; i < starts[p + 1]; ++i) {
        const double d = sorted[i] - shift;
        s.Add(d);
        q.Add(d * d);
      }
      count_[p + 1] = static_cast<double>(starts[p + 1]);
      sum_[p + 1] = s.Value();
      sum_sq_[p + 1] = q.Value();
    }
  }

  double operator()(size_t i, size_t j) const {
    const double s = sum_[j] - sum_[i];
    return (sum_sq_[j] - sum_sq_[i]) - s * s / (count_[j] - count_[i]);
  }

  // Fills cur[j] = min over i in [ilo, min(ihi, j - 1)] of prev[i] + cost(i,
  // j) for j in [jlo, jhi], and its argmin. The best split is nondecreasing
  // in j (the cost satisfies the quadrangle inequality), so solving the
  // middle j bounds both halves: O(m log m) per row instead of O(m^2).
  void FillRow(const std::vector<double>& prev, size_t jlo, size_t jhi,
               size_t ilo, size_t ihi, std::vector<double>* cur,
               int32_t* opt) const {
    if (jlo > jhi) return;
    const size_t j = jlo + (jhi - jlo) / 2;
    const double cj = count_[j];
    const double sj = sum_[j];
    const double qj = sum_sq_[j];
    double best = std::numeric_limits<double>::infinity();
    size_t best_i = ilo;
    for (size_t i = ilo, last = std::min(ihi, j - 1); i <= last; ++i) {
      const double s = sj - sum_[i];
      const double v = prev[i] + ((qj - sum_sq_[i]) - s * s / (cj - count_[i]));
      if (v < best) {
        best = v;
        best_i = i;
      }
    }
    (*cur)[j] = best;
    opt[j] = static_cast<int32_t>(best_i);
    if (j > jlo) FillRow(prev, jlo, j - 1, ilo, best_i, cur, opt);
    FillRow(prev, j + 1, jhi, best_i, ihi, cur, opt);
  }

 private:
  std::vector<double> count_;
  std::vector<double> sum_;
  std::vector<double> sum_sq_;
};

// Optimal split of m points into k < m contiguous clusters; returns the k + 1
// cut positions. best[t][j] = min_i best[t-1][i] + cost(i, j).
std::vector<size_t> OptimalCuts(const ClusterCost& cost, size_t m, size_t k) {
  std::vector<double> prev(m + 1);
  std::vector<double> cur(m + 1);
  for (size_t j = 1; j <= m; ++j) prev[j] = cost(0, j);
  std::vector<int32_t> opt((k - 1) * (m + 1));
  for (size_t t = 2; t <= k; ++t) {
    // The last row is only needed at j = m.
    const size_t jlo = t == k ? m : t;
    cost.FillRow(prev, jlo, m, t - 1, m - 1, &cur, &opt[(t - 2) * (m + 1)]);
    std::swap(prev, cur);
  }
  std::vector<size_t> cuts(k + 1);
  cuts[k] = m;
  for (size_t t = k; t >= 2; --t) {
    cuts[t - 1] = opt[(t - 2) * (m + 1) + cuts[t]];
  }
  return cuts;
}

absl::StatusOr<KMeansResult> OptimalSorted(std::span<const float> sorted,
                                           const KMeansOptions& options) {
  const bool binned =
      CountDistinct(sorted) > static_cast<size_t>(options.histogram_bins);
  const std::vector<size_t> starts =
      PointStarts(sorted, binned, options.histogram_bins);
  const size_t m = starts.size() - 1;
  const size_t k = std::min(static_cast<size_t>(options.k), m);
  std::vector<size_t> cuts(k + 1);
  if (k == m) {
    for (size_t t = 0; t <= k; ++t) cuts[t] = t;
  } else {
    const int64_t cells = static_cast<int64_t>((k - 1) * (m + 1));
    if (cells > kMaxDpCells) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "k-means: the optimal solver for k=", k, " over ", m,
          " points needs ", cells, " table cells (limit ", kMaxDpCells,
          "); lower histogram_bins or use the Lloyd solver"));
    }
    cuts = OptimalCuts(ClusterCost(sorted, starts), m, k);
  }
  std::vector<float> centroids;
  for (size_t t = 0; t < k; ++t) {
    centroids.push_back(
        RangeMean(sorted, starts[cuts[t]], starts[cuts[t + 1]]));
  }
  // A binned solution is optimal for the bins, not the values; Lloyd steps
  // from it can only lower the SSE.
  if (binned) return LloydSorted(sorted, std::move(centroids), options);
  return Finish(sorted, centroids, 0);
}

}  // namespace

absl::StatusOr<KMeansResult> KMeans1D(std::span<const float> values,
                                      const KMeansOptions& options) {
  if (absl::Status s = Validate(values, options); !s.ok()) return s;
  if (options.solver == KMeansSolver::kLloyd &&
      static_cast<int64_t>(values.size()) > options.max_sorted_values) {
    return internal::LloydOverHistogram(values, /*skip_zeros=*/false, options);
  }
  const std::vector<float> sorted = SortedCopy(values);
  if (options.solver == KMeansSolver::kOptimal) {
    return OptimalSorted(sorted, options);
  }
  return LloydSorted(sorted, InitialCentroids(sorted, options), options);
}

absl::StatusOr<KMeansResult> KMeans1DNonzero(std::span<const float> weights,
                                             const KMeansOptions& options) {
  const auto nonzeros = static_cast<int64_t>(std::count_if(
      weights.begin(), weights.end(), [](float v) { return v != 0.0f; }));
  if (nonzeros == 0) {
    return absl::InvalidArgumentError("k-means: every weight is zero");
  }
  if (options.solver == KMeansSolver::kLloyd &&
      nonzeros > options.max_sorted_values) {
    if (absl::Status s = Validate(weights, options); !s.ok()) return s;
    return internal::LloydOverHistogram(weights, /*skip_zeros=*/true, options);
  }
  std::vector<float> values;
  values.reserve(static_cast<size_t>(nonzeros));
  for (float v : weights) {
    if (v != 0.0f) values.push_back(v);
  }
  return KMeans1D(values, options);
}

std::vector<uint64_t> SnapToCentroids(std::span<float> weights,
                                      std::span<const float> centroids,
                                      int threads) {
  assert(!centroids.empty());
  const NearestIndex nearest(centroids);
  auto snap = [&](std::span<float> part, std::vector<uint64_t>* used) {
    used->assign(centroids.size(), 0);
    for (float& w : part) {
      if (w == 0.0f) {
        w = 0.0f;  // -0.0 reads +0.0, as the codec stores it.
        continue;
      }
      const size_t j = nearest(w);
      ++(*used)[j];
      w = centroids[j] == 0.0f ? 0.0f : centroids[j];
    }
  };
  constexpr size_t kMinPerThread = size_t{1} << 20;
  const size_t parts =
      std::clamp<size_t>(weights.size() / kMinPerThread, 1,
                         static_cast<size_t>(std::max(threads, 1)));
  std::vector<std::vector<uint64_t>> used(parts);
  std::vector<std::thread> pool;
  const size_t chunk = (weights.size() + parts - 1) / parts;
  for (size_t p = 1; p < parts; ++p) {
    const size_t lo = std::min(weights.size(), p * chunk);
    const size_t hi = std::min(weights.size(), lo + chunk);
    pool.emplace_back(snap, weights.subspan(lo, hi - lo), &used[p]);
  }
  snap(weights.first(std::min(chunk, weights.size())), &used[0]);
  for (auto& t : pool) t.join();
  for (size_t p = 1; p < parts; ++p) {
    for (size_t j = 0; j < centroids.size(); ++j) used[0][j] += used[p][j];
  }
  return used[0];
}

std::vector<float> UsedCentroids(std::span<const float> centroids,
                                 std::span<const uint64_t> used) {
  std::vector<float> codebook;
  for (size_t j = 0; j < centroids.size() && j < used.size(); ++j) {
    if (used[j] > 0 && centroids[j] != 0.0f) codebook.push_back(centroids[j]);
  }
  if (codebook.empty()) codebook.push_back(0.0f);
  return codebook;
}

absl::StatusOr<std::vector<float>> KMeansInitialCentroids(
    std::span<const float> values, const KMeansOptions& options) {
  if (absl::Status s = Validate(values, options); !s.ok()) return s;
  return InitialCentroids(SortedCopy(values), options);
}

void AssignNearest(std::span<const float> values,
                   std::span<const float> centroids, std::span<int32_t> out) {
  assert(!centroids.empty() && out.size() == values.size());
  const NearestIndex nearest(centroids);
  for (size_t i = 0; i < values.size(); ++i) {
    out[i] = static_cast<int32_t>(nearest(values[i]));
  }
}

absl::StatusOr<KMeansResult> NaiveLloyd1D(std::span<const float> values,
                                          const KMeansOptions& options) {
  if (absl::Status s = Validate(values, options); !s.ok()) return s;
  std::vector<float> c = InitialCentroids(SortedCopy(values), options);
  const size_t k = c.size();
  std::vector<int32_t> assign(values.size());
  auto assign_all = [&] {
    for (size_t i = 0; i < values.size(); ++i) {
      int32_t best = 0;
      double best_d = std::abs(static_cast<double>(values[i]) - c[0]);
      for (size_t j = 1; j < k; ++j) {
        const double d = std::abs(static_cast<double>(values[i]) - c[j]);
        if (d < best_d) {
          best_d = d;
          best = static_cast<int32_t>(j);
        }
      }
      assign[i] = best;
    }
  };
  std::vector<int32_t> prev;
  int iterations = 0;
  while (iterations < options.max_iterations) {
    assign_all();
    if (assign == prev) break;
    std::vector<CompensatedSum> sum(k);
    std::vector<size_t> count(k, 0);
    std::vector<float> lo(k, std::numeric_limits<float>::infinity());
    std::vector<float> hi(k, -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < values.size(); ++i) {
      const float x = values[i] == 0 ? 0.0f : values[i];
      const int32_t j = assign[i];
      sum[j].Add(x);
      ++count[j];
      lo[j] = std::min(lo[j], x);
      hi[j] = std::max(hi[j], x);
    }
    double max_move = 0;
    for (size_t j = 0; j < k; ++j) {
      if (count[j] == 0) continue;
      const float mean = ClampedMean(sum[j].Value(), count[j], lo[j], hi[j]);
      max_move = std::max(max_move, std::abs(static_cast<double>(mean) - c[j]));
      c[j] = mean;
    }
    ++iterations;
    prev = assign;
    if (options.tolerance > 0 && max_move <= options.tolerance) break;
  }
  assign_all();
  std::vector<CompensatedSum> sse(k);
  std::vector<bool> used(k, false);
  for (size_t i = 0; i < values.size(); ++i) {
    const double d = static_cast<double>(values[i]) - c[assign[i]];
    sse[assign[i]].Add(d * d);
    used[assign[i]] = true;
  }
  KMeansResult result;
  result.iterations = iterations;
  CompensatedSum total;
  for (size_t j = 0; j < k; ++j) {
    if (!used[j]) continue;
    result.centroids.push_back(c[j]);
    total.Add(sse[j].Value());
  }
  result.sse = total.Value();
  return result;
}

}  // namespace condense::engine
