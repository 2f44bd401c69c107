#!/usr/bin/python3
"""Train LeNet-300-100 or LeNet-5 on Fashion-MNIST and save it as TorchScript.

Usage:

  train_lenet.py {lenet300|lenet5} OUT.pt [--epochs N] [--train-samples N]
                 [--seed S] [--threads T]

Writes OUT.pt (a torch.jit.script module, saved in eval mode) and OUT.json
beside it with {"model", "test_accuracy", "epochs", "seed", "train_seconds",
"train_samples", "parameters"}; prints the top-1 accuracy on the 10,000 t10k
images and the parameter count.

Inputs are the uint8 pixels scaled to [0, 1] (no mean/std normalisation):

  lenet300  Linear 784-300, ReLU, Linear 300-100, ReLU, Linear 100-10
            (attributes fc1, fc2, fc3); forward takes [B, 784].
  lenet5    LeNet-5 as in Caffe: conv1 Conv2d(1,20,5), maxpool 2,
            conv2 Conv2d(20,50,5), maxpool 2, flatten, fc1 Linear(800,500),
            ReLU, fc2 Linear(500,10); forward takes [B, 1, 28, 28].

Training is Adam (lr 1e-3), batch 128, cross-entropy, seeded shuffling and
deterministic algorithms, so the same arguments give the same model.
Uses Debian's torch (/usr/bin/python3); needs nothing else.
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
DEFAULT_EPOCHS = {"lenet300": 10, "lenet5": 8}
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
EVAL_CHUNK = 1000


class LeNet300(nn.Module):
    """LeNet-300-100: a 784-300-100-10 multilayer perceptron."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    """LeNet-5 in its Caffe form (20 and 50 conv filters, 500 hidden)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(self.conv1(x), 2)
        x = nn.functional.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


MODELS = {"lenet300": LeNet300, "lenet5": LeNet5}


def load_split(prefix, image_shape):
    """Images as float32 in [0, 1] reshaped to image_shape, labels as int64."""
    images, labels = fashion_mnist.load_split(prefix, DATA_DIR)
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    y = torch.from_numpy(labels)
    return x.reshape((-1,) + image_shape), y


def input_shape(model_name):
    """The per-example input shape the model's forward expects."""
    return (784,) if model_name == "lenet300" else (1, 28, 28)


def accuracy(model, x, y):
    """Top-1 accuracy of model on (x, y), evaluated in chunks."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_CHUNK):
            pred = model(x[i:i + EVAL_CHUNK]).argmax(1)
            correct += (pred == y[i:i + EVAL_CHUNK]).sum().item()
    return correct / len(x)


def train(model, x, y, epochs, seed):
    """Adam on cross-entropy, seeded shuffling; prints the loss per epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(x), BATCH_SIZE):
            idx = perm[i:i + BATCH_SIZE]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch}/{epochs}: train loss {total / len(x):.4f}",
              flush=True)


def json_path_for(out_path):
    """OUT.pt -> OUT.json (any other name gets .json appended)."""
    root, ext = os.path.splitext(out_path)
    return (root if ext == ".pt" else out_path) + ".json"


def parse_args():
    parser = argparse.ArgumentParser(
        description="Train LeNet on Fashion-MNIST; save TorchScript.")
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("out", help="output TorchScript file (OUT.pt)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: lenet300 10, lenet5 8")
    parser.add_argument("--train-samples", type=int, default=60000,
                        help="train on the first N images (default 60000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = DEFAULT_EPOCHS[args.model]
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    shape = input_shape(args.model)
    x_train, y_train = load_split("train", shape)
    x_train = x_train[:args.train_samples]
    y_train = y_train[:args.train_samples]
    x_test, y_test = load_split("t10k", shape)

    model = MODELS[args.model]()
    params = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    train(model, x_train, y_train, args.epochs, args.seed)
    seconds = time.perf_counter() - start

    model.eval()
    scripted = torch.jit.script(model)
    test_accuracy = accuracy(scripted, x_test, y_test)
    scripted.save(args.out)
    report = {"model": args.model, "test_accuracy": round(test_accuracy, 4),
              "epochs": args.epochs, "seed": args.seed,
              "train_seconds": round(seconds, 2),
              "train_samples": len(x_train), "parameters": params}
    with open(json_path_for(args.out), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"{args.model}: test accuracy {test_accuracy:.4f}, "
          f"{params} parameters, trained {args.epochs} epochs on "
          f"{len(x_train)} images in {seconds:.1f} s")
    print(f"wrote {args.out} and {json_path_for(args.out)}")


if __name__ == "__main__":
    main()
