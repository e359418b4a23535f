"""Analysis routines built from Kaon's fused reductions and histograms: ``argmin`` /
``argmax``, ``bincount``, ``unique`` and ``percentile``, with NumPy's results.

``argmin``/``argmax`` are two fused passes (the extreme value, then the first
position holding it); ``bincount``, ``unique`` and ``percentile`` first compute the
data's range (as dask's unknown output lengths would force a compute too), then bin.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from kaon.array.core import Array, apply_ufunc, normalize_axis, reduce
from kaon.array.creation import _iota
from kaon.array.layout import from_array, histogram

__all__ = [
    "argmax",
    "argmin",
    "bincount",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "nancumprod",
    "nancumsum",
    "nanargmax",
    "nanargmin",
    "percentile",
    "unique",
]

#: Most distinct integers ``unique`` and ``bincount`` count in one histogram.
MAX_BINS = 1 << 26


def _position(a: Array, axis: Optional[int]) -> Array:
    """Each element's index along ``axis``, or its flat C-order index for None."""
    if axis is not None:
        return _iota(a.shape, a.chunks, axis, "int64")
    flat: Any = None
    stride = 1
    for k in reversed(range(a.ndim)):
        term = _iota(a.shape, a.chunks, k, "int64")
        if stride != 1:
            term = term * stride
        flat = term if flat is None else flat + term
        stride *= a.shape[k]
    if flat is None:
        return _iota((1,), 1, 0, "int64").reshape(())
    return flat


def _arg(kind: str, a: Any, axis: Any, keepdims: bool, skipna: bool) -> Any:
    if not isinstance(a, Array):
        fn = {"min": np.argmin, "max": np.argmax}[kind]
        if skipna:
            fn = {"min": np.nanargmin, "max": np.nanargmax}[kind]
        return fn(a, axis=axis, keepdims=keepdims)
    if a.size == 0:
        raise ValueError(f"attempt to get arg{kind} of an empty sequence")
    if axis is not None:
        (axis,) = normalize_axis(axis, a.ndim)
    x = a
    if skipna and x.dtype.kind == "f":
        # NaN never wins: it becomes the worst value for this reduction.
        x = apply_ufunc("where", apply_ufunc("isnan", x), np.inf if kind == "min" else -np.inf, x)
    axes = None if axis is None else (axis,)
    extreme = reduce(kind, x, axes, None, True)
    hit = x == extreme
    if not skipna and x.dtype.kind == "f":
        # NumPy returns the first NaN where there is one (the extreme is NaN there).
        hit = hit | apply_ufunc("isnan", x)
    pos = _position(x, axis)
    beyond = a.size  # past every position, and exact in float64
    first = reduce("min", apply_ufunc("where", hit, pos, beyond), axes, None, keepdims)
    return first


def argmax(
    a: Any,
    axis: Optional[int] = None,
    keepdims: bool = False,
    split_every: Any = None,
    out: None = None,
) -> Any:
    """Index of the largest element, like ``numpy.argmax`` (the first one on ties; the
    first NaN where there is one). With ``axis=None`` the index is into the flattened
    array.

    Parameters
    ----------
    a : Array
        The values.
    axis : int, optional
        The axis to search along (default: all, flat index).
    keepdims : bool
        Keep the reduced axis with length 1.
    split_every : int or dict, optional
        Accepted for dask compatibility and ignored (the two passes are fused
        reductions with Kaon's own tree).
    out : None
        Accepted for dask compatibility and ignored (kaon arrays are immutable; leave
        it None).

    Returns
    -------
    Array
        int64 indices.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.from_array([3.0, 7.0, 1.0, 7.0], chunks=2)
    >>> ka.argmax(x).compute()  # doctest: +SKIP
    np.int64(1)
    """
    return _arg("max", a, axis, keepdims, False)


def argmin(
    a: Any,
    axis: Optional[int] = None,
    keepdims: bool = False,
    split_every: Any = None,
    out: None = None,
) -> Any:
    """Index of the smallest element, like ``numpy.argmin``; see :func:`argmax`.

    Parameters
    ----------
    a : Array
        The values.
    axis : int, optional
        The axis to search along (default: all, flat index).
    keepdims : bool
        Keep the reduced axis with length 1.
    split_every : int or dict, optional
        Accepted for dask compatibility and ignored (the two passes are fused
        reductions with Kaon's own tree).
    out : None
        Accepted for dask compatibility and ignored (kaon arrays are immutable; leave
        it None).

    Returns
    -------
    Array
        int64 indices.
    """
    return _arg("min", a, axis, keepdims, False)


