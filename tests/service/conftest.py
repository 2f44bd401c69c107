"""Fixtures for the service integration tests: the real condense-server,
condense-worker processes and the condense CLI on 127.0.0.1 with ephemeral
ports and temporary data directories, plus Python gRPC stubs generated from
proto/ for calls the CLI does not make (bad inputs).

The build directory comes from $CONDENSE_BUILD_DIR (set by ctest)."""

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CONDENSE_BUILD_DIR", os.path.join(ROOT, "build", "release"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import harness  # noqa: E402
FMNIST = "/usr/share/datasets/fashion-mnist"
BINS = harness.Binaries.of_build(BUILD)
free_port = harness.free_port
wait_for = harness.wait_for


class Server(harness.Server):
    """The build's condense-server (tests/harness.py)."""

    def __init__(self, workdir, **kwargs):
        super().__init__(BINS, workdir, **kwargs)


class Worker(harness.Worker):
    """The build's condense-worker in serving mode (tests/harness.py)."""

    def __init__(self, workdir, server, name, token=None):
        super().__init__(BINS, workdir, server, name, token)


class Cli(harness.Cli):
    """The build's condense CLI (tests/harness.py)."""

    def __init__(self, server, token=None):
        super().__init__(BINS, server, token)


@pytest.fixture(scope="session")
def stubs():
    """The Python SDK as the build assembled it (build/<preset>/python), with
    the condense.v1 and condense.internal.v1 modules generated from proto/."""
    path = os.path.join(BUILD, "python")
    assert os.path.exists(os.path.join(path, "condense", "v1", "jobs_pb2.py")), \
        f"no Python SDK under {path}: build the python_sdk target"
    if path not in sys.path:
        sys.path.insert(0, path)
    return path


def write_idx(path, array, magic_type=0x08):
    dims = array.shape
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, magic_type, len(dims)))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(array.tobytes())


@pytest.fixture(scope="session")
def assets():
    """A tiny TorchScript MLP (784-64-10) and a Fashion-MNIST subset in MNIST
    layout (2,000 training and 500 test images)."""
    import numpy as np
    root = tempfile.mkdtemp(prefix="condense-assets-")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "models",
                                                 "make_test_models.py"),
                    os.path.join(root, "models")], check=True,
                   capture_output=True)
    data = os.path.join(root, "fmnist")
    os.makedirs(data)
    for split, n in (("train", 2000), ("t10k", 500)):
        for kind, header in (("images-idx3-ubyte", 16), ("labels-idx1-ubyte", 8)):
            raw = gzip.open(os.path.join(FMNIST, f"{split}-{kind}.gz")).read()
            dims = [struct.unpack(">I", raw[4 + 4 * i:8 + 4 * i])[0]
                    for i in range(raw[3])]
            per = int(np.prod(dims[1:])) if len(dims) > 1 else 1
            arr = np.frombuffer(raw[header:header + n * per], dtype=np.uint8)
            write_idx(os.path.join(data, f"{split}-{kind}.gz"),
                      arr.reshape([n] + dims[1:]))
    yield {"mlp": os.path.join(root, "models", "tiny_mlp.pt"),
           "cnn": os.path.join(root, "models", "tiny_cnn.pt"),
           "data": data, "root": root}
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def server_factory(workdir):
    servers = []

    def make(**kwargs):
        s = Server(workdir, **kwargs)
        servers.append(s)
        return s.start()
    yield make
    for s in servers:
        s.stop(timeout=30)


# Fast settings for CI: a short deep-compression run on the subset.
FAST = ["--preset", "deep-compression",
        "--set", "stages[0].prune.epochs_per_step=1",
        "--set", "stages[1].quantize.epochs=1", "--set", "seed=1"]
