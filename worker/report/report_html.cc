#include "worker/report/report_html.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/html_escape.h"
#include "worker/report/json_field.h"
#include "worker/report/search_html.h"

namespace condense::report {

using base::HtmlEscape;
namespace {

using nlohmann::json;

// -- reading a report that may lack any field -----------------------------

using internal::Field;

double Num(const json& j, const char* key, double fallback = 0) {
  const json& v = Field(j, key);
  return v.is_number() ? v.get<double>() : fallback;
}

bool Has(const json& j, const char* key) { return Field(j, key).is_number(); }

std::string Str(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// -- formatting -----------------------------------------------------------

std::string Bytes(double b) {
  if (b >= 1 << 30) return absl::StrFormat("%.2f GiB", b / (1 << 30));
  if (b >= 1 << 20) return absl::StrFormat("%.2f MiB", b / (1 << 20));
  if (b >= 1 << 10) return absl::StrFormat("%.1f KiB", b / (1 << 10));
  return absl::StrFormat("%.0f B", b);
}

std::string Percent(double x) { return absl::StrFormat("%.2f%%", 100 * x); }

std::string Ratio(double r) { return absl::StrFormat("%.1f\xC3\x97", r); }

std::string Duration(double s) {
  if (s >= 3600) {
    return absl::StrFormat("%dh %02dm", static_cast<int>(s / 3600),
                           static_cast<int>(std::fmod(s, 3600) / 60));
  }
  if (s >= 60) {
    return absl::StrFormat("%dm %02ds", static_cast<int>(s / 60),
                           static_cast<int>(std::fmod(s, 60)));
  }
  if (s >= 10) return absl::StrFormat("%.1fs", s);
  return absl::StrFormat("%.2fs", s);
}

std::string Coord(double v) { return absl::StrFormat("%.1f", v); }

// -- SVG pieces -----------------------------------------------------------

struct Bar {
  std::string label;
  double value;
  std::string text;  // Printed after the bar.
};

// Horizontal bars scaled to the largest value.
std::string BarChart(const std::vector<Bar>& bars, const std::string& cls) {
  constexpr double kLabel = 230, kWidth = 700, kRow = 26, kText = 110;
  double max = 0;
  for (const Bar& b : bars) max = std::max(max, b.value);
  const double scale = max > 0 ? (kWidth - kLabel - kText) / max : 0;
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", kWidth,
      kRow * bars.size() + 4);
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = kRow * i + 4;
    const double w = std::max(1.0, bars[i].value * scale);
    absl::StrAppend(&svg, "<text x=\"", Coord(kLabel - 8), "\" y=\"",
                    Coord(y + 15), "\" text-anchor=\"end\">",
                    HtmlEscape(bars[i].label), "</text>", "<rect class=\"", cls,
                    "\" x=\"", Coord(kLabel), "\" y=\"", Coord(y + 2),
                    "\" width=\"", Coord(w), "\" height=\"18\"/>", "<text x=\"",
                    Coord(kLabel + w + 6), "\" y=\"", Coord(y + 15), "\">",
                    HtmlEscape(bars[i].text), "</text>");
  }
  return svg + "</svg>";
}

struct Segment {
  double value;
  const char* cls;
};

struct StackedBar {
  std::string label;
  std::vector<Segment> segments;
  std::string text;
};

std::string StackedChart(const std::vector<StackedBar>& bars) {
  constexpr double kLabel = 230, kWidth = 700, kRow = 24, kText = 90;
  double max = 0;
  for (const StackedBar& b : bars) {
    double total = 0;
    for (const Segment& s : b.segments) total += s.value;
    max = std::max(max, total);
  }
  const double scale = max > 0 ? (kWidth - kLabel - kText) / max : 0;
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", kWidth,
      kRow * bars.size() + 4);
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = kRow * i + 4;
    absl::StrAppend(&svg, "<text x=\"", Coord(kLabel - 8), "\" y=\"",
                    Coord(y + 14), "\" text-anchor=\"end\">",
                    HtmlEscape(bars[i].label), "</text>");
    double x = kLabel;
    for (const Segment& s : bars[i].segments) {
      if (s.value <= 0) continue;
      const double w = s.value * scale;
      absl::StrAppend(&svg, "<rect class=\"", s.cls, "\" x=\"", Coord(x),
                      "\" y=\"", Coord(y + 2), "\" width=\"", Coord(w),
                      "\" height=\"16\"/>");
      x += w;
    }
    absl::StrAppend(&svg, "<text x=\"", Coord(x + 6), "\" y=\"", Coord(y + 14),
                    "\">", HtmlEscape(bars[i].text), "</text>");
  }
  return svg + "</svg>";
}

