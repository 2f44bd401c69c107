"""Fixtures for the service integration tests: the real condense-server,
condense-worker processes and the condense CLI on 127.0.0.1 with ephemeral
ports and temporary data directories, plus Python gRPC stubs generated from
proto/ for calls the CLI does not make (bad inputs).

The build directory comes from $CONDENSE_BUILD_DIR (set by ctest)."""

import gzip
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CONDENSE_BUILD_DIR", os.path.join(ROOT, "build", "release"))
SERVER_BIN = os.path.join(BUILD, "server", "condense-server")
WORKER_BIN = os.path.join(BUILD, "worker", "condense-worker")
CLI_BIN = os.path.join(BUILD, "client", "condense")
FMNIST = "/usr/share/datasets/fashion-mnist"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Server:
    """One condense-server process; restartable on the same port and data."""

    def __init__(self, workdir, local_workers=0, token_file=None, extra=()):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.port = free_port()
        self.local_workers = local_workers
        self.token_file = token_file
        self.extra = list(extra)
        self.proc = None
        self.metrics_port = None
        self.log_path = os.path.join(workdir, "server.log")

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        port_file = os.path.join(self.workdir, "ports.json")
        if os.path.exists(port_file):
            os.remove(port_file)
        args = [SERVER_BIN, "--data-dir", self.data_dir,
                "--listen", self.addr, "--metrics-listen", "127.0.0.1:0",
                "--port-file", port_file,
                "--local-workers", str(self.local_workers),
                "--worker-binary", WORKER_BIN, "--worker-threads", "1",
                "--shutdown-grace", "10"] + self.extra
        if self.token_file:
            args += ["--token-file", self.token_file]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        ports = wait_for(lambda: os.path.exists(port_file) and
                         json.load(open(port_file)), 20, "the server's port file")
        self.metrics_port = ports["metrics_port"]
        return self

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def metrics(self):
        import urllib.request
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode()

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


class Worker:
    """A condense-worker in serving mode, outside the server's supervision."""

    def __init__(self, workdir, server, name, token=None):
        self.log_path = os.path.join(workdir, f"{name}.log")
        env = dict(os.environ)
        if token:
            env["CONDENSE_TOKEN"] = token
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [WORKER_BIN, "--server", server.addr, "--threads", "1",
             "--cache-dir", os.path.join(workdir, f"{name}-cache"),
             "--name", name],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Cli:
    def __init__(self, server, token=None):
        self.server = server
        self.token = token

    def run(self, *args, check=True, timeout=300):
        env = dict(os.environ)
        env["CONDENSE_ADDR"] = self.server.addr
        env.pop("CONDENSE_TOKEN", None)
        if self.token:
            env["CONDENSE_TOKEN"] = self.token
        proc = subprocess.run([CLI_BIN] + [str(a) for a in args], env=env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"condense {' '.join(map(str, args))} exited {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args):
        return json.loads(self.run(*args, "--output", "json").stdout)


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
FAST = ["--set", "stages[0].prune.epochs_per_step=1",
        "--set", "stages[1].quantize.epochs=1", "--set", "seed=1"]
