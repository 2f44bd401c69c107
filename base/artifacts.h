// The names of a job's outputs, as the engine writes them, the worker
// uploads them, and the web view and clients serve and look for them:
// defined once here.
#ifndef CONDENSE_BASE_ARTIFACTS_H_
#define CONDENSE_BASE_ARTIFACTS_H_

#include <array>
#include <string_view>

namespace condense::artifacts {

inline constexpr char kCdz[] = "model.cdz";
inline constexpr char kTorchScript[] = "model.pt";
inline constexpr char kSafetensors[] = "model.safetensors";
inline constexpr char kReportJson[] = "report.json";
inline constexpr char kReportHtml[] = "report.html";
// For a sharded safetensors checkpoint, in place of kSafetensors: a
// directory with the checkpoint's own shard files and index, decoded. A job
// lists them as "model-shards/FILE".
inline constexpr char kShardedSafetensors[] = "model-shards";

// For an ONNX model, in place of kTorchScript and kSafetensors: the model's
// graph with the decoded weights, and beside it their external data when
// the model keeps its weights outside (as models over 2 GiB must).
inline constexpr char kOnnx[] = "model.onnx";
inline constexpr char kOnnxData[] = "model.onnx.data";

// Every output, in the order a job lists them (model.pt only for
// TorchScript inputs, model.onnx only for ONNX ones).
inline constexpr std::array<const char*, 7> kAll = {
    kCdz,      kTorchScript, kSafetensors, kOnnx,
    kOnnxData, kReportJson,  kReportHtml};

// Whether `name` is a job output's name: one of kAll, or "model-shards/FILE"
// with FILE a plain file name (no '/', not "." or ".."). Whoever writes or
// serves outputs by a name that came over the wire checks it with this, so
// a name never leaves the output directory.
constexpr bool IsArtifactName(std::string_view name) {
  for (std::string_view a : kAll) {
    if (name == a) return true;
  }
  const std::string_view dir = kShardedSafetensors;
  if (name.size() <= dir.size() + 1 || name.substr(0, dir.size()) != dir ||
      name[dir.size()] != '/') {
    return false;
  }
  const std::string_view file = name.substr(dir.size() + 1);
  return file != "." && file != ".." &&
         file.find('/') == std::string_view::npos &&
         file.find('\\') == std::string_view::npos &&
         file.find('\0') == std::string_view::npos;
}

}  // namespace condense::artifacts

#endif  // CONDENSE_BASE_ARTIFACTS_H_
