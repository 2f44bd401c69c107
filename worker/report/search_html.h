// The search's part of report.html: every candidate (settings, bytes,
// validation accuracy, whether it met the goal), the size-accuracy front,
// and the per-tensor sensitivity curves. From report.json's form of a
// search stage record (docs/engine.md). Pure functions; thread-safe.
#ifndef CONDENSE_WORKER_REPORT_SEARCH_HTML_H_
#define CONDENSE_WORKER_REPORT_SEARCH_HTML_H_

#include <string>

#include "nlohmann/json.hpp"

namespace condense::report {

// The sections for the report's search stage; empty when it has none.
std::string SearchSections(const nlohmann::json& report);

}  // namespace condense::report

#endif  // CONDENSE_WORKER_REPORT_SEARCH_HTML_H_
