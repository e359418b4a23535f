"""kaon.array against NumPy, on random shapes and chunkings, through a cluster of
worker processes."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest

import kaon
import kaon.array as ka
from conftest import kaon_uniform, random_chunking
from kaon.array.chunks import normalize_chunks

#: Ufuncs NumPy computes for float64 input (the bitwise ones refuse floats).
_INT_ONLY = {"invert", "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"}
UNARY = [n for n, k in ka.UFUNCS.items() if k == 1 and n not in _INT_ONLY]
BINARY = [n for n, k in ka.UFUNCS.items() if k == 2 and n not in _INT_ONLY]


@pytest.fixture(autouse=True)
def _default(client: kaon.Client) -> None:
    assert kaon.default_client() is client


def assert_same(got, want, rtol: float = 1e-12) -> None:
    """Same shape, same dtype as NumPy's result, and the same values (to ``rtol``)."""
    got = np.asarray(got)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    assert got.dtype == np.asarray(want).dtype, (got.dtype, np.asarray(want).dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-300, equal_nan=True)


def random_input(rng: np.random.Generator, low: float = 0.0, high: float = 1.0, ndim=None):
    """A lazy random array of a random shape and chunking, and its values."""
    shape, spec = random_chunking(rng, ndim)
    seed = int(rng.integers(0, 2**63))
    x = ka.random.random(shape, chunks=spec, seed=seed)
    assert x.chunks == normalize_chunks(spec, shape)
    if (low, high) != (0.0, 1.0):
        x = x * (high - low) + low
    values = x.compute()
    return x, values


# ---------------------------------------------------------------------- random
@pytest.mark.parametrize("case", range(6))
def test_random_numbers_are_kaons_counter_based_generator(rng, case):
    shape, spec = random_chunking(rng)
    seed = int(rng.integers(0, 2**64, dtype=np.uint64))
    x = ka.random.random(shape, chunks=spec, seed=seed)
    got = x.compute()
    np.testing.assert_array_equal(got, kaon_uniform(seed, x.chunks))
    assert ((got >= 0) & (got < 1)).all()


def test_random_streams_and_generators():
    a = ka.random.random((30, 20), chunks=(7, 20), seed=1).compute()
    assert_same(ka.random.random_sample((30, 20), chunks=(7, 20), seed=1), a)
    assert not np.array_equal(ka.random.random((30, 20), chunks=(7, 20), seed=2).compute(), a)
    # Other chunks, other numbers (as in dask); the same chunks, the same numbers.
    assert not np.array_equal(ka.random.random((30, 20), chunks=10, seed=1).compute(), a)
    g1, g2 = ka.random.default_rng(42), ka.random.default_rng(42)
    first = g1.random((50,), chunks=10).compute()
    assert_same(g2.random((50,), chunks=10), first)
    assert not np.array_equal(g1.random((50,), chunks=10).compute(), first)
    rs = ka.random.RandomState(7)
    r1 = rs.random_sample((8, 8), chunks=4).compute()
    assert_same(ka.random.RandomState(7).random_sample((8, 8), chunks=4), r1)
    assert_same(ka.random.RandomState(7).random((8, 8), chunks=4), r1)
    u = ka.random.uniform(-3.0, 5.0, size=(1000,), chunks=300, seed=9).compute()
    assert u.min() >= -3 and u.max() < 5 and u.std() > 1
    g = ka.random.default_rng(3).uniform(2, 4, size=10, chunks=3).compute()
    assert ((g >= 2) & (g < 4)).all()
    ka.random.seed(5)
    s1 = ka.random.random(20, chunks=5).compute()
    ka.random.seed(5)
    assert_same(ka.random.random(20, chunks=5), s1)
    assert not np.array_equal(ka.random.random(20, chunks=5).compute(), s1)
    assert ka.random.random().shape == ()
    assert 0 <= float(ka.random.random(seed=1)) < 1
    z = ka.random.random((1000, 1000), chunks=(100, 250), seed=3).compute()
    assert abs(z.mean() - 0.5) < 0.01 and abs(z.var() - 1 / 12) < 0.01


