#include "proto/spec_util.h"

#include <cctype>
#include <cmath>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace condense::spec {
namespace {

using ::condense::v1::LayerSettings;
using ::google::protobuf::util::JsonParseOptions;
using ::google::protobuf::util::JsonPrintOptions;

// One step of an override path: a field name, then optional [i] indices.
struct PathStep {
  std::string field;
  std::vector<size_t> indices;
};

absl::StatusOr<std::vector<PathStep>> ParsePath(absl::string_view path) {
  std::vector<PathStep> steps;
  size_t i = 0;
  while (i < path.size()) {
    PathStep step;
    while (
        i < path.size() &&
        (std::isalnum(static_cast<unsigned char>(path[i])) || path[i] == '_')) {
      step.field.push_back(path[i++]);
    }
    if (step.field.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad field path '", path, "' at position ", i,
          ": expected a field name (e.g. training.learning_rate or "
          "stages[0].prune.steps)"));
    }
    while (i < path.size() && path[i] == '[') {
      size_t close = path.find(']', i);
      std::string digits(path.substr(i + 1, close - i - 1));
      if (close == absl::string_view::npos || digits.empty() ||
          digits.find_first_not_of("0123456789") != std::string::npos ||
          digits.size() > 6) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad index in field path '", path, "'"));
      }
      step.indices.push_back(std::stoul(digits));
      i = close + 1;
    }
    steps.push_back(std::move(step));
    if (i < path.size()) {
      if (path[i] != '.') {
        return absl::InvalidArgumentError(absl::StrCat(
            "bad field path '", path, "' at position ", i, ": expected '.'"));
      }
      ++i;
      if (i == path.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("field path '", path, "' ends with '.'"));
      }
    }
  }
  if (steps.empty()) return absl::InvalidArgumentError("empty field path");
  return steps;
}

absl::Status CheckRange(absl::string_view field, double value, double lo,
                        double hi, bool lo_open = false) {
  bool ok = std::isfinite(value) && value <= hi &&
            (lo_open ? value > lo : value >= lo);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " = ", value, " is out of range: allowed ",
                   lo_open ? "(" : "[", lo, ", ", hi, "]"));
}

absl::Status CheckLayer(absl::string_view where, const LayerSettings& s) {
  if (s.has_bits()) {
    if (auto st =
            CheckRange(absl::StrCat(where, ".bits"), s.bits(), 1, kMaxBits);
        !st.ok())
      return st;
  }
  if (s.has_gap_bits()) {
    if (auto st = CheckRange(absl::StrCat(where, ".gap_bits"), s.gap_bits(), 1,
                             kMaxGapBits);
        !st.ok())
      return st;
  }
  if (s.has_sensitivity()) {
    if (auto st = CheckRange(absl::StrCat(where, ".sensitivity"),
                             s.sensitivity(), 0, 10);
        !st.ok())
      return st;
  }
  if (s.has_sparsity()) {
    if (auto st = CheckRange(absl::StrCat(where, ".sparsity"), s.sparsity(), 0,
                             0.9999);
        !st.ok())
      return st;
  }
  if (s.has_rate_lambda()) {
    if (auto st = CheckRange(absl::StrCat(where, ".rate_lambda"),
                             s.rate_lambda(), 0, kMaxRateLambda);
        !st.ok())
      return st;
  }
  return absl::OkStatus();
}

absl::Status CheckEpochs(absl::string_view field, bool has, uint32_t value) {
  if (!has) return absl::OkStatus();
  return CheckRange(field, value, 0, kMaxEpochs);
}

absl::Status CheckRate(absl::string_view field, bool has, double value) {
  if (!has) return absl::OkStatus();
  return CheckRange(field, value, 0, 10, /*lo_open=*/true);
}

