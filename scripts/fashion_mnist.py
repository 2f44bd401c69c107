"""Fashion-MNIST (or MNIST) from its IDX files: the one reader that the demo,
the examples, the tests and the benchmarks share. Needs only numpy.

    import fashion_mnist  # with scripts/ on sys.path
    images, labels = fashion_mnist.load_split("train", limit=1000)
"""
import gzip
import os
import struct

import numpy as np

# Where Debian's dataset-fashion-mnist package puts the files.
DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    """An IDX file (gzipped or not) as a uint8 array of its stored shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:  # unsigned bytes
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(prefix, data_dir=DATA, limit=None):
    """The images (uint8 [N, 28, 28]) and labels (int64 [N]) of split
    `prefix` ("train" or "t10k"), the first `limit` of them when given."""
    images = load_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = load_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return images[:limit], labels[:limit].astype(np.int64)
