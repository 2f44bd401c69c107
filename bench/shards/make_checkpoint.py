#!/usr/bin/env python3
"""Writes a Hugging Face style sharded safetensors checkpoint with random
weights: a decoder-only transformer's tensors (embedding, per layer attention
projections, MLP, norms, an untied head) in bf16, split into shards of at
most --shard-mib, with model.safetensors.index.json. Deterministic (seeded).

Usage: make_checkpoint.py DIR [--hidden 2048] [--layers 8] [--vocab 32000]
       [--intermediate 5632] [--shard-mib 300] [--dtype bf16]
Needs only Debian's python3-torch (the safetensors format is written here).
"""
import argparse
import json
import os
import struct

import torch

DTYPES = {"bf16": (torch.bfloat16, "BF16"), "f16": (torch.float16, "F16"),
          "f32": (torch.float32, "F32")}


def tensors(a):
    h, m = a.hidden, a.intermediate
    yield "model.embed_tokens.weight", (a.vocab, h), 0.02
    for i in range(a.layers):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (h,), None
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            yield p + f"self_attn.{proj}.weight", (h, h), h ** -0.5
        yield p + "post_attention_layernorm.weight", (h,), None
        yield p + "mlp.gate_proj.weight", (m, h), h ** -0.5
        yield p + "mlp.up_proj.weight", (m, h), h ** -0.5
        yield p + "mlp.down_proj.weight", (h, m), m ** -0.5
    yield "model.norm.weight", (h,), None
    yield "lm_head.weight", (a.vocab, h), h ** -0.5


def write_shard(path, items, st_dtype):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in items:
        n = t.numel() * t.element_size()
        header[name] = {"dtype": st_dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, t in items:
            # Raw little-endian bytes of any dtype, bf16 included.
            f.write(t.contiguous().view(torch.uint8).numpy().tobytes())
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--intermediate", type=int, default=5632)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--shard-mib", type=int, default=300)
    ap.add_argument("--dtype", choices=DTYPES, default="bf16")
    a = ap.parse_args()
    torch_dtype, st_dtype = DTYPES[a.dtype]
    os.makedirs(a.dir, exist_ok=True)
    gen = torch.Generator().manual_seed(1)
    # Group tensors into shards by size, in order, as save_pretrained does.
    groups, current, size = [], [], 0
    limit = a.shard_mib << 20
    specs = list(tensors(a))
    for name, shape, std in specs:
        n = torch.Size(shape).numel() * torch.tensor([], dtype=torch_dtype).element_size()
        if current and size + n > limit:
            groups.append(current)
            current, size = [], 0
        current.append((name, shape, std))
        size += n
    groups.append(current)
    weight_map, total = {}, 0
    for k, group in enumerate(groups):
        file = f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors"
        items = []
        for name, shape, std in group:
            t = (torch.ones(shape) if std is None
                 else torch.randn(shape, generator=gen) * std).to(torch_dtype)
            items.append((name, t))
            weight_map[name] = file
            total += t.numel() * t.element_size()
        write_shard(os.path.join(a.dir, file), items, st_dtype)
        del items
    with open(os.path.join(a.dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
                  f, indent=2)
    print(f"{a.dir}: {len(specs)} tensors, {total / 2**20:.0f} MiB in "
          f"{len(groups)} shards")


if __name__ == "__main__":
    main()
