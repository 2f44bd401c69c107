#!/usr/bin/python3
"""Write the small TorchScript models that the C++ tests load.

Usage:

  make_test_models.py OUTDIR

Writes into OUTDIR (created if missing), all in eval mode:

  tiny_mlp.pt        784-64-10 MLP (fc1, fc2), trained one epoch on 5,000
                     Fashion-MNIST images; forward takes [B, 784].
  tiny_cnn.pt        conv1 Conv2d(1,8,5), bn1 BatchNorm2d(8), maxpool,
                     conv2 Conv2d(8,16,5), maxpool, flatten,
                     fc1 Linear(256,32), fc2 Linear(32,10); trained one
                     epoch on 5,000 images; forward takes [B, 1, 28, 28].
  zoo.pt             untrained; exercises structure rather than accuracy:
                     nested submodules (a ModuleList and a Sequential inside a
                     submodule), Conv1d/2d/3d, Linear, BatchNorm1d, Embedding,
                     a weight tied between two Linear layers (enc, dec), a
                     top-level parameter and a registered buffer; forward
                     takes [B, 16] floats and returns [B, 10].
  zoo_expected.json  what enumerating zoo.pt must give (see zoo_expected()).
  test_models.json   test accuracy and input shape of each model.

Inputs are pixels scaled to [0, 1]. Everything is seeded and deterministic
(same weights, outputs and JSON on every run; the .pt bytes can still differ
in the order TorchScript writes class constants unless PYTHONHASHSEED is
fixed). The whole script takes a few seconds. Uses Debian's torch
(/usr/bin/python3).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import fashion_mnist  # noqa: E402
from torch import nn

DATA_DIR = "/usr/share/datasets/fashion-mnist"
TRAIN_SAMPLES = 5000
BATCH_SIZE = 64
SEED = 0


class TinyMLP(nn.Module):
    """784-64-10 perceptron."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class TinyCNN(nn.Module):
    """Two 5x5 convolutions (BatchNorm after the first), two fc layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc1 = nn.Linear(256, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class Body(nn.Module):
    """A submodule holding a ModuleList and a Sequential: [B,16] -> [B,8]."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(16, 16), nn.Linear(16, 16)])
        self.seq = nn.Sequential(nn.Linear(16, 16), nn.ReLU(),
                                 nn.Linear(16, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.seq(x)


class Zoo(nn.Module):
    """Many kinds of layers and parameter arrangements in one module."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(16))
        self.register_buffer("offset", torch.linspace(-0.5, 0.5, 16))
        self.enc = nn.Linear(16, 16)
        self.dec = nn.Linear(16, 16)
        self.dec.weight = self.enc.weight  # tied: one tensor, two layers
        self.conv1d = nn.Conv1d(1, 4, 3, padding=1)
        self.bn1d = nn.BatchNorm1d(4)
        self.conv2d = nn.Conv2d(1, 4, 3, padding=1)
        self.conv3d = nn.Conv3d(1, 2, 2)
        self.embed = nn.Embedding(10, 8)
        self.body = Body()
        self.head = nn.Linear(4 + 4 + 6 + 8 + 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * self.gain + self.offset
        h = self.dec(torch.relu(self.enc(h)))                     # [B, 16]
        a = self.bn1d(self.conv1d(h.unsqueeze(1))).mean(2)        # [B, 4]
        b = self.conv2d(h.reshape(-1, 1, 4, 4)).mean([2, 3])      # [B, 4]
        c = torch.flatten(self.conv3d(h.reshape(-1, 1, 4, 2, 2)), 1)  # [B, 6]
        index = torch.clamp(torch.floor((x[:, 0] + 1.0) * 5.0), 0.0, 9.0)
        e = self.embed(index.long())                              # [B, 8]
        d = self.body(h)                                          # [B, 8]
        return self.head(torch.cat([a, b, c, e, d], 1))


def load_split(prefix, limit=None):
    """Images as float32 [N, 784] in [0, 1], labels as int64 [N]."""
    images, labels = fashion_mnist.load_split(prefix, DATA_DIR, limit)
    x = torch.from_numpy(images.reshape(-1, 784).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels)


def train_one_epoch(model, x, y):
    """One epoch of Adam (lr 1e-3) on cross-entropy with seeded shuffling."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(SEED)
    perm = torch.randperm(len(x), generator=generator)
    model.train()
    for i in range(0, len(x), BATCH_SIZE):
        idx = perm[i:i + BATCH_SIZE]
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
    model.eval()


def accuracy(model, x, y):
    """Top-1 accuracy of model on (x, y)."""
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def save_scripted(model, path):
    """Script model (in eval mode) and save it; return the script module."""
    scripted = torch.jit.script(model.eval())
    scripted.save(path)
    return scripted


def make_trained(name, model_class, input_shape, data, outdir):
    """Train a new model_class briefly, save it as OUTDIR/name.pt.

    Returns the summary entry for test_models.json.
    """
    (x_train, y_train), (x_test, y_test) = data
    shape = (-1,) + input_shape
    torch.manual_seed(SEED)
    model = model_class()
    start = time.perf_counter()
    train_one_epoch(model, x_train.reshape(shape), y_train)
    seconds = time.perf_counter() - start
    path = os.path.join(outdir, f"{name}.pt")
    scripted = save_scripted(model, path)
    acc = accuracy(scripted, x_test.reshape(shape), y_test)
    print(f"wrote {path}: test accuracy {acc:.4f} "
          f"(1 epoch on {len(x_train)} images, {seconds:.1f} s)")
    return {"file": f"{name}.pt", "input_shape": list(input_shape),
            "test_accuracy": round(acc, 4), "train_samples": len(x_train)}


def zoo_expected(loaded):
    """Parameter names, shapes and ties of a loaded zoo module.

    "parameters" is what Python's named_parameters() yields after
    torch.jit.load: each tensor once, under the first name that reaches it.
    "all_parameters" lists every (module, parameter) slot in the same
    depth-first order, a tied tensor under each of its names, which is what
    C++'s torch::jit::Module::named_parameters() yields. "tied" groups the
    names that refer to one tensor.
    """
    params = [{"name": n, "shape": list(p.shape)}
              for n, p in loaded.named_parameters()]
    slots = []
    for prefix, module in loaded.named_modules():
        for name, p in module._parameters.items():
            full = f"{prefix}.{name}" if prefix else name
            slots.append((full, p))
    by_tensor = {}
    for full, p in slots:
        by_tensor.setdefault(p.data_ptr(), []).append(full)
    buffers = [{"name": n, "shape": list(b.shape), "dtype": str(b.dtype)}
               for n, b in loaded.named_buffers()]
    return {"parameters": params,
            "all_parameters": [{"name": n, "shape": list(p.shape)}
                               for n, p in slots],
            "tied": [names for names in by_tensor.values() if len(names) > 1],
            "buffers": buffers}


def write_json(path, obj):
    """Write a dict of values, one list element per line, for easy diffs."""
    lines = []
    for key, value in obj.items():
        if isinstance(value, list) and value:
            items = ",\n    ".join(json.dumps(item) for item in value)
            lines.append(f"  {json.dumps(key)}: [\n    {items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def make_zoo(outdir):
    """Save zoo.pt and zoo_expected.json (with an example input/output)."""
    torch.manual_seed(SEED)
    path = os.path.join(outdir, "zoo.pt")
    save_scripted(Zoo(), path)
    loaded = torch.jit.load(path)
    expected = zoo_expected(loaded)
    example = torch.linspace(-2.0, 2.0, 32).reshape(2, 16)
    with torch.no_grad():
        output = loaded(example)
    expected["example_input"] = example.tolist()
    expected["example_output"] = output.tolist()
    json_path = os.path.join(outdir, "zoo_expected.json")
    write_json(json_path, expected)
    print(f"wrote {path}: {len(expected['parameters'])} parameters "
          f"({len(expected['all_parameters'])} slots), tied "
          f"{expected['tied']}, {len(expected['buffers'])} buffers")
    print(f"wrote {json_path}")
    return {"file": "zoo.pt", "input_shape": [16], "test_accuracy": None,
            "train_samples": 0}


def main():
    parser = argparse.ArgumentParser(
        description="Write the TorchScript models used by the C++ tests.")
    parser.add_argument("outdir")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    data = (load_split("train", TRAIN_SAMPLES), load_split("t10k"))
    summary = {
        "tiny_mlp": make_trained("tiny_mlp", TinyMLP, (784,), data,
                                 args.outdir),
        "tiny_cnn": make_trained("tiny_cnn", TinyCNN, (1, 28, 28), data,
                                 args.outdir),
        "zoo": make_zoo(args.outdir),
    }
    summary_path = os.path.join(args.outdir, "test_models.json")
    write_json(summary_path, summary)
    print(f"wrote {summary_path}")


if __name__ == "__main__":
    main()
