// Registry: a small thread-safe Prometheus metrics registry that renders the
// text exposition format 0.0.4 (prometheus-cpp is not available here).
//
// Families (a name, help text, fixed label names) are registered once, at
// startup, and live as long as the Registry. `family.WithLabels({...})`
// returns a handle (Counter&, Gauge&, Histogram&) that also lives as long as
// the Registry; cache it on hot paths. Collectors are functions that the
// Registry calls at scrape time, for values read from elsewhere then (jobs by
// state from the database, blob store size).
//
// Registration errors (invalid metric or label name, a counter not ending in
// "_total", a duplicate name, bad histogram bounds, "le" as a histogram
// label, a wrong number of label values) are programming errors: the process
// aborts with a message naming the problem, like a CHECK. Use
// ValidateMetricName / ValidateLabelName (text_format.h) first for names that
// come from outside.
//
// Thread-safety: every method may be called from any thread at any time.
// Serialize() calls collectors without holding any registry lock, so a slow
// collector never blocks metric updates.
#ifndef CONDENSE_SERVER_METRICS_REGISTRY_H_
#define CONDENSE_SERVER_METRICS_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/metric.h"

namespace condense::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// What a family has in common, whatever its kind. Internal to the Registry.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends this family's sample lines (no HELP/TYPE) to `out`.
  virtual void AppendSamples(std::string* out) const = 0;

 protected:
  // Aborts with a clear message unless `values` has one entry per label.
  void CheckLabelCount(const std::vector<std::string>& values) const;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

// A family of time series of one kind, one per label-value set.
template <typename Metric>
class Family final : public FamilyBase {
 public:
  // `make` builds a new child (Histogram needs its bounds).
  Family(std::string name, std::string help, MetricType type,
         std::vector<std::string> label_names,
         std::function<std::unique_ptr<Metric>()> make)
      : FamilyBase(std::move(name), std::move(help), type,
                   std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values, in label-name order; created at first
  // use. Aborts if the number of values is wrong.
  Metric& WithLabels(const std::vector<std::string>& values) {
    CheckLabelCount(values);
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Metric>& child = children_[values];
    if (child == nullptr) child = make_();
    return *child;
  }

  void AppendSamples(std::string* out) const override;

 private:
  const std::function<std::unique_ptr<Metric>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_
      ABSL_GUARDED_BY(mu_);
};

// One sample a collector reports: label values (in the collector's label-name
// order) and the value.
struct CollectedSample {
  std::vector<std::string> label_values;
  double value = 0;
};

// Called at each scrape; returns the samples of one family. Samples with the
// wrong number of label values are dropped.
using CollectFn = std::function<std::vector<CollectedSample>()>;

// Defined in registry.cc, one per kind.
template <>
void Family<Counter>::AppendSamples(std::string* out) const;
template <>
void Family<Gauge>::AppendSamples(std::string* out) const;
template <>
void Family<Histogram>::AppendSamples(std::string* out) const;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // `name` must end in "_total" (Prometheus convention; promtool checks it).
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names);
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names);
  // `upper_bounds`: finite, strictly ascending; +Inf is implied (a trailing
  // +Inf is accepted and dropped). See DefaultBuckets / ExponentialBuckets.
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);

  // Families whose samples `collect` computes at scrape time. Same naming
  // rules as AddCounter / AddGauge.
  void AddCounterCollector(std::string name, std::string help,
                           std::vector<std::string> label_names,
                           CollectFn collect);
  void AddGaugeCollector(std::string name, std::string help,
                         std::vector<std::string> label_names,
                         CollectFn collect);

  // All families sorted by name, in text exposition format 0.0.4.
  std::string Serialize() const;

 private:
  class CollectorFamily;

  // Validates names and uniqueness (aborting on error), then stores `family`.
  void Register(std::unique_ptr<FamilyBase> family);

  mutable absl::Mutex mu_;
  // Keyed by name, so serialization is sorted. Families are never removed,
  // so the pointers handed out stay valid.
  std::map<std::string, std::unique_ptr<FamilyBase>> families_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace condense::metrics

#endif  // CONDENSE_SERVER_METRICS_REGISTRY_H_
