"""The Python SDK against a real server and real workers: uploads from files
and from tensors in memory, submit, live events (also across a server
restart), result, report, download, compress(), and the error types."""

import hashlib
import os
import signal
import sys

import grpc
import pytest
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import fashion_mnist  # noqa: E402

from conftest import FMNIST, Server, Worker

STAGES_FAST = {"stages[0].prune.epochs_per_step": 1,
               "stages[1].quantize.epochs": 1}


@pytest.fixture
def condense(stubs):
    import condense as sdk
    return sdk


def fmnist(split, n):
    """The first n images (uint8 [n, 28, 28]) and labels of a split."""
    x, y = fashion_mnist.load_split(split, FMNIST, n)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_submit_follow_download_from_tensors(condense, server_factory, assets,
                                             workdir):
    server = server_factory(local_workers=1)
    x, y = fmnist("train", 2000)
    ex, ey = fmnist("t10k", 500)
    with condense.Client(server.addr, timeout=60) as client:
        module = torch.jit.load(assets["mlp"])
        model = client.upload_model(module, name="mlp-in-memory")
        assert model.name.startswith("models/")
        data = client.upload_dataset(inputs=x, targets=y, eval_inputs=ex,
                                     eval_targets=ey, name="fmnist-tensors")
        assert sorted(f.path for f in data.files) == ["eval.safetensors",
                                                      "train.safetensors"]
        # Uploading the same tensors again stores nothing new (same digests).
        again = client.upload_dataset(inputs=x, targets=y)
        assert again.files[0].blob == data.files[
            [f.path for f in data.files].index("train.safetensors")].blob

        # Overrides as a dict of field paths and as keywords (__ for dots).
        job = client.submit(model, data, preset="deep-compression",
                            overrides=STAGES_FAST, seed=1,
                            training__batch_size=64)
        assert job.state in ("QUEUED", "RUNNING")
        events = list(job.events(timeout=600))
        sequences = [e.sequence for e in events]
        assert sequences == list(range(1, len(events) + 1))
        kinds = {condense.client.jobs_pb2.JobEvent.Kind.Name(e.kind)
                 for e in events}
        assert {"STAGE_STARTED", "STAGE_FINISHED", "RUN_FINISHED"} <= kinds
        assert job.done()

        result = job.result(timeout=60)
        assert result.ratio > 5
        report = job.report
        assert report["totals"]["compression_ratio"] == pytest.approx(
            result.ratio, rel=1e-6)
        assert report["data"]["train_samples"] == 2000

        # Events can be replayed from any sequence number.
        tail = list(job.events(from_sequence=sequences[-3]))
        assert [e.sequence for e in tail] == sequences[-3:]

        paths = job.download(os.path.join(workdir, "out"))
        digests = {a.file_name: a.blob.sha256 for a in result.artifacts}
        assert set(paths) == set(digests)
        for name, path in paths.items():
            assert sha256(path) == digests[name], name
        # The model returned scores what the report says, on the same data.
        compressed = torch.jit.load(paths["model.pt"])
        with torch.no_grad():
            logits = compressed(ex.float().div(255).reshape(-1, 784))
        accuracy = (logits.argmax(1) == ey).float().mean().item()
        assert accuracy == pytest.approx(report["accuracy"]["final"], abs=0.005)
        assert result.accuracy_after == pytest.approx(accuracy, abs=0.005)

        listed = client.list_jobs(state="SUCCEEDED")
        assert job.name in [j.name for j in listed]


def test_compress_in_one_call(condense, server_factory, assets, workdir):
    server = server_factory(local_workers=1)
    seen = []
    model, report = condense.compress(
        assets["mlp"], assets["data"], "deep-compression",
        address=server.addr, out_dir=os.path.join(workdir, "out"),
        timeout=600, on_event=seen.append, overrides=STAGES_FAST, seed=2)
    assert isinstance(model, torch.jit.ScriptModule)
    assert report["totals"]["compression_ratio"] > 5
    assert seen and seen[-1].kind == condense.client.jobs_pb2.JobEvent.STATE_CHANGED
    assert os.path.exists(os.path.join(workdir, "out", "model.cdz"))


