#!/usr/bin/env bash
# The GPU check, run on the device machine (it has CUDA, CMake, ninja and
# PyTorch with its LibTorch, and no Debian packages). Here, first:
#   bash scripts/gpu_bundle.sh        # Debian's headers and libraries, data
# then through the device tool, in one call:
#   command: bash scripts/gpu_check.sh   carry: ["build/gpu-bundle"]
#   timeout_s: 560
# It builds the engine, its tests and condense-worker (`run` alone: there is
# no gRPC there) against the LibTorch inside the machine's PyTorch
# (torch.utils.cmake_prefix_path), runs the engine tests on CUDA, and times
# deep-compression of LeNet-5 and of a ResNet-18 shaped for 28x28
# Fashion-MNIST with condense on CUDA and on the CPU, and with
# bench/pytorch_pipeline.py on CUDA. A failed step does not stop the next;
# $OUT (which the tool brings back, 8 files at most) gets summary.md, the
# figures for docs/benchmarks.md, and logs.tar.gz, every step's log and
# report. Steps are skipped once
# GPU_CHECK_SECONDS (default 480) have passed, so the call ends inside its
# limit and leaves device time for a second try.
#
# GPU_CHECK_LOCAL=1 rehearses the whole script here, on the CPU, against
# Debian's LibTorch and packages, with small settings: its logic is tested
# before device time is spent on it.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOCAL=${GPU_CHECK_LOCAL:-0}
BUDGET=${GPU_CHECK_SECONDS:-480}
OUT=${OUT:-$ROOT/build/gpu-check-out}
LOGS=$OUT/logs
rm -rf "$LOGS" "$OUT/logs.tar.gz"
mkdir -p "$LOGS"
# The logs come back however the script ends.
trap 'tar -C "$OUT" -czf "$OUT/logs.tar.gz" logs && rm -rf "$LOGS"' EXIT
SUMMARY=$OUT/summary.md
WORK=/tmp/condense-gpu-check
rm -rf "$WORK"
mkdir -p "$WORK"
JOBS=$(nproc)
if [[ "$LOCAL" == 1 ]]; then
  PY=/usr/bin/python3
  BUILD=${GPU_CHECK_BUILD:-$ROOT/build/gpu-local}
  DEVICES=(cpu)
  JOBS=2
else
  PY=python3
  BUILD=$ROOT/build/gpu
  DEVICES=(cuda cpu)
fi
DATA=/usr/share/datasets/fashion-mnist

note() { echo "$*" | tee -a "$SUMMARY"; }
# step NAME TIMEOUT COMMAND...: runs it with its log in $LOGS/NAME.log,
# records its wall seconds and exit status; skipped past the budget.
declare -A WALL STATUS
step() {
  local name=$1 limit=$2
  shift 2
  if (( SECONDS > BUDGET )); then
    STATUS[$name]="skipped (budget)"
    note "- $name: skipped, ${SECONDS}s of ${BUDGET}s spent"
    return 1
  fi
  local t0 rc
  t0=$(date +%s%N)
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  WALL[$name]=$(( ($(date +%s%N) - t0) / 1000000 ))
  if (( rc == 0 )); then STATUS[$name]=ok
  elif (( rc == 124 )); then STATUS[$name]="timed out (${limit}s)"
  else STATUS[$name]="failed (exit $rc)"
  fi
  note "- $name: ${STATUS[$name]}, $(( WALL[$name] / 1000 )).$(( WALL[$name] % 1000 / 100 )) s"
  (( rc == 0 ))
}

: > "$SUMMARY"
note "# GPU check $(date -u +%FT%TZ) ($([[ $LOCAL == 1 ]] && echo local rehearsal, CPU || echo device))"
note ""
{
  echo '```'
  nvidia-smi -L 2>&1 | head -4
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1
  cmake --version | head -1
  c++ --version | head -1
  ldd --version 2>&1 | head -1
  echo "cores $(nproc)"
  echo '```'
} 2>&1 | tee -a "$SUMMARY"

