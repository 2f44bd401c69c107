#include "worker/engine/train.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace condense::engine {
namespace {

namespace F = torch::nn::functional;
using Clock = std::chrono::steady_clock;

ProgressEvent StageEvent(ProgressEvent::Kind kind, const StageInfo& stage,
                         int epoch, int epochs) {
  ProgressEvent ev;
  ev.kind = kind;
  ev.stage = stage.name;
  ev.stage_index = stage.index;
  ev.stage_count = stage.count;
  ev.epoch = epoch;
  ev.epochs = epochs;
  return ev;
}

void ZeroWhere(torch::Tensor t, const torch::Tensor& pruned) {
  if (t.defined() && t.sizes() == pruned.sizes()) t.masked_fill_(pruned, 0);
}

}  // namespace

Trainer::Trainer(const TrainEnv& env, double learning_rate) : env_(env) {
  std::vector<torch::Tensor> params = env.model->PlainParameters();
  for (Layer& l : env.model->layers()) {
    if (l.quantized()) {
      l.centroids.set_requires_grad(true);
      params.push_back(l.centroids);
    }
  }
  const TrainingConfig& t = env.config->training;
  if (t.optimizer == OptimizerKind::kSgd) {
    optimizer_ = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(learning_rate)
                    .momentum(t.momentum)
                    .weight_decay(t.weight_decay));
  } else {
    optimizer_ = std::make_unique<torch::optim::Adam>(
        params,
        torch::optim::AdamOptions(learning_rate).weight_decay(t.weight_decay));
  }
}

void Trainer::ClearPrunedState() {
  torch::NoGradGuard no_grad;
  auto& state = optimizer_->state();
  for (Layer& l : env_.model->layers()) {
    if (!l.mask.defined() || l.quantized()) continue;
    auto it = state.find(c10::guts::to_string(l.param.unsafeGetTensorImpl()));
    if (it == state.end()) continue;
    const torch::Tensor pruned = l.mask.logical_not();
    if (auto* sgd =
            dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
      ZeroWhere(sgd->momentum_buffer(), pruned);
    } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(
                   it->second.get())) {
      ZeroWhere(adam->exp_avg(), pruned);
      ZeroWhere(adam->exp_avg_sq(), pruned);
      ZeroWhere(adam->max_exp_avg_sq(), pruned);
    }
  }
}

torch::Tensor Trainer::Loss(const torch::Tensor& logits, const torch::Tensor& x,
                            const torch::Tensor& y) {
  const LossConfig& lc = env_.config->loss;
  if (env_.teacher == nullptr) return F::cross_entropy(logits, y);
  torch::Tensor teacher_logits;
  {
    torch::NoGradGuard no_grad;
    teacher_logits = env_.teacher->forward({x}).toTensor();
  }
  const double t = lc.temperature;
  torch::Tensor loss =
      F::kl_div(F::log_softmax(logits / t, 1),
                F::softmax(teacher_logits / t, 1),
                F::KLDivFuncOptions().reduction(torch::kBatchMean)) *
      (t * t);
  if (y.defined() && lc.hard_label_weight > 0) {
    loss = loss + lc.hard_label_weight * F::cross_entropy(logits, y);
  }
  return loss;
}

void Trainer::Step() {
  torch::NoGradGuard no_grad;
  for (Layer& l : env_.model->layers()) {
    if (!l.param.grad().defined()) continue;
    if (l.quantized()) {
      // dL/dC_k = sum of dL/dW over the weights assigned to k.
      torch::Tensor g = l.param.grad().view(-1).index_select(0, l.nz_index);
      l.centroids.mutable_grad() =
          torch::zeros_like(l.centroids).index_add_(0, l.nz_assign, g);
      l.param.mutable_grad().zero_();
    } else if (l.mask.defined()) {
      l.param.mutable_grad().masked_fill_(l.mask.logical_not(), 0);
    }
  }
  optimizer_->step();
  for (Layer& l : env_.model->layers()) {
    if (l.quantized()) {
      l.ApplyCentroids();
    } else {
      l.ApplyMask();
    }
  }
}

