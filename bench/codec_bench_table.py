#!/usr/bin/python3
"""Turns codec_bench's JSON output into the markdown of docs/benchmarks.md."""
import json
import re
import sys

STREAMS = {
    "a_indices": "(a) cluster indices, 32 centroids, Laplacian, 10% density",
    "a_gaps": "(a) matching relative positions, 5-bit gaps",
    "b_geo32": "(b) i.i.d. 32 letters, p ~ 0.78673^i",
    "idx2bit": "2-bit indices (4 centroids)",
    "idx3bit": "3-bit indices (8 centroids)",
    "idx4bit": "4-bit indices (16 centroids)",
}


def main(path):
    data = json.load(open(path))
    rows = {}
    for b in data["benchmarks"]:
        # Medians of repeated runs; single runs (zstd -19 compress) as they are.
        if b.get("run_type") == "aggregate" and b["aggregate_name"] != "median":
            continue
        if b.get("run_type") == "iteration" and b.get("repetitions", 1) > 1:
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        name = re.sub(r"/(iterations|repeats):\d+", "", name)
        rows[name] = b
    ctx = data["context"]
    print(f"CPU: {ctx.get('host_name', '?')}, {ctx['num_cpus']} cores "
          f"@ {ctx['mhz_per_cpu']} MHz, one core used (taskset -c 0); "
          f"Debian's libbenchmark reports itself as a "
          f"{ctx.get('library_build_type', '?')} build; ours is Release.\n")
    for stream, title in STREAMS.items():
        enc = rows.get(f"huffman_encode/{stream}")
        dec = rows.get(f"huffman_decode/{stream}")
        if not enc or not dec:
            continue
        n = 10_000_000
        print(f"**{title}** ({n:,} symbols, entropy bound "
              f"{dec['entropy_bits']:.3f} bits/symbol = "
              f"{dec['entropy_bytes']:,.0f} bytes)\n")
        print("| coder | bytes | bits/symbol | vs bound | encode MB/s "
              "| decode MB/s |")
        print("|---|---:|---:|---:|---:|---:|")
        bound = dec["entropy_bytes"]

        def row(label, c, d):
            size = d["compressed_bytes"]
            print(f"| {label} | {size:,.0f} | {d['bits_per_symbol']:.3f} | "
                  f"{100 * (size / bound - 1):+.2f}% | "
                  f"{c['bytes_per_second'] / 1e6:,.0f} | "
                  f"{d['bytes_per_second'] / 1e6:,.0f} |")

        row("condense Huffman", enc, dec)
        packed = rows.get(f"packed_encode/{stream}")
        if packed:
            size = packed["compressed_bytes"]
            print(f"| condense, {packed['index_pack']:.0f} indices per symbol "
                  f"| {size:,.0f} | {packed['bits_per_symbol']:.3f} | "
                  f"{100 * (size / bound - 1):+.2f}% | "
                  f"{packed['bytes_per_second'] / 1e6:,.0f} | (see text) |")
        for level in (1, 3, 19):
            c = rows.get(f"zstd_compress/{stream}/{level}")
            d = rows.get(f"zstd_decompress/{stream}/{level}")
            if c and d:
                row(f"zstd -{level}", c, d)
        print()
    cdz = rows.get("cdz_decode_float32")
    if cdz:
        print("**Whole .cdz to float32** (one 100M-element layer at 10% "
              "density, 32 centroids, 5-bit gaps; open, checksum, decode, "
              "scatter):\n")
        print("| file bytes | ratio | decode GB/s of float32 output |")
        print("|---:|---:|---:|")
        print(f"| {cdz['file_bytes']:,.0f} | {cdz['ratio']:.1f}x | "
              f"{cdz['bytes_per_second'] / 1e9:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
