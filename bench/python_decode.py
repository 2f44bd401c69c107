#!/usr/bin/env python3
"""Decode throughput of condense.load_cdz (Python over libcdz) against the
C++ tool's `cdz verify` (decode every tensor, check every CRC), on the same
.cdz files, best of --repeat runs each, on --threads threads both (1 by
default; they decode the segments of large context-coded tensors).

Usage: python_decode.py BUILD_DIR FILE.cdz [FILE.cdz ...] [--repeat 5]
       [--threads 1]
Prints a Markdown table: weights, C++ s, Python s, Python / C++."""
import argparse
import os
import subprocess
import sys
import time


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.build, "python"))
    os.environ.setdefault("CONDENSE_LIBCDZ",
                          os.path.join(a.build, "codec", "libcdz.so.1"))
    import condense
    cdz = os.path.join(a.build, "codec", "cdz")
    print("| file | weights | C++ `cdz verify` s | Python `load_cdz` s | Python / C++ |")
    print("|---|---:|---:|---:|---:|")
    for path in a.files:
        weights = sum(int(t.numel) for t in condense.CdzFile(path).tensors)
        cpp = best(lambda: subprocess.run(
            [cdz, "verify", path, "--threads", str(a.threads)], check=True,
            stdout=subprocess.DEVNULL), a.repeat)
        py = best(lambda: condense.load_cdz(path, framework="numpy",
                                            threads=a.threads), a.repeat)
        print(f"| {os.path.basename(path)} | {weights:,} | {cpp:.3f} | "
              f"{py:.3f} | {py / cpp:.2f} |")


if __name__ == "__main__":
    main()
