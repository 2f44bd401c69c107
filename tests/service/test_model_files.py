"""Models of several files through the service: a sharded bf16 safetensors
checkpoint (shards and index) and an ONNX model with external data, uploaded
by the CLI and the SDK, compressed data-free by a real worker, and downloaded
in their own layout."""

import json
import os
import struct
import subprocess
import sys

import numpy as np

from conftest import ROOT, Cli

ST_NUMPY = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    """{name: (dtype, shape, float32 values)} of a safetensors file; bf16 is
    widened by hand (numpy has no bf16)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        raw = data[lo:hi]
        if e["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            values = bits.view(np.float32)
        else:
            values = np.frombuffer(raw, dtype=ST_NUMPY[e["dtype"]])
        out[name] = (e["dtype"], e["shape"], values.astype(np.float32))
    return out


def compress_data_free(cli, model):
    """Runs the quantize preset on `model` (its record, as the CLI printed
    it) to the end; returns the job and the names of its artifacts."""
    job = cli.json("submit", "--model", model["name"], "--preset", "quantize",
                   "--set", "seed=1")
    cli.run("watch", job["name"], timeout=300)
    final = cli.json("status", job["name"])
    assert final["state"] == "SUCCEEDED", final
    return job, {a["file_name"] for a in final["result"]["artifacts"]}


def make_checkpoint(directory):
    """A tiny decoder-only transformer in bf16, in 1 MiB shards (several),
    with its index, and a config.json beside it that is not uploaded."""
    subprocess.run([sys.executable,
                    os.path.join(ROOT, "bench", "shards", "make_checkpoint.py"),
                    directory, "--hidden", "256", "--intermediate", "512",
                    "--layers", "2", "--vocab", "1000", "--shard-mib", "1"],
                   check=True, capture_output=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write('{"model_type": "tiny"}')
    index = json.load(open(os.path.join(directory,
                                        "model.safetensors.index.json")))
    return sorted(set(index["weight_map"].values()))


def test_sharded_checkpoint_through_the_cli_and_the_sdk(server_factory,
                                                        workdir, stubs):
    ckpt = os.path.join(workdir, "ckpt")
    shards = make_checkpoint(ckpt)
    assert len(shards) >= 3
    server = server_factory(local_workers=1)
    cli = Cli(server)

    model = cli.json("upload", "model", ckpt)
    assert model["format"] == "SAFETENSORS_SHARDED"
    assert "blob" not in model
    assert sorted(f["path"] for f in model["files"]) == sorted(
        shards + ["model.safetensors.index.json"])
    listed = cli.run("list", "models").stdout
    assert "SAFETENSORS_SHARDED" in listed and "ckpt" in listed

    job, names = compress_data_free(cli, model)
    want_shards = {f"model-shards/{s}" for s in shards}
    assert want_shards | {"model-shards/model.safetensors.index.json",
                          "model.cdz", "report.json"} <= names, names
    assert "model.pt" not in names and "model.safetensors" not in names

    out = os.path.join(workdir, "download")
    cli.run("download", job["name"], "-o", out)
    # The same layout back: the index's weight map, and per shard the same
    # tensors in the same dtype (bf16) and shape, close to the original.
    before = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))
    after = json.load(open(os.path.join(out, "model-shards",
                                        "model.safetensors.index.json")))
    assert after["weight_map"] == before["weight_map"]
    for shard in shards:
        a = read_safetensors(os.path.join(ckpt, shard))
        b = read_safetensors(os.path.join(out, "model-shards", shard))
        assert list(a) == list(b), shard
        for name, (dtype, shape, values) in a.items():
            assert b[name][0] == dtype == "BF16", name
            assert b[name][1] == shape, name
            err = np.linalg.norm(b[name][2] - values) / max(
                np.linalg.norm(values), 1e-12)
            assert err < 0.1, (name, err)
    # The .cdz alone decodes to the same shards, bit for bit.
    cli.run("decompress", os.path.join(out, "model.cdz"), "-o",
            os.path.join(workdir, "decoded"))
    for shard in shards:
        assert open(os.path.join(workdir, "decoded", shard), "rb").read() == \
            open(os.path.join(out, "model-shards", shard), "rb").read(), shard

    # The SDK uploads the same checkpoint (its index) as the same record,
    # and downloads the shards into their directory.
    import condense  # The stubs fixture put the SDK on sys.path.
    with condense.Client(server.addr, timeout=60) as client:
        record = client.upload_model(
            os.path.join(ckpt, "model.safetensors.index.json"), name="by-sdk")
        assert record.format == record.SAFETENSORS_SHARDED
        assert sorted(f.path for f in record.files) == sorted(
            f["path"] for f in model["files"])
        paths = client.job(job["name"]).download(
            os.path.join(workdir, "sdk"), files=[f"model-shards/{shards[0]}"])
    assert open(paths[f"model-shards/{shards[0]}"], "rb").read() == \
        open(os.path.join(out, "model-shards", shards[0]), "rb").read()


def make_onnx_with_external_data(directory):
    """y = relu(x W1) W2 with its weights in weights.bin beside the model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((64, 128)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((128, 10)).astype(np.float32) * 0.1
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "mlp.onnx")
    onnx.save_model(model, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=0)
    return path, {"w1": w1, "w2": w2}


def test_onnx_with_external_data_through_the_cli_and_the_sdk(
        server_factory, workdir, stubs):
    import onnx
    from onnx import numpy_helper
    path, weights = make_onnx_with_external_data(os.path.join(workdir, "m"))
    server = server_factory(local_workers=1)
    cli = Cli(server)

    model = cli.json("upload", "model", path)
    assert model["format"] == "ONNX"
    assert sorted(f["path"] for f in model["files"]) == ["mlp.onnx",
                                                         "weights.bin"]
    job, names = compress_data_free(cli, model)
    assert {"model.cdz", "model.onnx", "model.onnx.data"} <= names, names

    out = os.path.join(workdir, "download")
    cli.run("download", job["name"], "-o", out)
    onnx.checker.check_model(os.path.join(out, "model.onnx"))
    decoded = onnx.load(os.path.join(out, "model.onnx"))
    got = {t.name: numpy_helper.to_array(t) for t in decoded.graph.initializer}
    for name, w in weights.items():
        err = np.linalg.norm(got[name] - w) / np.linalg.norm(w)
        assert got[name].shape == w.shape and err < 0.1, (name, err)

    # The SDK finds the external data with the onnx package.
    import condense  # The stubs fixture put the SDK on sys.path.
    with condense.Client(server.addr, timeout=60) as client:
        record = client.upload_model(path)
    assert sorted(f.path for f in record.files) == ["mlp.onnx", "weights.bin"]
