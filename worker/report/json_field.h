// Reading a run report that may lack any field: the HTML pages are built
// from report.json files of any age and must not throw on one of the wrong
// shape.
#ifndef CONDENSE_WORKER_REPORT_JSON_FIELD_H_
#define CONDENSE_WORKER_REPORT_JSON_FIELD_H_

#include "nlohmann/json.hpp"

namespace condense::report::internal {

// j[key], or null when j is not an object or has no such key.
inline const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  // Never destroyed: a page may be rendered while the process exits.
  static const nlohmann::json* const kNull = new nlohmann::json();
  if (!j.is_object()) return *kNull;
  auto it = j.find(key);
  return it == j.end() ? *kNull : *it;
}

}  // namespace condense::report::internal

#endif  // CONDENSE_WORKER_REPORT_JSON_FIELD_H_
