#include "worker/engine/search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/engine/allocation.h"
#include "worker/engine/encode.h"
#include "worker/engine/kmeans_1d.h"
#include "worker/engine/snapshot.h"
#include "worker/engine/stage.h"
#include "worker/engine/torch_dtype.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
namespace {

using Clock = std::chrono::steady_clock;

// The grids of the sensitivity curves and of the allocation's options.
constexpr double kSparsities[] = {0,    0.5,  0.7,  0.8,  0.85, 0.9,
                                  0.93, 0.95, 0.97, 0.98, 0.99};
constexpr int kBits[] = {2, 3, 4, 5, 6, 8};

// Retraining per candidate: one epoch per pruning step (three from dense,
// two from an earlier candidate's state), two of trained quantization.
constexpr int kStepsFromDense = 3;
constexpr int kStepsFromSnapshot = 2;
constexpr int kQuantizeEpochs = 2;
// The dense control: the dense model retrained this many epochs without the
// validation split, as the candidates are.
constexpr int kControlEpochs = kStepsFromDense;
// Pruned states kept for candidates to start from: the dense model and the
// latest three.
constexpr size_t kKeptPrunedStates = 4;
// What retraining leaves of the loss a tensor shows alone without it: a
// prior (pruning to 90% costs AlexNet's and the LeNets' layers tens of
// points untrained and almost nothing retrained, Han et al. 2015 Fig. 5;
// trained quantization recovers less of what sharing costs), so the
// allocation ranks tensors by their curves while the closed loop learns the
// overall scale by moving the budget.
constexpr double kPruneRecovery = 0.2;
constexpr double kShareRecovery = 0.5;
// Allocations tried in all, measured or not (a repeated allocation is not
// retrained: its outcome is known).
constexpr int kMaxAllocations = 40;
// A candidate that meets the goal using this much of what its margin
// leaves of it has little room.
constexpr double kLittleRoomDrop = 0.75;
constexpr double kLittleRoomBytes = 0.9;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Predicted classes of the first `n` samples of the environment's
// evaluation split (the validation split, in a search), on the CPU.
torch::Tensor Predict(const TrainEnv& env, int64_t n) {
  torch::NoGradGuard no_grad;
  const Data& data = *env.data;
  n = std::min(n, data.eval().size());
  torch::jit::Module& module = env.model->module();
  module.eval();
  const int64_t batch = std::max<int64_t>(env.config->training.batch_size, 512);
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t size = std::min(batch, n - start);
    torch::Tensor x =
        data.Prepare(data.eval().inputs.narrow(0, start, size), env.device);
    out.push_back(module.forward({x}).toTensor().argmax(1).to(torch::kCPU));
  }
  return torch::cat(out);
}

// 1 where the prediction is right.
torch::Tensor Correct(const TrainEnv& env, const torch::Tensor& predicted) {
  return predicted
      .eq(env.data->eval()
              .targets.narrow(0, 0, predicted.numel())
              .to(torch::kCPU))
      .to(torch::kDouble);
}

// Values of `w` (float32, CPU) pruned to `sparsity` by magnitude and shared
// into at most 2^bits centroids, as the stages would; returns the codebook.
absl::StatusOr<std::vector<float>> PruneAndShare(torch::Tensor& w,
                                                 double sparsity, int bits,
                                                 uint64_t seed) {
  torch::NoGradGuard no_grad;
  if (sparsity > 0) {
    w.masked_fill_(TopMagnitudeMask(w, sparsity).logical_not(), 0.0);
  }
  const std::span<float> values(w.data_ptr<float>(),
                                static_cast<size_t>(w.numel()));
  KMeansOptions opts;
  opts.k = 1 << bits;
  opts.seed = seed;
  opts.max_iterations = 1000;
  bool any = false;
  for (float v : values) any = any || v != 0;
  if (!any) return std::vector<float>{0.0f};
  auto km = KMeans1DNonzero(values, opts);
  if (!km.ok()) return km.status();
  const std::vector<uint64_t> used = SnapToCentroids(values, km->centroids);
  return UsedCentroids(km->centroids, used);
}

struct Analysis {
  std::vector<SensitivityCurve> curves;
  std::vector<std::vector<TensorOption>> options;  // Per layer.
  std::vector<std::vector<int>> gap_bits;          // Per layer and option.
};

// The index in kBits of the codebook size nearest the layer's configured
// bits (the smaller on a tie): the recipe's.
size_t RecipeBits(const Layer& l) {
  size_t best = 0;
  for (size_t i = 1; i < std::size(kBits); ++i) {
    if (std::abs(kBits[i] - l.config.bits) <
        std::abs(kBits[best] - l.config.bits)) {
      best = i;
    }
  }
  return best;
}

