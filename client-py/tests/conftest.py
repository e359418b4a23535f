"""Fixtures: a cluster of worker processes shared by the tests of a session, and
helpers to find the ``kaon`` binary and to compute Kaon's random numbers in NumPy."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator

import numpy as np
import pytest

import kaon

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cluster() -> Iterator[kaon.LocalCluster]:
    """Two worker processes (``python -m kaon.worker``) with one thread each."""
    with kaon.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


@pytest.fixture(scope="session")
def client(cluster: kaon.LocalCluster) -> Iterator[kaon.Client]:
    with kaon.Client(cluster) as c:
        yield c


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name: random shapes, reproducible."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def random_chunking(rng: np.random.Generator, ndim: int | None = None, max_len: int = 12):
    """A random shape of 1 to 4 axes (sometimes with a zero-length axis) and a chunk
    specification in one of dask's forms: an int, a tuple of block sizes (with -1 and
    None), explicit irregular chunks, a dict, or "auto"."""
    ndim = int(rng.integers(1, 5)) if ndim is None else ndim
    shape = tuple(int(rng.integers(1, max_len + 1)) for _ in range(ndim))
    form = int(rng.integers(0, 5))
    if form == 0:
        return shape, int(rng.integers(1, max_len))
    if form == 1:
        return shape, tuple(
            [-1, None][int(rng.integers(0, 2))]
            if rng.random() < 0.2
            else int(rng.integers(1, n + 1))
            for n in shape
        )
    if form == 2:
        chunks = []
        for n in shape:
            cuts = (
                sorted(set(rng.integers(1, n, size=int(rng.integers(0, n))).tolist()))
                if n > 1
                else []
            )
            edges = [0, *cuts, n]
            chunks.append(tuple(b - a for a, b in zip(edges, edges[1:])))
        return shape, tuple(chunks)
    if form == 3:
        return shape, {int(rng.integers(0, ndim)): int(rng.integers(1, max_len))}
    return shape, "auto"


def kaon_binary() -> pathlib.Path:
    """target/debug/kaon or target/release/kaon, whichever is newer.

    ``make python-test`` builds it; a test that needs it fails (never skips) without it.
    """
    found = [REPO / "target" / p / "kaon" for p in ("debug", "release")]
    found = [p for p in found if p.exists()]
    if not found:
        pytest.fail("no target/debug/kaon or target/release/kaon: run `cargo build -p kaon-cli`")
    return max(found, key=lambda p: p.stat().st_mtime)


def wait_until(cond, timeout: float = 20.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def start_process(args: list, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [str(a) for a in args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **kwargs.pop("env", {})},
        **kwargs,
    )


def stop_process(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


PYTHON = sys.executable

# ---------------------------------------------------------------------- Kaon's generator
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED_XOR = np.uint64(0x5851F42D4C957F2D)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def kaon_uniform(seed: int, chunks: tuple) -> np.ndarray:
    """The random array ``ka.random.random`` gives for ``seed`` and ``chunks``,
    computed in NumPy from the formula in ``kaon_kernels::uniform``'s documentation:
    chunk ``c`` (C-order index over the block grid) element ``e`` (C-order index in
    the chunk) is ``mix(mix(mix(seed ^ K) ^ c) + e * G) >> 11`` times 2**-53."""
    shape = tuple(sum(c) for c in chunks)
    out = np.empty(shape)
    grid = [len(c) for c in chunks]
    starts = [np.concatenate([[0], np.cumsum(c)]) for c in chunks]
    with np.errstate(over="ignore"):
        for linear, block in enumerate(np.ndindex(*grid)):
            cshape = tuple(chunks[a][b] for a, b in enumerate(block))
            key = _mix(_mix(np.array([seed], dtype=np.uint64) ^ _SEED_XOR) ^ np.uint64(linear))
            e = np.arange(int(np.prod(cshape)), dtype=np.uint64)
            bits = _mix(key + e * _GOLDEN)
            values = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
            where = tuple(slice(starts[a][b], starts[a][b + 1]) for a, b in enumerate(block))
            out[where] = values.reshape(cshape)
    return out
