#include "worker/engine/engine.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/artifacts.h"
#include "base/sha256.h"
#include "codec/file_io.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/data.h"
#include "worker/engine/encode.h"
#include "worker/engine/model.h"
#include "worker/engine/requirements.h"
#include "worker/engine/run_report.h"
#include "worker/engine/search.h"
#include "worker/engine/stage.h"
#include "worker/engine/stages.h"
#include "worker/engine/streaming.h"
#include "worker/engine/tensor_report.h"
#include "worker/engine/torch_status.h"
#include "worker/engine/train.h"
#include "worker/engine/weight_stats.h"
#include "worker/report/report_html.h"

namespace condense::engine {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Weight histograms for the report (the Deep Compression paper's picture):
// each layer's range is fixed by its dense weights, so the histograms after
// each stage line up with the dense one.
std::vector<int64_t> WeightHistogram(const torch::Tensor& weights, double lo,
                                     double hi, bool nonzero_only) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w =
      weights.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return Histogram({w.data_ptr<float>(), static_cast<size_t>(w.numel())}, lo,
                   hi, kHistogramBins, nonzero_only);
}

// The dense weights' histograms, taken before any stage (and before a
// checkpoint is loaded).
std::vector<WeightHistograms> DenseHistograms(Model& model) {
  std::vector<WeightHistograms> layers;
  for (const Layer& l : model.layers()) {
    const torch::Tensor w =
        l.param.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const ValueRange r =
        RangeOf({w.data_ptr<float>(), static_cast<size_t>(w.numel())});
    WeightHistograms h;
    h.name = l.name;
    h.min = r.min;
    h.max = r.max;
    h.dense = WeightHistogram(w, r.min, r.max, false);
    layers.push_back(std::move(h));
  }
  return layers;
}

// Each layer's nonzero weights now, over the dense ranges.
TensorHistograms NonzeroHistograms(Model& model,
                                   const std::vector<WeightHistograms>& dense) {
  TensorHistograms out;
  for (const Layer& l : model.layers()) {
    for (const WeightHistograms& d : dense) {
      if (d.name == l.name) {
        out[l.name] = WeightHistogram(l.param, d.min, d.max, true);
      }
    }
  }
  return out;
}

// What a user must not miss in a result that is otherwise valid: layers
// pruned away entirely (their output no longer depends on their input) and
// accuracy that fell far below the dense model's.
constexpr double kAccuracyDropWarning = 0.05;

std::string PrunedAwayWarning(const std::string& name, int64_t numel,
                              bool conv) {
  return absl::StrCat(
      "layer ", name, " was pruned entirely (", numel,
      " weights, none left), so its output no longer depends on its input; "
      "prune it less: lower ",
      conv ? "conv" : "fc",
      ".sensitivity, or set a layer rule, or use criterion SPARSITY");
}

std::vector<std::string> ResultWarnings(Model& model, double baseline,
                                        double final_top1) {
  std::vector<std::string> warnings;
  for (const Layer& l : model.layers()) {
    if (l.param.numel() == 0 || l.nonzeros() > 0) continue;
    warnings.push_back(PrunedAwayWarning(l.name, l.param.numel(), l.conv));
  }
  if (baseline >= 0 && final_top1 >= 0 &&
      final_top1 < baseline - kAccuracyDropWarning) {
    warnings.push_back(absl::StrFormat(
        "top-1 accuracy fell from %.2f%% to %.2f%%; retrain longer (more "
        "epochs per pruning step or quantization epochs) or compress less "
        "(lower sensitivity, more bits)",
        100 * baseline, 100 * final_top1));
  }
  return warnings;
}

absl::Status WriteJsonFile(const std::string& path, const json& j) {
  auto file = codec::NewAtomicFile(path);
  if (!file.ok()) return file.status();
  if (auto st = (*file)->Append(j.dump(2) + "\n"); !st.ok()) return st;
  return (*file)->Close();
}

void Emit(ProgressObserver* observer, ProgressEvent ev) {
  if (observer != nullptr) observer->OnEvent(ev);
}

// Points `out` at the external data the ONNX export wrote beside
// model.onnx, when it wrote any.
void NoteOnnxData(RunOutputs* out) {
  const std::string data = out->onnx_path + ".data";
  if (!out->onnx_path.empty() && fs::exists(data)) out->onnx_data_path = data;
}

// Moves the finished outputs from the staging directory into `out_dir`
// (replacing older ones; a stale model.pt goes when there is no new one) and
// points `out` at them.
absl::Status Publish(const std::string& out_dir, RunOutputs* out) {
  for (std::string* path :
       {&out->cdz_path, &out->safetensors_path, &out->torchscript_path,
        // The ONNX data before the graph that points at it.
        &out->onnx_data_path, &out->onnx_path, &out->report_path,
        &out->report_html_path}) {
    if (path->empty()) continue;
    const fs::path target = fs::path(out_dir) / fs::path(*path).filename();
    std::error_code ec;
    // A directory (a sharded checkpoint) replaces an older one whole.
    if (fs::is_directory(*path, ec) && fs::is_directory(target, ec)) {
      fs::remove_all(target, ec);
    }
    fs::rename(*path, target, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "cannot move ", *path, " to ", target.string(), ": ", ec.message()));
    }
    *path = target.string();
  }
  // Stale outputs of an earlier run of another format go.
  std::error_code ignored;
  if (out->torchscript_path.empty()) {
    fs::remove(fs::path(out_dir) / artifacts::kTorchScript, ignored);
  }
  if (out->onnx_data_path.empty()) {
    fs::remove(fs::path(out_dir) / artifacts::kOnnxData, ignored);
  }
  return absl::OkStatus();
}

