"""Layout operations of kaon.array (transpose, basic indexing, rechunk, concatenate,
stack, reshape, from_array) against NumPy, on random shapes and uneven chunkings,
through a cluster of worker processes.

Layout operations only move values: every comparison here is exact."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kaon
import kaon.array as ka
from conftest import kaon_uniform, random_chunking
from kaon.array.chunks import normalize_chunks

DTYPES = [np.float64, np.float32, np.int64, np.int32, np.bool_, np.uint8]

#: Seconds a computation may take before the test fails (instead of hanging the session).
TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def _default(client: kaon.Client) -> None:
    assert kaon.default_client() is client


# ---------------------------------------------------------------------- helpers
def some_chunking(rng: np.random.Generator, ndim: int | None = None, max_len: int = 9):
    """A shape and a chunk specification: random_chunking's forms, plus single-element
    chunks and zero-length axes."""
    shape, spec = random_chunking(rng, ndim, max_len)
    r = rng.random()
    if r < 0.12:
        shape = tuple(
            0 if i == int(rng.integers(0, len(shape))) else n for i, n in enumerate(shape)
        )
        spec = int(rng.integers(1, 4))
    elif r < 0.25:
        spec = 1
    return shape, spec


def with_dtype(x: ka.Array, v: np.ndarray, dtype) -> tuple[ka.Array, np.ndarray]:
    """Uniform [0, 1) numbers (lazy and NumPy twins) turned into ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return x > 0.5, v > 0.5
    if dtype == np.uint8:
        return (x * 255).astype(dtype), (v * 255).astype(dtype)
    if dtype.kind == "i":
        return (x * 200 - 100).astype(dtype), (v * 200 - 100).astype(dtype)
    return x.astype(dtype), v.astype(dtype)


def lazy_input(rng: np.random.Generator, shape, spec, dtype=np.float64):
    """A lazy array of ``shape`` chunked by ``spec`` and its values, known in NumPy
    without computing (conftest's twin of Kaon's generator)."""
    seed = int(rng.integers(0, 2**63))
    x = ka.random.random(shape, chunks=spec, seed=seed)
    return with_dtype(x, kaon_uniform(seed, x.chunks), dtype)


def random_input(rng: np.random.Generator, ndim: int | None = None, dtype=None, max_len=9):
    shape, spec = some_chunking(rng, ndim, max_len)
    if dtype is None:
        dtype = DTYPES[int(rng.integers(0, len(DTYPES)))]
    return lazy_input(rng, shape, spec, dtype)


def compute_all(arrays: list, what: str = "") -> list:
    """Computes ``arrays`` as one graph on the session's client. A computation that
    does not finish within ``TIMEOUT`` seconds is cancelled and fails the test."""
    try:
        futures = kaon.default_client().compute(list(arrays))
    except Exception as e:
        raise AssertionError(f"{what}: {type(e).__name__}: {e}") from e
    try:
        return [f.result(timeout=TIMEOUT) for f in futures]
    except TimeoutError:
        for f in futures:
            f.cancel()
        pytest.fail(f"{what}: the computation did not finish within {TIMEOUT} s")


def value(a: ka.Array, what: str = ""):
    return compute_all([a], what)[0]


def check_chunks(a: ka.Array) -> None:
    """The chunks fit the shape: one tuple per axis, adding up to its length, with no
    empty chunk on a non-empty axis."""
    chunks = a.chunks
    assert len(chunks) == len(a.shape), (chunks, a.shape)
    for c, n in zip(chunks, a.shape):
        assert sum(c) == n and len(c) >= 1, (chunks, a.shape)
        if n:
            assert all(s > 0 for s in c), (chunks, a.shape)


def exact(cases: list, what: str = "") -> None:
    """Computes the lazy arrays of ``cases`` (pairs of lazy, NumPy result) and checks
    their values exactly, then their shape, dtype and chunks. The cases with elements
    are computed as one graph before those without, so that a problem with empty
    arrays does not hide the others."""
    compare(cases, what, lambda g, want, msg: np.testing.assert_array_equal(g, want, msg))


def compare(cases: list, what: str, check_values) -> None:
    for lazy, _ in cases:
        assert isinstance(lazy, ka.Array), (what, type(lazy))
    got: dict = {}
    for group in (
        [i for i, c in enumerate(cases) if c[1].size],
        [i for i, c in enumerate(cases) if not c[1].size],
    ):
        if group:
            label = f"{what} ({'empty results' if not cases[group[0]][1].size else 'results'})"
            got.update(zip(group, compute_all([cases[i][0] for i in group], label)))
    for i, (lazy, want) in enumerate(cases):
        g = np.asarray(got[i])
        msg = f"{what} case {i}"
        assert g.shape == want.shape, (msg, g.shape, want.shape)
        check_values(g, want, msg)
        assert g.dtype == want.dtype, (msg, g.dtype, want.dtype)
        assert lazy.shape == want.shape, (msg, lazy.shape, want.shape)
        assert lazy.dtype == want.dtype, (msg, lazy.dtype, want.dtype)
        check_chunks(lazy)


