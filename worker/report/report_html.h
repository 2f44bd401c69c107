// Renders a job's report.json (docs/engine.md) as report.html: one
// self-contained page (inline CSS and SVG, no scripts, no network) with the
// compression ratio after each stage, accuracy per stage, bits per weight by
// layer, weight histograms before and after pruning with the learned
// centroids marked, and timings. Readable on a laptop screen and in print.
//
// No LibTorch: the engine writes the page next to report.json, and anything
// holding a report (the server, tools) can render it again. Thread-safe (a
// pure function).
#ifndef CONDENSE_WORKER_REPORT_REPORT_HTML_H_
#define CONDENSE_WORKER_REPORT_REPORT_HTML_H_

#include <string>

#include "nlohmann/json.hpp"

namespace condense::report {

// The page for `report`. Fields it lacks (a data-free run has no accuracy,
// an older report no histograms) leave their section out or say so; it never
// fails. Every string from the report is HTML-escaped.
std::string RenderReportHtml(const nlohmann::json& report);

}  // namespace condense::report

#endif  // CONDENSE_WORKER_REPORT_REPORT_HTML_H_
