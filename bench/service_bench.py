"""Service benchmarks for condense-server on 127.0.0.1, in three phases that
each end by themselves (every wait is bounded):

  transfer  upload (the `condense` CLI) and download (Python gRPC stubs,
            Blobs.Read) of a 256 MiB and a 1 GiB blob through a fresh
            server each, with the server's memory sampled; against iperf3's
            raw TCP over loopback.
  latency   with one local worker idle in Lease: time from CreateJob to the
            job's RUNNING and RUN_STARTED events (server timestamps), 10 jobs.
  load      20 concurrent uploads of distinct 20 MiB files, then 200
            data-free jobs on 4 local workers; every job must SUCCEED with
            its four artifacts; /metrics at the end.
  table     prints the markdown of docs/benchmarks.md's "Service" section
            from the phases' JSON.

  service_bench.py PHASE --bin DIR [--work DIR]

Each phase writes DIR/PHASE.json. Blobs and data directories live in a
temporary directory under /tmp that is removed at the end (at most ~2.3 GB
at once, during the 1 GiB transfer)."""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 1 << 20
sys.path.insert(0, os.path.join(ROOT, "tests"))
import harness  # noqa: E402


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def machine():
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "?")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "loadavg": load, "git": head,
            "uptime": subprocess.run(["uptime"], capture_output=True,
                                     text=True).stdout.strip(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def proc_status(pid, key):
    """A /proc/PID/status field in bytes (VmRSS, VmHWM); None when gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process's VmRSS every `period` seconds on a thread;
    mark(name) starts a new named window, peaks() gives each window's max."""

    def __init__(self, pid, period=0.02):
        self.pid = pid
        self.period = period
        self.window = "start"
        self.peak = {}
        self.samples = 0
        self.series = []  # (seconds, window, rss)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_event.is_set():
            rss = proc_status(self.pid, "VmRSS")
            if rss is not None:
                self.samples += 1
                self.series.append((time.perf_counter(), self.window, rss))
                w = self.window
                self.peak[w] = max(self.peak.get(w, 0), rss)
            time.sleep(self.period)

    def mark(self, name):
        self.window = name

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        return self.peak


def wait_for(predicate, timeout, what, period=0.05):
    return harness.wait_for(predicate, timeout, what, period)


class Server(harness.Server):
    """A started server from the binaries in `bins`, with the metric reader
    the benchmark needs."""

    def __init__(self, bins, workdir, local_workers=0, worker_threads=1):
        super().__init__(harness.Binaries.of_dir(bins), workdir,
                         local_workers=local_workers,
                         worker_threads=worker_threads)
        self.start()

    def metrics_text(self):
        return self.metrics()

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total, found = 0.0, False
        for line in self.metrics_text().splitlines():
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
                found = True
        return total if found else None


class Cli(harness.Cli):
    def __init__(self, bins, server):
        super().__init__(harness.Binaries.of_dir(bins), server)


def write_safetensors(path, size, seed=None):
    """A valid safetensors file of exactly `size` bytes: one U8 tensor of
    random bytes (os.urandom, or a cheap per-file pattern when seeded)."""
    def header_for(n):
        text = json.dumps({"blob": {"dtype": "U8", "shape": [n],
                                    "data_offsets": [0, n]}})
        return text + " " * (-len(text) % 8)
    # The header's length depends on n's digits; pad to a fixed width.
    width = 128
    n = size - 8 - width
    text = header_for(n)
    text += " " * (width - len(text))
    assert len(text) == width
    with open(path, "wb") as f:
        f.write(width.to_bytes(8, "little"))
        f.write(text.encode())
        left = n
        block = os.urandom(16 * MiB) if seed is not None else None
        while left > 0:
            k = min(left, 16 * MiB)
            if seed is None:
                f.write(os.urandom(k))
            else:
                # Distinct per file: a seed-dependent prefix on each block.
                f.write((seed.to_bytes(8, "little") + block[8:])[:k])
            left -= k


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(4 * MiB)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def stubs(work):
    """condense.v1 Python modules generated with Debian's protoc and gRPC
    plugin (as tests/service/conftest.py does)."""
    out = os.path.join(work, "stubs")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    protos = []
    for root, _, files in os.walk(os.path.join(ROOT, "proto")):
        protos += [os.path.join(root, f) for f in files if f.endswith(".proto")]
    subprocess.run(["protoc", f"-I{os.path.join(ROOT, 'proto')}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
                   + protos, check=True)
    sys.path.insert(0, out)


def iperf3(file_path, size):
    """Raw TCP over loopback: MB/s for `size` bytes from memory (-n) and for
    the same file (-F), one stream each."""
    result = {}
    for mode in ("memory", "file"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port),
                                   "-B", "127.0.0.1"],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-J"]
            args += ["-n", str(size)] if mode == "memory" else ["-F", file_path]
            out = subprocess.run(args, capture_output=True, text=True,
                                 timeout=120, check=True).stdout
            received = json.loads(out)["end"]["sum_received"]
            result[mode] = received["bits_per_second"] / 8 / 1e6
        finally:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return result


def transfer_rep(bins, tmp, path, size, digest):
    """One upload (CLI) and one download (Python stubs) through a fresh
    server with an empty data directory, its memory sampled throughout."""
    import grpc
    from condense.v1 import blobs_pb2, blobs_pb2_grpc

    workdir = tempfile.mkdtemp(prefix="server-", dir=tmp)
    server = Server(bins, workdir)
    row = {}
    try:
        cli = Cli(bins, server)
        time.sleep(0.5)
        row["rss_idle"] = proc_status(server.pid, "VmRSS")
        row["hwm_idle"] = proc_status(server.pid, "VmHWM")
        sampler = RssSampler(server.pid)
        sampler.mark("upload")
        cpu0 = cpu_seconds(server.pid)
        t = time.perf_counter()
        proc = cli.run("upload", "model", path, "--format", "safetensors",
                       "--output", "json", timeout=300)
        row["upload_seconds"] = time.perf_counter() - t
        row["upload_server_cpu"] = cpu_seconds(server.pid) - cpu0
        row["upload_cli_line"] = proc.stderr.strip().splitlines()[-1]
        row["model"] = json.loads(proc.stdout)["name"]
        row["hwm_after_upload"] = proc_status(server.pid, "VmHWM")
        row["write_seconds"] = server.metric(
            "grpc_server_handling_seconds_sum", grpc_method="Write")
        row["create_model_seconds"] = server.metric(
            "grpc_server_handling_seconds_sum", grpc_method="CreateModel")

        sampler.mark("download")
        channel = grpc.insecure_channel(server.addr, options=[
            ("grpc.max_receive_message_length", 64 * MiB)])
        blobs = blobs_pb2_grpc.BlobsStub(channel)
        cpu0 = cpu_seconds(server.pid)
        client0 = time.process_time()
        t = time.perf_counter()
        got = 0
        for response in blobs.Read(blobs_pb2.ReadRequest(
                resource_name=f"blobs/{digest}/{size}"), timeout=300):
            got += len(response.data)
        row["download_seconds"] = time.perf_counter() - t
        row["download_server_cpu"] = cpu_seconds(server.pid) - cpu0
        row["download_client_cpu"] = time.process_time() - client0
        channel.close()
        if got != size:
            raise RuntimeError(f"downloaded {got} bytes of {size}")
        row["read_seconds"] = server.metric(
            "grpc_server_handling_seconds_sum", grpc_method="Read")
        sampler.mark("after")
        time.sleep(0.2)
        peaks = sampler.stop()
        row["rss_peak_upload"] = peaks.get("upload")
        row["rss_peak_download"] = peaks.get("download")
        row["rss_samples"] = sampler.samples
        # Peak RSS in each half of the upload: bytes held per byte received
        # would make the second half's peak grow with the blob.
        up = [(t, rss) for t, w, rss in sampler.series if w == "upload"]
        if up:
            mid = (up[0][0] + up[-1][0]) / 2
            row["rss_peak_upload_halves"] = [
                max(r for t, r in up if t <= mid),
                max((r for t, r in up if t > mid), default=0)]
        row["hwm_end"] = proc_status(server.pid, "VmHWM")
        row["blob_received_bytes"] = server.metric(
            "condense_blob_received_bytes_total")
        row["blob_sent_bytes"] = server.metric("condense_blob_sent_bytes_total")
        log(f"{size / MiB:.0f} MiB: upload {row['upload_seconds']:.2f}s "
            f"(Write {row['write_seconds']:.2f}s, CreateModel "
            f"{row['create_model_seconds']:.2f}s), download "
            f"{row['download_seconds']:.2f}s, HWM {row['hwm_end'] / MiB:.0f} MiB")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return row


def transfer_size(args, tmp, size):
    path = os.path.join(tmp, f"blob-{size}.safetensors")
    log(f"writing a {size / MiB:.0f} MiB file")
    write_safetensors(path, size)
    t, c = time.perf_counter(), time.process_time()
    digest = sha256_file(path)
    sha_seconds = time.perf_counter() - t
    sha_cpu = time.process_time() - c
    # What the disk takes: the same bytes written and fsynced once, as the
    # blob store does (the source is in the page cache).
    copy = path + ".copy"
    t = time.perf_counter()
    subprocess.run(["dd", f"if={path}", f"of={copy}", "bs=4M", "conv=fsync",
                    "status=none"], check=True, timeout=300)
    dd_seconds = time.perf_counter() - t
    os.remove(copy)
    result = {"bytes": size, "sha256_seconds": sha_seconds,
              "sha256_cpu_seconds": sha_cpu,
              "dd_fsync_seconds": dd_seconds,
              "reps": [transfer_rep(args.bin, tmp, path, size, digest)
                       for _ in range(args.transfer_repeats)]}
    if size == max(SIZES):
        result["iperf3"] = [iperf3(path, size)
                            for _ in range(args.transfer_repeats)]
    os.remove(path)
    return result


SIZES = (256 * MiB, 1024 * MiB)


def phase_transfer(args, tmp):
    stubs(tmp)
    return {"sizes": [transfer_size(args, tmp, s) for s in SIZES]}


def tiny_model(work):
    models = os.path.join(work, "models")
    mlp = os.path.join(models, "tiny_mlp.pt")
    if not os.path.exists(mlp):
        log("making tests' tiny models")
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "models",
                                                     "make_test_models.py"),
                        models], check=True, capture_output=True, timeout=300)
    return mlp


