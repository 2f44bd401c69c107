"""Writes tensors (torch or numpy) as a safetensors file, so datasets held
in memory can be uploaded without the safetensors package."""

import json
import struct

import numpy as np

# numpy dtype -> safetensors dtype name.
_DTYPES = {
    np.dtype("float64"): "F64", np.dtype("float32"): "F32",
    np.dtype("float16"): "F16", np.dtype("int64"): "I64",
    np.dtype("int32"): "I32", np.dtype("int16"): "I16",
    np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL",
}


def _as_numpy(name, value):
    if hasattr(value, "detach"):  # A torch.Tensor; torch stays optional.
        value = value.detach().cpu().contiguous().numpy()
    array = np.ascontiguousarray(value)
    if array.dtype not in _DTYPES:
        raise TypeError(
            f"tensor {name!r} has dtype {array.dtype}, which safetensors "
            f"cannot hold here; convert it to one of "
            f"{sorted(str(d) for d in _DTYPES)}")
    # safetensors is little-endian.
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def write(path, tensors):
    """Writes {name: tensor} to `path` in the safetensors format."""
    arrays = {name: _as_numpy(name, t) for name, t in tensors.items()}
    header, offset = {}, 0
    for name, array in arrays.items():
        header[name] = {"dtype": _DTYPES[array.dtype.newbyteorder("=")],
                        "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # Keeps the data 8-byte aligned.
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for array in arrays.values():
            f.write(array.tobytes())
