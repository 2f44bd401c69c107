#include "worker/engine/model_source.h"

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <span>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "codec/onnx_export.h"
#include "codec/safetensors.h"
#include "codec/safetensors_shards.h"
#include "torch/version.h"
#include "worker/engine/model.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"
#include "worker/missing_op_advice.h"

namespace condense::engine {
namespace {

// A TorchScript file saved by a newer PyTorch may call an op this LibTorch
// lacks (PyTorch 2.x attention calls aten::scaled_dot_product_attention);
// LibTorch says "Unknown builtin op: aten::NAME" deep in its message. The
// user needs the op's name and a way out, not the script traceback.
absl::Status ExplainMissingOp(const absl::Status& st, const std::string& path) {
  constexpr absl::string_view kUnknown = "Unknown builtin op: ";
  const absl::string_view m = st.message();
  const size_t at = m.find(kUnknown);
  if (at == absl::string_view::npos) return st;
  size_t end = at + kUnknown.size();
  while (end < m.size() &&
         (std::isalnum(static_cast<unsigned char>(m[end])) || m[end] == '_' ||
          m[end] == ':' ||
          (m[end] == '.' && end + 1 < m.size() &&
           std::isalnum(static_cast<unsigned char>(m[end + 1]))))) {
    ++end;
  }
  const absl::string_view op =
      m.substr(at + kUnknown.size(), end - at - kUnknown.size());
  return absl::InvalidArgumentError(
      absl::StrCat("model ", path, " calls ", op,
                   ", which this worker's LibTorch ", TORCH_VERSION,
                   " does not have: ", worker::MissingOpAdvice(TORCH_VERSION)));
}

// A tensor for entry `t` of a weights-only source: floating entries as
// float32, filled by `fill_float`; others in their own dtype, filled with
// their bytes by `fill_bytes`.
absl::StatusOr<torch::Tensor> ReadEntry(
    const TensorEntry& t, const std::string& what,
    const std::function<absl::Status(std::span<float>)>& fill_float,
    const std::function<absl::Status(std::span<uint8_t>)>& fill_bytes) {
  absl::StatusOr<torch::Tensor> out;
  absl::Status st = TorchCall(what, [&]() -> absl::Status {
    if (t.floating()) {
      torch::Tensor x = torch::empty(t.shape, torch::kFloat32);
      auto s =
          fill_float({x.data_ptr<float>(), static_cast<size_t>(x.numel())});
      if (!s.ok()) return s;
      out = x;
      return absl::OkStatus();
    }
    auto dtype = TorchDType(t.dtype);
    if (!dtype.ok()) return dtype.status();
    torch::Tensor x = torch::empty(t.shape, *dtype);
    auto s = fill_bytes({static_cast<uint8_t*>(x.data_ptr()),
                         static_cast<size_t>(x.numel() * x.element_size())});
    if (!s.ok()) return s;
    out = x;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

class TorchScriptSource : public ModelSource {
 public:
  static absl::StatusOr<std::unique_ptr<ModelSource>> Open(
      const std::string& path) {
    std::unique_ptr<TorchScriptSource> s(new TorchScriptSource);
    absl::Status st = TorchCall(
        absl::StrCat("loading TorchScript model ", path,
                     " (condense takes torch.jit.save files, or .safetensors "
                     "state dicts)"),
        [&]() -> absl::Status {
          s->module_ = torch::jit::load(path, torch::kCPU);
          FloatingToFloat32(*s->module_);
          s->Index();
          return absl::OkStatus();
        },
        absl::StatusCode::kInvalidArgument);
    if (!st.ok()) return ExplainMissingOp(st, path);
    return std::unique_ptr<ModelSource>(std::move(s));
  }

  ModelFormat format() const override { return ModelFormat::kTorchScript; }
  bool reads_allocate() const override { return false; }
  torch::jit::Module* module() override { return &*module_; }
  absl::StatusOr<torch::Tensor> Read(size_t i) const override {
    if (i >= live_.size()) return absl::OutOfRangeError("no such tensor");
    return live_[i];
  }

 private:
  // Parameters then buffers, each in module order, tied tensors once; each
  // tagged with the class of the module that holds it.
  void Index() {
    std::map<std::string, std::string> owner_type;  // full name -> class
    for (const auto& m : module_->named_modules()) {
      const auto type = m.value.type()->name();
      const std::string cls = type ? ShortTypeName(type->qualifiedName()) : "";
      const std::string prefix = m.name.empty() ? "" : m.name + ".";
      for (const auto& p : m.value.named_parameters(false)) {
        owner_type[prefix + p.name] = cls;
      }
      for (const auto& b : m.value.named_buffers(false)) {
        owner_type[prefix + b.name] = cls;
      }
    }
    std::map<const void*, size_t> seen;
    auto add = [&](const std::string& name, const torch::Tensor& t,
                   bool parameter) {
      auto [it, fresh] = seen.emplace(t.unsafeGetTensorImpl(), tensors_.size());
      if (!fresh) {
        tensors_[it->second].aliases.push_back(name);
        return;
      }
      TensorEntry e;
      e.name = name;
      e.shape = t.sizes().vec();
      e.dtype = CodecDType(t.scalar_type()).value_or(codec::DType::kU8);
      e.module_type = owner_type[name];
      const size_t dot = name.rfind('.');
      const std::string leaf =
          dot == std::string::npos ? name : name.substr(dot + 1);
      e.parameter = parameter;
      e.role = RoleInModule(e.module_type, leaf, static_cast<int>(t.dim()),
                            parameter);
      tensors_.push_back(std::move(e));
      live_.push_back(t);
    };
    for (const auto& p : module_->named_parameters(true)) {
      add(p.name, p.value, true);
    }
    for (const auto& b : module_->named_buffers(true)) {
      add(b.name, b.value, false);
    }
  }

  std::optional<torch::jit::Module> module_;
  std::vector<torch::Tensor> live_;
};

// A state dict in one safetensors file or in the shards of a checkpoint:
// tensors in file order, shard after shard, each read on demand.
class SafetensorsSource : public ModelSource {
 public:
  static absl::StatusOr<std::unique_ptr<ModelSource>> Open(
      const std::string& path) {
    auto reader = codec::SafetensorsReader::OpenPath(path);
    if (!reader.ok()) return reader.status();
    std::unique_ptr<SafetensorsSource> s(new SafetensorsSource);
    for (const codec::SafetensorsEntry& e : (*reader)->entries()) {
      s->Add(**reader, e);
    }
    s->single_ = *std::move(reader);
    return std::unique_ptr<ModelSource>(std::move(s));
  }

  static absl::StatusOr<std::unique_ptr<ModelSource>> OpenSharded(
      const std::string& path) {
    auto checkpoint = codec::ShardedSafetensors::Open(path);
    if (!checkpoint.ok()) return checkpoint.status();
    std::unique_ptr<SafetensorsSource> s(new SafetensorsSource);
    for (const auto& e : (*checkpoint)->entries()) {
      s->Add((*checkpoint)->shard(e.shard), *e.entry);
    }
    s->sharded_ = *std::move(checkpoint);
    return std::unique_ptr<ModelSource>(std::move(s));
  }

  ModelFormat format() const override {
    return sharded_ ? ModelFormat::kSafetensorsSharded
                    : ModelFormat::kSafetensors;
  }
  bool reads_allocate() const override { return true; }
  const codec::ShardLayout* shard_layout() const override {
    return sharded_ ? &sharded_->layout() : nullptr;
  }
  absl::StatusOr<torch::Tensor> Read(size_t i) const override {
    if (i >= tensors_.size()) return absl::OutOfRangeError("no such tensor");
    const auto& [reader, e] = stored_[i];
    return ReadEntry(
        tensors_[i], absl::StrCat("reading ", e->name, " of ", path_),
        [&](std::span<float> w) { return reader->ReadFloat32Into(*e, w); },
        [&](std::span<uint8_t> b) { return reader->ReadBytesInto(*e, b); });
  }

 private:
  void Add(const codec::SafetensorsReader& reader,
           const codec::SafetensorsEntry& e) {
    TensorEntry t;
    t.name = e.name;
    t.shape.assign(e.shape.begin(), e.shape.end());
    t.dtype = e.dtype;
    // A state dict does not say what is a parameter: floating tensors are
    // treated as parameters, the rest (counters, index tables) as buffers.
    t.parameter = codec::IsFloatingDType(e.dtype);
    t.role = t.parameter
                 ? RoleFromName(e.name, static_cast<int>(e.shape.size()))
                 : TensorRole::kBuffer;
    tensors_.push_back(std::move(t));
    stored_.emplace_back(&reader, &e);
  }

  std::unique_ptr<codec::SafetensorsReader> single_;
  std::unique_ptr<codec::ShardedSafetensors> sharded_;
  // Per tensor: the reader holding it and its entry there (owned by
  // single_ or sharded_).
  std::vector<std::pair<const codec::SafetensorsReader*,
                        const codec::SafetensorsEntry*>>
      stored_;
};

// An ONNX model: its weights in graph order, each read on demand; roles
// from the ops that use them.
class OnnxSource : public ModelSource {
 public:
  static absl::StatusOr<std::unique_ptr<ModelSource>> Open(
      const std::string& path) {
    auto model = codec::OnnxModel::Open(path);
    if (!model.ok()) return model.status();
    std::unique_ptr<OnnxSource> s(new OnnxSource);
    for (const codec::OnnxTensor& t : (*model)->tensors()) {
      TensorEntry e;
      e.name = t.name;
      e.shape = t.shape;
      e.dtype = t.dtype;
      e.parameter = codec::IsFloatingDType(t.dtype);
      std::vector<std::pair<std::string, int>> uses;
      for (const codec::OnnxUse& u : t.uses)
        uses.emplace_back(u.op_type, u.input);
      const int rank = static_cast<int>(t.shape.size());
      e.role = e.parameter ? RoleFromOnnxUses(uses, rank) : TensorRole::kBuffer;
      // The op that decided the role (else the first user), for the report.
      if (!uses.empty()) e.module_type = uses.front().first;
      for (const auto& [op, input] : uses) {
        if (RoleFromOnnxUse(op, input, rank) == e.role) {
          e.module_type = op;
          break;
        }
      }
      s->tensors_.push_back(std::move(e));
    }
    s->model_ = *std::move(model);
    return std::unique_ptr<ModelSource>(std::move(s));
  }

  ModelFormat format() const override { return ModelFormat::kOnnx; }
  bool reads_allocate() const override { return true; }
  codec::OnnxModel* onnx_model() const override { return model_.get(); }
  absl::StatusOr<torch::Tensor> Read(size_t i) const override {
    if (i >= tensors_.size()) return absl::OutOfRangeError("no such tensor");
    auto bytes = model_->Read(i);
    if (!bytes.ok()) return bytes.status();
    const TensorEntry& t = tensors_[i];
    return ReadEntry(
        t, absl::StrCat("reading ", t.name, " of ", path_),
        [&](std::span<float> w) {
          codec::ConvertToFloat32(t.dtype, bytes->data(), w.size(), w.data());
          return absl::OkStatus();
        },
        [&](std::span<uint8_t> b) {
          std::memcpy(b.data(), bytes->data(), b.size());
          return absl::OkStatus();
        });
  }

 private:
  std::unique_ptr<codec::OnnxModel> model_;
};

// The digest of a sharded checkpoint: over each file's name and digest.
absl::StatusOr<std::string> CheckpointSha256(const std::string& path) {
  auto checkpoint = codec::ShardedSafetensors::Open(path);
  if (!checkpoint.ok()) return checkpoint.status();
  std::string lines;
  for (const std::string& f : (*checkpoint)->Files()) {
    auto digest = base::FileSha256Hex(f);
    if (!digest.ok()) return digest.status();
    absl::StrAppend(&lines, std::filesystem::path(f).filename().string(), " ",
                    *digest, "\n");
  }
  return base::Sha256Hex(lines);
}

}  // namespace

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<ModelFormat> SniffModelFormat(const std::string& path) {
  if (codec::ShardedSafetensors::Looks(path)) {
    return ModelFormat::kSafetensorsSharded;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("model file ", path, " not found"));
  }
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  if (in.gcount() >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) {
    return ModelFormat::kTorchScript;
  }
  if (in.gcount() == 9 && head[8] == '{') return ModelFormat::kSafetensors;
  if (LooksLikeOnnx({reinterpret_cast<const char*>(head),
                     static_cast<size_t>(in.gcount())})) {
    return ModelFormat::kOnnx;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      " is neither a TorchScript file (a zip archive from torch.jit.save), "
      "a safetensors state dict, a sharded safetensors checkpoint (its "
      "directory or model.safetensors.index.json), nor an ONNX model: export "
      "the model with torch.jit.save, safetensors or torch.onnx.export"));
}

absl::StatusOr<std::unique_ptr<ModelSource>> OpenModelSource(
    const std::string& path, std::optional<ModelFormat> format) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("model file ", path, " not found"));
  }
  if (!format) {
    auto sniffed = SniffModelFormat(path);
    if (!sniffed.ok()) return sniffed.status();
    format = *sniffed;
  }
  // The digest (for the manifest and checkpoints) is computed on another
  // core while the model loads: both are a pass over the file.
  absl::StatusOr<std::string> digest;
  std::thread hasher([&, f = *format] {
    digest = f == ModelFormat::kSafetensorsSharded ? CheckpointSha256(path)
                                                   : base::FileSha256Hex(path);
  });
  absl::StatusOr<std::unique_ptr<ModelSource>> source;
  switch (*format) {
    case ModelFormat::kTorchScript:
      source = TorchScriptSource::Open(path);
      break;
    case ModelFormat::kSafetensors:
      source = SafetensorsSource::Open(path);
      break;
    case ModelFormat::kSafetensorsSharded:
      source = SafetensorsSource::OpenSharded(path);
      break;
    case ModelFormat::kOnnx:
      source = OnnxSource::Open(path);
      break;
  }
  hasher.join();
  if (!source.ok()) return source.status();
  if (!digest.ok()) {
    return absl::NotFoundError(absl::StrCat("cannot read model ", path, ": ",
                                            digest.status().message()));
  }
  (*source)->path_ = path;
  (*source)->sha256_ = *digest;
  return source;
}

absl::Status AddLayoutToManifest(const ModelSource& source,
                                 codec::Manifest* manifest) {
  if (const codec::ShardLayout* layout = source.shard_layout()) {
    (*manifest)[codec::kShardLayoutKey] = codec::ShardLayoutToJson(*layout);
  }
  if (codec::OnnxModel* onnx = source.onnx_model()) {
    auto graph = codec::OnnxSkeletonValue(*onnx);
    if (!graph.ok()) return graph.status();
    (*manifest)[codec::kOnnxModelKey] = *std::move(graph);
  }
  return absl::OkStatus();
}

}  // namespace condense::engine
