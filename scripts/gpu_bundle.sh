#!/usr/bin/env bash
# Packs, on this Debian machine, what scripts/gpu_check.sh needs on the
# device machine, which has CUDA, CMake, ninja and PyTorch (with its
# LibTorch) but no Debian packages: the headers, libraries, CMake files and
# protoc of Debian's absl, protobuf, ONNX, nlohmann-json, CLI11, GoogleTest,
# zlib and OpenSSL, and Fashion-MNIST. Writes build/gpu-bundle/ (about 40 MiB;
# the device tool carries it: carry ["build/gpu-bundle"]).
# Usage: bash scripts/gpu_bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/gpu-bundle
PACKAGES=(libabsl-dev libabsl20220623 libprotobuf-dev libprotobuf32
  libprotoc32 protobuf-compiler libonnx-dev libonnx1 nlohmann-json3-dev
  libcli11-dev libgtest-dev libgmock-dev zlib1g-dev zlib1g
  libssl-dev libssl3)
missing=$(dpkg-query -W -f '${Package} ${Status}\n' "${PACKAGES[@]}" 2>&1 |
  grep -v ' installed$' || true)
if [[ -n "$missing" ]]; then
  echo "gpu_bundle: not installed: $missing (run scripts/bootstrap.sh)" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/fashion-mnist"
# Files only (dpkg lists directories too); static archives that have a
# shared twin, documentation and GoogleTest's sources are left behind.
dpkg -L "${PACKAGES[@]}" | sort -u | while read -r f; do
  [[ -f "$f" || -L "$f" ]] || continue
  case "$f" in
    /usr/share/doc/* | /usr/share/man/* | /usr/src/* | /usr/share/lintian/*) continue ;;
    */libprotobuf*.a | */libprotoc.a | */libssl.a | */libcrypto.a | */libz.a) continue ;;
  esac
  echo "${f#/}"
done > "$OUT/files.txt"
tar -C / -czf "$OUT/deps.tar.gz" -T "$OUT/files.txt"
cp /usr/share/datasets/fashion-mnist/*.gz "$OUT/fashion-mnist/"
du -sh "$OUT"
