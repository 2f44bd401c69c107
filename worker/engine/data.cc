#include "worker/engine/data.h"

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "codec/safetensors.h"
#include "worker/engine/idx_file.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
namespace {

namespace fs = std::filesystem;

torch::Dtype IdxTorchType(IdxType t) {
  switch (t) {
    case IdxType::kU8:
      return torch::kUInt8;
    case IdxType::kI8:
      return torch::kInt8;
    case IdxType::kI16:
      return torch::kInt16;
    case IdxType::kI32:
      return torch::kInt32;
    case IdxType::kF32:
      return torch::kFloat32;
    case IdxType::kF64:
      return torch::kFloat64;
  }
  return torch::kUInt8;
}

// A tensor over `bytes` that owns them (no copy).
torch::Tensor OwningTensor(std::vector<uint8_t> bytes,
                           const std::vector<int64_t>& shape,
                           torch::Dtype dtype) {
  auto owned = std::make_unique<std::vector<uint8_t>>(std::move(bytes));
  torch::Tensor t = torch::from_blob(
      owned->data(), shape, [raw = owned.get()](void*) { delete raw; },
      torch::TensorOptions().dtype(dtype));
  owned.release();  // The tensor's deleter owns it now.
  return t;
}

absl::StatusOr<torch::Tensor> IdxTensor(const std::string& path) {
  auto array = ReadIdxFile(path);
  if (!array.ok()) return array.status();
  return OwningTensor(std::move(array->data), array->dims,
                      IdxTorchType(array->type));
}

absl::StatusOr<Split> LoadSafetensorsSplit(const std::string& path) {
  auto reader = codec::SafetensorsReader::OpenPath(path);
  if (!reader.ok()) return reader.status();
  Split split;
  for (const auto& e : (*reader)->entries()) {
    if (e.name != "inputs" && e.name != "targets") continue;
    auto dtype = TorchDType(e.dtype);
    if (!dtype.ok()) return dtype.status();
    std::vector<uint8_t> bytes;
    if (auto st = (*reader)->ReadBytes(e, &bytes); !st.ok()) return st;
    torch::Tensor t = OwningTensor(std::move(bytes),
                                   {e.shape.begin(), e.shape.end()}, *dtype);
    (e.name == "inputs" ? split.inputs : split.targets) = t;
  }
  if (!split.inputs.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " has no tensor named \"inputs\": a data file holds \"inputs\" "
        "([N, ...]) and optionally \"targets\" ([N] class indices)"));
  }
  return split;
}

absl::StatusOr<Split> LoadIdxSplit(const std::string& images_path) {
  Split split;
  auto inputs = IdxTensor(images_path);
  if (!inputs.ok()) return inputs.status();
  split.inputs = *inputs;
  std::string labels_path =
      absl::StrReplaceAll(images_path, {{"images-idx3", "labels-idx1"}});
  if (labels_path != images_path && fs::exists(labels_path)) {
    auto targets = IdxTensor(labels_path);
    if (!targets.ok()) return targets.status();
    split.targets = *targets;
  }
  return split;
}

absl::StatusOr<Split> LoadSplit(const std::string& path) {
  if (!fs::exists(path)) {
    return absl::NotFoundError(absl::StrCat("data file ", path, " not found"));
  }
  if (path.ends_with(".safetensors")) return LoadSafetensorsSplit(path);
  return LoadIdxSplit(path);
}

// "train-images-idx3-ubyte" with or without ".gz" in `dir`.
absl::StatusOr<std::string> FindMnistFile(const std::string& dir,
                                          const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    std::string path = (fs::path(dir) / (stem + suffix)).string();
    if (fs::exists(path)) return path;
  }
  return absl::NotFoundError(absl::StrCat(
      "data directory ", dir, " has no ", stem,
      "[.gz]; an MNIST-layout "
      "directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, "
      "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)"));
}

// Checks one split's tensors agree and the targets are class indices.
absl::Status CheckSplit(const std::string& what, Split* split) {
  if (split->inputs.dim() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " inputs have shape ", c10::str(split->inputs.sizes()),
        ": expected [N, ...] with one sample per row"));
  }
  if (!split->targets.defined()) return absl::OkStatus();
  if (split->targets.dim() != 1 ||
      split->targets.size(0) != split->inputs.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " targets have shape ", c10::str(split->targets.sizes()),
        " but there are ", split->inputs.size(0),
        " inputs: expected one class index per input, shape [",
        split->inputs.size(0), "]"));
  }
  if (torch::isFloatingType(split->targets.scalar_type()) ||
      split->targets.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " targets are ", c10::toString(split->targets.scalar_type()),
        ": expected integer class indices"));
  }
  split->targets = split->targets.to(torch::kInt64);
  if (split->targets.numel() > 0 && split->targets.min().item<int64_t>() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " targets include a negative class index"));
  }
  return absl::OkStatus();
}

