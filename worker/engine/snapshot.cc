#include "worker/engine/snapshot.h"

#include "absl/strings/str_cat.h"

namespace condense::engine {
namespace {

torch::Tensor CloneIfDefined(const torch::Tensor& t) {
  return t.defined() ? t.detach().clone() : torch::Tensor();
}

}  // namespace

void WriteIfDefined(torch::serialize::OutputArchive& a, const std::string& key,
                    const torch::Tensor& t) {
  if (t.defined()) a.write(key, t.detach().to(torch::kCPU));
}

torch::Tensor ReadIfPresent(torch::serialize::InputArchive& a,
                            const std::string& key,
                            const torch::Device& device) {
  torch::Tensor t;
  if (!a.try_read(key, t)) return torch::Tensor();
  return t.to(device);
}

Snapshot TakeSnapshot(Model& model) {
  torch::NoGradGuard no_grad;
  Snapshot s;
  for (const NamedTensor& nt : model.tensors()) {
    s.tensors.push_back(nt.tensor.detach().clone());
  }
  for (const Layer& l : model.layers()) {
    s.layers.push_back({CloneIfDefined(l.mask), CloneIfDefined(l.nz_index),
                        CloneIfDefined(l.nz_assign),
                        CloneIfDefined(l.centroids), l.dense_std, l.config});
    s.sparsity.push_back(l.sparsity());
  }
  return s;
}

void RestoreSnapshot(Model& model, const Snapshot& s) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < s.tensors.size(); ++i) {
    model.tensors()[i].tensor.detach().copy_(s.tensors[i]);
  }
  for (size_t i = 0; i < s.layers.size(); ++i) {
    Layer& l = model.layers()[i];
    const Snapshot::LayerState& st = s.layers[i];
    l.mask = CloneIfDefined(st.mask);
    l.nz_index = CloneIfDefined(st.nz_index);
    l.nz_assign = CloneIfDefined(st.nz_assign);
    l.centroids = CloneIfDefined(st.centroids);
    l.dense_std = st.dense_std;
    l.config = st.config;
  }
}

void WriteSnapshot(torch::serialize::OutputArchive& a,
                   const std::string& prefix, const Snapshot& s) {
  for (size_t i = 0; i < s.tensors.size(); ++i) {
    a.write(absl::StrCat(prefix, "t", i), s.tensors[i].to(torch::kCPU));
  }
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const Snapshot::LayerState& l = s.layers[i];
    const std::string p = absl::StrCat(prefix, "l", i, "_");
    WriteIfDefined(a, p + "mask", l.mask);
    WriteIfDefined(a, p + "nz_index", l.nz_index);
    WriteIfDefined(a, p + "nz_assign", l.nz_assign);
    WriteIfDefined(a, p + "centroids", l.centroids);
    a.write(p + "dense_std", c10::IValue(l.dense_std));
    a.write(p + "bits", c10::IValue(int64_t{l.config.bits}));
    a.write(p + "gap_bits", c10::IValue(int64_t{l.config.gap_bits}));
    a.write(p + "sparsity", c10::IValue(s.sparsity[i]));
  }
}

Snapshot ReadSnapshot(torch::serialize::InputArchive& a,
                      const std::string& prefix, Model& model,
                      const torch::Device& device) {
  Snapshot s;
  for (size_t i = 0; i < model.tensors().size(); ++i) {
    torch::Tensor t;
    a.read(absl::StrCat(prefix, "t", i), t);
    s.tensors.push_back(t.to(device));
  }
  c10::IValue value;
  for (size_t i = 0; i < model.layers().size(); ++i) {
    const std::string p = absl::StrCat(prefix, "l", i, "_");
    Snapshot::LayerState l;
    l.mask = ReadIfPresent(a, p + "mask", device);
    l.nz_index = ReadIfPresent(a, p + "nz_index", device);
    l.nz_assign = ReadIfPresent(a, p + "nz_assign", device);
    l.centroids = ReadIfPresent(a, p + "centroids", device);
    a.read(p + "dense_std", value);
    l.dense_std = value.toDouble();
    l.config = model.layers()[i].config;
    a.read(p + "bits", value);
    l.config.bits = static_cast<int>(value.toInt());
    a.read(p + "gap_bits", value);
    l.config.gap_bits = static_cast<int>(value.toInt());
    a.read(p + "sparsity", value);
    s.sparsity.push_back(value.toDouble());
    s.layers.push_back(std::move(l));
  }
  return s;
}

}  // namespace condense::engine
