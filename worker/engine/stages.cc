#include "worker/engine/stages.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "worker/engine/ecvq.h"
#include "worker/engine/kmeans_1d.h"
#include "worker/engine/requirements.h"
#include "worker/engine/search.h"
#include "worker/engine/stage.h"
#include "worker/engine/weight_stats.h"

namespace condense::engine {
namespace {

using Clock = std::chrono::steady_clock;

// Lloyd's iterations are O(k log n) after one sort (or over the histogram):
// run to convergence.
constexpr int kQuantizeIterations = 10000;
// The importance pass: squared gradients over this many training samples in
// batches this small (small batches estimate the curvature better than the
// square of an average gradient).
constexpr int64_t kImportanceSamples = 4096;
constexpr int64_t kImportanceBatch = 16;

double Lr(double stage_lr, const EngineConfig& c, double scale = 1.0) {
  return stage_lr > 0 ? stage_lr : TrainingLearningRate(c.training) * scale;
}

EvalResult EvalIfData(const StageContext& ctx) {
  if (ctx.env.data == nullptr) return {};
  return Evaluate(ctx.env);
}

absl::Status Train(StageContext& ctx, Trainer* trainer, int epochs,
                   uint64_t salt) {
  if (epochs == 0) return absl::OkStatus();
  return trainer->TrainEpochs(epochs, ctx.info, salt);
}

uint64_t Salt(const StageContext& ctx, int step) {
  return (static_cast<uint64_t>(ctx.info.index) << 32) |
         (static_cast<uint64_t>(step) << 16);
}

TensorValues LayerSparsity(Model& model) {
  TensorValues j;
  for (const Layer& l : model.layers()) j[l.name] = l.sparsity();
  return j;
}

// Masks for one pruning step: step of steps, so thresholds rise gradually.
void PruneStep(const PruneConfig& p, int step, Model& model) {
  torch::NoGradGuard no_grad;
  const double progress = static_cast<double>(step) / p.steps;
  if (p.criterion == PruneCriterion::kGlobalSparsity) {
    std::vector<torch::Tensor> mags;
    for (Layer& l : model.layers()) {
      if (l.config.prune) mags.push_back(l.param.abs().flatten());
    }
    if (mags.empty()) return;
    const double target = p.global_sparsity * (1 - std::pow(1 - progress, 3));
    torch::Tensor all = torch::cat(mags);
    const auto k = static_cast<int64_t>(target * all.numel());
    if (k == 0) return;
    const float threshold = std::get<0>(all.kthvalue(k)).item<float>();
    for (Layer& l : model.layers()) {
      if (!l.config.prune) continue;
      torch::Tensor keep = l.param.abs() > threshold;
      l.mask = l.mask.defined() ? l.mask.logical_and(keep) : keep;
      l.ApplyMask();
    }
    return;
  }
  for (Layer& l : model.layers()) PruneLayerStep(p, step, l);
}

absl::StatusOr<StageDetail> RunPrune(const PruneConfig& p, StageContext& ctx) {
  Model& model = *ctx.env.model;
  for (Layer& l : model.layers()) BeginPrune(l);
  std::unique_ptr<Trainer> trainer;
  if (ctx.env.data != nullptr && p.epochs_per_step > 0) {
    trainer = std::make_unique<Trainer>(ctx.env,
                                        Lr(p.learning_rate, *ctx.env.config));
  }
  PruneRecord out;
  for (int step = 1; step <= p.steps; ++step) {
    PruneStep(p, step, model);
    PruneStepRecord record;
    record.step = step;
    record.sparsity = model.Sparsity();
    if (trainer) {
      trainer->ClearPrunedState();
      if (auto st =
              Train(ctx, trainer.get(), p.epochs_per_step, Salt(ctx, step));
          !st.ok()) {
        return st;
      }
    }
    record.accuracy = EvalIfData(ctx);
    record.layer_sparsity = LayerSparsity(model);
    NotifyStage(ctx, absl::StrCat("pruning step ", step, "/", p.steps,
                                  ": sparsity ", model.Sparsity()));
    out.steps.push_back(std::move(record));
  }
  out.layer_sparsity = LayerSparsity(model);
  return out;
}

absl::StatusOr<StageDetail> RunDsd(const DsdConfig& d, StageContext& ctx) {
  Model& model = *ctx.env.model;
  if (ctx.env.data == nullptr) {
    return absl::InvalidArgumentError(
        "the dsd stage trains the model and needs data");
  }
  DsdRecord record;
  record.before = EvalIfData(ctx);
  for (Layer& l : model.layers()) {
    if (!l.config.prune || (l.first_conv && !d.prune_first_conv)) continue;
    l.mask = TopMagnitudeMask(l.param, d.sparsity);
    l.ApplyMask();
  }
  const double lr = Lr(d.learning_rate, *ctx.env.config);
  {
    Trainer sparse(ctx.env, lr);
    if (auto st = Train(ctx, &sparse, d.sparse_epochs, Salt(ctx, 1)); !st.ok())
      return st;
  }
  record.sparse_sparsity = model.Sparsity();
  record.sparse = EvalIfData(ctx);
  // Re-dense: pruned weights restart at zero; everything trains at lr / 10.
  for (Layer& l : model.layers()) l.mask = torch::Tensor();
  {
    Trainer dense(ctx.env, lr / 10);
    if (auto st = Train(ctx, &dense, d.dense_epochs, Salt(ctx, 2)); !st.ok())
      return st;
  }
  record.after = EvalIfData(ctx);
  return record;
}

absl::StatusOr<StageDetail> RunQuantize(const QuantizeConfig& q,
                                        StageContext& ctx) {
  Model& model = *ctx.env.model;
  const int epochs = QuantizeEpochs(q, ctx.env.data != nullptr);
  if (epochs > 0 && ctx.env.data == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the quantize stage retrains for ", epochs,
        " epochs but no data was given: give data, or set its epochs to 0 "
        "for data-free quantization"));
  }
  QuantizeRecord record;
  // Importance: how much the loss cares about each weight's error.
  const bool labelled =
      ctx.env.data != nullptr && ctx.env.data->labelled() && model.trainable();
  std::vector<torch::Tensor> importance;
  if (q.importance == QuantizeConfig::Importance::kSquaredGradients &&
      !labelled) {
    return absl::InvalidArgumentError(
        "the quantize stage's squared-gradient importance needs labelled "
        "data and a TorchScript model: give them, or set importance to NONE");
  }
  if (q.importance != QuantizeConfig::Importance::kNone && labelled) {
    importance = SquaredGradients(ctx.env, kImportanceSamples, kImportanceBatch,
                                  Salt(ctx, 3));
  }
  for (size_t li = 0; li < model.layers().size(); ++li) {
    Layer& l = model.layers()[li];
    torch::NoGradGuard no_grad;
    const auto start = Clock::now();
    torch::Tensor kept = l.mask.defined() ? l.mask : (l.param != 0);
    l.mask = kept;
    l.nz_index = kept.flatten().nonzero().squeeze(1);
    torch::Tensor values = l.param.flatten()
                               .index_select(0, l.nz_index)
                               .to(torch::kCPU)
                               .contiguous();
    const size_t n = static_cast<size_t>(values.numel());
    ClusterRecord rec{l.name, l.config.bits, static_cast<int64_t>(n)};
    if (n == 0) {
      l.centroids = torch::zeros({0}, l.param.options());
      l.nz_assign = torch::zeros(
          {0},
          torch::TensorOptions().dtype(torch::kInt64).device(l.param.device()));
      record.layers.push_back(rec);
      continue;
    }
    KMeansOptions opts;
    opts.k = 1 << l.config.bits;
    opts.init = q.init;
    opts.solver = q.solver;
    opts.seed = ctx.env.config->seed;
    opts.max_iterations = kQuantizeIterations;
    std::span<const float> span(values.data_ptr<float>(), n);
    auto km = KMeans1D(span, opts);
    if (!km.ok()) {
      return absl::Status(km.status().code(),
                          absl::StrCat(l.name, ": ", km.status().message()));
    }
    std::vector<float> centroids = km->centroids;
    std::vector<int32_t> assign(n);
    const double lambda = l.config.rate_lambda.value_or(q.rate_lambda);
    if (lambda > 0 || !importance.empty()) {
      torch::Tensor h;
      if (!importance.empty()) {
        h = importance[li]
                .flatten()
                .index_select(0, l.nz_index)
                .to(torch::kCPU, torch::kFloat)
                .contiguous();
      }
      auto ec = EntropyConstrainedQuantize(
          span,
          h.defined() ? std::span<const float>(h.data_ptr<float>(), n)
                      : std::span<const float>(),
          km->centroids, {.lambda = lambda});
      if (!ec.ok()) {
        return absl::Status(ec.status().code(),
                            absl::StrCat(l.name, ": ", ec.status().message()));
      }
      centroids = std::move(ec->centroids);
      assign = std::move(ec->assign);
      rec.rate_lambda = lambda;
      rec.importance_weighted = h.defined();
      rec.index_entropy_bits = ec->entropy_bits;
    } else {
      AssignNearest(span, km->centroids, assign);
    }
    l.centroids = torch::tensor(centroids).to(l.param.device());
    l.nz_assign = torch::tensor(assign).to(torch::kInt64).to(l.param.device());
    l.ApplyCentroids();
    rec.centroids = static_cast<int64_t>(centroids.size());
    rec.kmeans_sse = km->sse;
    rec.kmeans_iterations = km->iterations;
    rec.kmeans_seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    record.layers.push_back(rec);
  }
  record.after_clustering = EvalIfData(ctx);
  if (epochs > 0) {
    Trainer trainer(ctx.env, Lr(q.learning_rate, *ctx.env.config, 0.1));
    if (auto st = Train(ctx, &trainer, epochs, Salt(ctx, 1)); !st.ok()) {
      return st;
    }
  }
  record.epochs = epochs;
  return record;
}

