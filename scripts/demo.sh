#!/usr/bin/env bash
# The main job, end to end on the embedded default: install what is missing,
# build, train LeNet-300-100 on Fashion-MNIST (or reuse it), start
# condense-server with one local worker (SQLite metadata, local blob store),
# upload the model and the data with the condense CLI, submit a compression
# to at most half a point of top-1 lost (the auto search) and watch it live,
# download the result, check the
# returned TorchScript model equals the .cdz bit for bit and scores what the
# report says, and print the compression table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

# The same configuration as the tests (only the three binaries are built),
# so running the demo and then the tests reconfigures nothing.
cmake --preset release
cmake --build build/release --target condense-server condense-worker condense

OUT=build/demo
BIN=build/release
DATA=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

if [[ ! -f "$OUT/lenet300.pt" ]]; then
  step "train the dense LeNet-300-100 on Fashion-MNIST (TorchScript)"
  /usr/bin/python3 examples/train_lenet.py lenet300 "$OUT/lenet300.pt"
fi

step "start condense-server with one local worker"
rm -f "$OUT/ports.json"
"$BIN/server/condense-server" --data-dir "$OUT/server" --local-workers 1 \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --port-file "$OUT/ports.json" 2>"$OUT/server.log" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "$OUT/ports.json" ]] && break; sleep 0.1; done
PORT=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc_port"])' "$OUT/ports.json")
export CONDENSE_ADDR=127.0.0.1:$PORT
echo "server on $CONDENSE_ADDR (log: $OUT/server.log)"

step "upload the model and the data"
MODEL=$("$BIN/client/condense" upload model "$OUT/lenet300.pt" --name lenet300)
DATASET=$("$BIN/client/condense" upload dataset "$DATA" --name fashion-mnist)
echo "$MODEL $DATASET"

step "submit: the smallest model within half a point of top-1, and watch it"
JOB=$("$BIN/client/condense" submit --model "$MODEL" --dataset "$DATASET" \
  --goal max-drop=0.5pt)
"$BIN/client/condense" watch "$JOB"

step "download the result"
rm -rf "$OUT/compressed"
"$BIN/client/condense" download "$JOB" -o "$OUT/compressed"

step "check: model.pt equals the .cdz, and scores what report.json says"
/usr/bin/python3 tests/check_outputs.py "$OUT/compressed" --data "$DATA" \
  --eval-samples 10000 --sample-shape 784

step "where the bytes are"
"$BIN/client/condense" inspect "$OUT/compressed/model.cdz"
ls -l "$OUT/lenet300.pt" "$OUT/compressed"
echo
echo "The report: $OUT/compressed/report.html (open it in a browser)."
echo "Keep a server running to browse its jobs at http://127.0.0.1:9350/jobs:"
echo "  $BIN/server/condense-server --data-dir $OUT/server --local-workers 1"
