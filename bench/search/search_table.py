#!/usr/bin/python3
"""The table of bench/search/run_search_bench.sh's results.jsonl: per model
and seed the search (auto) against deep-compression, then per model the
worst of the seeds."""
import json
import sys


def fmt(row):
    if row.get("exit"):
        return (f"| {row['model']} | {row['seed']} | {row['preset']} | failed "
                f"| | | | | {row['wall_seconds']:.0f} | "
                f"{' '.join(row.get('error', []))[:120]} |")
    change = 100 * (row["final"] - row["baseline"])
    extra = ""
    if row["preset"] == "auto":
        extra = (f"{row['candidates']} candidates, {row['search_epochs']} "
                 f"epochs, validation drop {100 * row['validation_drop']:.2f}"
                 f" +- {100 * row['validation_margin']:.2f}; "
                 f"{row['stopped']}")
    return (f"| {row['model']} | {row['seed']} | {row['preset']} | "
            f"{row['ratio']:.1f}x | {row['bytes']} | {100 * row['baseline']:.2f}"
            f" | {100 * row['final']:.2f} | {change:+.2f} | "
            f"{row['wall_seconds']:.0f} | {extra} |")


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print("| model | seed | preset | ratio | bytes | dense t10k % | "
          "compressed t10k % | change (points) | wall s | search |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(fmt(row))
    print()
    print("| model | preset | worst ratio | worst change (points) | "
          "all within 0.5 points | mean wall s |")
    print("|---|---|---:|---:|---|---:|")
    for model in sorted({r["model"] for r in rows}):
        for preset in ("auto", "deep-compression"):
            rs = [r for r in rows if r["model"] == model and
                  r["preset"] == preset]
            ok = [r for r in rs if not r.get("exit")]
            if not rs:
                continue
            changes = [100 * (r["final"] - r["baseline"]) for r in ok]
            within = (len(ok) == len(rs) and all(c >= -0.5 for c in changes))
            worst_ratio = min((r["ratio"] for r in ok), default=0)
            print(f"| {model} | {preset} | {worst_ratio:.1f}x | "
                  f"{min(changes, default=float('nan')):+.2f} | "
                  f"{'yes' if within else 'no'} ({len(ok)}/{len(rs)} ran) | "
                  f"{sum(r['wall_seconds'] for r in rs) / len(rs):.0f} |")


if __name__ == "__main__":
    main(sys.argv[1])
