#!/usr/bin/env python3
"""Writes a compile database with one entry per source file.

A unity build's compile_commands.json names only the batch files that
#include the sources; clang-tidy needs each source under its own command.
Usage: per_file_compile_db.py BUILD_DIR OUT_DIR (writes
OUT_DIR/compile_commands.json).
"""
import json
import os
import re
import shlex
import sys

INCLUDE = re.compile(r'^#include "(.+)"$')


def expand(entry):
    path = entry["file"]
    if "/Unity/unity_" not in path:
        return [entry]
    with open(path, encoding="utf-8") as f:
        sources = [m.group(1) for m in map(INCLUDE.match, f.read().splitlines())
                   if m]
    if not sources:
        sys.exit(f"{path}: a unity batch with no sources; is the build "
                 "directory configured?")
    args = shlex.split(entry["command"])
    out = []
    # The batch's object path stays: clang-tidy writes nothing.
    for source in sources:
        swapped = [source if a == path else a for a in args]
        out.append({"directory": entry["directory"],
                    "command": shlex.join(swapped), "file": source})
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build_dir, out_dir = sys.argv[1:]
    with open(os.path.join(build_dir, "compile_commands.json"),
              encoding="utf-8") as f:
        entries = json.load(f)
    expanded = [e for entry in entries for e in expand(entry)]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "compile_commands.json"), "w",
              encoding="utf-8") as f:
        json.dump(expanded, f, indent=1)
    print(f"{len(entries)} commands -> {len(expanded)} files")


if __name__ == "__main__":
    main()