// One histogram panel over [lo, hi], scaled to its own tallest bin, with
// optional vertical marks (the centroids).
std::string Histogram(const json& counts, double lo, double hi,
                      const std::string& title, const char* cls,
                      const std::vector<double>& marks) {
  constexpr double kW = 330, kH = 150, kTop = 20, kBottom = 128, kLeft = 6,
                   kRight = 324;
  std::string svg = absl::StrFormat(
      "<svg class=\"hist\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", kW, kH);
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft), "\" y=\"13\">",
                  HtmlEscape(title), "</text>");
  std::vector<double> c;
  if (counts.is_array()) {
    for (const json& v : counts)
      c.push_back(v.is_number() ? v.get<double>() : 0);
  }
  double max = 0;
  for (double v : c) max = std::max(max, v);
  if (!c.empty() && max > 0) {
    const double bw = (kRight - kLeft) / c.size();
    std::string path = absl::StrCat("M", Coord(kLeft), " ", Coord(kBottom));
    for (size_t i = 0; i < c.size(); ++i) {
      const double y = kBottom - (kBottom - kTop) * c[i] / max;
      absl::StrAppend(&path, " L", Coord(kLeft + bw * i), " ", Coord(y), " L",
                      Coord(kLeft + bw * (i + 1)), " ", Coord(y));
    }
    absl::StrAppend(&path, " L", Coord(kRight), " ", Coord(kBottom), " Z");
    absl::StrAppend(&svg, "<path class=\"", cls, "\" d=\"", path, "\"/>");
  } else {
    absl::StrAppend(&svg, "<text x=\"", Coord(kW / 2), "\" y=\"", Coord(kH / 2),
                    "\" text-anchor=\"middle\">no weights</text>");
  }
  if (hi > lo) {
    for (double m : marks) {
      const double x = kLeft + (kRight - kLeft) * (m - lo) / (hi - lo);
      if (x < kLeft || x > kRight) continue;
      absl::StrAppend(&svg, "<line class=\"centroid\" x1=\"", Coord(x),
                      "\" x2=\"", Coord(x), "\" y1=\"", Coord(kTop), "\" y2=\"",
                      Coord(kBottom), "\"/>");
    }
  }
  absl::StrAppend(&svg, "<line class=\"axis\" x1=\"", Coord(kLeft), "\" x2=\"",
                  Coord(kRight), "\" y1=\"", Coord(kBottom), "\" y2=\"",
                  Coord(kBottom), "\"/>", "<text x=\"", Coord(kLeft), "\" y=\"",
                  Coord(kH - 6), "\">", absl::StrFormat("%.3g", lo),
                  "</text><text x=\"", Coord(kRight), "\" y=\"", Coord(kH - 6),
                  "\" text-anchor=\"end\">", absl::StrFormat("%.3g", hi),
                  "</text>");
  if (lo < 0 && hi > 0) {
    const double x0 = kLeft + (kRight - kLeft) * (-lo) / (hi - lo);
    absl::StrAppend(&svg, "<text x=\"", Coord(x0), "\" y=\"", Coord(kH - 6),
                    "\" text-anchor=\"middle\">0</text>");
  }
  return svg + "</svg>";
}