absl::StatusOr<StageDetail> RunFinetune(const FinetuneConfig& f,
                                        StageContext& ctx) {
  if (ctx.env.data == nullptr) {
    return absl::InvalidArgumentError(
        "the finetune stage trains the model and needs data");
  }
  Trainer trainer(ctx.env, Lr(f.learning_rate, *ctx.env.config));
  if (auto st = Train(ctx, &trainer, f.epochs, Salt(ctx, 1)); !st.ok()) {
    return st;
  }
  return FinetuneRecord{f.epochs};
}

}  // namespace

void NotifyStage(const StageContext& ctx, const std::string& message,
                 double ratio, double top1) {
  if (ctx.env.observer == nullptr) return;
  ProgressEvent ev;
  ev.kind = ProgressEvent::Kind::kMessage;
  ev.stage = ctx.info.name;
  ev.stage_index = ctx.info.index;
  ev.stage_count = ctx.info.count;
  ev.message = message;
  ev.ratio = ratio;
  ev.accuracy = top1;
  ctx.env.observer->OnEvent(ev);
}

torch::Tensor TopMagnitudeMask(const torch::Tensor& w, double sparsity) {
  torch::NoGradGuard no_grad;
  const int64_t n = w.numel();
  const auto keep = n - static_cast<int64_t>(std::floor(sparsity * n));
  torch::Tensor mask = torch::zeros({n}, w.options().dtype(torch::kBool));
  if (keep > 0) {
    // Stable sort: equal magnitudes keep the earlier position first.
    torch::Tensor order =
        std::get<1>(w.abs().flatten().sort(/*stable=*/true, 0, true));
    mask.index_fill_(0, order.narrow(0, 0, keep), true);
  }
  return mask.view(w.sizes());
}

