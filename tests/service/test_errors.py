"""Bad input: each case answers its exact status code and a message that
says what was wrong."""

import hashlib
import os
import struct
import json

import grpc
import pytest

from conftest import ROOT, Cli, Server

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef00"
WORKER = "worker-token-0123456789abcdef"


@pytest.fixture
def secured(workdir, stubs):
    tokens = os.path.join(workdir, "tokens")
    with open(tokens, "w") as f:
        f.write(f"# test tokens\n{ALICE} alice\n{BOB} bob\n{WORKER} pool worker\n")
    server = Server(workdir, token_file=tokens, local_workers=1,
                    extra=["--max-upload-bytes", str(4 << 20),
                           "--max-queued-jobs", "3"]).start()
    channel = grpc.insecure_channel(server.addr)
    yield server, channel
    channel.close()
    server.stop()


def md(token):
    return [("authorization", f"Bearer {token}")]


def expect(code, needle, call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        result = call(*args, **kwargs)
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            list(result)
    assert err.value.code() == code, err.value.details()
    assert needle.lower() in err.value.details().lower(), err.value.details()
    return err.value.details()


def write_requests(name, data, finish=True, chunk=1 << 20):
    for off in range(0, max(len(data), 1), chunk):
        yield_data = data[off:off + chunk]
        last = off + chunk >= len(data)
        from condense.v1 import blobs_pb2
        yield blobs_pb2.WriteRequest(resource_name=name if off == 0 else "",
                                     write_offset=off, data=yield_data,
                                     finish_write=finish and last)


def upload(channel, token, data):
    from condense.v1 import blobs_pb2_grpc, common_pb2
    digest = hashlib.sha256(data).hexdigest()
    name = f"uploads/u-{digest[:16]}/blobs/{digest}/{len(data)}"
    blobs_pb2_grpc.BlobsStub(channel).Write(write_requests(name, data),
                                            metadata=md(token), timeout=30)
    return common_pb2.Digest(sha256=digest, size_bytes=len(data))


def test_blob_errors(secured):
    from condense.v1 import blobs_pb2, blobs_pb2_grpc
    server, channel = secured
    blobs = blobs_pb2_grpc.BlobsStub(channel)
    data = os.urandom(100_000)
    good = hashlib.sha256(data).hexdigest()
    wrong = hashlib.sha256(b"other").hexdigest()
    expect(grpc.StatusCode.INVALID_ARGUMENT, "sha256", blobs.Write,
           write_requests(f"uploads/a1/blobs/{wrong}/{len(data)}", data),
           metadata=md(ALICE), timeout=30)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "truncated", blobs.Write,
           write_requests(f"uploads/a2/blobs/{good}/{len(data) + 10}", data),
           metadata=md(ALICE), timeout=30)
    big = 5 << 20
    expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "limit", blobs.Write,
           write_requests(f"uploads/a3/blobs/{good}/{big}", data),
           metadata=md(ALICE), timeout=30)
    digest = upload(channel, ALICE, data)
    expect(grpc.StatusCode.OUT_OF_RANGE, "offset", blobs.Read,
           blobs_pb2.ReadRequest(resource_name=f"blobs/{good}/{len(data)}",
                                 read_offset=len(data) + 1),
           metadata=md(ALICE), timeout=30)
    # Bob cannot see Alice's blob, even though its bytes are stored.
    expect(grpc.StatusCode.NOT_FOUND, "", blobs.Read,
           blobs_pb2.ReadRequest(resource_name=f"blobs/{good}/{len(data)}"),
           metadata=md(BOB), timeout=30)
    assert digest.size_bytes == len(data)


