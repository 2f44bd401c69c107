#!/usr/bin/env bash
# A sharded bf16 checkpoint of about 1 GiB (bench/shards/make_checkpoint.py,
# random weights) through the data-free `quantize` preset: wall time, peak
# RSS against the largest shard + 256 MiB, ratio; then `cdz decompress` back
# to the same layout, and a check that every shard, tensor and dtype matches.
# Usage: bench/shards/run_shards_bench.sh [BUILD_DIR] [-- make_checkpoint args]
# The checkpoint is cached in $CKPT (default /tmp/condense-shards).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}; shift || true
[[ "${1:-}" == "--" ]] && shift
CKPT=${CKPT:-/tmp/condense-shards}
PY=/usr/bin/python3
[[ -f $CKPT/model.safetensors.index.json ]] ||
  $PY bench/shards/make_checkpoint.py "$CKPT" "$@" >&2
OUT=$CKPT.out
rm -rf "$OUT" "$CKPT.decoded"
cat "$CKPT"/*.safetensors > /dev/null  # warm the page cache
/usr/bin/time -f '%e %M' -o "$CKPT.time" \
  "$BUILD/worker/condense-worker" run --model "$CKPT" --preset quantize \
  --out "$OUT" --quiet
read -r wall rss_kb < "$CKPT.time"
/usr/bin/time -f '%e %M' -o "$CKPT.dtime" \
  "$BUILD/codec/cdz" decompress "$OUT/model.cdz" -o "$CKPT.decoded" > /dev/null
read -r dwall drss_kb < "$CKPT.dtime"
largest=$(stat -c %s "$CKPT"/*.safetensors | sort -n | tail -1)
total=$(cat "$CKPT"/*.safetensors | wc -c)
$PY - "$CKPT" "$OUT" "$CKPT.decoded" <<'PY'
import json, os, struct, sys
ckpt, out, decoded = sys.argv[1:]
def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"]) for k, v in h.items()}
index = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))
for d in (os.path.join(out, "model-shards"), decoded):
    other = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    assert other["weight_map"] == index["weight_map"], d
    for shard in sorted(set(index["weight_map"].values())):
        assert header(os.path.join(d, shard)) == header(os.path.join(ckpt, shard)), (d, shard)
for shard in sorted(set(index["weight_map"].values())):
    a = open(os.path.join(out, "model-shards", shard), "rb").read()
    b = open(os.path.join(decoded, shard), "rb").read()
    assert a == b, shard
PY
read -r params ratio < <($PY -c "
import json; r=json.load(open('$OUT/report.json'))
print(r['model']['parameters'], round(r['totals']['compression_ratio'],2))")
echo "| checkpoint | params | shards | MiB | largest shard MiB | wall s | peak RSS MiB | bound MiB (largest shard + 256) | ratio | decode wall s | decode peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '| %s | %s | %s | %.0f | %.0f | %.1f | %.0f | %.0f | %sx | %.1f | %.0f |\n' \
  "$(basename "$CKPT")" "$params" "$(ls "$CKPT"/*.safetensors | wc -l)" \
  "$(echo "$total / 1048576" | bc -l)" "$(echo "$largest / 1048576" | bc -l)" \
  "$wall" "$(echo "$rss_kb / 1024" | bc -l)" \
  "$(echo "$largest / 1048576 + 256" | bc -l)" "$ratio" "$dwall" \
  "$(echo "$drss_kb / 1024" | bc -l)"
echo "layout, tensor names, shapes and dtypes: identical (export and cdz decompress; the two byte-identical)"