# -- dependencies ----------------------------------------------------------
CMAKE_ARGS=()
DEPS_ENV=()
if [[ "$LOCAL" != 1 ]]; then
  BUNDLE=$ROOT/build/gpu-bundle
  DEPS=$WORK/deps
  mkdir -p "$DEPS"
  tar -C "$DEPS" -xzf "$BUNDLE/deps.tar.gz" || { note "no bundle: run scripts/gpu_bundle.sh and carry build/gpu-bundle"; exit 1; }
  mkdir -p "$DATA" && cp "$BUNDLE"/fashion-mnist/*.gz "$DATA"/
  U=$DEPS/usr
  L=$U/lib/x86_64-linux-gnu
  # Debian's protoc and libraries resolve from the bundle, for the build and
  # condense's programs only (Python keeps the machine's); LibTorch's own
  # from the torch package.
  DEPS_ENV=(env "LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-}")
  TORCH_PREFIX=$($PY -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  CMAKE_ARGS=(
    "-DCMAKE_PREFIX_PATH=$TORCH_PREFIX;$U"
    "-Dabsl_DIR=$L/cmake/absl" "-DONNX_DIR=$L/cmake/ONNX"
    "-DGTest_DIR=$L/cmake/GTest" "-Dnlohmann_json_DIR=$U/share/cmake/nlohmann_json"
    "-DCLI11_DIR=$U/share/cmake/CLI11"
    "-DProtobuf_INCLUDE_DIR=$U/include" "-DProtobuf_LIBRARY=$L/libprotobuf.so"
    "-DProtobuf_PROTOC_EXECUTABLE=$U/bin/protoc"
    "-DZLIB_INCLUDE_DIR=$U/include" "-DZLIB_LIBRARY=$L/libz.so"
    "-DOPENSSL_ROOT_DIR=$U" "-DOPENSSL_INCLUDE_DIR=$U/include"
    "-DOPENSSL_CRYPTO_LIBRARY=$L/libcrypto.so" "-DOPENSSL_SSL_LIBRARY=$L/libssl.so"
    "-DTORCH_CUDA_ARCH_LIST=9.0")
fi

# -- build -----------------------------------------------------------------
note ""
note "## Build and engine tests"
step configure 120 "${DEPS_ENV[@]}" cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCONDENSE_BUILD_SERVICE=OFF -DCONDENSE_BUILD_CLI=OFF \
  -DCONDENSE_BUILD_BENCH=OFF -DCONDENSE_BUILD_TESTS=ON "${CMAKE_ARGS[@]}" &&
step build 300 "${DEPS_ENV[@]}" cmake --build "$BUILD" -j "$JOBS" --target engine_tests condense-worker
WORKER=$BUILD/worker/condense-worker
if [[ ! -x "$WORKER" ]]; then
  note "no worker was built; see configure.log and build.log"
  exit 1
fi

# The engine tests pick CUDA by themselves where LibTorch sees a device.
FILTER='*'
[[ "$LOCAL" == 1 ]] && FILTER='StagesTest.*:PlanTest.*'
step engine_tests 200 "${DEPS_ENV[@]}" "$BUILD/worker/engine_tests" --gtest_brief=1 \
  "--gtest_filter=$FILTER"
grep -E '^\[  (PASSED|FAILED)  \]|tests? ran' "$LOGS/engine_tests.log" |
  sed 's/^/    /' | tee -a "$SUMMARY"

# -- timings ---------------------------------------------------------------
note ""
note "## deep-compression, wall seconds"
step models 120 "$PY" bench/zoo/make_retrain_models.py "$WORK/models"
# The models have random weights (a timing check): every layer is pruned
# at 1 std, on both sides, since the preset's 1.8 (conv) and 2.5 (fc) std
# of trained weights would prune whole layers of these. LeNet-5: the
# preset's schedule. ResNet-18 (11 M weights): one pruning step of one
# epoch and one epoch of trained quantization on 8,192 samples, so the CPU
# run fits; the same settings on every side.
SENSITIVITY=(--set conv.sensitivity=1.0 --set fc.sensitivity=1.0)
if [[ "$LOCAL" == 1 ]]; then
  LENET_SET=(--set training.max_train_samples=1024 --set training.max_eval_samples=512
             --set stages[0].prune.steps=1 --set stages[0].prune.epochs_per_step=1
             --set stages[1].quantize.epochs=1)
  RESNET_SAMPLES=128
  RESNET_EVAL=128
else
  LENET_SET=()
  RESNET_SAMPLES=8192
  RESNET_EVAL=2048
fi
RESNET_SET=(--set training.max_train_samples=$RESNET_SAMPLES
            --set training.max_eval_samples=$RESNET_EVAL
            --set stages[0].prune.steps=1 --set stages[0].prune.epochs_per_step=1
            --set stages[1].quantize.epochs=1)
for device in "${DEVICES[@]}"; do
  step "condense_lenet5_$device" 150 "${DEPS_ENV[@]}" "$WORKER" run --model "$WORK/models/lenet5.pt" \
    --data "$DATA" --preset deep-compression --set "device=$device" \
    "${SENSITIVITY[@]}" "${LENET_SET[@]}" --out "$WORK/lenet5-$device"
  step "condense_resnet18_$device" 180 "${DEPS_ENV[@]}" "$WORKER" run \
    --model "$WORK/models/resnet18_28.pt" --data "$DATA" \
    --preset deep-compression --set "device=$device" "${SENSITIVITY[@]}" \
    "${RESNET_SET[@]}" \
    --out "$WORK/resnet18-$device"
  if [[ "$device" == cuda || "$LOCAL" == 1 ]]; then
    # The same schedules in plain PyTorch (5 bits everywhere; the preset
    # gives conv layers 8).
    pipeline_steps=(3 2 2)
    [[ "$LOCAL" == 1 ]] && pipeline_steps=(1 1 1)
    step "pytorch_lenet5_$device" 150 "$PY" bench/pytorch_pipeline.py \
      "$WORK/models/lenet5.pt" --input-shape 1,28,28 --device "$device" \
      --prune-steps "${pipeline_steps[0]}" --epochs-per-step "${pipeline_steps[1]}" \
      --quant-epochs "${pipeline_steps[2]}" --sensitivity 1.0 --threads "$JOBS" \
      $([[ "$LOCAL" == 1 ]] && echo --max-train-samples 1024 --max-eval-samples 512) \
      --json "$LOGS/pytorch_lenet5_$device.json"
    step "pytorch_resnet18_$device" 180 "$PY" bench/pytorch_pipeline.py \
      "$WORK/models/resnet18_28.pt" --input-shape 1,28,28 --device "$device" \
      --prune-steps 1 --epochs-per-step 1 --quant-epochs 1 --sensitivity 1.0 \
      --threads "$JOBS" --max-train-samples "$RESNET_SAMPLES" \
      --max-eval-samples "$RESNET_EVAL" \
      --json "$LOGS/pytorch_resnet18_$device.json"
  fi
done

# Ratios and accuracies from condense's reports, beside the times.
note ""
note "## condense reports"
for report in "$WORK"/*/report.json; do
  [[ -f "$report" ]] || continue
  $PY - "$report" <<'PYEOF' | tee -a "$SUMMARY"
import json, os, sys
r = json.load(open(sys.argv[1]))
t = r.get("totals", {})
a = r.get("accuracy", {})
print(f"- {os.path.basename(os.path.dirname(sys.argv[1]))}: ratio "
      f"{t.get('compression_ratio', 0):.1f}x, top-1 {a.get('baseline')} -> "
      f"{a.get('final')}, device {r.get('device', '?')}")
PYEOF
done
for report in "$WORK"/*/report.json; do
  [[ -f "$report" ]] && cp "$report" "$LOGS/$(basename "$(dirname "$report")").report.json"
done
note ""
note "total ${SECONDS}s"
