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
};

struct QuantizeRecord {
  std::vector<ClusterRecord> layers;
  EvalResult after_clustering;
  int epochs = 0;
};

struct FinetuneRecord {
  int epochs = 0;
};

// What a stage's own run returns.
using StageDetail =
    std::variant<PruneRecord, DsdRecord, QuantizeRecord, FinetuneRecord>;

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
nlohmann::json ToJson(const RunReport& r);

// A stage record back from ToJson's form (a checkpoint's); InvalidArgument
// when it is not one.
absl::StatusOr<StageRecord> StageRecordFromJson(const nlohmann::json& j);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_RUN_REPORT_H_