def slice_chunks(chunks: tuple, s: slice) -> tuple:
    """dask's chunks for slicing an axis chunked ``chunks`` by ``s``: each chunk keeps
    the elements it gives, the empty ones go, a negative step reverses them."""
    idx = np.arange(sum(chunks))[s]
    bounds = np.cumsum((0, *chunks))
    counts = [int(((idx >= lo) & (idx < hi)).sum()) for lo, hi in zip(bounds[:-1], bounds[1:])]
    counts = [k for k in counts if k]
    if s.step is not None and s.step < 0:
        counts.reverse()
    return tuple(counts) or (0,)


def index_chunks(chunks: tuple, index) -> tuple:
    """The chunks of ``x[index]`` for a basic index, as dask gives them."""
    index = index if isinstance(index, tuple) else (index,)
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis)
    full: list = []
    for i in index:
        full += [slice(None)] * (len(chunks) - n_real) if i is Ellipsis else [i]
    if not any(i is Ellipsis for i in index):
        full += [slice(None)] * (len(chunks) - n_real)
    out, axis = [], 0
    for i in full:
        if i is None:
            out.append((1,))
        elif isinstance(i, slice):
            out.append(slice_chunks(chunks[axis], i))
            axis += 1
        else:
            axis += 1
    return tuple(out)


def nonempty(chunks: tuple) -> tuple:
    return tuple(tuple(s for s in c if s) or (0,) for c in chunks)


def random_index(rng: np.random.Generator, shape: tuple, ints: bool = True, news: bool = True):
    """A random basic index: ints (negative too), slices with any step and bounds
    beyond the axis, None, and sometimes an Ellipsis or fewer entries than axes."""
    parts: list = []
    for n in shape:
        r = rng.random()
        if ints and r < 0.2 and n > 0:
            parts.append(int(rng.integers(-n, n)))
        elif r < 0.3:
            parts.append(slice(None))
        else:

            def bound(n=n):
                return None if rng.random() < 0.25 else int(rng.integers(-n - 3, n + 4))

            step = None if rng.random() < 0.3 else int(rng.choice([-3, -2, -1, 1, 2, 3, 4]))
            parts.append(slice(bound(), bound(), step))
    if news:
        for _ in range(int(rng.integers(0, 3))):
            parts.insert(int(rng.integers(0, len(parts) + 1)), None)
    r = rng.random()
    real = [k for k, p in enumerate(parts) if p is not None]
    if r < 0.3 and real:
        a = int(rng.integers(0, len(real) + 1))
        b = int(rng.integers(a, len(real) + 1))
        pos = real[a] if a < len(real) else len(parts)
        gone = set(real[a:b])
        before = [p for k, p in enumerate(parts) if k < pos and k not in gone]
        after = [p for k, p in enumerate(parts) if k >= pos and k not in gone]
        parts = [*before, Ellipsis, *after]
    elif r < 0.5:
        while parts and parts[-1] is not None and rng.random() < 0.5:
            parts.pop()
    return tuple(parts)


def explicit_chunks(rng: np.random.Generator, shape: tuple) -> tuple:
    """Random irregular chunks for ``shape`` (explicit sizes)."""
    chunks = []
    for n in shape:
        if n == 0:
            chunks.append((0,))
            continue
        cuts = (
            sorted(set(rng.integers(1, n, size=int(rng.integers(0, n))).tolist())) if n > 1 else []
        )
        edges = [0, *cuts, n]
        chunks.append(tuple(b - a for a, b in zip(edges, edges[1:])))
    return tuple(chunks)


