#!/usr/bin/python3
"""Prints the bits benchmark's table from lines "MODEL NAME DIR" on stdin.

For each run: the file as written, the same weights with every quantized
tensor Huffman-coded (body sizes from cdz inspect's alternatives, everything
else unchanged), the quantized tensors' bodies both ways, and the t10k
accuracy from report.json. Then each rate run against its model's baseline.
"""
import json
import math
import sys

import torch


def load(d):
    inspect = json.load(open(f"{d}/inspect.json"))
    report = json.load(open(f"{d}/report.json"))
    bodies = huffman = streams = 0
    for t in inspect["tensors"]:
        if t["encoding"] == "raw":
            continue
        if t["encoding"] == "context_coded":
            streams += t["position_bytes"] + t["index_bytes"]
        alt = t["alternative_body_bytes"]
        chosen = alt[t["encoding"]]
        bodies += chosen
        huffman += alt["sparse_quantized"]
    return {
        "file": inspect["file_bytes"],
        "huffman_file": inspect["file_bytes"] - bodies + huffman,
        "bodies": bodies,
        "huffman_bodies": huffman,
        "container": inspect["container_bytes"],
        "original": inspect["original_bytes"],
        "top1": report["accuracy"]["final"],
        "bound": order0_bound(d),
        "streams": streams,
        "baseline_top1": report["accuracy"]["baseline"],
    }


def order0_bound(d):
    """Bytes of the order-0 entropy of each context-coded weight's mask (one
    flag per element) and indices (one symbol per nonzero), summed."""
    sd = torch.jit.load(f"{d}/model.pt").state_dict()
    inspect = json.load(open(f"{d}/inspect.json"))
    total = 0.0
    for t in inspect["tensors"]:
        if t["encoding"] != "context_coded":
            continue
        w = sd[t["name"]].flatten()
        nz = w[w != 0]
        n, k = w.numel(), nz.numel()
        if 0 < k < n:
            p = k / n
            total += n * -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
        _, counts = torch.unique(nz, return_counts=True)
        q = counts.double() / k
        total += float(-(counts.double() * q.log2()).sum())
    return total / 8


runs = []
for line in sys.stdin:
    if line.strip():
        model, name, d = line.split()
        runs.append((model, name, load(d)))

print("| model | run | t10k top-1 | file bytes | ratio | all-Huffman file | "
      "coded tensors: context / Huffman |")
print("|---|---|---:|---:|---:|---:|---:|")
for model, name, r in runs:
    print(f"| {model} | {name} | {100 * r['top1']:.2f}% | {r['file']:,} | "
          f"{r['original'] / r['file']:.1f}x | {r['huffman_file']:,} | "
          f"{r['bodies']:,} / {r['huffman_bodies']:,} "
          f"({100 * (r['bodies'] / r['huffman_bodies'] - 1):+.1f}%) |")
print()
print("| model | run | order-0 bound of masks and indices | context-coded masks and indices |")
print("|---|---|---:|---:|")
for model, name, r in runs:
    print(f"| {model} | {name} | {r['bound']:,.0f} | {r['streams']:,} "
          f"({100 * (r['streams'] / r['bound'] - 1):+.1f}%) |")
print()
print("| model | run | vs baseline all-Huffman file | top-1 change |")
print("|---|---|---:|---:|")
base = {m: r for m, n, r in runs if n == "baseline"}
for model, name, r in runs:
    b = base.get(model)
    if b is None:
        continue
    print(f"| {model} | {name} | "
          f"{100 * (r['file'] / b['huffman_file'] - 1):+.1f}% | "
          f"{100 * (r['top1'] - b['top1']):+.2f} pt |")