# ---------------------------------------------------------------------- creation
@pytest.mark.parametrize("case", range(4))
def test_creation_functions(rng, case):
    shape, spec = random_chunking(rng)
    want = normalize_chunks(spec, shape)
    for f, value in ((ka.ones, 1.0), (ka.zeros, 0.0), (ka.empty, None)):
        a = f(shape, chunks=spec)
        assert a.shape == shape and a.chunks == want and a.dtype == np.float64
        if value is not None:
            assert_same(a.compute(), np.full(shape, value))
    v = float(rng.normal())
    assert_same(ka.full(shape, v, chunks=spec).compute(), np.full(shape, v))
    assert_same(
        ka.full(shape, np.float32(2.5), chunks=spec).compute(), np.full(shape, np.float32(2.5))
    )
    assert_same(ka.full(shape, 3, chunks=spec).compute(), np.full(shape, 3))
    base = ka.random.random(shape, chunks=spec, seed=1)
    for f, value in ((ka.ones_like, 1.0), (ka.zeros_like, 0.0), (np.ones_like, 1.0)):
        a = f(base)
        assert isinstance(a, ka.Array) and a.chunks == base.chunks
        assert_same(a.compute(), np.full(shape, value))
    assert ka.empty_like(base).chunks == base.chunks
    a = ka.full_like(base, -4.5)
    assert a.chunks == base.chunks
    assert_same(a.compute(), np.full(shape, -4.5))
    assert_same(np.full_like(base, 2.0).compute(), np.full(shape, 2.0))
    # Like an in-memory array, and with another shape or chunks.
    assert_same(ka.ones_like(np.zeros((3, 4))).compute(), np.ones((3, 4)))
    assert ka.zeros_like(base, shape=(5, 2), chunks=2).chunks == ((2, 2, 1), (2,))
    assert ka.ones(7).shape == (7,)
    assert ka.ones(()).compute() == 1.0


def test_normalize_chunks_follows_dask():
    assert normalize_chunks(2, (5, 3)) == ((2, 2, 1), (2, 1))
    assert normalize_chunks((2, -1), (5, 3)) == ((2, 2, 1), (3,))
    assert normalize_chunks((None, 10), (5, 3)) == ((5,), (3,))
    assert normalize_chunks(((3, 2), (1, 1, 1)), (5, 3)) == ((3, 2), (1, 1, 1))
    assert normalize_chunks({0: 2}, (5, 3)) == ((2, 2, 1), (3,))
    assert normalize_chunks({-1: 2}, (5, 3)) == ((5,), (2, 1))
    assert normalize_chunks(4, (0, 3)) == ((0,), (3,))
    assert normalize_chunks((), ()) == ()
    assert normalize_chunks("auto", (10, 10)) == ((10,), (10,))
    big = normalize_chunks("auto", (100_000, 100_000))
    assert math.prod(max(c) for c in big) * 8 <= 128 * 2**20
    assert math.prod(max(c) for c in big) * 8 > 32 * 2**20
    small = normalize_chunks("8MiB", (100_000, 100_000))
    assert math.prod(max(c) for c in small) * 8 <= 8 * 2**20
    assert normalize_chunks((1000, "auto"), (1000, 10**6))[0] == (1000,)
    with pytest.raises(ValueError, match="add up"):
        normalize_chunks(((3, 3), (3,)), (5, 3))
    with pytest.raises(ValueError, match="entries"):
        normalize_chunks((2, 2, 2), (5, 3))
    with pytest.raises(ValueError, match="positive"):
        normalize_chunks(0, (5, 3))
    with pytest.raises(ValueError):
        normalize_chunks("lots", (5, 3))
    with pytest.raises(TypeError):
        normalize_chunks(2.5, (5, 3))
    with pytest.raises(ValueError, match="negative"):
        ka.ones((-1, 3))


# ---------------------------------------------------------------------- elementwise
@pytest.mark.parametrize("name", UNARY)
def test_unary_ufuncs(rng, name):
    x, xv = random_input(rng, -2.0, 2.0)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(xv)
    lazy = (getattr(ka, name)(x), getattr(np, name)(x))
    for a in lazy:
        assert isinstance(a, ka.Array)  # NumPy's ufunc stays lazy too
        assert a.chunks == x.chunks
    for got in kaon.compute(*lazy):
        assert_same(got, want, rtol=1e-12)
    # On in-memory input the ufunc is NumPy's.
    with np.errstate(all="ignore"):
        np.testing.assert_equal(getattr(ka, name)(0.5), getattr(np, name)(0.5))