# ---------------------------------------------------------------------- transpose
@pytest.mark.parametrize("case", range(6))
def test_transpose_swapaxes_moveaxis(rng, case):
    x, v = random_input(rng, ndim=1 + case % 4, dtype=DTYPES[case % len(DTYPES)])
    nd = v.ndim
    perm = tuple(int(i) for i in rng.permutation(nd))
    neg = tuple(p - nd if rng.random() < 0.5 else p for p in perm)
    a, b = int(rng.integers(-nd, nd)), int(rng.integers(-nd, nd))
    src = int(rng.integers(-nd, nd))
    dst = int(rng.integers(-nd, nd))
    k = int(rng.integers(1, nd + 1))
    srcs = [int(i) for i in rng.permutation(nd)[:k]]
    dsts = [int(i) for i in rng.permutation(nd)[:k]]
    cases = [
        (x.T, v.T),
        (x.transpose(), v.transpose()),
        (x.transpose(perm), v.transpose(perm)),
        (x.transpose(*perm), v.transpose(*perm)),
        (x.transpose(neg), v.transpose(neg)),
        (ka.transpose(x), np.transpose(v)),
        (ka.transpose(x, axes=perm), np.transpose(v, axes=perm)),
        (ka.transpose(x, perm), np.transpose(v, perm)),
        (ka.swapaxes(x, a, b), np.swapaxes(v, a, b)),
        (ka.moveaxis(x, src, dst), np.moveaxis(v, src, dst)),
        (ka.moveaxis(x, srcs, dsts), np.moveaxis(v, srcs, dsts)),
        (x.T.T, v),
    ]
    exact(cases, "transpose")
    # The chunks go with their axes.
    c = x.chunks
    assert x.T.chunks == c[::-1]
    assert x.transpose(perm).chunks == tuple(c[p] for p in perm)
    sw = list(c)
    sw[a], sw[b] = sw[b], sw[a]
    assert ka.swapaxes(x, a, b).chunks == tuple(sw)
    order = [i for i in range(nd) if i != src % nd]
    order.insert(dst % nd, src % nd)
    assert ka.moveaxis(x, src, dst).chunks == tuple(c[i] for i in order)


def test_transpose_errors():
    x = ka.ones((4, 6, 5), chunks=2)
    with pytest.raises(ValueError, match="repeated axis|[Rr]epeated"):
        x.transpose(0, 0, 1)
    with pytest.raises(ValueError, match="axes don't match array"):
        x.transpose(1, 0)
    with pytest.raises(ValueError, match="axes don't match array"):
        ka.transpose(x, axes=(0, 1, 2, 3))
    with pytest.raises((ValueError, IndexError), match="3"):
        x.transpose(0, 1, 3)
    with pytest.raises((ValueError, IndexError), match="3"):
        ka.swapaxes(x, 0, 3)
    with pytest.raises((ValueError, IndexError), match="-4"):
        ka.moveaxis(x, -4, 0)
    with pytest.raises(ValueError):
        ka.moveaxis(x, [0, 1], [0])


# ---------------------------------------------------------------------- indexing
@pytest.mark.parametrize("case", range(12))
def test_basic_indexing(rng, case):
    shape, _ = some_chunking(rng, ndim=1 + case % 4)
    chunks = explicit_chunks(rng, shape)
    x, v = lazy_input(rng, shape, chunks, DTYPES[case % len(DTYPES)])
    assert x.chunks == chunks
    indices = [random_index(rng, shape) for _ in range(12)]
    cases = []
    for ix in indices:
        got = x[ix]
        assert nonempty(got.chunks) == index_chunks(chunks, ix), (shape, chunks, ix, got.chunks)
        cases.append((got, v[ix]))
    exact(cases, f"indexing {shape} {chunks} {indices}")


def test_indexing_special_forms(rng):
    x, v = lazy_input(rng, (7, 5, 4), ((2, 2, 3), (1, 4), (3, 1)), np.int64)
    cases = [
        (x[...], v[...]),
        (x[:], v[:]),
        (x[()], v[()]),
        (x[2], v[2]),
        (x[-1], v[-1]),
        (x[np.int64(3)], v[np.int64(3)]),
        (x[np.newaxis], v[np.newaxis]),
        (x[:, np.newaxis, ..., None], v[:, np.newaxis, ..., None]),
        (x[..., 0], v[..., 0]),
        (x[..., -1, :], v[..., -1, :]),
        (x[1, ...], v[1, ...]),
        (x[2, 3, 1], v[2, 3, 1]),
        (x[-7, -5, -4], v[-7, -5, -4]),
        (x[6, 4, 3], v[6, 4, 3]),
        (x[::-1, ::-1, ::-1], v[::-1, ::-1, ::-1]),
        (x[-100:100, 100:, :-100], v[-100:100, 100:, :-100]),
        (x[5:2], v[5:2]),
        (x[::3, 1::2, ::-3], v[::3, 1::2, ::-3]),
        (x[6:-8:-2], v[6:-8:-2]),
        (x[3:4, 4:5, 3:4], v[3:4, 4:5, 3:4]),
        (x[1:][2:][::-1][1], v[1:][2:][::-1][1]),
        (x[None, None, 1, None], v[None, None, 1, None]),
    ]
    exact(cases, "special indices")
    assert x[2, 3, 1].shape == () and x[2, 3, 1].chunks == ()
    assert x[...].chunks == x.chunks
    assert x[::-1].chunks == ((3, 2, 2), (1, 4), (3, 1))
    assert x[1:6].chunks == ((1, 2, 2), (1, 4), (3, 1))
    assert x[::2].chunks == ((1, 1, 2), (1, 4), (3, 1))
    assert x[:, None].chunks == ((2, 2, 3), (1,), (1, 4), (3, 1))
    assert x[5:2].chunks == ((0,), (1, 4), (3, 1))
    # A 0-d result computes to a NumPy scalar (or 0-d array) of the same value.
    assert value(x[2, 3, 1]) == v[2, 3, 1]
    # Indexing an empty array.
    e, ev = lazy_input(rng, (0, 3), 2, np.float64)
    exact([(e[:, 1], ev[:, 1]), (e[::-1], ev[::-1]), (e[None, :, 1:], ev[None, :, 1:])], "empty")


