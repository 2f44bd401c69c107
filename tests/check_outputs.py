#!/usr/bin/python3
"""Checks one `condense-worker run` output directory against itself.

  check_outputs.py OUT_DIR [--data DIR --eval-samples N --sample-shape S]

- model.pt (dense TorchScript rebuilt from model.cdz) holds exactly the
  tensors of model.safetensors (exported from model.cdz by the codec), bit
  for bit, and tied names hold equal tensors;
- every quantized tensor uses at most 2^bits distinct nonzero values, and
  every compressed one has the density report.json states;
- condense.load_cdz (the Python SDK over libcdz, the C decoder) gives the
  same tensors from model.cdz, and condense.load_into fills a scrambled copy
  of model.pt so that it equals model.pt (state, and outputs on the data);
- with --data, model.pt's top-1 accuracy on the first N t10k images equals
  report.json's final accuracy.
Exits non-zero with a message on the first mismatch. The SDK is taken from
--sdk, else $CONDENSE_BUILD_DIR/python, else build/release/python.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../scripts"))
import fashion_mnist  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
          "BOOL": np.bool_}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b],
                            DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def fail(msg):
    print(f"check_outputs: {msg}", file=sys.stderr)
    sys.exit(1)


def import_sdk(sdk):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    build = os.environ.get("CONDENSE_BUILD_DIR",
                           os.path.join(root, "build", "release"))
    path = sdk or os.path.join(build, "python")
    if not os.path.exists(os.path.join(path, "condense", "cdz.py")):
        fail(f"no Python SDK under {path}: build the python_sdk target or "
             "pass --sdk")
    sys.path.insert(0, path)
    import condense
    return condense


def check_python_decoder(condense, out, stored, x):
    """load_cdz equals the C++ export; load_into rebuilds model.pt."""
    cdz = os.path.join(out, "model.cdz")
    decoded = condense.load_cdz(cdz)
    if set(decoded) != set(stored):
        fail(f"load_cdz names {sorted(set(decoded) ^ set(stored))} differ "
             "from the C++ export's")
    for name, t in stored.items():
        if not torch.equal(decoded[name].to(t.dtype), t):
            fail(f"{name}: load_cdz differs from the C++ decoder")
    reference = torch.jit.load(os.path.join(out, "model.pt"))
    target = torch.jit.load(os.path.join(out, "model.pt"))
    with torch.no_grad():
        for t in target.state_dict().values():
            t.fill_(0.25 if t.is_floating_point() else 0)
    condense.load_into(target, cdz)
    want = reference.state_dict()
    for name, t in target.state_dict().items():
        if not torch.equal(t, want[name]):
            fail(f"{name}: load_into left a value other than model.pt's")
    if x is not None:
        reference.eval()
        target.eval()
        with torch.no_grad():
            if not torch.equal(target(x), reference(x)):
                fail("the module loaded by load_into computes other outputs "
                     "than model.pt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sdk", help="the Python SDK's directory")
    ap.add_argument("--data")
    ap.add_argument("--eval-samples", type=int, default=0)
    ap.add_argument("--sample-shape", default="")
    args = ap.parse_args()

    report = json.load(open(os.path.join(args.out, "report.json")))
    stored = read_safetensors(os.path.join(args.out, "model.safetensors"))
    model = torch.jit.load(os.path.join(args.out, "model.pt"))
    state = dict(model.named_parameters())
    state.update(dict(model.named_buffers()))
    by_impl = {}
    for name, t in state.items():
        by_impl.setdefault(t.data_ptr(), []).append(name)
    for name, t in stored.items():
        if name not in state:
            fail(f"{name} is in the .cdz but not in model.pt")
        if not torch.equal(state[name].detach().reshape(t.shape).to(t.dtype), t):
            fail(f"{name} differs between model.pt and the .cdz")
    for names in by_impl.values():
        if not any(n in stored for n in names):
            fail(f"model.pt tensor {names} has no value in the .cdz")
    for t in report["tensors"]:
        if not t.get("compressed"):
            continue
        w = stored[t["name"]]
        distinct = torch.unique(w[w != 0]).numel()
        if t["quantized"] and distinct > 2 ** t["bits"]:
            fail(f"{t['name']}: {distinct} distinct values > 2^{t['bits']}")
        density = float((w != 0).sum()) / w.numel()
        if abs(density - t["density"]) > 1e-9:
            fail(f"{t['name']}: density {density} vs report {t['density']}")
    condense = import_sdk(args.sdk)
    x = None
    if args.data:
        n = args.eval_samples
        x = fashion_mnist.load_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))[:n]
        y = fashion_mnist.load_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))[:n]
        shape = [int(d) for d in args.sample_shape.split(",")]
        x = torch.from_numpy(x.astype(np.float32) / 255.0).reshape([n] + shape)
        model.eval()
        with torch.no_grad():
            acc = float((model(x).argmax(1) == torch.from_numpy(
                y.astype(np.int64))).float().mean())
        want = report["accuracy"]["final"]
        if abs(acc - want) > 1.5 / n:
            fail(f"model.pt accuracy {acc} vs report {want}")
    check_python_decoder(condense, args.out, stored, x)
    if args.data:
        print(f"check_outputs: {args.out}: {len(stored)} tensors match, "
              f"accuracy {acc:.4f}, ratio "
              f"{report['totals']['compression_ratio']:.1f}x")
    else:
        print(f"check_outputs: {args.out}: {len(stored)} tensors match, "
              f"ratio {report['totals']['compression_ratio']:.1f}x")


if __name__ == "__main__":
    main()
