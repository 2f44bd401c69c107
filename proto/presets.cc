// The presets: named specs in the spec's own JSON form, so a preset is data
// and never a special code path. Numbers follow Deep Compression and DSD
// (5-bit fc / 8-bit conv codebooks and gaps, iterative pruning, DSD at 30%
// sparsity), with pruning sensitivities tuned on LeNet-300-100 and LeNet-5.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/spec_util.h"

namespace condense::spec {
namespace {

// Shared pieces, composed below.
constexpr char kLayers[] = R"(
  "fc": {"bits": 5, "gap_bits": 5, "sensitivity": 2.5},
  "conv": {"bits": 8, "gap_bits": 8, "sensitivity": 1.8})";
constexpr char kPrune[] =
    R"({"prune": {"criterion": "SENSITIVITY", "steps": 3,
                  "epochs_per_step": 2}})";
constexpr char kQuantize[] =
    R"({"quantize": {"init": "LINEAR", "solver": "LLOYD", "epochs": 2}})";
constexpr char kQuantizeDataFree[] =
    R"({"quantize": {"init": "LINEAR", "solver": "LLOYD"}})";
constexpr char kSearch[] = R"({"search": {}})";
constexpr char kDsd[] =
    R"({"dsd": {"sparsity": 0.3, "sparse_epochs": 2, "dense_epochs": 2}})";

std::string Spec(absl::string_view name,
                 const std::vector<absl::string_view>& stages) {
  return absl::StrCat(R"({"preset": ")", name, R"(", "stages": [)",
                      absl::StrJoin(stages, ", "), "],", kLayers, "}");
}

const std::map<std::string, std::string>& Presets() {
  static const auto* presets = new std::map<std::string, std::string>{
      // The goal-directed search (the spec's goal; default half a point).
      {"auto", Spec("auto", {kSearch})},
      {"deep-compression", Spec("deep-compression", {kPrune, kQuantize})},
      {"prune", Spec("prune", {kPrune})},
      // Epochs unset: retrains with data, data-free without.
      {"quantize", Spec("quantize", {kQuantizeDataFree})},
      {"dsd", Spec("dsd", {kDsd})},
      {"dsd+deep-compression",
       Spec("dsd+deep-compression", {kDsd, kPrune, kQuantize})},
  };
  return *presets;
}

}  // namespace

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const auto& [name, json] : Presets()) names.push_back(name);
  return names;
}

absl::StatusOr<CompressionSpec> Preset(absl::string_view name) {
  const std::string key(name);
  auto it = Presets().find(key);
  if (it == Presets().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown preset '", name,
                     "'; choose one of: ", absl::StrJoin(PresetNames(), ", ")));
  }
  return ParseSpecJson(it->second);
}

}  // namespace condense::spec