void BeginPrune(Layer& l) {
  if (!l.config.prune) return;
  torch::NoGradGuard no_grad;
  torch::Tensor nz = l.param.detach().masked_select(l.param != 0);
  l.dense_std = nz.numel() > 1 ? nz.std().item<double>() : 0;
}

void PruneLayerStep(const PruneConfig& p, int step, Layer& l) {
  if (!l.config.prune) return;
  torch::NoGradGuard no_grad;
  const double progress = static_cast<double>(step) / p.steps;
  torch::Tensor keep;
  if (p.criterion == PruneCriterion::kSparsity) {
    keep = TopMagnitudeMask(
        l.param, l.config.sparsity * (1 - std::pow(1 - progress, 3)));
  } else {
    // Han et al. 2015: threshold = quality parameter x std of the layer.
    keep = l.param.abs() > l.config.sensitivity * l.dense_std * progress;
  }
  l.mask = l.mask.defined() ? l.mask.logical_and(keep) : keep;
  l.ApplyMask();
}

int64_t GapFillers(const torch::Tensor& w, int gap_bits) {
  const torch::Tensor c =
      w.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return GapFillers(std::span<const float>(c.data_ptr<float>(),
                                           static_cast<size_t>(c.numel())),
                    gap_bits);
}

void StorageBytes::Add(const StorageBytes& o) {
  original += o.original;
  pruned += o.pruned;
  quantized += o.quantized;
}

