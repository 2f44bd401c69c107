#!/usr/bin/python3
"""Deep Compression of LeNet-300-100 in plain PyTorch, timed phase by phase.

This is the "equivalent PyTorch script" that condense's C++ engine is
compared with: the pruning and trained-quantization pipeline as a competent
PyTorch user reproduces it (vectorised torch ops, whole data set in memory,
no C extensions, no DataLoader workers).

Usage:

  pytorch_pipeline.py MODEL.pt [--prune-steps 3] [--epochs-per-step 2]
      [--sensitivity 1.0] [--quant-epochs 2] [--bits 5] [--lr 1e-3]
      [--quant-lr 1e-4] [--batch-size 128] [--threads 2] [--seed 0]
      [--device cpu|cuda] [--input-shape 784] [--max-train-samples N]
      [--max-eval-samples N]
      [--json OUT.json] [--out COMPRESSED.pt]

MODEL.pt is a TorchScript model taking [B, 784] inputs (for example from
examples/train_lenet.py lenet300), or [B, *SHAPE] with --input-shape (1,28,28
for LeNet-5). With --device cuda the model and the whole data set live on
the GPU (scripts/gpu_check.sh compares this with condense on CUDA). Steps:

  1. load the model (torch.jit.load) and Fashion-MNIST (60k train, 10k
     test), pixels scaled to [0, 1] and shaped to --input-shape (784);
  2. baseline test accuracy;
  3. iterative magnitude pruning, for step i in 1..S and every weight tensor
     of rank >= 2: threshold = sensitivity * i/S * std(original dense
     weights of the layer), mask &= |w| > threshold, apply; retrain
     --epochs-per-step epochs (fresh Adam at --lr, cross-entropy, seeded
     shuffling) masking gradients before each step and weights after it;
     evaluate;
  4. per layer 1-D k-means over the nonzero weights, k = 2^bits, centroids
     initialised linearly over [min, max], Lloyd iterations with the full
     n x k distance matrix until assignments stop changing (at most 100);
  5. trained quantization for --quant-epochs: forward with weights =
     centroids[assignment] (pruned weights stay zero); the gradient of a
     centroid is the sum of the gradients of its weights (index_add_);
     Adam at --quant-lr updates centroids and the remaining parameters
     (biases); weights are then reset to centroids[assignment];
  6. final test accuracy.

Prints a table of phase times (wall and CPU seconds) and accuracies, the
total wall time (from after `import torch`; time the command to include
interpreter start-up) and the final sparsity of every layer; --json writes
the same as JSON, with the 1-minute load average at the end of the run (a
value above --threads means other work shared the CPUs).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
import fashion_mnist  # noqa: E402
from torch import nn

DATA_DIR = "/usr/share/datasets/fashion-mnist"
KMEANS_MAX_ITERATIONS = 100
EVAL_CHUNK = 10000


def parse_args():
    parser = argparse.ArgumentParser(
        description="Deep Compression (prune, k-means, trained quantization) "
                    "of a TorchScript LeNet-300-100 in plain PyTorch.")
    parser.add_argument("model", help="TorchScript model taking [B, 784] "
                        "(or [B, *--input-shape])")
    parser.add_argument("--prune-steps", type=int, default=3)
    parser.add_argument("--epochs-per-step", type=int, default=2)
    parser.add_argument("--sensitivity", type=float, default=1.0)
    parser.add_argument("--quant-epochs", type=int, default=2)
    parser.add_argument("--bits", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--quant-lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--input-shape", default="784",
                        help="one input's shape, e.g. 784 or 1,28,28")
    parser.add_argument("--max-train-samples", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--max-eval-samples", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--out", help="save the compressed TorchScript here")
    return parser.parse_args()


# ---------------------------------------------------------------- data


def load_split(prefix, shape, device, limit=None):
    """Images as float32 [N, *shape] in [0, 1], labels as int64 [N]; the
    first `limit` of them when given."""
    images, labels = fashion_mnist.load_split(prefix, DATA_DIR, limit)
    x = torch.from_numpy(images.reshape(-1, *shape).astype(np.float32) / 255.0)
    return x.to(device), torch.from_numpy(labels).to(device)


# ---------------------------------------------------------------- training


def evaluate(model, x, y):
    """Top-1 accuracy of model on (x, y)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_CHUNK):
            pred = model(x[i:i + EVAL_CHUNK]).argmax(1)
            correct += (pred == y[i:i + EVAL_CHUNK]).sum().item()
    return correct / len(x)


