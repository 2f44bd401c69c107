#!/usr/bin/env bash
# The main job, end to end on this machine: install what is missing, build,
# train LeNet-300-100 on Fashion-MNIST (a dense TorchScript model), compress
# it with condense's engine (iterative pruning with retraining, k-means
# weight sharing with trained quantization, Huffman coding), check the
# returned TorchScript model equals the .cdz bit for bit and scores what the
# report says, and show where the bytes went.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

cmake --preset release -DCONDENSE_BUILD_TESTS=OFF -DCONDENSE_BUILD_BENCH=OFF
cmake --build build/release --target condense-worker cdz

OUT=build/demo
mkdir -p "$OUT"
DATA=/usr/share/datasets/fashion-mnist
step() { printf '\n== %s\n' "$*"; }

if [[ ! -f "$OUT/lenet300.pt" ]]; then
  step "train the dense LeNet-300-100 on Fashion-MNIST (TorchScript)"
  /usr/bin/python3 examples/train_lenet.py lenet300 "$OUT/lenet300.pt"
fi
step "compress it: condense-worker run --preset deep-compression"
build/release/worker/condense-worker run --model "$OUT/lenet300.pt" \
  --data "$DATA" --preset deep-compression --out "$OUT/compressed"
step "check: model.pt equals the .cdz, and scores what report.json says"
/usr/bin/python3 tests/check_outputs.py "$OUT/compressed" --data "$DATA" \
  --eval-samples 10000 --sample-shape 784
step "where the bytes are"
build/release/codec/cdz inspect "$OUT/compressed/model.cdz"
ls -l "$OUT/lenet300.pt" "$OUT/compressed"