// A layer's predicted loss at `sparsity` and kBits[bits_index]: its
// options' loss interpolated linearly between the grid's sparsities (the
// nearest end beyond them). *gap_bits: the gap width of the grid option at
// or below `sparsity`.
double InterpolatedLoss(const std::vector<TensorOption>& options,
                        const std::vector<int>& gaps, double sparsity,
                        size_t bits_index, int* gap_bits) {
  const TensorOption* below = nullptr;
  const TensorOption* above = nullptr;
  for (size_t k = bits_index; k < options.size(); k += std::size(kBits)) {
    const TensorOption& o = options[k];
    if (o.sparsity <= sparsity) {
      below = &o;
      *gap_bits = gaps[k];
    } else if (above == nullptr) {
      above = &o;
    }
  }
  if (below == nullptr) {
    *gap_bits = gaps[bits_index];
    return std::max(above->loss, 0.0);
  }
  if (above == nullptr) return std::max(below->loss, 0.0);
  const double t =
      (sparsity - below->sparsity) / (above->sparsity - below->sparsity);
  return std::max((1 - t) * below->loss + t * above->loss, 0.0);
}

// A change's measured loss against the dense model, paired on the same
// samples, as an upper confidence bound (mean + one standard error): a
// change that looks free on a few samples is not taken as free, and one
// that changes no prediction costs nothing.
struct Measured {
  double top1 = 0;
  double loss = 0;  // Upper bound, >= 0.
};

Measured Compare(const torch::Tensor& dense_correct,
                 const torch::Tensor& correct) {
  const torch::Tensor d = dense_correct - correct;
  const auto n = static_cast<double>(d.numel());
  const double mean = d.mean().item<double>();
  const double se = n > 1 ? d.std().item<double>() / std::sqrt(n) : 0;
  return {correct.mean().item<double>(), std::max(mean + se, 0.0)};
}

// The sensitivity curves and, per layer, the options with their exact
// bytes and predicted loss after retraining (pruning's, and what sharing
// adds on the pruned tensor, each scaled by its recovery prior).
absl::StatusOr<Analysis> Analyse(const TrainEnv& env,
                                 const torch::Tensor& dense_correct,
                                 uint64_t seed, const CancelFlag* cancel) {
  Model& model = *env.model;
  const int64_t samples = dense_correct.numel();
  Analysis a;
  for (Layer& l : model.layers()) {
    if (cancel != nullptr && cancel->cancelled()) {
      return absl::CancelledError("cancelled during the sensitivity analysis");
    }
    torch::NoGradGuard no_grad;
    const torch::Tensor dense = l.param.detach().clone();
    const auto measure = [&](const torch::Tensor& values) {
      l.param.detach().copy_(values.view(dense.sizes()).to(dense.device()));
      const Measured m =
          Compare(dense_correct, Correct(env, Predict(env, samples)));
      l.param.detach().copy_(dense);
      return m;
    };
    SensitivityCurve curve;
    curve.name = l.name;
    curve.parameters = l.param.numel();
    const double baseline = dense_correct.mean().item<double>();
    std::vector<double> sparsities, prune_loss;
    for (double s : kSparsities) {
      if (s > 0 && !l.config.prune) break;
      const Measured m =
          s == 0
              ? Measured{baseline, 0}
              : measure(dense * TopMagnitudeMask(dense, s).to(dense.dtype()));
      curve.sparsity.emplace_back(s, m.top1);
      sparsities.push_back(s);
      prune_loss.push_back(m.loss);
    }
    std::vector<TensorOption> options;
    std::vector<int> gaps;
    const torch::Tensor cpu = dense.to(torch::kCPU, torch::kFloat).contiguous();
    for (size_t si = 0; si < sparsities.size(); ++si) {
      for (int bits : kBits) {
        torch::Tensor w = cpu.clone();
        auto codebook = PruneAndShare(w, sparsities[si], bits, seed);
        if (!codebook.ok()) return codebook.status();
        // Sharing measured on the pruned tensor: a few centroids cost more
        // over the few large weights pruning leaves.
        const Measured joint = measure(w);
        if (si == 0) curve.bits.emplace_back(bits, joint.top1);
        const std::span<const float> values(w.data_ptr<float>(),
                                            static_cast<size_t>(w.numel()));
        // The codec picks the encoding (and the gap width, for Huffman)
        // that stores this option smallest.
        codec::QuantizedEncodeOptions encode = EncodeOptions(l.config);
        encode.gap_bits = 0;
        auto encoded = codec::CdzWriter::EncodeQuantized(
            l.name, codec::DType::kF32, CodecShape(w), values, *codebook,
            encode);
        if (!encoded.ok()) return encoded.status();
        // The body: the tensor's framing is the same at every option.
        const uint64_t best = encoded->body.size();
        const int best_gap = encoded->size.gap_bits > 0 ? encoded->size.gap_bits
                                                        : l.config.gap_bits;
        TensorOption o;
        o.sparsity = sparsities[si];
        o.bits = bits;
        o.bytes = static_cast<double>(best);
        o.loss = kPruneRecovery * prune_loss[si] +
                 kShareRecovery * std::max(joint.loss - prune_loss[si], 0.0);
        options.push_back(o);
        gaps.push_back(best_gap);
      }
    }
    a.curves.push_back(std::move(curve));
    a.options.push_back(std::move(options));
    a.gap_bits.push_back(std::move(gaps));
  }
  return a;
}

