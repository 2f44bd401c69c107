#!/usr/bin/env bash
# Compression to a goal against the deep-compression preset, on dense
# LeNet-300-100 and LeNet-5 models trained here with three seeds each
# (examples/train_lenet.py), on Fashion-MNIST: the search decides on a
# validation split carved from the training data and is judged on t10k.
#
#   bash bench/search/run_search_bench.sh BUILD_DIR [GOAL] [SEEDS] [MODELS]
#
# (defaults: max-drop=0.5pt, "1 2 3", "lenet300 lenet5"). Appends one line
# per run to OUT/results.jsonl (remove it to start afresh) and prints the
# table
# (bench/search/search_table.py). OUT is build/bench-search. The worker
# binary is copied first, so rebuilding while this runs changes nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
GOAL=${2:-max-drop=0.5pt}
SEEDS=${3:-"1 2 3"}
MODELS=${4:-"lenet300 lenet5"}
OUT=build/bench-search
DATA=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
cp "$BUILD/worker/condense-worker" "$OUT/condense-worker"
W="$OUT/condense-worker"
for model in $MODELS; do
  for seed in $SEEDS; do
    dense="$OUT/$model-seed$seed.pt"
    if [[ ! -f "$dense" ]]; then
      /usr/bin/python3 examples/train_lenet.py "$model" "$dense" \
        --seed "$seed" --threads 2 >&2
    fi
    for preset in auto deep-compression; do
      dir="$OUT/$model-seed$seed-$preset"
      args=(--preset "$preset")
      [[ "$preset" == auto ]] && args+=(--goal "$GOAL")
      start=$(date +%s.%N)
      status=0
      "$W" run --model "$dense" --data "$DATA" "${args[@]}" --out "$dir" \
        --threads 2 --quiet > "$dir.log" 2>&1 || status=$?
      end=$(date +%s.%N)
      /usr/bin/python3 - "$model" "$seed" "$preset" "$GOAL" "$dir" "$status" \
        "$start" "$end" >> "$OUT/results.jsonl" <<'PY'
import json, os, sys
model, seed, preset, goal, d, status, start, end = sys.argv[1:]
row = {"model": model, "seed": int(seed), "preset": preset,
       "goal": goal if preset == "auto" else None, "exit": int(status),
       "wall_seconds": float(end) - float(start)}
path = os.path.join(d, "report.json")
if int(status) == 0 and os.path.exists(path):
    r = json.load(open(path))
    row.update(ratio=r["totals"]["compression_ratio"],
               bytes=r["totals"]["compressed_bytes"],
               baseline=r["accuracy"]["baseline"], final=r["accuracy"]["final"])
    for s in r["stages"]:
        if "search" in s:
            c = s["search"]["candidates"][s["search"]["chosen"]]
            row.update(candidates=len(s["search"]["candidates"]),
                       search_epochs=s["search"]["epochs"],
                       sensitivity_seconds=s["search"]["sensitivity_seconds"],
                       validation_drop=c["drop"], validation_margin=c["margin"],
                       stopped=s["search"]["stopped"])
else:
    row["error"] = open(d + ".log").read().strip().splitlines()[-1:]
print(json.dumps(row))
PY
      tail -1 "$OUT/results.jsonl" >&2
    done
  done
done
/usr/bin/python3 bench/search/search_table.py "$OUT/results.jsonl"
