#include "worker/engine/streaming.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codec/crc32c.h"
#include "codec/quantized_tensor.h"
#include "codec/safetensors.h"
#include "worker/engine/encode.h"
#include "worker/engine/model.h"
#include "worker/engine/plan.h"
#include "worker/engine/requirements.h"
#include "worker/engine/stage.h"
#include "worker/engine/tensor_report.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"
#include "worker/engine/weight_stats.h"

namespace condense::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Encoder and decoder scratch per weight of a compressed tensor: a byte per
// gap and per index symbol, a packed copy and the coded streams.
constexpr int64_t kWorkBytesPerWeight = 3;

std::span<float> Floats(const torch::Tensor& t) {
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}

std::vector<uint64_t> Shape(const TensorEntry& e) {
  return {e.shape.begin(), e.shape.end()};
}

// Quantized weights are read as float32; a model held in F16 or BF16 gets
// them rounded to its dtype's grid, and its codebook with them, so the .cdz,
// the exports and the model's own dtype all give the same values. Centroids
// that round together merge; one that rounds to zero prunes its weights.
bool NarrowFloat(codec::DType dtype) {
  return dtype == codec::DType::kF16 || dtype == codec::DType::kBF16;
}

void SnapToDType(codec::DType dtype, std::span<float> w) {
  if (!NarrowFloat(dtype)) return;
  const size_t size = codec::DTypeSize(dtype);
  const size_t chunk = 1 << 16;
  std::vector<uint8_t> narrow(std::min(w.size(), chunk) * size);
  for (size_t at = 0; at < w.size(); at += chunk) {
    const size_t n = std::min(w.size() - at, chunk);
    codec::ConvertFromFloat32(dtype, w.data() + at, n, narrow.data());
    codec::ConvertToFloat32(dtype, narrow.data(), n, w.data() + at);
  }
}

void SnapCodebookToDType(codec::DType dtype, std::vector<float>* codebook) {
  if (!NarrowFloat(dtype)) return;
  SnapToDType(dtype, *codebook);
  std::erase(*codebook, 0.0f);
  std::sort(codebook->begin(), codebook->end());
  codebook->erase(std::unique(codebook->begin(), codebook->end()),
                  codebook->end());
  if (codebook->empty()) codebook->push_back(0.0f);  // As UsedCentroids.
}

// A tensor's bytes in the dtype the source holds it in: floating tensors
// were read as float32 and go back to F16, BF16 or F64 here (exactly, since
// their values came from that dtype or were snapped to it). A tensor the
// run owns (`overwrite`) is narrowed in its own memory, a chunk at a time
// through a small buffer, so a large bf16 tensor needs no second copy.
class StoredBytes {
 public:
  StoredBytes(const TensorEntry& e, const torch::Tensor& t, bool overwrite) {
    auto* data = static_cast<uint8_t*>(t.data_ptr());
    const size_t n = static_cast<size_t>(t.numel());
    if (!e.floating() || e.dtype == codec::DType::kF32) {
      view_ = {data, n * static_cast<size_t>(t.element_size())};
      return;
    }
    const size_t size = codec::DTypeSize(e.dtype);
    const float* values = t.data_ptr<float>();
    if (!overwrite || size > sizeof(float)) {
      converted_.resize(n * size);
      codec::ConvertFromFloat32(e.dtype, values, n, converted_.data());
      view_ = converted_;
      return;
    }
    // Chunk k's narrow bytes end at (k + 1) * chunk * size, inside the
    // floats chunks 0..k held, which are already converted.
    constexpr size_t kChunk = 1 << 14;
    std::vector<uint8_t> buffer(std::min(n, kChunk) * size);
    for (size_t at = 0; at < n; at += kChunk) {
      const size_t count = std::min(n - at, kChunk);
      codec::ConvertFromFloat32(e.dtype, values + at, count, buffer.data());
      std::memcpy(data + at * size, buffer.data(), count * size);
    }
    view_ = {data, n * size};
  }
  std::span<const uint8_t> bytes() const { return view_; }
  absl::string_view chars() const {
    return {reinterpret_cast<const char*>(view_.data()), view_.size()};
  }

 private:
  std::vector<uint8_t> converted_;
  std::span<const uint8_t> view_;
};