// Where the loop is, beside the record: checkpointed after each candidate.
struct Progress {
  BudgetSteering steer;
  std::map<std::vector<int>, int> tried;  // Allocation -> its candidate.
  int allocations = 0;
  bool done = false;
};

constexpr char kCheckpointFile[] = "search.pt";

class Search {
 public:
  Search(const SearchConfig& config, StageContext& ctx)
      : config_(config), ctx_(ctx), model_(*ctx.env.model) {}

  absl::StatusOr<SearchRecord> Run();

 private:
  // Prunes from the best reusable snapshot to the allocation's sparsities
  // with retraining, quantizes to its bits with training, and measures.
  absl::StatusOr<SearchCandidate> Try(const Allocation& alloc, double budget);
  // The spec's own recipe as a candidate: pruned from dense by each layer's
  // sensitivity (the prune stage's SENSITIVITY criterion, one epoch a step)
  // and quantized to its configured bits; its predicted loss is the
  // analysis's at the sparsities reached.
  absl::StatusOr<SearchCandidate> TryRecipe();
  // Quantizes the pruned model to the layers' configured bits with
  // training and measures it as candidate `record_.candidates.size()`.
  absl::StatusOr<SearchCandidate> QuantizeAndMeasure(int prune_epochs);
  // `steps` epochs of retraining, each after prune_step(step) (1-based);
  // then keeps the pruned state for later candidates to start from.
  absl::Status RetrainWhilePruning(
      int steps, const std::function<void(int step)>& prune_step);
  absl::Status PruneTo(const std::vector<double>& target, int steps);
  const Snapshot& StartFor(const std::vector<double>& target) const;
  // One epoch each: 0 when the start already is as sparse as `target`.
  int PruneSteps(const std::vector<double>& target) const;
  bool Meets(const SearchCandidate& c) const;
  bool LittleRoom(const SearchCandidate& c) const;
  bool Better(const SearchCandidate& a, const SearchCandidate& b) const;
  absl::Status NoneMet() const;
  // Moves the budget by a candidate's outcome; false when the search should
  // stop (record_.stopped says why).
  bool Steer(const SearchCandidate& c, BudgetSteering& steer);
  // Retrains the dense model without the validation split, as candidates
  // are, and makes it the reference when it scores lower on validation;
  // leaves the model dense again.
  absl::Status RunControl();
  // The search's progress in the checkpoint directory (none: nothing).
  std::string CheckpointPath() const;
  std::string Tag() const;
  absl::Status SaveProgress(const Progress& p);
  // True when a checkpoint of this search was loaded into `p` and the
  // search's state.
  absl::StatusOr<bool> LoadProgress(Progress* p);

  const SearchConfig& config_;
  StageContext& ctx_;
  Model& model_;
  const GoalConfig* goal_ = nullptr;
  std::optional<double> allowed_drop_;
  uint64_t max_bytes_ = 0;  // Size goals.
  uint64_t original_bytes_ = 0;
  double fixed_bytes_ = 0;  // Of what the allocation does not choose.
  Analysis analysis_;
  torch::Tensor dense_correct_;  // Per validation sample.
  // What candidates are compared with, per validation sample: the dense
  // model's, or the dense control's when lower.
  torch::Tensor reference_correct_;
  double baseline_ = 0;
  // Pruned, retrained, not yet quantized: the dense model first.
  std::vector<Snapshot> pruned_;
  std::optional<Snapshot> best_state_;
  SearchRecord record_;
};

bool Search::Meets(const SearchCandidate& c) const {
  if (allowed_drop_) return c.drop + c.margin <= *allowed_drop_;
  return c.bytes <= max_bytes_;
}

bool Search::LittleRoom(const SearchCandidate& c) const {
  if (allowed_drop_) {
    // The margin is not room a tighter candidate could use.
    return c.drop >= kLittleRoomDrop * (*allowed_drop_ - c.margin);
  }
  return static_cast<double>(c.bytes) >=
         kLittleRoomBytes * static_cast<double>(max_bytes_);
}

