"""Which tensors condense compresses is decided by what they are: runs the
worker data-free over the layer zoo and checks every tensor's fate, the
report's reasons, and that model.pt keeps the original's names and shapes
and computes nearly the same outputs."""
import json
import os
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
import layer_zoo  # noqa: E402

WORKER = os.environ.get("CONDENSE_WORKER", "")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    if not WORKER:
        pytest.fail("CONDENSE_WORKER is not set: run this through ctest")
    d = tmp_path_factory.mktemp("zoo")
    model, inputs = layer_zoo.make()
    model.save(str(d / "zoo.pt"))
    out = d / "out"
    subprocess.run([WORKER, "run", "--model", str(d / "zoo.pt"), "--preset",
                    "quantize", "--set", "fc.bits=8", "--out", str(out),
                    "--quiet"], check=True)
    report = json.loads((out / "report.json").read_text())
    return model, inputs, out, report


def test_every_weight_matrix_compressed_the_rest_raw(zoo):
    _, _, _, report = zoo
    tensors = {t["name"]: t for t in report["tensors"]}
    assert set(tensors) == set(layer_zoo.EXPECTED)
    for name, compressed in layer_zoo.EXPECTED.items():
        t = tensors[name]
        assert t["compressed"] == compressed, (name, t)
        if compressed:
            assert t["encoding"] in ("sparse_quantized", "context_coded",
                                     "fixed_width"), (name, t)
        else:
            assert t.get("raw_reason"), (name, t)
    assert tensors["lstm.weight_hh_l0"]["role"] == "recurrent gate matrix"
    assert tensors["attn.in_proj_weight"]["role"] == "attention projection"
    assert tensors["embed.weight"]["role"] == "embedding table"
    assert tensors["deconv.weight"]["role"] == "transposed convolution weight"
    assert tensors["bn.running_mean"]["role"] == "buffer"
    assert tensors["pos"]["role"] == "free parameter"
    assert report["streamed"] is True


def test_model_pt_keeps_names_shapes_and_outputs(zoo):
    model, inputs, out, _ = zoo
    compressed = torch.jit.load(str(out / "model.pt"))
    want = {n: p.shape for n, p in model.named_parameters()}
    got = {n: p.shape for n, p in compressed.named_parameters()}
    assert got == want
    # Still tied.
    assert compressed.head.weight.data_ptr() == compressed.embed.weight.data_ptr()
    with torch.no_grad():
        a = model(*inputs)
        b = compressed(*inputs)
    rel = ((a - b).norm() / a.norm()).item()
    assert rel < 0.05, rel


def test_a_rule_still_overrides_the_role(zoo, tmp_path):
    model, _, _, _ = zoo
    model.save(str(tmp_path / "zoo.pt"))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"layers": [
        {"pattern": "lstm.*", "settings": {"compress": False}},
        {"pattern": "pos", "settings": {"compress": True}}]}))
    subprocess.run([WORKER, "run", "--model", str(tmp_path / "zoo.pt"),
                    "--preset", "quantize", "--spec", str(spec), "--out",
                    str(tmp_path / "out"), "--quiet"], check=True)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    tensors = {t["name"]: t for t in report["tensors"]}
    assert not tensors["lstm.weight_ih_l0"]["compressed"]
    assert "rule" in tensors["lstm.weight_ih_l0"]["raw_reason"]
    assert tensors["pos"]["compressed"]
