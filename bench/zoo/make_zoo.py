"""Writes the benchmark zoo as TorchScript files with random weights (fixed
seed): torchvision architectures, an LSTM tagger and a small GPT-style
transformer with a tied embedding, plus one seeded input per model.
Usage: make_zoo.py OUTDIR [NAME ...]  (Debian's /usr/bin/python3)"""
import os
import sys

import torch
from torch import nn
import torchvision.models as tvm


class LstmTagger(nn.Module):
    def __init__(self, vocab=10000, dim=256, hidden=512, tags=50):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True,
                            bidirectional=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, tokens):
        x, _ = self.lstm(self.embed(tokens))
        return self.out(x)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(),
                                 nn.Linear(4 * dim, dim))

    def forward(self, x, mask):
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + a
        return x + self.mlp(self.ln2(x))


class TinyGpt(nn.Module):
    def __init__(self, vocab=8000, dim=384, layers=6, heads=6, ctx=256):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, ctx, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, tokens):
        t = tokens.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        x = self.tok(tokens) + self.pos[:, :t]
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


IMAGE = {"resnet18": tvm.resnet18, "resnet50": tvm.resnet50,
         "mobilenet_v2": tvm.mobilenet_v2,
         "mobilenet_v3_small": tvm.mobilenet_v3_small,
         "efficientnet_b0": tvm.efficientnet_b0,
         "densenet121": tvm.densenet121, "convnext_tiny": tvm.convnext_tiny,
         "vgg16": tvm.vgg16, "vit_b_16": tvm.vit_b_16}


def build(name):
    torch.manual_seed(0)
    if name in IMAGE:
        model = IMAGE[name]().eval()
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    elif name == "lstm_tagger":
        model = LstmTagger().eval()
        x = torch.randint(0, 10000, (2, 32), generator=torch.Generator().manual_seed(1))
    elif name == "tiny_gpt":
        model = TinyGpt().eval()
        x = torch.randint(0, 8000, (1, 64), generator=torch.Generator().manual_seed(1))
    else:
        raise SystemExit(f"unknown model {name}")
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
    return traced, x


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or list(IMAGE) + ["lstm_tagger", "tiny_gpt"]
    os.makedirs(out, exist_ok=True)
    for name in names:
        path = os.path.join(out, name + ".pt")
        if os.path.exists(path):
            continue
        model, x = build(name)
        model.save(path)
        torch.save(x, os.path.join(out, name + ".input"))
        print(name, sum(p.numel() for p in model.parameters()), flush=True)


if __name__ == "__main__":
    main()