// Of two candidates that meet the goal: the smaller (a drop goal), or the
// more accurate (a size goal).
bool Search::Better(const SearchCandidate& a, const SearchCandidate& b) const {
  if (allowed_drop_) return a.bytes < b.bytes;
  return a.validation_top1 > b.validation_top1;
}

const Snapshot& Search::StartFor(const std::vector<double>& target) const {
  const Snapshot* best = &pruned_.front();
  double best_pruned = -1;
  for (const Snapshot& s : pruned_) {
    double pruned = 0;
    bool reusable = true;
    for (size_t i = 0; i < target.size(); ++i) {
      reusable = reusable && s.sparsity[i] <= target[i] + 1e-9;
      pruned +=
          s.sparsity[i] * static_cast<double>(model_.layers()[i].param.numel());
    }
    if (reusable && pruned > best_pruned) {
      best = &s;
      best_pruned = pruned;
    }
  }
  return *best;
}

int Search::PruneSteps(const std::vector<double>& target) const {
  const Snapshot& start = StartFor(target);
  bool prunes = false;
  for (size_t i = 0; i < target.size(); ++i) {
    prunes = prunes || target[i] > start.sparsity[i] + 1e-9;
  }
  if (!prunes) return 0;
  return &start == &pruned_.front() ? kStepsFromDense : kStepsFromSnapshot;
}

absl::Status Search::PruneTo(const std::vector<double>& target, int steps) {
  std::vector<double> from;
  for (Layer& l : model_.layers()) from.push_back(l.sparsity());
  return RetrainWhilePruning(steps, [&](int step) {
    const double left = std::pow(1.0 - static_cast<double>(step) / steps, 3);
    for (size_t i = 0; i < target.size(); ++i) {
      Layer& l = model_.layers()[i];
      if (target[i] <= from[i]) continue;
      const double s = target[i] + (from[i] - target[i]) * left;
      torch::Tensor keep = TopMagnitudeMask(l.param, s);
      l.mask = l.mask.defined() ? l.mask.logical_and(keep) : keep;
      l.ApplyMask();
    }
  });
}

absl::Status Search::RetrainWhilePruning(
    int steps, const std::function<void(int step)>& prune_step) {
  TrainEnv& env = ctx_.env;
  Trainer trainer(env, TrainingLearningRate(env.config->training));
  for (int step = 1; step <= steps; ++step) {
    {
      torch::NoGradGuard no_grad;
      prune_step(step);
    }
    trainer.ClearPrunedState();
    const uint64_t salt =
        (static_cast<uint64_t>(ctx_.info.index) << 32) |
        (static_cast<uint64_t>(record_.candidates.size()) << 16) |
        static_cast<uint64_t>(step);
    if (auto st = trainer.TrainEpochs(1, ctx_.info, salt); !st.ok()) return st;
  }
  // The dense model and the latest pruned states.
  if (pruned_.size() >= kKeptPrunedStates) pruned_.erase(pruned_.begin() + 1);
  pruned_.push_back(TakeSnapshot(model_));
  return absl::OkStatus();
}

absl::StatusOr<SearchCandidate> Search::Try(const Allocation& alloc,
                                            double budget) {
  const auto start_time = Clock::now();
  std::vector<double> target;
  for (size_t i = 0; i < alloc.choice.size(); ++i) {
    target.push_back(analysis_.options[i][alloc.choice[i]].sparsity);
  }
  const int steps = PruneSteps(target);
  RestoreSnapshot(model_, StartFor(target));
  if (steps > 0) {
    if (auto st = PruneTo(target, steps); !st.ok()) return st;
  }
  for (size_t i = 0; i < alloc.choice.size(); ++i) {
    Layer& l = model_.layers()[i];
    l.config.bits = analysis_.options[i][alloc.choice[i]].bits;
    l.config.gap_bits = analysis_.gap_bits[i][alloc.choice[i]];
  }
  auto c = QuantizeAndMeasure(steps);
  if (!c.ok()) return c.status();
  c->loss_budget = budget;
  c->predicted_loss = allowed_drop_ ? alloc.loss : alloc.bytes;
  c->seconds = Since(start_time);
  return c;
}

