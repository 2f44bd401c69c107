// Data-free compression as a stream over the model's tensors: each tensor is
// read from its ModelSource, pruned and clustered as the spec's stages say,
// encoded, decoded back into place (so every output holds exactly what the
// .cdz decodes to, checked by CRC), written to the .cdz and to the decoded
// export (safetensors, or ONNX for an ONNX model), and dropped. Tensors run in
// parallel on `workers` threads, admitted only while the tensors in flight fit
// the working memory of the largest one alone or a small shared budget
// (kSharedWorkBudget), so peak memory is the largest tensor's plus a
// constant whatever the model's size. A TorchScript source
// keeps its module (it is the dense export), which is then saved as it stands.
//
// Not thread-safe itself (one call at a time per source).
#ifndef CONDENSE_WORKER_ENGINE_STREAMING_H_
#define CONDENSE_WORKER_ENGINE_STREAMING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codec/cdz_writer.h"
#include "worker/engine/config.h"
#include "worker/engine/model_source.h"
#include "worker/engine/progress.h"
#include "worker/engine/run_report.h"
#include "worker/engine/stages.h"

namespace condense::engine {

// Whether a run of `config` without data can stream: every stage works on
// one tensor at a time without data (prune by sensitivity or per-layer
// sparsity, quantize and finetune at zero epochs). Global-sparsity pruning
// ranks all tensors together and runs in memory.
bool StreamsDataFree(const EngineConfig& config);

struct StreamPaths {
  std::string cdz;
  // The decoded model: a safetensors file, a sharded checkpoint's directory,
  // or an ONNX model (its external data at decoded + ".data"), as the
  // source's format says.
  std::string decoded;
  std::string torchscript;  // Empty: no TorchScript export.
};

// What the report needs of a streamed run.
struct StreamedRun {
  codec::ModelSize sizes;
  // One record per stage (accuracy and duration left unset).
  std::vector<StageRecord> stages;
  std::vector<WeightHistograms> weights;  // Per compressed tensor.
  std::vector<TensorRow> tensors;         // Per stored tensor.
  StorageEstimate estimate;               // After the last stage.
  double sparsity = 0;                    // Over the compressed tensors.
  int64_t parameters = 0;
  int64_t compressed_tensors = 0;
  std::vector<std::string> pruned_away;  // Compressed tensors left all zero.
};

// Working memory (bytes) that tensors may hold together however small the
// largest is, so that workers share the cores on a model of many mid-size
// tensors instead of waiting on one tensor's sequential coder: a small
// constant beside LibTorch's own (about 175 MiB).
inline constexpr int64_t kSharedWorkBudget = int64_t{64} << 20;

// shared_budget: kSharedWorkBudget but for tests (0: the largest tensor's
// working memory alone).
absl::StatusOr<StreamedRun> CompressStreaming(
    ModelSource& source, const EngineConfig& config,
    const codec::Manifest& manifest, const StreamPaths& paths, int workers,
    ProgressObserver* observer, const CancelFlag* cancel,
    int64_t shared_budget = kSharedWorkBudget);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_STREAMING_H_