def nanargmax(a: Any, axis: Optional[int] = None, keepdims: bool = False) -> Any:
    """Index of the largest element ignoring NaN, like ``numpy.nanargmax``.

    Parameters
    ----------
    a : Array
        The values.
    axis : int, optional
        The axis to search along (default: all, flat index).
    keepdims : bool
        Keep the reduced axis with length 1.

    Returns
    -------
    Array
        int64 indices (where a line is all NaN, its length: NumPy raises instead).
    """
    return _arg("max", a, axis, keepdims, True)


def nanargmin(a: Any, axis: Optional[int] = None, keepdims: bool = False) -> Any:
    """Index of the smallest element ignoring NaN, like ``numpy.nanargmin``.

    Parameters
    ----------
    a : Array
        The values.
    axis : int, optional
        The axis to search along (default: all, flat index).
    keepdims : bool
        Keep the reduced axis with length 1.

    Returns
    -------
    Array
        int64 indices.
    """
    return _arg("min", a, axis, keepdims, True)


def _cumulative(kind: str, x: Any, axis: Optional[int], dtype: Any, nan: bool) -> Any:
    if not isinstance(x, Array):
        fn = {
            "sum": np.nancumsum if nan else np.cumsum,
            "prod": np.nancumprod if nan else np.cumprod,
        }[kind]
        return fn(x, axis=axis, dtype=dtype)
    if nan and x.dtype.kind == "f":
        x = apply_ufunc("where", apply_ufunc("isnan", x), 0.0 if kind == "sum" else 1.0, x)
    if dtype is not None:
        x = x.astype(dtype)
    if axis is None:
        x = x.reshape(-1)
        axis = 0
    return Array(x._h.cumulative(kind, int(axis)))


def cumsum(
    x: Any,
    axis: Optional[int] = None,
    dtype: Any = None,
    out: None = None,
    method: str = "sequential",
) -> Any:
    """Cumulative sum along ``axis`` (of the flattened array by default), like
    ``numpy.cumsum``.

    Each chunk is scanned on its own and starts from the sum of the totals of the
    chunks before it along the axis, so chunks run in parallel; float results may
    differ from NumPy's strictly sequential sum by rounding.

    Parameters
    ----------
    x : Array
        The values.
    axis : int, optional
        The axis to accumulate along; None flattens first.
    dtype : dtype, optional
        Accumulator dtype (default: int64 for bool and integers, as NumPy).
    out : None
        Accepted for dask compatibility and ignored (kaon arrays are immutable; leave
        it None).
    method : {"sequential", "blelloch"}
        Accepted for dask compatibility and ignored: Kaon always scans each chunk and
        offsets it by the totals of the chunks before it, as described above.

    Returns
    -------
    Array

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.cumsum(ka.from_array([1, 2, 3, 4], chunks=2)).compute()  # doctest: +SKIP
    array([ 1,  3,  6, 10])
    """
    return _cumulative("sum", x, axis, dtype, False)


def cumprod(
    x: Any,
    axis: Optional[int] = None,
    dtype: Any = None,
    out: None = None,
    method: str = "sequential",
) -> Any:
    """Cumulative product along ``axis``, like ``numpy.cumprod``; see :func:`cumsum`.

    Parameters
    ----------
    x : Array
        The values.
    axis : int, optional
        The axis to accumulate along; None flattens first.
    dtype : dtype, optional
        Accumulator dtype.
    out : None
        Accepted for dask compatibility and ignored (kaon arrays are immutable; leave
        it None).
    method : {"sequential", "blelloch"}
        Accepted for dask compatibility and ignored (see :func:`cumsum`).

    Returns
    -------
    Array
    """
    return _cumulative("prod", x, axis, dtype, False)


def nancumsum(x: Any, axis: Optional[int] = None, dtype: Any = None) -> Any:
    """Cumulative sum treating NaN as 0, like ``numpy.nancumsum``.

    Parameters
    ----------
    x : Array
        The values.
    axis : int, optional
        The axis to accumulate along; None flattens first.
    dtype : dtype, optional
        Accumulator dtype.

    Returns
    -------
    Array
    """
    return _cumulative("sum", x, axis, dtype, True)


