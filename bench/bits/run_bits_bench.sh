#!/usr/bin/env bash
# Fewer bits for the same accuracy: the context coder against Huffman on the
# same weights, and rate-aware quantization against today's recipe, on
# LeNet-300-100 and LeNet-5 trained by examples/train_lenet.py (seed 1) on
# Fashion-MNIST, judged on t10k.
#
#   bash bench/bits/run_bits_bench.sh BUILD_DIR [LAMBDAS] [MODELS]
#
# (defaults: "0.005 0.01", "lenet300 lenet5"). For each model it runs
#   baseline: --preset deep-compression with importance NONE (today's recipe)
#   rate:     deep-compression with importance (squared gradients), the
#             quantize stage's rate_lambda set to each LAMBDA and 4 epochs
# and prints, per run, the file's bytes as written (each tensor in its
# smallest encoding) and as it would be with every quantized tensor
# Huffman-coded (from `cdz inspect`'s alternatives: the same weights), with
# the t10k accuracy. Outputs go to build/bench-bits; the worker binary is
# copied first, so rebuilding while this runs changes nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
LAMBDAS=${2:-"0.005 0.01"}
MODELS=${3:-"lenet300 lenet5"}
OUT=build/bench-bits
DATA=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
cp "$BUILD/worker/condense-worker" "$OUT/condense-worker"
cp "$BUILD/codec/cdz" "$OUT/cdz"
run() {  # NAME MODEL ARGS...
  local name=$1 model=$2
  shift 2
  local dir="$OUT/$model-$name"
  if [[ ! -f "$dir/report.json" ]]; then
    "$OUT/condense-worker" run --model "$OUT/$model-seed1.pt" --data "$DATA" \
      --preset deep-compression "$@" --out "$dir" --threads 2 --quiet \
      > "$dir.log" 2>&1
  fi
  "$OUT/cdz" inspect --output json "$dir/model.cdz" > "$dir/inspect.json"
  echo "$model $name $dir"
}
rows=()
for model in $MODELS; do
  if [[ ! -f "$OUT/$model-seed1.pt" ]]; then
    /usr/bin/python3 examples/train_lenet.py "$model" "$OUT/$model-seed1.pt" \
      --seed 1 --threads 2 >&2
  fi
  rows+=("$(run baseline "$model" --set stages[1].quantize.importance=NONE)")
  for lam in $LAMBDAS; do
    rows+=("$(run "rate$lam" "$model" --set "stages[1].quantize.rate_lambda=$lam" \
      --set stages[1].quantize.epochs=4)")
  done
done
printf '%s\n' "${rows[@]}" | /usr/bin/python3 bench/bits/bits_table.py
