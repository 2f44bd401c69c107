"""The SDK retries as the CLI and the workers do: all read the one
proto/condense/v1/retry_policy.json (the C++ side is tested by
proto/retry_policy_test.cc against the same values)."""
import json
import os

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, "..", "..", "proto", "condense", "v1",
                      "retry_policy.json")


def test_the_sdk_ships_and_applies_the_repository_policy(stubs):
    from condense import retry
    with open(os.path.join(stubs, "condense", "retry_policy.json")) as f:
        shipped = json.load(f)
    with open(POLICY) as f:
        assert shipped == json.load(f)
    assert retry.is_transient(grpc.StatusCode.UNAVAILABLE)
    assert retry.is_transient(grpc.StatusCode.ABORTED)
    assert not retry.is_transient(grpc.StatusCode.CANCELLED)
    assert retry.is_transient(grpc.StatusCode.CANCELLED, stream=True)
    assert not retry.is_transient(grpc.StatusCode.INVALID_ARGUMENT,
                                  stream=True)
    assert retry.backoff(1) == 0.2
    assert retry.backoff(2) == 0.4
    assert retry.backoff(50) == 5.0
    assert retry.MAX_ATTEMPTS == 30