// -- sections ---------------------------------------------------------------

std::string Card(const std::string& label, const std::string& value,
                 const std::string& detail) {
  return absl::StrCat("<div class=\"card\"><div class=\"label\">",
                      HtmlEscape(label), "</div><div class=\"value\">",
                      HtmlEscape(value), "</div><div class=\"detail\">",
                      HtmlEscape(detail), "</div></div>");
}

std::string Summary(const json& r) {
  const json& totals = Field(r, "totals");
  const json& accuracy = Field(r, "accuracy");
  std::string out = "<section class=\"cards\">";
  absl::StrAppend(
      &out,
      Card("Compression ratio", Ratio(Num(totals, "compression_ratio")),
           "counting every byte of model.cdz"),
      Card("Size",
           absl::StrCat(Bytes(Num(totals, "original_bytes")), " \xE2\x86\x92 ",
                        Bytes(Num(totals, "compressed_bytes"))),
           "float32 weights \xE2\x86\x92 .cdz file"));
  if (Has(accuracy, "baseline") && Has(accuracy, "final")) {
    const double delta = Num(accuracy, "final") - Num(accuracy, "baseline");
    absl::StrAppend(
        &out,
        Card("Top-1 accuracy",
             absl::StrCat(Percent(Num(accuracy, "baseline")), " \xE2\x86\x92 ",
                          Percent(Num(accuracy, "final"))),
             absl::StrFormat("%+.2f points on the evaluation data",
                             100 * delta)));
  } else {
    absl::StrAppend(&out, Card("Accuracy", "not measured",
                               "data-free run (no labelled data)"));
  }
  absl::StrAppend(
      &out,
      Card("Weights pruned", Percent(Num(totals, "sparsity")),
           "of the compressed layers' weights"),
      Card("Time", Duration(Num(r, "duration_seconds")),
           absl::StrCat("on ",
                        Str(r, "device").empty() ? "?" : Str(r, "device"))));
  return out + "</section>";
}

std::string Warnings(const json& r) {
  const json& warnings = Field(r, "warnings");
  if (!warnings.is_array() || warnings.empty()) return "";
  std::string out = "<section class=\"warnings\"><h2>Warnings</h2><ul>";
  for (const json& w : warnings) {
    if (w.is_string()) {
      absl::StrAppend(&out, "<li>", HtmlEscape(w.get<std::string>()), "</li>");
    }
  }
  return out + "</ul></section>";
}

std::string RatioByStage(const json& r) {
  const json& totals = Field(r, "totals");
  std::vector<Bar> bars;
  for (const auto& [label, key] :
       {std::pair{"Pruning", "ratio_pruned"},
        std::pair{"+ quantization", "ratio_pruned_quantized"},
        std::pair{"+ entropy coding", "ratio_pruned_quantized_huffman"}}) {
    if (!Has(totals, key)) continue;
    bars.push_back({label, Num(totals, key), Ratio(Num(totals, key))});
  }
  if (bars.empty()) return "";
  return absl::StrCat(
      "<section><h2>Compression after each step</h2><p class=\"note\">As in "
      "the Deep Compression paper: pruned (32-bit values with relative "
      "indices), then with shared-weight indices and codebooks, then the "
      "entropy-coded file (each tensor Huffman-coded, context-coded or "
      "fixed-width, whichever is smallest).</p>",
      BarChart(bars, "ratio"), "</section>");
}