// Everything one run holds; lives for the duration of RunCompression.
struct Run {
  Run(const EngineConfig& c, const RunInputs& i, ProgressObserver* o,
      const CancelFlag* f)
      : config(c), inputs(i), observer(o), cancel(f) {}
  const EngineConfig& config;
  const RunInputs& inputs;
  ProgressObserver* observer;
  const CancelFlag* cancel;
  torch::Device device = torch::kCPU;
  // Set when the run streams (data-free); otherwise `model` holds it all.
  std::unique_ptr<ModelSource> source;
  std::optional<Model> model;
  std::optional<Data> data;
  std::optional<torch::jit::Module> teacher;
  RunReport report;  // Filled as the run goes.
};

absl::Status Prepare(Run& run) {
  const EngineConfig& config = run.config;
  if (run.inputs.stop_after_stages > 0 && run.inputs.checkpoint_dir.empty()) {
    return absl::InvalidArgumentError(
        "stopping after some stages needs a checkpoint directory to resume "
        "from: give one");
  }
  if (config.device == DeviceChoice::kCuda && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        "device cuda was asked for but LibTorch sees no CUDA device: use "
        "device auto or cpu");
  }
  if (config.device != DeviceChoice::kCpu && torch::cuda::is_available()) {
    run.device = torch::Device(torch::kCUDA, 0);
  }
  const int threads =
      run.inputs.threads > 0
          ? run.inputs.threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  torch::manual_seed(config.seed);
  auto format = run.inputs.model_format.empty()
                    ? SniffModelFormat(run.inputs.model_path)
                    : ParseModelFormat(run.inputs.model_format);
  if (!format.ok()) return format.status();
  DataSources sources{run.inputs.data_dir, run.inputs.train_data,
                      run.inputs.eval_data};
  // The server made the same check at CreateJob; here it also guards
  // `condense-worker run`, before anything is loaded.
  JobFacts facts{*format, !sources.empty(), std::nullopt};
  if (auto st = CheckSpecFits(config, facts); !st.ok()) return st;
  auto source = OpenModelSource(run.inputs.model_path, *format);
  if (!source.ok()) return source.status();
  if (sources.empty() && run.inputs.streaming &&
      run.inputs.stop_after_stages == 0 && StreamsDataFree(config)) {
    run.source = *std::move(source);
    return absl::OkStatus();
  }
  auto model = Model::Load(*std::move(source), config, run.device);
  if (!model.ok()) return model.status();
  run.model.emplace(*std::move(model));

  if (!sources.empty()) {
    auto data = Data::Load(sources, config);
    if (!data.ok()) return data.status();
    run.data.emplace(*std::move(data));
    if (auto st = run.data->FitTo(run.model->module(), run.device); !st.ok()) {
      return st;
    }
    run.data->MoveTo(run.device);
  }
  if (run.data) {
    facts.labelled = run.data->labelled();
    if (auto st = CheckSpecFits(config, facts); !st.ok()) return st;
  }

  const bool distill =
      run.data.has_value() &&
      (config.loss.kind == LossKind::kDistillation ||
       (config.loss.kind == LossKind::kAuto && !run.data->labelled()));
  if (distill) {
    run.teacher = torch::jit::load(run.inputs.model_path, run.device);
    FloatingToFloat32(*run.teacher);
    run.teacher->eval();
  }
  return absl::OkStatus();
}

