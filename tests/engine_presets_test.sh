#!/usr/bin/env bash
# End to end through every preset: small models built by a test script,
# 3,000 Fashion-MNIST training images, condense-worker run, then
# check_outputs.py proves model.pt equals the .cdz bit for bit and its
# accuracy is the reported one. Also: a structure zoo (Conv1d/2d/3d,
# BatchNorm, Embedding, tied weights, buffers) compressed data-free, and the
# bad-input exits.
#   engine_presets_test.sh CONDENSE_WORKER PYTHON_SDK_DIR
set -euo pipefail
WORKER=$1
SDK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=/usr/share/datasets/fashion-mnist
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PY=/usr/bin/python3

$PY "$HERE/models/make_test_models.py" "$WORK/models" >/dev/null
SMALL=(--set training.max_train_samples=3000
       --set training.max_eval_samples=1000 --set seed=1 --quiet)

run() {  # name model preset sample_shape [extra args...]
  local name=$1 model=$2 preset=$3 shape=$4
  shift 4
  "$WORKER" run --model "$WORK/models/$model" --data "$DATA" \
    --preset "$preset" --out "$WORK/$name" "${SMALL[@]}" "$@"
  $PY "$HERE/check_outputs.py" "$WORK/$name" --sdk "$SDK" --data "$DATA" \
    --eval-samples 1000 --sample-shape "$shape"
}

for preset in deep-compression prune quantize dsd dsd+deep-compression; do
  run "mlp-$preset" tiny_mlp.pt "$preset" 784
done
run cnn-deep-compression tiny_cnn.pt deep-compression 1,28,28
run cnn-dsd tiny_cnn.pt dsd 1,28,28

# Structure zoo, data-free.
"$WORKER" run --model "$WORK/models/zoo.pt" --preset quantize \
  --set 'layers=[{"pattern":"*","settings":{"prune":false}}]' \
  --out "$WORK/zoo" --quiet
$PY "$HERE/check_outputs.py" "$WORK/zoo" --sdk "$SDK"

# Bad inputs exit 2 with a message and write nothing.
expect_fail() {  # needle args...
  local needle=$1
  shift
  local rc=0
  "$WORKER" run "$@" --out "$WORK/bad" --quiet 2>"$WORK/err" || rc=$?
  if [[ $rc -ne 2 ]] || ! grep -q -- "$needle" "$WORK/err"; then
    echo "expected exit 2 with '$needle', got $rc:"; cat "$WORK/err"; exit 1
  fi
  [[ ! -e "$WORK/bad/model.cdz" ]] || { echo "bad run wrote output"; exit 1; }
}
M="$WORK/models/tiny_mlp.pt"
expect_fail "not found" --model "$WORK/nope.pt" --data "$DATA"
expect_fail "unknown preset" --model "$M" --data "$DATA" --preset deep
expect_fail "fc.bits = 9" --model "$M" --data "$DATA" --set fc.bits=9
expect_fail "learnin_rate" --model "$M" --data "$DATA" \
  --set training.learnin_rate=1
expect_fail "no data was given" --model "$M"
expect_fail "does not accept" --model "$WORK/models/tiny_cnn.pt" \
  --data "$DATA" --set data.sample_shape=[784]
echo "engine presets end to end: ok"