absl::Status CheckStage(int i, const v1::Stage& stage) {
  std::string at = absl::StrCat("stages[", i, "]");
  switch (stage.kind_case()) {
    case v1::Stage::kPrune: {
      const auto& p = stage.prune();
      at += ".prune";
      if (p.has_steps()) {
        if (auto st = CheckRange(at + ".steps", p.steps(), 1, kMaxPruneSteps);
            !st.ok())
          return st;
      }
      if (auto st = CheckEpochs(at + ".epochs_per_step",
                                p.has_epochs_per_step(), p.epochs_per_step());
          !st.ok())
        return st;
      if (auto st = CheckRate(at + ".learning_rate", p.has_learning_rate(),
                              p.learning_rate());
          !st.ok())
        return st;
      if (p.criterion() == v1::PruneStage::GLOBAL_SPARSITY) {
        return CheckRange(at + ".global_sparsity", p.global_sparsity(), 0,
                          0.9999, /*lo_open=*/true);
      }
      return absl::OkStatus();
    }
    case v1::Stage::kDsd: {
      const auto& d = stage.dsd();
      at += ".dsd";
      if (d.has_sparsity()) {
        if (auto st = CheckRange(at + ".sparsity", d.sparsity(), 0, 0.9999);
            !st.ok())
          return st;
      }
      if (auto st = CheckEpochs(at + ".sparse_epochs", d.has_sparse_epochs(),
                                d.sparse_epochs());
          !st.ok())
        return st;
      if (auto st = CheckEpochs(at + ".dense_epochs", d.has_dense_epochs(),
                                d.dense_epochs());
          !st.ok())
        return st;
      return CheckRate(at + ".learning_rate", d.has_learning_rate(),
                       d.learning_rate());
    }
    case v1::Stage::kQuantize: {
      const auto& q = stage.quantize();
      at += ".quantize";
      if (auto st = CheckEpochs(at + ".epochs", q.has_epochs(), q.epochs());
          !st.ok())
        return st;
      if (auto st = CheckRange(at + ".rate_lambda", q.rate_lambda(), 0,
                               kMaxRateLambda);
          !st.ok())
        return st;
      return CheckRate(at + ".learning_rate", q.has_learning_rate(),
                       q.learning_rate());
    }
    case v1::Stage::kFinetune: {
      const auto& f = stage.finetune();
      at += ".finetune";
      if (auto st = CheckEpochs(at + ".epochs", f.has_epochs(), f.epochs());
          !st.ok())
        return st;
      return CheckRate(at + ".learning_rate", f.has_learning_rate(),
                       f.learning_rate());
    }
    case v1::Stage::kSearch: {
      const auto& s = stage.search();
      at += ".search";
      if (s.has_max_epochs()) {
        if (auto st =
                CheckRange(at + ".max_epochs", s.max_epochs(), 1, kMaxEpochs);
            !st.ok())
          return st;
      }
      if (auto st = CheckRange(at + ".max_seconds", s.max_seconds(), 0, 1e7);
          !st.ok())
        return st;
      if (s.has_max_candidates()) {
        if (auto st =
                CheckRange(at + ".max_candidates", s.max_candidates(), 1, 100);
            !st.ok())
          return st;
      }
      if (s.has_validation_fraction()) {
        if (auto st = CheckRange(at + ".validation_fraction",
                                 s.validation_fraction(), 0, 0.5,
                                 /*lo_open=*/true);
            !st.ok())
          return st;
      }
      if (s.has_sensitivity_samples()) {
        return CheckRange(at + ".sensitivity_samples", s.sensitivity_samples(),
                          10, 1000000);
      }
      return absl::OkStatus();
    }
    case v1::Stage::KIND_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(
          at,
          " names no stage: give one of prune, dsd, quantize, finetune, "
          "search"));
  }
  return absl::OkStatus();
}

// A search prunes and quantizes itself and is the only stage that does;
// DSD may come before it, fine-tuning after. A goal is only for a search.
absl::Status CheckSearch(const CompressionSpec& spec) {
  int search_at = -1;
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::Stage& stage = spec.stages(i);
    if (stage.has_search()) {
      if (search_at >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "stages[", i, "] is a second search (the first is stages[",
            search_at, "]): give one"));
      }
      search_at = i;
    }
  }
  const auto& g = spec.goal();
  const int goals = (g.has_max_accuracy_drop() ? 1 : 0) +
                    (g.max_bytes() > 0 ? 1 : 0) + (g.min_ratio() > 0 ? 1 : 0);
  if (search_at < 0) {
    if (goals > 0) {
      return absl::InvalidArgumentError(
          "the spec sets a goal but has no search stage to reach it: use "
          "--preset auto (or add a search stage), or drop the goal");
    }
    return absl::OkStatus();
  }
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::Stage& stage = spec.stages(i);
    if (stage.has_prune() || stage.has_quantize()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stages[", i, "] (", stage.has_prune() ? "prune" : "quantize",
          ") comes with a search stage, which prunes and quantizes itself: "
          "drop it, or drop the search for a fixed recipe"));
    }
    if (stage.has_dsd() && i > search_at) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stages[", i, "] (dsd) comes after the search (stages[", search_at,
          "]): pruning would break its weight sharing; run dsd before it"));
    }
  }
  if (goals > 1) {
    return absl::InvalidArgumentError(
        "goal sets more than one of max_accuracy_drop, max_bytes and "
        "min_ratio: give one");
  }
  if (g.has_max_accuracy_drop()) {
    if (auto st =
            CheckRange("goal.max_accuracy_drop", g.max_accuracy_drop(), 0, 1);
        !st.ok())
      return st;
  }
  if (g.min_ratio() > 0) {
    return CheckRange("goal.min_ratio", g.min_ratio(), 1, 1e6);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompressionSpec> ParseSpecJson(absl::string_view json) {
  CompressionSpec spec;
  JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the spec is not a valid CompressionSpec in JSON: ",
                     status.message().as_string()));
  }
  return spec;
}