Split Take(const Split& s, const torch::Tensor& index) {
  Split out;
  out.inputs = s.inputs.index_select(0, index);
  if (s.targets.defined()) out.targets = s.targets.index_select(0, index);
  return out;
}

Split Cap(const Split& s, uint64_t max) {
  if (max == 0 || static_cast<uint64_t>(s.size()) <= max) return s;
  Split out;
  out.inputs = s.inputs.narrow(0, 0, static_cast<int64_t>(max));
  if (s.targets.defined()) {
    out.targets = s.targets.narrow(0, 0, static_cast<int64_t>(max));
  }
  return out;
}

// Moves a seeded `fraction` of `from` into the returned split; at least one
// sample held and two left, else InvalidArgument ending with `what_for`.
absl::StatusOr<Split> HoldOut(double fraction, uint64_t seed, uint64_t salt,
                              const char* what_for, Split* from) {
  const int64_t n = from->size();
  const auto held = static_cast<int64_t>(static_cast<double>(n) * fraction);
  if (held < 1 || n - held < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot hold out ", fraction, " of ", n,
                     " training samples for ", what_for));
  }
  const torch::Tensor order = Data::Shuffle(n, seed, salt);
  const Split all = *from;
  *from = Take(all, order.narrow(0, held, n - held));
  return Take(all, order.narrow(0, 0, held));
}

std::string Shape(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

}  // namespace

absl::StatusOr<Data> Data::Load(const DataSources& sources,
                                const EngineConfig& config) {
  Data data;
  data.config_ = config.data;
  absl::Status status = TorchCall(
      "loading data",
      [&]() -> absl::Status {
        std::string train_path = sources.train;
        std::string eval_path = sources.eval;
        if (!sources.dir.empty()) {
          if (!fs::is_directory(sources.dir)) {
            return absl::NotFoundError(
                absl::StrCat("data directory ", sources.dir, " not found"));
          }
          auto train = FindMnistFile(sources.dir, "train-images-idx3-ubyte");
          if (!train.ok()) return train.status();
          train_path = *train;
          auto eval = FindMnistFile(sources.dir, "t10k-images-idx3-ubyte");
          if (eval.ok()) eval_path = *eval;
        }
        auto train = LoadSplit(train_path);
        if (!train.ok()) return train.status();
        data.train_ = *std::move(train);
        if (auto st = CheckSplit("training", &data.train_); !st.ok()) {
          return st;
        }
        data.description_["train_source"] = train_path;
        if (!eval_path.empty()) {
          auto eval = LoadSplit(eval_path);
          if (!eval.ok()) return eval.status();
          data.eval_ = *std::move(eval);
          if (auto st = CheckSplit("evaluation", &data.eval_); !st.ok()) {
            return st;
          }
          data.description_["eval_source"] = eval_path;
        } else {
          auto held = HoldOut(config.data.eval_fraction, config.seed,
                              /*salt=*/0xE7A1,
                              "evaluation: give evaluation data or more "
                              "samples",
                              &data.train_);
          if (!held.ok()) return held.status();
          data.eval_ = *std::move(held);
          data.description_["eval_source"] = absl::StrCat(
              "held out ", data.eval_.size(),
              " samples of the training data (seed ", config.seed, ")");
        }
        if (data.train_.inputs.sizes().slice(1) !=
            data.eval_.inputs.sizes().slice(1)) {
          return absl::InvalidArgumentError(
              absl::StrCat("training samples have shape ",
                           c10::str(data.train_.inputs.sizes().slice(1)),
                           " but evaluation samples ",
                           c10::str(data.eval_.inputs.sizes().slice(1)),
                           ": both must be the same"));
        }
        if (data.train_.targets.defined() != data.eval_.targets.defined()) {
          return absl::InvalidArgumentError(
              "one of the training and evaluation data has labels and the "
              "other has none: give labels for both or for neither");
        }
        data.train_ = Cap(data.train_, config.training.max_train_samples);
        data.eval_ = Cap(data.eval_, config.training.max_eval_samples);
        if (const double fraction = ValidationFraction(config); fraction > 0) {
          // Another salt than the evaluation hold-out's; the two never
          // overlap, since validation comes from what training kept.
          auto held = HoldOut(fraction, config.seed, /*salt=*/0x5A11,
                              "the search's validation: give more training "
                              "data",
                              &data.train_);
          if (!held.ok()) return held.status();
          data.validation_ = *std::move(held);
          data.description_["validation_samples"] = data.validation_.size();
        }
        if (data.train_.size() < 2 || data.eval_.size() < 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("too little data: ", data.train_.size(),
                           " training and ", data.eval_.size(),
                           " evaluation samples (need at least 2 and "
                           "1)"));
        }
        return absl::OkStatus();
      },
      absl::StatusCode::kInvalidArgument);
  if (!status.ok()) return status;
  return data;
}

