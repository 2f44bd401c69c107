// The engine's configuration: plain C++ values that the worker fills from a
// CompressionSpec (proto/condense/v1/spec.proto documents every field), so
// the engine itself needs no protobuf. Defaults here are the spec's defaults.
// Plain values; thread-compatible.
#ifndef CONDENSE_WORKER_ENGINE_CONFIG_H_
#define CONDENSE_WORKER_ENGINE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "codec/quantized_tensor.h"
#include "worker/engine/kmeans_1d.h"
#include "worker/engine/tensor_role.h"

namespace condense::engine {

// What to do with one tensor, after the fc/conv defaults and rules.
struct LayerConfig {
  bool compress = false;
  bool prune = false;
  int bits = 5;
  int gap_bits = 5;
  double sensitivity = 1.0;
  double sparsity = 0.0;
  // Unset: the quantize stage's rate_lambda.
  std::optional<double> rate_lambda;
  // Never the context coder (codec::QuantizedEncodeOptions).
  bool fast_decode = false;
};

// The codec options a tensor of these settings is encoded with.
inline codec::QuantizedEncodeOptions EncodeOptions(const LayerConfig& c) {
  return {.gap_bits = c.gap_bits, .allow_context_coded = !c.fast_decode};
}

// A partial LayerConfig: the fc/conv defaults and the per-name rules.
struct LayerOverride {
  std::string pattern;  // Glob ('*', '?'); unused for the fc/conv defaults.
  std::optional<bool> compress;
  std::optional<bool> prune;
  std::optional<int> bits;
  std::optional<int> gap_bits;
  std::optional<double> sensitivity;
  std::optional<double> sparsity;
  std::optional<double> rate_lambda;
  std::optional<bool> fast_decode;
};

enum class PruneCriterion { kSensitivity, kSparsity, kGlobalSparsity };

struct PruneConfig {
  PruneCriterion criterion = PruneCriterion::kSensitivity;
  int steps = 3;
  int epochs_per_step = 2;
  double learning_rate = 0;  // 0: training.learning_rate.
  double global_sparsity = 0;
};

struct DsdConfig {
  double sparsity = 0.3;
  int sparse_epochs = 2;
  int dense_epochs = 2;
  double learning_rate = 0;  // 0: training.learning_rate.
  bool prune_first_conv = false;
};

struct QuantizeConfig {
  KMeansInit init = KMeansInit::kLinear;
  KMeansSolver solver = KMeansSolver::kLloyd;
  // Unset: 2 epochs with data, none (data-free) without.
  std::optional<int> epochs;
  double learning_rate = 0;  // 0: training.learning_rate / 10.
  // Entropy-constrained sharing (ecvq.h); 0 is plain k-means.
  double rate_lambda = 0;
  enum class Importance { kAuto, kNone, kSquaredGradients };
  // kAuto: squared gradients with labelled data, none without.
  Importance importance = Importance::kAuto;
};

struct FinetuneConfig {
  int epochs = 1;
  double learning_rate = 0;  // 0: training.learning_rate.
};

// The goal-directed search (search.h); defaults as in spec.proto.
struct SearchConfig {
  int max_epochs = 32;
  double max_seconds = 0;  // 0: no wall-clock limit.
  int max_candidates = 8;
  double validation_fraction = 0.1;
  int sensitivity_samples = 2000;
};

struct StageConfig {
  enum class Kind { kPrune, kDsd, kQuantize, kFinetune, kSearch };
  Kind kind = Kind::kPrune;
  PruneConfig prune;
  DsdConfig dsd;
  QuantizeConfig quantize;
  FinetuneConfig finetune;
  SearchConfig search;
};

// What a search must reach: at most one of the three is set; none set means
// max_accuracy_drop = kDefaultMaxAccuracyDrop.
struct GoalConfig {
  std::optional<double> max_accuracy_drop;  // Top-1, as a fraction.
  uint64_t max_bytes = 0;                   // 0: unset.
  double min_ratio = 0;                     // 0: unset.
};
inline constexpr double kDefaultMaxAccuracyDrop = 0.005;

enum class OptimizerKind { kAdam, kSgd };

// The learning rate a spec gets unless it sets one: 1e-3 for Adam, 1e-2 for
// SGD with momentum.
inline double DefaultLearningRate(OptimizerKind optimizer) {
  return optimizer == OptimizerKind::kSgd ? 1e-2 : 1e-3;
}

struct TrainingConfig {
  OptimizerKind optimizer = OptimizerKind::kAdam;
  // 0: the optimizer's default (DefaultLearningRate).
  double learning_rate = 0;
  double momentum = 0.9;
  double weight_decay = 0;
  int batch_size = 128;
  uint64_t max_train_samples = 0;  // 0: all.
  uint64_t max_eval_samples = 0;
};

struct DataConfig {
  bool scale = true;  // uint8 inputs / 255.
  std::vector<float> mean;
  std::vector<float> std;
  std::vector<int64_t> sample_shape;  // Empty: inferred from the model.
  double eval_fraction = 0.1;
};

enum class LossKind { kAuto, kCrossEntropy, kDistillation };

struct LossConfig {
  LossKind kind = LossKind::kAuto;
  double temperature = 4;
  double hard_label_weight = 0;
};

enum class DeviceChoice { kAuto, kCpu, kCuda };

struct EngineConfig {
  std::string preset;
  std::vector<StageConfig> stages;
  TrainingConfig training;
  DataConfig data;
  LossConfig loss;
  LayerOverride fc;                  // Rank-2 weights.
  LayerOverride conv;                // Rank >= 3 weights.
  std::vector<LayerOverride> rules;  // First match wins.
  uint64_t seed = 0;
  DeviceChoice device = DeviceChoice::kAuto;
  GoalConfig goal;
  // The spec as JSON, recorded in the .cdz manifest and the report.
  std::string spec_json;
};

// The training learning rate in effect: the spec's, or the optimizer's
// default.
inline double TrainingLearningRate(const TrainingConfig& t) {
  return t.learning_rate > 0 ? t.learning_rate
                             : DefaultLearningRate(t.optimizer);
}

// The fraction of the training data a search holds out for validation: its
// stage's validation_fraction; 0 without a search stage.
inline double ValidationFraction(const EngineConfig& config) {
  for (const StageConfig& s : config.stages) {
    if (s.kind == StageConfig::Kind::kSearch) {
      return s.search.validation_fraction;
    }
  }
  return 0;
}

// True when `name` matches the glob `pattern` ('*' any run, '?' one char).
bool GlobMatch(const std::string& pattern, const std::string& name);

// The settings for one floating parameter of role `role` (tensor_role.h):
// rank decides fc (< 3) or conv (>= 3) settings. Roles compressed by default
// (layer weights) are compressed unless the fc/conv defaults or a rule say
// otherwise; anything else is stored raw unless a matching rule says
// compress. Buffers are never compressed.
LayerConfig ResolveLayer(const EngineConfig& config, const std::string& name,
                         int rank, TensorRole role);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_CONFIG_H_
