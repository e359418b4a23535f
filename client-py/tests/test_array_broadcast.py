"""Broadcasting, broadcast_to, var and std against NumPy, through a cluster of worker
processes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kaon
import kaon.array as ka
from conftest import random_chunking
from kaon.array.chunks import normalize_chunks


@pytest.fixture(autouse=True)
def _default(client: kaon.Client) -> None:
    assert kaon.default_client() is client


def close(got, want, rtol=1e-10) -> None:
    got = np.asarray(got)
    assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("case", range(5))
def test_operands_broadcast_as_in_numpy(rng, case):
    shape, spec = random_chunking(rng, ndim=int(rng.integers(2, 4)), max_len=8)
    x = ka.random.random(shape, chunks=spec, seed=case)
    chunks = x.chunks
    # A trailing slice of the shape (chunks must agree where lengths do), and the same
    # shape with some axes of length 1.
    k = int(rng.integers(1, len(shape) + 1))
    tail = ka.random.random(shape[-k:], chunks=chunks[-k:], seed=100 + case)
    ones_at = [i for i in range(len(shape)) if rng.random() < 0.5] or [0]
    small_shape = tuple(1 if i in ones_at else n for i, n in enumerate(shape))
    small_chunks = tuple((1,) if i in ones_at else c for i, c in enumerate(chunks))
    small = ka.random.random(small_shape, chunks=small_chunks, seed=200 + case)
    xv, tv, sv = kaon.compute(x, tail, small)
    cases = [
        (x + tail, xv + tv),
        (tail * x, tv * xv),
        (x - small, xv - sv),
        (small / (x + 1), sv / (xv + 1)),
        (ka.where(x > 0.5, small, tail), np.where(xv > 0.5, sv, tv)),
        (ka.maximum(small, tail), np.maximum(sv, tv)),
        (x - x.mean(axis=0), xv - xv.mean(axis=0)),
        (x - x.mean(axis=-1, keepdims=True), xv - xv.mean(axis=-1, keepdims=True)),
        ((x - x.max(axis=0)).sum(axis=1), (xv - xv.max(axis=0)).sum(axis=1)),
        (ka.broadcast_to(tail, shape), np.broadcast_to(tv, shape)),
        (np.broadcast_to(small, shape) * 2, np.broadcast_to(sv, shape) * 2),
        (ka.broadcast_to(ka.ones(1, chunks=1), (3, 4)), np.ones((3, 4))),
    ]
    got = kaon.compute(*[c for c, _ in cases])
    for g, (lazy, want) in zip(got, cases):
        assert lazy.shape == want.shape
        close(g, want)
    b = ka.broadcast_to(tail, (5, *shape), chunks=(2, *chunks))
    assert b.chunks == normalize_chunks((2, *chunks), (5, *shape))
    close(b.compute(), np.broadcast_to(tv, (5, *shape)))


def test_broadcast_errors_name_the_shapes():
    x = ka.ones((4, 6), chunks=2)
    with pytest.raises(ValueError, match=r"\(4, 6\) \(5,\)"):
        x + ka.ones(5, chunks=5)
    assert (x + ka.ones(6, chunks=3)).chunks == ((2, 2), (2, 1, 1, 2))
    with pytest.raises(ValueError, match=r"\(4, 6\) to the shape \(4, 5\)"):
        ka.broadcast_to(x, (4, 5))
    with pytest.raises(ValueError, match="fewer"):
        ka.broadcast_to(x, (6,))


@pytest.mark.parametrize("case", range(4))
def test_var_and_std(rng, case):
    shape, spec = random_chunking(rng, max_len=9)
    x = ka.random.random(shape, chunks=spec, seed=case) * 10 + 1e6  # a large mean
    xv = x.compute()
    lazy, wanted = [], []
    ndim = len(shape)
    for axis in [None, 0, -1, tuple(range(ndim))]:
        for ddof in (0, 1):
            for keepdims in (False, True):
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore", RuntimeWarning)
                    for f in ("var", "std"):
                        want = getattr(np, f)(xv, axis=axis, ddof=ddof, keepdims=keepdims)
                        lazy.append(getattr(ka, f)(x, axis=axis, ddof=ddof, keepdims=keepdims))
                        wanted.append(want)
                        lazy.append(getattr(np, f)(x, axis=axis, ddof=ddof, keepdims=keepdims))
                        wanted.append(want)
    i = x.astype(np.int32)
    f = x.astype(np.float32) - np.float32(1e6)
    iv, fv = xv.astype(np.int32), xv.astype(np.float32) - np.float32(1e6)
    lazy += [i.var(axis=0), f.std(), x.std(split_every=2)]
    wanted += [iv.var(axis=0), fv.std(), xv.std()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = kaon.compute(*lazy)
    for g, w in zip(got, wanted):
        rtol = 1e-4 if np.asarray(w).dtype == np.float32 else 1e-8
        close(g, w, rtol=rtol)


def test_random_distributions():
    n = ka.random.normal(5.0, 2.0, size=(400, 300), chunks=(150, 100), seed=3)
    assert n.dtype == np.float64 and n.chunks == ((150, 150, 100), (100, 100, 100))
    v = n.compute()
    assert abs(v.mean() - 5) < 0.02 and abs(v.std() - 2) < 0.02
    # Box-Muller of Kaon's two uniform streams, exactly.
    u1 = ka.random.random((400, 300), chunks=(150, 100), seed=3).compute()
    s2 = (3 * 0x9E3779B97F4A7C15 + 1) % 2**64
    u2 = ka.random.random((400, 300), chunks=(150, 100), seed=s2).compute()
    want = np.sqrt(-2 * np.log1p(-u1)) * np.cos(2 * np.pi * u2) * 2.0 + 5.0
    np.testing.assert_allclose(v, want, rtol=1e-12)
    i = ka.random.randint(-3, 7, size=10000, chunks=999, seed=1)
    iv = i.compute()
    assert iv.dtype == np.int64 and iv.min() == -3 and iv.max() == 6
    assert set(np.unique(iv)) == set(range(-3, 7))
    g = ka.random.default_rng(4)
    a = g.integers(5, size=(50,), chunks=7, dtype=np.uint8, endpoint=True).compute()
    assert a.dtype == np.uint8 and a.max() <= 5
    assert abs(g.standard_normal(20000, chunks=5000).compute().mean()) < 0.05
    assert g.normal(1.0, 0.5, size=10, chunks=5).compute().shape == (10,)
    rs = ka.random.RandomState(2)
    assert rs.randint(10, size=(30,), chunks=7).compute().max() < 10
    r1 = ka.random.RandomState(8).normal(size=20, chunks=6).compute()
    np.testing.assert_array_equal(ka.random.RandomState(8).normal(size=20, chunks=6).compute(), r1)
    assert ka.random.standard_normal(5, seed=1).compute().shape == (5,)
    with pytest.raises(ValueError, match="low >= high"):
        ka.random.randint(5, 5, size=3)
    with pytest.raises(ValueError, match="scale"):
        ka.random.normal(0, -1, size=3)
    # Random numbers compose with the rest: a fused normal histogram-ish count.
    inside = (ka.abs(ka.random.normal(size=100000, chunks=25000, seed=9)) < 1).mean()
    assert abs(float(inside) - 0.6827) < 0.01


def test_ranges_match_numpy(rng):
    cases = []
    for _ in range(4):
        start = int(rng.integers(-20, 20))
        stop = start + int(rng.integers(0, 40))
        step = int(rng.integers(1, 5))
        c = int(rng.integers(1, 9))
        cases += [
            (ka.arange(stop, chunks=c), np.arange(stop)),
            (ka.arange(start, stop, step, chunks=c), np.arange(start, stop, step)),
            (ka.arange(stop, start, -step, chunks=c), np.arange(stop, start, -step)),
            (ka.arange(start / 3, stop / 3, 0.7, chunks=c), np.arange(start / 3, stop / 3, 0.7)),
            (ka.arange(stop, chunks=c, dtype=np.int32), np.arange(stop, dtype=np.int32)),
            (ka.linspace(start, stop, c * 3, chunks=c), np.linspace(start, stop, c * 3)),
            (
                ka.linspace(start, stop, c, endpoint=False, chunks=2),
                np.linspace(start, stop, c, endpoint=False),
            ),
            (ka.eye(c + 2, chunks=c), np.eye(c + 2)),
            (
                ka.eye(c + 1, chunks=2, M=c + 3, k=-1, dtype=np.int32),
                np.eye(c + 1, c + 3, k=-1, dtype=np.int32),
            ),
        ]
    got = kaon.compute(*[a for a, _ in cases])
    for g, (lazy, want) in zip(got, cases):
        assert lazy.shape == want.shape and lazy.dtype == want.dtype, (lazy, want)
        close(g, want, rtol=1e-12)
    a, step = ka.linspace(0, 1, 5, retstep=True, chunks=2)
    assert step == 0.25 and a.chunks == ((2, 2, 1),)
    # Ranges fuse with what consumes them: one layer.
    s = (ka.arange(1000, chunks=100) ** 2).sum()
    names = s._h.graph_summary()[1]
    assert names[0].startswith("arange") and names[0].endswith("sum")
    assert all(n == "sum-aggregate" for n in names[1:])
    assert s.compute() == (np.arange(1000) ** 2).sum()
    assert ka.arange(0, chunks=3).shape == (0,)
    with pytest.raises(ValueError, match="step"):
        ka.arange(0, 5, 0)
