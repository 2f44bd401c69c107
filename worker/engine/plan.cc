#include "worker/engine/plan.h"

#include "absl/strings/str_cat.h"
#include "worker/engine/model.h"
#include "worker/engine/stage.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"
#include "worker/engine/weight_stats.h"

namespace condense::engine {
namespace {

// Prunes and clusters `values` (float32, CPU, contiguous) in place as `tp`
// says, as the quantize stage does; returns the codebook it is stored with.
absl::StatusOr<std::vector<float>> Share(const CompressionPlan& plan,
                                         const TensorPlan& tp,
                                         torch::Tensor& values) {
  torch::NoGradGuard no_grad;
  if (tp.sparsity > 0) {
    values.masked_fill_(TopMagnitudeMask(values, tp.sparsity).logical_not(),
                        0.0);
  }
  TensorState t;
  t.name = tp.name;
  t.tensor = values;
  t.weights = {values.data_ptr<float>(), static_cast<size_t>(values.numel())};
  t.settings = tp.settings;
  t.seed = plan.seed;
  StageConfig quantize;
  quantize.kind = StageConfig::Kind::kQuantize;
  quantize.quantize = plan.quantize;
  if (auto rec = MakeStage(quantize)->RunOnTensor(t); !rec.ok()) {
    return rec.status();
  }
  return t.codebook;
}

}  // namespace

CompressionPlan ResolvePlan(const EngineConfig& config,
                            const std::vector<TensorEntry>& index) {
  CompressionPlan plan;
  plan.seed = config.seed;
  for (const StageConfig& s : config.stages) {
    if (s.kind != StageConfig::Kind::kQuantize) continue;
    plan.quantize = s.quantize;
    break;
  }
  bool seen_conv = false;
  for (const TensorEntry& e : index) {
    TensorPlan tp;
    tp.name = e.name;
    tp.role = e.role;
    if (e.floating() && e.parameter) {
      tp.settings = ResolveLayer(config, e.name,
                                 static_cast<int>(e.shape.size()), e.role);
    }
    tp.sparsity = tp.settings.compress ? tp.settings.sparsity : 0;
    const bool conv =
        tp.settings.compress &&
        TakesConvSettings(e.role, static_cast<int>(e.shape.size()));
    tp.first_conv = conv && !seen_conv;
    seen_conv = seen_conv || conv;
    plan.tensors.push_back(std::move(tp));
  }
  return plan;
}

absl::StatusOr<PlanCost> Evaluate(const CompressionPlan& plan, Model& model,
                                  const TrainEnv* env,
                                  const codec::Manifest& manifest) {
  if (plan.tensors.size() != model.tensors().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the plan has ", plan.tensors.size(),
                     " tensors, the model ", model.tensors().size()));
  }
  std::string file;
  auto writer = codec::CdzWriter::Create(codec::NewStringFile(&file), manifest);
  if (!writer.ok()) return writer.status();
  const bool measure = env != nullptr && env->data != nullptr;
  // Dense copies of what the measurement changes, restored on every exit.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved;
  struct Restore {
    std::vector<std::pair<torch::Tensor, torch::Tensor>>& saved;
    ~Restore() {
      torch::NoGradGuard no_grad;
      for (auto& [live, dense] : saved) live.copy_(dense);
    }
  } restore{saved};
  PlanCost cost;
  absl::Status st = TorchCall("evaluating a plan", [&]() -> absl::Status {
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
      const TensorPlan& tp = plan.tensors[i];
      const NamedTensor& nt = model.tensors()[i];
      if (tp.name != nt.name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "plan tensor ", i, " is ", tp.name, ", the model's is ", nt.name));
      }
      torch::Tensor values = nt.tensor.detach().to(torch::kCPU).clone();
      if (!tp.settings.compress || !values.is_floating_point()) {
        auto dtype = CodecDType(values.scalar_type());
        if (!dtype.ok()) return dtype.status();
        if (auto s = (*writer)->AddRaw(
                nt.name, *dtype, CodecShape(values),
                {static_cast<const uint8_t*>(values.data_ptr()),
                 static_cast<size_t>(values.numel() * values.element_size())});
            !s.ok()) {
          return s;
        }
        continue;
      }
      auto codebook = Share(plan, tp, values);
      if (!codebook.ok()) return codebook.status();
      auto encoded = codec::CdzWriter::EncodeQuantized(
          nt.name, codec::DType::kF32, CodecShape(values),
          {values.data_ptr<float>(), static_cast<size_t>(values.numel())},
          *codebook, EncodeOptions(tp.settings));
      if (!encoded.ok()) return encoded.status();
      if (auto s = (*writer)->AddEncoded(*std::move(encoded)); !s.ok()) {
        return s;
      }
      if (measure) {
        torch::NoGradGuard no_grad;
        saved.emplace_back(nt.tensor, nt.tensor.detach().clone());
        nt.tensor.detach().copy_(values);
      }
    }
    if (auto s = (*writer)->Finish(); !s.ok()) return s;
    if (measure) cost.top1 = engine::Evaluate(*env).top1;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  const codec::ModelSize& sizes = (*writer)->sizes();
  cost.file_bytes = sizes.file_bytes;
  cost.original_bytes = sizes.OriginalBytes();
  cost.ratio = sizes.Ratio();
  for (const codec::TensorSize& t : sizes.tensors) {
    cost.tensor_bytes.push_back(t.total_bytes);
  }
  return cost;
}

}  // namespace condense::engine
