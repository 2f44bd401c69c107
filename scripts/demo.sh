#!/usr/bin/env bash
# The main job, end to end on this machine: install what is missing, build,
# train LeNet-300-100 on Fashion-MNIST (pruned to 8/9/26% and 5-bit
# k-means quantized), pack it into a .cdz, inspect and verify it, decompress
# it to safetensors and show the decoded model scores the same.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

cmake --preset release -DCONDENSE_BUILD_TESTS=OFF -DCONDENSE_BUILD_BENCH=OFF
cmake --build build/release --target cdz

OUT=build/demo
mkdir -p "$OUT"
CDZ=build/release/codec/cdz
step() { printf '\n== %s\n' "$*"; }

step "train, prune and quantize LeNet-300-100 on Fashion-MNIST"
/usr/bin/python3 scripts/lenet_demo.py train "$OUT/lenet.safetensors"
step "pack into .cdz (Huffman-coded indices and relative positions)"
"$CDZ" pack "$OUT/lenet.safetensors" -o "$OUT/lenet.cdz" \
  --manifest model=LeNet-300-100
step "inspect"
"$CDZ" inspect "$OUT/lenet.cdz"
step "verify every checksum and decode every tensor"
"$CDZ" verify "$OUT/lenet.cdz"
step "decompress to safetensors and evaluate the decoded model"
"$CDZ" decompress "$OUT/lenet.cdz" -o "$OUT/lenet.decoded.safetensors"
/usr/bin/python3 scripts/lenet_demo.py eval "$OUT/lenet.decoded.safetensors"
step "sizes on disk"
ls -l "$OUT"/lenet.safetensors "$OUT"/lenet.cdz
