"""matmul, dot, tensordot and histogram of kaon.array against NumPy, on random shapes
and uneven chunkings, through a cluster of worker processes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kaon
import kaon.array as ka
from conftest import kaon_uniform
from test_array_layout import (
    check_chunks,
    compare,
    compute_all,
    explicit_chunks,
    lazy_input,
    random_input,
    value,
    with_dtype,
)


@pytest.fixture(autouse=True)
def _default(client: kaon.Client) -> None:
    assert kaon.default_client() is client


def close(cases: list, what: str = "", rtol: float = 1e-12) -> None:
    """Computes the lazy arrays of ``cases`` (pairs of lazy, NumPy result): integers
    and booleans exactly equal, floats to ``rtol`` (1e-5 for float32); then the same
    shape, dtype and consistent chunks."""

    def check_values(g, want, msg):
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(g, want, err_msg=msg)
        else:
            tol = 1e-5 if want.dtype == np.float32 else rtol
            scale = float(np.abs(want).max()) if want.size else 1.0
            np.testing.assert_allclose(g, want, rtol=tol, atol=tol * scale, err_msg=msg)

    compare(cases, what, check_values)


def dims(rng: np.random.Generator, n: int, zero: bool = True) -> list[int]:
    """``n`` random lengths, now and then 0 (when ``zero``) or 1."""
    out = []
    for _ in range(n):
        r = rng.random()
        out.append(0 if zero and r < 0.06 else 1 if r < 0.15 else int(rng.integers(2, 10)))
    return out


#: (dtype of a, dtype of b) for matmul; NumPy gives the promoted dtype (bool @ bool is
#: bool: "any of the products").
DTYPE_PAIRS = [
    (np.float64, np.float64),
    (np.int64, np.int64),
    (np.int32, np.int32),
    (np.float32, np.float32),
    (np.int32, np.float64),
    (np.bool_, np.bool_),
    (np.bool_, np.int32),
    (np.int64, np.float32),
]


# ---------------------------------------------------------------------- matmul, dot
@pytest.mark.parametrize("case", range(len(DTYPE_PAIRS)))
def test_matmul_and_dot(rng, case):
    da, db = DTYPE_PAIRS[case]
    cases = []
    for _ in range(3):
        m, k, n = dims(rng, 3)
        inner = explicit_chunks(rng, (k,))[0]
        a, av = lazy_input(rng, (m, k), (explicit_chunks(rng, (m,))[0], inner), da)
        b, bv = lazy_input(rng, (k, n), (inner, explicit_chunks(rng, (n,))[0]), db)
        want = av @ bv
        for got in (a @ b, ka.matmul(a, b), ka.dot(a, b)):
            assert got.chunks == (a.chunks[0], b.chunks[1]), (a.chunks, b.chunks, got.chunks)
            cases.append((got, want))
        cases.append((ka.tensordot(a, b, axes=1), np.tensordot(av, bv, axes=1)))
    close(cases, f"matmul {da.__name__} @ {db.__name__}")


@pytest.mark.parametrize("case", range(3))
def test_matmul_with_other_inner_chunks(rng, case):
    """The operands' chunks along the contracted axis differ: they are brought to
    common chunks (as dask does) and the outer chunks stay."""
    cases = []
    for _ in range(3):
        m, k, n = dims(rng, 3, zero=False)
        a, av = lazy_input(rng, (m, k), explicit_chunks(rng, (m, k)), np.float64)
        b, bv = lazy_input(
            rng, (k, n), explicit_chunks(rng, (k, n)), [np.float64, np.int64, np.int32][case]
        )
        for got in (a @ b, ka.dot(a, b), ka.tensordot(a, b, axes=1)):
            assert got.chunks == (a.chunks[0], b.chunks[1]), (a.chunks, b.chunks, got.chunks)
            cases.append((got, av @ bv))
        one, ov = lazy_input(rng, (k, n), 1, np.float64)
        whole, wv = lazy_input(rng, (n, m), -1, np.float64)
        cases += [(a @ one, av @ ov), (one.T @ a.T, ov.T @ av.T), (whole @ (a @ b), wv @ (av @ bv))]
    close(cases, "matmul with other inner chunks")


@pytest.mark.parametrize("case", range(4))
def test_tensordot(rng, case):
    dtype = [np.float64, np.int64, np.int32, np.float32][case]
    m, k = dims(rng, 2)
    n = int(rng.integers(1, 8))
    cm, ck, cn = (explicit_chunks(rng, (d,))[0] for d in (m, k, n))
    a, av = lazy_input(rng, (m, k), (cm, ck), dtype)
    same, sv = lazy_input(rng, (m, k), (cm, ck), dtype)
    kn, knv = lazy_input(rng, (k, n), (ck, cn), dtype)
    mn, mnv = lazy_input(rng, (m, n), (cm, cn), dtype)
    nk, nkv = lazy_input(rng, (n, k), (cn, ck), dtype)
    km, kmv = lazy_input(rng, (k, m), (ck, cm), dtype)
    cases = [
        (ka.tensordot(a, same), np.tensordot(av, sv)),
        (ka.tensordot(a, same, axes=2), np.tensordot(av, sv, axes=2)),
        (ka.tensordot(a, kn, axes=1), np.tensordot(av, knv, axes=1)),
        (ka.tensordot(a, kn, axes=([1], [0])), np.tensordot(av, knv, axes=([1], [0]))),
        (ka.tensordot(a, kn, axes=(1, 0)), np.tensordot(av, knv, axes=(1, 0))),
        (ka.tensordot(a, mn, axes=([0], [0])), np.tensordot(av, mnv, axes=([0], [0]))),
        (ka.tensordot(a, nk, axes=([1], [1])), np.tensordot(av, nkv, axes=([1], [1]))),
        (ka.tensordot(a, nk, axes=(-1, -1)), np.tensordot(av, nkv, axes=(-1, -1))),
        (ka.tensordot(a, same, axes=([0, 1], [0, 1])), np.tensordot(av, sv, axes=([0, 1], [0, 1]))),
        (ka.tensordot(a, km, axes=([0, 1], [1, 0])), np.tensordot(av, kmv, axes=([0, 1], [1, 0]))),
    ]
    assert cases[0][0].shape == () and cases[0][0].chunks == ()
    assert cases[5][0].chunks == (ck, cn)
    assert cases[6][0].chunks == (cm, cn)
    close(cases, f"tensordot {dtype.__name__} {(m, k, n)}")


def test_tensordot_outer_product_axes_0(rng):
    a, av = lazy_input(rng, (3, 4), ((1, 2), (3, 1)), np.float64)
    b, bv = lazy_input(rng, (2, 5), ((2,), (2, 2, 1)), np.int32)
    got = ka.tensordot(a, b, axes=0)
    close([(got, np.tensordot(av, bv, axes=0))], "outer product")
    assert got.chunks == (*a.chunks, *b.chunks)  # as dask: every chunk of a with every one of b


def test_linalg_errors():
    a = ka.ones((3, 4), chunks=2)
    b = ka.ones((5, 2), chunks=2)
    shapes = r"\(3, ?4\).*\(5, ?2\)"
    with pytest.raises(ValueError, match=shapes):
        a @ b
    with pytest.raises(ValueError, match=shapes):
        ka.matmul(a, b)
    with pytest.raises(ValueError, match=shapes):
        ka.dot(a, b)
    with pytest.raises(ValueError, match=shapes):
        ka.tensordot(a, b, axes=1)
    with pytest.raises(ValueError, match=r"\(3, ?4\).*\(4, ?3\)"):
        ka.tensordot(a, ka.ones((4, 3), chunks=2), axes=2)
    with pytest.raises(ValueError, match=r"\(3, ?4\).*\(3, ?5\)"):
        ka.tensordot(a, ka.ones((3, 5), chunks=2), axes=([1], [0]))


def test_linalg_compositions(rng):
    m, p, n = 9, 6, 4
    x, xv = lazy_input(rng, (m, p), ((2, 3, 4), (1, 5)), np.float64)
    xs = x[::-2, 1:]
    assert xs.shape == (5, 5)
    y, yv = lazy_input(rng, (5, n), (xs.chunks[0], (3, 1)), np.float64)
    i, iv = lazy_input(rng, (m, p), ((2, 3, 4), (1, 5)), np.int64)
    np_const = np.arange(p * 3, dtype=np.int64).reshape(p, 3) - 7
    c = ka.from_array(np_const, chunks=((1, 5), (2, 1)))
    cases = [
        (xs.T @ y, xv[::-2, 1:].T @ yv),
        ((x @ x.T).sum(axis=1), (xv @ xv.T).sum(axis=1)),
        ((x.T @ x).T + x.T @ x, (xv.T @ xv).T + xv.T @ xv),
        ((i @ c)[1:, ::-1], (iv @ np_const)[1:, ::-1]),
        (ka.concatenate([i, i]) @ c, np.concatenate([iv, iv]) @ np_const),
        (ka.stack([x, x])[1] @ x.T.rechunk(((1, 5), 3)), xv @ xv.T),
        ((x * 2 + 1) @ (x.T > 0.5), (xv * 2 + 1) @ (xv.T > 0.5)),
        (ka.dot(x, x.T) @ x @ c, xv @ xv.T @ xv @ np_const),
        (
            (x.T.reshape(-1).reshape(p, m).rechunk((2, x.chunks[0])) @ x).rechunk(-1),
            xv.T.reshape(-1).reshape(p, m) @ xv,
        ),
        (
            x[None].reshape(m, p).rechunk((3, (1, 5)))
            @ ka.from_array(np.eye(p), chunks=((1, 5), 2)),
            xv,
        ),
    ]
    close(cases, "linalg compositions")
    s = (xs.T @ y).sum()
    np.testing.assert_allclose(value(s), (xv[::-2, 1:].T @ yv).sum(), rtol=1e-12)


# ---------------------------------------------------------------------- histogram
def check_histogram(x, v, bins, range, weights=None, wv=None, density=False) -> None:  # noqa: A002
    counts, edges = ka.histogram(x, bins=bins, range=range, weights=weights, density=density)
    want_counts, want_edges = np.histogram(v, bins=bins, range=range, weights=wv, density=density)
    what = f"histogram of {v.dtype} {v.shape} {x.chunks}, {bins} bins, {range}, density {density}"
    assert isinstance(counts, ka.Array), what
    assert isinstance(edges, np.ndarray), (what, type(edges))
    got = np.asarray(value(counts, what))
    assert got.shape == want_counts.shape, (what, got.shape)
    if density or want_counts.dtype.kind == "f":
        np.testing.assert_allclose(got, want_counts, rtol=1e-12, atol=1e-300, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want_counts, err_msg=what)
    assert got.dtype == want_counts.dtype, (what, got.dtype)
    assert counts.shape == (bins,) and counts.dtype == want_counts.dtype, (what, counts.dtype)
    check_chunks(counts)
    np.testing.assert_array_equal(edges, want_edges, err_msg=what)
    assert edges.dtype == want_edges.dtype, (what, edges.dtype, want_edges.dtype)


@pytest.mark.parametrize("case", range(6))
def test_histogram(rng, case):
    dtype = [np.float64, np.int64, np.int32, np.float64, np.uint8, np.float64][case]
    x, v = random_input(rng, ndim=1 + case % 3, dtype=dtype, max_len=30)
    if dtype == np.float64 and case == 3:  # values on the edges of the bins
        x = (x * 8).astype(np.int64) / 8
    v = value(x)  # the histogram of exactly the values Kaon has
    lo, hi = (0.0, 1.0) if v.dtype.kind == "f" else (-100, 100) if v.dtype != np.uint8 else (0, 255)
    mid = lo + (hi - lo) * float(rng.uniform(0.2, 0.5))
    ranges = [
        (lo, hi),
        (mid, hi - (hi - lo) / 7),  # values outside both ends are left out
        (lo - (hi - lo), hi + (hi - lo) / 3),  # all inside, some bins empty
    ]
    if v.size:
        ranges.append((v.min().item(), v.max().item()))  # the maximum sits on the last edge
    for r in ranges:
        if r[0] == r[1]:
            r = (r[0], r[0] + 1)
        for bins in (1, int(rng.integers(2, 13)), 8):
            check_histogram(x, v, bins, r)
    # Weights (integers: exact; floats) and densities.
    wi, wiv = with_dtype(*_twin(rng, x), np.int64)
    wf, wfv = _twin(rng, x)
    check_histogram(x, v, 5, ranges[1], weights=wi, wv=wiv)
    check_histogram(x, v, 7, ranges[0], weights=wf, wv=wfv)
    if v.size:
        check_histogram(x, v, 6, ranges[0], density=True)
        check_histogram(x, v, 4, ranges[2], weights=wf, wv=wfv, density=True)


def _twin(rng: np.random.Generator, x: ka.Array):
    """Uniform numbers with the shape and chunks of ``x``, and their values."""
    seed = int(rng.integers(0, 2**63))
    w = ka.random.random(x.shape, chunks=x.chunks, seed=seed)
    return w, kaon_uniform(seed, w.chunks)


def test_histogram_edges_and_outside_values():
    data = np.array([-0.5, 0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 0.999999])
    x = ka.from_array(data, chunks=3)
    counts, edges = ka.histogram(x, bins=4, range=(0, 1))
    np.testing.assert_array_equal(edges, [0, 0.25, 0.5, 0.75, 1])
    # Left edges are in their bins; the last bin has its right edge too; -0.5 and 1.5
    # are out.
    np.testing.assert_array_equal(value(counts), [1, 1, 2, 4])
    ints = ka.from_array(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), chunks=4)
    c, e = ka.histogram(ints, bins=5, range=(0, 10))
    np.testing.assert_array_equal(value(c), [2, 2, 2, 2, 3])
    np.testing.assert_array_equal(e, np.linspace(0, 10, 6))
    # Composes: a histogram of a computed expression, and the counts feed arithmetic.
    y = ka.random.random((40, 30), chunks=(7, 11), seed=5)
    yv = value(y)
    c, e = ka.histogram(ka.sqrt(y[::2].T), bins=10, range=(0, 1))
    want, _ = np.histogram(np.sqrt(yv[::2].T), bins=10, range=(0, 1))
    np.testing.assert_array_equal(value(c), want)
    np.testing.assert_array_equal(value(c * 2 + 1), want * 2 + 1)
    assert int(value(c.sum())) == yv[::2].size
    # Histograms of several arrays computed together.
    c2, _ = ka.histogram(y, bins=3, range=(0.5, 0.8))
    got = compute_all([c, c2])
    np.testing.assert_array_equal(got[1], np.histogram(yv, bins=3, range=(0.5, 0.8))[0])


def test_histogram_nan_and_float32_as_numpy(rng):
    data = np.array([np.nan, 0.5, 0.2, np.nan, 1.0, -np.inf, np.inf, 0.0])
    c, e = ka.histogram(ka.from_array(data, chunks=3), bins=2, range=(0, 1))
    want_c, want_e = np.histogram(data, bins=2, range=(0, 1))
    np.testing.assert_array_equal(value(c), want_c)
    np.testing.assert_array_equal(e, want_e)
    # float32 data: NumPy's edges (and the comparisons) are float32. Values on those
    # edges (0.7f is below 0.7) go to the bin above.
    on_edges = np.linspace(0, 1, 11).astype(np.float32)
    check_histogram(ka.from_array(on_edges, chunks=2), on_edges, 10, (0, 1))
    x, v = lazy_input(rng, (40, 9), (7, 4), np.float32)
    check_histogram(x, v, 3, (0, 1))
    check_histogram(x, v, 7, (0.1, 0.8))


def test_histogram_errors():
    x = ka.ones((4, 6), chunks=2)
    with pytest.raises(ValueError, match="range"):
        ka.histogram(x, bins=5)
    with pytest.raises(ValueError, match=r"\(4, ?6\).*\(4, ?5\)|\(4, ?5\).*\(4, ?6\)|shape|chunk"):
        ka.histogram(x, bins=5, range=(0, 1), weights=ka.ones((4, 5), chunks=2))
    with pytest.raises(ValueError):
        ka.histogram(x, bins=0, range=(0, 1))
    with pytest.raises(ValueError):
        ka.histogram(x, bins=3, range=(1, 0))


# ---------------------------------------------------------------------- NumPy's functions
def test_numpy_functions_dispatch_to_kaon(rng):
    a, av = lazy_input(rng, (5, 6), (2, 3), np.float64)
    b, bv = lazy_input(rng, (6, 4), (3, 2), np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cases = [
            (np.dot(a, b), np.dot(av, bv)),
            (np.tensordot(a, b, axes=1), np.tensordot(av, bv, axes=1)),
        ]
        counts, edges = np.histogram(a, bins=4, range=(0, 1))
        want_counts, want_edges = np.histogram(av, bins=4, range=(0, 1))
        cases.append((counts, want_counts))
        np.testing.assert_array_equal(edges, want_edges)
        close(cases, "numpy functions")
        # np.matmul is a ufunc: dask answers it in __array_ufunc__.
        close([(np.matmul(a, b), np.matmul(av, bv))], "np.matmul")


# ---------------------------------------------------------- later: bincount, unique, percentile
def test_bincount(rng):
    x, v = lazy_input(rng, (50,), 7, np.float64)
    i, iv = (x * 12).astype(np.int64), (v * 12).astype(np.int64)
    w, wv = _twin(rng, x)
    got = compute_all([ka.bincount(i), ka.bincount(i, minlength=20), ka.bincount(i, weights=w)])
    np.testing.assert_array_equal(got[0], np.bincount(iv))
    np.testing.assert_array_equal(got[1], np.bincount(iv, minlength=20))
    np.testing.assert_allclose(got[2], np.bincount(iv, weights=wv), rtol=1e-12)
    assert got[0].dtype == np.bincount(iv).dtype


def test_unique(rng):
    x, v = random_input(rng, ndim=2, dtype=np.int32, max_len=20)
    y, yv = lazy_input(rng, (31,), ((5, 9, 17),), np.int64)
    got = compute_all([ka.unique(x), ka.unique(y // 10)])
    np.testing.assert_array_equal(got[0], np.unique(v))
    np.testing.assert_array_equal(got[1], np.unique(yv // 10))


def test_percentile_is_close_to_numpy():
    x = ka.random.random(4000, chunks=(700,), seed=2)
    v = value(x)
    q = [0, 10, 25, 50, 75, 90, 100]
    # dask's percentile is lazy; Kaon's may return the computed values.
    p = ka.percentile(x, q)
    got = value(p) if isinstance(p, ka.Array) else np.asarray(p)
    np.testing.assert_allclose(got, np.percentile(v, q), atol=0.05)
    one = ka.from_array(v[:100], chunks=-1)
    p = ka.percentile(one, q)
    got = value(p) if isinstance(p, ka.Array) else np.asarray(p)
    np.testing.assert_allclose(got, np.percentile(v[:100], q), rtol=0, atol=1e-6)
