#include "server/metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/metrics/text_format.h"

namespace condense::metrics {
namespace {

// Registration errors are programming errors (names are constants in the
// code), so they stop the process at startup, where they are easy to see.
[[noreturn]] void Die(absl::string_view message) {
  std::fprintf(stderr, "condense_metrics: %.*s\n",
               static_cast<int>(message.size()), message.data());
  std::abort();
}

void CheckOk(const absl::Status& status) {
  if (!status.ok()) Die(status.message());
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void AppendSample(absl::string_view name,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, double value,
                  std::string* out) {
  out->append(name.data(), name.size());
  AppendLabels(label_names, label_values, "", "", out);
  absl::StrAppend(out, " ", FormatDouble(value), "\n");
}

}  // namespace

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void FamilyBase::CheckLabelCount(const std::vector<std::string>& values) const {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat("metric ", name_, " has ", label_names_.size(),
                     " labels but was given ", values.size(),
                     " values; pass one value per label name"));
  }
}

template <>
void Family<Counter>::AppendSamples(std::string* out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, counter] : children_) {
    AppendSample(name(), label_names(), values, counter->Value(), out);
  }
}

template <>
void Family<Gauge>::AppendSamples(std::string* out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, gauge] : children_) {
    AppendSample(name(), label_names(), values, gauge->Value(), out);
  }
}

template <>
void Family<Histogram>::AppendSamples(std::string* out) const {
  absl::MutexLock lock(&mu_);
  const std::string bucket_name = name() + "_bucket";
  for (const auto& [values, histogram] : children_) {
    Histogram::Snapshot snap = histogram->Collect();
    for (size_t i = 0; i < snap.cumulative_counts.size(); ++i) {
      const std::string le = i < snap.upper_bounds.size()
                                 ? FormatDouble(snap.upper_bounds[i])
                                 : std::string("+Inf");
      out->append(bucket_name);
      AppendLabels(label_names(), values, "le", le, out);
      absl::StrAppend(
          out, " ",
          FormatDouble(static_cast<double>(snap.cumulative_counts[i])), "\n");
    }
    AppendSample(name() + "_sum", label_names(), values, snap.sum, out);
    AppendSample(name() + "_count", label_names(), values,
                 static_cast<double>(snap.count), out);
  }
}

// A family whose samples come from a function called at scrape time.
class Registry::CollectorFamily final : public FamilyBase {
 public:
  CollectorFamily(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names, CollectFn collect)
      : FamilyBase(std::move(name), std::move(help), type,
                   std::move(label_names)),
        collect_(std::move(collect)) {}

  void AppendSamples(std::string* out) const override {
    for (const CollectedSample& sample : collect_()) {
      if (sample.label_values.size() != label_names().size()) continue;
      AppendSample(name(), label_names(), sample.label_values, sample.value,
                   out);
    }
  }

 private:
  const CollectFn collect_;
};

void Registry::Register(std::unique_ptr<FamilyBase> family) {
  const std::string& name = family->name();
  CheckOk(ValidateMetricName(name));
  if (family->type() == MetricType::kCounter &&
      !absl::EndsWith(name, "_total")) {
    Die(absl::StrCat("counter ", name,
                     " must be named with the suffix _total"));
  }
  for (const std::string& label : family->label_names()) {
    CheckOk(ValidateLabelName(label));
    if (family->type() == MetricType::kHistogram && label == "le") {
      Die(absl::StrCat("histogram ", name,
                       " uses the label \"le\", which histograms reserve "
                       "for bucket bounds; rename it"));
    }
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = families_.try_emplace(name);
  if (!inserted) {
    Die(absl::StrCat("metric ", name,
                     " is registered twice; register each name once"));
  }
  it->second = std::move(family);
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  auto family = std::make_unique<Family<Counter>>(
      std::move(name), std::move(help), MetricType::kCounter,
      std::move(label_names), [] { return std::make_unique<Counter>(); });
  Family<Counter>& ref = *family;
  Register(std::move(family));
  // A family without labels has exactly one series; show it at 0 from the
  // start, so rate() works from the first scrape.
  if (ref.label_names().empty()) ref.WithLabels({});
  return ref;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  auto family = std::make_unique<Family<Gauge>>(
      std::move(name), std::move(help), MetricType::kGauge,
      std::move(label_names), [] { return std::make_unique<Gauge>(); });
  Family<Gauge>& ref = *family;
  Register(std::move(family));
  if (ref.label_names().empty()) ref.WithLabels({});
  return ref;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  if (!upper_bounds.empty() && std::isinf(upper_bounds.back()) &&
      upper_bounds.back() > 0) {
    upper_bounds.pop_back();
  }
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) ||
        (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i]))) {
      Die(absl::StrCat("histogram ", name,
                       " needs finite, strictly ascending bucket bounds"));
    }
  }
  auto family = std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), MetricType::kHistogram,
      std::move(label_names),
      [upper_bounds] { return std::make_unique<Histogram>(upper_bounds); });
  Family<Histogram>& ref = *family;
  Register(std::move(family));
  if (ref.label_names().empty()) ref.WithLabels({});
  return ref;
}

void Registry::AddCounterCollector(std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   CollectFn collect) {
  Register(std::make_unique<CollectorFamily>(
      std::move(name), std::move(help), MetricType::kCounter,
      std::move(label_names), std::move(collect)));
}

void Registry::AddGaugeCollector(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 CollectFn collect) {
  Register(std::make_unique<CollectorFamily>(
      std::move(name), std::move(help), MetricType::kGauge,
      std::move(label_names), std::move(collect)));
}

std::string Registry::Serialize() const {
  std::vector<const FamilyBase*> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) {
      families.push_back(family.get());
    }
  }
  // Families are never removed, so the pointers outlive the lock.
  std::string out;
  for (const FamilyBase* family : families) {
    absl::StrAppend(&out, "# HELP ", family->name(), " ",
                    EscapeHelp(family->help()), "\n# TYPE ", family->name(),
                    " ", TypeName(family->type()), "\n");
    family->AppendSamples(&out);
  }
  return out;
}

}  // namespace condense::metrics
