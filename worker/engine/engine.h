// The compression engine's entry point: runs a whole compression (load the
// model and data, the spec's stages, encode, verify, export, report) and
// writes its outputs. This header has no LibTorch in it, so callers (the
// worker's command line and serving loop) compile without it.
//
// RunCompression is blocking and runs on the calling thread; concurrent runs
// in one process are not supported (LibTorch's thread pool and RNG are
// process-wide).
#ifndef CONDENSE_WORKER_ENGINE_ENGINE_H_
#define CONDENSE_WORKER_ENGINE_ENGINE_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/engine/config.h"
#include "worker/engine/progress.h"

namespace condense::engine {

struct RunInputs {
  // A TorchScript file (torch.jit.save), or a .safetensors state dict
  // (data-free stages only: no retraining without a module).
  std::string model_path;
  // The model's format as its record says ("torchscript", "safetensors");
  // empty: told from the file's first bytes.
  std::string model_format;
  // Data: an MNIST-layout directory, or a training file with an optional
  // evaluation file (IDX images or safetensors; see data.h). All empty:
  // data-free.
  std::string data_dir;
  std::string train_data;
  std::string eval_data;
  // Outputs go here: model.cdz, model.pt (TorchScript inputs only),
  // model.safetensors, report.json. Created if missing.
  std::string out_dir;
  // Stage checkpoints go here (empty: none). A run whose checkpoint
  // directory holds a checkpoint of the same model, data and spec resumes
  // after the last finished stage.
  std::string checkpoint_dir;
  // Intra-op threads for LibTorch on CPU (0: one per core).
  int threads = 0;
  // Stop after this many stages have finished and been checkpointed (0: run
  // everything). For tests of resumption and for pausing.
  int stop_after_stages = 0;
  // Data-free runs stream tensor by tensor (streaming.h) unless this is
  // false: the in-memory path, which tests compare the stream against.
  bool streaming = true;
};

struct RunOutputs {
  std::string cdz_path;
  std::string torchscript_path;  // Empty for safetensors inputs.
  // One file, or for a sharded checkpoint a directory in its layout.
  std::string safetensors_path;  // Empty for ONNX inputs.
  // For ONNX inputs: the model with its decoded weights, and their external
  // data (empty when inline).
  std::string onnx_path;
  std::string onnx_data_path;
  std::string report_path;
  std::string report_html_path;  // report.html, rendered from `report`.
  nlohmann::json report;
};

// Errors: InvalidArgument for bad inputs (model, data, spec that do not fit
// together), NotFound for missing files, Cancelled when `cancel` was set
// (nothing is written then), Internal for broken invariants.
absl::StatusOr<RunOutputs> RunCompression(const EngineConfig& config,
                                          const RunInputs& inputs,
                                          ProgressObserver* observer,
                                          const CancelFlag* cancel);

// "condense-engine 0.1.0 (LibTorch 1.13.1, CPU)" and the like.
std::string EngineVersion();

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_ENGINE_H_
