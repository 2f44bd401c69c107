"""condense.load_cdz / load_into / CdzFile (the Python SDK over libcdz)
against files packed by the C++ `cdz` tool: every dtype back in its own
dtype bit for bit, numpy and torch, conversions, threads, and damaged or
missing files as CdzError naming the tensor. No server involved."""
import json
import os
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

BUILD = os.environ.get("CONDENSE_BUILD_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "release"))
sys.path.insert(0, os.path.join(BUILD, "python"))
import condense  # noqa: E402

CDZ = os.path.join(BUILD, "codec", "cdz")


def write_safetensors(path, tensors):
    """{name: (dtype name, shape, little-endian bytes)}."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def bf16_bits(values):
    """float32 -> bfloat16 bit patterns (these values are exact in bf16)."""
    return (np.asarray(values, np.float32).view(np.uint32) >> 16).astype("<u2")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    rng = np.random.default_rng(3)
    codebook = np.array([-0.5, -0.125, 0.25, 0.75], np.float32)
    fc = codebook[rng.integers(0, 4, (64, 100))] * (rng.random((64, 100)) < 0.2)
    conv16 = (codebook[rng.integers(0, 4, (8, 3, 3, 3))] *
              (rng.random((8, 3, 3, 3)) < 0.5)).astype(np.float16)
    emb_bf16 = bf16_bits(codebook[rng.integers(0, 4, (50, 16))])
    bias_bf16 = bf16_bits(rng.standard_normal(64).astype(np.float32))
    tensors = {
        "fc.weight": ("F32", fc.shape, fc.astype("<f4").tobytes()),
        "conv.weight": ("F16", conv16.shape, conv16.astype("<f2").tobytes()),
        "emb.weight": ("BF16", (50, 16), emb_bf16.tobytes()),
        "fc.bias": ("BF16", (64,), bias_bf16.tobytes()),
        "steps": ("I64", (), np.array(7, "<i8").tobytes()),
        "mask": ("BOOL", (5,), bytes([1, 0, 1, 1, 0])),
        "empty": ("F32", (0, 3), b""),
    }
    d = tmp_path_factory.mktemp("cdz")
    st = str(d / "model.safetensors")
    write_safetensors(st, tensors)
    cdz = str(d / "model.cdz")
    subprocess.run([CDZ, "pack", st, "-o", cdz, "--manifest", "producer=test"],
                   check=True, capture_output=True)
    expected = {"fc.weight": fc.astype(np.float32), "conv.weight": conv16,
                "emb.weight": emb_bf16, "fc.bias": bias_bf16,
                "steps": np.array(7, np.int64),
                "mask": np.array([1, 0, 1, 1, 0], bool),
                "empty": np.zeros((0, 3), np.float32)}
    return cdz, expected


def as_bits(t):
    """A torch tensor's raw bits as numpy (bfloat16 has no numpy dtype)."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view("<u2")
    return t.numpy()


def test_every_dtype_comes_back_in_its_own_dtype_bit_for_bit(packed):
    path, expected = packed
    tensors = condense.load_cdz(path)
    assert list(tensors) == list(expected)  # File order.
    dtypes = {"fc.weight": torch.float32, "conv.weight": torch.float16,
              "emb.weight": torch.bfloat16, "fc.bias": torch.bfloat16,
              "steps": torch.int64, "mask": torch.bool, "empty": torch.float32}
    for name, t in tensors.items():
        assert isinstance(t, torch.Tensor) and t.dtype == dtypes[name], name
        assert tuple(t.shape) == expected[name].shape, name
        np.testing.assert_array_equal(as_bits(t), expected[name], err_msg=name)


def test_numpy_without_torch_and_conversions(packed):
    path, expected = packed
    arrays = condense.load_cdz(path, framework="numpy")
    assert arrays["conv.weight"].dtype == np.float16
    # numpy has no bfloat16: float32, exactly the bf16 values.
    assert arrays["emb.weight"].dtype == np.float32
    np.testing.assert_array_equal(
        arrays["emb.weight"].view(np.uint32) >> 16, expected["emb.weight"])
    assert arrays["mask"].dtype == np.bool_
    as_f64 = condense.load_cdz(path, framework="numpy", dtype="float64")
    assert as_f64["fc.weight"].dtype == np.float64
    assert as_f64["steps"].dtype == np.int64  # Only floating ones convert.
    np.testing.assert_array_equal(as_f64["fc.weight"], expected["fc.weight"])
    with condense.CdzFile(path) as f:
        h = f.read("fc.weight", dtype=torch.bfloat16)
        assert h.dtype == torch.bfloat16
        assert torch.equal(h.float(), torch.from_numpy(expected["fc.weight"]))
        with pytest.raises(ValueError, match="steps.*I64"):
            f.read("steps", dtype="float32")
        with pytest.raises(ValueError, match="float32"):
            f.read("fc.weight", dtype="int8")


def test_file_infos_and_manifest(packed):
    path, _ = packed
    with condense.CdzFile(path) as f:
        assert f.format_version[0] == 1
        assert f.manifest["producer"] == "test"
        info = f.info("fc.weight")
        assert (info.dtype, info.shape, info.numel) == ("F32", (64, 100), 6400)
        assert info.encoding in ("sparse_quantized", "context_coded",
                                 "fixed_width")
        assert f.info("fc.bias").encoding == "raw"
        assert info.stored_bytes < 6400
        with pytest.raises(KeyError, match="nope"):
            f.info("nope")
    with pytest.raises(condense.CdzError, match="closed"):
        f.read("fc.weight")


def test_threads_share_one_file(packed):
    path, expected = packed
    errors = []
    with condense.CdzFile(path) as f:
        def work():
            try:
                for _ in range(20):
                    assert np.array_equal(f.read("fc.weight").numpy(),
                                          expected["fc.weight"])
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors


def test_damaged_and_missing_files_are_errors_naming_what(packed, tmp_path):
    path, _ = packed
    with pytest.raises(condense.CdzError) as e:
        condense.load_cdz(str(tmp_path / "absent.cdz"))
    assert e.value.code == "not found" and "absent.cdz" in str(e.value)
    data = bytearray(open(path, "rb").read())
    at = data.index(b"fc.weight") + 40  # Inside its section's body.
    data[at] ^= 0x40
    bad = tmp_path / "bad.cdz"
    bad.write_bytes(bytes(data))
    with pytest.raises(condense.CdzError) as e:
        condense.load_cdz(str(bad))
    assert e.value.code == "data loss" and "fc.weight" in str(e.value)
    (tmp_path / "short.cdz").write_bytes(bytes(data[:100]))
    with pytest.raises(condense.CdzError) as e:
        condense.load_cdz(str(tmp_path / "short.cdz"))
    assert e.value.code == "data loss"


def test_load_into_fills_a_module_and_ties(tmp_path):
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.out = torch.nn.Linear(4, 10, bias=False)
            self.out.weight = self.emb.weight  # Tied: one tensor, two names.
            self.register_buffer("scale", torch.tensor([2.0]))

    src = Tied()
    with torch.no_grad():
        src.emb.weight.copy_(torch.tensor([-1.0, 0.5])[
            torch.randint(0, 2, (10, 4))])
    st = tmp_path / "tied.safetensors"
    w = src.emb.weight.detach().numpy().astype("<f4")
    write_safetensors(str(st), {"emb.weight": ("F32", w.shape, w.tobytes()),
                                "scale": ("F32", (1,), np.float32(3).tobytes())})
    cdz = str(tmp_path / "tied.cdz")
    subprocess.run([CDZ, "pack", str(st), "-o", cdz], check=True,
                   capture_output=True)
    dst = Tied()
    condense.load_into(dst, cdz)
    assert torch.equal(dst.emb.weight, src.emb.weight)
    assert dst.out.weight is dst.emb.weight
    assert dst.scale.item() == 3.0
    with pytest.raises(RuntimeError, match="Unexpected key"):
        condense.load_into(torch.nn.Linear(4, 10), cdz)


def test_large_tensors_decode_the_same_on_any_threads(tmp_path):
    # Past 2^23 elements a context-coded tensor is stored in segments that
    # decode side by side; whole columns pruned make the context coder win.
    rng = np.random.default_rng(5)
    codebook = np.array([-0.5, -0.125, 0.25, 0.75], np.float32)
    rows, cols = 2048, 4100
    keep = (rng.random(cols) < 0.5) & (rng.random((rows, cols)) < 0.3)
    big = codebook[rng.integers(0, 4, (rows, cols))] * keep
    st = str(tmp_path / "big.safetensors")
    write_safetensors(st, {"big.weight": ("F32", big.shape,
                                          big.astype("<f4").tobytes())})
    cdz = str(tmp_path / "big.cdz")
    subprocess.run([CDZ, "pack", st, "-o", cdz], check=True,
                   capture_output=True)
    with condense.CdzFile(cdz) as f:
        assert f.tensors[0].encoding == "context_coded"
    for threads in (1, 2, None):
        got = condense.load_cdz(cdz, framework="numpy", threads=threads)
        assert np.array_equal(got["big.weight"], big.astype(np.float32))
