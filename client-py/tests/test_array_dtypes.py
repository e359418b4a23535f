"""kaon.array dtypes against NumPy: every ufunc on every dtype (and mixed dtypes and
Python scalars, NEP 50), astype, integer division by zero, reductions of each dtype,
where/clip/round, and random expression trees, through a cluster of worker processes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kaon
import kaon.array as ka
from conftest import random_chunking

DTYPES = ["float64", "float32", "int64", "int32", "uint8", "bool"]
UNARY = [n for n, k in ka.UFUNCS.items() if k == 1]
BINARY = [n for n, k in ka.UFUNCS.items() if k == 2]

# Kaon has no float16 and no int8: it gives float32 and int64 where NumPy gives those.
# NumPy's uint64 sums of uint8 are int64 in Kaon.
_SUBSTITUTE = {
    np.dtype(np.float16): np.dtype(np.float32),
    np.dtype(np.int8): np.dtype(np.int64),
    np.dtype(np.uint64): np.dtype(np.int64),
}


@pytest.fixture(autouse=True)
def _default(client: kaon.Client) -> None:
    assert kaon.default_client() is client


def typed_input(rng: np.random.Generator, dtype: str, shape=None, spec=None):
    """A lazy array of ``dtype`` with random values, shape and chunking, and its values
    as NumPy computes them from the same float64 random numbers."""
    if shape is None:
        shape, spec = random_chunking(rng, max_len=9)
    x = ka.random.random(shape, chunks=spec, seed=int(rng.integers(0, 2**62)))
    lo, hi = {"uint8": (0, 255), "bool": (0, 1)}.get(dtype, (-20, 20))
    x = x * (hi - lo) + lo
    if dtype == "bool":
        x = x > 0.5
    else:
        x = x.astype(dtype)
    return x


def expected(f, *args):
    """NumPy's result, or the exception type NumPy raises."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return f(*args)
        except TypeError:
            return TypeError  # (NumPy's UFuncTypeError is one)
        except (ValueError, OverflowError) as e:
            return type(e)