def test_slicing_a_new_axis(rng):
    """A length-1 axis made by None, then sliced (to nothing, reversed, kept)."""
    x, v = lazy_input(rng, (3, 4), ((1, 2), (3, 1)), np.int64)
    cases = [
        (x[None][::-1], v[None][::-1]),
        (x[None][-1:], v[None][-1:]),
        (x[:, None][:, 0], v[:, None][:, 0]),
        (x[None, :, None][0, 1:, :, ::2], v[None, :, None][0, 1:, :, ::2]),
        (x[None][0:0], v[None][0:0]),
        (x[None][1:], v[None][1:]),
        (x[:, None][:, 1:], v[:, None][:, 1:]),
        (x[..., None][..., 5:], v[..., None][..., 5:]),
    ]
    exact(cases, "slices of new axes")


def test_indexing_errors():
    x = ka.ones((6, 7), chunks=(4, 3))
    with pytest.raises(IndexError, match=r"\b6\b"):
        x[6]
    with pytest.raises(IndexError, match=r"-7"):
        x[-7]
    with pytest.raises(IndexError, match=r"\b9\b"):
        x[:, 9]
    with pytest.raises(IndexError, match=r"(?i)too many indices"):
        x[1, 2, 3]
    with pytest.raises(IndexError, match=r"(?i)too many indices"):
        x[:, :, None, :]
    with pytest.raises(IndexError, match=r"(?i)ellipsis"):
        x[..., 1, ...]
    with pytest.raises(ValueError, match="step"):
        x[::0]
    with pytest.raises(IndexError):
        ka.ones((0,), chunks=1)[0]


# ---------------------------------------------------------------------- rechunk
@pytest.mark.parametrize("case", range(6))
def test_rechunk(rng, case):
    x, v = random_input(rng, ndim=1 + case % 4, dtype=DTYPES[case % len(DTYPES)])
    shape = v.shape
    nd = v.ndim
    targets = [
        explicit_chunks(rng, shape),
        explicit_chunks(rng, shape),
        int(rng.integers(1, 6)),
        1,
        -1,
        tuple(int(rng.integers(1, 5)) if rng.random() < 0.7 else -1 for _ in shape),
        tuple(
            int(rng.integers(1, 4)) if rng.random() < 0.5 else c
            for c in explicit_chunks(rng, shape)
        ),
    ]
    cases = []
    for t in targets:
        if isinstance(t, (dict, str)):
            continue
        want_chunks = normalize_chunks(t, shape)
        r = x.rechunk(t)
        assert r.chunks == want_chunks, (x.chunks, t, r.chunks)
        assert ka.rechunk(x, t).chunks == want_chunks
        cases.append((r, v))
    # A dict changes only the axes it names (negative ones too).
    ax = int(rng.integers(-nd, nd))
    size = int(rng.integers(1, 5))
    d = x.rechunk({ax: size})
    want = list(x.chunks)
    want[ax] = normalize_chunks((size,), (shape[ax],))[0]
    assert d.chunks == tuple(want), (x.chunks, {ax: size}, d.chunks)
    cases.append((d, v))
    # "auto" and chains of rechunks.
    auto = x.rechunk("auto")
    cases += [(auto, v), (ka.rechunk(x), v)]
    chain = x.rechunk(1).rechunk(explicit_chunks(rng, shape)).rechunk(-1).rechunk(targets[0])
    assert chain.chunks == normalize_chunks(targets[0], shape)
    cases.append((chain, v))
    cases.append((x.rechunk(targets[0]) * 1 if v.dtype != np.bool_ else x.rechunk(3), v))
    exact(cases, f"rechunk {shape} {x.chunks}")


def test_rechunk_none_keeps_the_axis_chunks(rng):
    """In dask.array.rechunk, None in a tuple keeps that axis' chunks (-1 makes one)."""
    x, v = lazy_input(rng, (10, 7, 3), ((3, 3, 4), (2, 5), (1, 2)), np.int32)
    keep = x.rechunk((None, 3, -1))
    keep2 = ka.rechunk(x, (2, None, None))
    exact([(keep, v), (keep2, v)], "rechunk with None")
    assert keep.chunks == ((3, 3, 4), (3, 3, 1), (3,))
    assert keep2.chunks == ((2, 2, 2, 2, 2), (2, 5), (1, 2))