StorageEstimate StorageBytes::Estimate() const {
  StorageEstimate e;
  e.pruned_ratio = pruned > 0 ? original / pruned : 0;
  e.quantized_ratio = quantized > 0 ? original / quantized : 0;
  return e;
}

StorageBytes TensorStorageBytes(const torch::Tensor& t, const LayerConfig* lc,
                                int64_t centroids, int threads) {
  StorageBytes b;
  b.original = static_cast<double>(t.numel()) *
               (t.is_floating_point() ? 4 : t.element_size());
  if (lc == nullptr) {
    b.pruned = b.quantized = b.original;
    return b;
  }
  const torch::Tensor c =
      t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const std::span<const float> w(c.data_ptr<float>(),
                                 static_cast<size_t>(c.numel()));
  const auto nz = static_cast<double>(CountNonzero(w, threads));
  const double gaps =
      nz + static_cast<double>(GapFillers(w, lc->gap_bits, threads));
  const double gap_bytes = gaps * lc->gap_bits / 8;
  b.pruned = nz * 4 + gap_bytes;
  const double k =
      centroids > 0 ? static_cast<double>(centroids) : std::pow(2.0, lc->bits);
  b.quantized = nz * lc->bits / 8 + gap_bytes + k * 4;
  return b;
}

StorageEstimate EstimateStorage(Model& model) {
  StorageBytes total;
  for (const NamedTensor& nt : model.tensors()) {
    const Layer* layer = model.FindLayer(nt.tensor);
    total.Add(TensorStorageBytes(
        nt.tensor, layer ? &layer->config : nullptr,
        layer && layer->quantized() ? layer->centroids.numel() : 0));
  }
  return total.Estimate();
}

namespace {

class PruneStage : public Stage {
 public:
  explicit PruneStage(const PruneConfig& c) : c_(c) {}
  const char* name() const override { return "prune"; }
  absl::StatusOr<StageDetail> Run(StageContext& ctx) const override {
    return RunPrune(c_, ctx);
  }
  // Per layer without retraining: every layer alone but for one global
  // threshold.
  bool StreamsDataFree() const override {
    return c_.criterion != PruneCriterion::kGlobalSparsity &&
           c_.epochs_per_step == 0;
  }
  absl::StatusOr<TensorStageRecord> RunOnTensor(TensorState& t) const override {
    Layer l = Layer::Of(t.name, t.tensor, t.settings, t.first_conv);
    BeginPrune(l);
    for (int step = 1; step <= c_.steps; ++step) PruneLayerStep(c_, step, l);
    t.pruned = t.pruned || l.mask.defined();
    TensorStageRecord rec;
    rec.sparsity =
        1.0 - static_cast<double>(CountNonzero(t.weights, t.threads)) /
                  static_cast<double>(std::max<size_t>(t.weights.size(), 1));
    return rec;
  }

 private:
  PruneConfig c_;
};

class DsdStage : public Stage {
 public:
  explicit DsdStage(const DsdConfig& c) : c_(c) {}
  const char* name() const override { return "dsd"; }
  absl::StatusOr<StageDetail> Run(StageContext& ctx) const override {
    return RunDsd(c_, ctx);
  }

