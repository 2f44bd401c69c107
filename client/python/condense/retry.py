"""The retry policy of condense's clients, read from retry_policy.json (the
repository's proto/condense/v1/retry_policy.json, which the CLI and the
workers embed too): which failed calls are worth another attempt and how
long to wait before it."""
import json
import os

import grpc

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load():
    for path in (os.path.join(_HERE, "retry_policy.json"),
                 os.path.join(_HERE, "..", "..", "..", "proto", "condense",
                              "v1", "retry_policy.json")):
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    raise ImportError("condense: retry_policy.json is missing from the "
                      "package; rebuild it")


_POLICY = _load()
TRANSIENT = tuple(grpc.StatusCode[c] for c in _POLICY["transient"])
STREAM_TRANSIENT = TRANSIENT + tuple(
    grpc.StatusCode[c] for c in _POLICY["stream_transient"])
MAX_ATTEMPTS = int(_POLICY["max_attempts"])


def is_transient(code, stream=False):
    """Whether a call that failed with grpc.StatusCode `code` should be
    tried again (`stream`: uploads, downloads and watches)."""
    return code in (STREAM_TRANSIENT if stream else TRANSIENT)


def backoff(retry):
    """Seconds to wait before retry number `retry` (1 for the first)."""
    p = _POLICY
    return min(p["max_backoff_seconds"], p["initial_backoff_seconds"] *
               p["backoff_multiplier"] ** (max(retry, 1) - 1))