def test_auth_errors(secured):
    from condense.v1 import jobs_pb2, jobs_pb2_grpc
    from condense.internal.v1 import worker_pb2, worker_pb2_grpc
    server, channel = secured
    jobs = jobs_pb2_grpc.JobsStub(channel)
    req = jobs_pb2.ListJobsRequest()
    expect(grpc.StatusCode.UNAUTHENTICATED, "missing token", jobs.ListJobs,
           req, timeout=10)
    expect(grpc.StatusCode.UNAUTHENTICATED, "unknown token", jobs.ListJobs,
           req, metadata=md("not-a-real-token-at-all"), timeout=10)
    expect(grpc.StatusCode.UNAUTHENTICATED, "malformed", jobs.ListJobs,
           req, metadata=[("authorization", "Basic abc")], timeout=10)
    worker = worker_pb2_grpc.WorkerStub(channel)
    expect(grpc.StatusCode.PERMISSION_DENIED, "worker", worker.Lease,
           worker_pb2.LeaseRequest(), metadata=md(ALICE), timeout=10)
    # The CLI says the same, with its usage exit code.
    cli = Cli(server, token="wrong-token-0123456789")
    proc = cli.run("list", check=False)
    assert proc.returncode != 0 and "unknown token" in proc.stderr


def test_model_job_and_limit_errors(secured, assets):
    from condense.v1 import jobs_pb2, jobs_pb2_grpc, models_pb2, models_pb2_grpc
    server, channel = secured
    models = models_pb2_grpc.ModelsStub(channel)
    jobs = jobs_pb2_grpc.JobsStub(channel)

    # A file that is not a model.
    junk = upload(channel, ALICE, b"this is not a TorchScript archive" * 10)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "not a TorchScript",
           models.CreateModel, models_pb2.CreateModelRequest(
               model=models_pb2.Model(format=models_pb2.Model.TORCHSCRIPT,
                                      blob=junk)),
           metadata=md(ALICE), timeout=10)
    # A model saved by a newer PyTorch, calling an op the workers' LibTorch
    # lacks: refused at upload, naming the op and where it is called.
    newer = upload(channel, ALICE, open(os.path.join(
        ROOT, "worker", "engine", "testdata", "unknown_op.pt"), "rb").read())
    details = expect(
        grpc.StatusCode.INVALID_ARGUMENT, "calls aten::zelu (torch.zelu in ",
        models.CreateModel, models_pb2.CreateModelRequest(
            model=models_pb2.Model(format=models_pb2.Model.TORCHSCRIPT,
                                   blob=newer)),
        metadata=md(ALICE), timeout=10)
    assert "Re-export it" in details and "--check-torchscript-ops" in details
    # A zip that torch.save (not torch.jit.save) wrote: data, no code.
    import io
    import zipfile
    pickled = io.BytesIO()
    with zipfile.ZipFile(pickled, "w") as z:
        z.writestr("m/data.pkl", b"pickle")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "holds no TorchScript code",
           models.CreateModel, models_pb2.CreateModelRequest(
               model=models_pb2.Model(
                   format=models_pb2.Model.TORCHSCRIPT,
                   blob=upload(channel, ALICE, pickled.getvalue()))),
           metadata=md(ALICE), timeout=10)
    # A model whose blob was never uploaded.
    missing = models_pb2.Model(format=models_pb2.Model.TORCHSCRIPT)
    missing.blob.sha256 = "0" * 64
    missing.blob.size_bytes = 10
    expect(grpc.StatusCode.NOT_FOUND, "not uploaded", models.CreateModel,
           models_pb2.CreateModelRequest(model=missing), metadata=md(ALICE),
           timeout=10)

    model_blob = upload(channel, ALICE, open(assets["mlp"], "rb").read())
    model = models.CreateModel(models_pb2.CreateModelRequest(
        model=models_pb2.Model(format=models_pb2.Model.TORCHSCRIPT,
                               blob=model_blob)), metadata=md(ALICE), timeout=10)

    # Unknown job; another tenant's job; another tenant's model.
    expect(grpc.StatusCode.NOT_FOUND, "no job", jobs.GetJob,
           jobs_pb2.GetJobRequest(name="jobs/doesnotexist"), metadata=md(ALICE),
           timeout=10)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "not a valid", jobs.GetJob,
           jobs_pb2.GetJobRequest(name="jobs/../etc"), metadata=md(ALICE),
           timeout=10)
    expect(grpc.StatusCode.NOT_FOUND, "no model", jobs.CreateJob,
           jobs_pb2.CreateJobRequest(model=model.name, preset="quantize"),
           metadata=md(BOB), timeout=10)

    # Malformed specs.
    expect(grpc.StatusCode.INVALID_ARGUMENT, "fc.bits", jobs.CreateJob,
           jobs_pb2.CreateJobRequest(model=model.name, preset="quantize",
                                     overrides=["fc.bits=9"]),
           metadata=md(ALICE), timeout=10)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "unknown preset", jobs.CreateJob,
           jobs_pb2.CreateJobRequest(model=model.name, preset="deep"),
           metadata=md(ALICE), timeout=10)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "learnin_rate", jobs.CreateJob,
           jobs_pb2.CreateJobRequest(model=model.name, preset="quantize",
                                     overrides=["training.learnin_rate=1"]),
           metadata=md(ALICE), timeout=10)

    # A dataset that does not fit the model: 5 features for a 784-input MLP.
    header = json.dumps({"inputs": {"dtype": "F32", "shape": [64, 5],
                                    "data_offsets": [0, 64 * 5 * 4]},
                         "targets": {"dtype": "I64", "shape": [64],
                                     "data_offsets": [64 * 5 * 4,
                                                      64 * 5 * 4 + 64 * 8]}}).encode()
    body = bytes(64 * 5 * 4) + bytes(64 * 8)
    st = struct.pack("<Q", len(header)) + header + body
    st_blob = upload(channel, ALICE, st)
    dataset = models.CreateDataset(models_pb2.CreateDatasetRequest(
        dataset=models_pb2.Dataset(
            files=[models_pb2.Dataset.File(path="tiny.safetensors", blob=st_blob)],
            train_file="tiny.safetensors")), metadata=md(ALICE), timeout=10)
    job = jobs.CreateJob(jobs_pb2.CreateJobRequest(
        model=model.name, dataset=dataset.name, preset="prune"),
        metadata=md(ALICE), timeout=10)
    done = jobs.WaitJob(jobs_pb2.WaitJobRequest(name=job.name, timeout_seconds=120),
                        metadata=md(ALICE), timeout=130)
    assert done.state == jobs_pb2.Job.FAILED, done
    assert done.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert done.attempts == 1  # Bad inputs are not retried.
    expect(grpc.StatusCode.NOT_FOUND, "", jobs.GetJob,
           jobs_pb2.GetJobRequest(name=job.name), metadata=md(BOB), timeout=10)

    # Queue limit: 3 queued jobs per tenant (the one worker is stopped from
    # leasing by a high-priority... simply: stop nothing, use many jobs fast).
    server_jobs = []
    with pytest.raises(grpc.RpcError) as err:
        for _ in range(20):
            server_jobs.append(jobs.CreateJob(jobs_pb2.CreateJobRequest(
                model=model.name, preset="quantize", priority=1),
                metadata=md(ALICE), timeout=10))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-queued-jobs" in err.value.details()
    for j in server_jobs:
        try:
            jobs.CancelJob(jobs_pb2.CancelJobRequest(name=j.name),
                           metadata=md(ALICE), timeout=10)
        except grpc.RpcError:
            pass


