"""What the Python layer costs: the seed expression through ``kaon.array`` against the
same computation through the Rust API (``kaon demo``), in the same run, and the time
to build and lower the graph of a 100,000-chunk array.

Usage: ``.venv/bin/python client-py/benches/overhead.py [--kaon target/release/kaon]
[--shape 10000,10000,10] [--chunks 1000,1000,10] [--repeat 3]``; prints one JSON line.
Build the extension with ``make python-build-release`` first: the debug build is
slower than the release ``kaon`` binary for reasons that have nothing to do with Python.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

import kaon
import kaon.array as ka


def rust_seconds(kaon_bin: str, shape: str, chunks: str, threads: int) -> float:
    out = subprocess.run(
        [
            kaon_bin,
            "demo",
            "--shape",
            shape,
            "--chunks",
            chunks,
            "--workers",
            "1",
            "--threads-per-worker",
            str(threads),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(re.search(r"Computed in ([0-9.]+) s", out).group(1))


def python_seconds(client: kaon.Client, shape: tuple, chunks: tuple) -> float:
    t0 = time.perf_counter()
    x = ka.random.random(shape, chunks=chunks, seed=1)
    y = ka.random.random(shape, chunks=chunks, seed=2)
    z = (ka.arcsin(x) + ka.arccos(y)).sum(axis=(1, 2))
    r = client.compute(z, sync=True, progress=False)
    assert r.shape == shape[:1]
    return time.perf_counter() - t0


def graph_seconds(n_chunks: int) -> float:
    t0 = time.perf_counter()
    shape, chunks = (10 * n_chunks, 100, 10), (10, 100, 10)
    x = ka.random.random(shape, chunks=chunks, seed=1)
    y = ka.random.random(shape, chunks=chunks, seed=2)
    z = (ka.arcsin(x) + ka.arccos(y)).sum(axis=(1, 2))
    tasks, _ = z._h.graph_summary()  # lowered and fused, as compute() does
    assert x.npartitions == n_chunks and tasks >= n_chunks
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kaon", default="target/release/kaon")
    p.add_argument("--shape", default="10000,10000,10")
    p.add_argument("--chunks", default="1000,1000,10")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    threads = kaon._kaon.cpu_count()
    shape = tuple(int(s) for s in a.shape.split(","))
    chunks = tuple(int(s) for s in a.chunks.split(","))
    rust, python = [], []
    with kaon.Client(n_workers=1, threads_per_worker=threads, dashboard_address=None) as c:
        python_seconds(c, (100, 100, 10), (10, 100, 10))  # warm up
        for _ in range(a.repeat):  # interleaved, so both see the same machine
            rust.append(rust_seconds(a.kaon, a.shape, a.chunks, threads))
            python.append(python_seconds(c, shape, chunks))
    graph = min(graph_seconds(100_000) for _ in range(3))
    print(
        json.dumps(
            {
                "bench": "python-overhead",
                "shape": shape,
                "chunks": chunks,
                "threads": threads,
                "rust_s": rust,
                "python_s": python,
                "ratio_median": statistics.median(python) / statistics.median(rust),
                "graph_100k_chunks_s": graph,
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
