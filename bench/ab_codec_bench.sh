#!/usr/bin/env bash
# Compares codec_bench binaries (say, one built from main and one from a
# change) on a machine whose speed drifts: runs them interleaved, each
# benchmark in a fresh process pinned to core 0, and prints the best
# items/s (or bytes/s where a benchmark reports no items) per binary.
#
#   bash bench/ab_codec_bench.sh FILTER ROUNDS BINARY...
#   bash bench/ab_codec_bench.sh 'context_decode_layer' 3 /tmp/old/codec_bench \
#       build/release/bench/codec_bench
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 FILTER ROUNDS BINARY..." >&2
  exit 2
fi
filter=$1
rounds=$2
shift 2
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((round = 1; round <= rounds; round++)); do
  for binary in "$@"; do
    taskset -c 0 "$binary" --benchmark_filter="$filter" \
      --benchmark_format=json 2>/dev/null |
      /usr/bin/python3 -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    rate = b.get("items_per_second") or b.get("bytes_per_second") or 0
    unit = "items/s" if "items_per_second" in b else "bytes/s"
    print(sys.argv[1], b["run_name"], rate, unit, sep="\t")' "$binary" \
      >>"$results"
  done
done
/usr/bin/python3 - "$results" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    binary, name, rate, unit = line.rstrip("\n").split("\t")
    key = (name, binary, unit)
    best[key] = max(best.get(key, 0.0), float(rate))
print("| benchmark | binary | best M/s |")
print("|---|---|---:|")
for (name, binary, unit), rate in sorted(best.items()):
    print(f"| {name} | {binary} | {rate / 1e6:.1f} ({unit}) |")
PY
