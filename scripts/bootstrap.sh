#!/usr/bin/env bash
# Installs every Debian package condense needs to build, test and run its
# demo (--build-only: just what a release build needs). Idempotent: packages
# already present are not touched, and apt is not consulted at all when
# nothing is missing.
set -euo pipefail

# What a release build needs (--build-only: the container images).
BUILD_PACKAGES=(
  # Toolchain and build.
  build-essential cmake ninja-build ccache pkg-config git
  # Libraries.
  libabsl-dev libzstd-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libprotobuf-dev protobuf-compiler
  # The service: gRPC, metadata, TLS, /metrics, logs.
  libgrpc++-dev protobuf-compiler-grpc libsqlite3-dev sqlite3 libssl-dev openssl
  libcivetweb-dev civetweb libspdlog-dev
  # The engine (worker/engine): LibTorch 1.13 CPU; ONNX models (codec/).
  libtorch-dev libonnx-dev
  # LibTorch on Debian uses reference BLAS (15x slower) without this.
  libopenblas0-openmp
)

PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  # Sanitizers, fuzzing, linters.
  clang-14 libclang-rt-14-dev clang-format clang-tidy
  # Tests and benchmarks of the service: promtool, a TCP baseline, the
  # Python integration tests.
  prometheus iperf3 python3-grpcio python3-grpc-tools python3-pytest
  # The web view's browser test; deploy/check.py reads YAML.
  chromium chromium-driver python3-yaml
  # Demo and model scripts: Debian's torch lives under /usr/bin/python3.
  python3 python3-numpy python3-torch python3-torchvision
  # ONNX models: export and check (python3-onnx), run them with ONNX
  # Runtime from npm (tests/onnx).
  python3-onnx nodejs
  # Real data for demos and tests.
  dataset-fashion-mnist
  zstd
)

# Debian's npm conflicts with NodeSource's nodejs, which bundles its own npm.
if ! command -v npm >/dev/null; then PACKAGES+=(npm); fi

if [[ "${1:-}" == "--build-only" ]]; then
  PACKAGES=("${BUILD_PACKAGES[@]}")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for the ONNX tests, pinned by tests/onnx/package-lock.json.
# Its install script would download GPU binaries; the CPU runtime ships
# inside the package.
ONNX_TESTS="$(dirname "$0")/../tests/onnx"
if [[ "${1:-}" != "--build-only" && ! -d "$ONNX_TESTS/node_modules" ]]; then
  (cd "$ONNX_TESTS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