std::string SpecToJson(const CompressionSpec& spec, bool pretty) {
  JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = pretty;
  std::string out;
  // Printing a valid message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(spec, &out, options);
  return out;
}

absl::Status ApplyOverride(absl::string_view assignment,
                           CompressionSpec* spec) {
  size_t eq = assignment.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("override '", assignment,
                     "' has no '=': write field=value, e.g. "
                     "training.learning_rate=0.01"));
  }
  auto steps = ParsePath(assignment.substr(0, eq));
  if (!steps.ok()) return steps.status();
  std::string text(assignment.substr(eq + 1));
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;

  nlohmann::json root = nlohmann::json::parse(SpecToJson(*spec));
  nlohmann::json* node = &root;
  std::string at;
  for (size_t s = 0; s < steps->size(); ++s) {
    const PathStep& step = (*steps)[s];
    at += (at.empty() ? "" : ".") + step.field;
    bool last = s + 1 == steps->size();
    if (!node->is_object()) *node = nlohmann::json::object();
    nlohmann::json* child = &(*node)[step.field];
    for (size_t index : step.indices) {
      if (!child->is_array() || index >= child->size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("override '", assignment, "': ", at, " has ",
                         child->is_array() ? child->size() : 0,
                         " elements, no [", index, "]"));
      }
      at += absl::StrCat("[", index, "]");
      child = &(*child)[index];
    }
    if (last) *child = value;
    node = child;
  }
  auto parsed = ParseSpecJson(root.dump());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("override '", assignment,
                     "' does not fit the spec: ", parsed.status().message()));
  }
  *spec = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status ApplyGoal(absl::string_view goal, CompressionSpec* spec) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("goal '", goal, "' ", why,
                     ": write max-drop=0.5pt (or a fraction, max-drop=0.005), "
                     "max-bytes=20000 or min-ratio=50"));
  };
  const size_t eq = goal.find('=');
  if (eq == absl::string_view::npos) return bad("has no '='");
  const absl::string_view key = absl::StripAsciiWhitespace(goal.substr(0, eq));
  absl::string_view value = absl::StripAsciiWhitespace(goal.substr(eq + 1));
  double scale = 1;
  if (key == "max-drop" && absl::ConsumeSuffix(&value, "pt")) scale = 0.01;
  if (key == "min-ratio") absl::ConsumeSuffix(&value, "x");
  double number = 0;
  if (!absl::SimpleAtod(value, &number) || !std::isfinite(number) ||
      number < 0) {
    return bad("has no non-negative number after '='");
  }
  v1::Goal g;
  if (key == "max-drop") {
    g.set_max_accuracy_drop(number * scale);
  } else if (key == "max-bytes") {
    if (number < 1 || number != std::floor(number)) {
      return bad("needs a whole number of bytes of at least 1");
    }
    g.set_max_bytes(static_cast<uint64_t>(number));
  } else if (key == "min-ratio") {
    g.set_min_ratio(number);
  } else {
    return bad(absl::StrCat("names '", key, "', which is not a goal"));
  }
  *spec->mutable_goal() = g;
  return absl::OkStatus();
}

