// Helpers for the Prometheus text exposition format, version 0.0.4: name
// validation, escaping and number formatting. Internal to condense_metrics
// (registry.cc uses them; tests check them directly). All functions are pure
// and thread-safe.
#ifndef CONDENSE_SERVER_METRICS_TEXT_FORMAT_H_
#define CONDENSE_SERVER_METRICS_TEXT_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace condense::metrics {

// OK if `name` matches [a-zA-Z_][a-zA-Z0-9_]*. Colons are legal in the format
// but reserved for recording rules, so they are refused here.
absl::Status ValidateMetricName(absl::string_view name);

// OK if `name` matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__"
// (reserved for Prometheus itself).
absl::Status ValidateLabelName(absl::string_view name);

// Escapes backslash and newline, as `# HELP` lines require.
std::string EscapeHelp(absl::string_view help);

// Escapes backslash, double quote and newline, as label values require.
std::string EscapeLabelValue(absl::string_view value);

// Formats a sample value or an `le` bound: shortest round-trip form,
// independent of the locale, and "+Inf", "-Inf", "NaN" for the special values.
std::string FormatDouble(double value);

// Appends `{n1="v1",n2="v2"}` (nothing when there are no labels), plus an
// extra label when `extra_name` is not empty (used for histogram `le`).
// `names` and `values` must have the same size.
void AppendLabels(const std::vector<std::string>& names,
                  const std::vector<std::string>& values,
                  absl::string_view extra_name, absl::string_view extra_value,
                  std::string* out);

}  // namespace condense::metrics

#endif  // CONDENSE_SERVER_METRICS_TEXT_FORMAT_H_
