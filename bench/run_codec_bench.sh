#!/usr/bin/env bash
# Runs the codec benchmark on one core and prints the markdown tables that
# docs/benchmarks.md holds. Usage: bench/run_codec_bench.sh [OUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/release/codec_bench.json}
cmake --preset release >/dev/null
cmake --build build/release --target codec_bench >/dev/null
# Pinned to one core; five repetitions, the median is reported (this kind of
# shared VM is noisy).
taskset -c 0 build/release/bench/codec_bench \
  --benchmark_repetitions=5 --benchmark_min_time=0.2 \
  --benchmark_out="$OUT" --benchmark_out_format=json >/dev/null
/usr/bin/python3 bench/codec_bench_table.py "$OUT"