absl::StatusOr<SearchCandidate> Search::TryRecipe() {
  const auto start_time = Clock::now();
  RestoreSnapshot(model_, pruned_.front());
  for (Layer& l : model_.layers()) BeginPrune(l);
  PruneConfig recipe;
  recipe.criterion = PruneCriterion::kSensitivity;
  recipe.steps = kStepsFromDense;
  if (auto st = RetrainWhilePruning(recipe.steps,
                                    [&](int step) {
                                      for (Layer& l : model_.layers()) {
                                        PruneLayerStep(recipe, step, l);
                                      }
                                    });
      !st.ok()) {
    return st;
  }
  double predicted = 0;
  for (size_t i = 0; i < model_.layers().size(); ++i) {
    Layer& l = model_.layers()[i];
    const size_t bits = RecipeBits(l);
    predicted += InterpolatedLoss(analysis_.options[i], analysis_.gap_bits[i],
                                  l.sparsity(), bits, &l.config.gap_bits);
    l.config.bits = kBits[bits];
  }
  auto c = QuantizeAndMeasure(recipe.steps);
  if (!c.ok()) return c.status();
  c->recipe = true;
  c->loss_budget = predicted;
  c->predicted_loss = predicted;
  c->seconds = Since(start_time);
  return c;
}

absl::StatusOr<SearchCandidate> Search::QuantizeAndMeasure(int prune_epochs) {
  StageConfig quantize;
  quantize.kind = StageConfig::Kind::kQuantize;
  quantize.quantize.epochs = kQuantizeEpochs;
  if (auto q = MakeStage(quantize)->Run(ctx_); !q.ok()) return q.status();

  SearchCandidate c;
  c.index = static_cast<int>(record_.candidates.size());
  for (const Layer& l : model_.layers()) {
    c.tensors.push_back(
        {l.name, l.sparsity(), l.config.bits, l.config.gap_bits});
  }
  auto sizes = SizeCdz(model_, ctx_.manifest);
  if (!sizes.ok()) return sizes.status();
  c.bytes = sizes->file_bytes;
  c.ratio = sizes->Ratio();
  const torch::Tensor correct =
      Correct(ctx_.env, Predict(ctx_.env, dense_correct_.numel()));
  c.validation_top1 = correct.mean().item<double>();
  const torch::Tensor diff = reference_correct_ - correct;
  c.drop = diff.mean().item<double>();
  c.margin = diff.numel() > 1 ? diff.std().item<double>() /
                                    std::sqrt(static_cast<double>(diff.numel()))
                              : 0;
  c.meets = Meets(c);
  c.epochs = prune_epochs + kQuantizeEpochs;
  return c;
}

absl::Status Search::RunControl() {
  TrainEnv& env = ctx_.env;
  Trainer trainer(env, TrainingLearningRate(env.config->training));
  const uint64_t salt =
      (static_cast<uint64_t>(ctx_.info.index) << 32) | (uint64_t{0xFFFF} << 16);
  if (auto st = trainer.TrainEpochs(kControlEpochs, ctx_.info, salt);
      !st.ok()) {
    return st;
  }
  record_.epochs += kControlEpochs;
  const torch::Tensor control =
      Correct(env, Predict(env, dense_correct_.numel()));
  const double top1 = control.mean().item<double>();
  RestoreSnapshot(model_, pruned_.front());
  if (top1 < baseline_) {
    reference_correct_ = control;
    record_.validation_reference = top1;
  }
  NotifyStage(
      ctx_, absl::StrFormat(
                "the dense model retrained %d epochs without the validation "
                "split scores %.2f%% on it (the dense model %.2f%%); drops are "
                "measured against %s",
                kControlEpochs, 100 * top1, 100 * baseline_,
                top1 < baseline_ ? "the retrained one, since the dense model "
                                   "trained on those samples"
                                 : "the dense model"));
  return absl::OkStatus();
}

bool Search::Steer(const SearchCandidate& c, BudgetSteering& steer) {
  if (c.meets && LittleRoom(c)) {
    record_.stopped = "a candidate met the goal with little room left";
    return false;
  }
  if (allowed_drop_) {
    const double room = *allowed_drop_ - c.margin;
    const double used = std::max(c.drop, 0.1 * *allowed_drop_);
    if (c.meets) {
      steer.Met(std::clamp(room / used, 1.5, 8.0));
    } else {
      steer.Missed(1.0 / std::clamp(used / std::max(room, 1e-4), 1.5, 16.0),
                   /*clear=*/c.drop - c.margin > *allowed_drop_);
    }
  } else {
    const double fit = static_cast<double>(max_bytes_) /
                       static_cast<double>(std::max<uint64_t>(c.bytes, 1));
    if (c.meets) {
      steer.Met(std::clamp(fit, 1.1, 2.0));
    } else {
      steer.Missed(std::clamp(fit, 0.5, 0.9), /*clear=*/true);
    }
  }
  if (steer.Tight()) {
    record_.stopped = "the budgets that meet and miss the goal are close";
    return false;
  }
  return true;
}