@pytest.mark.parametrize("name", BINARY)
def test_binary_ufuncs(rng, name):
    x, xv = random_input(rng, 0.1, 2.0)
    y = ka.random.random(x.shape, chunks=x.chunks, seed=99) * 3 - 1
    yv = y.compute()
    s = float(rng.uniform(0.5, 3))
    f, npf = getattr(ka, name), getattr(np, name)
    with np.errstate(all="ignore"):
        cases = [
            (f(x, y), npf(xv, yv)),
            (npf(x, y), npf(xv, yv)),
            (f(x, s), npf(xv, s)),
            (f(s, x), npf(s, xv)),
            (npf(x, np.float64(s)), npf(xv, s)),
            (npf(np.array(s), x), npf(s, xv)),
            (f(x, x), npf(xv, xv)),
        ]
    assert all(isinstance(lazy, ka.Array) for lazy, _ in cases)
    for got, (_, want) in zip(kaon.compute(*[lazy for lazy, _ in cases]), cases):
        assert_same(got, want)


def test_operators(rng):
    x, xv = random_input(rng, 0.5, 1.5)
    y = ka.ones_like(x) * 2 + x
    yv = np.ones_like(xv) * 2 + xv
    cases = [
        (x + y, xv + yv),
        (x - y, xv - yv),
        (x * y, xv * yv),
        (x / y, xv / yv),
        (x**y, xv**yv),
        (x + 1, xv + 1),
        (2 - x, 2 - xv),
        (3 * x, 3 * xv),
        (1 / x, 1 / xv),
        (x**2, xv**2),
        (2**x, 2**xv),
        (x / 4, xv / 4),
        (-x, -xv),
        (+x, xv),
        (abs(x - 1), abs(xv - 1)),
        (np.abs(1 - x), np.abs(1 - xv)),
        (x + True, xv + 1),
        (((x + 1) * (y - 1) / 2) ** 0.5 - -x, ((xv + 1) * (yv - 1) / 2) ** 0.5 + xv),
    ]
    assert all(isinstance(lazy, ka.Array) for lazy, _ in cases)
    for got, (_, want) in zip(kaon.compute(*[lazy for lazy, _ in cases]), cases):
        assert_same(got, want)
    assert ka.abs is ka.absolute and ka.true_divide is ka.divide


def test_the_seed_expression():
    shape, chunks = (40, 30, 10), (10, 15, 10)
    x = ka.random.random(shape, chunks=chunks, seed=1)
    y = ka.random.random(shape, chunks=chunks, seed=2)
    z = (ka.arcsin(x) + ka.arccos(y)).sum(axis=(1, 2))
    assert z.shape == (40,) and z.chunks == ((10, 10, 10, 10),)
    xv, yv = kaon_uniform(1, x.chunks), kaon_uniform(2, y.chunks)
    assert_same(z.compute(), (np.arcsin(xv) + np.arccos(yv)).sum(axis=(1, 2)), rtol=1e-10)


# ---------------------------------------------------------------------- reductions
def _axes_cases(rng, ndim):
    cases = [None, 0, -1, tuple(range(ndim))]
    if ndim > 1:
        k = int(rng.integers(1, ndim))
        cases.append(tuple(sorted(rng.choice(ndim, size=k, replace=False).tolist())))
        cases.append((ndim - 1, 0))
    return cases


@pytest.mark.parametrize("name", ["sum", "prod", "min", "max", "mean"])
@pytest.mark.parametrize("case", range(3))
def test_reductions(rng, name, case):
    x, xv = random_input(rng, 0.5, 1.5)
    npf = getattr(np, name)
    lazy, wanted = [], []
    for axis in _axes_cases(rng, x.ndim):
        for keepdims in (False, True):
            split_every = [None, 2, 3][int(rng.integers(0, 3))]
            want = npf(xv, axis=axis, keepdims=keepdims)
            for a in (
                getattr(ka, name)(x, axis=axis, keepdims=keepdims, split_every=split_every),
                getattr(x, name)(axis=axis, keepdims=keepdims),
                npf(x, axis=axis, keepdims=keepdims),
            ):
                assert isinstance(a, ka.Array)
                assert a.shape == np.shape(want)
                lazy.append(a)
                wanted.append(want)
    # All of them as one graph (several outputs sharing the random input).
    for got, want in zip(kaon.compute(*lazy), wanted):
        assert_same(got, want, rtol=1e-10)


