"""Faults: a worker killed mid-stage, the server restarted mid-job and
mid-upload, cancellation, and watch reconnecting from a sequence number."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import grpc

from conftest import ROOT, Cli, Server, Worker, wait_for

# A run long enough to interrupt: the tiny CNN, two stages, the second long.
SLOW = ["--preset", "deep-compression",
        "--set", "stages[0].prune.steps=1", "--set",
        "stages[0].prune.epochs_per_step=1", "--set",
        "stages[1].quantize.epochs=12", "--set", "seed=3"]


def upload_inputs(cli, assets, model="cnn"):
    m = cli.json("upload", "model", assets[model])["name"]
    d = cli.json("upload", "dataset", assets["data"])["name"]
    return m, d


def events_of(cli, job):
    out = cli.run("watch", job, "--output", "json", timeout=600).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def job_of(cli, job):
    return cli.json("status", job)


def test_worker_killed_mid_stage_resumes_from_checkpoint(workdir, assets):
    server = Server(workdir, extra=["--lease-timeout", "2",
                                    "--heartbeat-interval", "0.3"]).start()
    workers = [Worker(workdir, server, "w1"), Worker(workdir, server, "w2")]
    try:
        cli = Cli(server)
        m, d = upload_inputs(cli, assets)
        job = cli.json("submit", "--model", m, "--dataset", d, *SLOW)["name"]

        # Wait until stage 1 is checkpointed and stage 2 is training.
        def in_stage_two():
            j = job_of(cli, job)
            p = j.get("progress", {})
            return (j["state"] == "RUNNING" and p.get("stages_done", 0) >= 1 and
                    p.get("stage_index", 0) == 1 and int(p.get("batch", 0)) > 0
                    and j)
        running = wait_for(in_stage_two, 300, "stage 2 to start training")
        victim = next(w for w in workers
                      if os.path.basename(w.log_path) == running["worker"] + ".log")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()

        final = wait_for(lambda: (j := job_of(cli, job))["state"] in
                         ("SUCCEEDED", "FAILED") and j, 300, "the job to end")
        assert final["state"] == "SUCCEEDED", final
        assert final["attempts"] == 2
        assert final["worker"] != running["worker"]
        events = events_of(cli, job)
        requeued = [e for e in events if e["kind"] == "STATE_CHANGED" and
                    e.get("state") == "QUEUED" and "lost" in e.get("message", "")]
        assert requeued, "no requeue event after the kill"
        resumed = [e for e in events if e.get("attempt") == 2 and
                   "resuming from the checkpoint after stage 1" in
                   e.get("message", "")]
        assert resumed, "attempt 2 did not resume from the checkpoint"
        # Attempt 2 never re-ran stage 1.
        assert not [e for e in events if e.get("attempt") == 2 and
                    e["kind"] == "STAGE_STARTED" and e.get("stage_index", 0) == 0]

        out = os.path.join(workdir, "out")
        cli.run("download", job, "-o", out)
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "check_outputs.py"),
                        out, "--data", assets["data"], "--eval-samples", "500",
                        "--sample-shape", "1,28,28"], check=True)
    finally:
        for w in workers:
            w.stop()
        server.stop()


def test_server_restarted_mid_job_and_mid_upload(workdir, assets, stubs):
    from condense.v1 import blobs_pb2, blobs_pb2_grpc
    server = Server(workdir).start()
    worker = Worker(workdir, server, "w1")
    try:
        cli = Cli(server)
        m, d = upload_inputs(cli, assets)
        job = cli.json("submit", "--model", m, "--dataset", d, *SLOW)["name"]
        wait_for(lambda: job_of(cli, job)["state"] == "RUNNING", 120,
                 "the job to start")
        time.sleep(1.0)

        # Half an upload, then the server dies without warning.
        payload = os.urandom(3 << 20)
        digest = hashlib.sha256(payload).hexdigest()
        name = f"uploads/{digest[:32]}-{len(payload)}/blobs/{digest}/{len(payload)}"
        channel = grpc.insecure_channel(server.addr)
        stub = blobs_pb2_grpc.BlobsStub(channel)
        half = len(payload) // 2

        def half_upload():
            chunk = 1 << 20
            for off in range(0, half, chunk):
                yield blobs_pb2.WriteRequest(
                    resource_name=name if off == 0 else "", write_offset=off,
                    data=payload[off:min(off + chunk, half)])
        try:
            stub.Write(half_upload(), timeout=10)
        except grpc.RpcError:
            pass  # The stream ends without finish_write: an error is fine.
        channel.close()
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL

        server.start()
        channel = grpc.insecure_channel(server.addr)
        stub = blobs_pb2_grpc.BlobsStub(channel)
        status = stub.QueryWriteStatus(
            blobs_pb2.QueryWriteStatusRequest(resource_name=name), timeout=10)
        assert status.committed_size == half and not status.complete
        # The CLI's upload resumes it (same upload id from the digest).
        path = os.path.join(workdir, "blob.bin")
        open(path, "wb").write(payload)
        cli.run("upload", "model", path, "--format", "safetensors", check=False)
        status = stub.QueryWriteStatus(
            blobs_pb2.QueryWriteStatusRequest(resource_name=name), timeout=10)
        assert status.complete
        got = b"".join(r.data for r in stub.Read(blobs_pb2.ReadRequest(
            resource_name=f"blobs/{digest}/{len(payload)}"), timeout=30))
        assert got == payload
        channel.close()

        final = wait_for(lambda: (j := job_of(cli, job))["state"] in
                         ("SUCCEEDED", "FAILED") and j, 400, "the job to end")
        assert final["state"] == "SUCCEEDED", final
        events = events_of(cli, job)
        seqs = [int(e["sequence"]) for e in events]
        assert seqs == list(range(1, len(seqs) + 1))
        assert events[-1]["state"] == "SUCCEEDED"
        assert any(e["kind"] == "RUN_FINISHED" for e in events)
    finally:
        worker.stop()
        server.stop()


def test_cancel_queued_and_running_and_watch_resume(server_factory, assets,
                                                     stubs):
    from condense.v1 import jobs_pb2, jobs_pb2_grpc
    server = server_factory(local_workers=0)
    cli = Cli(server)
    m, d = upload_inputs(cli, assets)
    queued = cli.json("submit", "--model", m, "--dataset", d, *SLOW)["name"]
    cancelled = cli.json("cancel", queued)
    assert cancelled["state"] == "CANCELLED"
    again = cli.run("cancel", queued, check=False)
    assert again.returncode != 0 and "already finished" in again.stderr

    job = cli.json("submit", "--model", m, "--dataset", d, *SLOW)["name"]
    worker = Worker(server.workdir, server, "w1")
    channel = grpc.insecure_channel(server.addr)
    jobs = jobs_pb2_grpc.JobsStub(channel)
    try:
        # Read the first events live, then drop the stream mid-job.
        stream = jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job), timeout=300)
        first = []
        for event in stream:
            first.append(event)
            if len(first) == 6:
                break
        stream.cancel()
        cli.run("cancel", job)
        final = wait_for(lambda: (j := job_of(cli, job))["state"] in
                         ("CANCELLED", "SUCCEEDED", "FAILED") and j, 120,
                         "the cancel to land")
        assert final["state"] == "CANCELLED"
        # Reconnect from the next sequence: nothing missed, nothing twice.
        rest = list(jobs.WatchJob(jobs_pb2.WatchJobRequest(
            name=job, from_sequence=first[-1].sequence + 1), timeout=60))
        whole = list(jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job),
                                   timeout=60))
        assert [e.sequence for e in first + rest] == [e.sequence for e in whole]
        assert first + rest == whole
        assert whole[-1].state == jobs_pb2.Job.CANCELLED
        assert any(e.kind == jobs_pb2.JobEvent.BATCH for e in whole)
    finally:
        channel.close()
        worker.stop()


def test_graceful_shutdown_releases_the_job_and_it_resumes(workdir, assets):
    """SIGTERM stops leasing, the local worker releases its job (requeued
    without spending an attempt), and after a restart it resumes from its
    last checkpoint and succeeds."""
    server = Server(workdir, local_workers=1).start()
    cli = Cli(server)
    m, d = upload_inputs(cli, assets)
    job = cli.json("submit", "--model", m, "--dataset", d, *SLOW)["name"]
    wait_for(lambda: int(job_of(cli, job).get("progress", {})
                         .get("stages_done", 0)) >= 1, 300,
             "the first stage's checkpoint")
    assert server.stop(signal.SIGTERM) == 0
    assert "event=local_worker_killed" not in server.log_text()
    server.start()
    cli = Cli(server)
    released = job_of(cli, job)
    final = wait_for(lambda: (j := job_of(cli, job))["state"] in
                     ("SUCCEEDED", "FAILED") and j, 300, "the job to end")
    assert final["state"] == "SUCCEEDED", final
    # The release did not spend an attempt.
    assert final["attempts"] == 1, (released, final)
    events = events_of(cli, job)
    release = next(i for i, e in enumerate(events)
                   if "worker released the job" in e.get("message", ""))
    assert any("resuming from the checkpoint" in e.get("message", "")
               for e in events[release:])
    server.stop()
