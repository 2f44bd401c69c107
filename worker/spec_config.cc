#include "worker/spec_config.h"

#include "proto/spec_util.h"

namespace condense::worker {
namespace {

using engine::EngineConfig;
using engine::LayerOverride;
using engine::StageConfig;

LayerOverride ToOverride(const v1::LayerSettings& s,
                         const std::string& pattern = "") {
  LayerOverride o;
  o.pattern = pattern;
  if (s.has_compress()) o.compress = s.compress();
  if (s.has_prune()) o.prune = s.prune();
  if (s.has_bits()) o.bits = static_cast<int>(s.bits());
  if (s.has_gap_bits()) o.gap_bits = static_cast<int>(s.gap_bits());
  if (s.has_sensitivity()) o.sensitivity = s.sensitivity();
  if (s.has_sparsity()) o.sparsity = s.sparsity();
  if (s.has_rate_lambda()) o.rate_lambda = s.rate_lambda();
  if (s.has_fast_decode()) o.fast_decode = s.fast_decode();
  return o;
}

StageConfig ToStage(const v1::Stage& s) {
  StageConfig c;
  switch (s.kind_case()) {
    case v1::Stage::kPrune: {
      const auto& p = s.prune();
      c.kind = StageConfig::Kind::kPrune;
      switch (p.criterion()) {
        case v1::PruneStage::SPARSITY:
          c.prune.criterion = engine::PruneCriterion::kSparsity;
          break;
        case v1::PruneStage::GLOBAL_SPARSITY:
          c.prune.criterion = engine::PruneCriterion::kGlobalSparsity;
          break;
        default:
          c.prune.criterion = engine::PruneCriterion::kSensitivity;
      }
      if (p.has_steps()) c.prune.steps = static_cast<int>(p.steps());
      if (p.has_epochs_per_step()) {
        c.prune.epochs_per_step = static_cast<int>(p.epochs_per_step());
      }
      if (p.has_learning_rate()) c.prune.learning_rate = p.learning_rate();
      c.prune.global_sparsity = p.global_sparsity();
      break;
    }
    case v1::Stage::kDsd: {
      const auto& d = s.dsd();
      c.kind = StageConfig::Kind::kDsd;
      if (d.has_sparsity()) c.dsd.sparsity = d.sparsity();
      if (d.has_sparse_epochs()) {
        c.dsd.sparse_epochs = static_cast<int>(d.sparse_epochs());
      }
      if (d.has_dense_epochs()) {
        c.dsd.dense_epochs = static_cast<int>(d.dense_epochs());
      }
      if (d.has_learning_rate()) c.dsd.learning_rate = d.learning_rate();
      c.dsd.prune_first_conv = d.prune_first_conv();
      break;
    }
    case v1::Stage::kQuantize: {
      const auto& q = s.quantize();
      c.kind = StageConfig::Kind::kQuantize;
      switch (q.init()) {
        case v1::QuantizeStage::DENSITY:
          c.quantize.init = engine::KMeansInit::kDensity;
          break;
        case v1::QuantizeStage::RANDOM:
          c.quantize.init = engine::KMeansInit::kRandom;
          break;
        default:
          c.quantize.init = engine::KMeansInit::kLinear;
      }
      c.quantize.solver = q.solver() == v1::QuantizeStage::OPTIMAL
                              ? engine::KMeansSolver::kOptimal
                              : engine::KMeansSolver::kLloyd;
      if (q.has_epochs()) c.quantize.epochs = static_cast<int>(q.epochs());
      if (q.has_learning_rate()) c.quantize.learning_rate = q.learning_rate();
      c.quantize.rate_lambda = q.rate_lambda();
      switch (q.importance()) {
        case v1::QuantizeStage::NONE:
          c.quantize.importance = engine::QuantizeConfig::Importance::kNone;
          break;
        case v1::QuantizeStage::SQUARED_GRADIENTS:
          c.quantize.importance =
              engine::QuantizeConfig::Importance::kSquaredGradients;
          break;
        default:
          c.quantize.importance = engine::QuantizeConfig::Importance::kAuto;
      }
      break;
    }
    case v1::Stage::kFinetune:
      c.kind = StageConfig::Kind::kFinetune;
      if (s.finetune().has_epochs()) {
        c.finetune.epochs = static_cast<int>(s.finetune().epochs());
      }
      if (s.finetune().has_learning_rate()) {
        c.finetune.learning_rate = s.finetune().learning_rate();
      }
      break;
    case v1::Stage::kSearch: {
      const auto& s2 = s.search();
      c.kind = StageConfig::Kind::kSearch;
      if (s2.has_max_epochs()) {
        c.search.max_epochs = static_cast<int>(s2.max_epochs());
      }
      c.search.max_seconds = s2.max_seconds();
      if (s2.has_max_candidates()) {
        c.search.max_candidates = static_cast<int>(s2.max_candidates());
      }
      if (s2.has_validation_fraction()) {
        c.search.validation_fraction = s2.validation_fraction();
      }
      if (s2.has_sensitivity_samples()) {
        c.search.sensitivity_samples =
            static_cast<int>(s2.sensitivity_samples());
      }
      break;
    }
    case v1::Stage::KIND_NOT_SET:
      break;  // Refused by ValidateSpec.
  }
  return c;
}

}  // namespace

absl::StatusOr<EngineConfig> ToEngineConfig(const v1::CompressionSpec& spec) {
  if (auto st = spec::ValidateSpec(spec); !st.ok()) return st;
  EngineConfig c;
  c.preset = spec.preset();
  for (const auto& s : spec.stages()) c.stages.push_back(ToStage(s));

  const auto& t = spec.training();
  c.training.optimizer = t.optimizer() == v1::TrainingOptions::SGD
                             ? engine::OptimizerKind::kSgd
                             : engine::OptimizerKind::kAdam;
  if (t.has_learning_rate()) c.training.learning_rate = t.learning_rate();
  if (t.has_momentum()) c.training.momentum = t.momentum();
  c.training.weight_decay = t.weight_decay();
  if (t.has_batch_size()) {
    c.training.batch_size = static_cast<int>(t.batch_size());
  }
  c.training.max_train_samples = t.max_train_samples();
  c.training.max_eval_samples = t.max_eval_samples();

  const auto& d = spec.data();
  if (d.has_scale()) c.data.scale = d.scale();
  c.data.mean.assign(d.mean().begin(), d.mean().end());
  c.data.std.assign(d.std().begin(), d.std().end());
  c.data.sample_shape.assign(d.sample_shape().begin(), d.sample_shape().end());
  if (d.has_eval_fraction()) c.data.eval_fraction = d.eval_fraction();
  const auto& g = spec.goal();
  if (g.has_max_accuracy_drop()) {
    c.goal.max_accuracy_drop = g.max_accuracy_drop();
  }
  c.goal.max_bytes = g.max_bytes();
  c.goal.min_ratio = g.min_ratio();

  const auto& l = spec.loss();
  switch (l.kind()) {
    case v1::LossOptions::CROSS_ENTROPY:
      c.loss.kind = engine::LossKind::kCrossEntropy;
      break;
    case v1::LossOptions::DISTILLATION:
      c.loss.kind = engine::LossKind::kDistillation;
      break;
    default:
      c.loss.kind = engine::LossKind::kAuto;
  }
  if (l.has_temperature()) c.loss.temperature = l.temperature();
  c.loss.hard_label_weight = l.hard_label_weight();

  c.fc = ToOverride(spec.fc());
  c.conv = ToOverride(spec.conv());
  for (const auto& rule : spec.layers()) {
    c.rules.push_back(ToOverride(rule.settings(), rule.pattern()));
  }
  c.seed = spec.seed();
  if (spec.device() == "cpu") c.device = engine::DeviceChoice::kCpu;
  if (spec.device() == "cuda") c.device = engine::DeviceChoice::kCuda;
  c.spec_json = spec::SpecToJson(spec);
  return c;
}

}  // namespace condense::worker
