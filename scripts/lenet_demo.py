#!/usr/bin/python3
"""LeNet-300-100 on Fashion-MNIST for the codec demo.

  lenet_demo.py train OUT.safetensors [--quick]
        train, prune (with retraining) and k-means quantize; write the
        weights. --quick trains on 10,000 images for tests.
  lenet_demo.py eval FILE.safetensors
        print the test accuracy of a weights file

Uses Debian's torch (/usr/bin/python3). The compression here is a small
stand-in so the codec has real weights to encode; the engine (worker/) is
where condense does pruning and trained quantization properly.
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "."))
import fashion_mnist  # noqa: E402
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
# Per-layer density after pruning, as Deep Compression reports for
# LeNet-300-100 (8%, 9%, 26%).
DENSITY = {"fc1.weight": 0.08, "fc2.weight": 0.09, "fc3.weight": 0.26}
BITS = 5  # Deep Compression: 5-bit weight sharing for fc layers.


def load_split(prefix):
    images, labels = fashion_mnist.load_split(prefix, DATA)
    return (torch.from_numpy(images.reshape(-1, 784).astype(np.float32) / 255.0),
            torch.from_numpy(labels))


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(model, x, y, epochs, lr, masks=None):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    params = dict(model.named_parameters())
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            if masks:
                with torch.no_grad():
                    for name, m in masks.items():
                        params[name].mul_(m)


def kmeans_1d(values, k, iters=30):
    """Linear-initialized 1-D k-means (Deep Compression's best init)."""
    c = np.linspace(values.min(), values.max(), k)
    for _ in range(iters):
        assign = np.abs(values[:, None] - c[None, :]).argmin(1)
        for j in range(k):
            sel = values[assign == j]
            if sel.size:
                c[j] = sel.mean()
    assign = np.abs(values[:, None] - c[None, :]).argmin(1)
    return c.astype(np.float32), assign


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(
            data, np.float32, count=(end - b) // 4,
            offset=8 + n + b).reshape(e["shape"]).copy())
    return out


def cmd_train(out, quick):
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    epochs, retrain = (4, 3) if not quick else (2, 1)
    if quick:
        xtr, ytr = xtr[:10000], ytr[:10000]
    model = LeNet300()
    t0 = time.time()
    train(model, xtr, ytr, epochs=epochs, lr=1e-3)
    dense = accuracy(model, xte, yte)
    print(f"dense:     test accuracy {dense:.4f} ({time.time() - t0:.0f}s)")

    params = dict(model.named_parameters())
    masks = {}
    with torch.no_grad():
        for name, density in DENSITY.items():
            w = params[name]
            keep = int(round(density * w.numel()))
            threshold = w.abs().flatten().kthvalue(w.numel() - keep).values
            masks[name] = (w.abs() > threshold).float()
            w.mul_(masks[name])
    train(model, xtr, ytr, epochs=retrain, lr=5e-4, masks=masks)
    pruned = accuracy(model, xte, yte)
    print(f"pruned:    test accuracy {pruned:.4f} "
          f"(densities {', '.join(f'{d:.0%}' for d in DENSITY.values())})")

    with torch.no_grad():
        for name in DENSITY:
            w = params[name].numpy()
            nz = w != 0
            centroids, assign = kmeans_1d(w[nz], 2 ** BITS)
            q = np.zeros_like(w)
            q[nz] = centroids[assign]
            params[name].copy_(torch.from_numpy(q))
    quant = accuracy(model, xte, yte)
    print(f"quantized: test accuracy {quant:.4f} ({BITS}-bit shared weights)")
    tensors = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    save_safetensors(out, tensors, {"model": "LeNet-300-100",
                                    "dataset": "Fashion-MNIST",
                                    "test_accuracy": f"{quant:.4f}"})
    print(f"wrote {out}")


def cmd_eval(path):
    xte, yte = load_split("t10k")
    model = LeNet300()
    model.load_state_dict(load_safetensors(path))
    print(f"{path}: test accuracy {accuracy(model, xte, yte):.4f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    if len(args) != 2 or args[0] not in ("train", "eval"):
        sys.exit(__doc__)
    if args[0] == "train":
        cmd_train(args[1], quick)
    else:
        cmd_eval(args[1])
