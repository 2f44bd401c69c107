// From the engine's model to files: the .cdz container (compressed tensors
// as a codebook and entropy-coded positions and indices, in the codec's
// smallest encoding; everything else raw), the
// bit-for-bit check that the file decodes to the model in memory, and the
// exports (dense TorchScript rebuilt from the .cdz; safetensors). Every file
// is written to a temporary name and renamed into place when complete.
#ifndef CONDENSE_WORKER_ENGINE_ENCODE_H_
#define CONDENSE_WORKER_ENGINE_ENCODE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codec/cdz_writer.h"
#include "codec/onnx_model.h"
#include "codec/size_report.h"
#include "worker/engine/model.h"

namespace condense::engine {

// The codebook a compressed tensor is stored with: its distinct nonzero
// values, ascending; nullopt when raw floats are smaller (pruned only, too
// many distinct values). `centroids`, when defined, are the quantized
// tensor's centroids (ascending): its values are among them, which finds the
// codebook without sorting the tensor. `cpu` is contiguous float32.
std::optional<std::vector<float>> SparseCodebook(const torch::Tensor& cpu,
                                                 const torch::Tensor& centroids,
                                                 int gap_bits);

// Writes every tensor of `model` (tied parameters once; their other names go
// in the manifest under "aliases"). A quantized tensor is stored
// SPARSE_QUANTIZED; one that is only pruned is too when its distinct values
// fit a codebook (at most 65,536) and that is smaller than raw floats.
absl::StatusOr<codec::ModelSize> WriteCdz(Model& model,
                                          codec::Manifest manifest,
                                          const std::string& path);

// What WriteCdz would write, encoded in memory and not kept: its sizes.
absl::StatusOr<codec::ModelSize> SizeCdz(Model& model,
                                         codec::Manifest manifest);

// Decodes `path` and compares every tensor with the model's, bit for bit.
absl::Status VerifyCdz(Model& model, const std::string& path);

// Loads the TorchScript module at `source_model`, replaces every parameter
// and buffer with the .cdz's (aliases included) and saves it to `out_path`.
// Fails if the .cdz misses any of the module's tensors or disagrees on a
// shape.
absl::Status ExportTorchScript(const std::string& cdz_path,
                               const std::string& source_model,
                               const std::string& out_path);

absl::Status ExportSafetensorsFile(const std::string& cdz_path,
                                   const std::string& out_path);

// Writes `model` with the .cdz's tensors to `out_path` (and its external
// data beside it when the model keeps its weights outside).
absl::Status ExportOnnxFile(const std::string& cdz_path,
                            codec::OnnxModel& model,
                            const std::string& out_path);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_ENCODE_H_