def run_epochs(model, optimizer, data, args, generator, epochs, hooks):
    """Mini-batch cross-entropy training with seeded shuffling.

    hooks.before_step() runs after backward and before optimizer.step(),
    hooks.after_step() after it; they hold the masks or the weight sharing.
    """
    x, y = data
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(0, len(x), args.batch_size):
            idx = perm[i:i + args.batch_size]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            hooks.before_step()
            optimizer.step()
            hooks.after_step()


# ---------------------------------------------------------------- pruning


class Masks:
    """Binary masks of the pruned weight tensors, held during retraining."""

    def __init__(self, weights):
        self.weights = weights
        self.masks = {n: torch.ones_like(w) for n, w in weights.items()}
        self.stds = {n: w.detach().std().item() for n, w in weights.items()}

    def prune(self, fraction, sensitivity):
        """Tighten every mask to |w| > sensitivity * fraction * std."""
        with torch.no_grad():
            for name, w in self.weights.items():
                threshold = sensitivity * fraction * self.stds[name]
                self.masks[name].mul_((w.abs() > threshold).float())
                w.mul_(self.masks[name])

    def before_step(self):
        """Pruned weights get no gradient."""
        for name, w in self.weights.items():
            w.grad.mul_(self.masks[name])

    def after_step(self):
        """Pruned weights stay zero whatever the optimizer did."""
        with torch.no_grad():
            for name, w in self.weights.items():
                w.mul_(self.masks[name])


# ---------------------------------------------------------------- k-means


def nearest(values, centroids):
    """Index of the nearest centroid for every value (n x k distances)."""
    return (values[:, None] - centroids[None, :]).abs().argmin(1)


def kmeans_1d(values, k):
    """Lloyd's k-means in 1-D with linear initialisation over [min, max].

    Returns (centroids, assignment, iterations). An empty cluster keeps its
    centroid.
    """
    centroids = torch.linspace(values.min().item(), values.max().item(), k,
                               device=values.device)
    assignment = nearest(values, centroids)
    ones = torch.ones_like(values)
    iterations = 0
    while iterations < KMEANS_MAX_ITERATIONS:
        iterations += 1
        sums = torch.zeros_like(centroids).index_add_(0, assignment, values)
        counts = torch.zeros_like(centroids).index_add_(0, assignment, ones)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled]
        updated = nearest(values, centroids)
        if torch.equal(updated, assignment):
            break
        assignment = updated
    return centroids, assignment, iterations


# ---------------------------------------------------------------- sharing


class SharedWeights:
    """Weight sharing: each nonzero weight is one of its layer's centroids."""

    def __init__(self, weights, bits):
        # A layer pruned to nothing has no values to share.
        self.weights = {n: w for n, w in weights.items()
                        if w.count_nonzero().item() > 0}
        self.positions, self.assignments, self.centroids = {}, {}, {}
        self.iterations = {}
        for name, w in self.weights.items():
            flat = w.detach().view(-1)
            positions = flat.nonzero().squeeze(1)
            centroids, assignment, iterations = kmeans_1d(
                flat.index_select(0, positions), 2 ** bits)
            self.positions[name] = positions
            self.assignments[name] = assignment
            self.centroids[name] = nn.Parameter(centroids)
            self.iterations[name] = iterations
        self.after_step()

    def before_step(self):
        """dL/dC_k = sum of dL/dW over the weights assigned to centroid k."""
        for name, w in self.weights.items():
            grad = w.grad.view(-1).index_select(0, self.positions[name])
            centroid = self.centroids[name]
            centroid.grad = torch.zeros_like(centroid).index_add_(
                0, self.assignments[name], grad)
            w.grad = None

    def after_step(self):
        """Write centroids[assignment] back into the weights."""
        with torch.no_grad():
            for name, w in self.weights.items():
                values = self.centroids[name].index_select(
                    0, self.assignments[name])
                w.view(-1).index_copy_(0, self.positions[name], values)


# ---------------------------------------------------------------- report


class Timeline:
    """Phase times and accuracies, in the order they happened.

    A phase's time runs from the end of the previous phase, so it includes
    the evaluation whose accuracy it shows. Wall seconds are what the
    comparison uses; CPU seconds (all threads of this process) show whether
    other work on the machine slowed a run down.
    """

    def __init__(self):
        self.start = self.mark = time.perf_counter()
        self.cpu_start = self.cpu_mark = time.process_time()
        self.rows = []

    def record(self, phase, accuracy=None):
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # GPU work queued in this phase is in it
        now, cpu = time.perf_counter(), time.process_time()
        row = {"phase": phase, "seconds": round(now - self.mark, 3),
               "cpu_seconds": round(cpu - self.cpu_mark, 3),
               "accuracy": accuracy}
        self.rows.append(row)
        self.mark, self.cpu_mark = now, cpu
        acc = "" if accuracy is None else f", test accuracy {accuracy:.4f}"
        print(f"{phase}: {row['seconds']:.2f} s{acc}", flush=True)

    def total(self):
        """(wall, cpu) seconds since the timeline started."""
        return (time.perf_counter() - self.start,
                time.process_time() - self.cpu_start)