def nancumprod(x: Any, axis: Optional[int] = None, dtype: Any = None) -> Any:
    """Cumulative product treating NaN as 1, like ``numpy.nancumprod``.

    Parameters
    ----------
    x : Array
        The values.
    axis : int, optional
        The axis to accumulate along; None flattens first.
    dtype : dtype, optional
        Accumulator dtype.

    Returns
    -------
    Array
    """
    return _cumulative("prod", x, axis, dtype, True)


def count_nonzero(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Number of non-zero elements over ``axis``, like ``numpy.count_nonzero``.

    Parameters
    ----------
    a : Array
        The values.
    axis : int or tuple of int, optional
        Axes to count over (default: all).
    keepdims : bool
        Keep the counted axes with length 1.

    Returns
    -------
    Array
        int64 counts.
    """
    if not isinstance(a, Array):
        return np.count_nonzero(a, axis=axis, keepdims=keepdims)
    return reduce("sum", a.astype(bool), axis, np.int64, keepdims)


def _int_range(x: Array, what: str) -> tuple[int, int]:
    if x.dtype.kind not in "iub":
        raise TypeError(f"{what} needs integer values, not {x.dtype}")
    from kaon.client import compute

    lo, hi = compute(x.min(), x.max(), progress=False)
    return int(lo), int(hi)


def bincount(x: Array, weights: Optional[Array] = None, minlength: int = 0) -> Array:
    """Number of occurrences of each non-negative integer, like ``numpy.bincount``.

    The largest value is computed first (NumPy's output length depends on it; dask
    leaves it unknown), then one fused histogram counts all chunks.

    Parameters
    ----------
    x : Array
        One-dimensional non-negative integers.
    weights : Array, optional
        Weights of the same shape.
    minlength : int
        The output has at least this many bins.

    Returns
    -------
    Array
        int64 counts (float64 sums with weights), of length ``max(x.max() + 1,
        minlength)``.

    Raises
    ------
    ValueError
        For negative values or a non-1-D input.
    """
    if not isinstance(x, Array):
        return np.bincount(x, weights, minlength)
    if x.ndim != 1:
        raise ValueError("object too deep for desired array: bincount takes a 1-D array")
    if minlength < 0:
        raise ValueError("minlength must not be negative")
    n = int(minlength)
    if x.size:
        lo, hi = _int_range(x, "bincount")
        if lo < 0:
            raise ValueError("'list' argument must have no negative elements")
        n = max(n, hi + 1)
    if n == 0:
        return from_array(np.zeros(0, dtype=np.int64 if weights is None else np.float64))
    if n > MAX_BINS:
        raise MemoryError(f"bincount of values up to {n - 1} needs more than {MAX_BINS} bins")
    w = None if weights is None else weights.astype(np.float64)
    counts, _ = histogram(x, bins=n, range=(0, n), weights=w)
    return counts


def unique(
    ar: Array, return_index: bool = False, return_inverse: bool = False, return_counts: bool = False
) -> Any:
    """The sorted distinct values of an integer (or bool) array, like ``numpy.unique``.

    Computed from a histogram of one bin per integer between the smallest and largest
    value (at most ``MAX_BINS`` of them), so the result is exact; the values come back
    as a computed one-chunk array (dask's are of unknown length).

    Parameters
    ----------
    ar : Array
        Integer or bool values (any shape; flattened).
    return_index : bool
        Accepted for NumPy and dask compatibility: for a kaon array it must be False
        (True raises ``NotImplementedError``); for a NumPy array it is passed to
        ``numpy.unique``.
    return_inverse : bool
        As ``return_index``: True raises ``NotImplementedError`` for a kaon array.
    return_counts : bool
        Also return how often each value occurs.

    Returns
    -------
    Array, or (Array, Array)
        The values, and with ``return_counts`` their counts.

    Raises
    ------
    NotImplementedError
        With ``return_index`` or ``return_inverse`` for a kaon array.
    """
    if not isinstance(ar, Array):
        return np.unique(
            ar,
            return_index=return_index,
            return_inverse=return_inverse,
            return_counts=return_counts,
        )
    if return_index or return_inverse:
        raise NotImplementedError(
            "unique: return_index and return_inverse are not supported by kaon arrays"
        )
    if ar.size == 0:
        values = np.zeros(0, dtype=ar.dtype)
        counts = np.zeros(0, dtype=np.int64)
    else:
        lo, hi = _int_range(ar, "unique of kaon arrays")
        n = hi - lo + 1
        if n > MAX_BINS:
            raise MemoryError(f"unique over the range {lo}..{hi} needs more than {MAX_BINS} bins")
        shifted = ar.astype(np.int64) - lo if lo else ar
        hist, _ = histogram(shifted, bins=n, range=(0, n))
        full = hist.compute(progress=False)
        (where,) = np.nonzero(full)
        values = (where + lo).astype(ar.dtype)
        counts = full[where]
    out = from_array(values)
    if return_counts:
        return out, from_array(counts)
    return out


def percentile(
    a: Array, q: Any, method: str = "linear", internal_method: str = "default", **kwargs: Any
) -> np.ndarray:
    """The ``q``-th percentiles of all elements, approximately, like
    ``dask.array.percentile``.

    Computed with histograms: the range first, then 2**16 bins over it, then 2**16
    bins over the bin holding each percentile, interpolating linearly inside it. The
    error is at most the width of a second-level bin, ``(max - min) / 2**32``, and
    values are exact where they fall on data in those bins with few distinct values.
    NaN values are ignored (dask would return NaN).

    Parameters
    ----------
    a : Array
        The values (any shape; flattened).
    q : float or sequence of float
        Percentiles in [0, 100].
    method : str
        For a NumPy input, passed to ``numpy.percentile``. For a kaon array it is
        accepted for dask compatibility and ignored: the result is always the linear
        interpolation described above.
    internal_method : str
        Accepted for dask compatibility (dask's choice of merge algorithm) and ignored.
    **kwargs
        Other arguments of ``dask.array.percentile``, accepted and ignored.

    Returns
    -------
    numpy.ndarray
        One value per percentile (computed, as dask's ``percentile(...).compute()``).
    """
    if not isinstance(a, Array):
        return np.percentile(a, q, method=method)
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any((qs < 0) | (qs > 100)):
        raise ValueError("Percentiles must be in the range [0, 100]")
    from kaon.client import compute

    x = a.astype(np.float64)
    nan = apply_ufunc("isnan", x)
    lo, hi, n = compute(
        apply_ufunc("where", nan, np.inf, x).min(),
        apply_ufunc("where", nan, -np.inf, x).max(),
        count_nonzero(~nan),
        progress=False,
    )
    lo, hi, n = float(lo), float(hi), int(n)
    if n == 0:
        return np.full(qs.shape, np.nan)
    if lo == hi:
        return np.full(qs.shape, lo)
    bins = 1 << 16
    counts, edges = histogram(x, bins=bins, range=(lo, hi))
    c = counts.compute(progress=False)
    cum = np.concatenate([[0], np.cumsum(c)])
    # NumPy's linear method: the value at fractional rank r = q/100 * (n - 1), between
    # the elements of ranks floor(r) and floor(r) + 1.
    ranks = qs / 100 * (n - 1)
    below = np.floor(ranks).astype(np.int64)
    pairs = np.stack([below, np.minimum(below + 1, int(cum[-1]) - 1)], axis=1)
    holding = np.minimum(np.searchsorted(cum, pairs, side="right") - 1, bins - 1)
    # One second-level histogram per first-level bin that holds a rank, all in one graph.
    needed = sorted(set(holding.ravel().tolist()))
    subs = [histogram(x, bins=bins, range=(edges[b], edges[b + 1])) for b in needed]
    sub_counts = compute(*[h for h, _ in subs], progress=False)
    refined = {b: (s, e) for b, s, (_, e) in zip(needed, sub_counts, subs)}

    def value(k: int, b: int) -> float:
        s, sub_edges = refined[b]
        # Elements of x below this bin: everything before it.
        scum = np.concatenate([[0], np.cumsum(s)]) + cum[b]
        j = min(int(np.searchsorted(scum, k, side="right")) - 1, bins - 1)
        return 0.5 * (sub_edges[j] + sub_edges[j + 1]) if s[j] else sub_edges[j]

    out = np.empty_like(qs)
    for i, (r, (k0, k1), (b0, b1)) in enumerate(zip(ranks, pairs, holding)):
        v0, v1 = value(int(k0), int(b0)), value(int(k1), int(b1))
        out[i] = v0 + (v1 - v0) * (r - k0)
    return out if np.ndim(q) else out[0]