def timings(job, events, submit_wall):
    """ms from the job's create time to its events (server clocks)."""
    created = int(job["create_time_unix_ms"])

    def at(kind, state=None):
        for e in events:
            if e["kind"] == kind and (state is None or e["state"] == state):
                return int(e["time_unix_ms"]) - created
        return None
    return {"job": job["name"], "submit_cli_seconds": submit_wall,
            "to_running_ms": at("STATE_CHANGED", "RUNNING"),
            "to_run_started_ms": at("RUN_STARTED"),
            "to_succeeded_ms": at("STATE_CHANGED", "SUCCEEDED"),
            "final": events[-1].get("state") if events else None}


def phase_latency(args, tmp):
    mlp = tiny_model(args.work)
    server = Server(args.bin, tmp, local_workers=1)
    try:
        cli = Cli(args.bin, server)
        model = cli.run("upload", "model", mlp).stdout.strip()
        wait_for(lambda: server.metric("condense_workers_connected") == 1, 60,
                 "the local worker")
        # A first job warms the worker (its LibTorch, its blob cache).
        t = time.perf_counter()
        job = cli.json("submit", "--model", model, "--preset", "quantize")
        first = timings(job, cli.events(job["name"]), time.perf_counter() - t)
        log("first", first)
        runs = []
        for _ in range(args.repeats):
            # The worker is back in its Lease long-poll once no lease is
            # active; give it a moment so the next CreateJob finds it waiting.
            wait_for(lambda: server.metric("condense_leases_active") == 0, 30,
                     "the worker to finish")
            time.sleep(0.5)
            t = time.perf_counter()
            job = cli.json("submit", "--model", model, "--preset", "quantize")
            submit_wall = time.perf_counter() - t
            runs.append(timings(job, cli.events(job["name"]), submit_wall))
            log(runs[-1])
        return {"runs": runs, "first": first,
                "queue_wait_sum": server.metric("condense_job_queue_wait_seconds_sum"),
                "queue_wait_count": server.metric("condense_job_queue_wait_seconds_count")}
    finally:
        server.stop()


