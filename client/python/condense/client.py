"""The condense client: uploads models and data, submits compression jobs,
follows them and fetches their results, over the condense.v1 gRPC API.

A Client owns one gRPC channel; it is safe to use from several threads (gRPC
channels and stubs are), and a Job handle may be shared likewise. Every call
takes a `timeout` in seconds (None: the client's default)."""

import json
import os
import shutil
import tempfile
import time
import uuid

import grpc

from condense import _blobs, _safetensors
from condense import retry
from condense.errors import (CondenseError, DeadlineExceeded,
                             FailedPrecondition, InvalidArgument, JobCancelled,
                             JobFailed, from_rpc_error)
from condense.v1 import (blobs_pb2_grpc, jobs_pb2, jobs_pb2_grpc, models_pb2,
                         models_pb2_grpc, spec_pb2)

__all__ = ["Client", "Job", "Tls", "compress"]

DEFAULT_ADDRESS = "127.0.0.1:7350"


class Tls:
    """TLS settings: `ca` (PEM file; None: the system's roots), and `cert`
    with `key` (PEM files) for mutual TLS."""

    def __init__(self, ca=None, cert=None, key=None):
        if (cert is None) != (key is None):
            raise InvalidArgument("Tls needs both cert and key for mutual "
                                  "TLS, or neither")
        self.ca, self.cert, self.key = ca, cert, key

    def credentials(self):
        def read(path):
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()
        return grpc.ssl_channel_credentials(read(self.ca), read(self.key),
                                            read(self.cert))


def _state_name(state):
    return jobs_pb2.Job.State.Name(state)


def _resource(kind, value):
    """"models/ID" from a message, a full name or a bare ID."""
    name = getattr(value, "name", value)
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"expected a {kind[:-1]} (message, "
                              f"'{kind}/ID' or ID), got {value!r}")
    return name if name.startswith(kind + "/") else f"{kind}/{name}"


def _is_local(value, kind):
    """Whether `value` names a local file or directory to upload rather than
    a server resource ("models/ID" or a bare ID)."""
    if isinstance(value, os.PathLike):
        return True
    if not isinstance(value, str) or value.startswith(kind + "/"):
        return False
    if os.path.exists(value):
        return True
    if os.sep in value or "." in value:
        raise InvalidArgument(f"{value} does not exist: give the path of a "
                              f"file to upload, or a '{kind}/ID' name")
    return False


# A sharded checkpoint's decoded files come back as "model-shards/FILE".
_SHARDS_DIR = "model-shards"


def _artifact_parts(name):
    """The path parts of an artifact name from the server: a plain file
    name, or model-shards/FILE; anything else would leave the directory."""
    parts = name.split("/")
    plain = all(p not in ("", ".", "..") and "\\" not in p for p in parts)
    if plain and (len(parts) == 1 or
                  (len(parts) == 2 and parts[0] == _SHARDS_DIR)):
        return parts
    raise CondenseError(f"the server named an artifact {name!r}, which is "
                        f"not an output's name")


def _sharded_files(path):
    """A sharded safetensors checkpoint's index (when it has one) and the
    shards it maps tensors to; without an index, every *.safetensors file
    of the directory."""
    if os.path.isdir(path):
        indexes = sorted(f for f in os.listdir(path)
                         if f.endswith(".safetensors.index.json"))
        if len(indexes) > 1:
            raise InvalidArgument(f"{path} holds {len(indexes)} indexes "
                                  f"({', '.join(indexes)}): give the one to "
                                  f"upload")
        directory = path
        index = os.path.join(path, indexes[0]) if indexes else None
    elif os.path.isfile(path):
        directory, index = os.path.dirname(path) or ".", path
    else:
        raise InvalidArgument(f"{path} is neither a checkpoint directory nor "
                              f"its index file: check the path")
    if index is None:
        shards = sorted(f for f in os.listdir(directory)
                        if f.endswith(".safetensors"))
        if not shards:
            raise InvalidArgument(f"{path} holds no *.safetensors file")
        return [os.path.join(directory, f) for f in shards]
    try:
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidArgument(f"{index} is not a safetensors index (a JSON "
                              f"object with a weight_map): {e}") from None
    files = [index]
    for shard in shards:
        if not isinstance(shard, str) or os.path.basename(shard) != shard:
            raise InvalidArgument(f"{index} maps a tensor to {shard!r}, "
                                  f"which is not a file beside it")
        if not os.path.isfile(os.path.join(directory, shard)):
            raise InvalidArgument(f"{index} maps tensors to {shard}, which "
                                  f"is not in {directory}")
        files.append(os.path.join(directory, shard))
    return files