std::string Fingerprint(const Run& run) {
  base::Sha256Stream h;
  h.Update(run.model->sha256());
  h.Update(run.config.spec_json);
  if (run.data) {
    // The data's content, not where it was read from: a requeued job
    // resumes on another worker whose copy of the inputs lives elsewhere.
    nlohmann::json d = run.data->Describe();
    d.erase("train_source");
    d.erase("eval_source");
    h.Update(d.dump());
    for (const Split* split : {&run.data->train(), &run.data->eval()}) {
      for (const torch::Tensor& t : {split->inputs, split->targets}) {
        if (!t.defined()) continue;
        const torch::Tensor c = t.to(torch::kCPU).contiguous();
        h.Update(absl::string_view(static_cast<const char*>(c.data_ptr()),
                                   c.numel() * c.element_size()));
      }
    }
  } else {
    h.Update("no data");
  }
  h.Update(absl::StrCat(run.config.seed));
  return h.HexDigest();
}

TensorRow TensorReport(const codec::TensorSize& size, Model& model) {
  TensorFacts f;
  for (const NamedTensor& nt : model.tensors()) {
    if (nt.name != size.name) continue;
    f.role = nt.role;
    const Layer* l = model.FindLayer(nt.tensor);
    if (l == nullptr) {
      f.raw_reason = NotSelectedReason(nt.role, nt.tensor.is_floating_point());
      break;
    }
    f.compressed = true;
    f.quantized = l->quantized();
    f.pruned = l->mask.defined();
    f.bits = l->config.bits;
    f.gap_bits = l->config.gap_bits;
    f.parameters = l->param.numel();
    f.nonzeros = l->nonzeros();
    f.shape = l->param.sizes().vec();
    if (size.encoding == codec::cdz::Encoding::kRaw) {
      f.raw_reason = kCodebookTooLarge;
    }
    break;
  }
  for (const TensorEntry& e : model.source().tensors()) {
    if (e.name == size.name) f.module_type = e.module_type;
  }
  return {size, f};
}

// The fields every report has, whichever path ran.
void ReportHeader(const Run& run, const ModelSource& source, int64_t parameters,
                  RunReport& rep) {
  rep.model = {run.inputs.model_path, source.sha256(),
               ModelFormatName(source.format()), parameters};
  rep.data = run.data ? run.data->Describe() : json(nullptr);
  rep.preset = run.config.preset;
  rep.spec_json = run.config.spec_json;
  rep.device = run.device.str();
  rep.threads = torch::get_num_threads();
  rep.seed = run.config.seed;
  rep.condense_version = EngineVersion();
  rep.libtorch_version = TORCH_VERSION;
  rep.histogram_bins = kHistogramBins;
}

// What the .cdz records of its making: what it was made from and how. The
// data it was trained on is described in report.json only: its paths are
// the machine's business, not the shipped file's, and every byte of the
// file counts in the ratio.
codec::Manifest BaseManifest(const Run& run, const std::string& sha256) {
  return {{"source_sha256", sha256},
          {"spec", run.config.spec_json},
          {"producer", EngineVersion()}};
}