absl::Status ValidateSpec(const CompressionSpec& spec) {
  int quantized_at = -1;
  for (int i = 0; i < spec.stages_size(); ++i) {
    const v1::Stage& stage = spec.stages(i);
    if (auto st = CheckStage(i, stage); !st.ok()) return st;
    if (quantized_at >= 0 && (stage.has_prune() || stage.has_dsd())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stages[", i, "] (", stage.has_prune() ? "prune" : "dsd",
          ") comes after stages[", quantized_at,
          "] (quantize): pruning would break the weight sharing; prune "
          "before quantizing"));
    }
    if (stage.has_quantize() && quantized_at < 0) quantized_at = i;
  }
  if (auto st = CheckSearch(spec); !st.ok()) return st;
  if (auto st = CheckLayer("fc", spec.fc()); !st.ok()) return st;
  if (auto st = CheckLayer("conv", spec.conv()); !st.ok()) return st;
  for (int i = 0; i < spec.layers_size(); ++i) {
    const auto& rule = spec.layers(i);
    std::string at = absl::StrCat("layers[", i, "]");
    if (rule.pattern().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          at,
          ".pattern is empty: give a parameter name or a glob such as "
          "\"fc3.weight\" or \"features.*\""));
    }
    if (auto st = CheckLayer(at + ".settings", rule.settings()); !st.ok()) {
      return st;
    }
  }
  const auto& t = spec.training();
  if (auto st = CheckRate("training.learning_rate", t.has_learning_rate(),
                          t.learning_rate());
      !st.ok())
    return st;
  if (t.has_momentum()) {
    if (auto st = CheckRange("training.momentum", t.momentum(), 0, 0.999);
        !st.ok())
      return st;
  }
  if (auto st = CheckRange("training.weight_decay", t.weight_decay(), 0, 1);
      !st.ok())
    return st;
  if (t.has_batch_size()) {
    if (auto st =
            CheckRange("training.batch_size", t.batch_size(), 1, kMaxBatchSize);
        !st.ok())
      return st;
  }
  const auto& d = spec.data();
  if (d.has_eval_fraction()) {
    if (auto st = CheckRange("data.eval_fraction", d.eval_fraction(), 0, 0.9,
                             /*lo_open=*/true);
        !st.ok())
      return st;
  }
  if (d.mean_size() != d.std_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.mean has ", d.mean_size(), " values but data.std has ",
        d.std_size(), ": give one per channel (or one for all) in both"));
  }
  for (float s : d.std()) {
    if (!(s > 0) || !std::isfinite(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat("data.std has ", s, ": every value must be > 0"));
    }
  }
  for (int64_t dim : d.sample_shape()) {
    if (dim <= 0 || dim > (int64_t{1} << 31)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data.sample_shape has dimension ", dim, ": each must be >= 1"));
    }
  }
  const auto& l = spec.loss();
  if (l.has_temperature()) {
    if (auto st = CheckRange("loss.temperature", l.temperature(), 0, 100,
                             /*lo_open=*/true);
        !st.ok())
      return st;
  }
  if (auto st =
          CheckRange("loss.hard_label_weight", l.hard_label_weight(), 0, 100);
      !st.ok())
    return st;
  if (!spec.device().empty() && spec.device() != "auto" &&
      spec.device() != "cpu" && spec.device() != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("device = '", spec.device(), "': use auto, cpu or cuda"));
  }
  return absl::OkStatus();
}

std::string DefaultPreset(bool has_data) {
  return has_data ? "auto" : "deep-compression";
}

absl::StatusOr<CompressionSpec> ComposeSpec(
    absl::string_view preset, const CompressionSpec& over,
    const std::vector<std::string>& overrides, bool has_data) {
  std::string name(preset);
  if (name.empty()) name = over.preset();
  if (name.empty()) name = DefaultPreset(has_data);
  auto base = Preset(name);
  if (!base.ok()) return base.status();
  // Printed with the proto field names, unset fields omitted, so the patch
  // carries exactly what the caller set.
  nlohmann::json merged = nlohmann::json::parse(SpecToJson(*base));
  merged.merge_patch(nlohmann::json::parse(SpecToJson(over)));
  merged["preset"] = name;
  auto spec = ParseSpecJson(merged.dump());
  if (!spec.ok()) return spec.status();
  for (const std::string& o : overrides) {
    if (auto st = ApplyOverride(o, &*spec); !st.ok()) return st;
  }
  if (auto st = ValidateSpec(*spec); !st.ok()) return st;
  return spec;
}

}  // namespace condense::spec