def check(got, want, rtol=None) -> None:
    got = np.asarray(got)
    want = np.asarray(want)
    want_dtype = _SUBSTITUTE.get(want.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want_dtype, (got.dtype, want_dtype)
    if rtol is None:
        rtol = 2e-6 if want.dtype in (np.float32, np.float16) else 1e-12
        if want.dtype == np.float16:
            rtol = 2e-3
    if want.dtype == np.float16:
        # float16 overflows where float32 does not: compare where NumPy's is finite.
        finite = np.isfinite(want)
        got, want = got[finite], want[finite]
    if want.dtype.kind == "f":
        np.testing.assert_allclose(
            got, want.astype(got.dtype), rtol=rtol, atol=1e-30, equal_nan=True
        )
    else:
        np.testing.assert_array_equal(got, want)


def run_cases(cases, rtol=None) -> None:
    """``cases``: (lazy or exception type, want) pairs, computed as one graph."""
    lazy = [c for c, _ in cases if isinstance(c, ka.Array)]
    results = iter(kaon.compute(*lazy))
    for got, want in cases:
        if isinstance(got, ka.Array):
            check(next(results), want, rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_ufuncs_of_every_dtype(rng, dtype):
    x = typed_input(rng, dtype)
    xv = x.compute()
    assert xv.dtype == np.dtype(dtype)
    cases = []
    for name in UNARY:
        want = expected(getattr(np, name), xv)
        if isinstance(want, type):
            with pytest.raises(want):
                getattr(ka, name)(x)
            continue
        got = getattr(np, name)(x)
        assert isinstance(got, ka.Array) and got.dtype == _SUBSTITUTE.get(want.dtype, want.dtype)
        cases.append((got, want))
    run_cases(cases)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_ufuncs_of_every_dtype_pair(rng, dtype):
    shape, spec = random_chunking(rng, max_len=9)
    x = typed_input(rng, dtype, shape, spec)
    others = {d: typed_input(rng, d, shape, x.chunks) for d in DTYPES}
    values = kaon.compute(x, *others.values())
    xv, ov = values[0], dict(zip(others, values[1:]))
    cases = []
    for name in BINARY:
        for d, y in others.items():
            yv = ov[d]
            want = expected(getattr(np, name), xv, yv)
            if want is ValueError:
                continue  # negative integer powers: NumPy checks the values (documented)
            if isinstance(want, type):
                with pytest.raises(want):
                    getattr(ka, name)(x, y)
                continue
            if name in ("left_shift", "right_shift") and want.dtype.kind in "iu":
                # Shifts past the width are platform-defined in NumPy.
                if not ((yv >= 0) & (yv < 8 * want.dtype.itemsize)).all():
                    continue
            cases.append((getattr(ka, name)(x, y), want))
    run_cases(cases)


def test_python_scalars_are_weak_and_numpy_scalars_strong(rng):
    x = typed_input(rng, "int32")
    f = typed_input(rng, "float32", x.shape, x.chunks)
    u = typed_input(rng, "uint8", x.shape, x.chunks)
    b = typed_input(rng, "bool", x.shape, x.chunks)
    xv, fv, uv, bv = kaon.compute(x, f, u, b)
    cases = [
        (x + 1, xv + 1),
        (x * 2.5, xv * 2.5),
        (1 - x, 1 - xv),
        (f + 1.5, fv + 1.5),
        (f * np.float64(2), fv * np.float64(2)),
        (f + np.int32(3), fv + np.int32(3)),
        (u + 3, uv + 3),
        (u - 7, uv - 7),  # wraps around, as NumPy
        (u * 3, uv * 3),
        (b + 1, bv + 1),
        (b * True, bv * True),
        (x / 4, xv / 4),
        (x // 3, xv // 3),
        (x % 3, xv % 3),
        (-x % 4, -xv % 4),
        (x**2, xv**2),
        (f // 0.75, fv // 0.75),
        (f % -0.75, fv % -0.75),
        (u < 300, uv < 300),
        (u == -1, uv == -1),
        (x > 0.5, xv > 0.5),
        (x & 6, xv & 6),
        (x | 1, xv | 1),
        (x ^ 5, xv ^ 5),
        (~x, ~xv),
        (~u, ~uv),
        (~b, ~bv),
        (b & (x > 0), bv & (xv > 0)),
        (x << 2, xv << 2),
        (x >> 1, xv >> 1),
        (abs(x), abs(xv)),
        (-u, -uv),
        (np.float32(2) * x, np.float32(2) * xv),
    ]
    run_cases(cases)
    with pytest.raises(OverflowError, match="300"):
        u + 300
    with pytest.raises(TypeError, match="boolean subtract"):
        b - b
    with pytest.raises(TypeError, match="boolean negative"):
        _ = -b
    with pytest.raises(TypeError, match="bitwise_and"):
        f & x


def test_int64_is_exact_beyond_2_53_and_wraps_as_numpy():
    big = np.array([2**53 + 1, -(2**62) - 3, 7, 2**63 - 1, -(2**63), 12345678901234567], np.int64)
    x = ka.from_array(big, chunks=4)
    np.testing.assert_array_equal(x.compute(), big)
    with np.errstate(all="ignore"):
        cases = [
            (x + 1, big + 1),
            (x * x, big * big),  # wraps around, as NumPy
            (x * 3 - 2**60, big * 3 - 2**60),
            (x // 7, big // 7),
            (x % -9, big % -9),
            (x**3, big**3),
            (-x, -big),
            (abs(x), abs(big)),
            (x << 3, big << 3),
            (x >> 2, big >> 2),
            (x & (2**53 + 1), big & (2**53 + 1)),
            (x == 2**53 + 1, big == 2**53 + 1),
            (x > np.int64(2**53), big > np.int64(2**53)),
            (ka.maximum(x, 2**62), np.maximum(big, 2**62)),
            (ka.where(x > 0, x, 2**60 + 1), np.where(big > 0, big, 2**60 + 1)),
            (x.astype(float), big.astype(float)),
            (x.astype(np.int32), big.astype(np.int32)),
            (x.sum(), big.sum()),
            (x.prod(), big.prod()),
            (x.max(), big.max()),
            (x.min(), big.min()),
            (x.cumsum(), big.cumsum()),
            (x[::-2], big[::-2]),
            (x[x > 2**53], big[big > 2**53]),
            (ka.concatenate([x, x]), np.concatenate([big, big])),
            (ka.full(3, 2**60 + 1, chunks=2), np.full(3, 2**60 + 1)),
            (ka.arange(2**60, 2**60 + 5, 2, chunks=2), np.arange(2**60, 2**60 + 5, 2)),
            (x.reshape(2, 3) @ x.reshape(3, 2), big.reshape(2, 3) @ big.reshape(3, 2)),
        ]
    values = kaon.compute(*(c for c, _ in cases))
    for (got, want), v in zip(cases, values):
        assert v.dtype == want.dtype, (got, v.dtype, want.dtype)
        np.testing.assert_array_equal(v, want)
    # int32 products wrap exactly too (float64 would round them before wrapping).
    i32 = np.array([2**31 - 1, 123456789, -(2**31)], dtype=np.int32)
    np.testing.assert_array_equal((ka.from_array(i32) * i32[0]).compute(), i32 * i32[0])
    # What int64 cannot hold is refused, as NumPy refuses it.
    with pytest.raises(ValueError, match="beyond int64"):
        ka.from_array(np.array([2**63], dtype=np.uint64))
    with pytest.raises(OverflowError, match="out of bounds for int64"):
        x + 2**64
    with pytest.raises(OverflowError, match="out of bounds for int64"):
        ka.full(3, 2**64, dtype=np.int64, chunks=2)
    # Random integers come from float64 uniforms: ranges must stay within 2**53.
    with pytest.raises(ValueError, match=r"exact up to 2\*\*53"):
        ka.random.randint(0, 2**60, size=4, chunks=2)


def test_integer_division_and_modulo_by_zero_give_numpys_zeros():
    x = ka.full((7, 5), 9, dtype=np.int32, chunks=3)
    z = ka.zeros_like(x)
    assert z.dtype == np.int32
    xv = np.full((7, 5), 9, dtype=np.int32)
    zv = np.zeros_like(xv)
    with np.errstate(all="ignore"):
        cases = [
            (x // z, xv // zv),
            (x % z, xv % zv),
            (x // 0, xv // 0),
            (x / z, xv / zv),
            (x.astype(np.float32) // 0, xv.astype(np.float32) // 0),
            (x.astype(float) % 0, xv.astype(float) % 0),
            (-x // 4, -xv // 4),
            (x.astype(np.uint8) // z.astype(np.uint8), xv.astype(np.uint8) // zv.astype(np.uint8)),
        ]
    run_cases(cases)


@pytest.mark.parametrize("dtype", DTYPES)
def test_astype_between_every_pair(rng, dtype):
    x = typed_input(rng, dtype)
    xv = x.compute()
    cases = []
    for d in DTYPES:
        y = x.astype(d)
        assert y.dtype == np.dtype(d)
        if np.dtype(dtype).kind == "f" and d in ("uint8",):
            continue  # negative floats to uint8 are platform-defined in NumPy
        cases.append((y, xv.astype(d)))
    with np.errstate(invalid="ignore"):
        want = np.sqrt(xv.astype(float)).astype(np.float32)
    cases.append((ka.sqrt(x, dtype=np.float32), want))
    run_cases(cases)
    assert x.astype(dtype) is x
    with pytest.raises(TypeError, match="float16"):
        x.astype(np.float16)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_of_every_dtype(rng, dtype):
    x = typed_input(rng, dtype)
    xv = x.compute()
    cases = []
    for axis in [None, 0, -1, tuple(range(x.ndim))]:
        for keepdims in (False, True):
            for name in ("sum", "prod", "min", "max", "mean", "any", "all"):
                if name in ("min", "max") and xv.size == 0:
                    continue
                if name == "prod" and dtype != "bool":
                    continue  # overflows; prod is tested on small values below
                want = getattr(np, name)(xv, axis=axis, keepdims=keepdims)
                got = getattr(ka, name)(x, axis=axis, keepdims=keepdims, split_every=2)
                cases.append((got, want))
            if dtype in ("int32", "float32"):
                want = np.sum(xv, axis=axis, keepdims=keepdims, dtype=np.float64)
                cases.append((x.sum(axis=axis, keepdims=keepdims, dtype=np.float64), want))
    small = typed_input(rng, "float64", x.shape, x.chunks) / 20 + 1
    sv = small.compute()
    cases.append((ka.prod(small, axis=0), np.prod(sv, axis=0)))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # Kaon accumulates float32 in float64: closer to the exact sum than NumPy.
        run_cases(cases, rtol=1e-4 if dtype == "float32" else None)


def test_nan_reductions(rng):
    shape, spec = random_chunking(rng, ndim=3, max_len=7)
    x = ka.random.random(shape, chunks=spec, seed=5)
    y = ka.where(x < 0.3, np.nan, x)
    f = y.astype(np.float32)
    yv, fv = kaon.compute(y, f)
    cases = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for axis in [None, 0, (1, 2), -1]:
            for name in ("nansum", "nanprod", "nanmean", "nanmin", "nanmax"):
                for a, av in ((y, yv), (f, fv)):
                    if name in ("nanmin", "nanmax") and av.size == 0:
                        continue
                    want = getattr(np, name)(av, axis=axis)
                    cases.append((getattr(ka, name)(a, axis=axis), want))
                    cases.append((getattr(np, name)(a, axis=axis), want))
        allnan = ka.full((4, 3), np.nan, chunks=2)
        cases.append((ka.nanmax(allnan, axis=0), np.nanmax(np.full((4, 3), np.nan), axis=0)))
        cases.append((ka.nanmean(allnan, axis=1), np.nanmean(np.full((4, 3), np.nan), axis=1)))
    run_cases(cases)
    # On integers the nan-reductions are the plain ones.
    i = ka.arange_like = ka.full((5,), 3, chunks=2)
    run_cases([(ka.nansum(i), np.nansum(np.full(5, 3))), (ka.nanmax(i), np.int64(3))])


def test_where_clip_round(rng):
    x = typed_input(rng, "float64")
    i = typed_input(rng, "int32", x.shape, x.chunks)
    f = typed_input(rng, "float32", x.shape, x.chunks)
    xv, iv, fv = kaon.compute(x, i, f)
    cases = [
        (ka.where(x > 0, x, 0), np.where(xv > 0, xv, 0)),
        (ka.where(x > 0, i, x), np.where(xv > 0, iv, xv)),
        (ka.where(i, 1, 2), np.where(iv, 1, 2)),
        (np.where(x < 0, f, 1.5), np.where(xv < 0, fv, np.float32(1.5))),
        (ka.where(True, x, i), np.where(True, xv, iv)),
        (ka.clip(x, -3, 4.5), np.clip(xv, -3, 4.5)),
        (np.clip(i, -3, 4), np.clip(iv, -3, 4)),
        (x.clip(min=0), np.clip(xv, 0, None)),
        (f.clip(None, 2), np.clip(fv, None, 2)),
        (ka.round(x, 2), np.round(xv, 2)),
        (np.round(x), np.round(xv)),
        (x.round(-1), np.round(xv, -1)),
        (ka.around(f, 1), np.around(fv, 1)),
        (ka.round(i, -1), np.round(iv, -1)),
        (ka.rint(x * 0 + 2.5), np.rint(xv * 0 + 2.5)),
    ]
    with np.errstate(all="ignore"):
        cases.append((ka.isnan(ka.log(x)), np.isnan(np.log(xv))))
        run_cases(cases)
    with pytest.raises(ValueError, match="max or min"):
        ka.clip(x)
    with pytest.raises(NotImplementedError):
        ka.where(x)


def grow_random_tree(rng, lazy, ref, unary, binary, others, steps=12):
    """Appends ``steps`` random operations to the parallel lists of kaon arrays and
    NumPy references: ufuncs by name from ``unary`` and ``binary``, or one of
    ``others(lazy_k, ref_k, lazy_0, ref_0)`` giving a (kaon, NumPy) pair."""
    for _ in range(steps):
        r = rng.random()
        if r < 0.3:
            k = int(rng.integers(len(lazy)))
            name = unary[int(rng.integers(len(unary)))]
            new = getattr(ka, name)(lazy[k]), getattr(np, name)
            args = (ref[k],)
        elif r < 0.8:
            a, b = (int(v) for v in rng.integers(len(lazy), size=2))
            name = binary[int(rng.integers(len(binary)))]
            new = getattr(ka, name)(lazy[a], lazy[b]), getattr(np, name)
            args = (ref[a], ref[b])
        else:
            k = int(rng.integers(len(lazy)))
            other = others[int(rng.integers(len(others)))]
            new = other(lazy[k], ref[k], lazy[0], ref[0]), None
        with np.errstate(all="ignore"):
            if new[1] is None:
                lazy.append(new[0][0])
                ref.append(new[0][1])
            else:
                lazy.append(new[0])
                ref.append(new[1](*args))


def test_random_expression_trees_match_numpy(rng):
    """A property test: random compositions of many operations against NumPy."""
    unary = ["sin", "cos", "tanh", "abs", "negative", "square", "floor", "sqrt", "exp", "rint"]
    binary = ["add", "subtract", "multiply", "maximum", "minimum", "divide", "hypot"]
    others = [
        lambda x, xv, x0, x0v: (ka.where(x > 0, x, x0 * 2), np.where(xv > 0, xv, x0v * 2)),
        lambda x, xv, x0, x0v: (ka.clip(x * 0.7, -1, 1), np.clip(xv * 0.7, -1, 1)),
        lambda x, xv, x0, x0v: (ka.clip(x * -1.3, -1, 1), np.clip(xv * -1.3, -1, 1)),
    ]
    for trial in range(6):
        shape, spec = random_chunking(rng, max_len=8)
        leaves = [ka.random.random(shape, chunks=spec, seed=trial * 10 + k) - 0.5 for k in range(3)]
        lazy, ref = list(leaves), list(kaon.compute(*leaves))
        grow_random_tree(rng, lazy, ref, unary, binary, others)
        # The whole tree, its sum, and a reduction over one axis, as one graph.
        last, want = lazy[-1], ref[-1]
        outs = [last, ka.nansum(last), ka.nanmax(last, axis=0) if want.size else last]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
            wants = [want, np.nansum(want), np.nanmax(want, axis=0) if want.size else want]
            got = kaon.compute(*outs)
        for g, w in zip(got, wants):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_random_integer_expression_trees_match_numpy_exactly(rng):
    """A property test over integers of every width: exact, wrapping as NumPy."""
    binary = ["add", "subtract", "multiply", "maximum", "minimum", "bitwise_and"]
    binary += ["bitwise_or", "bitwise_xor", "floor_divide", "remainder"]
    unary = ["negative", "absolute", "square", "invert"]
    others = [
        lambda x, xv, x0, x0v: (
            ka.where(x > x0, x, 7),
            np.where(xv > x0v, xv, 7).astype(xv.dtype),
        ),
        lambda x, xv, x0, x0v: (x << 3 >> 1, xv << 3 >> 1),
    ]
    for trial, dtype in enumerate(["int64", "int32", "uint8", "int64"]):
        shape, spec = random_chunking(rng, max_len=8)
        info = np.iinfo(dtype)
        ref = [
            rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
            for _ in range(3)
        ]
        lazy = [ka.from_array(v, chunks=spec) for v in ref]
        grow_random_tree(rng, lazy, ref, unary, binary, others)
        last, want = lazy[-1], ref[-1]
        outs = [last, last.sum(), last.max(axis=0) if want.size else last, last.cumsum(axis=0)]
        with np.errstate(all="ignore"):
            wants = [want, want.sum(), want.max(axis=0) if want.size else want, want.cumsum(0)]
        for g, w in zip(kaon.compute(*outs), wants):
            # uint8 sums are int64 in Kaon (NumPy: uint64, which kaon arrays do not hold).
            w = w.astype(np.int64) if w.dtype == np.uint64 else w
            assert g.dtype == w.dtype, (trial, dtype, g.dtype, w.dtype)
            np.testing.assert_array_equal(g, w)


def test_results_keep_their_dtype_and_zero_copy_for_float64():
    one = ka.random.random((300, 200), chunks=-1, seed=1).compute()
    assert one.dtype == np.float64 and not one.flags.owndata
    b = (ka.random.random((30, 20), chunks=7, seed=1) > 0.5).compute()
    assert b.dtype == np.bool_ and b.flags.c_contiguous
    s = (ka.ones((3, 4), dtype=np.int32, chunks=2)).sum().compute()
    assert isinstance(s, np.int64) and s == 12
    assert ka.ones(3, dtype="uint8", chunks=2).compute().dtype == np.uint8
    assert ka.zeros((2, 2), dtype=bool).itemsize == 1
    assert ka.full((2,), 7).dtype == np.int64 and ka.full((2,), True).dtype == np.bool_
    assert ka.ones_like(ka.ones(3, dtype=np.float32)).dtype == np.float32
    assert ka.random.default_rng(1).random(5, dtype=np.float32).dtype == np.float32
