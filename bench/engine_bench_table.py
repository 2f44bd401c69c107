#!/usr/bin/python3
"""Prints the engine benchmark tables (markdown) from bench/run_engine_bench.sh's
work directory: engine reports, wall times, the PyTorch pipeline's JSON and
kmeans_bench's JSON.

  engine_bench_table.py WORK_DIR
"""
import json
import os
import sys


def load(work, name):
    with open(os.path.join(work, name)) as f:
        return json.load(f)


def seconds(work, name):
    with open(os.path.join(work, name)) as f:
        return float(f.read().split()[-1])


def runs(work, prefix):
    times = sorted(seconds(work, f"{prefix}.{rep}.time") for rep in (1, 2, 3))
    return f"{times[0]:.1f} | {times[1]:.1f} | {', '.join(f'{t:.1f}' for t in times)}"


def model_table(name, r):
    t = r["totals"]
    a = r["accuracy"]
    print(f"### {name}\n")
    print(f"{t['original_bytes']:,} B -> {t['compressed_bytes']:,} B: "
          f"**{t['compression_ratio']:.1f}x**; top-1 {a['baseline']:.4f} "
          f"(dense) -> **{a['final']:.4f}** "
          f"({100 * (a['final'] - a['baseline']):+.2f} points); "
          f"ratio after pruning {t['ratio_pruned']:.1f}x, after pruning + "
          f"quantization {t['ratio_pruned_quantized']:.1f}x, after Huffman "
          f"{t['compression_ratio']:.1f}x (the paper's three columns); "
          f"engine wall time {r['duration_seconds']:.0f} s.\n")
    print("| tensor | params | density | bits | b | bytes | index | positions "
          "| codebook | bits/nz | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in r["tensors"]:
        comp = x.get("compressed", False)
        print(f"| {x['name']} | {x['numel']:,} | {x['density']:.3f} | "
              f"{x['bits'] if comp else '-'} | "
              f"{x['index_bits'] if comp else '-'} | {x['total_bytes']:,} | "
              f"{x['index_bytes']:,} | {x['position_bytes']:,} | "
              f"{x['codebook_bytes']:,} | {x['bits_per_nonzero']:.2f} | "
              f"{x['ratio']:.1f}x |")
    print()
    print("| stage | top-1 | sparsity | seconds |")
    print("|---|---:|---:|---:|")
    for s in r["stages"]:
        print(f"| {s['stage']} | {s['accuracy']['top1']:.4f} | "
              f"{s['sparsity']:.3f} | {s['duration_seconds']:.1f} |")
    print()


def main():
    work = sys.argv[1]
    r300 = load(work, "lenet300/report.json")
    r5 = load(work, "lenet5/report.json")
    model_table("LeNet-300-100 (Fashion-MNIST)", r300)
    model_table("LeNet-5, Caffe form (Fashion-MNIST)", r5)

    torch = load(work, "torch300.json")
    print("### LeNet-300-100 pipeline wall time: engine vs PyTorch\n")
    print("| | min (s) | median (s) | runs (s) | final top-1 |")
    print("|---|---:|---:|---|---:|")
    print(f"| condense-worker run (C++, LibTorch {r300['versions']['libtorch']})"
          f" | {runs(work, 'engine300')} | {r300['accuracy']['final']:.4f} |")
    print(f"| bench/pytorch_pipeline.py (Python, torch {torch['torch']}) | "
          f"{runs(work, 'torch300')} | {torch['final_accuracy']:.4f} |")
    print()
    print("Phases of the PyTorch script:\n")
    print("| phase | seconds | top-1 |")
    print("|---|---:|---:|")
    for p in torch["phases"]:
        acc = p.get("accuracy")
        print(f"| {p['phase']} | {p['seconds']:.2f} | "
              f"{'' if acc is None else f'{acc:.4f}'} |")
    print()

    km = load(work, "kmeans.json")
    print("### 1-D k-means on 10 million Laplacian weights (one core)\n")
    print("| benchmark | time (ms) | SSE | Lloyd steps |")
    print("|---|---:|---:|---:|")
    for b in km["benchmarks"]:
        print(f"| {b['name']} | {b['real_time']:.0f} | {b.get('sse', 0):.4g} "
              f"| {b.get('lloyd_steps', 0):.0f} |")


if __name__ == "__main__":
    main()