def test_events_resume_across_a_server_restart(condense, workdir, assets):
    server = Server(workdir, extra=["--lease-timeout", "3",
                                    "--heartbeat-interval", "0.3"]).start()
    worker = Worker(workdir, server, "w1")
    try:
        with condense.Client(server.addr) as client:
            job = client.submit(assets["cnn"], assets["data"],
                                preset="deep-compression", overrides={
                "stages[0].prune.steps": 1,
                "stages[0].prune.epochs_per_step": 1,
                "stages[1].quantize.epochs": 6, "seed": 3})
            seen, restarted = [], False
            for event in job.events(timeout=600):
                seen.append(event)
                if not restarted and event.kind == \
                        condense.client.jobs_pb2.JobEvent.CHECKPOINT_SAVED:
                    server.stop(signal.SIGKILL)
                    server.start()
                    restarted = True
            assert restarted
            assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
            assert job.result(timeout=300).ratio > 1
    finally:
        worker.stop()
        server.stop()


def test_errors_carry_the_status_and_the_message(condense, server_factory,
                                                 assets, workdir):
    server = server_factory(local_workers=0,
                            extra=["--max-upload-bytes", "300000"])
    with condense.Client(server.addr, timeout=10) as client:
        with pytest.raises(condense.NotFound) as e:
            client.job("jobs/doesnotexist")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        assert "doesnotexist" in e.value.message

        model = client.upload_model(assets["mlp"])
        with pytest.raises(condense.InvalidArgument) as e:
            client.submit(model, None, fc__bits=99)
        assert "bits" in e.value.message

        with pytest.raises(condense.InvalidArgument):
            client.submit(os.path.join(workdir, "missing.pt"))
        with pytest.raises(condense.InvalidArgument):
            client.upload_model(torch.nn.Linear(2, 2))

        big = os.path.join(workdir, "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(400000))
        with pytest.raises(condense.ResourceExhausted):
            client.upload_file(big)

        # A queued job: cancelled, result() says so.
        job = client.submit(model, None, preset="quantize")
        job.cancel()
        with pytest.raises(condense.JobCancelled):
            job.result(timeout=30)
        with pytest.raises(condense.FailedPrecondition):
            job.report

    nobody = Server(workdir)  # Never started: a port nobody listens on.
    with condense.Client(nobody.addr, timeout=3) as client:
        with pytest.raises(condense.Unavailable):
            client.get_job("jobs/x")


def test_tokens_are_required_when_configured(condense, server_factory, workdir):
    tokens = os.path.join(workdir, "tokens")
    with open(tokens, "w") as f:
        f.write("secret-a-0123456789abcdef tenant-a\n")
    server = server_factory(token_file=tokens)
    with condense.Client(server.addr, timeout=10) as client:
        with pytest.raises(condense.Unauthenticated) as e:
            client.list_jobs()
        assert "token" in e.value.message
    with condense.Client(server.addr, token="secret-a-0123456789abcdef", timeout=10) as client:
        assert client.list_jobs() == []


def test_the_wheel_builds_and_imports(workdir):
    """pip builds a wheel from the checkout, with the stubs generated and
    libcdz inside (the build's, so CI compiles the codec once)."""
    import subprocess
    import sys
    from conftest import BUILD, ROOT
    wheels = os.path.join(workdir, "wheels")
    target = os.path.join(workdir, "site")
    libcdz = os.path.join(BUILD, "codec", "libcdz.so.1")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                    "--no-build-isolation", "--no-deps", "-w", wheels,
                    os.path.join(ROOT, "client", "python")], check=True,
                   env={**os.environ, "CONDENSE_LIBCDZ": libcdz})
    [wheel] = os.listdir(wheels)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "--no-deps", "--target", target,
                    os.path.join(wheels, wheel)], check=True)
    assert "linux" in wheel  # Tagged for the platform: it holds libcdz.
    env = {k: v for k, v in os.environ.items() if k != "CONDENSE_LIBCDZ"}
    out = subprocess.run(
        [sys.executable, "-c", "import condense, condense.v1.jobs_pb2 as j; "
         "print(condense.__file__, j.Job.SUCCEEDED, "
         "condense.cdz._library()._name)"],
        env={**env, "PYTHONPATH": target}, capture_output=True,
        text=True, check=True).stdout
    assert out.startswith(os.path.join(target, "condense")) and " 3 " in out
    assert out.split()[-1] == os.path.join(target, "condense", "libcdz.so.1")
    # pip builds in the source tree; leave it as it was.
    import shutil
    for leftover in ("build", "condense.egg-info"):
        shutil.rmtree(os.path.join(ROOT, "client", "python", leftover),
                      ignore_errors=True)


