#include "worker/engine/run_report.h"

#include "absl/strings/str_cat.h"

namespace condense::engine {
namespace {

using nlohmann::json;

// The accuracy of an EvalResult's JSON form (null: not measured).
EvalResult EvalFromJson(const json& j) {
  EvalResult r;
  if (!j.is_object()) return r;
  r.top1 = j.value("top1", -1.0);
  r.top5 = j.value("top5", -1.0);
  r.loss = j.value("loss", 0.0);
  return r;
}

json ToJson(const ClusterRecord& c) {
  json j = {{"name", c.name}, {"bits", c.bits}, {"nonzeros", c.nonzeros}};
  if (c.nonzeros > 0) {
    j["centroids"] = c.centroids;
    j["kmeans_sse"] = c.kmeans_sse;
    j["kmeans_iterations"] = c.kmeans_iterations;
    j["kmeans_seconds"] = c.kmeans_seconds;
    j["rate_lambda"] = c.rate_lambda;
    j["importance_weighted"] = c.importance_weighted;
    j["index_entropy_bits"] = c.index_entropy_bits;
  }
  return j;
}

ClusterRecord ClusterFromJson(const json& j) {
  ClusterRecord c;
  c.name = j.value("name", "");
  c.bits = j.value("bits", 0);
  c.nonzeros = j.value("nonzeros", int64_t{0});
  c.centroids = j.value("centroids", int64_t{0});
  c.kmeans_sse = j.value("kmeans_sse", 0.0);
  c.kmeans_iterations = j.value("kmeans_iterations", 0);
  c.kmeans_seconds = j.value("kmeans_seconds", 0.0);
  c.rate_lambda = j.value("rate_lambda", 0.0);
  c.importance_weighted = j.value("importance_weighted", false);
  c.index_entropy_bits = j.value("index_entropy_bits", 0.0);
  return c;
}

// The stage's own fields, merged into its record's top level.
void AddDetail(const PruneRecord& p, json& j) {
  json steps = json::array();
  for (const PruneStepRecord& s : p.steps) {
    steps.push_back({{"step", s.step},
                     {"sparsity", s.sparsity},
                     {"accuracy", ToJson(s.accuracy)},
                     {"layer_sparsity", s.layer_sparsity}});
  }
  j["steps"] = std::move(steps);
  j["layer_sparsity"] = p.layer_sparsity;
}

void AddDetail(const DsdRecord& d, json& j) {
  j["accuracy_before"] = ToJson(d.before);
  j["accuracy_sparse"] = ToJson(d.sparse);
  j["accuracy_after"] = ToJson(d.after);
  j["sparse_sparsity"] = d.sparse_sparsity;
}

void AddDetail(const QuantizeRecord& q, json& j) {
  json layers = json::array();
  for (const ClusterRecord& c : q.layers) layers.push_back(ToJson(c));
  j["layers"] = std::move(layers);
  j["accuracy_after_clustering"] = ToJson(q.after_clustering);
  j["epochs"] = q.epochs;
}

void AddDetail(const FinetuneRecord& f, json& j) { j["epochs"] = f.epochs; }

json Points(const std::vector<std::pair<double, double>>& points) {
  json out = json::array();
  for (const auto& [x, top1] : points) out.push_back({x, top1});
  return out;
}

std::vector<std::pair<double, double>> PointsFromJson(const json& j) {
  std::vector<std::pair<double, double>> out;
  for (const json& p : j) out.emplace_back(p.at(0), p.at(1));
  return out;
}

}  // namespace

json ToJson(const SearchRecord& s) {
  json search = {{"goal", s.goal},
                 {"validation_baseline", s.validation_baseline},
                 {"validation_reference", s.validation_reference},
                 {"validation_samples", s.validation_samples},
                 {"sensitivity_seconds", s.sensitivity_seconds},
                 {"chosen", s.chosen < 0 ? json(nullptr) : json(s.chosen)},
                 {"epochs", s.epochs},
                 {"stopped", s.stopped}};
  json curves = json::array();
  for (const SensitivityCurve& c : s.sensitivity) {
    curves.push_back({{"name", c.name},
                      {"parameters", c.parameters},
                      {"sparsity", Points(c.sparsity)},
                      {"bits", Points(c.bits)}});
  }
  search["sensitivity"] = std::move(curves);
  json candidates = json::array();
  for (const SearchCandidate& c : s.candidates) {
    json tensors = json::array();
    for (const CandidateTensor& t : c.tensors) {
      tensors.push_back({{"name", t.name},
                         {"sparsity", t.sparsity},
                         {"bits", t.bits},
                         {"gap_bits", t.gap_bits}});
    }
    candidates.push_back({{"index", c.index},
                          {"loss_budget", c.loss_budget},
                          {"predicted_loss", c.predicted_loss},
                          {"recipe", c.recipe},
                          {"tensors", std::move(tensors)},
                          {"bytes", c.bytes},
                          {"ratio", c.ratio},
                          {"validation_top1", c.validation_top1},
                          {"drop", c.drop},
                          {"margin", c.margin},
                          {"meets", c.meets},
                          {"epochs", c.epochs},
                          {"seconds", c.seconds}});
  }
  search["candidates"] = std::move(candidates);
  return search;
}

namespace {

void AddDetail(const SearchRecord& s, json& j) { j["search"] = ToJson(s); }

SearchRecord SearchFromJson(const json& j) {
  SearchRecord s;
  s.goal = j.value("goal", "");
  s.validation_baseline = j.value("validation_baseline", 0.0);
  s.validation_reference = j.value("validation_reference", 0.0);
  s.validation_samples = j.value("validation_samples", int64_t{0});
  s.sensitivity_seconds = j.value("sensitivity_seconds", 0.0);
  const json& chosen = j.at("chosen");
  s.chosen = chosen.is_null() ? -1 : chosen.get<int>();
  s.epochs = j.value("epochs", 0);
  s.stopped = j.value("stopped", "");
  for (const json& c : j.at("sensitivity")) {
    s.sensitivity.push_back({c.at("name"), c.at("parameters"),
                             PointsFromJson(c.at("sparsity")),
                             PointsFromJson(c.at("bits"))});
  }
  for (const json& c : j.at("candidates")) {
    SearchCandidate k;
    k.index = c.at("index");
    k.loss_budget = c.at("loss_budget");
    k.predicted_loss = c.at("predicted_loss");
    k.recipe = c.value("recipe", false);
    for (const json& t : c.at("tensors")) {
      k.tensors.push_back(
          {t.at("name"), t.at("sparsity"), t.at("bits"), t.at("gap_bits")});
    }
    k.bytes = c.at("bytes");
    k.ratio = c.at("ratio");
    k.validation_top1 = c.at("validation_top1");
    k.drop = c.at("drop");
    k.margin = c.at("margin");
    k.meets = c.at("meets");
    k.epochs = c.at("epochs");
    k.seconds = c.at("seconds");
    s.candidates.push_back(std::move(k));
  }
  return s;
}

absl::StatusOr<StageDetail> DetailFromJson(const json& j) {
  const std::string stage = j.value("stage", "");
  if (stage == "prune") {
    PruneRecord p;
    for (const json& s : j.value("steps", json::array())) {
      PruneStepRecord step;
      step.step = s.value("step", 0);
      step.sparsity = s.value("sparsity", 0.0);
      step.accuracy = EvalFromJson(s.value("accuracy", json()));
      step.layer_sparsity =
          s.value("layer_sparsity", json::object()).get<TensorValues>();
      p.steps.push_back(std::move(step));
    }
    p.layer_sparsity =
        j.value("layer_sparsity", json::object()).get<TensorValues>();
    return p;
  }
  if (stage == "dsd") {
    DsdRecord d;
    d.before = EvalFromJson(j.value("accuracy_before", json()));
    d.sparse = EvalFromJson(j.value("accuracy_sparse", json()));
    d.after = EvalFromJson(j.value("accuracy_after", json()));
    d.sparse_sparsity = j.value("sparse_sparsity", 0.0);
    return d;
  }
  if (stage == "quantize") {
    QuantizeRecord q;
    for (const json& c : j.value("layers", json::array())) {
      q.layers.push_back(ClusterFromJson(c));
    }
    q.after_clustering =
        EvalFromJson(j.value("accuracy_after_clustering", json()));
    q.epochs = j.value("epochs", 0);
    return q;
  }
  if (stage == "finetune") return FinetuneRecord{j.value("epochs", 0)};
  if (stage == "search") return SearchFromJson(j.at("search"));
  return absl::InvalidArgumentError(
      absl::StrCat("not a stage record: unknown stage '", stage, "'"));
}

json ToJson(const WeightHistograms& w) {
  json j = {{"name", w.name},
            {"min", w.min},
            {"max", w.max},
            {"dense", w.dense},
            {"final", w.final}};
  if (w.centroids) j["centroids"] = *w.centroids;
  return j;
}

}  // namespace

absl::StatusOr<SearchRecord> SearchRecordFromJson(const json& j) {
  try {
    return SearchFromJson(j);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a search record: ", e.what()));
  }
}

json ToJson(const EvalResult& r) {
  if (!r.measured()) return nullptr;
  json j = {{"top1", r.top1}, {"loss", r.loss}};
  if (r.top5 >= 0) j["top5"] = r.top5;
  return j;
}

json ToJson(const StageRecord& r) {
  json j = {{"stage", r.stage},
            {"index", r.index},
            {"accuracy", ToJson(r.accuracy)},
            {"sparsity", r.sparsity},
            {"ratio_pruned", r.ratio_pruned},
            {"ratio_pruned_quantized", r.ratio_pruned_quantized},
            {"duration_seconds", r.duration_seconds},
            {"weight_histograms", r.weight_histograms}};
  std::visit([&j](const auto& detail) { AddDetail(detail, j); }, r.detail);
  return j;
}

absl::StatusOr<StageRecord> StageRecordFromJson(const json& j) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError("not a stage record: not an object");
  }
  try {
    auto detail = DetailFromJson(j);
    if (!detail.ok()) return detail.status();
    StageRecord r;
    r.stage = j.value("stage", "");
    r.index = j.value("index", 0);
    r.detail = *std::move(detail);
    r.accuracy = EvalFromJson(j.value("accuracy", json()));
    r.sparsity = j.value("sparsity", 0.0);
    r.ratio_pruned = j.value("ratio_pruned", 0.0);
    r.ratio_pruned_quantized = j.value("ratio_pruned_quantized", 0.0);
    r.duration_seconds = j.value("duration_seconds", 0.0);
    r.weight_histograms =
        j.value("weight_histograms", json::object()).get<TensorHistograms>();
    return r;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a stage record: ", e.what()));
  }
}