// A staging directory inside the output directory, removed on exit: outputs
// are moved into place only when all of them are complete, so a failure
// leaves no partial set.
struct Staging {
  fs::path path;
  ~Staging() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

absl::StatusOr<std::unique_ptr<Staging>> MakeStaging(const std::string& out) {
  auto staging = std::make_unique<Staging>();
  staging->path = fs::path(out) / ".partial";
  std::error_code ec;
  fs::remove_all(staging->path, ec);
  fs::create_directories(staging->path, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot create output directory ", out, ": ", ec.message()));
  }
  return staging;
}

ProgressEvent StageEvent(ProgressEvent::Kind kind, const StageRecord& r,
                         int stage_count) {
  ProgressEvent ev;
  ev.kind = kind;
  ev.stage = r.stage;
  ev.stage_index = r.index;
  ev.stage_count = stage_count;
  ev.accuracy = r.accuracy.top1;
  ev.loss = r.accuracy.loss;
  ev.sparsity = r.sparsity;
  ev.ratio = r.ratio_pruned_quantized;
  return ev;
}

// The data-free stream: every stage on each tensor as it is read, the
// outputs written as tensors come in.
absl::Status RunStreamed(Run& run, const fs::path& dir, RunOutputs* out) {
  ModelSource& source = *run.source;
  RunReport& rep = run.report;
  const int stage_count = static_cast<int>(run.config.stages.size());
  {
    ProgressEvent ev;
    ev.kind = ProgressEvent::Kind::kRunStarted;
    ev.stage_count = stage_count;
    ev.message = absl::StrCat("model ", run.inputs.model_path, ": ",
                              source.tensors().size(),
                              " tensors, streamed one at a time; data-free");
    Emit(run.observer, ev);
  }
  out->cdz_path = (dir / artifacts::kCdz).string();
  std::string decoded;
  if (source.onnx_model() != nullptr) {
    decoded = out->onnx_path = (dir / artifacts::kOnnx).string();
  } else {
    decoded = out->safetensors_path =
        (dir / (source.shard_layout() != nullptr
                    ? artifacts::kShardedSafetensors
                    : artifacts::kSafetensors))
            .string();
  }
  if (source.module() != nullptr) {
    out->torchscript_path = (dir / artifacts::kTorchScript).string();
  }
  const auto start = Clock::now();
  auto streamed =
      CompressStreaming(source, run.config, BaseManifest(run, source.sha256()),
                        {out->cdz_path, decoded, out->torchscript_path},
                        torch::get_num_threads(), run.observer, run.cancel);
  if (!streamed.ok()) return streamed.status();
  NoteOnnxData(out);
  ReportHeader(run, source, streamed->parameters, rep);
  rep.streamed = true;
  rep.encode_seconds = Since(start);
  // The stages ran interleaved, tensor by tensor: each gets an equal share.
  for (StageRecord& r : streamed->stages) {
    r.duration_seconds = rep.encode_seconds / std::max(stage_count, 1);
  }
  rep.stages = std::move(streamed->stages);
  rep.tensors = std::move(streamed->tensors);
  rep.size = streamed->sizes;
  rep.ratio_pruned = streamed->estimate.pruned_ratio;
  rep.ratio_pruned_quantized = streamed->estimate.quantized_ratio;
  rep.sparsity = streamed->sparsity;
  rep.weights = std::move(streamed->weights);
  for (const std::string& name : streamed->pruned_away) {
    for (const TensorEntry& e : source.tensors()) {
      if (e.name == name) {
        rep.warnings.push_back(
            PrunedAwayWarning(name, e.numel(), e.shape.size() >= 3));
      }
    }
  }
  for (const StageRecord& r : rep.stages) {
    Emit(run.observer,
         StageEvent(ProgressEvent::Kind::kStageFinished, r, stage_count));
  }
  return absl::OkStatus();
}

// One stage on the model in memory, and the model after it.
absl::StatusOr<StageRecord> RunStage(
    Run& run, TrainEnv& env, int i, const std::string& fingerprint,
    const std::vector<WeightHistograms>& dense) {
  const StageConfig& sc = run.config.stages[i];
  const int stage_count = static_cast<int>(run.config.stages.size());
  StageContext ctx{env, StageInfo{StageName(sc.kind), i, stage_count},
                   BaseManifest(run, env.model->sha256()),
                   run.inputs.checkpoint_dir, fingerprint};
  StageRecord r;
  r.stage = ctx.info.name;
  r.index = i;
  Emit(run.observer,
       StageEvent(ProgressEvent::Kind::kStageStarted, r, stage_count));
  const auto start = Clock::now();
  // Seeds LibTorch (CPU and CUDA) per stage, so a resumed run draws the
  // same random numbers as an uninterrupted one.
  torch::manual_seed(run.config.seed * 1000003 + static_cast<uint64_t>(i));
  auto detail = MakeStage(sc)->Run(ctx);
  if (!detail.ok()) return detail.status();
  Model& model = *env.model;
  const StorageEstimate est = EstimateStorage(model);
  r.detail = *std::move(detail);
  r.accuracy = run.data ? Evaluate(env) : EvalResult{};
  r.sparsity = model.Sparsity();
  r.ratio_pruned = est.pruned_ratio;
  r.ratio_pruned_quantized = est.quantized_ratio;
  r.duration_seconds = Since(start);
  r.weight_histograms = NonzeroHistograms(model, dense);
  Emit(run.observer,
       StageEvent(ProgressEvent::Kind::kStageFinished, r, stage_count));
  return r;
}

// The stages done before, from a checkpoint of this run; 0 without one.
absl::StatusOr<int> Resume(Run& run, const std::string& fingerprint) {
  if (run.inputs.checkpoint_dir.empty()) return 0;
  auto resumed =
      LoadCheckpoint(run.inputs.checkpoint_dir, fingerprint, *run.model);
  if (!resumed.ok()) return resumed.status();
  if (resumed->stages_done == 0) return 0;
  run.report.stages = std::move(resumed->stages);
  ProgressEvent ev;
  ev.kind = ProgressEvent::Kind::kMessage;
  ev.message =
      absl::StrCat("resuming from the checkpoint after stage ",
                   resumed->stages_done, " of ", run.config.stages.size());
  Emit(run.observer, ev);
  return resumed->stages_done;
}

absl::Status Checkpoint(Run& run, const std::string& fingerprint) {
  const int done = static_cast<int>(run.report.stages.size());
  if (auto st = SaveCheckpoint(run.inputs.checkpoint_dir, fingerprint,
                               *run.model, {done, run.report.stages});
      !st.ok()) {
    return st;
  }
  ProgressEvent saved = StageEvent(ProgressEvent::Kind::kCheckpointSaved,
                                   run.report.stages.back(),
                                   static_cast<int>(run.config.stages.size()));
  saved.message = CheckpointPath(run.inputs.checkpoint_dir);
  Emit(run.observer, saved);
  return absl::OkStatus();
}

// A search's goal is judged on the evaluation split, which the search never
// saw: a result that met it on validation only fails here.
absl::Status CheckGoalMet(const EngineConfig& config, const RunReport& rep) {
  const SearchRecord* search = nullptr;
  for (const StageRecord& s : rep.stages) {
    if (const auto* r = std::get_if<SearchRecord>(&s.detail)) search = r;
  }
  if (search == nullptr || search->chosen < 0) return absl::OkStatus();
  const SearchCandidate& c = search->candidates[search->chosen];
  const std::string chose = absl::StrFormat(
      "the search chose candidate %d (%.1fx, %.2f points lost on "
      "validation +- %.2f)",
      c.index, c.ratio, 100 * c.drop, 100 * c.margin);
  if (const auto allowed = AllowedDrop(config.goal)) {
    if (!rep.baseline.measured() || !rep.final.measured()) {
      return absl::OkStatus();
    }
    const double drop = rep.baseline.top1 - rep.final.top1;
    if (drop > *allowed + 1e-12) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s, which lost %.2f points of top-1 on the evaluation split, "
          "more than the goal %s allows: relax the goal, or give the search "
          "more validation data (search.validation_fraction) so its "
          "estimate is closer",
          chose, 100 * drop, search->goal));
    }
    return absl::OkStatus();
  }
  const uint64_t max_bytes =
      config.goal.max_bytes > 0
          ? config.goal.max_bytes
          : static_cast<uint64_t>(
                static_cast<double>(rep.size.OriginalBytes()) /
                config.goal.min_ratio);
  if (rep.size.file_bytes > max_bytes) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s, but the file has %d bytes, more than the goal %s allows; this "
        "is a bug in condense, please report it",
        chose, rep.size.file_bytes, search->goal));
  }
  return absl::OkStatus();
}