def sparsity(weights):
    """Per-layer fraction of zero weights, zeros and sizes for the total."""
    layers = {}
    for name, w in weights.items():
        zeros = (w == 0).sum().item()
        layers[name] = {"shape": list(w.shape), "zeros": zeros,
                        "size": w.numel(), "sparsity": zeros / w.numel(),
                        "distinct_nonzero": w[w != 0].unique().numel()}
    return layers


def print_report(timeline, layers, total, iterations):
    """The phase table, then sparsity and k-means iterations per layer."""
    print()
    print(f"{'phase':<34} {'seconds':>9} {'cpu s':>9} {'accuracy':>9}")
    for row in timeline.rows:
        acc = "" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        print(f"{row['phase']:<34} {row['seconds']:9.2f} "
              f"{row['cpu_seconds']:9.2f} {acc:>9}")
    print(f"{'total':<34} {total[0]:9.2f} {total[1]:9.2f}")
    print()
    print(f"{'layer':<14} {'shape':<12} {'sparsity':>9} {'nonzero':>9} "
          f"{'distinct':>9}")
    for name, layer in layers.items():
        shape = "x".join(str(d) for d in layer["shape"])
        print(f"{name:<14} {shape:<12} {layer['sparsity']:9.4f} "
              f"{layer['size'] - layer['zeros']:9d} "
              f"{layer['distinct_nonzero']:9d}")
    zeros = sum(layer["zeros"] for layer in layers.values())
    size = sum(layer["size"] for layer in layers.values())
    print(f"{'all weights':<14} {'':<12} {zeros / size:9.4f} "
          f"{size - zeros:9d}")
    print("k-means iterations: " + ", ".join(
        f"{name} {count}" for name, count in iterations.items()))


# ---------------------------------------------------------------- main


def compress(args, timeline):
    """Run the pipeline; return the model and its compressed weights."""
    model = torch.jit.load(args.model, map_location=args.device)
    shape = [int(d) for d in args.input_shape.split(",")]
    train = load_split("train", shape, args.device, args.max_train_samples)
    test = load_split("t10k", shape, args.device, args.max_eval_samples)
    timeline.record("load model and data")
    timeline.record("baseline eval", evaluate(model, *test))

    generator = torch.Generator().manual_seed(args.seed)
    weights = {n: p for n, p in model.named_parameters() if p.dim() >= 2}
    masks = Masks(weights)
    for step in range(1, args.prune_steps + 1):
        masks.prune(step / args.prune_steps, args.sensitivity)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        run_epochs(model, optimizer, train, args, generator,
                   args.epochs_per_step, masks)
        timeline.record(f"prune {step}/{args.prune_steps}, retrain "
                        f"{args.epochs_per_step} epochs",
                        evaluate(model, *test))

    shared = SharedWeights(weights, args.bits)
    timeline.record(f"k-means ({2 ** args.bits} clusters)",
                    evaluate(model, *test))

    others = [p for p in model.parameters()
              if not any(p is w for w in weights.values())]
    optimizer = torch.optim.Adam(list(shared.centroids.values()) + others,
                                 lr=args.quant_lr)
    run_epochs(model, optimizer, train, args, generator, args.quant_epochs,
               shared)
    timeline.record(f"trained quantization ({args.quant_epochs} epochs)")
    timeline.record("final eval", evaluate(model, *test))
    return model, weights, shared


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    timeline = Timeline()
    model, weights, shared = compress(args, timeline)
    total = timeline.total()
    load = os.getloadavg()[0]
    layers = sparsity(weights)
    print_report(timeline, layers, total, shared.iterations)
    if args.out:
        model.save(args.out)
        print(f"wrote {args.out}")
    if args.json:
        result = {"model": args.model, "settings": vars(args),
                  "phases": timeline.rows, "total_seconds": round(total[0], 3),
                  "total_cpu_seconds": round(total[1], 3),
                  "load_average_1min": load, "cpu_count": os.cpu_count(),
                  "final_accuracy": timeline.rows[-1]["accuracy"],
                  "kmeans_iterations": shared.iterations, "layers": layers,
                  "torch": torch.__version__}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
