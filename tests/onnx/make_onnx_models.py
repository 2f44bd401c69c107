"""Writes models as both ONNX (torch.onnx.export) and TorchScript (traced),
with the same random weights (fixed seed) and one seeded input each, for the
ONNX tests and benchmarks.
Usage: make_onnx_models.py OUTDIR NAME...  (Debian's /usr/bin/python3)
Names: convnet, lstm, gpt (small, for tests); resnet18, tiny_gpt (the
benchmark's)."""
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "bench", "zoo"))
import make_zoo  # noqa: E402


class ConvNet(nn.Module):
    """Every convolution kind an image model has: conv, batch norm, a
    transposed convolution, a depthwise conv, and a linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 2, stride=2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4))
        self.head = nn.Linear(16 * 16, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def build(name):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    if name == "convnet":
        return ConvNet().eval(), torch.randn(2, 3, 16, 16, generator=gen)
    if name == "lstm":
        model = make_zoo.LstmTagger(vocab=500, dim=32, hidden=64, tags=12)
        return model.eval(), torch.randint(0, 500, (2, 16), generator=gen)
    if name == "gpt":
        model = make_zoo.TinyGpt(vocab=500, dim=64, layers=2, heads=4, ctx=32)
        return model.eval(), torch.randint(0, 500, (1, 16), generator=gen)
    if name == "resnet18":
        model = make_zoo.IMAGE["resnet18"]()
        return model.eval(), torch.randn(1, 3, 224, 224, generator=gen)
    if name == "tiny_gpt":
        return make_zoo.TinyGpt().eval(), torch.randint(0, 8000, (1, 64),
                                                        generator=gen)
    raise SystemExit(f"unknown model {name}")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:]:
        model, x = build(name)
        base = os.path.join(out, name)
        with torch.no_grad():
            torch.jit.trace(model, x, check_trace=False).save(base + ".pt")
            # Eval-mode export folds batch norms into the convolutions before
            # them, as deployments do.
            torch.onnx.export(model, (x,), base + ".onnx", input_names=["x"],
                              output_names=["y"], opset_version=14,
                              do_constant_folding=True)
        x.numpy().tofile(base + ".input.bin")
        with open(base + ".input.json", "w") as f:
            json.dump({"name": "x", "dtype": str(x.numpy().dtype),
                       "shape": list(x.shape)}, f)
        torch.save(x, base + ".input")
        print(name, sum(p.numel() for p in model.parameters()), flush=True)


if __name__ == "__main__":
    main()
