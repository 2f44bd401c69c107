"""ONNX models through condense, end to end: each test model is compressed
data-free (the quantize preset) from its ONNX file and from the TorchScript
file with the same weights; the compressed ONNX model must pass the ONNX
checker, run in onnxruntime (node, tests/onnx/run_onnx.js), keep its graph,
compress every weight matrix, and its outputs must be as close to the
original's as the TorchScript path's are; the .cdz alone (cdz decompress)
must rebuild the same model.
Usage: onnx_models_test.py --worker PATH --cdz PATH [--workdir DIR]
(/usr/bin/python3)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["convnet", "lstm", "gpt"]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


def ort_output(model, base):
    out = model + ".out.bin"
    run(["node", os.path.join(HERE, "run_onnx.js"), model,
         base + ".input.bin", base + ".input.json", out])
    return np.fromfile(out, dtype=np.float32)


def torch_output(model, base):
    m = torch.jit.load(model).eval()
    with torch.no_grad():
        y = m(torch.load(base + ".input"))
    y = y if isinstance(y, torch.Tensor) else y[0]
    return y.numpy().ravel()


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def same_model(a_path, b_path):
    """Two ONNX files hold the same graph and the same tensor values."""
    from onnx import numpy_helper
    a, b = onnx.load(a_path), onnx.load(b_path)
    assert [(n.op_type, list(n.input), list(n.output)) for n in a.graph.node] \
        == [(n.op_type, list(n.input), list(n.output)) for n in b.graph.node]
    ta = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    tb = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].dtype == tb[name].dtype, name
        assert np.array_equal(ta[name], tb[name]), name


def check(workdir, worker, cdz, name):
    base = os.path.join(workdir, name)
    outs = {}
    for kind in ("onnx", "pt"):
        out = os.path.join(workdir, f"{name}-{kind}")
        run([worker, "run", "--model", f"{base}.{kind}", "--preset",
             "quantize", "--out", out, "--quiet"])
        outs[kind] = out
    compressed = os.path.join(outs["onnx"], "model.onnx")
    assert not os.path.exists(os.path.join(outs["onnx"], "model.safetensors"))
    onnx.checker.check_model(compressed)
    original, new = onnx.load(base + ".onnx"), onnx.load(compressed)
    assert [n.op_type for n in original.graph.node] == \
        [n.op_type for n in new.graph.node], "graph changed"
    assert ({t.name: list(t.dims) for t in original.graph.initializer} ==
            {t.name: list(t.dims) for t in new.graph.initializer})

    report = json.load(open(os.path.join(outs["onnx"], "report.json")))
    raw = {t["name"]: t.get("raw_reason", "") for t in report["tensors"]
           if not t.get("compressed")}
    # Every float weight matrix is compressed; biases stay raw by default,
    # and a recurrent layer's bias (input B) is 2-D.
    biases = {n.input[3] for n in original.graph.node
              if n.op_type in ("LSTM", "GRU", "RNN") and len(n.input) > 3}
    for t in original.graph.initializer:
        if len(t.dims) >= 2 and t.data_type == onnx.TensorProto.FLOAT and \
                not t.name.startswith("onnx::Add") and t.name not in biases:
            assert t.name not in raw, f"{name}: {t.name} stored raw: {raw}"

    err_onnx = rel(ort_output(base + ".onnx", base),
                   ort_output(compressed, base))
    # The container alone rebuilds the model the job wrote, which runs.
    rebuilt = os.path.join(workdir, f"{name}-rebuilt.onnx")
    run([cdz, "decompress", os.path.join(outs["onnx"], "model.cdz"), "-o",
         rebuilt])
    onnx.checker.check_model(rebuilt)
    same_model(compressed, rebuilt)
    assert rel(ort_output(compressed, base), ort_output(rebuilt, base)) == 0
    err_pt = rel(torch_output(base + ".pt", base),
                 torch_output(os.path.join(outs["pt"], "model.pt"), base))
    ratio = report["totals"]["compression_ratio"]
    pt_report = json.load(open(os.path.join(outs["pt"], "report.json")))
    pt_ratio = pt_report["totals"]["compression_ratio"]
    # The ONNX .cdz also keeps the graph (TorchScript's code is not in its
    # .cdz): the weights are compared without it.
    manifest = json.loads(subprocess.run(
        [cdz, "inspect", "--output", "json",
         os.path.join(outs["onnx"], "model.cdz")], check=True,
        capture_output=True, text=True).stdout)["manifest"]
    graph = len(manifest["onnx_model"])
    assert 0 < graph < 16384, graph
    totals = report["totals"]
    weights_ratio = totals["original_bytes"] / (totals["compressed_bytes"] -
                                                graph)
    print(f"{name}: ratio onnx {ratio:.2f}x ({weights_ratio:.2f}x without "
          f"its {graph}-byte graph), torchscript {pt_ratio:.2f}x; "
          f"output error onnx {err_onnx:.4f}, torchscript {err_pt:.4f}")
    # The same weights quantized the same way, but the ONNX export folded
    # batch norms into convolutions: allow the path a margin, and some
    # error at all (the weights did change).
    assert 0 < err_onnx <= max(1.5 * err_pt, 0.02), (err_onnx, err_pt)
    # Small test models carry a codebook per tensor, so the ratio is judged
    # against the TorchScript path's on the same weights.
    assert ratio > 2 and weights_ratio >= 0.95 * pt_ratio, (ratio, pt_ratio)


def check_external_data(workdir, worker, cdz):
    """A model saved with external data (as models over 2 GiB must be) comes
    back the same way, with the same weights as from the inline file."""
    base = os.path.join(workdir, "gpt")
    ext_dir = os.path.join(workdir, "external")
    os.makedirs(ext_dir, exist_ok=True)
    ext = os.path.join(ext_dir, "gpt.onnx")
    onnx.save_model(onnx.load(base + ".onnx"), ext, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="gpt.weights",
                    size_threshold=0)
    out = os.path.join(workdir, "gpt-external")
    run([worker, "run", "--model", ext, "--preset", "quantize", "--out", out,
         "--quiet"])
    compressed = os.path.join(out, "model.onnx")
    assert os.path.getsize(compressed) < 100_000, "weights stayed inline"
    assert os.path.exists(compressed + ".data")
    onnx.checker.check_model(compressed)
    inline = os.path.join(workdir, "gpt-onnx", "model.onnx")
    err = rel(ort_output(inline, base), ort_output(compressed, base))
    print(f"gpt with external data: output differs from inline by {err:.2e}")
    assert err < 1e-6, err
    rebuilt = os.path.join(workdir, "gpt-external-rebuilt.onnx")
    run([cdz, "decompress", os.path.join(out, "model.cdz"), "-o", rebuilt])
    same_model(compressed, rebuilt)


def test(workdir, worker, cdz):
    run([sys.executable, os.path.join(HERE, "make_onnx_models.py"), workdir]
        + MODELS)
    for name in MODELS:
        check(workdir, worker, cdz, name)
    check_external_data(workdir, worker, cdz)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", required=True)
    p.add_argument("--cdz", required=True)
    p.add_argument("--workdir")
    a = p.parse_args()
    if a.workdir:
        test(a.workdir, a.worker, a.cdz)
    else:
        with tempfile.TemporaryDirectory(prefix="condense-onnx-") as workdir:
            test(workdir, a.worker, a.cdz)
    print("ok")

if __name__ == "__main__":
    main()
