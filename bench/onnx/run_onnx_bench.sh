#!/usr/bin/env bash
# ONNX models through the data-free `quantize` preset, against the same
# weights as TorchScript: for each model (tests/onnx/make_onnx_models.py,
# random weights, fixed seed), wall time, peak RSS and ratio of both runs, the
# compressed ONNX model's output error in ONNX Runtime (node, tests/onnx)
# and the TorchScript path's in LibTorch, each against its own original.
# Also the largest model saved with external data, which must come back the
# same. Usage: bench/onnx/run_onnx_bench.sh [BUILD_DIR] [MODEL...]
# (default: resnet18 tiny_gpt). Models are cached in $ONNX_MODELS (default
# /tmp/condense-onnx).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}; shift || true
MODELS=("$@")
((${#MODELS[@]})) || MODELS=(resnet18 tiny_gpt)
DIR=${ONNX_MODELS:-/tmp/condense-onnx}
PY=/usr/bin/python3
mkdir -p "$DIR"
for m in "${MODELS[@]}"; do
  [[ -f $DIR/$m.onnx ]] || $PY tests/onnx/make_onnx_models.py "$DIR" "$m" >&2
done

run() {  # run MODEL_FILE OUT -> "wall rss_kb"
  rm -rf "$2"
  cat "$1" > /dev/null  # warm the page cache
  /usr/bin/time -f '%e %M' -o "$2.time" \
    "$BUILD/worker/condense-worker" run --model "$1" --preset quantize \
    --out "$2" --quiet
  cat "$2.time"
}

echo "| model | params | format | MiB | wall s | peak RSS MiB | ratio | output rel. error |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for m in "${MODELS[@]}"; do
  base=$DIR/$m
  for kind in onnx pt; do
    read -r wall rss_kb < <(run "$base.$kind" "$base-$kind.out")
    read -r params ratio < <($PY -c "
import json; r=json.load(open('$base-$kind.out/report.json'))
print(r['model']['parameters'], round(r['totals']['compression_ratio'],2))")
    if [[ $kind == onnx ]]; then
      err=$($PY -c "
import subprocess, sys, numpy as np
def out(model):
    subprocess.run(['node', 'tests/onnx/run_onnx.js', model, '$base.input.bin',
                    '$base.input.json', model + '.out.bin'], check=True)
    return np.fromfile(model + '.out.bin', dtype=np.float32)
a, b = out('$base.onnx'), out('$base-onnx.out/model.onnx')
print(f'{np.linalg.norm(a - b) / np.linalg.norm(a):.4f}')")
      label="ONNX (ONNX Runtime)"
    else
      err=$($PY -c "
import torch
x = torch.load('$base.input')
with torch.no_grad():
    a = torch.jit.load('$base.pt').eval()(x)
    b = torch.jit.load('$base-pt.out/model.pt').eval()(x)
a, b = (t if isinstance(t, torch.Tensor) else t[0] for t in (a, b))
print(f'{float((a - b).norm() / a.norm()):.4f}')")
      label="TorchScript (LibTorch)"
    fi
    printf '| %s | %s | %s | %.1f | %.1f | %.0f | %sx | %s |\n' "$m" "$params" \
      "$label" "$(echo "$(stat -c %s "$base.$kind") / 1048576" | bc -l)" \
      "$wall" "$(echo "$rss_kb / 1024" | bc -l)" "$ratio" "$err"
  done
done

# External data: the last model saved as model.onnx + one weights file.
m=${MODELS[-1]}
ext=$DIR/$m-external
mkdir -p "$ext"
$PY -c "
import onnx
onnx.save_model(onnx.load('$DIR/$m.onnx'), '$ext/model.onnx',
                save_as_external_data=True, location='model.weights',
                size_threshold=0)"
read -r wall rss_kb < <(run "$ext/model.onnx" "$ext.out")
cmp <(node tests/onnx/run_onnx.js "$ext.out/model.onnx" "$DIR/$m.input.bin" \
        "$DIR/$m.input.json" /dev/stdout) \
    <(node tests/onnx/run_onnx.js "$DIR/$m-onnx.out/model.onnx" \
        "$DIR/$m.input.bin" "$DIR/$m.input.json" /dev/stdout)
printf '\n%s with external data: %.1f s, peak RSS %.0f MiB, model.onnx %s bytes + model.onnx.data %.1f MiB; outputs identical to the inline run\n' \
  "$m" "$wall" "$(echo "$rss_kb / 1024" | bc -l)" \
  "$(stat -c %s "$ext.out/model.onnx")" \
  "$(echo "$(stat -c %s "$ext.out/model.onnx.data") / 1048576" | bc -l)"