def test_reduction_results_are_numpy_scalars_and_chain(rng):
    x, xv = random_input(rng, ndim=3)
    total = x.sum().compute()
    assert isinstance(total, np.float64)
    assert np.isclose(total, xv.sum(), rtol=1e-12)
    # Reductions of reductions, elementwise work on reductions, keepdims results reused.
    s = x.sum(axis=0)
    t = (ka.sin(s) + s * 2).max(axis=-1)
    want_s = xv.sum(axis=0)
    assert_same(t.compute(), (np.sin(want_s) + want_s * 2).max(axis=-1), rtol=1e-10)
    k = x.mean(axis=1, keepdims=True)
    assert_same((k * k).sum(axis=1).compute(), (xv.mean(axis=1, keepdims=True) ** 2).sum(axis=1))
    assert_same(np.add.reduce(x).compute(), np.add.reduce(xv), rtol=1e-10)
    assert_same(np.maximum.reduce(x, axis=1).compute(), np.maximum.reduce(xv, axis=1))
    assert_same(ka.amax(x, axis=(0, 2)).compute(), np.amax(xv, axis=(0, 2)))
    assert_same(ka.amin(x).compute(), np.amin(xv))


def test_empty_and_zero_dimensional_arrays():
    assert_same(ka.ones((0, 3), chunks=2).sum(axis=0).compute(), np.zeros(3))
    assert_same(ka.ones((0, 3), chunks=2).compute(), np.ones((0, 3)))
    assert_same(ka.ones((0, 4), chunks=2).max(axis=1).compute(), np.ones((0, 4)).max(axis=1))
    with pytest.raises(ValueError, match="zero-size array"):
        np.ones((4, 0)).max(axis=1)
    with pytest.raises(ValueError, match="zero-size array"):
        ka.ones((4, 0), chunks=2).max(axis=1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(ka.ones((0,)).mean().compute())
    with pytest.raises(ValueError, match="zero-size array"):
        ka.ones((0, 3)).max(axis=0)
    zero_d = ka.full((), 2.5)
    assert zero_d.shape == () and zero_d.ndim == 0 and zero_d.size == 1
    assert zero_d.sum() is zero_d
    assert float(zero_d + 1) == 3.5


# ---------------------------------------------------------------------- the Array
def test_metadata_and_reprs():
    x = ka.random.random((1000, 300, 7), chunks=((400, 600), 100, -1), seed=1)
    assert x.shape == (1000, 300, 7) and x.ndim == 3 and x.size == 2_100_000
    assert x.dtype == np.float64 and x.itemsize == 8 and x.nbytes == 16_800_000
    assert x.chunks == ((400, 600), (100, 100, 100), (7,))
    assert x.chunksize == (600, 100, 7) and x.numblocks == (2, 3, 1) and x.npartitions == 6
    assert len(x) == 1000
    y = ka.arcsin(x).sum(axis=1)
    assert y.chunks == ((400, 600), (7,)) and y.name == "sum-aggregate"
    r = repr(y)
    assert "shape=(1000, 7)" in r and "dtype=float64" in r and "chunksize=(600, 7)" in r
    h = y._repr_html_()
    tasks = 6 + 2  # a fused program per chunk, then one combine step per output block
    for part in ("(1000, 7)", "float64", "(600, 7)", f"{tasks} tasks", "((400, 600), (7,))"):
        assert part in h, part
    assert "6 tasks" in x._repr_html_()
    assert x.astype("float64") is x and x.copy() is x


def test_numpy_protocols(rng):
    x, xv = random_input(rng)
    a = np.asarray(x)
    assert isinstance(a, np.ndarray) and np.array_equal(a, xv)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert np.shape(x) == x.shape and np.ndim(x) == x.ndim and np.size(x) == x.size
    # np.cumsum stays lazy now; a function kaon lacks runs on the computed array.
    c = np.cumsum(x)
    assert isinstance(c, ka.Array) and np.allclose(c.compute(), np.cumsum(xv))
    with pytest.warns(kaon.array.core.ComputedFallbackWarning, match="sort"):
        s = np.sort(x)
    assert np.array_equal(s, np.sort(xv))
    with pytest.raises(TypeError):
        np.add.accumulate(x)
    with pytest.raises(TypeError):
        np.spacing(x)  # no such kernel: NumPy's protocol reports it
    assert isinstance(np.floor(x), ka.Array)


def test_persist_and_module_compute(client):
    x = ka.random.random((200, 100), chunks=50, seed=4)
    xv = x.compute()
    p = (x * 2).persist()
    assert p._future is not None and p.shape == x.shape and p.chunks == x.chunks
    assert_same(p.compute(), xv * 2)
    assert_same(p.compute(), xv * 2)  # kept in this process
    assert_same((p + 1).compute(), xv * 2 + 1)  # reads the kept chunks
    a, b, c = kaon.compute(x.sum(), 5, [x.max(axis=0)])
    assert np.isclose(a, xv.sum()) and b == 5 and np.allclose(c[0], xv.max(axis=0))
    q, r = kaon.persist(x.min(), x.max())
    assert np.isclose(q.compute(), xv.min()) and np.isclose(r.compute(), xv.max())


def test_results_are_numpy_arrays_without_extra_copies():
    one_chunk = ka.random.random((300, 200), chunks=-1, seed=1).compute()
    # The bytes as received from the worker become the array: NumPy does not own them.
    assert not one_chunk.flags.owndata and one_chunk.flags.writeable
    assert one_chunk.flags.c_contiguous and one_chunk.base is not None
    many = ka.random.random((300, 200), chunks=50, seed=1).compute()
    assert many.flags.c_contiguous and many.flags.writeable
    many[0, 0] = -1.0  # results belong to the caller


def test_rechunk():
    x = ka.ones((10, 10), chunks=5)
    assert x.rechunk(5) is x and x.rechunk(((5, 5), (5, 5))) is x
    y = ka.arange(100, chunks=7).reshape(10, 10)
    r = y.rechunk({0: 3, 1: -1})
    assert r.chunks == ((3, 3, 3, 1), (10,))
    np.testing.assert_array_equal(r.compute(), np.arange(100).reshape(10, 10))


def test_errors_of_expressions():
    x = ka.ones((4, 6), chunks=2)
    with pytest.raises(ValueError, match=r"\(4, 6\) \(4, 5\)"):
        x + ka.ones((4, 5), chunks=2)
    # Differently chunked operands meet at every boundary of either, as in dask.
    assert (x * ka.ones((4, 6), chunks=3)).chunks == ((2, 1, 1), (2, 1, 1, 2))
    with pytest.raises(np.exceptions.AxisError):
        x.sum(axis=2)
    with pytest.raises(IndexError):  # AxisError is an IndexError (and a ValueError) too
        ka.max(x, axis=-3)
    with pytest.raises(ValueError, match="duplicate"):
        x.sum(axis=(0, -2))
    with pytest.raises(TypeError, match="axis"):
        x.sum(axis=1.5)
    with pytest.raises(TypeError, match="float64"):
        ka.ones((3,), dtype=np.complex128)
    with pytest.raises(TypeError, match="int16"):
        x.sum(dtype=np.int16)
    with pytest.raises(TypeError, match="complex"):
        x + 1j
    with pytest.raises(TypeError, match="NumPy array"):
        x + np.ones((4, 6))
    with pytest.raises(TypeError, match="NumPy array"):
        np.ones((4, 6)) * x
    with pytest.raises(TypeError):
        x + "1"
    with pytest.raises(TypeError, match="out="):
        np.sin(x, out=np.empty((4, 6)))
    with pytest.raises(TypeError, match="fill_value"):
        ka.full((2,), "a")
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 4"):
        x[4]
    with pytest.raises(IndexError, match="valid indices"):
        x[[0, 1]]
    with pytest.raises(ValueError, match="split_every"):
        x.sum(split_every=1)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
    with pytest.raises(MemoryError, match="memory"):
        ka.ones((10**6, 10**7), chunks=(10**5, 10**5)).compute()


def test_help_describes_the_functions():
    assert "Sum of array elements" in ka.sum.__doc__
    assert "axis" in ka.mean.__doc__ and "keepdims" in ka.max.__doc__
    assert "sine" in ka.sin.__doc__.lower() and "Lazy" in ka.sin.__doc__
    assert "dask" in ka.random.random.__doc__ or "chunks" in ka.random.random.__doc__
    assert ka.Array.__doc__ and ka.Array.compute.__doc__ and ka.full.__doc__
    assert repr(ka.sin) == "<kaon.array.ufunc 'sin'>" and ka.sin.nin == 1 and ka.add.nin == 2
    # Every ufunc of the engine's table is exported.
    for name in ka.UFUNCS:
        assert isinstance(getattr(ka, name), ka.ufunc)


def test_building_the_graph_of_a_100000_chunk_array_is_fast():
    t0 = time.perf_counter()
    shape, chunks = (1_000_000, 100, 10), (10, 100, 10)
    x = ka.random.random(shape, chunks=chunks, seed=1)
    y = ka.random.random(shape, chunks=chunks, seed=2)
    z = (ka.arcsin(x) + ka.arccos(y)).sum(axis=(1, 2))
    tasks, layers = z._h.graph_summary()  # lowered and fused, as compute() does
    elapsed = time.perf_counter() - t0
    assert x.npartitions == 100_000 and tasks == 100_000 and len(layers) == 1
    assert elapsed < 0.5, elapsed