absl::Status Search::NoneMet() const {
  const SearchCandidate* closest = nullptr;
  for (const SearchCandidate& c : record_.candidates) {
    const bool nearer =
        closest == nullptr ||
        (allowed_drop_ ? c.drop + c.margin < closest->drop + closest->margin
                       : c.bytes < closest->bytes);
    if (nearer) closest = &c;
  }
  std::string what =
      closest == nullptr
          ? std::string("no candidate fit in the search budget")
          : absl::StrFormat(
                "the closest, candidate %d (%.1fx, %d bytes), lost %.2f "
                "points of top-1 on validation (+- %.2f)",
                closest->index, closest->ratio, closest->bytes,
                100 * closest->drop, 100 * closest->margin);
  // A goal the closest candidate would have met, to the half point (drop
  // goals) or the byte (size goals).
  std::string relaxed = "a larger max-bytes or a smaller min-ratio";
  if (closest != nullptr) {
    relaxed = allowed_drop_
                  ? absl::StrFormat(
                        "--goal max-drop=%gpt",
                        std::ceil(200 * (closest->drop + closest->margin)) / 2)
                  : absl::StrFormat("--goal max-bytes=%d", closest->bytes);
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no candidate of the search met the goal ", record_.goal, ": ", what,
      "; relax the goal (the closest meets ", relaxed,
      "), give the search more epochs (search.max_epochs) or more data, or "
      "compress fewer tensors (layer rules with compress: false)"));
}

