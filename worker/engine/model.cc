#include "worker/engine/model.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "worker/engine/plan.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
Layer Layer::Of(const std::string& name, const torch::Tensor& param,
                const LayerConfig& config, bool first_conv) {
  Layer l;
  l.name = name;
  l.param = param;
  l.config = config;
  l.conv = param.dim() >= 3;
  l.first_conv = first_conv;
  return l;
}

void Layer::ApplyCentroids() {
  torch::NoGradGuard no_grad;
  param.zero_();
  param.view(-1).index_put_({nz_index}, centroids.detach().index({nz_assign}));
  // A centroid that reached zero must read +0.0, not -0.0.
  param.masked_fill_(param == 0, 0.0);
}

void Layer::ApplyMask() {
  if (!mask.defined()) return;
  torch::NoGradGuard no_grad;
  param.masked_fill_(mask.logical_not(), 0.0);
}

int64_t Layer::nonzeros() const {
  return param.count_nonzero().item<int64_t>();
}

double Layer::sparsity() const {
  return 1.0 - static_cast<double>(nonzeros()) /
                   static_cast<double>(std::max<int64_t>(param.numel(), 1));
}

void FloatingToFloat32(torch::jit::Module& module) {
  torch::NoGradGuard no_grad;
  auto convert = [](const torch::Tensor& t) {
    // Contiguous too: training views weights as flat vectors.
    if (t.is_floating_point() &&
        (t.scalar_type() != torch::kFloat32 || !t.is_contiguous())) {
      t.set_data(t.to(torch::kFloat32).contiguous());
    }
  };
  for (const auto& p : module.parameters(true)) convert(p);
  for (const auto& b : module.buffers(true)) convert(b);
}

absl::Status NothingToCompressError(const std::string& path) {
  return absl::InvalidArgumentError(absl::StrCat(
      "no tensor of ", path,
      " is selected for compression: by default the weights of linear, "
      "convolution, embedding, recurrent and attention layers are; add a "
      "rule, e.g. --set "
      "'layers=[{\"pattern\":\"*weight\",\"settings\":{\"compress\":"
      "true}}]'"));
}

absl::StatusOr<Model> Model::Load(std::unique_ptr<ModelSource> source,
                                  const EngineConfig& config,
                                  const torch::Device& device) {
  Model model;
  model.source_ = std::move(source);
  const ModelSource& src = *model.source_;
  absl::Status st =
      TorchCall(absl::StrCat("loading ", src.path()), [&]() -> absl::Status {
        torch::jit::Module* module = model.source_->module();
        if (module != nullptr && device != torch::kCPU) module->to(device);
        std::map<std::string, torch::Tensor> live;
        if (module != nullptr) {
          for (const auto& p : module->named_parameters(true)) {
            // Models saved frozen still retrain.
            if (p.value.is_floating_point()) p.value.set_requires_grad(true);
            live[p.name] = p.value;
          }
          for (const auto& b : module->named_buffers(true)) {
            live[b.name] = b.value;
          }
        }
        for (size_t i = 0; i < src.tensors().size(); ++i) {
          const TensorEntry& e = src.tensors()[i];
          NamedTensor nt;
          nt.name = e.name;
          nt.aliases = e.aliases;
          nt.is_parameter = e.parameter;
          nt.role = e.role;
          if (module != nullptr) {
            nt.tensor = live.at(e.name);
          } else {
            auto t = src.Read(i);
            if (!t.ok()) return t.status();
            nt.tensor = t->to(device);
          }
          model.tensors_.push_back(std::move(nt));
        }
        return absl::OkStatus();
      });
  if (!st.ok()) return st;
  const CompressionPlan plan = ResolvePlan(config, src.tensors());
  for (size_t i = 0; i < model.tensors_.size(); ++i) {
    const TensorPlan& tp = plan.tensors[i];
    if (!tp.settings.compress) continue;
    const NamedTensor& nt = model.tensors_[i];
    model.layers_.push_back(
        Layer::Of(nt.name, nt.tensor, tp.settings, tp.first_conv));
  }
  if (model.layers_.empty()) return NothingToCompressError(src.path());
  return model;
}

const Layer* Model::FindLayer(const torch::Tensor& t) const {
  for (const Layer& l : layers_) {
    if (l.param.is_same(t)) return &l;
  }
  return nullptr;
}

std::vector<torch::Tensor> Model::PlainParameters() const {
  std::vector<torch::Tensor> out;
  for (const NamedTensor& nt : tensors_) {
    if (!nt.is_parameter || !nt.tensor.requires_grad()) continue;
    const Layer* layer = FindLayer(nt.tensor);
    if (layer == nullptr || !layer->quantized()) out.push_back(nt.tensor);
  }
  return out;
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const NamedTensor& nt : tensors_) {
    if (nt.is_parameter) n += nt.tensor.numel();
  }
  return n;
}

double Model::Sparsity() const {
  int64_t total = 0, nonzero = 0;
  for (const Layer& l : layers_) {
    total += l.param.numel();
    nonzero += l.nonzeros();
  }
  return total == 0 ? 0 : 1.0 - static_cast<double>(nonzero) / total;
}

}  // namespace condense::engine