def _onnx_external_files(path, external_data):
    """The external data files an ONNX model's tensors name, beside it."""
    directory = os.path.dirname(path) or "."
    if external_data is not None:
        files = [os.fspath(f) for f in external_data]
    else:
        try:
            import onnx
        except ImportError:
            return []  # Inline weights, or the worker says what is missing.
        model = onnx.load(path, load_external_data=False)
        locations = []

        def tensors(graph):
            yield from graph.initializer
            for node in graph.node:
                for a in node.attribute:
                    if a.HasField("t"):
                        yield a.t
                    yield from a.tensors
                    if a.HasField("g"):
                        yield from tensors(a.g)
                    for g in a.graphs:
                        yield from tensors(g)
        for t in tensors(model.graph):
            if t.data_location == onnx.TensorProto.EXTERNAL:
                for kv in t.external_data:
                    if kv.key == "location" and kv.value not in locations:
                        locations.append(kv.value)
        files = [os.path.join(directory, loc) for loc in locations]
    for f in files:
        if os.path.dirname(os.path.relpath(f, directory)):
            raise InvalidArgument(
                f"{path} keeps external data in {f}, not beside it: the "
                f"service lays a model's files out in one directory; save "
                f"the model with location='model.onnx.data'")
        if not os.path.isfile(f):
            raise InvalidArgument(f"{path} names external data {f}, which "
                                  f"does not exist")
    return files


def _override_strings(overrides):
    """Spec overrides as the server takes them: "field.path=value". Keyword
    names use `__` for the dots: training__learning_rate=0.01."""
    out = []
    for key, value in overrides.items():
        # Strings go as they are (enum names, presets); the rest as JSON,
        # which is what the server parses (true, 0.5, [..], {..}).
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(f"{key.replace('__', '.')}={text}")
    return out


