"""Exceptions the SDK raises: one class per meaningful gRPC status, each
carrying the server's message (which says what was wrong and what to do)."""

import grpc

__all__ = [
    "CondenseError", "InvalidArgument", "NotFound", "AlreadyExists",
    "FailedPrecondition", "OutOfRange", "ResourceExhausted",
    "Unauthenticated", "PermissionDenied", "Unavailable", "DeadlineExceeded",
    "DataLoss", "Internal", "JobFailed", "JobCancelled",
]


class CondenseError(Exception):
    """Base of every condense error. `code` is the grpc.StatusCode (None for
    errors raised on this side), `message` the server's text."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidArgument(CondenseError):
    """A bad input: fix the request (the message says which field)."""


class NotFound(CondenseError):
    """No such model, dataset, job or blob for this tenant."""


class AlreadyExists(CondenseError):
    pass


class FailedPrecondition(CondenseError):
    """The object is in the wrong state for the call (e.g. a job not done)."""


class OutOfRange(CondenseError):
    pass


class ResourceExhausted(CondenseError):
    """A quota or size limit: too many queued jobs, a blob too large."""


class Unauthenticated(CondenseError):
    """No token or an unknown one: pass token= or set CONDENSE_TOKEN."""


class PermissionDenied(CondenseError):
    pass


class Unavailable(CondenseError):
    """The server cannot be reached or is shutting down; retrying may work."""


class DeadlineExceeded(CondenseError):
    """The call's timeout passed before the server answered."""


class DataLoss(CondenseError):
    """Stored bytes do not match their digest."""


class Internal(CondenseError):
    """A broken invariant on the server: please report it."""


class JobFailed(CondenseError):
    """The job ended FAILED; `job` is the final condense.v1.Job."""

    def __init__(self, message, job):
        super().__init__(message)
        self.job = job


class JobCancelled(CondenseError):
    """The job ended CANCELLED; `job` is the final condense.v1.Job."""

    def __init__(self, message, job):
        super().__init__(message)
        self.job = job


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.INTERNAL: Internal,
}

def from_rpc_error(error, what=None):
    """The condense exception for a grpc.RpcError (`what` prefixes the
    message with the operation, e.g. "upload of model.pt")."""
    code = error.code()
    message = error.details() or code.name
    if what:
        message = f"{what}: {message}"
    return _BY_CODE.get(code, CondenseError)(message, code)