absl::Status Data::FitTo(torch::jit::Module& module,
                         const torch::Device& device) {
  const auto raw_shape = train_.inputs.sizes().slice(1).vec();
  int64_t per_sample = 1;
  for (int64_t d : raw_shape) per_sample *= d;
  std::vector<std::vector<int64_t>> candidates;
  if (!config_.sample_shape.empty()) {
    int64_t want = 1;
    for (int64_t d : config_.sample_shape) want *= d;
    if (want != per_sample) {
      return absl::InvalidArgumentError(
          absl::StrCat("data.sample_shape ", Shape(config_.sample_shape),
                       " holds ", want, " values but each sample has ",
                       per_sample, " (shape ", Shape(raw_shape), ")"));
    }
    candidates.push_back(config_.sample_shape);
  } else {
    candidates.push_back(raw_shape);
    if (raw_shape.size() > 1) candidates.push_back({per_sample});
    std::vector<int64_t> channel = raw_shape;
    channel.insert(channel.begin(), 1);
    candidates.push_back(channel);
  }
  const size_t channels = config_.mean.size();
  std::string errors;
  for (const auto& shape : candidates) {
    if (channels > 1 &&
        (shape.empty() || shape[0] != static_cast<int64_t>(channels))) {
      continue;  // Per-channel normalization needs a channel axis.
    }
    sample_shape_ = shape;
    torch::Tensor out;
    try {
      torch::NoGradGuard no_grad;
      module.eval();
      const int64_t n = std::min<int64_t>(2, train_.size());
      auto batch = Prepare(train_.inputs.narrow(0, 0, n), device);
      out = module.forward({batch}).toTensor();
    } catch (const std::exception& e) {
      absl::StrAppend(&errors, "\n  as ", Shape(shape), ": ",
                      LastLine(e.what()));
      continue;
    }
    if (out.dim() != 2 || out.size(1) < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the model's output has shape ", c10::str(out.sizes()), " for input ",
          Shape(shape),
          ": condense retrains classifiers, whose output is [batch, "
          "classes] with at least 2 classes"));
    }
    classes_ = out.size(1);
    for (const Split* s : {&train_, &eval_}) {
      if (s->targets.defined() && s->targets.numel() > 0) {
        int64_t max_label = s->targets.max().item<int64_t>();
        if (max_label >= classes_) {
          return absl::InvalidArgumentError(absl::StrCat(
              s == &train_ ? "training" : "evaluation", " labels go up to ",
              max_label, " but the model has ", classes_,
              " outputs: labels must be in [0, ", classes_ - 1, "]"));
        }
      }
    }
    description_["sample_shape"] = sample_shape_;
    description_["classes"] = classes_;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the model does not accept the data: each sample has shape ",
      Shape(raw_shape), " (", c10::toString(train_.inputs.scalar_type()),
      "); tried", errors,
      "\nset data.sample_shape to the shape one sample should have"));
}

torch::Tensor Data::Prepare(const torch::Tensor& raw,
                            const torch::Device& device) const {
  torch::Tensor x = raw.to(device, /*non_blocking=*/true);
  const bool is_byte = x.scalar_type() == torch::kUInt8;
  x = x.to(torch::kFloat32);
  if (is_byte && config_.scale) x.div_(255.0f);
  std::vector<int64_t> shape = {x.size(0)};
  shape.insert(shape.end(), sample_shape_.begin(), sample_shape_.end());
  x = x.reshape(shape);
  if (!config_.mean.empty()) {
    auto opts = torch::TensorOptions().device(device);
    torch::Tensor mean = torch::tensor(config_.mean, opts);
    torch::Tensor std = torch::tensor(config_.std, opts);
    if (config_.mean.size() > 1) {
      std::vector<int64_t> view(shape.size(), 1);
      view[1] = static_cast<int64_t>(config_.mean.size());
      mean = mean.view(view);
      std = std.view(view);
    }
    x = (x - mean) / std;
  }
  return x;
}

torch::Tensor Data::Shuffle(int64_t n, uint64_t seed, uint64_t salt) {
  auto gen =
      at::detail::createCPUGenerator(seed * 0x9E3779B97F4A7C15ull ^ salt);
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
}

nlohmann::json Data::Describe() const {
  nlohmann::json d = description_;
  d["train_samples"] = train_.size();
  d["eval_samples"] = eval_.size();
  d["labelled"] = labelled();
  d["input_dtype"] = c10::toString(train_.inputs.scalar_type());
  d["scale"] = config_.scale && train_.inputs.scalar_type() == torch::kUInt8;
  d["mean"] = config_.mean;
  d["std"] = config_.std;
  return d;
}

void Data::MoveTo(const torch::Device& device) {
  for (Split* s : {&train_, &eval_, &validation_}) {
    if (!s->inputs.defined()) continue;
    s->inputs = s->inputs.to(device);
    if (s->targets.defined()) s->targets = s->targets.to(device);
  }
}

Data Data::ForSearch() const {
  Data view = *this;
  view.eval_ = validation_;
  return view;
}

}  // namespace condense::engine
