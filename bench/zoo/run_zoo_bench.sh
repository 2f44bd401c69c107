#!/usr/bin/env bash
# Data-free `quantize` over the model zoo (bench/zoo/make_zoo.py): for each
# model its parameters, wall time, peak RSS, ratio, the floor (reading the
# model file once and writing the three outputs' bytes once, measured in the
# same run) and the relative output error of model.pt on a seeded input.
# Usage: bench/zoo/run_zoo_bench.sh [BUILD_DIR] [NAME ...]; prints a
# Markdown table. The zoo is cached in $ZOO (default /tmp/condense-zoo).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}; shift || true
ZOO=${ZOO:-/tmp/condense-zoo}
PY=/usr/bin/python3
WORKER=$BUILD/worker/condense-worker
NAMES=("$@")
if ((${#NAMES[@]} == 0)); then
  NAMES=(resnet18 resnet50 mobilenet_v2 mobilenet_v3_small efficientnet_b0
         densenet121 convnext_tiny vgg16 vit_b_16 lstm_tagger tiny_gpt)
fi
$PY bench/zoo/make_zoo.py "$ZOO" "${NAMES[@]}" >&2
now() { date +%s.%N; }
echo "| model | params | file MiB | wall s | floor s | wall/floor | peak RSS MiB | target MiB (1.5 file + 256) | ratio | rel. output error | names, shapes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for name in "${NAMES[@]}"; do
  model=$ZOO/$name.pt
  out=$ZOO/out-$name
  rm -rf "$out"
  cat "$model" > /dev/null  # warm the page cache for both measurements
  /usr/bin/time -f '%e %M' -o "$ZOO/time.txt" \
    "$WORKER" run --model "$model" --preset quantize --out "$out" --quiet
  read -r wall rss_kb < "$ZOO/time.txt"
  # The floor: read the model once, write each output's bytes once.
  t0=$(now)
  cat "$model" > /dev/null
  for f in model.cdz model.pt model.safetensors; do
    head -c "$(stat -c %s "$out/$f")" /dev/zero > "$ZOO/floor.bin"
    sync "$ZOO/floor.bin"
  done
  t1=$(now)
  rm -f "$ZOO/floor.bin"
  floor=$(echo "$t1 - $t0" | bc -l)
  read -r params ratio < <($PY -c "
import json,sys; r=json.load(open('$out/report.json'))
print(r['model']['parameters'], round(r['totals']['compression_ratio'],2))")
  read -r err same < <($PY bench/zoo/output_error.py "$model" "$ZOO/$name.input" "$out/model.pt")
  mib=$(echo "$(stat -c %s "$model") / 1048576" | bc -l)
  printf '| %s | %s | %.0f | %.1f | %.2f | %.1f | %.0f | %.0f | %sx | %s | %s |\n' \
    "$name" "$params" "$mib" "$wall" "$floor" "$(echo "$wall / $floor" | bc -l)" \
    "$(echo "$rss_kb / 1024" | bc -l)" "$(echo "1.5 * $mib + 256" | bc -l)" \
    "$ratio" "$err" "$same"
done
