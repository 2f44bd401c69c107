#!/usr/bin/env bash
# End to end through the codec on real weights: train a small LeNet-300-100 on
# Fashion-MNIST, prune and quantize it, pack it with `cdz`, check the ratio,
# decompress it and check that the decoded model scores exactly the same.
# Then damage the file and check that `cdz verify` names the tensor.
# Usage: codec_demo_test.sh PATH/TO/cdz
set -euo pipefail
CDZ=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

/usr/bin/python3 "$ROOT/scripts/lenet_demo.py" train "$WORK/model.safetensors" \
  --quick | tee "$WORK/train.log"
"$CDZ" pack "$WORK/model.safetensors" -o "$WORK/model.cdz"
"$CDZ" verify "$WORK/model.cdz"
"$CDZ" inspect "$WORK/model.cdz" --output json > "$WORK/inspect.json"
"$CDZ" decompress "$WORK/model.cdz" -o "$WORK/decoded.safetensors"
/usr/bin/python3 "$ROOT/scripts/lenet_demo.py" eval "$WORK/decoded.safetensors" \
  | tee "$WORK/eval.log"

/usr/bin/python3 - "$WORK" <<'PY'
import json, re, sys
work = sys.argv[1]
report = json.load(open(f"{work}/inspect.json"))
trained = re.search(r"quantized: test accuracy ([0-9.]+)",
                    open(f"{work}/train.log").read()).group(1)
decoded = re.search(r"test accuracy ([0-9.]+)",
                    open(f"{work}/eval.log").read()).group(1)
assert trained == decoded, f"accuracy changed: {trained} -> {decoded}"
assert report["ratio"] > 25, f"ratio {report['ratio']:.1f}x, expected > 25x"
parts = sum(report[k] for k in ("codebook_bytes", "table_bytes", "position_bytes",
                                "index_bytes", "raw_bytes", "overhead_bytes",
                                "container_bytes"))
assert parts == report["file_bytes"], (parts, report["file_bytes"])
print(f"ok: ratio {report['ratio']:.1f}x, accuracy {decoded} before and after")
PY

# Flip one byte in the middle of fc1.weight's section: verify must fail and
# name the tensor.
/usr/bin/python3 - "$WORK/model.cdz" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
at = data.index(b"fc1.weight") + 2000
data[at] ^= 0x10
open(path, "wb").write(data)
PY
if "$CDZ" verify "$WORK/model.cdz" 2> "$WORK/verify.err"; then
  echo "FAIL: a damaged file verified" >&2
  exit 1
fi
grep -q "'fc1.weight'" "$WORK/verify.err" || {
  echo "FAIL: error does not name the tensor:" >&2
  cat "$WORK/verify.err" >&2
  exit 1
}
echo "ok: damage reported as: $(cat "$WORK/verify.err")"
