#include "worker/report/search_html.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/html_escape.h"
#include "worker/report/json_field.h"

namespace condense::report {
namespace {

using nlohmann::json;

constexpr double kW = 640, kH = 280, kLeft = 52, kRight = 12, kTop = 12,
                 kBottom = 36;
constexpr const char* kColors[] = {"#2f6fd6", "#d33a2f", "#2e8b57", "#d99a1e",
                                   "#7b4fc9", "#1d9bb2", "#8a6d3b", "#c2417f"};

std::string F(double v) { return absl::StrFormat("%.1f", v); }

using internal::Field;

double Get(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_number() ? v.get<double>() : 0;
}

int Int(const json& j, const char* key, int fallback = 0) {
  const json& v = Field(j, key);
  return v.is_number_integer() ? v.get<int>() : fallback;
}

std::string Text(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

const json& Array(const json& j, const char* key) {
  static const json* const kEmpty = new json(json::array());
  const json& v = Field(j, key);
  return v.is_array() ? v : *kEmpty;
}

// A curve's [x, y] points that are numbers.
std::vector<std::pair<double, double>> Points(const json& curve,
                                              const char* axis) {
  std::vector<std::pair<double, double>> out;
  for (const json& p : Array(curve, axis)) {
    if (p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number()) {
      out.emplace_back(p[0].get<double>(), p[1].get<double>());
    }
  }
  return out;
}

// A plot frame over [x0, x1] x [y0, y1] with ticks; `x` maps data to pixels.
struct Frame {
  double x0, x1, y0, y1;
  bool log_x = false;
  double X(double v) const {
    const double a = log_x ? std::log10(std::max(v, 1e-12)) : v;
    const double lo = log_x ? std::log10(x0) : x0;
    const double hi = log_x ? std::log10(x1) : x1;
    return kLeft + (a - lo) / std::max(hi - lo, 1e-12) * (kW - kLeft - kRight);
  }
  double Y(double v) const {
    return kH - kBottom -
           (v - y0) / std::max(y1 - y0, 1e-12) * (kH - kTop - kBottom);
  }
};

std::string Axes(const Frame& f, const std::string& x_label,
                 const std::vector<double>& x_ticks, int x_decimals) {
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", kW, kH);
  absl::StrAppend(&svg, "<line class=\"axis\" x1=\"", F(kLeft), "\" x2=\"",
                  F(kW - kRight), "\" y1=\"", F(kH - kBottom), "\" y2=\"",
                  F(kH - kBottom), "\"/>");
  for (int i = 0; i <= 4; ++i) {
    const double v = f.y0 + (f.y1 - f.y0) * i / 4;
    absl::StrAppend(&svg, "<text x=\"", F(kLeft - 6), "\" y=\"", F(f.Y(v) + 4),
                    "\" text-anchor=\"end\">",
                    absl::StrFormat("%.1f%%", 100 * v), "</text>");
  }
  for (double t : x_ticks) {
    absl::StrAppend(&svg, "<text x=\"", F(f.X(t)), "\" y=\"", F(kH - 18),
                    "\" text-anchor=\"middle\">",
                    absl::StrFormat("%.*f", x_decimals, t), "</text>");
  }
  absl::StrAppend(&svg, "<text x=\"", F((kW + kLeft) / 2), "\" y=\"", F(kH - 3),
                  "\" text-anchor=\"middle\">", base::HtmlEscape(x_label),
                  "</text>");
  return svg;
}

std::string Legend(const json& curves) {
  std::string out = "<p class=\"note\">";
  for (size_t i = 0; i < curves.size(); ++i) {
    absl::StrAppend(&out, "<span class=\"key\" style=\"background:",
                    kColors[i % std::size(kColors)], "\"></span>",
                    base::HtmlEscape(Text(curves[i], "name")));
  }
  return out + "</p>";
}

// Top-1 against one knob, a line per tensor.
std::string Curves(const json& curves, const char* axis,
                   const std::string& x_label, double x0, double x1,
                   const std::vector<double>& ticks, int decimals) {
  double lo = 1, hi = 0;
  for (const json& c : curves) {
    for (const auto& [x, y] : Points(c, axis)) {
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
  }
  if (lo > hi) return "";
  const Frame f{x0, x1, std::max(0.0, lo - 0.01), std::min(1.0, hi + 0.01)};
  std::string svg = Axes(f, x_label, ticks, decimals);
  for (size_t i = 0; i < curves.size(); ++i) {
    std::string path;
    for (const auto& [x, y] : Points(curves[i], axis)) {
      absl::StrAppend(&path, path.empty() ? "M" : "L", F(f.X(x)), ",",
                      F(f.Y(y)));
    }
    absl::StrAppend(&svg, "<path fill=\"none\" stroke-width=\"2\" stroke=\"",
                    kColors[i % std::size(kColors)], "\" d=\"", path, "\"/>");
  }
  return svg + "</svg>";
}

// Validation top-1 against the file's bytes, one dot per candidate.
std::string Front(const json& search) {
  const json& cands = Array(search, "candidates");
  if (cands.empty()) return "";
  double bmin = 1e300, bmax = 0, lo = 1, hi = 0;
  for (const json& c : cands) {
    bmin = std::min(bmin, Get(c, "bytes"));
    bmax = std::max(bmax, Get(c, "bytes"));
    lo = std::min(lo, Get(c, "validation_top1"));
    hi = std::max(hi, Get(c, "validation_top1"));
  }
  const double base = Get(search, "validation_baseline");
  lo = std::min(lo, base);
  hi = std::max(hi, base);
  const Frame f{bmin / 1.2, bmax * 1.2, std::max(0.0, lo - 0.005),
                std::min(1.0, hi + 0.005), true};
  std::vector<double> ticks;
  for (double t = std::pow(10, std::floor(std::log10(f.x0))); t <= f.x1;
       t *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (t * m >= f.x0 && t * m <= f.x1) ticks.push_back(t * m);
    }
  }
  std::string svg = Axes(f, "bytes of the .cdz (log scale)", ticks, 0);
  absl::StrAppend(&svg, "<line stroke=\"#9aa3b2\" stroke-dasharray=\"4 3\" ",
                  "x1=\"", F(kLeft), "\" x2=\"", F(kW - kRight), "\" y1=\"",
                  F(f.Y(base)), "\" y2=\"", F(f.Y(base)), "\"/>");
  const int chosen = Int(search, "chosen", -1);
  for (const json& c : cands) {
    const bool meets = Field(c, "meets") == true;
    const bool is_chosen = Int(c, "index", -2) == chosen;
    absl::StrAppend(
        &svg, "<circle cx=\"", F(f.X(Get(c, "bytes"))), "\" cy=\"",
        F(f.Y(Get(c, "validation_top1"))), "\" r=\"", is_chosen ? "7" : "5",
        "\" fill=\"", meets ? "#2e8b57" : "#d33a2f", "\"",
        is_chosen ? " stroke=\"#1d2433\" stroke-width=\"2\"" : "", "><title>",
        absl::StrFormat("candidate %d: %.0f bytes, %.2f%%", Int(c, "index"),
                        Get(c, "bytes"), 100 * Get(c, "validation_top1")),
        "</title></circle>");
  }
  return svg + "</svg>";
}

std::string Settings(const json& c) {
  std::string out;
  for (const json& t : Array(c, "tensors")) {
    absl::StrAppend(&out, out.empty() ? "" : ", ",
                    base::HtmlEscape(Text(t, "name")),
                    absl::StrFormat(" %.0f%%/%db", 100 * Get(t, "sparsity"),
                                    Int(t, "bits")));
  }
  return out;
}

std::string Candidates(const json& search) {
  const int chosen = Int(search, "chosen", -1);
  std::string out =
      "<table><thead><tr><th>#</th><th>tensors (sparsity / bits)</th>"
      "<th>bytes</th><th>ratio</th><th>validation top-1</th>"
      "<th>drop (points)</th><th>goal</th><th>epochs</th></tr></thead><tbody>";
  for (const json& c : Array(search, "candidates")) {
    const bool is_chosen = Int(c, "index", -2) == chosen;
    absl::StrAppend(
        &out, is_chosen ? "<tr style=\"font-weight:650\">" : "<tr>", "<td>",
        Int(c, "index"), is_chosen ? " (chosen)" : "",
        Field(c, "recipe") == true ? " (recipe)" : "", "</td><td>", Settings(c),
        "</td><td>", absl::StrFormat("%.0f", Get(c, "bytes")), "</td><td>",
        absl::StrFormat("%.1f\xC3\x97", Get(c, "ratio")), "</td><td>",
        absl::StrFormat("%.2f%%", 100 * Get(c, "validation_top1")), "</td><td>",
        absl::StrFormat("%.2f \xC2\xB1 %.2f", 100 * Get(c, "drop"),
                        100 * Get(c, "margin")),
        "</td><td",
        Field(c, "meets") == true ? ">met" : " class=\"worse\">missed",
        "</td><td>", Int(c, "epochs"), "</td></tr>");
  }
  return out + "</tbody></table>";
}

}  // namespace

std::string SearchSections(const json& report) {
  const json* search = nullptr;
  for (const json& s : Array(report, "stages")) {
    if (Field(s, "search").is_object()) search = &Field(s, "search");
  }
  if (search == nullptr) return "";
  const json& curves = Array(*search, "sensitivity");
  std::string out = absl::StrCat(
      "<section><h2>Search for ", base::HtmlEscape(Text(*search, "goal")),
      "</h2>",
      "<p class=\"note\">Every candidate, pruned with retraining and quantized "
      "with training, measured on ",
      absl::StrFormat("%.0f", Get(*search, "validation_samples")),
      " validation samples held out of the training data (the dense model: ",
      absl::StrFormat("%.2f%%", 100 * Get(*search, "validation_baseline")),
      "; drops are against ",
      absl::StrFormat("%.2f%%", 100 * Get(*search, "validation_reference")),
      ", the lower of it and the dense model retrained without those "
      "samples); the drop's \xC2\xB1 is its paired standard error, counted "
      "against the goal. Stopped: ",
      base::HtmlEscape(Text(*search, "stopped")), ".</p>", Candidates(*search),
      "<h3>Size and accuracy of every candidate</h3><p class=\"note\">Green "
      "met the goal, red missed it; the ringed dot is the result; the dashed "
      "line is the dense model.</p>",
      Front(*search), "</section>");
  if (!curves.empty()) {
    absl::StrAppend(
        &out,
        "<section><h2>Sensitivity</h2><p class=\"note\">Each tensor alone, "
        "without retraining, on a validation subsample (Han et al. 2015, Fig. "
        "5 and 6): top-1 against the fraction pruned and against codebook "
        "bits.</p>",
        Legend(curves),
        Curves(curves, "sparsity", "fraction of the tensor pruned", 0, 1,
               {0, 0.25, 0.5, 0.75, 1}, 2),
        Curves(curves, "bits", "codebook bits", 1.5, 8.5, {2, 3, 4, 5, 6, 8},
               0),
        "</section>");
  }
  return out;
}

}  // namespace condense::report
