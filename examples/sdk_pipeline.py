#!/usr/bin/python3
"""An ML pipeline step that uses condense through its Python SDK: train
LeNet-5 on Fashion-MNIST, compress it on a condense server with the
deep-compression preset (uploading the data from tensors in memory), load
the compressed TorchScript model that comes back, evaluate it here, and
print the accuracy and size table.

Usage (a server must be running; see README.md):

  PYTHONPATH=build/release/python /usr/bin/python3 examples/sdk_pipeline.py \\
      [--addr 127.0.0.1:7350] [--epochs 4] [--out build/sdk-pipeline]

The token, if the server needs one, comes from $CONDENSE_TOKEN.
"""
import argparse
import os
import sys
import time

import torch
from torch import nn
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
import fashion_mnist  # noqa: E402

import condense

DATA = "/usr/share/datasets/fashion-mnist"


class LeNet5(nn.Module):
    """LeNet-5 as in Caffe (the Deep Compression paper's LeNet-5)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(self.conv1(x), 2)
        x = torch.max_pool2d(self.conv2(x), 2)
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def load(split):
    """uint8 images [N, 1, 28, 28] and int64 labels [N] of a split."""
    images, labels = fashion_mnist.load_split(split, DATA)
    return (torch.from_numpy(images.reshape(-1, 1, 28, 28).copy()),
            torch.from_numpy(labels))


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            logits = model(x[i:i + 1000].float() / 255)
            correct += (logits.argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(model, x, y, epochs):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            batch = order[i:i + 128]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch].float() / 255),
                                               y[batch])
            loss.backward()
            optimizer.step()
        print(f"  epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", default=os.environ.get("CONDENSE_ADDR",
                                                         "127.0.0.1:7350"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default="build/sdk-pipeline")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(args.out, exist_ok=True)

    x, y = load("train")
    tx, ty = load("t10k")
    print(f"training LeNet-5 on {len(x)} Fashion-MNIST images")
    start = time.time()
    model = LeNet5()
    train(model, x, y, args.epochs)
    scripted = torch.jit.script(model.eval())
    dense_path = os.path.join(args.out, "lenet5.pt")
    scripted.save(dense_path)
    dense_accuracy = accuracy(scripted, tx, ty)
    print(f"  {time.time() - start:.0f} s, test accuracy {dense_accuracy:.2%}")

    print(f"compressing on {args.addr} (deep-compression)")
    start = time.time()
    stage = [None]

    def progress(event):
        if event.stage and event.stage != stage[0]:
            stage[0] = event.stage
            print(f"  stage {event.stage_index + 1}/{event.stage_count}: "
                  f"{event.stage}")

    with condense.Client(args.addr) as client:
        data = client.upload_dataset(inputs=x, targets=y, eval_inputs=tx,
                                     eval_targets=ty, name="fashion-mnist")
        job = client.submit(scripted, data, preset="deep-compression",
                            labels={"pipeline": "examples/sdk_pipeline.py"})
        for event in job.events():
            progress(event)
        job.result()
        files = job.download(os.path.join(args.out, "compressed"))
        report = job.report
    compressed = torch.jit.load(files["model.pt"])
    compressed_accuracy = accuracy(compressed, tx, ty)
    print(f"  {job.name} done in {time.time() - start:.0f} s")

    totals = report["totals"]
    rows = [
        ("dense LeNet-5 (float32 weights)", totals["original_bytes"],
         dense_accuracy),
        ("compressed (model.cdz)", totals["compressed_bytes"],
         compressed_accuracy),
    ]
    print(f"\n{'model':<34}{'bytes':>12}{'top-1':>9}")
    for name, size, acc in rows:
        print(f"{name:<34}{size:>12,}{acc:>9.2%}")
    print(f"\ncompression ratio {totals['compression_ratio']:.1f}x, "
          f"{totals['sparsity']:.1%} of the weights pruned; accuracy "
          f"{100 * (compressed_accuracy - dense_accuracy):+.2f} points "
          f"(the server measured {report['accuracy']['final']:.2%})")
    print(f"files: {sorted(files)} in {os.path.join(args.out, 'compressed')}")


if __name__ == "__main__":
    main()