// Encodes the model in memory, proves the file decodes to exactly it, and
// writes the exports.
absl::Status EncodeModel(Run& run, const fs::path& dir, RunOutputs* out) {
  Model& model = *run.model;
  {
    torch::NoGradGuard no_grad;
    for (Layer& l : model.layers()) l.param.masked_fill_(l.param == 0, 0.0);
  }
  out->cdz_path = (dir / artifacts::kCdz).string();
  const auto start = Clock::now();
  codec::Manifest manifest = BaseManifest(run, model.sha256());
  if (auto st = AddLayoutToManifest(model.source(), &manifest); !st.ok()) {
    return st;
  }
  auto sizes = WriteCdz(model, manifest, out->cdz_path);
  if (!sizes.ok()) return sizes.status();
  if (auto st = VerifyCdz(model, out->cdz_path); !st.ok()) return st;
  run.report.encode_seconds = Since(start);
  run.report.size = *sizes;
  for (const auto& t : sizes->tensors) {
    run.report.tensors.push_back(TensorReport(t, model));
  }
  if (codec::OnnxModel* onnx = model.source().onnx_model()) {
    out->onnx_path = (dir / artifacts::kOnnx).string();
    if (auto st = ExportOnnxFile(out->cdz_path, *onnx, out->onnx_path);
        !st.ok()) {
      return st;
    }
    NoteOnnxData(out);
    return absl::OkStatus();
  }
  out->safetensors_path = (dir / artifacts::kSafetensors).string();
  if (auto st = ExportSafetensorsFile(out->cdz_path, out->safetensors_path);
      !st.ok()) {
    return st;
  }
  if (!model.trainable()) return absl::OkStatus();
  out->torchscript_path = (dir / artifacts::kTorchScript).string();
  return ExportTorchScript(out->cdz_path, run.inputs.model_path,
                           out->torchscript_path);
}