class Client:
    """A connection to a condense server.

    address: host:port (default $CONDENSE_ADDR, else 127.0.0.1:7350).
    token: bearer token (default $CONDENSE_TOKEN; none for an open server).
    tls: None/False for plaintext, True for TLS with the system's roots, a
      CA file path, or a Tls (default: $CONDENSE_TLS_CA when set).
    timeout: default seconds for each call (uploads and downloads: per
      transfer)."""

    def __init__(self, address=None, token=None, tls=None, timeout=60.0):
        self.address = address or os.environ.get("CONDENSE_ADDR",
                                                 DEFAULT_ADDRESS)
        token = token if token is not None else os.environ.get(
            "CONDENSE_TOKEN")
        self._metadata = (("authorization", f"Bearer {token}"),) if token \
            else ()
        self.timeout = timeout
        if tls is None and os.environ.get("CONDENSE_TLS_CA"):
            tls = Tls(os.environ["CONDENSE_TLS_CA"],
                      os.environ.get("CONDENSE_TLS_CERT"),
                      os.environ.get("CONDENSE_TLS_KEY"))
        options = [("grpc.max_receive_message_length", 16 << 20)]
        if tls:
            if tls is True:
                tls = Tls()
            elif isinstance(tls, str):
                tls = Tls(ca=tls)
            self._channel = grpc.secure_channel(self.address,
                                                tls.credentials(), options)
        else:
            self._channel = grpc.insecure_channel(self.address, options)
        self._blobs = blobs_pb2_grpc.BlobsStub(self._channel)
        self._models = models_pb2_grpc.ModelsStub(self._channel)
        self._jobs = jobs_pb2_grpc.JobsStub(self._channel)

    # -- lifetime ---------------------------------------------------------

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _timeout(self, timeout):
        return self.timeout if timeout is None else timeout

    def _call(self, method, request, timeout, what):
        try:
            return method(request, metadata=self._metadata,
                          timeout=self._timeout(timeout))
        except grpc.RpcError as e:
            raise from_rpc_error(e, what) from None

    # -- blobs ------------------------------------------------------------

    def upload_file(self, path, timeout=None):
        """Uploads one file as a blob (resumable, deduplicated); returns its
        condense.v1.Digest."""
        return _blobs.upload(self._blobs, os.fspath(path), self._metadata,
                             self._timeout(timeout))

    def download_blob(self, digest, path, timeout=None):
        """Downloads a blob to `path`, verified against its digest."""
        return _blobs.download(self._blobs, digest, os.fspath(path),
                               self._metadata, self._timeout(timeout))

    # -- models and datasets ----------------------------------------------

    def upload_model(self, model, name="", labels=None, format=None,
                     timeout=None, external_data=None):
        """Uploads a model and records it; returns the condense.v1.Model.

        model: a TorchScript file (torch.jit.save), a .safetensors state dict,
          an .onnx model, a sharded safetensors checkpoint (its directory or
          its *.safetensors.index.json; bf16, fp16 or fp32 shards), or a
          torch.jit.ScriptModule in memory. All but TorchScript are
          compressed data-free.
        format: "torchscript", "safetensors", "safetensors-sharded" or "onnx"
          (default: from the path).
        external_data: an ONNX model's external data files (default: the
          files its tensors name, found with the onnx package when it is
          installed)."""
        if hasattr(model, "save") and hasattr(model, "graph"):
            with tempfile.TemporaryDirectory(prefix="condense-") as tmp:
                path = os.path.join(tmp, "model.pt")
                model.save(path)
                return self.upload_model(path, name or "model.pt", labels,
                                         "torchscript", timeout)
        if hasattr(model, "state_dict"):
            raise InvalidArgument(
                "upload_model takes a TorchScript module: convert the "
                "nn.Module with torch.jit.script(model) or "
                "torch.jit.trace(model, example_input) first")
        path = os.fspath(model)
        if format is None:
            format = ("safetensors-sharded" if os.path.isdir(path) or
                      path.endswith(".index.json")
                      else "safetensors" if path.endswith(".safetensors")
                      else "onnx" if path.endswith(".onnx")
                      else "torchscript")
        formats = {"torchscript": models_pb2.Model.TORCHSCRIPT,
                   "safetensors": models_pb2.Model.SAFETENSORS,
                   "safetensors-sharded": models_pb2.Model.SAFETENSORS_SHARDED,
                   "onnx": models_pb2.Model.ONNX}
        if format not in formats:
            raise InvalidArgument(f"unknown model format {format!r}: use "
                                  f"{', '.join(map(repr, formats))}")
        if format == "safetensors-sharded":
            files = _sharded_files(path)
        elif not os.path.isfile(path):
            raise InvalidArgument(f"{path} is not a file: give the path of "
                                  f"a TorchScript, safetensors or ONNX "
                                  f"model, or a sharded checkpoint's "
                                  f"directory")
        elif format == "onnx":
            files = [path] + _onnx_external_files(path, external_data)
        else:
            files = [path]
        record = models_pb2.Model(
            display_name=name or os.path.basename(os.path.normpath(path)),
            format=formats[format], labels=labels or {})
        if len(files) == 1 and format != "safetensors-sharded":
            record.blob.CopyFrom(self.upload_file(files[0], timeout))
        else:
            for f in files:
                record.files.add(path=os.path.basename(f),
                                 blob=self.upload_file(f, timeout))
        return self._call(self._models.CreateModel,
                          models_pb2.CreateModelRequest(model=record),
                          timeout, f"creating the model from {path}")

    def upload_dataset(self, *paths, inputs=None, targets=None,
                       eval_inputs=None, eval_targets=None, train=None,
                       eval=None, name="", labels=None, timeout=None):
        """Uploads training (and evaluation) data; returns the
        condense.v1.Dataset.

        From files: paths of files or directories (their files), e.g. an
          MNIST-layout directory of IDX files or safetensors files holding
          `inputs` and optional `targets`; `train`/`eval` name the files
          to use (base names).
        From memory: inputs=/targets= (and eval_inputs=/eval_targets=),
          torch tensors or numpy arrays, written as safetensors on the fly."""
        if inputs is not None:
            if paths:
                raise InvalidArgument("give either dataset files or "
                                      "inputs=/targets= tensors, not both")
            with tempfile.TemporaryDirectory(prefix="condense-") as tmp:
                files = [self._write_split(tmp, "train", inputs, targets)]
                if eval_inputs is not None:
                    files.append(self._write_split(tmp, "eval", eval_inputs,
                                                   eval_targets))
                return self.upload_dataset(
                    *files, train="train.safetensors",
                    eval="eval.safetensors" if len(files) > 1 else None,
                    name=name, labels=labels, timeout=timeout)
        files = []
        for p in map(os.fspath, paths):
            if os.path.isdir(p):
                files += sorted(os.path.join(p, f) for f in os.listdir(p)
                                if os.path.isfile(os.path.join(p, f)))
            elif os.path.isfile(p):
                files.append(p)
            else:
                raise InvalidArgument(f"{p} is neither a file nor a "
                                      f"directory: check the path")
        if not files:
            raise InvalidArgument("no dataset files: give files, a "
                                  "directory, or inputs=/targets= tensors")
        base = [os.path.basename(f) for f in files]
        if len(set(base)) != len(base):
            raise InvalidArgument("two dataset files share a base name; "
                                  "they are laid out in one directory, so "
                                  "rename one")
        if train is None and len(files) == 1 and not os.path.isdir(
                os.fspath(paths[0])):
            train = files[0]  # One file: it is the training data.
        dataset = models_pb2.Dataset(display_name=name, labels=labels or {},
                                     train_file=os.path.basename(train or ""),
                                     eval_file=os.path.basename(eval or ""))
        for path, b in zip(files, base):
            dataset.files.add(path=b, blob=self.upload_file(path, timeout))
        return self._call(self._models.CreateDataset,
                          models_pb2.CreateDatasetRequest(dataset=dataset),
                          timeout, "creating the dataset")

    @staticmethod
    def _write_split(directory, split, inputs, targets):
        path = os.path.join(directory, f"{split}.safetensors")
        tensors = {"inputs": inputs}
        if targets is not None:
            if len(targets) != len(inputs):
                raise InvalidArgument(
                    f"{split}: {len(inputs)} inputs but {len(targets)} "
                    f"targets; give one target per sample")
            tensors["targets"] = targets
        _safetensors.write(path, tensors)
        return path

    def get_model(self, name, timeout=None):
        return self._call(self._models.GetModel, models_pb2.GetModelRequest(
            name=_resource("models", name)), timeout, "get model")

    def get_dataset(self, name, timeout=None):
        return self._call(self._models.GetDataset,
                          models_pb2.GetDatasetRequest(
                              name=_resource("datasets", name)),
                          timeout, "get dataset")

    # -- jobs -------------------------------------------------------------

    def submit(self, model, data=None, preset=None, spec=None,
               overrides=None, priority=0, labels=None, timeout=None,
               goal=None, **field_overrides):
        """Submits a compression job; returns its Job handle.

        model / data: a Model / Dataset (or its name), or a path to upload
          first (data=None: data-free, for specs that need no retraining).
        preset: a named spec (auto, deep-compression, prune, quantize, dsd,
          dsd+deep-compression; default auto with data, deep-compression
          without, unless `spec` names one); spec: a CompressionSpec or its JSON dict (protobuf's JSON
          mapping), applied over the preset. overrides / field_overrides: spec fields to
          set, e.g. {"fc.bits": 4} or fc__bits=4. goal: what the result
          must keep, for the auto preset (the default with a goal):
          "max-drop=0.5pt" (points of top-1, or a fraction "max-drop=0.005"),
          "max-bytes=20000" or "min-ratio=50x"."""
        if _is_local(model, "models") or hasattr(model, "graph"):
            model = self.upload_model(model, timeout=timeout)
        if data is not None and _is_local(data, "datasets"):
            data = self.upload_dataset(data, timeout=timeout)
        if preset is None and spec is None and goal is not None:
            preset = "auto"
        # Otherwise an unnamed preset is the server's default: auto (the
        # search) with data, deep-compression without.
        request = jobs_pb2.CreateJobRequest(
            model=_resource("models", model),
            dataset=_resource("datasets", data) if data is not None else "",
            preset=preset or "", priority=priority, labels=labels or {},
            # Makes a retried create return the first job, never a second.
            request_id=uuid.uuid4().hex)
        if spec is not None:
            if isinstance(spec, dict):
                from google.protobuf import json_format
                spec = json_format.ParseDict(spec, request.spec)
            else:
                request.spec.CopyFrom(spec)
        if goal is not None:
            request.spec.goal.CopyFrom(parse_goal(goal))
        all_overrides = dict(overrides or {})
        all_overrides.update(field_overrides)
        request.overrides.extend(_override_strings(all_overrides))
        job = self._retrying(self._jobs.CreateJob, request, timeout,
                             "submitting the job")
        return Job(self, job)

    def job(self, name):
        """A handle on an existing job ("jobs/ID" or ID)."""
        return Job(self, self.get_job(name))

    def get_job(self, name, timeout=None):
        return self._call(self._jobs.GetJob,
                          jobs_pb2.GetJobRequest(name=_resource("jobs", name)),
                          timeout, "get job")

    def list_jobs(self, state=None, limit=None, timeout=None):
        """Jobs of this tenant, newest first (every page fetched, up to
        `limit`); state: e.g. "RUNNING"."""
        request = jobs_pb2.ListJobsRequest(page_size=min(limit or 1000, 1000))
        if state:
            request.state = jobs_pb2.Job.State.Value(state) \
                if isinstance(state, str) else state
        jobs = []
        while True:
            response = self._call(self._jobs.ListJobs, request, timeout,
                                  "list jobs")
            jobs += response.jobs
            if not response.next_page_token or (limit and len(jobs) >= limit):
                return jobs[:limit] if limit else jobs
            request.page_token = response.next_page_token

    def _retrying(self, method, request, timeout, what,
                  attempts=retry.MAX_ATTEMPTS):
        for attempt in range(attempts):
            try:
                return method(request, metadata=self._metadata,
                              timeout=self._timeout(timeout))
            except grpc.RpcError as e:
                if not retry.is_transient(e.code()) or \
                        attempt == attempts - 1:
                    raise from_rpc_error(e, what) from None
                time.sleep(retry.backoff(attempt + 1))