absl::StatusOr<SearchRecord> Search::Run() {
  const auto start = Clock::now();
  TrainEnv& env = ctx_.env;
  if (env.data == nullptr || env.data->eval().size() == 0) {
    return absl::InvalidArgumentError(
        "the search needs a validation split of labelled data");
  }
  goal_ = &env.config->goal;
  allowed_drop_ = AllowedDrop(*goal_);
  record_.goal = GoalText(*goal_);
  record_.validation_samples = env.data->eval().size();

  auto dense_sizes = SizeCdz(model_, ctx_.manifest);
  if (!dense_sizes.ok()) return dense_sizes.status();
  original_bytes_ = dense_sizes->OriginalBytes();
  if (goal_->max_bytes > 0) max_bytes_ = goal_->max_bytes;
  if (goal_->min_ratio > 0) {
    max_bytes_ = static_cast<uint64_t>(static_cast<double>(original_bytes_) /
                                       goal_->min_ratio);
  }
  dense_correct_ = Correct(env, Predict(env, env.data->eval().size()));
  baseline_ = dense_correct_.mean().item<double>();
  record_.validation_baseline = baseline_;
  const int64_t sens_samples =
      std::min<int64_t>(config_.sensitivity_samples, env.data->eval().size());
  NotifyStage(ctx_, absl::StrFormat("search for %s: dense model %.2f%% on %d "
                                    "validation samples; measuring sensitivity",
                                    record_.goal, 100 * baseline_,
                                    record_.validation_samples));
  auto analysis = Analyse(env, dense_correct_.narrow(0, 0, sens_samples),
                          env.config->seed, env.cancel);
  if (!analysis.ok()) return analysis.status();
  analysis_ = *std::move(analysis);
  record_.sensitivity = analysis_.curves;
  record_.sensitivity_seconds = Since(start);
  {
    // The bytes of everything the allocation does not choose: the dense
    // file less the compressed layers' raw bytes.
    double chosen_raw = 0;
    for (const Layer& l : model_.layers()) {
      chosen_raw += static_cast<double>(l.param.numel()) * 4;
    }
    fixed_bytes_ = std::max(
        0.0, static_cast<double>(dense_sizes->file_bytes) - chosen_raw);
  }
  pruned_.push_back(TakeSnapshot(model_));
  reference_correct_ = dense_correct_;
  record_.validation_reference = baseline_;

  // Size goals swap the roles: the least loss within a bytes budget.
  std::vector<std::vector<TensorOption>> swapped = analysis_.options;
  for (auto& options : swapped) {
    for (TensorOption& o : options) std::swap(o.bytes, o.loss);
  }
  Progress progress;
  BudgetSteering& steer = progress.steer;
  // A drop goal's budget is set by its first candidate, the recipe.
  if (!allowed_drop_) {
    steer.budget =
        std::max(1.0, static_cast<double>(max_bytes_) - fixed_bytes_);
  }
  record_.stopped = "the candidate limit was reached";
  auto resumed = LoadProgress(&progress);
  if (!resumed.ok()) return resumed.status();
  if (*resumed) {
    NotifyStage(ctx_, absl::StrFormat("resuming the search after candidate %d",
                                      record_.candidates.size() - 1));
  } else if (auto st = RunControl(); !st.ok()) {
    return st;
  }
  std::map<std::vector<int>, int>& tried = progress.tried;
  while (!progress.done && progress.allocations < kMaxAllocations &&
         static_cast<int>(record_.candidates.size()) < config_.max_candidates) {
    ++progress.allocations;
    // A drop goal starts from the spec's own recipe (the deep-compression
    // preset's sensitivities and bits in `auto`), retrained as every
    // candidate is. Its predicted loss becomes the budget, so its outcome,
    // met or missed, brackets the budget at the scale the predictions
    // have (a ranking, not top-1) instead of at the goal's.
    const bool from_recipe = allowed_drop_ && progress.allocations == 1;
    Allocation alloc;
    int epochs = kStepsFromDense + kQuantizeEpochs;
    if (!from_recipe) {
      alloc = allowed_drop_ ? Allocate(analysis_.options, steer.budget)
                            : Allocate(swapped, steer.budget);
      if (auto it = tried.find(alloc.choice); it != tried.end()) {
        // Known already: steer by its outcome without retraining it.
        progress.done = !Steer(record_.candidates[it->second], steer);
        continue;
      }
      std::vector<double> target;
      for (size_t i = 0; i < alloc.choice.size(); ++i) {
        target.push_back(analysis_.options[i][alloc.choice[i]].sparsity);
      }
      epochs = PruneSteps(target) + kQuantizeEpochs;
    }
    if (record_.epochs + epochs > config_.max_epochs) {
      record_.stopped = absl::StrCat("the search budget of ",
                                     config_.max_epochs, " epochs was spent");
      break;
    }
    if (config_.max_seconds > 0 && Since(start) > config_.max_seconds) {
      record_.stopped = absl::StrCat("the search budget of ",
                                     config_.max_seconds, " s was spent");
      break;
    }
    auto c = from_recipe ? TryRecipe() : Try(alloc, steer.budget);
    if (!c.ok()) return c.status();
    if (from_recipe) {
      steer.budget = std::max(c->predicted_loss, 1e-4);
    } else {
      tried[alloc.choice] = c->index;
    }
    record_.epochs += c->epochs;
    record_.candidates.push_back(*std::move(c));
    const SearchCandidate& cand = record_.candidates.back();
    if (cand.meets && (record_.chosen < 0 ||
                       Better(cand, record_.candidates[record_.chosen]))) {
      record_.chosen = cand.index;
      best_state_ = TakeSnapshot(model_);
    }
    const SearchCandidate* best =
        record_.chosen < 0 ? nullptr : &record_.candidates[record_.chosen];
    NotifyStage(
        ctx_,
        absl::StrFormat(
            "candidate %d: %.1fx (%d bytes), validation %.2f%% (drop "
            "%.2f +- %.2f points), %s; best so far %s; %d of %d epochs",
            cand.index, cand.ratio, cand.bytes, 100 * cand.validation_top1,
            100 * cand.drop, 100 * cand.margin,
            cand.meets ? "meets the goal" : "misses the goal",
            best == nullptr ? std::string("none")
                            : absl::StrFormat("candidate %d, %.1fx",
                                              best->index, best->ratio),
            record_.epochs, config_.max_epochs),
        cand.ratio, cand.validation_top1);
    progress.done = !Steer(cand, steer);
    if (auto st = SaveProgress(progress); !st.ok()) return st;
  }
  if (record_.chosen < 0) return NoneMet();
  RestoreSnapshot(model_, *best_state_);
  if (!ctx_.checkpoint_dir.empty()) {
    // The stage's own checkpoint follows; this one is spent.
    std::error_code ignored;
    std::filesystem::remove(CheckpointPath(), ignored);
  }
  return record_;
}

std::string Search::CheckpointPath() const {
  return (std::filesystem::path(ctx_.checkpoint_dir) / kCheckpointFile)
      .string();
}

// A checkpoint belongs to this run (model, data, spec, seed) and stage.
std::string Search::Tag() const {
  return absl::StrCat(ctx_.fingerprint, "/stage", ctx_.info.index);
}