def test_rechunk_errors():
    x = ka.ones((6, 7), chunks=(4, 3))
    with pytest.raises(ValueError, match=r"\(6, 7\)|6|7"):
        x.rechunk(((3, 2), 7))
    with pytest.raises(ValueError):
        x.rechunk((2, 2, 2))


# ---------------------------------------------------------------------- concatenate, stack
@pytest.mark.parametrize("case", range(6))
def test_concatenate(rng, case):
    nd = 1 + case % 3
    dtype = DTYPES[case % len(DTYPES)]
    shape, _ = some_chunking(rng, nd, max_len=7)
    base = explicit_chunks(rng, shape)
    axis = int(rng.integers(-nd, nd))
    k = int(rng.integers(1, 4))
    xs, vs = [], []
    for _ in range(k):
        n = int(rng.integers(0, 7))
        s = list(shape)
        s[axis] = n
        c = list(base)
        c[axis] = explicit_chunks(rng, (n,))[0]
        x, v = lazy_input(rng, tuple(s), tuple(c), dtype)
        xs.append(x)
        vs.append(v)
    got = ka.concatenate(xs, axis=axis)
    want = np.concatenate(vs, axis=axis)
    along = tuple(s for x in xs for s in x.chunks[axis] if s) or (0,)
    assert nonempty((got.chunks[axis],))[0] == along, (got.chunks, [x.chunks for x in xs])
    others = [i for i in range(nd) if i != axis % nd]
    assert all(got.chunks[i] == base[i] for i in others), (got.chunks, base)
    cases = [
        (got, want),
        (ka.concatenate(xs, axis), want),
        (ka.concatenate(tuple(xs), axis=axis), want),
        (ka.concatenate([xs[0]], axis=axis), vs[0]),
        (ka.concatenate([xs[0], xs[0][::-1]], axis=0), np.concatenate([vs[0], vs[0][::-1]])),
    ]
    # Mixed dtypes promote as in NumPy; other chunks on the other axes still work.
    other, ov = lazy_input(rng, vs[0].shape, 1, np.int32)
    cases.append((ka.concatenate([xs[0], other], axis=axis), np.concatenate([vs[0], ov], axis)))
    other, ov = lazy_input(rng, vs[0].shape, explicit_chunks(rng, vs[0].shape), np.float64)
    cases.append((ka.concatenate([other, xs[0]], axis=axis), np.concatenate([ov, vs[0]], axis)))
    exact(cases, f"concatenate axis {axis} {[v.shape for v in vs]}")


@pytest.mark.parametrize("case", range(5))
def test_stack(rng, case):
    nd = case % 4
    dtype = DTYPES[case % len(DTYPES)]
    shape, _ = some_chunking(rng, nd, max_len=6) if nd else ((), None)
    chunks = explicit_chunks(rng, shape)
    k = int(rng.integers(1, 5))
    xs, vs = zip(*[lazy_input(rng, shape, chunks, dtype) for _ in range(k)])
    cases = []
    for axis in range(-nd - 1, nd + 1):
        s = ka.stack(list(xs), axis=axis)
        want_chunks = list(chunks)
        want_chunks.insert(axis % (nd + 1), (1,) * k)
        assert s.chunks == tuple(want_chunks), (chunks, axis, s.chunks)
        cases.append((s, np.stack(vs, axis=axis)))
    cases.append((ka.stack(xs), np.stack(vs)))
    other, ov = lazy_input(rng, shape, 1 if nd else (), np.float32)
    cases.append((ka.stack([xs[0], other], axis=-1), np.stack([vs[0], ov], axis=-1)))
    exact(cases, f"stack {shape} {chunks}")


def test_concatenate_and_stack_errors():
    a = ka.ones((4, 6), chunks=2)
    b = ka.ones((4, 5), chunks=2)
    with pytest.raises(ValueError, match=r"\(4, ?6\).*\(4, ?5\)|\(4, ?5\).*\(4, ?6\)"):
        ka.concatenate([a, b], axis=0)
    ka.concatenate([a, b], axis=1)  # fine: they differ along the axis only
    with pytest.raises(ValueError, match=r"\(4, ?6\).*\(4, ?5\)|\(4, ?5\).*\(4, ?6\)"):
        ka.stack([a, b])
    with pytest.raises(ValueError, match="dimension"):
        ka.concatenate([a, ka.ones(6, chunks=2)])
    with pytest.raises(ValueError):
        ka.concatenate([])
    with pytest.raises(ValueError):
        ka.stack([])
    with pytest.raises((ValueError, IndexError), match="2"):
        ka.concatenate([a, a], axis=2)
    with pytest.raises((ValueError, IndexError), match="3"):
        ka.stack([a, a], axis=3)


