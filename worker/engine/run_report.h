// The run report as types: what each stage recorded, each stored tensor, the
// weight histograms, sizes, accuracy and timings. Stages and the run build
// these; report.json, report.html and the checkpoint's stage records are
// their JSON form, made here only (schema in docs/engine.md). No LibTorch.
//
// Plain values; not synchronized.
#ifndef CONDENSE_WORKER_ENGINE_RUN_REPORT_H_
#define CONDENSE_WORKER_ENGINE_RUN_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "codec/size_report.h"
#include "nlohmann/json.hpp"
#include "worker/engine/tensor_report.h"

namespace condense::engine {

// Accuracy and loss on the evaluation data.
struct EvalResult {
  double top1 = -1;  // -1: not measured (unlabelled data or none).
  double top5 = -1;  // Only with more than 5 classes.
  double loss = 0;
  int64_t samples = 0;
  bool measured() const { return top1 >= 0; }
};

// Per compressed tensor, by name.
using TensorValues = std::map<std::string, double>;
using TensorHistograms = std::map<std::string, std::vector<int64_t>>;

struct PruneStepRecord {
  int step = 0;
  double sparsity = 0;
  EvalResult accuracy;  // After this step's retraining.
  TensorValues layer_sparsity;
};

struct PruneRecord {
  std::vector<PruneStepRecord> steps;  // Empty when streamed.
  TensorValues layer_sparsity;
};

struct DsdRecord {
  EvalResult before, sparse, after;
  double sparse_sparsity = 0;
};

// One tensor's clustering.
struct ClusterRecord {
  std::string name;
  int bits = 0;
  int64_t nonzeros = 0;
  // The rest only when there were nonzeros to cluster.
  int64_t centroids = 0;
  double kmeans_sse = 0;
  int kmeans_iterations = 0;
  double kmeans_seconds = 0;
  // Rate-aware sharing (ecvq.h): its lambda (0: plain k-means), whether
  // importance weighted the errors, and the index entropy it reached.
  double rate_lambda = 0;
  bool importance_weighted = false;
  double index_entropy_bits = 0;
};

struct QuantizeRecord {
  std::vector<ClusterRecord> layers;
  EvalResult after_clustering;
  int epochs = 0;
};

struct FinetuneRecord {
  int epochs = 0;
};

// One tensor alone, without retraining: validation top-1 against its
// sparsity and against its codebook bits (Han et al. 2015, Fig. 5-6).
struct SensitivityCurve {
  std::string name;
  int64_t parameters = 0;
  std::vector<std::pair<double, double>> sparsity;  // (sparsity, top-1).
  std::vector<std::pair<double, double>> bits;      // (bits, top-1).
};

struct CandidateTensor {
  std::string name;
  double sparsity = 0;  // Reached.
  int bits = 0;
  int gap_bits = 0;
};

// One compressed, retrained and measured candidate of a search.
struct SearchCandidate {
  int index = 0;
  double loss_budget = 0;     // The allocation's budget of predicted loss.
  double predicted_loss = 0;  // What the allocation predicted.
  bool recipe = false;        // The spec's fixed recipe, not an allocation.
  std::vector<CandidateTensor> tensors;
  uint64_t bytes = 0;  // The .cdz's, exactly.
  double ratio = 0;
  double validation_top1 = 0;
  double drop = 0;    // Against the dense model on validation.
  double margin = 0;  // Standard error of `drop` (paired).
  bool meets = false;
  int epochs = 0;
  double seconds = 0;
};

struct SearchRecord {
  std::string goal;  // As the user would write it, e.g. "max-drop=0.5pt".
  double validation_baseline = 0;  // The dense model's top-1.
  // What drops are measured against: the dense model's top-1, or lower,
  // that of the dense model retrained without the validation split (a
  // dense model that trained on those samples scores them too well).
  double validation_reference = 0;
  int64_t validation_samples = 0;
  double sensitivity_seconds = 0;
  std::vector<SensitivityCurve> sensitivity;
  std::vector<SearchCandidate> candidates;
  int chosen = -1;      // Index into candidates; -1: none met the goal.
  int epochs = 0;       // Spent, over all candidates.
  std::string stopped;  // Why the search stopped.
};

// What a stage's own run returns.
using StageDetail = std::variant<PruneRecord, DsdRecord, QuantizeRecord,
                                 FinetuneRecord, SearchRecord>;

// What a stage does to one tensor of a streamed run: a prune stage's
// sparsity, a quantize stage's clustering.
struct TensorStageRecord {
  std::optional<double> sparsity;
  std::optional<ClusterRecord> clustering;
};

// One stage as the run saw it: its own record and the model after it.
struct StageRecord {
  std::string stage;  // The kind's name.
  int index = 0;
  StageDetail detail;
  EvalResult accuracy;
  double sparsity = 0;  // Over the compressed tensors.
  double ratio_pruned = 0;
  double ratio_pruned_quantized = 0;
  double duration_seconds = 0;
  TensorHistograms weight_histograms;  // Nonzero weights after the stage.
};

// One compressed tensor's histograms over its dense range.
struct WeightHistograms {
  std::string name;
  double min = 0, max = 0;
  std::vector<int64_t> dense, final;
  std::optional<std::vector<double>> centroids;  // Set once quantized.
};

// One stored tensor: the codec's sizes and what the engine knows of it.
struct TensorRow {
  codec::TensorSize size;
  TensorFacts facts;
};

struct RunReport {
  struct ModelFacts {
    std::string path, sha256, format;
    int64_t parameters = 0;
  } model;
  nlohmann::json data;  // The data's own description (Data::Describe); null.
  std::string preset;
  std::string spec_json;
  std::string device;
  int threads = 0;
  uint64_t seed = 0;
  std::string condense_version, libtorch_version;

  std::vector<StageRecord> stages;
  bool streamed = false;
  std::vector<TensorRow> tensors;
  codec::ModelSize size;
  // The paper's estimates after the last stage, and sparsity.
  double ratio_pruned = 0, ratio_pruned_quantized = 0, sparsity = 0;
  EvalResult baseline, final;
  int histogram_bins = 0;
  std::vector<WeightHistograms> weights;
  std::vector<std::string> warnings;
  double encode_seconds = 0, duration_seconds = 0;
};

nlohmann::json ToJson(const EvalResult& r);  // Null when not measured.
nlohmann::json ToJson(const StageRecord& r);
nlohmann::json ToJson(const SearchRecord& r);  // A record's "search".
nlohmann::json ToJson(const RunReport& r);

// A stage record back from ToJson's form (a checkpoint's); InvalidArgument
// when it is not one.
absl::StatusOr<StageRecord> StageRecordFromJson(const nlohmann::json& j);
absl::StatusOr<SearchRecord> SearchRecordFromJson(const nlohmann::json& j);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_RUN_REPORT_H_
