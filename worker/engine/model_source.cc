#include "worker/engine/model_source.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "codec/safetensors.h"
#include "worker/engine/model.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
namespace {

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
    if (!st.ok()) return st;
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

class SafetensorsSource : public ModelSource {
 public:
  static absl::StatusOr<std::unique_ptr<ModelSource>> Open(
      const std::string& path) {
    auto reader = codec::SafetensorsReader::OpenPath(path);
    if (!reader.ok()) return reader.status();
    std::unique_ptr<SafetensorsSource> s(new SafetensorsSource);
    s->reader_ = *std::move(reader);
    for (const codec::SafetensorsEntry& e : s->reader_->entries()) {
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
      s->tensors_.push_back(std::move(t));
    }
    return std::unique_ptr<ModelSource>(std::move(s));
  }

  ModelFormat format() const override { return ModelFormat::kSafetensors; }
  bool reads_allocate() const override { return true; }
  absl::StatusOr<torch::Tensor> Read(size_t i) const override {
    if (i >= tensors_.size()) return absl::OutOfRangeError("no such tensor");
    const codec::SafetensorsEntry& e = reader_->entries()[i];
    const TensorEntry& t = tensors_[i];
    absl::StatusOr<torch::Tensor> out;
    absl::Status st = TorchCall(
        absl::StrCat("reading ", e.name, " of ", path_), [&]() -> absl::Status {
          if (t.floating()) {
            torch::Tensor x = torch::empty(t.shape, torch::kFloat32);
            auto s = reader_->ReadFloat32Into(
                e, {x.data_ptr<float>(), static_cast<size_t>(x.numel())});
            if (!s.ok()) return s;
            out = x;
            return absl::OkStatus();
          }
          auto dtype = TorchDType(e.dtype);
          if (!dtype.ok()) return dtype.status();
          torch::Tensor x = torch::empty(t.shape, *dtype);
          auto s = reader_->ReadBytesInto(
              e, {static_cast<uint8_t*>(x.data_ptr()),
                  static_cast<size_t>(x.numel() * x.element_size())});
          if (!s.ok()) return s;
          out = x;
          return absl::OkStatus();
        });
    if (!st.ok()) return st;
    return out;
  }

 private:
  std::unique_ptr<codec::SafetensorsReader> reader_;
};

}  // namespace

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<ModelFormat> SniffModelFormat(const std::string& path) {
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
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      " is neither a TorchScript file (a zip archive from torch.jit.save) "
      "nor a safetensors state dict: export the model with torch.jit.save "
      "or safetensors"));
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
  std::thread hasher([&] { digest = base::FileSha256Hex(path); });
  absl::StatusOr<std::unique_ptr<ModelSource>> source =
      *format == ModelFormat::kTorchScript ? TorchScriptSource::Open(path)
                                           : SafetensorsSource::Open(path);
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

}  // namespace condense::engine
