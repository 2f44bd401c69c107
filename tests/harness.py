"""The real condense processes on 127.0.0.1 for tests and benchmarks: a
server (restartable on its port and data), serving workers outside the
server's supervision, and the CLI. One harness for tests/service (through
its conftest fixtures) and bench/service_bench.py. Needs only the Python
standard library."""
import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request


@dataclasses.dataclass(frozen=True)
class Binaries:
    server: str
    worker: str
    cli: str

    @staticmethod
    def of_build(build_dir):
        """The binaries where a CMake build leaves them."""
        return Binaries(os.path.join(build_dir, "server", "condense-server"),
                        os.path.join(build_dir, "worker", "condense-worker"),
                        os.path.join(build_dir, "client", "condense"))

    @staticmethod
    def of_dir(directory):
        """The binaries side by side (an install's bin/)."""
        return Binaries(os.path.join(directory, "condense-server"),
                        os.path.join(directory, "condense-worker"),
                        os.path.join(directory, "condense"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, period=0.1):
    """The first truthy value of predicate(), polled every `period` seconds;
    AssertionError after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Server:
    """One condense-server process; restartable on the same port and data."""

    def __init__(self, bins, workdir, local_workers=0, token_file=None,
                 extra=(), worker_threads=1):
        self.bins = bins
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.port = free_port()
        self.local_workers = local_workers
        self.token_file = token_file
        self.extra = list(extra)
        self.worker_threads = worker_threads
        self.proc = None
        self.metrics_port = None
        self.log_path = os.path.join(workdir, "server.log")

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        port_file = os.path.join(self.workdir, "ports.json")
        if os.path.exists(port_file):
            os.remove(port_file)
        args = [self.bins.server, "--data-dir", self.data_dir,
                "--listen", self.addr, "--metrics-listen", "127.0.0.1:0",
                "--port-file", port_file,
                "--local-workers", str(self.local_workers),
                "--worker-binary", self.bins.worker,
                "--worker-threads", str(self.worker_threads),
                "--shutdown-grace", "10"] + self.extra
        if self.token_file:
            args += ["--token-file", self.token_file]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        ports = wait_for(lambda: os.path.exists(port_file) and
                         os.path.getsize(port_file) > 0 and
                         json.load(open(port_file)), 20,
                         "the server's port file")
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
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics",
                timeout=10) as r:
            return r.read().decode()

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


class Worker:
    """A condense-worker in serving mode, outside the server's supervision."""

    def __init__(self, bins, workdir, server, name, token=None):
        self.log_path = os.path.join(workdir, f"{name}.log")
        env = dict(os.environ)
        if token:
            env["CONDENSE_TOKEN"] = token
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [bins.worker, "--server", server.addr, "--threads", "1",
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
    """The condense CLI against one server."""

    def __init__(self, bins, server, token=None):
        self.bins = bins
        self.server = server
        self.token = token

    def run(self, *args, check=True, timeout=300):
        env = dict(os.environ)
        env["CONDENSE_ADDR"] = self.server.addr
        env.pop("CONDENSE_TOKEN", None)
        if self.token:
            env["CONDENSE_TOKEN"] = self.token
        proc = subprocess.run([self.bins.cli] + [str(a) for a in args],
                              env=env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"condense {' '.join(map(str, args))} exited "
                f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args, timeout=300):
        return json.loads(self.run(*args, "--output", "json",
                                   timeout=timeout).stdout)

    def events(self, job, timeout=120):
        """The job's events as `condense watch --output json` prints them
        (exit 3/4, a FAILED/CANCELLED job, still prints them)."""
        out = self.run("watch", job, "--output", "json", timeout=timeout,
                       check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]
