// Prints a registry holding every kind of metric the library can emit
// (labels that need escaping, histograms, collectors, special values), for
// `promtool check metrics` to lint (CTest: metrics_promtool_check).
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "server/metrics/registry.h"

int main() {
  using condense::metrics::CollectedSample;
  using condense::metrics::Registry;
  Registry registry;
  auto& uploads = registry.AddCounter(
      "condense_uploaded_bytes_total",
      "Bytes uploaded; help with a \\ backslash\nand a newline.", {"tenant"});
  uploads.WithLabels({"acme"}).Add(1048576);
  uploads.WithLabels({"quote\"back\\slash\nnewline"}).Add(0.5);

  auto& workers =
      registry.AddGauge("condense_workers", "Workers connected.", {"kind"});
  workers.WithLabels({"gpu"}).Set(2);
  workers.WithLabels({"cpu"}).Set(-1.25e-7);
  workers.WithLabels({"inf"}).Set(std::numeric_limits<double>::infinity());
  workers.WithLabels({"nan"}).Set(std::numeric_limits<double>::quiet_NaN());

  auto& durations =
      registry.AddHistogram("condense_job_duration_seconds", "Job durations.",
                            {"preset"}, condense::metrics::DefaultBuckets());
  for (double v : {0.001, 0.3, 2.0, 7.0, 60.0}) {
    durations.WithLabels({"deep-compression"}).Observe(v);
  }
  registry
      .AddHistogram("condense_blob_size_bytes", "Blob sizes.", {},
                    condense::metrics::ExponentialBuckets(1024, 4, 8))
      .WithLabels({})
      .Observe(5000);

  registry.AddGaugeCollector("condense_jobs", "Jobs by state.", {"state"}, [] {
    return std::vector<CollectedSample>{{{"QUEUED"}, 3}, {{"RUNNING"}, 1}};
  });
  registry.AddCounterCollector("condense_jobs_finished_total", "Jobs finished.",
                               {}, [] {
                                 return std::vector<CollectedSample>{{{}, 17}};
                               });
  const std::string text = registry.Serialize();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
