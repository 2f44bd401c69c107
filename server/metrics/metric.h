// The three metric kinds a Registry hands out: Counter, Gauge, Histogram.
// One object is one time series (one label set). The Registry owns them; the
// handles it returns stay valid for the Registry's life. Every method is
// thread-safe and cheap: Counter and Gauge are one atomic operation,
// Histogram takes a short uncontended mutex so that a scrape sees buckets,
// sum and count that agree.
#ifndef CONDENSE_SERVER_METRICS_METRIC_H_
#define CONDENSE_SERVER_METRICS_METRIC_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace condense::metrics {

// A value that only goes up (requests served, bytes uploaded).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment() { Add(1.0); }
  // Negative or NaN amounts are ignored: a counter never goes down, and a
  // bad amount must not crash the server.
  void Add(double amount);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down (queue depth, workers connected).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) {
    value_.fetch_add(amount, std::memory_order_relaxed);
  }
  void Increment() { Add(1.0); }
  void Decrement() { Add(-1.0); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with fixed upper bounds (plus +Inf).
class Histogram {
 public:
  // A consistent copy of the histogram's state.
  struct Snapshot {
    std::vector<double> upper_bounds;         // Finite bounds, ascending.
    std::vector<uint64_t> cumulative_counts;  // One per bound, then +Inf.
    double sum = 0;
    uint64_t count = 0;
  };

  // `upper_bounds` must be finite and strictly ascending (Registry checks).
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN observations are ignored; they would poison the sum.
  void Observe(double value);
  Snapshot Collect() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> bucket_counts_ ABSL_GUARDED_BY(mu_);  // Not cumulative.
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Prometheus client defaults, for latencies in seconds: 5 ms .. 10 s.
std::vector<double> DefaultBuckets();

// `count` bounds: start, start*factor, start*factor^2, ...
// Needs start > 0, factor > 1, count >= 1; returns no bounds otherwise.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace condense::metrics

#endif  // CONDENSE_SERVER_METRICS_METRIC_H_