std::string StageTable(const json& r) {
  const json& stages = Field(r, "stages");
  const json& accuracy = Field(r, "accuracy");
  if (!stages.is_array() || stages.empty()) return "";
  const bool has_accuracy = Has(accuracy, "baseline");
  const double baseline = Num(accuracy, "baseline");
  std::string out =
      "<section><h2>Stages</h2><table><thead><tr><th>#</th><th>stage</th>"
      "<th>top-1 accuracy</th><th>vs. dense</th><th>sparsity</th>"
      "<th>ratio (pruned)</th><th>ratio (+quantized)</th><th>time</th></tr>"
      "</thead><tbody>";
  if (has_accuracy) {
    absl::StrAppend(&out, "<tr><td></td><td>dense model</td><td>",
                    Percent(baseline),
                    "</td><td></td><td>0%</td><td>1.0\xC3\x97</td>"
                    "<td>1.0\xC3\x97</td><td></td></tr>");
  }
  std::vector<Bar> durations;
  for (const json& s : stages) {
    const json& acc = Field(s, "accuracy");
    const bool known = Num(acc, "top1", -1) >= 0;
    const double top1 = Num(acc, "top1");
    const double delta = 100 * (top1 - baseline);
    const std::string name = Str(s, "stage");
    absl::StrAppend(
        &out, "<tr><td>", static_cast<int>(Num(s, "index")), "</td><td>",
        HtmlEscape(name), "</td><td>", known ? Percent(top1) : "\xE2\x80\x94",
        "</td><td class=\"", delta < -0.5 ? "worse" : "same", "\">",
        known && has_accuracy ? absl::StrFormat("%+.2f", delta) : "",
        "</td><td>", Percent(Num(s, "sparsity")), "</td><td>",
        Ratio(Num(s, "ratio_pruned")), "</td><td>",
        Ratio(Num(s, "ratio_pruned_quantized")), "</td><td>",
        Duration(Num(s, "duration_seconds")), "</td></tr>");
    durations.push_back(
        {absl::StrCat(static_cast<int>(Num(s, "index")), " ", name),
         Num(s, "duration_seconds"), Duration(Num(s, "duration_seconds"))});
  }
  absl::StrAppend(&out, "</tbody></table>");
  if (Has(r, "encode_seconds")) {
    durations.push_back({"encode + verify", Num(r, "encode_seconds"),
                         Duration(Num(r, "encode_seconds"))});
  }
  absl::StrAppend(&out, "<h3>Time per stage</h3>", BarChart(durations, "time"),
                  "</section>");
  return out;
}

std::string BitsPerWeight(const json& r) {
  const json& tensors = Field(r, "tensors");
  if (!tensors.is_array() || tensors.empty()) return "";
  std::vector<StackedBar> bars;
  for (const json& t : tensors) {
    const double n = std::max(1.0, Num(t, "numel"));
    const double index = 8 * Num(t, "index_bytes") / n;
    const double gap = 8 * Num(t, "position_bytes") / n;
    const double book = 8 *
                        (Num(t, "codebook_bytes") + Num(t, "table_bytes") +
                         Num(t, "overhead_bytes")) /
                        n;
    const double raw = 8 * Num(t, "raw_bytes") / n;
    bars.push_back(
        {Str(t, "name"),
         {{index, "index"}, {gap, "gap"}, {book, "book"}, {raw, "raw"}},
         absl::StrFormat("%.2f bits", index + gap + book + raw)});
  }
  return absl::StrCat(
      "<section><h2>Bits per weight by layer</h2><p class=\"note\">Bytes of "
      "each part over the tensor's weights (float32 is 32 bits). "
      "<span class=\"key index\"></span>cluster indices "
      "<span class=\"key gap\"></span>relative-index gaps "
      "<span class=\"key book\"></span>codebook, Huffman tables and headers "
      "<span class=\"key raw\"></span>stored raw</p>",
      StackedChart(bars), "</section>");
}

// The pruned weights' histogram: after the last prune or DSD stage (before
// quantization moves the weights onto the centroids).
const json* PrunedHistograms(const json& r) {
  const json* found = nullptr;
  const json& stages = Field(r, "stages");
  if (!stages.is_array()) return nullptr;
  for (const json& s : stages) {
    const std::string kind = Str(s, "stage");
    if ((kind == "prune" || kind == "dsd") &&
        Field(s, "weight_histograms").is_object()) {
      found = &Field(s, "weight_histograms");
    }
  }
  return found;
}

