#include "client/labels.h"

#include "absl/strings/str_cat.h"

namespace condense::client {

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& assignments) {
  std::map<std::string, std::string> labels;
  for (const std::string& a : assignments) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--label wants KEY=VALUE (e.g. --label team=vision), got '", a, "'"));
    }
    std::string key = a.substr(0, eq);
    if (!labels.emplace(key, a.substr(eq + 1)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("label '", key, "' is given twice; give each key once"));
    }
  }
  return labels;
}

}  // namespace condense::client