absl::Status Trainer::TrainEpochs(int epochs, const StageInfo& stage,
                                  uint64_t salt_base) {
  const Data& data = *env_.data;
  torch::jit::Module& module = env_.model->module();
  const int64_t n = data.train().size();
  const int64_t batch = env_.config->training.batch_size;
  // A last batch of one sample would break BatchNorm in training mode: it
  // joins the batch before it.
  int64_t batches = (n + batch - 1) / batch;
  if (batches > 1 && n % batch == 1) --batches;
  const auto stage_start = Clock::now();
  int64_t samples_done = 0;
  const int64_t samples_total = n * epochs;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    module.train(true);
    torch::Tensor order = Data::Shuffle(n, env_.config->seed, salt_base + epoch)
                              .to(data.train().inputs.device());
    double loss_sum = 0;
    for (int64_t b = 0; b < batches; ++b) {
      if (env_.cancel != nullptr && env_.cancel->cancelled()) {
        return absl::CancelledError(absl::StrCat("cancelled during ",
                                                 stage.name, ", epoch ", epoch,
                                                 " of ", epochs));
      }
      const int64_t start = b * batch;
      const int64_t size = b + 1 == batches ? n - start : batch;
      torch::Tensor index = order.narrow(0, start, size);
      torch::Tensor x =
          data.Prepare(data.train().inputs.index_select(0, index), env_.device);
      torch::Tensor y;
      if (data.labelled()) {
        y = data.train().targets.index_select(0, index).to(env_.device);
      }
      optimizer_->zero_grad();
      for (Layer& l : env_.model->layers()) {
        if (l.param.grad().defined()) l.param.mutable_grad().zero_();
      }
      torch::Tensor logits = module.forward({x}).toTensor();
      torch::Tensor loss = Loss(logits, x, y);
      loss.backward();
      Step();
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "training diverged in ", stage.name, ", epoch ", epoch,
            ": the loss is ", loss_value,
            "; lower the learning rate (training.learning_rate or the "
            "stage's learning_rate)"));
      }
      loss_sum += loss_value;
      samples_done += size;
      if (env_.observer != nullptr) {
        const double elapsed =
            std::chrono::duration<double>(Clock::now() - stage_start).count();
        ProgressEvent ev =
            StageEvent(ProgressEvent::Kind::kBatch, stage, epoch, epochs);
        ev.batch = b + 1;
        ev.batches = batches;
        ev.loss = loss_value;
        ev.samples_per_second = elapsed > 0 ? samples_done / elapsed : 0;
        ev.eta_seconds =
            ev.samples_per_second > 0
                ? (samples_total - samples_done) / ev.samples_per_second
                : -1;
        env_.observer->OnEvent(ev);
      }
    }
    if (env_.observer != nullptr) {
      EvalResult eval = Evaluate(env_);
      ProgressEvent ev =
          StageEvent(ProgressEvent::Kind::kEpochFinished, stage, epoch, epochs);
      ev.loss = batches > 0 ? loss_sum / batches : 0;
      ev.accuracy = eval.top1;
      ev.sparsity = env_.model->Sparsity();
      env_.observer->OnEvent(ev);
    }
  }
  return absl::OkStatus();
}

std::vector<torch::Tensor> SquaredGradients(const TrainEnv& env,
                                            int64_t max_samples, int64_t batch,
                                            uint64_t salt) {
  Model& model = *env.model;
  const Data& data = *env.data;
  torch::jit::Module& module = model.module();
  module.eval();
  std::vector<torch::Tensor> sums;
  for (Layer& l : model.layers()) sums.push_back(torch::zeros_like(l.param));
  auto zero_grads = [&] {
    for (Layer& l : model.layers()) {
      if (l.param.grad().defined()) l.param.mutable_grad().zero_();
    }
  };
  const int64_t total = data.train().size();
  const int64_t n = std::min(total, max_samples);
  torch::Tensor order = Data::Shuffle(total, env.config->seed, salt)
                            .narrow(0, 0, n)
                            .to(data.train().inputs.device());
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t size = std::min(batch, n - start);
    torch::Tensor index = order.narrow(0, start, size);
    torch::Tensor x =
        data.Prepare(data.train().inputs.index_select(0, index), env.device);
    torch::Tensor y =
        data.train().targets.index_select(0, index).to(env.device);
    zero_grads();
    torch::Tensor logits = module.forward({x}).toTensor();
    F::cross_entropy(logits, y).backward();
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < sums.size(); ++i) {
      const torch::Tensor& g = model.layers()[i].param.grad();
      if (g.defined()) sums[i].add_(g.square());
    }
  }
  zero_grads();
  return sums;
}

EvalResult Evaluate(const TrainEnv& env) {
  EvalResult r;
  const Data& data = *env.data;
  const int64_t n = data.eval().size();
  if (n == 0) return r;
  torch::NoGradGuard no_grad;
  torch::jit::Module& module = env.model->module();
  module.eval();
  const int64_t batch = std::max<int64_t>(env.config->training.batch_size, 512);
  int64_t top1 = 0, top5 = 0;
  double loss_sum = 0;
  const bool labelled = data.labelled();
  const bool with_top5 = data.classes() > 5;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t size = std::min(batch, n - start);
    torch::Tensor x =
        data.Prepare(data.eval().inputs.narrow(0, start, size), env.device);
    torch::Tensor logits = module.forward({x}).toTensor();
    if (!labelled) continue;
    torch::Tensor y = data.eval().targets.narrow(0, start, size).to(env.device);
    loss_sum +=
        F::cross_entropy(logits, y,
                         F::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    top1 += logits.argmax(1).eq(y).sum().item<int64_t>();
    if (with_top5) {
      torch::Tensor best = std::get<1>(logits.topk(5, 1));
      top5 += best.eq(y.unsqueeze(1)).any(1).sum().item<int64_t>();
    }
  }
  r.samples = n;
  if (labelled) {
    r.top1 = static_cast<double>(top1) / n;
    if (with_top5) r.top5 = static_cast<double>(top5) / n;
    r.loss = loss_sum / n;
  }
  return r;
}

}  // namespace condense::engine