 private:
  DsdConfig c_;
};

class QuantizeStage : public Stage {
 public:
  explicit QuantizeStage(const QuantizeConfig& c) : c_(c) {}
  const char* name() const override { return "quantize"; }
  absl::StatusOr<StageDetail> Run(StageContext& ctx) const override {
    return RunQuantize(c_, ctx);
  }
  bool StreamsDataFree() const override {
    return QuantizeEpochs(c_, /*has_data=*/false) == 0;
  }
  // The same clustering as Run (KMeans1DNonzero is KMeans1D over the
  // nonzeros, SnapToCentroids is AssignNearest), without index tensors.
  absl::StatusOr<TensorStageRecord> RunOnTensor(TensorState& t) const override {
    const auto start = Clock::now();
    const int64_t nonzeros = CountNonzero(t.weights, t.threads);
    ClusterRecord rec{t.name, t.settings.bits, nonzeros};
    if (nonzeros == 0) {
      t.centroids = torch::zeros({0});
      t.codebook = UsedCentroids({}, {});
    } else {
      KMeansOptions opts;
      opts.k = 1 << t.settings.bits;
      opts.init = c_.init;
      opts.solver = c_.solver;
      opts.seed = t.seed;
      opts.max_iterations = kQuantizeIterations;
      auto km = KMeans1DNonzero(t.weights, opts);
      if (!km.ok()) {
        return absl::Status(km.status().code(),
                            absl::StrCat(t.name, ": ", km.status().message()));
      }
      std::vector<float> centroids = km->centroids;
      const double lambda = t.settings.rate_lambda.value_or(c_.rate_lambda);
      if (lambda > 0) {
        // Data-free: no importance, every weight's error counts the same.
        std::vector<float> nz;
        nz.reserve(static_cast<size_t>(nonzeros));
        for (float v : t.weights) {
          if (v != 0.0f) nz.push_back(v);
        }
        auto ec = EntropyConstrainedQuantize(nz, {}, km->centroids,
                                             {.lambda = lambda});
        if (!ec.ok()) {
          return absl::Status(
              ec.status().code(),
              absl::StrCat(t.name, ": ", ec.status().message()));
        }
        size_t k = 0;
        for (float& v : t.weights) {
          if (v != 0.0f) v = ec->centroids[ec->assign[k++]];
        }
        centroids = std::move(ec->centroids);
        rec.rate_lambda = lambda;
        rec.index_entropy_bits = ec->entropy_bits;
      }
      const std::vector<uint64_t> used =
          SnapToCentroids(t.weights, centroids, t.threads);
      t.centroids = torch::tensor(centroids);
      t.codebook = UsedCentroids(centroids, used);
      rec.centroids = static_cast<int64_t>(centroids.size());
      rec.kmeans_sse = km->sse;
      rec.kmeans_iterations = km->iterations;
    }
    rec.kmeans_seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    return TensorStageRecord{std::nullopt, rec};
  }

 private:
  QuantizeConfig c_;
};

class FinetuneStage : public Stage {
 public:
  explicit FinetuneStage(const FinetuneConfig& c) : c_(c) {}
  const char* name() const override { return "finetune"; }
  absl::StatusOr<StageDetail> Run(StageContext& ctx) const override {
    return RunFinetune(c_, ctx);
  }
  // Without epochs, nothing to do to any tensor.
  bool StreamsDataFree() const override { return c_.epochs == 0; }
  absl::StatusOr<TensorStageRecord> RunOnTensor(TensorState&) const override {
    return TensorStageRecord{};
  }

 private:
  FinetuneConfig c_;
};

class SearchStage : public Stage {
 public:
  explicit SearchStage(const SearchConfig& c) : c_(c) {}
  const char* name() const override { return "search"; }
  absl::StatusOr<StageDetail> Run(StageContext& ctx) const override {
    auto record = RunSearch(c_, ctx);
    if (!record.ok()) return record.status();
    return *std::move(record);
  }

 private:
  SearchConfig c_;
};

}  // namespace

absl::StatusOr<TensorStageRecord> Stage::RunOnTensor(TensorState&) const {
  return absl::InternalError(
      absl::StrCat("stage ", name(), " cannot run tensor by tensor"));
}

std::unique_ptr<Stage> MakeStage(const StageConfig& config) {
  switch (config.kind) {
    case StageConfig::Kind::kPrune:
      return std::make_unique<PruneStage>(config.prune);
    case StageConfig::Kind::kDsd:
      return std::make_unique<DsdStage>(config.dsd);
    case StageConfig::Kind::kQuantize:
      return std::make_unique<QuantizeStage>(config.quantize);
    case StageConfig::Kind::kFinetune:
      return std::make_unique<FinetuneStage>(config.finetune);
    case StageConfig::Kind::kSearch:
      return std::make_unique<SearchStage>(config.search);
  }
  return nullptr;
}

}  // namespace condense::engine