// The model in memory: the stages one after another (checkpointed), then
// the encoding and the final evaluation.
absl::Status RunInMemory(Run& run, const fs::path& dir, RunOutputs* out) {
  Model& model = *run.model;
  RunReport& rep = run.report;
  ReportHeader(run, model.source(), model.parameter_count(), rep);
  rep.weights = DenseHistograms(model);
  TrainEnv env;
  env.model = &model;
  env.data = run.data ? &*run.data : nullptr;
  env.config = &run.config;
  env.device = run.device;
  env.teacher = run.teacher ? &*run.teacher : nullptr;
  env.observer = run.observer;
  env.cancel = run.cancel;
  const int stage_count = static_cast<int>(run.config.stages.size());
  {
    ProgressEvent ev;
    ev.kind = ProgressEvent::Kind::kRunStarted;
    ev.stage_count = stage_count;
    ev.message = absl::StrCat(
        "model ", run.inputs.model_path, ": ", model.parameter_count(),
        " parameters, ", model.layers().size(), " tensors to compress; ",
        run.data ? absl::StrCat(run.data->train().size(), " training and ",
                                run.data->eval().size(), " evaluation samples")
                 : std::string("data-free"),
        "; device ", run.device.str());
    Emit(run.observer, ev);
  }
  rep.baseline = run.data ? Evaluate(env) : EvalResult{};
  const std::string fingerprint = Fingerprint(run);
  auto first = Resume(run, fingerprint);
  if (!first.ok()) return first.status();
  for (int i = *first; i < stage_count; ++i) {
    auto record = RunStage(run, env, i, fingerprint, rep.weights);
    if (!record.ok()) return record.status();
    rep.stages.push_back(*std::move(record));
    if (!run.inputs.checkpoint_dir.empty()) {
      if (auto st = Checkpoint(run, fingerprint); !st.ok()) return st;
    }
    if (run.inputs.stop_after_stages > 0 &&
        i + 1 >= run.inputs.stop_after_stages && i + 1 < stage_count) {
      return absl::AbortedError(
          absl::StrCat("stopped after ", i + 1,
                       " stages as asked; run again with the same "
                       "checkpoint directory to resume"));
    }
  }
  if (run.cancel != nullptr && run.cancel->cancelled()) {
    return absl::CancelledError("cancelled before encoding");
  }
  if (auto st = EncodeModel(run, dir, out); !st.ok()) return st;

  rep.final = run.data ? Evaluate(env) : EvalResult{};
  if (auto st = CheckGoalMet(run.config, rep); !st.ok()) return st;
  const StorageEstimate est = EstimateStorage(model);
  rep.ratio_pruned = est.pruned_ratio;
  rep.ratio_pruned_quantized = est.quantized_ratio;
  rep.sparsity = model.Sparsity();
  // The final weights' histograms and the learned centroids.
  TensorHistograms final_histograms = NonzeroHistograms(model, rep.weights);
  for (WeightHistograms& h : rep.weights) {
    h.final = std::move(final_histograms[h.name]);
    for (const Layer& l : model.layers()) {
      if (l.name != h.name || !l.quantized()) continue;
      torch::Tensor c = l.centroids.detach().to(torch::kCPU, torch::kDouble);
      h.centroids = std::vector<double>(c.data_ptr<double>(),
                                        c.data_ptr<double>() + c.numel());
    }
  }
  rep.warnings = ResultWarnings(model, rep.baseline.top1, rep.final.top1);
  return absl::OkStatus();
}