json ToJson(const RunReport& r) {
  json rep;
  rep["schema_version"] = 1;
  rep["model"] = {{"path", r.model.path},
                  {"sha256", r.model.sha256},
                  {"format", r.model.format},
                  {"parameters", r.model.parameters}};
  rep["data"] = r.data;
  rep["preset"] = r.preset;
  rep["spec"] = json::parse(r.spec_json.empty() ? "{}" : r.spec_json, nullptr,
                            /*allow_exceptions=*/false);
  rep["device"] = r.device;
  rep["threads"] = r.threads;
  rep["seed"] = r.seed;
  rep["versions"] = {{"condense", r.condense_version},
                     {"libtorch", r.libtorch_version}};
  json stages = json::array();
  for (const StageRecord& s : r.stages) stages.push_back(ToJson(s));
  rep["stages"] = std::move(stages);
  if (r.streamed) rep["streamed"] = true;
  rep["encode_seconds"] = r.encode_seconds;
  json tensors = json::array();
  for (const TensorRow& t : r.tensors) {
    tensors.push_back(TensorRecord(t.size, t.facts));
  }
  rep["tensors"] = std::move(tensors);
  rep["size"] = codec::ToJson(r.size);
  rep["totals"] = {
      {"original_bytes", r.size.OriginalBytes()},
      {"compressed_bytes", r.size.file_bytes},
      {"compression_ratio", r.size.Ratio()},
      {"ratio_pruned", r.ratio_pruned},
      {"ratio_pruned_quantized", r.ratio_pruned_quantized},
      {"ratio_pruned_quantized_huffman", r.size.Ratio()},
      {"sparsity", r.sparsity},
  };
  const auto top1 = [](const EvalResult& e) {
    return e.measured() ? json(e.top1) : json(nullptr);
  };
  rep["accuracy"] = {{"baseline", top1(r.baseline)}, {"final", top1(r.final)}};
  if (r.baseline.top5 >= 0) {
    rep["accuracy"]["baseline_top5"] = r.baseline.top5;
    rep["accuracy"]["final_top5"] = r.final.top5;
  }
  json layers = json::array();
  for (const WeightHistograms& w : r.weights) layers.push_back(ToJson(w));
  rep["weights"] = {{"bins", r.histogram_bins}, {"layers", std::move(layers)}};
  rep["warnings"] = r.warnings;
  rep["duration_seconds"] = r.duration_seconds;
  return rep;
}

}  // namespace condense::engine
