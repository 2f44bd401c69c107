"""condense: Deep Compression as a service, from Python.

    import condense
    with condense.Client("127.0.0.1:7350") as c:
        job = c.submit("lenet.pt", c.upload_dataset("fashion-mnist/"))
        for event in job.events():
            print(event.stage, event.accuracy)
        job.download("out/")
        print(job.report["totals"]["compression_ratio"])

or in one call: `model, report = condense.compress("lenet.pt", data)`.

Without a server, `condense.load_cdz("model.cdz")` decodes a compressed
model to tensors and `condense.load_into(module, "model.cdz")` loads it into
a model (condense.cdz)."""

from condense.cdz import CdzError, CdzFile, load_cdz, load_into
from condense.client import Client, Job, Tls, compress
from condense.errors import *  # noqa: F401,F403 (the exception classes)
from condense.errors import __all__ as _errors

__version__ = "0.1.0"
__all__ = ["CdzError", "CdzFile", "Client", "Job", "Tls", "compress",
           "load_cdz", "load_into"] + _errors