// Writes report.json and report.html into `dir` beside the other outputs,
// then publishes them all.
absl::Status FinishOutputs(const Run& run, const fs::path& dir,
                           RunOutputs* out) {
  for (const std::string& w : run.report.warnings) {
    ProgressEvent ev;
    ev.kind = ProgressEvent::Kind::kMessage;
    ev.message = absl::StrCat("warning: ", w);
    Emit(run.observer, ev);
  }
  out->report = ToJson(run.report);
  out->report_path = (dir / artifacts::kReportJson).string();
  if (auto st = WriteJsonFile(out->report_path, out->report); !st.ok()) {
    return st;
  }
  out->report_html_path = (dir / artifacts::kReportHtml).string();
  auto html = codec::NewAtomicFile(out->report_html_path);
  if (!html.ok()) return html.status();
  if (auto st = (*html)->Append(report::RenderReportHtml(out->report));
      !st.ok()) {
    return st;
  }
  if (auto st = (*html)->Close(); !st.ok()) return st;
  return Publish(run.inputs.out_dir, out);
}

absl::StatusOr<RunOutputs> RunAll(Run& run) {
  const auto start = Clock::now();
  if (auto st = Prepare(run); !st.ok()) return st;
  auto staging = MakeStaging(run.inputs.out_dir);
  if (!staging.ok()) return staging.status();
  const fs::path& dir = (*staging)->path;
  RunOutputs out;
  if (auto st = run.source ? RunStreamed(run, dir, &out)
                           : RunInMemory(run, dir, &out);
      !st.ok()) {
    return st;
  }
  run.report.duration_seconds = Since(start);
  if (auto st = FinishOutputs(run, dir, &out); !st.ok()) return st;
  ProgressEvent done;
  done.kind = ProgressEvent::Kind::kRunFinished;
  done.stage_count = static_cast<int>(run.config.stages.size());
  done.accuracy = run.report.final.top1;
  done.ratio = run.report.size.Ratio();
  done.sparsity = run.report.sparsity;
  Emit(run.observer, done);
  return out;
}

}  // namespace

std::string EngineVersion() {
  return absl::StrCat("condense-engine 0.1.0 (LibTorch ", TORCH_VERSION,
                      torch::cuda::is_available() ? ", CUDA)" : ", CPU)");
}

absl::StatusOr<RunOutputs> RunCompression(const EngineConfig& config,
                                          const RunInputs& inputs,
                                          ProgressObserver* observer,
                                          const CancelFlag* cancel) {
  Run run(config, inputs, observer, cancel);
  absl::StatusOr<RunOutputs> result;
  absl::Status st = TorchCall("compression failed", [&]() -> absl::Status {
    result = RunAll(run);
    return result.status();
  });
  if (!st.ok()) return st;
  return result;
}

}  // namespace condense::engine