// Where the decoded model goes: one safetensors file, a sharded
// checkpoint's layout rebuilt in a directory, or the ONNX model's graph with
// its tensors replaced.
class DecodedExport {
 public:
  absl::Status Open(const std::string& path, const ModelSource& source,
                    const codec::Manifest& manifest) {
    if (codec::OnnxModel* model = source.onnx_model()) {
      auto w = codec::OnnxModelWriter::Create(
          model, path, codec::OnnxModelWriter::WantsExternal(*model));
      if (!w.ok()) return w.status();
      onnx_ = *std::move(w);
      return absl::OkStatus();
    }
    if (const codec::ShardLayout* layout = source.shard_layout()) {
      std::map<std::string, codec::SafetensorsWriter::Tensor> tensors;
      for (const TensorEntry& e : source.tensors()) {
        tensors[e.name] = {e.name, e.dtype, Shape(e)};
      }
      auto w = codec::ShardedSafetensorsWriter::Create(path, *layout, tensors);
      if (!w.ok()) return w.status();
      sharded_ = *std::move(w);
      return absl::OkStatus();
    }
    std::vector<codec::SafetensorsWriter::Tensor> declared;
    for (const TensorEntry& e : source.tensors()) {
      declared.push_back({e.name, e.dtype, Shape(e)});
    }
    auto file = codec::NewAtomicFile(path);
    if (!file.ok()) return file.status();
    auto w = codec::SafetensorsWriter::Create(*std::move(file),
                                              std::move(declared), manifest);
    if (!w.ok()) return w.status();
    single_ = *std::move(w);
    return absl::OkStatus();
  }
  // Tensor i of the source, named `name`.
  absl::Status Append(size_t i, const std::string& name,
                      absl::string_view bytes) {
    if (onnx_) return onnx_->Append(i, bytes);
    return sharded_ ? sharded_->Append(name, bytes)
                    : single_->Append(name, bytes);
  }
  absl::Status Finish() {
    if (onnx_) return onnx_->Finish();
    return sharded_ ? sharded_->Finish() : single_->Finish();
  }

 private:
  std::unique_ptr<codec::OnnxModelWriter> onnx_;
  std::unique_ptr<codec::SafetensorsWriter> single_;
  std::unique_ptr<codec::ShardedSafetensorsWriter> sharded_;
};

// A stage's record before any tensor's part is added (streamed stages
// neither step nor train).
StageDetail EmptyDetail(StageConfig::Kind kind) {
  switch (kind) {
    case StageConfig::Kind::kPrune:
      return PruneRecord{};
    case StageConfig::Kind::kDsd:
      return DsdRecord{};
    case StageConfig::Kind::kQuantize:
      return QuantizeRecord{};
    case StageConfig::Kind::kFinetune:
      return FinetuneRecord{};
    case StageConfig::Kind::kSearch:
      return SearchRecord{};
  }
  return FinetuneRecord{};
}

// One tensor, processed: what the writer thread needs, in order.
struct TensorResult {
  absl::Status status;
  torch::Tensor tensor;  // Final values, CPU, contiguous.
  std::optional<codec::EncodedTensor> encoded;  // Unset: stored raw.
  TensorFacts facts;
  std::vector<TensorStageRecord> stage_records;  // Per stage.
  std::vector<StorageBytes> stage_bytes;         // Per stage, after it.
  // Per stage (compressed only): the nonzero weights after it.
  std::vector<std::vector<int64_t>> stage_histograms;
  WeightHistograms weights;  // Compressed only.
  int64_t cost = 0;
};

class Streamer {
 public:
  Streamer(ModelSource& source, const EngineConfig& config, int workers,
           int64_t shared_budget)
      : source_(source),
        config_(config),
        workers_(std::max(workers, 1)),
        shared_budget_(shared_budget) {}

  absl::StatusOr<StreamedRun> Run(const codec::Manifest& manifest,
                                  const StreamPaths& paths,
                                  ProgressObserver* observer,
                                  const CancelFlag* cancel);

 private:
  void Resolve();  // The plan and the stages, once.
  TensorResult Process(size_t i) const;
  absl::Status Compress(size_t i, const torch::Tensor& t,
                        TensorResult* r) const;

  ModelSource& source_;
  const EngineConfig& config_;
  // Tensors in parallel, and threads for the per-weight passes of a large
  // tensor (which runs alone past the shared budget: see the admission in
  // Run).
  const int workers_;
  const int64_t shared_budget_;  // CompressStreaming's shared_budget.
  std::vector<std::unique_ptr<Stage>> stages_;
  std::vector<LayerConfig> layer_;  // Per tensor; compress false: raw.
  std::vector<bool> first_conv_;
};

