#include "worker/engine/encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>

#include "absl/strings/str_cat.h"
#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"
#include "codec/codebook.h"
#include "codec/onnx_export.h"
#include "nlohmann/json.hpp"
#include "worker/engine/kmeans_1d.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
namespace {

namespace fs = std::filesystem;

std::span<const uint8_t> Bytes(const torch::Tensor& cpu) {
  return {static_cast<const uint8_t*>(cpu.data_ptr()),
          static_cast<size_t>(cpu.numel() * cpu.element_size())};
}

}  // namespace

std::optional<std::vector<float>> SparseCodebook(const torch::Tensor& cpu,
                                                 const torch::Tensor& centroids,
                                                 int gap_bits) {
  const std::span<const float> w(cpu.data_ptr<float>(),
                                 static_cast<size_t>(cpu.numel()));
  if (centroids.defined()) {
    const torch::Tensor c = centroids.detach().to(torch::kCPU).contiguous();
    const std::span<const float> cs(c.data_ptr<float>(),
                                    static_cast<size_t>(c.numel()));
    std::vector<uint64_t> used(cs.size(), 0);
    bool all_found = true;
    for (float v : w) {
      if (v == 0.0f) continue;
      auto it = std::lower_bound(cs.begin(), cs.end(), v);
      if (it == cs.end() || *it != v) {
        all_found = false;
        break;
      }
      ++used[static_cast<size_t>(it - cs.begin())];
    }
    if (all_found) return UsedCentroids(cs, used);
  }
  torch::Tensor nonzero = cpu.masked_select(cpu != 0);
  torch::Tensor unique = std::get<0>(at::_unique(nonzero, true)).contiguous();
  std::vector<float> codebook(unique.data_ptr<float>(),
                              unique.data_ptr<float>() + unique.numel());
  if (codebook.empty()) codebook.push_back(0.0f);
  if (codebook.size() > codec::kMaxCentroids) return std::nullopt;
  if (centroids.defined()) return codebook;  // Quantized: always sparse.
  // Pruned (or DSD-trained) only: a distinct value per weight can make the
  // codebook larger than the raw floats.
  const double index_bits = std::ceil(
      std::log2(std::max<double>(static_cast<double>(codebook.size()), 2)));
  const double sparse_bytes =
      static_cast<double>(codebook.size()) * 4.0 +
      static_cast<double>(nonzero.numel()) * (index_bits + gap_bits) / 8;
  if (sparse_bytes >= static_cast<double>(cpu.numel()) * 4.0) {
    return std::nullopt;
  }
  return codebook;
}

namespace {

absl::StatusOr<codec::ModelSize> EncodeCdz(
    Model& model, codec::Manifest manifest,
    std::unique_ptr<codec::WritableFile> file) {
  nlohmann::json aliases = nlohmann::json::object();
  for (const NamedTensor& nt : model.tensors()) {
    for (const std::string& a : nt.aliases) aliases[a] = nt.name;
  }
  if (!aliases.empty()) manifest["aliases"] = aliases.dump();
  auto writer = codec::CdzWriter::Create(std::move(file), manifest);
  if (!writer.ok()) return writer.status();
  absl::Status st = TorchCall("encoding the model", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (const NamedTensor& nt : model.tensors()) {
      torch::Tensor cpu = nt.tensor.detach().to(torch::kCPU).contiguous();
      const Layer* layer = model.FindLayer(nt.tensor);
      if (layer != nullptr) {
        const auto codebook = SparseCodebook(
            cpu, layer->quantized() ? layer->centroids : torch::Tensor(),
            layer->config.gap_bits);
        if (codebook) {
          absl::Status added = (*writer)->AddQuantized(
              nt.name, codec::DType::kF32, CodecShape(cpu),
              {cpu.data_ptr<float>(), static_cast<size_t>(cpu.numel())},
              *codebook, EncodeOptions(layer->config));
          if (!added.ok()) return added;
          continue;
        }
        // More distinct values than a codebook holds (pruned, never
        // quantized): keep them exact.
      }
      auto dtype = CodecDType(cpu.scalar_type());
      if (!dtype.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(nt.name, ": ", dtype.status().message()));
      }
      absl::Status added =
          (*writer)->AddRaw(nt.name, *dtype, CodecShape(cpu), Bytes(cpu));
      if (!added.ok()) return added;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  if (auto fin = (*writer)->Finish(); !fin.ok()) return fin;
  return (*writer)->sizes();
}

}  // namespace

absl::StatusOr<codec::ModelSize> WriteCdz(Model& model,
                                          codec::Manifest manifest,
                                          const std::string& path) {
  auto file = codec::NewAtomicFile(path);
  if (!file.ok()) return file.status();
  return EncodeCdz(model, std::move(manifest), *std::move(file));
}

absl::StatusOr<codec::ModelSize> SizeCdz(Model& model,
                                         codec::Manifest manifest) {
  std::string bytes;
  return EncodeCdz(model, std::move(manifest), codec::NewStringFile(&bytes));
}

absl::Status VerifyCdz(Model& model, const std::string& path) {
  auto reader = codec::CdzReader::OpenPath(path);
  if (!reader.ok()) return reader.status();
  std::map<std::string, const NamedTensor*> by_name;
  for (const NamedTensor& nt : model.tensors()) by_name[nt.name] = &nt;
  if ((*reader)->tensors().size() != by_name.size()) {
    return absl::InternalError(
        absl::StrCat(path, " holds ", (*reader)->tensors().size(),
                     " tensors, the model ", by_name.size()));
  }
  codec::DecodedTensor decoded;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    if (auto st = (*reader)->Decode(i, &decoded); !st.ok()) return st;
    auto it = by_name.find(decoded.info.name);
    if (it == by_name.end()) {
      return absl::InternalError(absl::StrCat(
          path, " holds tensor ", decoded.info.name, " the model lacks"));
    }
    torch::Tensor cpu =
        it->second->tensor.detach().to(torch::kCPU).contiguous();
    std::span<const uint8_t> want = Bytes(cpu);
    std::span<const uint8_t> got =
        decoded.dtype == codec::DType::kF32
            ? std::span<const uint8_t>(
                  reinterpret_cast<const uint8_t*>(decoded.values.data()),
                  decoded.values.size() * sizeof(float))
            : std::span<const uint8_t>(decoded.bytes);
    if (got.size() != want.size() ||
        std::memcmp(got.data(), want.data(), got.size()) != 0) {
      return absl::InternalError(absl::StrCat(
          "the encoded file does not decode to the model: tensor ",
          decoded.info.name, " differs (", got.size(), " vs ", want.size(),
          " bytes); this is a bug in condense, please report it"));
    }
  }
  return absl::OkStatus();
}

