#include "worker/engine/requirements.h"

#include "absl/strings/str_cat.h"

namespace condense::engine {

const char* ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kTorchScript:
      return "torchscript";
    case ModelFormat::kSafetensors:
      return "safetensors";
    case ModelFormat::kSafetensorsSharded:
      return "safetensors-sharded";
    case ModelFormat::kOnnx:
      return "onnx";
  }
  return "unknown";
}

absl::StatusOr<ModelFormat> ParseModelFormat(const std::string& name) {
  for (ModelFormat f : {ModelFormat::kTorchScript, ModelFormat::kSafetensors,
                        ModelFormat::kSafetensorsSharded, ModelFormat::kOnnx}) {
    if (name == ModelFormatName(f)) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model format '", name,
      "': use torchscript, safetensors, safetensors-sharded or onnx"));
}

const char* StageName(StageConfig::Kind kind) {
  switch (kind) {
    case StageConfig::Kind::kPrune:
      return "prune";
    case StageConfig::Kind::kDsd:
      return "dsd";
    case StageConfig::Kind::kQuantize:
      return "quantize";
    case StageConfig::Kind::kFinetune:
      return "finetune";
    case StageConfig::Kind::kSearch:
      return "search";
  }
  return "unknown";
}

int QuantizeEpochs(const QuantizeConfig& q, bool has_data) {
  return q.epochs.value_or(has_data ? 2 : 0);
}

int StageEpochs(const StageConfig& s, bool has_data) {
  switch (s.kind) {
    case StageConfig::Kind::kPrune:
      return s.prune.epochs_per_step * s.prune.steps;
    case StageConfig::Kind::kDsd:
      return s.dsd.sparse_epochs + s.dsd.dense_epochs + 1;
    case StageConfig::Kind::kQuantize:
      return QuantizeEpochs(s.quantize, has_data);
    case StageConfig::Kind::kFinetune:
      return s.finetune.epochs;
    case StageConfig::Kind::kSearch:
      return s.search.max_epochs;
  }
  return 0;
}

namespace {

// What a format without a trainable module is, for the errors below.
const char* WeightsOnlyKind(ModelFormat format) {
  return format == ModelFormat::kOnnx
             ? "an ONNX model (compressed data-free: condense retrains "
               "TorchScript modules only)"
             : "a weights-only safetensors state dict";
}

}  // namespace

absl::Status CheckSpecFits(const EngineConfig& config, const JobFacts& facts) {
  const bool state_dict = IsStateDict(facts.format);
  if (state_dict && facts.has_data) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model is ", WeightsOnlyKind(facts.format),
                     ", which cannot be run on data: give a TorchScript model "
                     "(torch.jit.save) to retrain, or no dataset for data-free "
                     "compression (e.g. --preset quantize)"));
  }
  for (size_t i = 0; i < config.stages.size(); ++i) {
    const StageConfig& s = config.stages[i];
    if (StageEpochs(s, facts.has_data) == 0) continue;
    const char* name = StageName(s.kind);
    if (state_dict) {
      return absl::InvalidArgumentError(
          absl::StrCat("stage ", i, " (", name,
                       ") retrains the model, which needs a TorchScript file "
                       "(torch.jit.save); the model is ",
                       WeightsOnlyKind(facts.format),
                       ": use data-free stages (e.g. --preset quantize)"));
    }
    if (!facts.has_data) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stage ", i, " (", name,
          ") retrains the model but no data was given: give a dataset "
          "(--data or --train-data), or use a data-free spec (e.g. --preset "
          "quantize, or set the stage's epochs to 0)"));
    }
  }
  for (size_t i = 0; i < config.stages.size(); ++i) {
    if (config.stages[i].kind != StageConfig::Kind::kSearch) continue;
    if (!facts.has_data) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stage ", i,
          " (search) compresses to an accuracy goal and needs labelled "
          "data to measure it: give a dataset, or use a data-free preset "
          "(e.g. --preset quantize)"));
    }
    if (facts.labelled == false) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stage ", i,
          " (search) measures top-1 accuracy, but the data has no labels: "
          "give labelled data, or use a fixed recipe (e.g. --preset "
          "deep-compression, which distills from the dense model)"));
    }
  }
  if (config.loss.kind == LossKind::kCrossEntropy && facts.has_data &&
      facts.labelled == false) {
    return absl::InvalidArgumentError(
        "loss cross_entropy needs labels but the data has none: use "
        "distillation (the default without labels)");
  }
  return absl::OkStatus();
}

}  // namespace condense::engine
