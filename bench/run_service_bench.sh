#!/usr/bin/env bash
# The service's measured targets on 127.0.0.1 (bench/service_bench.py):
#  1. upload / download throughput of a 256 MiB and a 1 GiB blob against
#     iperf3 over loopback, and the server's memory during them;
#  2. time from CreateJob to a waiting worker starting the job;
#  3. 20 concurrent uploads and 200 queued jobs on 4 local workers.
# Prints the markdown tables that docs/benchmarks.md's "Service" section
# holds; the raw JSON stays in WORK_DIR.
#   bench/run_service_bench.sh [WORK_DIR] [PHASE...]
# PHASE: transfer, latency, load (default: all three, about 5 minutes).
# The binaries come from $CONDENSE_BENCH_BIN (a directory holding
# condense-server, condense-worker and condense), else from build/release,
# copied first so that a rebuild during the run does not change them.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-build/service_bench}
shift || true
PHASES=("$@")
[[ ${#PHASES[@]} -gt 0 ]] || PHASES=(transfer latency load)
PY=/usr/bin/python3
mkdir -p "$WORK"
BIN=${CONDENSE_BENCH_BIN:-}
if [[ -z "$BIN" ]]; then
  BIN="$WORK/bin"
  mkdir -p "$BIN"
  cp -a build/release/server/condense-server build/release/worker/condense-worker \
    build/release/client/condense "$BIN/"
fi
for phase in "${PHASES[@]}"; do
  timeout 590 $PY bench/service_bench.py "$phase" --work "$WORK" --bin "$BIN"
done
$PY bench/service_bench.py table --work "$WORK"
