"""Blob transfer over condense.v1.Blobs: resumable, verified uploads and
downloads that never hold a whole file in memory."""

import hashlib
import os
import tempfile
import time

import grpc

from condense import retry
from condense.errors import CondenseError, from_rpc_error
from condense.v1 import blobs_pb2, common_pb2

CHUNK_BYTES = 1 << 20  # Well under gRPC's 4 MiB message cap.


def digest_file(path):
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES * 4):
            h.update(chunk)
            size += len(chunk)
    return common_pb2.Digest(sha256=h.hexdigest(), size_bytes=size)


def blob_name(digest):
    return f"blobs/{digest.sha256}/{digest.size_bytes}"


def upload_name(digest):
    # The same file always maps to the same upload, so running an
    # interrupted upload again resumes it (the CLI does the same).
    return (f"uploads/{digest.sha256[:32]}-{digest.size_bytes}/"
            f"{blob_name(digest)}")


def _backoff(attempt):
    time.sleep(retry.backoff(attempt + 1))


def upload(stub, path, metadata, timeout, attempts=5):
    """Uploads `path`; returns its Digest. Resumes from what the server
    already holds (after a broken stream or a server restart)."""
    digest = digest_file(path)
    name = upload_name(digest)
    size = digest.size_bytes
    last = None
    for attempt in range(attempts):
        if attempt:
            _backoff(attempt)
        try:
            status = stub.QueryWriteStatus(
                blobs_pb2.QueryWriteStatusRequest(resource_name=name),
                metadata=metadata, timeout=30)
            if status.complete:
                return digest
            offset = status.committed_size
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                offset = 0
            elif retry.is_transient(e.code(), stream=True):
                last = e
                continue
            else:
                raise from_rpc_error(e, f"upload of {path}") from None

        def requests(offset=offset):
            with open(path, "rb") as f:
                f.seek(offset)
                position = offset
                while True:
                    data = f.read(min(CHUNK_BYTES, size - position))
                    end = position + len(data)
                    yield blobs_pb2.WriteRequest(
                        resource_name=name if position == offset else "",
                        write_offset=position, finish_write=end >= size,
                        data=data)
                    position = end
                    if position >= size:
                        return
        try:
            response = stub.Write(requests(), metadata=metadata,
                                  timeout=timeout)
            if response.committed_size == size:
                return digest
            last = None
        except grpc.RpcError as e:
            if not retry.is_transient(e.code(), stream=True):
                raise from_rpc_error(e, f"upload of {path}") from None
            last = e
    if last is not None:
        raise from_rpc_error(last, f"upload of {path} (gave up after "
                                   f"{attempts} attempts)") from None
    raise CondenseError(f"upload of {path}: the server did not take all "
                        f"{size} bytes after {attempts} attempts")


def download(stub, digest, path, metadata, timeout, attempts=5):
    """Downloads a blob to `path` atomically: bytes go to a temporary file
    beside it, are checked against the digest, and only then renamed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".condense-")
    try:
        h, received, last = hashlib.sha256(), 0, None
        with os.fdopen(fd, "wb") as out:
            for attempt in range(attempts):
                if attempt:
                    _backoff(attempt)
                try:
                    for chunk in stub.Read(
                            blobs_pb2.ReadRequest(resource_name=blob_name(digest),
                                                  read_offset=received),
                            metadata=metadata, timeout=timeout):
                        out.write(chunk.data)
                        h.update(chunk.data)
                        received += len(chunk.data)
                    last = None
                    break
                except grpc.RpcError as e:
                    if not retry.is_transient(e.code(), stream=True):
                        raise from_rpc_error(e, f"download of {blob_name(digest)}") from None
                    last = e  # Go on from `received`.
        if last is not None:
            raise from_rpc_error(last, f"download of {blob_name(digest)}")
        if received != digest.size_bytes or h.hexdigest() != digest.sha256:
            raise CondenseError(
                f"download of {blob_name(digest)}: got {received} bytes with "
                f"sha256 {h.hexdigest()}; nothing was written to {path}")
        os.replace(temp, path)
        temp = None
    finally:
        if temp is not None:
            os.unlink(temp)
    return path
