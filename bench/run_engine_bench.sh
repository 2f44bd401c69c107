#!/usr/bin/env bash
# The engine's measured targets, in one run on this machine:
#  1. LeNet-300-100 and LeNet-5 (Caffe form) on Fashion-MNIST through
#     condense-worker run --preset deep-compression: ratio (before and after
#     Huffman), accuracy against the dense baseline, bits per layer;
#  2. wall time of the LeNet-300-100 pipeline against bench/pytorch_pipeline.py
#     doing the same steps in PyTorch, alternating, three runs each;
#  3. k-means on 10M weights (bench/kmeans_bench).
# Prints the markdown that docs/benchmarks.md holds.
#   bench/run_engine_bench.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-build/engine_bench}
DATA=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3
mkdir -p "$WORK"
cmake --preset release >/dev/null
cmake --build build/release --target condense-worker kmeans_bench >/dev/null
WORKER=build/release/worker/condense-worker

for m in lenet300 lenet5; do
  [[ -f "$WORK/$m.pt" ]] ||
    $PY examples/train_lenet.py "$m" "$WORK/$m.pt" >"$WORK/$m.train.log"
done

seconds() { /usr/bin/time -f %e -o "$1" "${@:2}"; }
# Same schedule as the deep-compression preset: 3 pruning steps of 2 epochs
# at sensitivity 2.5 (fc), 5-bit k-means with linear init, 2 epochs of
# trained quantization; Adam 1e-3 / 1e-4, batch 128, 2 threads.
# Engine and script alternate, three runs each: this shared VM's speed moves
# by tens of percent between minutes, so the table gives min and median.
for rep in 1 2 3; do
  seconds "$WORK/engine300.$rep.time" $WORKER run --model "$WORK/lenet300.pt" \
    --data "$DATA" --preset deep-compression --threads 2 --quiet \
    --out "$WORK/lenet300" 2>"$WORK/lenet300.log"
  seconds "$WORK/torch300.$rep.time" $PY bench/pytorch_pipeline.py \
    "$WORK/lenet300.pt" --prune-steps 3 --epochs-per-step 2 \
    --sensitivity 2.5 --quant-epochs 2 --bits 5 --lr 1e-3 --quant-lr 1e-4 \
    --batch-size 128 --threads 2 --json "$WORK/torch300.json" \
    >"$WORK/torch300.log"
done
seconds "$WORK/engine5.time" $WORKER run --model "$WORK/lenet5.pt" \
  --data "$DATA" --preset deep-compression --threads 2 --quiet \
  --out "$WORK/lenet5" 2>"$WORK/lenet5.log"
taskset -c 0 build/release/bench/kmeans_bench \
  --benchmark_out="$WORK/kmeans.json" --benchmark_out_format=json \
  >"$WORK/kmeans.log"
$PY bench/engine_bench_table.py "$WORK"