std::string Histograms(const json& r) {
  const json& layers = Field(Field(r, "weights"), "layers");
  if (!layers.is_array() || layers.empty()) return "";
  const json* pruned = PrunedHistograms(r);
  std::string out =
      "<section><h2>Weight distributions</h2><p class=\"note\">Per layer: "
      "the dense weights, then the weights that survive pruning (zeros left "
      "out), with the learned shared weights (centroids) marked in red. Each "
      "panel is scaled to its own tallest bin.</p>";
  for (const json& l : layers) {
    const std::string name = Str(l, "name");
    const double lo = Num(l, "min"), hi = Num(l, "max");
    std::vector<double> centroids;
    for (const json& c : Field(l, "centroids")) {
      if (c.is_number()) centroids.push_back(c.get<double>());
    }
    absl::StrAppend(
        &out, "<div class=\"layer\"><h3>", HtmlEscape(name),
        "</h3><div class=\"panels\">",
        Histogram(Field(l, "dense"), lo, hi, "before pruning", "dense", {}));
    const json* after =
        pruned != nullptr ? &Field(*pruned, name.c_str()) : &Field(l, "final");
    absl::StrAppend(
        &out,
        Histogram(*after, lo, hi,
                  absl::StrCat(
                      pruned != nullptr ? "after pruning" : "final (nonzero)",
                      centroids.empty()
                          ? ""
                          : absl::StrCat(", ", centroids.size(), " centroids")),
                  "pruned", centroids),
        "</div></div>");
  }
  return out + "</section>";
}

std::string TensorTable(const json& r) {
  const json& tensors = Field(r, "tensors");
  if (!tensors.is_array() || tensors.empty()) return "";
  std::string out =
      "<section class=\"details\"><h2>Tensors</h2><table><thead><tr>"
      "<th>tensor</th><th>role</th><th>encoding</th><th>weights</th>"
      "<th>density</th><th>index bits</th><th>gap bits</th>"
      "<th>bits / nonzero</th><th>original</th><th>stored</th><th>ratio</th>"
      "</tr></thead><tbody>";
  for (const json& t : tensors) {
    const bool compressed = Str(t, "encoding") != "raw";
    // Why a tensor is raw shows on its encoding, as a tooltip.
    const std::string reason = Str(t, "raw_reason");
    absl::StrAppend(
        &out, "<tr><td>", HtmlEscape(Str(t, "name")), "</td><td>",
        HtmlEscape(Str(t, "role")), "</td><td",
        reason.empty() ? ""
                       : absl::StrCat(" title=\"", HtmlEscape(reason), "\""),
        ">", compressed ? "sparse quantized" : "raw", "</td><td>",
        absl::StrFormat("%.0f", Num(t, "numel")), "</td><td>",
        Percent(Num(t, "density")), "</td><td>",
        compressed ? absl::StrCat(static_cast<int>(Num(t, "bits"))) : "",
        "</td><td>",
        compressed ? absl::StrCat(static_cast<int>(Num(t, "gap_bits"))) : "",
        "</td><td>", absl::StrFormat("%.2f", Num(t, "bits_per_nonzero")),
        "</td><td>", Bytes(Num(t, "original_bytes")), "</td><td>",
        Bytes(Num(t, "total_bytes")), "</td><td>", Ratio(Num(t, "ratio")),
        "</td></tr>");
  }
  return out + "</tbody></table></section>";
}

