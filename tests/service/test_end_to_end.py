"""End to end through the CLI: upload, submit, watch, download, decode."""

import hashlib
import json
import os
import subprocess
import sys

from conftest import FAST, ROOT, Cli


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_deep_compression_through_the_cli(server_factory, assets, workdir):
    server = server_factory(local_workers=1)
    cli = Cli(server)
    model = cli.json("upload", "model", assets["mlp"], "--name", "tiny-mlp")
    assert model["name"].startswith("models/")
    dataset = cli.json("upload", "dataset", assets["data"], "--name", "fmnist-2k")
    assert dataset["name"].startswith("datasets/")
    assert len(dataset["files"]) == 4

    job = cli.json("submit", "--model", model["name"], "--dataset",
                   dataset["name"], *FAST)
    assert job["state"] in ("QUEUED", "RUNNING")

    watch = cli.run("watch", job["name"], timeout=600)
    assert "SUCCEEDED" in watch.stdout + watch.stderr

    final = cli.json("status", job["name"])
    assert final["state"] == "SUCCEEDED"
    result = final["result"]
    assert result["ratio"] > 5
    names = {a["file_name"]: a for a in result["artifacts"]}
    assert set(names) == {"model.cdz", "model.pt", "model.safetensors",
                          "report.json", "report.html"}

    out = os.path.join(workdir, "download")
    cli.run("download", job["name"], "-o", out)
    for name, artifact in names.items():
        path = os.path.join(out, name)
        assert sha256(path) == artifact["blob"]["sha256"], name
        assert os.path.getsize(path) == int(artifact["blob"]["size_bytes"])

    report = json.load(open(os.path.join(out, "report.json")))
    assert report == json.loads(result["report_json"])
    assert abs(report["totals"]["compression_ratio"] - result["ratio"]) < 1e-9
    assert report["preset"] == "deep-compression"

    # The .cdz decodes (CLI, no server), and the TorchScript model equals it
    # bit for bit and scores what the report says.
    inspect = cli.run("inspect", os.path.join(out, "model.cdz"))
    assert "fc1.weight" in inspect.stdout
    cli.run("decompress", os.path.join(out, "model.cdz"), "-o",
            os.path.join(workdir, "decoded.safetensors"))
    assert os.path.getsize(os.path.join(workdir, "decoded.safetensors")) > 0
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "check_outputs.py"),
                    out, "--data", assets["data"], "--eval-samples", "500",
                    "--sample-shape", "784"], check=True)

    # Every event was kept, in order, and the log ends with the final state.
    events = [json.loads(line) for line in
              cli.run("watch", job["name"], "--output", "json").stdout.splitlines()
              if line.strip()]
    seqs = [int(e["sequence"]) for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[-1]["kind"] == "STATE_CHANGED"
    assert events[-1]["state"] == "SUCCEEDED"
    kinds = {e["kind"] for e in events}
    assert {"RUN_STARTED", "STAGE_STARTED", "STAGE_FINISHED",
            "CHECKPOINT_SAVED", "RUN_FINISHED"} <= kinds

    # /metrics is valid Prometheus text and its counters moved.
    text = server.metrics()
    check = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    def value(name, **labels):
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no sample {name} {labels}")
    assert value("condense_jobs_created_total") == 1
    assert value("condense_jobs_finished_total", state="succeeded") == 1
    assert value("condense_jobs", state="succeeded") == 1
    assert value("condense_blob_received_bytes_total") > 0
    assert value("condense_blob_sent_bytes_total") > 0
    assert value("condense_stage_duration_seconds_count", stage="prune") == 1
    assert value("grpc_server_handled_total", grpc_method="CreateJob",
                 grpc_code="OK") == 1
    assert value("grpc_server_started_total", grpc_method="Lease") >= 1
