#include "server/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace condense::metrics {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

absl::Status ValidateName(absl::string_view kind, absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " name is empty; use [a-zA-Z_][a-zA-Z0-9_]*"));
  }
  bool ok = IsNameStart(name[0]);
  for (char c : name) ok = ok && IsNameChar(c);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind, " name \"", name, "\" is invalid; use [a-zA-Z_][a-zA-Z0-9_]*"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMetricName(absl::string_view name) {
  return ValidateName("metric", name);
}

absl::Status ValidateLabelName(absl::string_view name) {
  absl::Status status = ValidateName("label", name);
  if (!status.ok()) return status;
  if (name.substr(0, 2) == "__") {
    return absl::InvalidArgumentError(
        absl::StrCat("label name \"", name,
                     "\" starts with \"__\", which Prometheus reserves; "
                     "rename it"));
  }
  return absl::OkStatus();
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // std::to_chars ignores the locale and gives the shortest form that
  // round-trips, like Go's strconv.FormatFloat(v, 'g', -1, 64).
  char buf[64];
  std::to_chars_result result = std::to_chars(buf, buf + sizeof(buf), value);
  if (result.ec != std::errc()) return "NaN";  // Cannot happen with 64 bytes.
  return std::string(buf, result.ptr);
}

void AppendLabels(const std::vector<std::string>& names,
                  const std::vector<std::string>& values,
                  absl::string_view extra_name, absl::string_view extra_value,
                  std::string* out) {
  if (names.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    absl::StrAppend(out, extra_name, "=\"", EscapeLabelValue(extra_value),
                    "\"");
  }
  out->push_back('}');
}

}  // namespace condense::metrics