absl::Status Search::SaveProgress(const Progress& p) {
  if (ctx_.checkpoint_dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(ctx_.checkpoint_dir, ec);
  const std::string path = CheckpointPath();
  const std::string tmp = path + ".tmp";
  absl::Status st = TorchCall("saving the search's checkpoint", [&] {
    torch::serialize::OutputArchive a;
    a.write("tag", c10::IValue(Tag()));
    a.write("record", c10::IValue(ToJson(record_).dump()));
    a.write("reference", reference_correct_);
    a.write("steer", torch::tensor({p.steer.budget, p.steer.lo, p.steer.hi},
                                   torch::kDouble));
    nlohmann::json tried = nlohmann::json::array();
    for (const auto& [choice, index] : p.tried) {
      tried.push_back({choice, index});
    }
    a.write("tried", c10::IValue(tried.dump()));
    a.write("allocations", c10::IValue(int64_t{p.allocations}));
    a.write("done", c10::IValue(p.done));
    a.write("pruned", c10::IValue(static_cast<int64_t>(pruned_.size())));
    for (size_t k = 0; k < pruned_.size(); ++k) {
      WriteSnapshot(a, absl::StrCat("p", k, "_"), pruned_[k]);
    }
    a.write("has_best", c10::IValue(best_state_.has_value()));
    if (best_state_) WriteSnapshot(a, "b_", *best_state_);
    a.write("rng", at::detail::getDefaultCPUGenerator().get_state());
    a.save_to(tmp);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot move the search's checkpoint into place at ", path,
                     ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Search::LoadProgress(Progress* p) {
  if (ctx_.checkpoint_dir.empty()) return false;
  const std::string path = CheckpointPath();
  if (!std::filesystem::exists(path)) return false;
  bool loaded = false;
  absl::Status st = TorchCall(
      absl::StrCat("reading the search's checkpoint ", path,
                   " (delete it to start the search afresh)"),
      [&]() -> absl::Status {
        torch::serialize::InputArchive a;
        a.load_from(path);
        c10::IValue value;
        a.read("tag", value);
        if (value.toStringRef() != Tag()) return absl::OkStatus();
        a.read("record", value);
        auto record =
            SearchRecordFromJson(nlohmann::json::parse(value.toStringRef()));
        if (!record.ok()) return record.status();
        torch::Tensor steer, reference;
        a.read("steer", steer);
        a.read("reference", reference);
        a.read("tried", value);
        std::map<std::vector<int>, int> tried;
        for (const nlohmann::json& t :
             nlohmann::json::parse(value.toStringRef())) {
          tried[t.at(0).get<std::vector<int>>()] = t.at(1).get<int>();
        }
        a.read("allocations", value);
        const auto allocations = static_cast<int>(value.toInt());
        a.read("done", value);
        const bool done = value.toBool();
        a.read("pruned", value);
        std::vector<Snapshot> pruned;
        for (int64_t k = 0; k < value.toInt(); ++k) {
          pruned.push_back(ReadSnapshot(a, absl::StrCat("p", k, "_"), model_,
                                        ctx_.env.device));
        }
        a.read("has_best", value);
        std::optional<Snapshot> best;
        if (value.toBool()) {
          best = ReadSnapshot(a, "b_", model_, ctx_.env.device);
        }
        torch::Tensor rng;
        a.read("rng", rng);
        at::Generator gen = at::detail::getDefaultCPUGenerator();
        gen.set_state(rng);
        record_ = *std::move(record);
        reference_correct_ = reference;
        p->steer.budget = steer[0].item<double>();
        p->steer.lo = steer[1].item<double>();
        p->steer.hi = steer[2].item<double>();
        p->tried = std::move(tried);
        p->allocations = allocations;
        p->done = done;
        pruned_ = std::move(pruned);
        best_state_ = std::move(best);
        loaded = true;
        return absl::OkStatus();
      },
      absl::StatusCode::kDataLoss);
  if (!st.ok()) return st;
  return loaded;
}

}  // namespace

std::optional<double> AllowedDrop(const GoalConfig& goal) {
  if (goal.max_accuracy_drop) return goal.max_accuracy_drop;
  if (goal.max_bytes > 0 || goal.min_ratio > 0) return std::nullopt;
  return kDefaultMaxAccuracyDrop;
}

std::string GoalText(const GoalConfig& goal) {
  if (goal.max_bytes > 0) return absl::StrCat("max-bytes=", goal.max_bytes);
  if (goal.min_ratio > 0)
    return absl::StrCat("min-ratio=", goal.min_ratio, "x");
  return absl::StrCat("max-drop=", 100 * AllowedDrop(goal).value_or(0), "pt");
}

absl::StatusOr<SearchRecord> RunSearch(const SearchConfig& config,
                                       StageContext& ctx) {
  if (ctx.env.data == nullptr) {
    return absl::InvalidArgumentError(
        "the search stage measures accuracy and needs labelled data");
  }
  if (!ctx.env.model->trainable()) {
    return absl::InvalidArgumentError(
        "the search stage retrains the model and needs a TorchScript file");
  }
  // The search decides on validation only: it gets a view of the data whose
  // evaluation split is the validation split.
  const Data view = ctx.env.data->ForSearch();
  StageContext search_ctx = ctx;
  search_ctx.env.data = &view;
  Search search(config, search_ctx);
  return search.Run();
}

}  // namespace condense::engine
