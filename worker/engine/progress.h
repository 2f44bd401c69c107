// How a running compression reports progress and learns it should stop.
//
// The engine calls ProgressObserver::OnEvent from the thread that runs it,
// once per batch at most, so observers must be quick (throttle display or
// network sends themselves). CancelFlag may be set from any thread; the
// engine checks it at least once per batch.
#ifndef CONDENSE_WORKER_ENGINE_PROGRESS_H_
#define CONDENSE_WORKER_ENGINE_PROGRESS_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace condense::engine {

struct ProgressEvent {
  enum class Kind {
    kRunStarted,     // message: device and model summary.
    kStageStarted,   // stage, stage_index.
    kBatch,          // Training progress within an epoch.
    kEpochFinished,  // loss, accuracy after the epoch.
    kStageFinished,  // accuracy, sparsity, ratio after the stage.
    // The stage checkpoint is on disk: message is its path, stage_index + 1
    // stages are done. Observers may copy it (the next stage replaces it).
    kCheckpointSaved,
    kMessage,      // A note worth a log line.
    kRunFinished,  // ratio, accuracy: final.
  };
  Kind kind = Kind::kMessage;
  std::string stage;    // "prune", "quantize", ... ("" outside stages).
  int stage_index = 0;  // 0-based; stage_count stages in all.
  int stage_count = 0;
  int epoch = 0;  // 1-based within the stage; epochs in the stage.
  int epochs = 0;
  int64_t batch = 0;  // 1-based within the epoch; batches per epoch.
  int64_t batches = 0;
  double loss = 0;
  double accuracy = -1;  // Top-1 on the evaluation data; -1 when unknown.
  double sparsity = 0;   // Fraction of zeros in the compressed tensors.
  double ratio = 0;      // Compression ratio so far (0 until known).
  double samples_per_second = 0;
  double eta_seconds = -1;  // Of the current stage; -1 when unknown.
  std::string message;
};

class ProgressObserver {
 public:
  virtual ~ProgressObserver() = default;
  virtual void OnEvent(const ProgressEvent& event) = 0;
};

// Set once to ask a run to stop; never reset.
class CancelFlag {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_PROGRESS_H_
