#include "worker/report/report_html.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace condense::report {
namespace {

using nlohmann::json;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

// A report shaped like the engine's (docs/engine.md), two layers.
json SampleReport() {
  json dense = json::array(), pruned = json::array();
  for (int i = 0; i < 64; ++i) {
    dense.push_back(100 - std::abs(32 - i) * 3);
    pruned.push_back(std::abs(32 - i) < 6 ? 0 : 40);
  }
  return {
      {"schema_version", 1},
      {"model",
       {{"path", "/data/<lenet>.pt"},
        {"sha256", "ab12"},
        {"parameters", 266610}}},
      {"data", {{"train_samples", 2000}, {"eval_samples", 500}}},
      {"preset", "deep-compression"},
      {"device", "cpu"},
      {"versions", {{"condense", "condense-engine 0.1.0"}}},
      {"duration_seconds", 125.5},
      {"encode_seconds", 0.25},
      {"accuracy", {{"baseline", 0.8912}, {"final", 0.8890}}},
      {"totals",
       {{"original_bytes", 1066440},
        {"compressed_bytes", 21764},
        {"compression_ratio", 49.0},
        {"ratio_pruned", 6.1},
        {"ratio_pruned_quantized", 31.7},
        {"ratio_pruned_quantized_huffman", 49.0},
        {"sparsity", 0.921}}},
      {"stages",
       {{{"stage", "prune"},
         {"index", 0},
         {"accuracy", {{"top1", 0.8871}}},
         {"sparsity", 0.921},
         {"ratio_pruned", 6.1},
         {"ratio_pruned_quantized", 6.1},
         {"duration_seconds", 80},
         {"weight_histograms",
          {{"fc1.weight", pruned}, {"fc2.weight", pruned}}}},
        {{"stage", "quantize"},
         {"index", 1},
         {"accuracy", {{"top1", 0.8890}}},
         {"sparsity", 0.921},
         {"ratio_pruned", 6.1},
         {"ratio_pruned_quantized", 31.7},
         {"duration_seconds", 40}}}},
      {"tensors",
       {{{"name", "fc1.weight"},
         {"encoding", "sparse_quantized"},
         {"numel", 235200},
         {"density", 0.08},
         {"bits", 5},
         {"gap_bits", 5},
         {"index_bytes", 8000},
         {"position_bytes", 9000},
         {"codebook_bytes", 128},
         {"table_bytes", 40},
         {"overhead_bytes", 60},
         {"raw_bytes", 0},
         {"original_bytes", 940800},
         {"total_bytes", 17228},
         {"bits_per_nonzero", 7.3},
         {"ratio", 54.6}},
        {{"name", "fc1.bias"},
         {"role", "bias"},
         {"raw_reason", "biases are few and sensitive: stored raw"},
         {"encoding", "raw"},
         {"numel", 300},
         {"density", 1.0},
         {"raw_bytes", 1200},
         {"original_bytes", 1200},
         {"total_bytes", 1230},
         {"bits_per_nonzero", 32.8},
         {"ratio", 0.98}}}},
      {"weights",
       {{"bins", 64},
        {"layers",
         {{{"name", "fc1.weight"},
           {"min", -0.4},
           {"max", 0.5},
           {"dense", dense},
           {"final", pruned},
           {"centroids", {-0.3, -0.1, 0.12, 0.35, 0.49}}},
          {{"name", "fc2.weight"},
           {"min", -0.2},
           {"max", 0.2},
           {"dense", dense},
           {"final", pruned}}}}}},
  };
}

TEST(ReportHtml, ShowsTheKeyNumbersAndEverySection) {
  const std::string html = RenderReportHtml(SampleReport());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("49.0\xC3\x97"), std::string::npos);  // The ratio.
  EXPECT_NE(html.find("89.12% \xE2\x86\x92 88.90%"), std::string::npos);
  EXPECT_NE(html.find("-0.22 points"), std::string::npos);
  EXPECT_NE(html.find("1.02 MiB \xE2\x86\x92 21.3 KiB"), std::string::npos);
  for (const char* heading :
       {"Compression after each step", "Stages", "Bits per weight by layer",
        "Weight distributions", "Tensors"}) {
    EXPECT_NE(html.find(heading), std::string::npos) << heading;
  }
  // The paper's three columns, one bar each.
  EXPECT_NE(html.find("+ entropy coding"), std::string::npos);
  EXPECT_EQ(Count(html, "class=\"ratio\""), 3);
  // Two layers, two panels each; five centroids marked on the first.
  EXPECT_EQ(Count(html, "class=\"hist\""), 4);
  EXPECT_EQ(Count(html, "class=\"centroid\""), 5);
  EXPECT_NE(html.find("after pruning, 5 centroids"), std::string::npos);
  // Bits per weight: 8 * (8000 + 9000 + 228) / 235200 = 0.59 in all.
  EXPECT_NE(html.find("0.59 bits"), std::string::npos);
  EXPECT_NE(html.find("32.00 bits"), std::string::npos);  // The raw bias.
}