def phase_load(args, tmp):
    mlp = tiny_model(args.work)
    server = Server(args.bin, os.path.join(tmp), local_workers=4,
                    worker_threads=1)
    result = {}
    try:
        cli = Cli(args.bin, server)
        wait_for(lambda: server.metric("condense_workers_connected") == 4, 60,
                 "4 local workers")
        # 20 concurrent uploads of distinct files.
        files = []
        for i in range(20):
            p = os.path.join(tmp, f"up-{i:02d}.safetensors")
            write_safetensors(p, 20 * MiB, seed=i + 1)
            files.append(p)
        digests = {sha256_file(p) for p in files}
        if len(digests) != 20:
            raise RuntimeError("the 20 upload files are not distinct")
        t = time.perf_counter()
        procs = [subprocess.Popen([cli.bin, "upload", "model", p, "--format",
                                   "safetensors"], env=cli.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for p in files]
        outs = [p.communicate(timeout=300) for p in procs]
        up_wall = time.perf_counter() - t
        codes = [p.returncode for p in procs]
        names = {o[0].strip() for o in outs}
        listed = cli.json("list", "models", "--limit", "0")["models"]
        result["uploads"] = {
            "count": len(files), "bytes_each": 20 * MiB, "wall_seconds": up_wall,
            "exit_codes_nonzero": sum(1 for c in codes if c != 0),
            "errors": [o[1].strip() for o, c in zip(outs, codes) if c != 0][:3],
            "distinct_models": len(names),
            "models_listed": len(listed),
            "blob_received_bytes": server.metric("condense_blob_received_bytes_total"),
            "hwm": proc_status(server.pid, "VmHWM"),
        }
        log(result["uploads"])
        for p in files:
            os.remove(p)

        # 200 queued data-free jobs on 4 workers.
        model = cli.run("upload", "model", mlp).stdout.strip()
        n = args.jobs
        t0 = time.perf_counter()
        t0_ms = int(time.time() * 1000)

        def submit(i):
            return cli.run("submit", "--model", model, "--preset", "quantize",
                           "--label", f"bench={i}").stdout.strip()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            jobs = list(pool.map(submit, range(n)))
        submit_wall = time.perf_counter() - t0
        log(f"submitted {n} jobs in {submit_wall:.1f}s")

        def all_done():
            listing = cli.json("list", "jobs", "--limit", "0")["jobs"]
            mine = [j for j in listing if j["name"] in set(jobs)]
            done = [j for j in mine if j["state"] in ("SUCCEEDED", "FAILED",
                                                      "CANCELLED")]
            return mine if len(done) == n else None
        final = wait_for(all_done, args.jobs_timeout, f"{n} jobs to finish",
                         period=1.0)
        wall = time.perf_counter() - t0
        states = {}
        for j in final:
            states[j["state"]] = states.get(j["state"], 0) + 1
        full = [j for j in final if sorted(a["file_name"] for a in
                                           j.get("result", {}).get("artifacts", []))
                == ["model.cdz", "model.pt", "model.safetensors", "report.json"]]
        first_create = min(int(j["create_time_unix_ms"]) for j in final)
        last_end = max(int(j["end_time_unix_ms"]) for j in final)
        waits = sorted(int(j["start_time_unix_ms"]) - int(j["create_time_unix_ms"])
                       for j in final)
        runs = sorted(int(j["end_time_unix_ms"]) - int(j["start_time_unix_ms"])
                      for j in final)
        failed = []
        for j in final:
            if j["state"] != "SUCCEEDED":
                events = cli.events(j["name"])
                failed.append({"job": j["name"], "state": j["state"],
                               "attempts": j["attempts"], "error": j.get("error"),
                               "worker": j.get("worker"),
                               "events": [{k: e[k] for k in ("sequence", "kind",
                                                             "state", "message")}
                                          for e in events]})
        metrics = server.metrics_text()
        keep = [line for line in metrics.splitlines()
                if re.match(r"^condense_(jobs|jobs_finished_total|jobs_created_total|"
                            r"jobs_requeued_total|leases_granted_total|"
                            r"leases_expired_total|local_worker_restarts_total|"
                            r"queue_depth|workers_connected|leases_active)[{ ]", line)]
        result["jobs"] = {
            "count": n, "distinct_names": len(set(jobs)), "listed": len(final),
            "states": states, "with_4_artifacts": len(full),
            "attempts_over_1": sum(1 for j in final if j["attempts"] > 1),
            "submit_seconds": submit_wall, "wall_seconds": wall,
            "server_span_seconds": (last_end - first_create) / 1000,
            "client_start_to_first_create_ms": first_create - t0_ms,
            "queue_wait_ms": {"min": waits[0], "median": statistics.median(waits),
                              "max": waits[-1]},
            "run_ms": {"min": runs[0], "median": statistics.median(runs),
                       "max": runs[-1]},
            "metrics": keep,
            "failed": failed,
            "hwm": proc_status(server.pid, "VmHWM"),
        }
        log({k: v for k, v in result["jobs"].items() if k != "metrics"})
        return result
    finally:
        server.stop()
        shutil.copy(server.log_path, os.path.join(args.work, "load-server.log"))


def fmt_mib(b):
    return f"{b / MiB:,.0f}" if b is not None else "-"


def phase_table(args):
    def load(name):
        path = os.path.join(args.work, f"{name}.json")
        return json.load(open(path)) if os.path.exists(path) else None
    out = []
    tr, la, lo = load("transfer"), load("latency"), load("load")
    for name, r in (("transfer", tr), ("latency", la), ("load", lo)):
        if r:
            m = r["machine"]
            out.append(f"- {name}: {m['time']}, nproc {m['nproc']}, load average "
                       f"{' '.join(m['loadavg'])} at the start, "
                       f"{' '.join(m.get('loadavg_end', []))} at the end "
                       f"({m['cpu']}; git {m.get('git', '?')})")
    out.append("")
    if tr:
        def spread(values, fmt):
            values = sorted(values)
            return (f"{fmt.format(statistics.median(values))} "
                    f"({fmt.format(values[0])}-{fmt.format(values[-1])})")

        def rate(size, key):
            return [size / r[key] / 1e6 for r in reps]
        n = len(tr["sizes"][0]["reps"])
        out.append(f"**Blob transfer over loopback**: MB/s (10^6 bytes), median "
                   f"(min-max) of {n} runs, each through a fresh server\n")
        out.append("| blob | upload, CLI wall | of which Write | of which "
                   "CreateModel (s) | download, Python Read | server CPU s, "
                   "up / down | Python client CPU s, down |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for t in tr["sizes"]:
            b, reps = t["bytes"], t["reps"]
            out.append(
                f"| {b / MiB:,.0f} MiB | {spread(rate(b, 'upload_seconds'), '{:,.0f}')} | "
                f"{spread(rate(b, 'write_seconds'), '{:,.0f}')} | "
                f"{spread([r['create_model_seconds'] for r in reps], '{:.2f}')} | "
                f"{spread(rate(b, 'download_seconds'), '{:,.0f}')} | "
                f"{statistics.median(r['upload_server_cpu'] for r in reps):.2f} / "
                f"{statistics.median(r['download_server_cpu'] for r in reps):.2f} | "
                f"{statistics.median(r['download_client_cpu'] for r in reps):.2f} |")
        out.append("")
        out.append("| blob | server RSS idle | peak RSS, upload (1st half / 2nd "
                   "half of it) | peak RSS, download | VmHWM at the end |")
        out.append("|---|---:|---:|---:|---:|")
        for t in tr["sizes"]:
            reps = t["reps"]
            out.append(
                f"| {t['bytes'] / MiB:,.0f} MiB | "
                f"{fmt_mib(max(r['rss_idle'] for r in reps))} MiB | "
                f"{fmt_mib(max(r['rss_peak_upload'] for r in reps))} MiB ("
                f"{fmt_mib(max(r['rss_peak_upload_halves'][0] for r in reps))} / "
                f"{fmt_mib(max(r['rss_peak_upload_halves'][1] for r in reps))}) | "
                f"{fmt_mib(max(r['rss_peak_download'] for r in reps))} MiB | "
                f"{fmt_mib(max(r['hwm_end'] for r in reps))} MiB |")
        out.append("\n(memory: the largest of the runs; RSS sampled every 20 ms)\n")
        big = tr["sizes"][-1]
        ip = big.get("iperf3")
        if ip:
            out.append(f"iperf3, one TCP stream over loopback, {big['bytes'] / MiB:,.0f} MiB: "
                       f"{spread([i['memory'] for i in ip], '{:,.0f}')} MB/s from memory (`-n`), "
                       f"{spread([i['file'] for i in ip], '{:,.0f}')} MB/s from the same "
                       f"file (`-F`). sha256 of the file in one thread (Python's hashlib, "
                       f"OpenSSL): {big['bytes'] / big['sha256_seconds'] / 1e6:,.0f} MB/s of wall "
                       f"time, {big['bytes'] / big['sha256_cpu_seconds'] / 1e6:,.0f} MB/s of "
                       f"CPU time. "
                       f"The file copied to the same disk with `dd conv=fsync`: "
                       f"{big['bytes'] / big['dd_fsync_seconds'] / 1e6:,.0f} MB/s.")
            out.append("")
            out.append("CLI's own lines (stderr): " + "; ".join(
                f"`{t['reps'][0]['upload_cli_line']}`" for t in tr["sizes"]))
        out.append("")
    if la:
        runs = la["runs"]
        out.append(f"**Submit to start, one idle local worker** ({len(runs)} jobs, "
                   "`quantize` on tiny_mlp; server timestamps, ms after CreateJob)\n")
        out.append("| from CreateJob to | min | median | max |")
        out.append("|---|---:|---:|---:|")
        for key, label in (("to_running_ms", "STATE_CHANGED RUNNING (leased)"),
                           ("to_run_started_ms", "RUN_STARTED (engine started)"),
                           ("to_succeeded_ms", "STATE_CHANGED SUCCEEDED")):
            v = [r[key] for r in runs if r[key] is not None]
            out.append(f"| {label} | {min(v)} | {statistics.median(v):g} | {max(v)} |")
        f = la.get("first")
        if f:
            out.append(f"| (the first job, cold worker: RUNNING / RUN_STARTED / "
                       f"SUCCEEDED) | {f['to_running_ms']} / {f['to_run_started_ms']} / "
                       f"{f['to_succeeded_ms']} | | |")
        c = [r["submit_cli_seconds"] * 1000 for r in runs]
        out.append(f"| (client) `condense submit` process wall | {min(c):.0f} | "
                   f"{statistics.median(c):.0f} | {max(c):.0f} |")
        out.append("")
    if lo:
        u, j = lo["uploads"], lo["jobs"]
        out.append("**Concurrency** (server with `--local-workers 4 --worker-threads 1`)\n")
        out.append("| test | result |")
        out.append("|---|---|")
        out.append(f"| {u['count']} concurrent `condense upload model` of distinct "
                   f"{u['bytes_each'] / MiB:.0f} MiB files | {u['wall_seconds']:.1f} s wall, "
                   f"{u['count'] * u['bytes_each'] / u['wall_seconds'] / 1e6:,.0f} MB/s "
                   f"aggregate; {u['count'] - u['exit_codes_nonzero']}/{u['count']} "
                   f"exited 0, {u['distinct_models']} distinct models, "
                   f"{u['models_listed']} listed; server VmHWM "
                   f"{fmt_mib(u['hwm'])} MiB |")
        st = ", ".join(f"{k} {v}" for k, v in sorted(j["states"].items()))
        out.append(f"| {j['count']} `condense submit --preset quantize` (4 at a time), "
                   f"then wait for all | {st}; {j['with_4_artifacts']} with the 4 "
                   f"artifacts; {j['distinct_names']} distinct names, "
                   f"{j['listed']} listed; {j['attempts_over_1']} retried |")
        out.append(f"| wall time, first submit to last job finished | "
                   f"{j['wall_seconds']:.1f} s client-side "
                   f"({j['count'] / j['wall_seconds']:.2f} jobs/s); "
                   f"{j['server_span_seconds']:.1f} s between the first create and "
                   f"the last end on the server ({j['count'] / j['server_span_seconds']:.2f} jobs/s) |")
        out.append(f"| submitting the {j['count']} jobs | {j['submit_seconds']:.1f} s |")
        q, r = j["queue_wait_ms"], j["run_ms"]
        out.append(f"| queue wait (create to lease) | min {q['min']} ms, median "
                   f"{q['median']:g} ms, max {q['max']} ms |")
        out.append(f"| run (lease to end) | min {r['min']} ms, median "
                   f"{r['median']:g} ms, max {r['max']} ms |")
        for f in j.get("failed", []):
            err = f.get("error") or {}
            out.append(f"| failed: {f['job']} (attempts {f['attempts']}) | "
                       f"code {err.get('code')}: `{str(err.get('message', ''))[:90]}...` |")
        out.append("")
        out.append("/metrics at the end:\n")
        out.append("```")
        out.extend(j["metrics"])
        out.append("```")
    print("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("phase", choices=["transfer", "latency", "load", "table"])
    parser.add_argument("--work", default=os.path.join(ROOT, "build", "service_bench"))
    parser.add_argument("--bin",
                        help="directory holding condense-server, condense-worker "
                             "and condense")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--transfer-repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--jobs-timeout", type=float, default=400)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.phase == "table":
        phase_table(args)
        return
    if not args.bin:
        parser.error("--bin DIR is required for the measuring phases")
    tmp = tempfile.mkdtemp(prefix=f"condense-bench-{args.phase}-", dir="/tmp")
    try:
        info = machine()
        t = time.perf_counter()
        result = {"transfer": phase_transfer, "latency": phase_latency,
                  "load": phase_load}[args.phase](args, tmp)
        result["machine"] = info
        result["machine"]["loadavg_end"] = machine()["loadavg"]
        result["seconds"] = time.perf_counter() - t
        with open(os.path.join(args.work, f"{args.phase}.json"), "w") as f:
            json.dump(result, f, indent=1)
        log(f"{args.phase} done in {result['seconds']:.0f}s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
