#!/usr/bin/env bash
# Every test: unit and integration tests on an optimized build (codec, spec,
# engine, end to end through every preset, the service through the CLI, the
# Python SDK and a headless browser), the codec and cores again under
# AddressSanitizer + UBSan, the .cdz decoder fuzzed for a minute, the
# ONNX reader for half a minute and the TorchScript archive reader for
# twenty seconds, the deployment files checked, and
# clang-format / clang-tidy over our sources.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
ONNX_FUZZ_SECONDS=${ONNX_FUZZ_SECONDS:-30}
ZIP_FUZZ_SECONDS=${ZIP_FUZZ_SECONDS:-20}
step() { printf '\n== %s (%s, %ss in)\n' "$*" "$(date +%T)" "$SECONDS"; }

step "release build and tests"
cmake --preset release
cmake --build build/release -j "$JOBS"
ctest --preset release

step "ASan + UBSan build and tests"
cmake --preset asan -DCONDENSE_BUILD_BENCH=OFF
cmake --build build/asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan

step "fuzz the .cdz decoder (${FUZZ_SECONDS}s)"
cmake --preset fuzz
cmake --build build/fuzz -j "$JOBS" --target cdz_reader_fuzzer cdz_seed_corpus \
  onnx_model_fuzzer onnx_seed_corpus torchscript_archive_fuzzer
CORPUS=build/fuzz/corpus
mkdir -p "$CORPUS"
build/fuzz/codec/cdz_seed_corpus "$CORPUS"
# Past crashes first, then new inputs for a bounded time.
build/fuzz/codec/cdz_reader_fuzzer codec/fuzz/regressions/*
build/fuzz/codec/cdz_reader_fuzzer -max_total_time="$FUZZ_SECONDS" \
  -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix=build/fuzz/ "$CORPUS"

step "fuzz the ONNX model reader and writer (${ONNX_FUZZ_SECONDS}s)"
ONNX_CORPUS=build/fuzz/onnx-corpus
mkdir -p "$ONNX_CORPUS"
build/fuzz/codec/onnx_seed_corpus "$ONNX_CORPUS"
build/fuzz/codec/onnx_model_fuzzer -max_total_time="$ONNX_FUZZ_SECONDS" \
  -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
  -artifact_prefix=build/fuzz/onnx- "$ONNX_CORPUS"

step "fuzz the TorchScript archive reader (${ZIP_FUZZ_SECONDS}s)"
ZIP_CORPUS=build/fuzz/torchscript-corpus
mkdir -p "$ZIP_CORPUS"
cp codec/testdata/tiny_script.pt worker/engine/testdata/unknown_op.pt \
  "$ZIP_CORPUS"/
build/fuzz/codec/torchscript_archive_fuzzer \
  -max_total_time="$ZIP_FUZZ_SECONDS" -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix=build/fuzz/torchscript- "$ZIP_CORPUS"

step "deployment files (compose, Kubernetes, Prometheus rules, Grafana)"
/usr/bin/python3 deploy/check.py

step "clang-format"
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror

step "clang-tidy"
# The unity build's database names batches; clang-tidy reads each source.
/usr/bin/python3 scripts/per_file_compile_db.py build/release build/tidy
# Files built with the precompiled LibTorch headers are left out: clang 14
# rejects LibTorch 1.13's headers in C++20 mode (ivalue_inl.h) and cannot read
# GCC's precompiled header, and each file would take two minutes.
TORCH_FILES=$(/usr/bin/python3 -c '
import json, os
for c in json.load(open("build/tidy/compile_commands.json")):
    if "cmake_pch" in c["command"]:
        print(os.path.relpath(c["file"]))')
# The codec and the server's job and storage cores, where a path-sensitive
# bug would hurt most, get every check with the static analyzer (~25 s a
# file); every other source file every check but the analyzer. Tests are
# left out (most run under ASan + UBSan above): parsing them under gRPC's
# and GoogleTest's headers took a third of this step. Each file is parsed
# once. performance-unnecessary-value-param doubles a file's time (it
# matches every function of every header), so it runs on the core files
# only.
CORE_FILES=$(git ls-files 'codec/*.cc' 'server/store/*.cc' 'server/blobs/*.cc' \
    'server/job_core.cc' |
  grep -v -e '/fuzz/' -e '/tools/' -e '_test\.cc$' -e '_test_util\.cc$' \
    -e 'test_distributions\.cc$')
git ls-files '*.cc' | grep -v -e '/fuzz/' -e '_test\.cc$' |
  grep -v -x -F "$TORCH_FILES" | grep -v -x -F "$CORE_FILES" |
  xargs -P "$JOBS" -n 4 clang-tidy -p build/tidy --quiet \
    --checks='-clang-analyzer-*,-performance-unnecessary-value-param'
echo "$CORE_FILES" |
  xargs -P "$JOBS" -n 2 clang-tidy -p build/tidy --quiet

step "all tests passed"