def safetensors_bytes(tensors):
    """A safetensors file of float32 tensors {name: number of elements}."""
    header, offset = {}, 0
    for name, n in tensors.items():
        header[name] = {"dtype": "F32", "shape": [n],
                        "data_offsets": [offset, offset + 4 * n]}
        offset += 4 * n
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes(offset)


def test_model_files_errors(secured):
    """Models of several files (sharded safetensors, ONNX with external
    data): each inconsistency is refused at CreateModel, naming the file."""
    from condense.v1 import models_pb2, models_pb2_grpc
    server, channel = secured
    models = models_pb2_grpc.ModelsStub(channel)
    Model = models_pb2.Model
    shard1 = upload(channel, ALICE, safetensors_bytes({"a": 4}))
    shard2 = upload(channel, ALICE, safetensors_bytes({"b": 4}))
    index = upload(channel, ALICE, json.dumps({"weight_map": {
        "a": "s1.safetensors", "b": "s2.safetensors"}}).encode())
    junk = upload(channel, ALICE, b"\xff" * 64)

    def create(fmt, files, **kwargs):
        model = Model(format=fmt, **kwargs)
        for path, blob in files:
            model.files.add(path=path, blob=blob)
        return models.CreateModel(models_pb2.CreateModelRequest(model=model),
                                  metadata=md(ALICE), timeout=10)

    good = [("model.safetensors.index.json", index),
            ("s1.safetensors", shard1), ("s2.safetensors", shard2)]
    created = create(Model.SAFETENSORS_SHARDED, good)
    assert created.format == Model.SAFETENSORS_SHARDED
    assert [f.path for f in created.files] == [p for p, _ in good]
    got = models.GetModel(models_pb2.GetModelRequest(name=created.name),
                          metadata=md(ALICE), timeout=10)
    assert got == created

    cases = [
        (grpc.StatusCode.INVALID_ARGUMENT, "list its shards and index",
         Model.SAFETENSORS_SHARDED, [], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "both model.blob and model.files",
         Model.SAFETENSORS_SHARDED, good, {"blob": shard1}),
        (grpc.StatusCode.INVALID_ARGUMENT, "is one file",
         Model.TORCHSCRIPT, good, {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "must be a plain file name",
         Model.SAFETENSORS_SHARDED, [("../s1.safetensors", shard1)], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "is listed twice",
         Model.SAFETENSORS_SHARDED,
         [("s1.safetensors", shard1), ("s1.safetensors", shard2)], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "which is not among model.files",
         Model.SAFETENSORS_SHARDED, good[:2], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "holds no tensor the index",
         Model.SAFETENSORS_SHARDED, good + [("s3.safetensors", shard1)], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "s2.safetensors is not a safetensors",
         Model.SAFETENSORS_SHARDED, good[:2] + [("s2.safetensors", junk)], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "neither a shard",
         Model.SAFETENSORS_SHARDED, good + [("config.json", junk)], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "not a JSON object",
         Model.SAFETENSORS_SHARDED,
         [("model.safetensors.index.json", junk)] + good[1:], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "holds no ONNX model",
         Model.ONNX, [("weights.bin", junk)], {}),
        (grpc.StatusCode.INVALID_ARGUMENT, "m.onnx is not an ONNX model",
         Model.ONNX, [("m.onnx", junk), ("weights.bin", shard1)], {}),
    ]
    for code, needle, fmt, files, kwargs in cases:
        expect(code, needle, create, fmt, files, **kwargs)
    missing = models_pb2.Model(format=Model.SAFETENSORS_SHARDED)
    f = missing.files.add(path="s1.safetensors")
    f.blob.sha256 = "0" * 64
    f.blob.size_bytes = 10
    expect(grpc.StatusCode.NOT_FOUND, "s1.safetensors is not uploaded",
           models.CreateModel, models_pb2.CreateModelRequest(model=missing),
           metadata=md(ALICE), timeout=10)
    # Another tenant's blobs are not theirs to list.
    expect(grpc.StatusCode.NOT_FOUND, "is not uploaded", models.CreateModel,
           models_pb2.CreateModelRequest(model=created), metadata=md(BOB),
           timeout=10)


def test_lease_without_waiting_takes_a_queued_job(workdir, stubs, assets):
    """wait_seconds 0 is a poll: a queued job is leased at once, and with
    none queued the answer is empty at once."""
    from condense.internal.v1 import worker_pb2, worker_pb2_grpc
    tokens = os.path.join(workdir, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{ALICE} alice\n{WORKER} pool worker\n")
    server = Server(workdir, token_file=tokens).start()
    channel = grpc.insecure_channel(server.addr)
    try:
        worker = worker_pb2_grpc.WorkerStub(channel)
        request = worker_pb2.LeaseRequest(
            worker=worker_pb2.WorkerInfo(worker_id="poller:1"),
            wait_seconds=0)
        empty = worker.Lease(request, metadata=md(WORKER), timeout=10)
        assert empty.lease_id == ""
        cli = Cli(server, token=ALICE)
        model = cli.json("upload", "model", assets["mlp"])["name"]
        job = cli.json("submit", "--model", model, "--preset", "quantize")
        granted = worker.Lease(request, metadata=md(WORKER), timeout=10)
        assert granted.lease_id and granted.job == job["name"]
    finally:
        channel.close()
        server.stop()