TEST(ReportHtml, ShowsRolesAndWhyATensorIsRaw) {
  const std::string html = RenderReportHtml(SampleReport());
  EXPECT_NE(html.find("<td>bias</td>"), std::string::npos);
  EXPECT_NE(html.find("title=\"biases are few and sensitive: stored raw\""),
            std::string::npos);
}

TEST(ReportHtml, ShowsWarningsFirst) {
  json r = SampleReport();
  EXPECT_EQ(RenderReportHtml(r).find("Warnings"), std::string::npos);
  r["warnings"] = {"layer fc2.weight was pruned <entirely>"};
  const std::string html = RenderReportHtml(r);
  const size_t at = html.find("<h2>Warnings</h2>");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(at, html.find("Compression after each step"));
  EXPECT_NE(html.find("pruned &lt;entirely&gt;"), std::string::npos);
}

TEST(ReportHtml, IsSelfContained) {
  const std::string html = RenderReportHtml(SampleReport());
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(Count(html, "<svg"), Count(html, "</svg>"));
  EXPECT_NE(html.find("@media print"), std::string::npos);
}

TEST(ReportHtml, EscapesEveryStringFromTheReport) {
  json r = SampleReport();
  r["tensors"][0]["name"] = "<script>alert(1)</script>";
  r["weights"]["layers"][0]["name"] = "a\"b'c&d";
  const std::string html = RenderReportHtml(r);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("a&quot;b&#39;c&amp;d"), std::string::npos);
  EXPECT_NE(html.find("&lt;lenet&gt;.pt"), std::string::npos);  // The title.
}

TEST(ReportHtml, ShowsTheSearchItsFrontAndSensitivity) {
  json r = SampleReport();
  json candidate = {{"index", 0},
                    {"tensors",
                     {{{"name", "fc1.weight"},
                       {"sparsity", 0.92},
                       {"bits", 4},
                       {"gap_bits", 5}}}},
                    {"bytes", 21000},
                    {"ratio", 50.8},
                    {"validation_top1", 0.911},
                    {"drop", 0.002},
                    {"margin", 0.0025},
                    {"meets", true},
                    {"epochs", 5},
                    {"recipe", true}};
  json missed = candidate;
  missed["index"] = 1;
  missed.erase("recipe");
  missed["bytes"] = 15000;
  missed["drop"] = 0.02;
  missed["meets"] = false;
  r["stages"].push_back(
      {{"stage", "search"},
       {"index", 1},
       {"search",
        {{"goal", "max-drop=0.5pt"},
         {"validation_baseline", 0.913},
         {"validation_samples", 6000},
         {"chosen", 0},
         {"stopped", "a candidate met the goal with little room left"},
         {"candidates", {candidate, missed}},
         {"sensitivity",
          {{{"name", "fc1.weight"},
            {"parameters", 235200},
            {"sparsity", {{0, 0.913}, {0.5, 0.91}, {0.9, 0.7}}},
            {"bits", {{2, 0.9}, {8, 0.913}}}}}}}}});
  const std::string html = RenderReportHtml(r);
  EXPECT_NE(html.find("Search for max-drop=0.5pt"), std::string::npos);
  EXPECT_NE(html.find("0 (chosen) (recipe)"), std::string::npos);
  EXPECT_EQ(html.find("1 (recipe)"), std::string::npos);
  EXPECT_NE(html.find("fc1.weight 92%/4b"), std::string::npos);
  EXPECT_NE(html.find("missed"), std::string::npos);
  EXPECT_NE(html.find("<h2>Sensitivity</h2>"), std::string::npos);
  // One dot per candidate on the front, the result ringed.
  EXPECT_EQ(Count(html, "<circle"), 2);
  EXPECT_EQ(Count(html, "stroke-width=\"2\"><title>"), 1);
  EXPECT_EQ(Count(html, "<svg"), Count(html, "</svg>"));
  // A search record of the wrong shape renders without throwing.
  r["stages"][1]["search"]["candidates"] = {1, "x", {{"tensors", 3}}};
  r["stages"][1]["search"]["sensitivity"] = {{{"sparsity", {{1}, "y"}}}};
  EXPECT_NO_THROW(RenderReportHtml(r));
}

TEST(ReportHtml, DataFreeAndPartialReportsStillRender) {
  json r = SampleReport();
  r["accuracy"] = {{"baseline", nullptr}, {"final", nullptr}};
  r.erase("weights");
  r["stages"] = json::array();
  const std::string html = RenderReportHtml(r);
  EXPECT_NE(html.find("data-free run"), std::string::npos);
  EXPECT_EQ(html.find("Weight distributions"), std::string::npos);
  EXPECT_EQ(html.find("<h2>Stages</h2>"), std::string::npos);
  // Garbage of the wrong types never throws.
  EXPECT_NO_THROW(RenderReportHtml(json::parse(R"({"totals": "x",
      "stages": [1, "a", null], "tensors": {"a": 1},
      "weights": {"layers": [{"dense": "no", "centroids": 3}]}})")));
  EXPECT_NO_THROW(RenderReportHtml(json()));
  EXPECT_NO_THROW(RenderReportHtml(json::array({1, 2})));
}

}  // namespace
}  // namespace condense::report