class Job:
    """A handle on one job. `job` is the last condense.v1.Job seen; the
    methods refresh it."""

    def __init__(self, client, job):
        self._client = client
        self.job = job

    @property
    def name(self):
        return self.job.name

    @property
    def state(self):
        """"QUEUED", "RUNNING", "SUCCEEDED", "FAILED" or "CANCELLED"."""
        return _state_name(self.job.state)

    def __repr__(self):
        return f"<condense.Job {self.name} {self.state}>"

    def refresh(self, timeout=None):
        self.job = self._client.get_job(self.name, timeout)
        return self.job

    def done(self, timeout=None):
        """Whether the job has ended (asks the server)."""
        return self.refresh(timeout).done

    def cancel(self, timeout=None):
        """Asks for cancellation (best effort: a running job ends CANCELLED
        once its worker stops)."""
        self.job = self._client._call(
            self._client._jobs.CancelJob,
            jobs_pb2.CancelJobRequest(name=self.name), timeout, "cancel job")
        return self.job

    def events(self, from_sequence=1, timeout=None):
        """Yields the job's condense.v1.JobEvent messages from
        `from_sequence`, live, until the job ends. A broken stream (network,
        server restart) is resumed after the last event seen, so none is
        missed or repeated. timeout: seconds for the whole iteration."""
        deadline = None if timeout is None else time.monotonic() + timeout
        next_sequence, failures = max(from_sequence, 1), 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"{self.name}: still {self.state} after {timeout}s of "
                    f"events", grpc.StatusCode.DEADLINE_EXCEEDED)
            try:
                stream = self._client._jobs.WatchJob(
                    jobs_pb2.WatchJobRequest(name=self.name,
                                             from_sequence=next_sequence),
                    metadata=self._client._metadata, timeout=remaining)
                for event in stream:
                    failures = 0
                    next_sequence = event.sequence + 1
                    if event.kind == jobs_pb2.JobEvent.STATE_CHANGED:
                        self.job.state = event.state
                    yield event
                if self.refresh().done:
                    return
            except grpc.RpcError as e:
                code = e.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and \
                        deadline is not None:
                    continue  # Reported above with the job's state.
                # The server ends streams CANCELLED when it shuts down.
                if not retry.is_transient(code, stream=True) or \
                        failures >= retry.MAX_ATTEMPTS:
                    raise from_rpc_error(e, f"watching {self.name}") from None
                failures += 1
                time.sleep(retry.backoff(failures))

    def wait(self, timeout=None):
        """Blocks until the job ends or `timeout` seconds pass (None:
        forever); returns the condense.v1.Job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.job.done:
            remaining = 600.0 if deadline is None else \
                min(600.0, deadline - time.monotonic())
            if remaining <= 0:
                raise DeadlineExceeded(
                    f"{self.name} is still {self.state} after {timeout}s",
                    grpc.StatusCode.DEADLINE_EXCEEDED)
            try:
                self.job = self._client._jobs.WaitJob(
                    jobs_pb2.WaitJobRequest(name=self.name,
                                            timeout_seconds=remaining),
                    metadata=self._client._metadata, timeout=remaining + 30)
            except grpc.RpcError as e:
                if not retry.is_transient(e.code(), stream=True):
                    raise from_rpc_error(e, f"waiting for {self.name}") \
                        from None
                time.sleep(retry.backoff(1))
        return self.job

    def result(self, timeout=None):
        """Waits for the job; returns its condense.v1.JobResult. Raises
        JobFailed / JobCancelled (with the server's reason) otherwise."""
        job = self.wait(timeout)
        if job.state == jobs_pb2.Job.FAILED:
            raise JobFailed(f"{self.name} failed: {job.error.message}", job)
        if job.state == jobs_pb2.Job.CANCELLED:
            raise JobCancelled(f"{self.name} was cancelled: "
                               f"{job.error.message}", job)
        return job.result

    @property
    def report(self):
        """report.json of a finished job, as a dict."""
        if self.job.state != jobs_pb2.Job.SUCCEEDED:
            self.refresh()
        if self.job.state != jobs_pb2.Job.SUCCEEDED:
            raise FailedPrecondition(
                f"{self.name} is {self.state}: a report exists once it has "
                f"SUCCEEDED (call result() to wait)")
        return json.loads(self.job.result.report_json)

    def download(self, directory, files=None, timeout=None):
        """Downloads the job's artifacts (model.cdz, model.pt,
        model.safetensors, model.onnx, model-shards/FILE, report.json,
        report.html; or only `files`) into `directory`, each verified;
        returns {file name: path}."""
        result = self.result(timeout)
        wanted = set(files) if files else None
        paths = {}
        for artifact in result.artifacts:
            if wanted is not None and artifact.file_name not in wanted:
                continue
            path = os.path.join(os.fspath(directory),
                                *_artifact_parts(artifact.file_name))
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            paths[artifact.file_name] = self._client.download_blob(
                artifact.blob, path, timeout)
        missing = (wanted or set()) - set(paths)
        if missing:
            raise CondenseError(f"{self.name} has no artifact named "
                                f"{sorted(missing)}; it has "
                                f"{[a.file_name for a in result.artifacts]}")
        return paths


def parse_goal(text):
    """A Goal from its one-flag form, as the CLI's --goal takes it:
    "max-drop=0.5pt" (points of top-1) or "max-drop=0.005" (a fraction),
    "max-bytes=20000", "min-ratio=50" (or "50x")."""
    key, sep, value = str(text).partition("=")
    key, value = key.strip(), value.strip()
    usage = ("write max-drop=0.5pt (or a fraction, max-drop=0.005), "
             "max-bytes=20000 or min-ratio=50")
    if not sep:
        raise ValueError(f"goal {text!r} has no '=': {usage}")
    scale = 1.0
    if key == "max-drop" and value.endswith("pt"):
        value, scale = value[:-2], 0.01
    if key == "min-ratio" and value.endswith("x"):
        value = value[:-1]
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0 or number == float("inf"):
        raise ValueError(
            f"goal {text!r} has no non-negative number after '=': {usage}")
    goal = spec_pb2.Goal()
    if key == "max-drop":
        goal.max_accuracy_drop = number * scale
    elif key == "max-bytes":
        if number < 1 or number != int(number):
            raise ValueError(f"goal {text!r} needs a whole number of bytes "
                             f"of at least 1: {usage}")
        goal.max_bytes = int(number)
    elif key == "min-ratio":
        goal.min_ratio = number
    else:
        raise ValueError(f"goal {text!r} names {key!r}, which is not a goal: "
                         f"{usage}")
    return goal


def compress(model, data=None, preset=None, *, address=None,
             token=None, tls=None, out_dir=None, timeout=None, on_event=None,
             overrides=None, goal=None, **field_overrides):
    """Uploads `model` and `data`, compresses with `preset` (default auto
    with data, deep-compression without; spec overrides and the goal as for
    Client.submit), waits, and returns (compressed
    TorchScript module, report dict). The files (model.cdz and the rest) are
    kept in `out_dir` when given. on_event: called with each JobEvent while
    the job runs."""
    import torch
    with Client(address, token, tls) as client:
        job = client.submit(model, data, preset=preset, overrides=overrides,
                            goal=goal, **field_overrides)
        if on_event is not None:
            for event in job.events(timeout=timeout):
                on_event(event)
        job.result(timeout)
        directory = out_dir or tempfile.mkdtemp(prefix="condense-")
        try:
            paths = job.download(directory, timeout=timeout)
            if "model.pt" not in paths:
                raise CondenseError(
                    f"{job.name} returned no TorchScript model.pt (the model "
                    f"was not TorchScript); its files: {sorted(paths)}")
            return torch.jit.load(paths["model.pt"]), job.report
        finally:
            if out_dir is None:
                shutil.rmtree(directory, ignore_errors=True)
