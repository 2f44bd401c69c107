"""Builds the condense SDK wheel: the package sources, stubs generated from
the repository's proto/ (with protoc and gRPC's Python plugin, as the CMake
build does) and libcdz, the .cdz decoder behind condense.load_cdz (built
from codec/ with CMake, or taken from $CONDENSE_LIBCDZ when that names a
built one). Run from a checkout:

    /usr/bin/python3 -m pip wheel --no-build-isolation --no-deps client/python
"""
import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROTO = os.path.join(ROOT, "proto")
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
        shutil.copy(self.libcdz(),
                    os.path.join(self.build_lib, "condense", "libcdz.so.1"))

    def libcdz(self):
        given = os.environ.get("CONDENSE_LIBCDZ")
        if given:
            if not os.path.isfile(given):
                raise SystemExit(f"CONDENSE_LIBCDZ={given} is not a file")
            return given
        if not shutil.which("cmake"):
            raise SystemExit("building libcdz needs cmake (or set "
                             "CONDENSE_LIBCDZ to a built libcdz.so)")
        out = os.path.join(os.path.abspath(self.build_temp or "build"),
                           "libcdz")
        subprocess.run(
            ["cmake", "-S", ROOT, "-B", out, "-DCMAKE_BUILD_TYPE=Release",
             "-DCONDENSE_BUILD_TESTS=OFF", "-DCONDENSE_BUILD_ENGINE=OFF",
             "-DCONDENSE_BUILD_SERVICE=OFF", "-DCONDENSE_BUILD_CLI=OFF"],
            check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", out, "--target", "cdz_c", "-j",
                        str(os.cpu_count() or 2)], check=True)
        return os.path.join(out, "codec", "libcdz.so.1")


class WithNativeCode(Distribution):
    """libcdz is native code: the wheel is tagged for this platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithStubs}, distclass=WithNativeCode)
