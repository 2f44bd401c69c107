// Loading, overriding and checking CompressionSpec messages: the one place
// that knows the spec's JSON form and its bounds, shared by the worker, the
// server and the CLI. Functions are thread-safe.
#ifndef CONDENSE_PROTO_SPEC_UTIL_H_
#define CONDENSE_PROTO_SPEC_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "condense/v1/spec.pb.h"

namespace condense::spec {

using ::condense::v1::CompressionSpec;

// The named specs: "auto" (the goal-directed search), "deep-compression",
// "prune", "quantize", "dsd", "dsd+deep-compression".
std::vector<std::string> PresetNames();
absl::StatusOr<CompressionSpec> Preset(absl::string_view name);

// Parses protobuf's JSON mapping of a spec; unknown fields are errors.
absl::StatusOr<CompressionSpec> ParseSpecJson(absl::string_view json);
// The spec as JSON with the proto field names (snake_case).
std::string SpecToJson(const CompressionSpec& spec, bool pretty = false);

// Applies "path=value", where path names a field in the JSON form, with
// dots between fields and [i] for list elements (e.g.
// "training.learning_rate=0.01", "stages[0].prune.steps=4",
// "layers=[{\"pattern\":\"fc3.weight\",\"settings\":{\"bits\":6}}]"). The
// value is read as JSON when it parses as JSON, else as a string.
absl::Status ApplyOverride(absl::string_view assignment, CompressionSpec* spec);

// Sets the spec's goal from its one-flag form: "max-drop=0.5pt" (points of
// top-1) or "max-drop=0.005" (a fraction), "max-bytes=20000",
// "min-ratio=50" (or "50x"). Replaces any goal the spec had.
absl::Status ApplyGoal(absl::string_view goal, CompressionSpec* spec);

// The preset a job without one runs: "auto" (the search, to the spec's goal
// or half a point) when it has data, else "deep-compression" (which then
// says it needs data).
std::string DefaultPreset(bool has_data);

// The spec a job runs: the preset (default: the spec's own `preset` field,
// else DefaultPreset(has_data)), with `over` merged onto it as a JSON merge
// patch (fields set in `over` win; a non-empty list replaces the preset's),
// then each override in order, then ValidateSpec.
absl::StatusOr<CompressionSpec> ComposeSpec(
    absl::string_view preset, const CompressionSpec& over,
    const std::vector<std::string>& overrides, bool has_data);

// Checks every bound (bits 1..8, gap bits 1..16, epochs, batch size, ...);
// the error names the field, the value and the allowed range.
absl::Status ValidateSpec(const CompressionSpec& spec);

// Limits ValidateSpec enforces.
inline constexpr int kMaxBits = 8;
inline constexpr int kMaxGapBits = 16;
inline constexpr double kMaxRateLambda = 10;
inline constexpr int kMaxEpochs = 1000;
inline constexpr int kMaxPruneSteps = 100;
inline constexpr int kMaxBatchSize = 65536;

}  // namespace condense::spec

#endif  // CONDENSE_PROTO_SPEC_UTIL_H_
