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
json WeightHistogram(const torch::Tensor& weights, double lo, double hi,
                     bool nonzero_only) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w =
      weights.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return Histogram({w.data_ptr<float>(), static_cast<size_t>(w.numel())}, lo,
                   hi, kHistogramBins, nonzero_only);
}

// The dense weights' histograms: {"bins", "layers": [{name, min, max,
// dense}]}, taken before any stage (and before a checkpoint is loaded).
json DenseHistograms(Model& model) {
  json layers = json::array();
  for (const Layer& l : model.layers()) {
    const torch::Tensor w =
        l.param.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const ValueRange r =
        RangeOf({w.data_ptr<float>(), static_cast<size_t>(w.numel())});
    layers.push_back({{"name", l.name},
                      {"min", r.min},
                      {"max", r.max},
                      {"dense", WeightHistogram(w, r.min, r.max, false)}});
  }
  return {{"bins", kHistogramBins}, {"layers", layers}};
}

// Each layer's nonzero weights now, over the dense ranges in `dense`.
json NonzeroHistograms(Model& model, const json& dense) {
  json out = json::object();
  for (const Layer& l : model.layers()) {
    for (const json& d : dense["layers"]) {
      if (d["name"] != l.name) continue;
      out[l.name] = WeightHistogram(l.param, d["min"].get<double>(),
                                    d["max"].get<double>(), true);
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

// Moves the finished outputs from the staging directory into `out_dir`
// (replacing older ones; a stale model.pt goes when there is no new one) and
// points `out` at them.
absl::Status Publish(const std::string& out_dir, RunOutputs* out) {
  for (std::string* path :
       {&out->cdz_path, &out->safetensors_path, &out->torchscript_path,
        &out->report_path, &out->report_html_path}) {
    if (path->empty()) continue;
    const fs::path target = fs::path(out_dir) / fs::path(*path).filename();
    std::error_code ec;
    fs::rename(*path, target, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "cannot move ", *path, " to ", target.string(), ": ", ec.message()));
    }
    *path = target.string();
  }
  if (out->torchscript_path.empty()) {
    std::error_code ignored;
    fs::remove(fs::path(out_dir) / artifacts::kTorchScript, ignored);
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

json TensorReport(const codec::TensorSize& size, Model& model) {
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
  return TensorRecord(size, f);
}

// The report's "totals": the file's ratio and the paper's estimates.
json Totals(const codec::ModelSize& sizes, const StorageEstimate& est,
            double sparsity) {
  return {
      {"original_bytes", sizes.OriginalBytes()},
      {"compressed_bytes", sizes.file_bytes},
      {"compression_ratio", sizes.Ratio()},
      {"ratio_pruned", est.pruned_ratio},
      {"ratio_pruned_quantized", est.quantized_ratio},
      {"ratio_pruned_quantized_huffman", sizes.Ratio()},
      {"sparsity", sparsity},
  };
}

// The fields every report has, whichever path ran.
json ReportHeader(const Run& run, const ModelSource& source,
                  int64_t parameters) {
  json rep;
  rep["schema_version"] = 1;
  rep["model"] = {{"path", run.inputs.model_path},
                  {"sha256", source.sha256()},
                  {"format", ModelFormatName(source.format())},
                  {"parameters", parameters}};
  rep["data"] = run.data ? run.data->Describe() : json(nullptr);
  rep["preset"] = run.config.preset;
  rep["spec"] =
      json::parse(run.config.spec_json.empty() ? "{}" : run.config.spec_json,
                  nullptr, false);
  rep["device"] = run.device.str();
  rep["threads"] = torch::get_num_threads();
  rep["seed"] = run.config.seed;
  rep["versions"] = {{"condense", EngineVersion()},
                     {"libtorch", TORCH_VERSION}};
  return rep;
}

codec::Manifest BaseManifest(const Run& run, const std::string& sha256) {
  codec::Manifest manifest = {{"source_sha256", sha256},
                              {"spec", run.config.spec_json},
                              {"producer", EngineVersion()}};
  if (run.data) manifest["data"] = run.data->Describe().dump();
  return manifest;
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

// Adds the warnings to the report and the events, writes report.json and
// report.html into `dir`, then publishes everything.
absl::Status FinishOutputs(const Run& run, const fs::path& dir,
                           const std::vector<std::string>& warnings,
                           Clock::time_point start, json& rep,
                           RunOutputs* out) {
  rep["warnings"] = warnings;
  for (const std::string& w : warnings) {
    ProgressEvent ev;
    ev.kind = ProgressEvent::Kind::kMessage;
    ev.message = absl::StrCat("warning: ", w);
    Emit(run.observer, ev);
  }
  rep["duration_seconds"] = Since(start);
  const std::string& out_dir = run.inputs.out_dir;
  out->report_path = (dir / artifacts::kReportJson).string();
  if (auto st = WriteJsonFile(out->report_path, rep); !st.ok()) return st;
  out->report_html_path = (dir / artifacts::kReportHtml).string();
  {
    auto html = codec::NewAtomicFile(out->report_html_path);
    if (!html.ok()) return html.status();
    if (auto st = (*html)->Append(report::RenderReportHtml(rep)); !st.ok()) {
      return st;
    }
    if (auto st = (*html)->Close(); !st.ok()) return st;
  }
  out->report = rep;
  return Publish(out_dir, out);
}

absl::StatusOr<RunOutputs> RunStreamed(Run& run) {
  const auto start = Clock::now();
  ModelSource& source = *run.source;
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
  auto staging = MakeStaging(run.inputs.out_dir);
  if (!staging.ok()) return staging.status();
  const fs::path& dir = (*staging)->path;
  RunOutputs out;
  out.cdz_path = (dir / artifacts::kCdz).string();
  out.safetensors_path = (dir / artifacts::kSafetensors).string();
  if (source.module() != nullptr) {
    out.torchscript_path = (dir / artifacts::kTorchScript).string();
  }
  StreamPaths paths{out.cdz_path, out.safetensors_path, out.torchscript_path};
  auto streamed = CompressStreaming(
      source, run.config, BaseManifest(run, source.sha256()), paths,
      torch::get_num_threads(), run.observer, run.cancel);
  if (!streamed.ok()) return streamed.status();
  const double encode_seconds = Since(start);
  json rep = ReportHeader(run, source, streamed->parameters);
  json stages = json::array();
  for (int i = 0; i < stage_count; ++i) {
    json r = streamed->stages[i];
    r["stage"] = StageName(run.config.stages[i].kind);
    r["index"] = i;
    r["accuracy"] = nullptr;
    r["sparsity"] = streamed->sparsity;
    r["duration_seconds"] = encode_seconds / std::max(stage_count, 1);
    stages.push_back(std::move(r));
  }
  rep["stages"] = stages;
  rep["streamed"] = true;
  rep["encode_seconds"] = encode_seconds;
  rep["tensors"] = streamed->tensors;
  rep["size"] = codec::ToJson(streamed->sizes);
  rep["totals"] =
      Totals(streamed->sizes, streamed->estimate, streamed->sparsity);
  rep["accuracy"] = {{"baseline", nullptr}, {"final", nullptr}};
  rep["weights"] = streamed->weights;
  std::vector<std::string> warnings;
  for (const std::string& name : streamed->pruned_away) {
    for (const TensorEntry& e : source.tensors()) {
      if (e.name == name) {
        warnings.push_back(
            PrunedAwayWarning(name, e.numel(), e.shape.size() >= 3));
      }
    }
  }
  if (auto st = FinishOutputs(run, dir, warnings, start, rep, &out); !st.ok()) {
    return st;
  }
  for (int i = 0; i < stage_count; ++i) {
    ProgressEvent finished;
    finished.kind = ProgressEvent::Kind::kStageFinished;
    finished.stage = StageName(run.config.stages[i].kind);
    finished.stage_index = i;
    finished.stage_count = stage_count;
    finished.sparsity = streamed->sparsity;
    finished.ratio = streamed->stages[i].value("ratio_pruned_quantized", 0.0);
    Emit(run.observer, finished);
  }
  ProgressEvent done;
  done.kind = ProgressEvent::Kind::kRunFinished;
  done.stage_count = stage_count;
  done.ratio = streamed->sizes.Ratio();
  done.sparsity = streamed->sparsity;
  Emit(run.observer, done);
  return out;
}

absl::StatusOr<RunOutputs> RunAll(Run& run) {
  const auto start = Clock::now();
  const EngineConfig& config = run.config;
  if (auto st = Prepare(run); !st.ok()) return st;
  if (run.source) return RunStreamed(run);
  Model& model = *run.model;
  json histograms = DenseHistograms(model);
  TrainEnv env;
  env.model = &model;
  env.data = run.data ? &*run.data : nullptr;
  env.config = &config;
  env.device = run.device;
  env.teacher = run.teacher ? &*run.teacher : nullptr;
  env.observer = run.observer;
  env.cancel = run.cancel;

  const int stage_count = static_cast<int>(config.stages.size());
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
  EvalResult baseline = run.data ? Evaluate(env) : EvalResult{};
  json stages = json::array();
  const std::string fingerprint = Fingerprint(run);
  int first_stage = 0;
  if (!run.inputs.checkpoint_dir.empty()) {
    auto resumed =
        LoadCheckpoint(run.inputs.checkpoint_dir, fingerprint, model);
    if (!resumed.ok()) return resumed.status();
    if (resumed->stages_done > 0) {
      first_stage = resumed->stages_done;
      stages = resumed->report;
      ProgressEvent ev;
      ev.kind = ProgressEvent::Kind::kMessage;
      ev.message = absl::StrCat("resuming from the checkpoint after stage ",
                                first_stage, " of ", stage_count);
      Emit(run.observer, ev);
    }
  }
  for (int i = first_stage; i < stage_count; ++i) {
    const StageConfig& sc = config.stages[i];
    StageContext ctx{env, StageInfo{StageName(sc.kind), i, stage_count}};
    ProgressEvent started;
    started.kind = ProgressEvent::Kind::kStageStarted;
    started.stage = ctx.info.name;
    started.stage_index = i;
    started.stage_count = stage_count;
    Emit(run.observer, started);
    const auto stage_start = Clock::now();
    // Seeds LibTorch (CPU and CUDA) per stage, so a resumed run draws the
    // same random numbers as an uninterrupted one.
    torch::manual_seed(config.seed * 1000003 + static_cast<uint64_t>(i));
    auto record = MakeStage(sc)->Run(ctx);
    if (!record.ok()) return record.status();
    EvalResult after = run.data ? Evaluate(env) : EvalResult{};
    StorageEstimate est = EstimateStorage(model);
    json& r = *record;
    r["stage"] = ctx.info.name;
    r["index"] = i;
    r["accuracy"] = AccuracyJson(after);
    r["sparsity"] = model.Sparsity();
    r["ratio_pruned"] = est.pruned_ratio;
    r["ratio_pruned_quantized"] = est.quantized_ratio;
    r["duration_seconds"] = Since(stage_start);
    r["weight_histograms"] = NonzeroHistograms(model, histograms);
    stages.push_back(r);
    ProgressEvent finished;
    finished.kind = ProgressEvent::Kind::kStageFinished;
    finished.stage = ctx.info.name;
    finished.stage_index = i;
    finished.stage_count = stage_count;
    finished.accuracy = after.top1;
    finished.loss = after.loss;
    finished.sparsity = model.Sparsity();
    finished.ratio = est.quantized_ratio;
    Emit(run.observer, finished);
    if (!run.inputs.checkpoint_dir.empty()) {
      if (auto st = SaveCheckpoint(run.inputs.checkpoint_dir, fingerprint,
                                   model, {i + 1, stages});
          !st.ok()) {
        return st;
      }
      ProgressEvent saved = finished;
      saved.kind = ProgressEvent::Kind::kCheckpointSaved;
      saved.message = CheckpointPath(run.inputs.checkpoint_dir);
      Emit(run.observer, saved);
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

  // Encode, then prove the file decodes to exactly this model.
  {
    torch::NoGradGuard no_grad;
    for (Layer& l : model.layers()) l.param.masked_fill_(l.param == 0, 0.0);
  }
  auto staging = MakeStaging(run.inputs.out_dir);
  if (!staging.ok()) return staging.status();
  const fs::path& dir = (*staging)->path;
  RunOutputs out;
  out.cdz_path = (dir / artifacts::kCdz).string();
  const auto encode_start = Clock::now();
  auto sizes = WriteCdz(model, BaseManifest(run, model.sha256()), out.cdz_path);
  if (!sizes.ok()) return sizes.status();
  if (auto st = VerifyCdz(model, out.cdz_path); !st.ok()) return st;
  const double encode_seconds = Since(encode_start);
  out.safetensors_path = (dir / artifacts::kSafetensors).string();
  if (auto st = ExportSafetensorsFile(out.cdz_path, out.safetensors_path);
      !st.ok()) {
    return st;
  }
  if (model.trainable()) {
    out.torchscript_path = (dir / artifacts::kTorchScript).string();
    if (auto st = ExportTorchScript(out.cdz_path, run.inputs.model_path,
                                    out.torchscript_path);
        !st.ok()) {
      return st;
    }
  }

  EvalResult final_eval = run.data ? Evaluate(env) : EvalResult{};
  StorageEstimate est = EstimateStorage(model);
  json tensors = json::array();
  for (const auto& t : sizes->tensors)
    tensors.push_back(TensorReport(t, model));
  json rep = ReportHeader(run, model.source(), model.parameter_count());
  rep["stages"] = stages;
  rep["encode_seconds"] = encode_seconds;
  rep["tensors"] = tensors;
  rep["size"] = codec::ToJson(*sizes);
  rep["totals"] = Totals(*sizes, est, model.Sparsity());
  rep["accuracy"] = {
      {"baseline", baseline.top1 < 0 ? json(nullptr) : json(baseline.top1)},
      {"final", final_eval.top1 < 0 ? json(nullptr) : json(final_eval.top1)}};
  if (baseline.top5 >= 0) {
    rep["accuracy"]["baseline_top5"] = baseline.top5;
    rep["accuracy"]["final_top5"] = final_eval.top5;
  }
  // The final weights' histograms and the learned centroids.
  const json final_histograms = NonzeroHistograms(model, histograms);
  for (json& h : histograms["layers"]) {
    h["final"] = final_histograms.value(h["name"].get<std::string>(), json());
    for (const Layer& l : model.layers()) {
      if (l.name != h["name"] || !l.quantized()) continue;
      torch::Tensor c = l.centroids.detach().to(torch::kCPU, torch::kDouble);
      h["centroids"] = std::vector<double>(c.data_ptr<double>(),
                                           c.data_ptr<double>() + c.numel());
    }
  }
  rep["weights"] = histograms;
  const std::vector<std::string> warnings =
      ResultWarnings(model, baseline.top1, final_eval.top1);
  if (auto st = FinishOutputs(run, dir, warnings, start, rep, &out); !st.ok()) {
    return st;
  }

  ProgressEvent done;
  done.kind = ProgressEvent::Kind::kRunFinished;
  done.stage_count = stage_count;
  done.accuracy = final_eval.top1;
  done.ratio = sizes->Ratio();
  done.sparsity = model.Sparsity();
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