void Streamer::Resolve() {
  for (const StageConfig& s : config_.stages) stages_.push_back(MakeStage(s));
  const CompressionPlan plan = ResolvePlan(config_, source_.tensors());
  for (const TensorPlan& tp : plan.tensors) {
    layer_.push_back(tp.settings);
    first_conv_.push_back(tp.first_conv);
  }
}

absl::Status Streamer::Compress(size_t i, const torch::Tensor& t,
                                TensorResult* r) const {
  const TensorEntry& e = source_.tensors()[i];
  const LayerConfig& lc = layer_[i];
  torch::NoGradGuard no_grad;
  const std::span<float> w = Floats(t);
  const ValueRange range = RangeOf(w, workers_);
  r->weights.name = e.name;
  r->weights.min = range.min;
  r->weights.max = range.max;
  r->weights.dense =
      Histogram(w, range.min, range.max, kHistogramBins, false, workers_);
  TensorState state;
  state.name = e.name;
  state.tensor = t;
  state.weights = w;
  state.settings = lc;
  state.first_conv = first_conv_[i];
  state.seed = config_.seed;
  state.threads = workers_;
  for (const std::unique_ptr<Stage>& stage : stages_) {
    auto rec = stage->RunOnTensor(state);
    if (!rec.ok()) return rec.status();
    r->stage_records.push_back(*std::move(rec));
    r->stage_bytes.push_back(TensorStorageBytes(
        t, &lc, state.centroids.defined() ? state.centroids.numel() : 0,
        workers_));
    r->stage_histograms.push_back(
        Histogram(w, range.min, range.max, kHistogramBins, true, workers_));
  }
  const torch::Tensor& centroids = state.centroids;
  std::vector<float>& codebook = state.codebook;
  const bool pruned = state.pruned;
  r->weights.final =
      r->stage_histograms.empty()
          ? Histogram(w, range.min, range.max, kHistogramBins, true, workers_)
          : r->stage_histograms.back();
  if (centroids.defined()) {
    const torch::Tensor c = centroids.to(torch::kDouble);
    r->weights.centroids = std::vector<double>(
        c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  SnapToDType(e.dtype, w);
  for (float& v : w) {
    if (v == 0.0f) v = 0.0f;  // +0.0, as the codec decodes zeros.
  }
  r->facts.quantized = centroids.defined();
  r->facts.pruned = pruned;
  r->facts.nonzeros = CountNonzero(w, workers_);

  if (!centroids.defined()) {
    auto found = SparseCodebook(t, centroids, lc.gap_bits);
    if (!found) {
      r->facts.raw_reason = kCodebookTooLarge;
      return absl::OkStatus();
    }
    codebook = *std::move(found);
  }
  SnapCodebookToDType(e.dtype, &codebook);
  const uint32_t before = codec::Crc32c(w.data(), w.size_bytes());
  codec::QuantizedEncodeOptions encode = EncodeOptions(lc);
  // A large tensor runs alone (the admission in Run): its encodings may use
  // the cores. Smaller ones running together briefly ask for more threads
  // than cores, which costs little.
  encode.threads = workers_;
  auto encoded = codec::CdzWriter::EncodeQuantized(e.name, e.dtype, Shape(e), w,
                                                   codebook, encode);
  if (!encoded.ok()) return encoded.status();
  // Decoding into the tensor itself makes every export exactly what the
  // .cdz decodes to; the CRC proves that is what was encoded.
  if (auto st = codec::DecodeQuantized(
          encoded->info.encoding,
          {reinterpret_cast<const uint8_t*>(encoded->body.data()),
           encoded->body.size()},
          w, e.name, workers_);
      !st.ok()) {
    return st;
  }
  if (codec::Crc32c(w.data(), w.size_bytes()) != before) {
    return absl::InternalError(absl::StrCat(
        "the encoded tensor ", e.name,
        " does not decode to its values; this is a bug in condense, please "
        "report it"));
  }
  r->encoded = *std::move(encoded);
  return absl::OkStatus();
}

TensorResult Streamer::Process(size_t i) const {
  const TensorEntry& e = source_.tensors()[i];
  const LayerConfig& lc = layer_[i];
  TensorResult r;
  r.facts.role = e.role;
  r.facts.module_type = e.module_type;
  r.facts.compressed = lc.compress;
  r.facts.bits = lc.bits;
  r.facts.gap_bits = lc.gap_bits;
  r.facts.parameters = e.numel();
  r.facts.shape = e.shape;
  r.status =
      TorchCall(absl::StrCat("compressing ", e.name), [&]() -> absl::Status {
        auto t = source_.Read(i);
        if (!t.ok()) return t.status();
        r.tensor = *t;
        if (!lc.compress) {
          r.facts.raw_reason = NotSelectedReason(e.role, e.floating());
          for (size_t s = 0; s < config_.stages.size(); ++s) {
            r.stage_bytes.push_back(TensorStorageBytes(r.tensor, nullptr, 0));
          }
          return absl::OkStatus();
        }
        return Compress(i, r.tensor, &r);
      });
  return r;
}

absl::StatusOr<StreamedRun> Streamer::Run(const codec::Manifest& manifest,
                                          const StreamPaths& paths,
                                          ProgressObserver* observer,
                                          const CancelFlag* cancel) {
  Resolve();
  const std::vector<TensorEntry>& entries = source_.tensors();
  const size_t n = entries.size();
  bool any = false;
  for (const LayerConfig& lc : layer_) any = any || lc.compress;
  if (!any) return NothingToCompressError(source_.path());

  // The .cdz and the safetensors export are written as tensors come in.
  codec::Manifest full = manifest;
  json aliases = json::object();
  for (const TensorEntry& e : entries) {
    for (const std::string& a : e.aliases) aliases[a] = e.name;
  }
  if (!aliases.empty()) full["aliases"] = aliases.dump();
  if (auto st = AddLayoutToManifest(source_, &full); !st.ok()) return st;
  auto cdz_file = codec::NewAtomicFile(paths.cdz);
  if (!cdz_file.ok()) return cdz_file.status();
  auto cdz = codec::CdzWriter::Create(*std::move(cdz_file), full);
  if (!cdz.ok()) return cdz.status();
  DecodedExport decoded;
  if (auto st = decoded.Open(paths.decoded, source_, full); !st.ok()) {
    return st;
  }

  // Admission: a tensor starts when the ones in flight (read, processed or
  // waiting to be written) leave room for it within the largest one's
  // working memory, or within the shared budget where that is more, so
  // memory stays that of the largest tensor plus a constant.
  std::vector<int64_t> cost(n);
  int64_t budget = std::max<int64_t>(1, shared_budget_);
  for (size_t i = 0; i < n; ++i) {
    const int64_t bytes =
        entries[i].numel() *
        std::max<int64_t>(1, codec::DTypeSize(entries[i].dtype));
    cost[i] =
        (source_.reads_allocate()
             ? std::max<int64_t>(bytes, entries[i].numel() * 4)
             : 0) +
        (layer_[i].compress ? entries[i].numel() * kWorkBytesPerWeight : 0);
    budget = std::max(budget, cost[i]);
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0;
  int64_t in_flight = 0;
  bool stop = false;
  std::vector<std::optional<TensorResult>> done(n);
  auto worker = [&]() {
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] {
          return stop || next >= n || in_flight == 0 ||
                 in_flight + cost[next] <= budget;
        });
        if (stop || next >= n) return;
        i = next++;
        in_flight += cost[i];
      }
      TensorResult r = Process(i);
      {
        std::lock_guard lock(mu);
        r.cost = cost[i];
        done[i] = std::move(r);
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  const int thread_count =
      std::max(1, std::min<int>(workers_, static_cast<int>(n)));
  for (int t = 0; t < thread_count; ++t) threads.emplace_back(worker);
  struct Joiner {
    std::vector<std::thread>& threads;
    std::mutex& mu;
    bool& stop;
    std::condition_variable& cv;
    ~Joiner() {
      {
        std::lock_guard lock(mu);
        stop = true;
      }
      cv.notify_all();
      for (auto& t : threads) t.join();
    }
  } joiner{threads, mu, stop, cv};

  StreamedRun out;
  const size_t stage_count = config_.stages.size();
  std::vector<StorageBytes> stage_bytes(stage_count);
  out.stages.resize(stage_count);
  for (size_t s = 0; s < stage_count; ++s) {
    out.stages[s].stage = StageName(config_.stages[s].kind);
    out.stages[s].index = static_cast<int>(s);
    out.stages[s].detail = EmptyDetail(config_.stages[s].kind);
  }
  int64_t total = 0, nonzero = 0, done_bytes = 0, all_bytes = 0;
  for (const TensorEntry& e : entries) all_bytes += e.numel();
  int last_decile = 0;
  for (size_t i = 0; i < n; ++i) {
    TensorResult r;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done[i].has_value(); });
      r = *std::move(done[i]);
      done[i].reset();
    }
    const TensorEntry& e = entries[i];
    absl::Status st = r.status;
    if (st.ok() && cancel != nullptr && cancel->cancelled()) {
      st = absl::CancelledError("cancelled while encoding");
    }
    std::optional<StoredBytes> stored;
    if (st.ok()) {
      st = TorchCall("storing " + e.name, [&]() -> absl::Status {
        stored.emplace(e, r.tensor, source_.reads_allocate());
        return r.encoded
                   ? (*cdz)->AddEncoded(*std::move(r.encoded))
                   : (*cdz)->AddRaw(e.name, e.dtype, Shape(e), stored->bytes());
      });
    }
    if (st.ok()) st = decoded.Append(i, e.name, stored->chars());
    if (!st.ok()) return st;
    for (size_t s = 0; s < stage_count; ++s) {
      stage_bytes[s].Add(r.stage_bytes[s]);
      if (!r.facts.compressed) continue;
      const TensorStageRecord& rec = r.stage_records[s];
      StageRecord& stage = out.stages[s];
      if (auto* q = std::get_if<QuantizeRecord>(&stage.detail);
          q != nullptr && rec.clustering) {
        q->layers.push_back(*rec.clustering);
      }
      if (auto* p = std::get_if<PruneRecord>(&stage.detail);
          p != nullptr && rec.sparsity) {
        p->layer_sparsity[e.name] = *rec.sparsity;
      }
      stage.weight_histograms[e.name] = r.stage_histograms[s];
    }
    out.parameters += e.parameter ? e.numel() : 0;
    if (r.facts.compressed) {
      ++out.compressed_tensors;
      total += e.numel();
      nonzero += r.facts.nonzeros;
      if (e.numel() > 0 && r.facts.nonzeros == 0)
        out.pruned_away.push_back(e.name);
      out.weights.push_back(std::move(r.weights));
    }
    out.tensors.push_back({(*cdz)->tensor_sizes().back(), r.facts});
    stored.reset();
    r = TensorResult();  // Drops the tensor before admitting the next.
    {
      std::lock_guard lock(mu);
      in_flight -= cost[i];
    }
    cv.notify_all();
    done_bytes += e.numel();
    const int decile =
        static_cast<int>(10 * done_bytes / std::max<int64_t>(all_bytes, 1));
    if (observer != nullptr && decile > last_decile) {
      last_decile = decile;
      ProgressEvent ev;
      ev.kind = ProgressEvent::Kind::kMessage;
      ev.message =
          absl::StrFormat("encoded %d of %d tensors (%d%% of the weights)",
                          i + 1, n, 10 * decile);
      observer->OnEvent(ev);
    }
  }
  if (auto st = (*cdz)->Finish(); !st.ok()) return st;
  if (auto st = decoded.Finish(); !st.ok()) return st;
  out.sizes = (*cdz)->sizes();
  out.sparsity = total > 0 ? 1.0 - static_cast<double>(nonzero) / total : 0;
  for (size_t s = 0; s < stage_count; ++s) {
    const StorageEstimate est = stage_bytes[s].Estimate();
    out.stages[s].ratio_pruned = est.pruned_ratio;
    out.stages[s].ratio_pruned_quantized = est.quantized_ratio;
    out.stages[s].sparsity = out.sparsity;
  }
  out.estimate =
      stage_count > 0 ? stage_bytes.back().Estimate() : StorageEstimate{};

  if (!paths.torchscript.empty()) {
    torch::jit::Module* module = source_.module();
    if (module == nullptr) {
      return absl::InternalError("a TorchScript export needs a module");
    }
    const std::string tmp = paths.torchscript + ".tmp";
    if (auto st = TorchCall("saving the TorchScript model",
                            [&]() -> absl::Status {
                              module->save(tmp);
                              return absl::OkStatus();
                            });
        !st.ok()) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return st;
    }
    std::error_code ec;
    fs::rename(tmp, paths.torchscript, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
    }
  }
  return out;
}

}  // namespace

bool StreamsDataFree(const EngineConfig& config) {
  for (const StageConfig& s : config.stages) {
    if (!MakeStage(s)->StreamsDataFree()) return false;
  }
  return true;
}

absl::StatusOr<StreamedRun> CompressStreaming(
    ModelSource& source, const EngineConfig& config,
    const codec::Manifest& manifest, const StreamPaths& paths, int workers,
    ProgressObserver* observer, const CancelFlag* cancel,
    int64_t shared_budget) {
  Streamer streamer(source, config, workers, shared_budget);
  return streamer.Run(manifest, paths, observer, cancel);
}

}  // namespace condense::engine