# ---------------------------------------------------------------------- reshape
def split_merge_shapes(rng: np.random.Generator, shape: tuple) -> list:
    """Shapes ``shape`` reshapes to by merging neighbouring axes or splitting one."""
    out = [(-1,), (int(np.prod(shape)),), shape]
    nd = len(shape)
    if nd >= 2:
        i = int(rng.integers(0, nd - 1))
        out.append(shape[:i] + (shape[i] * shape[i + 1],) + shape[i + 2 :])
        out.append(shape[:i] + (-1,) + shape[i + 2 :])
    for i, n in enumerate(shape):
        divisors = [d for d in range(2, n) if n % d == 0]
        if divisors:
            d = int(rng.choice(divisors))
            out.append(shape[:i] + (d, n // d) + shape[i + 1 :])
            out.append(shape[:i] + (-1, n // d) + shape[i + 1 :])
    out.append((1, *shape, 1))
    ok = []
    for new in out:
        try:
            np.empty(shape).reshape(new)
        except ValueError:
            continue
        ok.append(new)
    return ok


@pytest.mark.parametrize("case", range(6))
def test_reshape(rng, case):
    shape = tuple(int(rng.choice([1, 2, 3, 4, 6, 8, 9])) for _ in range(1 + case % 3))
    if case == 5:
        shape = (0, 4)
    x, v = lazy_input(rng, shape, explicit_chunks(rng, shape), DTYPES[case % len(DTYPES)])
    cases = []
    for new in split_merge_shapes(rng, shape):
        cases += [(x.reshape(new), v.reshape(new)), (ka.reshape(x, new), np.reshape(v, new))]
    if len(shape) >= 2:
        cases.append((x.reshape(*shape[:-2], -1), v.reshape(*shape[:-2], -1)))
    cases.append((x.reshape(-1).reshape(shape), v))
    cases.append((x.T.reshape(-1), v.T.reshape(-1)))
    exact(cases, f"reshape {shape} {x.chunks}")


def test_reshape_that_moves_values_between_chunks(rng):
    """Reshapes that neither merge nor split axes evenly: dask refuses some, NumPy (and
    the spec) do them."""
    x, v = lazy_input(rng, (10, 7), ((3, 3, 4), (2, 5)), np.float64)
    y, w = lazy_input(rng, (6, 5, 4), (4, 2, 3), np.int32)
    cases = [
        (x.reshape(2, 35), v.reshape(2, 35)),
        (x.reshape(-1, 14), v.reshape(-1, 14)),
        (x.reshape(7, 10), v.reshape(7, 10)),
        (x.reshape(5, 2, 7), v.reshape(5, 2, 7)),
        (y.reshape(4, 5, 6), w.reshape(4, 5, 6)),
        (y.reshape(3, -1, 8), w.reshape(3, -1, 8)),
        (y.reshape(120), w.reshape(120)),
        (y[::-1, 1:].reshape(-1, 3), w[::-1, 1:].reshape(-1, 3)),
    ]
    exact(cases, "reshape across chunks")


def test_reshape_errors():
    x = ka.ones((3, 4), chunks=2)
    with pytest.raises(ValueError, match=r"12|\(5, ?7\)"):
        x.reshape(5, 7)
    with pytest.raises(ValueError, match="12|5"):
        x.reshape(-1, 5)
    with pytest.raises(ValueError):
        x.reshape(-1, -1)


# ---------------------------------------------------------------------- from_array, asarray
def test_from_array_and_asarray(rng):
    cases = []
    for i, dtype in enumerate([*DTYPES, np.int64]):
        shape, spec = some_chunking(rng, 1 + i % 4)
        a = rng.integers(-(2**40), 2**40, size=shape).astype(dtype)
        if np.dtype(dtype).kind == "f":
            a = rng.standard_normal(shape).astype(dtype)
            a.flat[:2] = [np.inf, -0.0][: a.size]
        for chunks in (spec, "auto", explicit_chunks(rng, shape), 2):
            x = ka.from_array(a, chunks=chunks)
            assert x.dtype == a.dtype and x.shape == a.shape
            if chunks != "auto":
                assert x.chunks == normalize_chunks(chunks, shape), (chunks, x.chunks)
            cases.append((x, a))
        cases.append((ka.from_array(a), a))
        cases.append((ka.asarray(a), a))
        cases.append((ka.asarray(ka.from_array(a, chunks=1)), a))
    # Views NumPy makes (transposed, strided, negative strides) are copied right.
    b = np.arange(60.0).reshape(6, 10)
    cases += [
        (ka.from_array(b.T, chunks=4), b.T),
        (ka.from_array(b[::2, ::-3], chunks=(2, 3)), b[::2, ::-3]),
        (ka.from_array(np.asfortranarray(b), chunks=5), b),
        (ka.asarray([[1, 2], [3, 4]]), np.asarray([[1, 2], [3, 4]])),
        (ka.asarray([1.5, 2.5]), np.asarray([1.5, 2.5])),
        (ka.from_array(np.array(3.25)), np.array(3.25)),
        (ka.from_array(np.zeros((0, 3), np.int32), chunks=2), np.zeros((0, 3), np.int32)),
    ]
    exact(cases, "from_array")
    x = ka.from_array(np.ones((5, 4)), chunks=2)
    assert ka.asarray(x).name == x.name
    # The data is the array's at the time of from_array.
    c = np.arange(10)
    y = ka.from_array(c, chunks=3)
    c[:] = 0
    assert value(y).tolist() == list(range(10))


# ---------------------------------------------------------------------- compositions
def test_compositions(rng):
    n = 7
    sq = explicit_chunks(rng, (n,))[0]
    x, v = lazy_input(rng, (n, n), (sq, sq))
    i, iv = lazy_input(rng, (n, n), (sq, sq), np.int32)
    cases = [
        ((x + x.T).sum(), (v + v.T).sum()),
        ((i - i.T).sum(axis=0), (iv - iv.T).sum(axis=0)),
        (x[::-2, 1:].T, v[::-2, 1:].T),
        (ka.concatenate([x, x[::-1]]).rechunk((3, -1)), np.concatenate([v, v[::-1]])),
        (ka.stack([x, x.T, x[::-1, ::-1]], axis=1)[:, 1], v.T),
        (ka.concatenate([x, x], axis=1).reshape(n, 2, n)[:, 1], v),
        (x.T[2:5, None, ::-1].rechunk(1).max(axis=-1), v.T[2:5, None, ::-1].max(axis=-1)),
        ((x.rechunk(2) * 2 + 1)[1::3].max(axis=1), (v * 2 + 1)[1::3].max(axis=1)),
        (
            ka.transpose(ka.stack([i, i + 1]), (2, 0, 1)).reshape(-1),
            np.stack([iv, iv + 1]).transpose(2, 0, 1).reshape(-1),
        ),
        ((i[:, 3] > 0) & (x[2] > 0.5), (iv[:, 3] > 0) & (v[2] > 0.5)),
    ]
    # Sums of float64 are in another order: compare those with a tolerance first.
    got = value(cases[0][0])
    np.testing.assert_allclose(got, cases[0][1], rtol=1e-12)
    exact(cases[1:], "compositions")


# ---------------------------------------------------------------------- random pipelines
def _reshape_target(rng: np.random.Generator, shape: tuple):
    options = split_merge_shapes(rng, shape)
    return options[int(rng.integers(0, len(options)))]


def random_pipeline(rng: np.random.Generator, x, v, steps: int):
    """Applies ``steps`` random layout operations to the lazy ``x`` and its NumPy twin
    ``v``; returns both results and the list of operations."""
    log = []
    for _ in range(steps):
        nd = v.ndim
        if v.size > 800:
            big = int(np.argmax(v.shape))
            ix = tuple(slice(None, None, 3) if i == big else slice(None) for i in range(nd))
            x, v = x[ix], v[ix]
            log.append(("shrink", ix))
        op = ["transpose", "slice", "rechunk", "concatenate", "stack", "reshape"][
            int(rng.integers(0, 6))
        ]
        if op == "transpose":
            perm = tuple(int(i) for i in rng.permutation(nd))
            x, v = x.transpose(perm), v.transpose(perm)
            log.append((op, perm))
        elif op == "slice":
            ix = random_index(rng, v.shape, ints=nd > 1, news=nd < 4)
            x, v = x[ix], v[ix]
            log.append((op, ix))
        elif op == "rechunk":
            c = explicit_chunks(rng, v.shape) if rng.random() < 0.6 else int(rng.integers(1, 5))
            x = x.rechunk(c)
            log.append((op, c))
        elif op == "concatenate" and nd:
            axis = int(rng.integers(-nd, nd))
            flip = tuple(
                slice(None, None, -1) if i == axis % nd else slice(None) for i in range(nd)
            )
            x, v = ka.concatenate([x, x[flip]], axis=axis), np.concatenate([v, v[flip]], axis=axis)
            log.append((op, axis))
        elif op == "stack" and nd < 4:
            axis = int(rng.integers(-nd - 1, nd + 1))
            x, v = ka.stack([x, x], axis=axis), np.stack([v, v], axis=axis)
            log.append((op, axis))
        elif op == "reshape" and nd:
            new = _reshape_target(rng, v.shape)
            x, v = x.reshape(new), v.reshape(new)
            log.append((op, new))
    return x, v, log


@pytest.mark.parametrize("seed", range(30))
def test_random_layout_pipelines(seed):
    rng = np.random.default_rng(1000 + seed)
    x, v = random_input(rng, ndim=int(rng.integers(1, 4)), max_len=7)
    steps = int(rng.integers(5, 9))
    y, w, log = random_pipeline(rng, x, v, steps)
    what = f"seed {seed}: {v.shape} {x.chunks} {v.dtype} then {log}"
    assert y.shape == w.shape, what
    exact([(y, w)], what)


# ---------------------------------------------------------------------- NumPy's functions
def test_numpy_functions_dispatch_to_kaon(rng):
    x, v = lazy_input(rng, (5, 6), (2, 3), np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cases = [
            (np.transpose(x), np.transpose(v)),
            (np.swapaxes(x, 0, 1), np.swapaxes(v, 0, 1)),
            (np.moveaxis(x, 0, -1), np.moveaxis(v, 0, -1)),
            (np.concatenate([x, x]), np.concatenate([v, v])),
            (np.stack([x, x], axis=1), np.stack([v, v], axis=1)),
            (np.reshape(x, (5, 2, 3)), np.reshape(v, (5, 2, 3))),
        ]
    exact(cases, "numpy functions")


# ---------------------------------------------------------------------- later: arg*, cumsum, masks
@pytest.mark.parametrize("case", range(3))
def test_argmin_argmax(rng, case):
    x, v = random_input(rng, ndim=1 + case, dtype=[np.float64, np.int32, np.int64][case])
    while v.size == 0:
        x, v = random_input(rng, ndim=1 + case, dtype=np.float64)
    cases = []
    for axis in [None, *range(-v.ndim, v.ndim)]:
        cases += [
            (ka.argmin(x, axis=axis), np.argmin(v, axis=axis)),
            (ka.argmax(x, axis=axis), np.argmax(v, axis=axis)),
            (x.argmax(axis=axis), v.argmax(axis=axis)),
            (x.argmin(axis=axis), v.argmin(axis=axis)),
        ]
    exact(cases, "arg reductions")


def test_arg_and_cumulative_edge_cases(rng):
    x, v = lazy_input(rng, (6, 5), ((1, 5), (2, 2, 1)), np.int32)
    cases = [
        (ka.cumsum(x), np.cumsum(v)),
        (x.cumsum(axis=None), v.cumsum(axis=None)),
        (ka.argmax(x.T[::-1]), np.argmax(v.T[::-1])),
        (ka.argmin(x, axis=-1), np.argmin(v, axis=-1)),
        (ka.argmax(x > 0, axis=0), np.argmax(v > 0, axis=0)),
    ]
    exact(cases, "arg and cumulative")
    with pytest.raises((ValueError, IndexError), match="2"):
        ka.argmin(x, axis=2)
    with pytest.raises((ValueError, IndexError), match="-3"):
        ka.cumsum(x, axis=-3)
    with pytest.raises(IndexError, match="3"):
        x[ka.ones((3, 2), chunks=1, dtype=bool)]


@pytest.mark.parametrize("case", range(3))
def test_cumsum(rng, case):
    dtype = [np.int64, np.int32, np.bool_][case]
    x, v = random_input(rng, ndim=1 + case, dtype=dtype)
    cases = []
    for axis in range(-v.ndim, v.ndim):
        cases += [
            (x.cumsum(axis=axis), v.cumsum(axis=axis)),
            (ka.cumsum(x, axis), np.cumsum(v, axis)),
        ]
    exact(cases, "cumsum")
    f, fv = random_input(rng, ndim=2, dtype=np.float64)
    got = compute_all([f.cumsum(axis=a) for a in (0, 1)])
    for g, a in zip(got, (0, 1)):
        np.testing.assert_allclose(g, fv.cumsum(axis=a), rtol=1e-12)


def test_boolean_mask_indexing(rng):
    x, v = lazy_input(rng, (9, 7), ((2, 3, 4), (3, 4)))
    i, iv = lazy_input(rng, (11,), 3, np.int64)
    cases = [
        (x[x > 0.5], v[v > 0.5]),
        (i[i > 0], iv[iv > 0]),
        (x[0][x[1] < 0.5], v[0][v[1] < 0.5]),
        (x.T[x.T < 0.3], v.T[v.T < 0.3]),
        (x[ka.from_array(v > 0.5, chunks=4)], v[v > 0.5]),
        (x[::-1, 2:][x[::-1, 2:] > 0.1], v[::-1, 2:][v[::-1, 2:] > 0.1]),
        (x[x > 2], v[v > 2]),
    ]
    got = [value(lazy, f"mask case {k}") for k, (lazy, _) in enumerate(cases)]
    for k, (g, (_, want)) in enumerate(zip(got, cases)):
        np.testing.assert_array_equal(g, want, err_msg=f"mask case {k}")
        assert g.dtype == want.dtype
