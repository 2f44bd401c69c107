#!/usr/bin/python3
"""Prints the checksums cdz_c_example compares against (codec/c_api_example.c):
one line "name fnv1a64-hex" per tensor of a safetensors file, over the bytes
of its data (float32 for floating tensors, as `cdz decompress` writes them).

    sums.py MODEL.safetensors > MODEL.sums

The safetensors comes from the C++ decoder (`cdz decompress MODEL.cdz`), so
the C API is checked against an independent path."""
import json
import struct
import sys


def fnv1a64(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    path = sys.argv[1]
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    print(f"# {path.rsplit('/', 1)[-1]}: made by codec/testdata/sums.py")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        a, b = entry["data_offsets"]
        print(f"{name} {fnv1a64(data[8 + n + a:8 + n + b]):016x}")


if __name__ == "__main__":
    main()