absl::Status ExportTorchScript(const std::string& cdz_path,
                               const std::string& source_model,
                               const std::string& out_path) {
  auto reader = codec::CdzReader::OpenPath(cdz_path);
  if (!reader.ok()) return reader.status();
  std::map<std::string, std::string> aliases;  // alias -> stored name
  if (auto it = (*reader)->manifest().find("aliases");
      it != (*reader)->manifest().end()) {
    auto j = nlohmann::json::parse(it->second, nullptr, false);
    if (!j.is_object()) {
      return absl::DataLossError(
          absl::StrCat(cdz_path, ": manifest entry 'aliases' is not JSON"));
    }
    for (const auto& [alias, name] : j.items()) aliases[alias] = name;
  }
  const std::string tmp = out_path + ".tmp";
  absl::Status st = TorchCall("exporting TorchScript", [&]() -> absl::Status {
    torch::jit::Module module = torch::jit::load(source_model, torch::kCPU);
    FloatingToFloat32(module);
    std::map<std::string, torch::Tensor> slots;
    for (const auto& p : module.named_parameters(true)) slots[p.name] = p.value;
    for (const auto& b : module.named_buffers(true)) slots[b.name] = b.value;
    torch::NoGradGuard no_grad;
    codec::DecodedTensor decoded;
    std::map<std::string, bool> filled;
    for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
      if (auto s = (*reader)->Decode(i, &decoded); !s.ok()) return s;
      std::vector<std::string> names = {decoded.info.name};
      for (const auto& [alias, name] : aliases) {
        if (name == decoded.info.name) names.push_back(alias);
      }
      for (const std::string& name : names) {
        auto it = slots.find(name);
        if (it == slots.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "the model ", source_model, " has no tensor ", name,
              " that the .cdz holds: is it the model this file came from?"));
        }
        torch::Tensor& dst = it->second;
        std::vector<int64_t> shape(decoded.info.shape.begin(),
                                   decoded.info.shape.end());
        auto want_dtype = CodecDType(dst.scalar_type());
        const bool float_ok =
            decoded.dtype == codec::DType::kF32 && dst.is_floating_point();
        if (!float_ok && (!want_dtype.ok() || *want_dtype != decoded.dtype)) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, " is ", codec::DTypeName(decoded.dtype),
              " in the .cdz but ", c10::toString(dst.scalar_type()), " in ",
              source_model));
        }
        torch::Tensor src = decoded.dtype == codec::DType::kF32
                                ? torch::from_blob(decoded.values.data(), shape,
                                                   torch::kFloat32)
                                : torch::from_blob(decoded.bytes.data(), shape,
                                                   dst.scalar_type());
        if (dst.sizes() != src.sizes()) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, " has shape ", c10::str(src.sizes()), " in the .cdz but ",
              c10::str(dst.sizes()), " in ", source_model));
        }
        dst.copy_(src);
        filled[name] = true;
      }
    }
    for (const auto& [name, tensor] : slots) {
      if (!filled.count(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the .cdz has no value for ", name, " of ", source_model));
      }
    }
    module.save(tmp);
    return absl::OkStatus();
  });
  if (!st.ok()) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return st;
  }
  std::error_code ec;
  fs::rename(tmp, out_path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ",
                                            out_path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status ExportSafetensorsFile(const std::string& cdz_path,
                                   const std::string& out_path) {
  auto reader = codec::CdzReader::OpenPath(cdz_path);
  if (!reader.ok()) return reader.status();
  auto file = codec::NewAtomicFile(out_path);
  if (!file.ok()) return file.status();
  return codec::ExportSafetensors(**reader, *std::move(file));
}

absl::Status ExportOnnxFile(const std::string& cdz_path,
                            codec::OnnxModel& model,
                            const std::string& out_path) {
  auto reader = codec::CdzReader::OpenPath(cdz_path);
  if (!reader.ok()) return reader.status();
  return codec::ExportOnnx(**reader, model, out_path);
}

}  // namespace condense::engine