std::string Footer(const json& r) {
  const json& model = Field(r, "model");
  const json& data = Field(r, "data");
  const json& versions = Field(r, "versions");
  std::string out = "<footer><dl>";
  auto row = [&out](const char* k, const std::string& v) {
    if (!v.empty()) {
      absl::StrAppend(&out, "<dt>", k, "</dt><dd>", HtmlEscape(v), "</dd>");
    }
  };
  row("model sha256", Str(model, "sha256"));
  row("parameters", Has(model, "parameters")
                        ? absl::StrFormat("%.0f", Num(model, "parameters"))
                        : "");
  if (data.is_object()) {
    row("data",
        absl::StrFormat("%.0f training, %.0f evaluation samples",
                        Num(data, "train_samples"), Num(data, "eval_samples")));
  }
  row("seed", Has(r, "seed") ? absl::StrFormat("%.0f", Num(r, "seed")) : "");
  row("threads",
      Has(r, "threads") ? absl::StrFormat("%.0f", Num(r, "threads")) : "");
  row("engine", Str(versions, "condense"));
  const json& spec = Field(r, "spec");
  row("spec", spec.is_object() ? spec.dump() : "");
  return out + "</dl></footer>";
}

constexpr char kStyle[] = R"css(
:root{--ink:#1d2433;--muted:#5b6475;--line:#d8dde6;--blue:#2f6fd6;
--grey:#9aa3b2;--red:#d33a2f;--green:#2e8b57;--amber:#d99a1e}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);margin:0 auto;max-width:1080px;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:14px;
margin:12px 0 4px;font-family:ui-monospace,monospace;font-weight:600}
.sub{color:var(--muted);margin:0}.note{color:var(--muted);font-size:13px;
margin:4px 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));
gap:12px;margin-top:18px}.card{border:1px solid var(--line);border-radius:8px;
padding:12px}.card .label{color:var(--muted);font-size:13px}
.card .value{font-size:22px;font-weight:650;margin:2px 0}
.card .detail{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:right;padding:4px 8px;border-bottom:1px solid var(--line)}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
td.worse{color:var(--red)}
svg{width:100%;height:auto;font-size:12px;fill:var(--ink)}
.chart{max-width:700px}.ratio{fill:var(--blue)}.time{fill:var(--amber)}
.index{fill:var(--blue)}.gap{fill:var(--green)}.book{fill:var(--amber)}
.raw{fill:var(--grey)}
.key{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.key.index{background:var(--blue)}.key.gap{background:var(--green)}
.key.book{background:var(--amber)}.key.raw{background:var(--grey)}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));
gap:12px}.hist{max-width:480px;font-size:10px}.dense{fill:var(--grey)}
.pruned{fill:var(--blue)}
.centroid{stroke:var(--red);stroke-width:1;opacity:.8}
.axis{stroke:var(--muted)}
.warnings{border:1px solid #e7b4ae;background:#fdf0ee;border-radius:8px;
padding:4px 16px;margin-top:16px}.warnings h2{border:0;color:#a1271e}
footer{margin-top:28px;font-size:12px;color:var(--muted)}
footer dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}
footer dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,monospace}
@media print{body{max-width:none;padding:0;font-size:11pt}
section,.layer,tr,.card{break-inside:avoid}h2{break-after:avoid}}
)css";

}  // namespace

std::string RenderReportHtml(const json& report) {
  const json& model = Field(report, "model");
  std::string path = Str(model, "path");
  const std::string title = path.substr(path.find_last_of('/') + 1);
  const std::string preset = Str(report, "preset");
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>condense report: ",
      HtmlEscape(title), "</title><style>", kStyle,
      "</style></head><body><header><h1>", HtmlEscape(title),
      " compressed</h1><p class=\"sub\">preset ",
      HtmlEscape(preset.empty() ? "custom" : preset), " \xC2\xB7 ",
      HtmlEscape(Str(Field(report, "versions"), "condense")), "</p></header>");
  absl::StrAppend(&out, Summary(report), Warnings(report), RatioByStage(report),
                  StageTable(report), SearchSections(report),
                  BitsPerWeight(report), Histograms(report),
                  TensorTable(report), Footer(report), "</body></html>\n");
  return out;
}

}  // namespace condense::report
