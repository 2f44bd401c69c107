#!/usr/bin/env bash
# Peak memory of retraining (deep-compression: one pruning step of one
# epoch, one epoch of trained quantization, 2,048 Fashion-MNIST samples,
# batch 128) on LeNet-5 and a ResNet-18 shaped for 28x28, against the bound
# 4 x (model + optimizer state + one batch). The process's fixed part
# (LibTorch, the data) is measured apart: the same run's inputs through the
# data-free quantize preset on a tiny model.
# Usage: bench/zoo/run_retrain_rss.sh [BUILD_DIR]; prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
WORK=${ZOO:-/tmp/condense-zoo}/retrain
PY=/usr/bin/python3
WORKER=$BUILD/worker/condense-worker
DATA=/usr/share/datasets/fashion-mnist
mkdir -p "$WORK"
$PY bench/zoo/make_retrain_models.py "$WORK" >&2
SET=(--set training.max_train_samples=2048 --set training.max_eval_samples=1024
     --set stages[0].prune.steps=1 --set stages[0].prune.epochs_per_step=1
     --set stages[1].quantize.epochs=1 --threads 2)
rss() {  # peak RSS in MiB of the command
  /usr/bin/time -f '%M' -o "$WORK/rss.txt" "$@" > /dev/null
  echo $(( $(cat "$WORK/rss.txt") / 1024 ))
}
echo "| model | params | model MiB | Adam state MiB | batch MiB | bound 4x(sum) MiB | peak RSS MiB | fixed part MiB | peak - fixed MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for name in lenet5 resnet18_28; do
  params=$($PY -c "import torch; m=torch.jit.load('$WORK/$name.pt'); print(sum(p.numel() for p in m.parameters()))")
  peak=$(rss "$WORKER" run --model "$WORK/$name.pt" --data "$DATA" \
    --preset deep-compression "${SET[@]}" --out "$WORK/out-$name" --quiet)
  # The fixed part: LibTorch and the loaded data, with a model of no size.
  fixed=$(rss "$WORKER" run --model "$WORK/lenet5.pt" --data "$DATA" \
    --preset deep-compression --set training.max_train_samples=2048 \
    --set training.max_eval_samples=1024 --set stages[0].prune.steps=1 \
    --set stages[0].prune.epochs_per_step=0 --set stages[1].quantize.epochs=0 \
    --threads 2 --out "$WORK/out-fixed" --quiet)
  $PY - "$name" "$params" "$peak" "$fixed" <<'PYEOF'
import sys
name, params, peak, fixed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mib = 1 << 20
model = params * 4 / mib
adam = 2 * params * 4 / mib
batch = 128 * 28 * 28 * 4 / mib
bound = 4 * (model + adam + batch)
print(f"| {name} | {params:,} | {model:.1f} | {adam:.1f} | {batch:.2f} | {bound:.0f} | {peak} | {fixed} | {peak - fixed} |")
PYEOF
done
