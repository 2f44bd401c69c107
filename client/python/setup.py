"""Builds the condense SDK wheel: the package sources plus stubs generated
from the repository's proto/ (with protoc and gRPC's Python plugin, as the
CMake build does). Run from a checkout:

    /usr/bin/python3 -m pip wheel --no-build-isolation --no-deps client/python
"""
import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PUBLIC = ["condense/v1/spec.proto", "condense/v1/common.proto",
          "condense/v1/blobs.proto", "condense/v1/models.proto",
          "condense/v1/jobs.proto"]


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        plugin = shutil.which("grpc_python_plugin")
        if not os.path.isdir(PROTO) or not plugin or not shutil.which("protoc"):
            raise SystemExit(
                "building the condense SDK needs the repository's proto/, "
                "protoc and grpc_python_plugin (Debian: protobuf-compiler, "
                "protobuf-compiler-grpc)")
        subprocess.run(
            ["protoc", f"-I{PROTO}", f"--python_out={self.build_lib}",
             f"--grpc_python_out={self.build_lib}",
             f"--plugin=protoc-gen-grpc_python={plugin}"] + PUBLIC,
            check=True)
        # The retry policy the CLI and the workers embed too.
        shutil.copy(os.path.join(PROTO, "condense", "v1", "retry_policy.json"),
                    os.path.join(self.build_lib, "condense"))
        # Generated packages (condense/v1) are namespace packages inside
        # condense; list them so setuptools ships them.
        for path in glob.glob(os.path.join(self.build_lib, "condense", "v1")):
            open(os.path.join(path, "__init__.py"), "a").close()


setup(cmdclass={"build_py": BuildWithStubs})