def test_uploads_resume_from_what_the_server_holds(condense, server_factory,
                                                   workdir):
    """An upload cut off half way is finished by sending only the rest."""
    from condense import _blobs
    from condense.v1 import blobs_pb2, blobs_pb2_grpc
    server = server_factory()
    path = os.path.join(workdir, "blob.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(3 << 20))
    digest = _blobs.digest_file(path)
    half = 3 << 19
    with open(path, "rb") as f:
        first = f.read(half)
    channel = grpc.insecure_channel(server.addr)
    blobs_pb2_grpc.BlobsStub(channel).Write(iter([blobs_pb2.WriteRequest(
        resource_name=_blobs.upload_name(digest), write_offset=0,
        data=first)]), timeout=30)
    channel.close()

    def received():
        for line in server.metrics().splitlines():
            if line.startswith("condense_blob_received_bytes_total"):
                return int(float(line.split()[-1]))
    assert received() == half
    with condense.Client(server.addr) as client:
        assert client.upload_file(path) == digest
        assert received() == digest.size_bytes  # The rest, not all again.
        # Verified on the way back.
        out = os.path.join(workdir, "back.bin")
        client.download_blob(digest, out)
        assert sha256(out) == digest.sha256


def test_onnx_model_through_the_service(condense, server_factory, assets,
                                        workdir):
    """An ONNX model is uploaded, compressed data-free by a worker, and
    comes back as model.onnx: the same graph with the decoded weights. With
    a dataset, or a spec that retrains, CreateJob refuses it up front."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10)).eval()
    path = os.path.join(workdir, "mlp.onnx")
    torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), path,
                      input_names=["x"], output_names=["y"])
    server = server_factory(local_workers=1)
    with condense.Client(server.addr, timeout=60) as client:
        model = client.upload_model(path)
        assert model.format == condense.client.models_pb2.Model.ONNX
        with pytest.raises(condense.InvalidArgument) as e:
            client.submit(model, assets["data"], preset="quantize")
        assert "an ONNX model" in e.value.message
        with pytest.raises(condense.InvalidArgument) as e:
            client.submit(model, None, preset="deep-compression",
                          overrides={"stages[0].prune.epochs_per_step": 1})
        assert "retrains" in e.value.message

        job = client.submit(model, None, preset="quantize")
        result = job.result(timeout=300)
        names = {a.file_name for a in result.artifacts}
        assert {"model.cdz", "model.onnx", "report.json"} <= names
        assert not names & {"model.pt", "model.safetensors"}
        assert result.ratio > 3
        files = job.download(os.path.join(workdir, "out"))

    out = onnx.load(files["model.onnx"])
    onnx.checker.check_model(out)
    original = onnx.load(path)
    assert [n.op_type for n in out.graph.node] == \
        [n.op_type for n in original.graph.node]
    weights = {t.name: numpy_helper.to_array(t)
               for t in out.graph.initializer}
    before = {t.name: numpy_helper.to_array(t)
              for t in original.graph.initializer}
    matrices = [n for n, w in before.items() if w.ndim == 2]
    assert matrices
    for name in matrices:
        # Quantized: a few shared values, close to the original weights.
        assert len(np.unique(weights[name])) <= 256
        assert not np.array_equal(weights[name], before[name])
        err = np.linalg.norm(weights[name] - before[name]) / \
            np.linalg.norm(before[name])
        assert err < 0.1, (name, err)
