#include "worker/engine/model.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "codec/safetensors.h"
#include "codec/sha256.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
namespace {

bool WeightLike(const std::string& name) {
  return name == "weight" || name.ends_with(".weight") ||
         name.ends_with("_weight");
}

absl::StatusOr<torch::Tensor> SafetensorsTensor(
    const codec::SafetensorsReader& reader, const codec::SafetensorsEntry& e) {
  std::vector<int64_t> shape(e.shape.begin(), e.shape.end());
  if (codec::IsFloatingDType(e.dtype)) {
    std::vector<float> values;
    if (auto st = reader.ReadFloat32(e, &values); !st.ok()) return st;
    return torch::tensor(values).reshape(shape);
  }
  std::vector<uint8_t> bytes;
  if (auto st = reader.ReadBytes(e, &bytes); !st.ok()) return st;
  auto dtype = TorchDType(e.dtype);
  if (!dtype.ok()) return dtype.status();
  return torch::from_blob(bytes.data(), shape,
                          torch::TensorOptions().dtype(*dtype))
      .clone();
}

}  // namespace

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

absl::StatusOr<std::string> FileSha256(const std::string& path) {
  return codec::FileSha256Hex(path);
}

absl::StatusOr<Model> Model::Load(const std::string& path,
                                  const EngineConfig& config,
                                  const torch::Device& device) {
  Model model;
  model.path_ = path;
  auto digest = FileSha256(path);
  if (!digest.ok()) {
    return absl::NotFoundError(absl::StrCat("cannot read model ", path, ": ",
                                            digest.status().message()));
  }
  model.sha256_ = *digest;
  std::vector<std::pair<NamedTensor, bool>> entries;  // (tensor, floating)
  if (path.ends_with(".safetensors")) {
    auto reader = codec::SafetensorsReader::OpenPath(path);
    if (!reader.ok()) return reader.status();
    absl::Status st = TorchCall("reading " + path, [&]() -> absl::Status {
      for (const auto& e : (*reader)->entries()) {
        auto t = SafetensorsTensor(**reader, e);
        if (!t.ok()) return t.status();
        NamedTensor nt;
        nt.name = e.name;
        nt.tensor = t->to(device);
        nt.is_parameter = codec::IsFloatingDType(e.dtype);
        model.tensors_.push_back(std::move(nt));
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
  } else {
    absl::Status st = TorchCall(
        absl::StrCat("loading TorchScript model ", path,
                     " (condense takes torch.jit.save files, or .safetensors "
                     "state dicts)"),
        [&]() -> absl::Status {
          model.module_ = torch::jit::load(path, device);
          FloatingToFloat32(*model.module_);
          std::map<const void*, size_t> seen;
          auto add = [&](const std::string& name, const torch::Tensor& t,
                         bool is_parameter) {
            auto [it, fresh] =
                seen.emplace(t.unsafeGetTensorImpl(), model.tensors_.size());
            if (!fresh) {
              model.tensors_[it->second].aliases.push_back(name);
              return;
            }
            model.tensors_.push_back({name, {}, t, is_parameter});
          };
          for (const auto& p : model.module_->named_parameters(true)) {
            // Models saved frozen still retrain.
            if (p.value.is_floating_point()) p.value.set_requires_grad(true);
            add(p.name, p.value, true);
          }
          for (const auto& b : model.module_->named_buffers(true)) {
            add(b.name, b.value, false);
          }
          return absl::OkStatus();
        },
        absl::StatusCode::kInvalidArgument);
    if (!st.ok()) return st;
  }
  bool seen_conv = false;
  for (const NamedTensor& nt : model.tensors_) {
    if (!nt.tensor.is_floating_point() || !nt.is_parameter) continue;
    const int rank = static_cast<int>(nt.tensor.dim());
    LayerConfig lc = ResolveLayer(config, nt.name, rank,
                                  nt.is_parameter && WeightLike(nt.name));
    if (!lc.compress) continue;
    Layer layer;
    layer.name = nt.name;
    layer.param = nt.tensor;
    layer.config = lc;
    layer.conv = rank >= 3;
    layer.first_conv = layer.conv && !seen_conv;
    seen_conv = seen_conv || layer.conv;
    model.layers_.push_back(std::move(layer));
  }
  if (model.layers_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no tensor of ", path,
                     " is selected for compression: by default "
                     "weights of rank >= 2 are; add a rule, e.g. --set "
                     "'layers=[{\"pattern\":"
                     "\"*weight\",\"settings\":{\"compress\":true}}]'"));
  }
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
