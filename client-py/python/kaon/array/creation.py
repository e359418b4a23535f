"""Arrays filled with one value: ``ones``, ``zeros``, ``empty``, ``full`` and their
``*_like`` forms, and ranges: ``arange``, ``linspace``, ``eye``, with dask.array's
signatures. Ranges are computed where they are consumed (each element from its index)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from kaon import _kaon
from kaon.array.chunks import ChunksLike, normalize_chunks, normalize_shape
from kaon.array.core import Array, normalize_dtype, scalar_operand

__all__ = [
    "arange",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "linspace",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]


def _filled(shape: Any, value: float, dtype: Any, chunks: ChunksLike) -> Array:
    d = normalize_dtype(dtype) or np.dtype(np.float64)
    shape = normalize_shape(shape)
    spec = normalize_chunks(chunks, shape, dtype=d)
    return Array(_kaon.Array.full([list(c) for c in spec], value, d.name))


def full(
    shape: Any, fill_value: Any, dtype: Any = None, chunks: ChunksLike = "auto", **kwargs: Any
) -> Array:
    """A lazy array of ``shape`` filled with ``fill_value``.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    fill_value : scalar
        The value of every element (a real number).
    dtype : dtype, optional
        The element type; by default that of ``fill_value`` as NumPy gives it (int64
        for a Python int, bool for a bool, float64 for a float).
    chunks : int, tuple, dict or "auto"
        How to cut the array into chunks, as in dask.array.

    Returns
    -------
    Array

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.full((4, 3), 2.5, chunks=2).chunks
    ((2, 2), (2, 1))
    """
    op = scalar_operand(fill_value)
    if op is None:
        raise TypeError(f"fill_value must be a real scalar, not {fill_value!r}")
    value, kind = op
    if dtype is None:
        dtype = {"bool": bool, "int": np.int64, "float": np.float64}.get(kind, kind)
    return _filled(shape, value, dtype, chunks)


def ones(shape: Any, dtype: Any = None, chunks: ChunksLike = "auto", **kwargs: Any) -> Array:
    """A lazy array of ``shape`` filled with ones; see :func:`full`."""
    return _filled(shape, 1.0, dtype, chunks)


def zeros(shape: Any, dtype: Any = None, chunks: ChunksLike = "auto", **kwargs: Any) -> Array:
    """A lazy array of ``shape`` filled with zeros; see :func:`full`."""
    return _filled(shape, 0.0, dtype, chunks)


def empty(shape: Any, dtype: Any = None, chunks: ChunksLike = "auto", **kwargs: Any) -> Array:
    """A lazy array of ``shape`` whose values are unspecified (zeros, in fact)."""
    return _filled(shape, 0.0, dtype, chunks)


def _like_args(a: Any, chunks: ChunksLike, shape: Any) -> tuple[tuple[int, ...], ChunksLike]:
    if shape is None:
        shape = np.shape(a) if not isinstance(a, Array) else a.shape
    shape = normalize_shape(shape)
    if chunks is None:
        chunks = a.chunks if isinstance(a, Array) and a.shape == shape else "auto"
    return shape, chunks


def full_like(
    a: Any,
    fill_value: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """A lazy array with the shape (and chunks, for a kaon array) of ``a``, filled with
    ``fill_value``.

    Parameters
    ----------
    a : Array or array_like
        The array whose shape (and chunks) to use.
    fill_value : scalar
        The value of every element.
    dtype : dtype, optional
        The element type (by default that of ``a``, or of ``fill_value`` for other
        input).
    order : str
        Ignored (kaon arrays are C-ordered).
    chunks : optional
        Chunks of the new array; by default those of ``a`` when it is a kaon array.
    name : str, optional
        Ignored.
    shape : tuple of int, optional
        Overrides the shape of ``a``.
    """
    shape, chunks = _like_args(a, chunks, shape)
    if dtype is None:
        dtype = a.dtype if isinstance(a, Array) else np.asarray(a).dtype
        if normalize_dtype_or_none(dtype) is None:
            dtype = None
    return full(shape, fill_value, dtype=dtype, chunks=chunks)


def normalize_dtype_or_none(dtype: Any) -> Any:
    """``dtype`` if kaon arrays hold it, else None."""
    try:
        return normalize_dtype(dtype)
    except TypeError:
        return None


def ones_like(
    a: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """Ones with the shape, dtype and chunks of ``a``; see :func:`full_like`."""
    return full_like(a, 1, dtype, order, chunks, name, shape)


def zeros_like(
    a: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """Zeros with the shape, dtype and chunks of ``a``; see :func:`full_like`."""
    return full_like(a, 0, dtype, order, chunks, name, shape)


def empty_like(
    a: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """An array with the shape, dtype and chunks of ``a`` and unspecified values (zeros)."""
    return full_like(a, 0, dtype, order, chunks, name, shape)


def _iota(shape: tuple[int, ...], chunks: ChunksLike, axis: int, dtype: Any) -> Array:
    spec = normalize_chunks(chunks, shape, dtype=dtype)
    return Array(_kaon.Array.iota([list(c) for c in spec], axis))


def arange(*args: Any, chunks: ChunksLike = "auto", dtype: Any = None, **kwargs: Any) -> Array:
    """Evenly spaced values in ``[start, stop)``: ``arange(stop)``,
    ``arange(start, stop[, step])``, as ``numpy.arange``.

    Parameters
    ----------
    start, stop, step : int or float
        The range (start 0 and step 1 by default).
    chunks : int, tuple or "auto"
        How to cut the array into chunks.
    dtype : dtype, optional
        By default int64 for integer arguments, float64 otherwise.

    Returns
    -------
    Array

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.arange(10, chunks=4).chunks
    ((4, 4, 2),)
    """
    for k in ("start", "stop", "step"):
        if k in kwargs:
            raise TypeError(f"arange: pass {k} by position")
    if kwargs.pop("like", None) is not None or kwargs:
        raise TypeError(f"arange: unexpected keyword arguments {', '.join(sorted(kwargs))}")
    if not 1 <= len(args) <= 3:
        raise TypeError(f"arange takes 1 to 3 positional arguments, got {len(args)}")
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    if step == 0:
        raise ValueError("step must not be 0")
    n = max(0, int(np.ceil((stop - start) / step)))
    ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    d = normalize_dtype(dtype) or np.dtype(np.int64 if ints else np.float64)
    i = _iota((n,), chunks, 0, d)
    if ints and d.kind in "iu":
        r = i * int(step) + int(start) if (start, step) != (0, 1) else i
    else:
        r = i.astype(np.float64) * float(step) + float(start)
    return r.astype(d)


def linspace(
    start: float,
    stop: float,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    chunks: ChunksLike = "auto",
    dtype: Any = None,
) -> Any:
    """``num`` evenly spaced values from ``start`` to ``stop`` (included with
    ``endpoint``), as ``numpy.linspace``: ``start + i * step``, the last one ``stop``.

    Returns
    -------
    Array, or (Array, float) with ``retstep``
    """
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    step = (stop - start) / div if div > 0 else np.nan
    d = normalize_dtype(dtype) or np.dtype(np.float64)
    i = _iota((num,), chunks, 0, np.float64)
    r = i.astype(np.float64) * float(step if div > 0 else 0.0) + float(start)
    if endpoint and num > 1:
        from kaon.array.ufuncs import where

        r = where(i == num - 1, float(stop), r)
    r = r.astype(d)
    return (r, step) if retstep else r


def eye(
    N: int,
    chunks: ChunksLike = "auto",
    M: Optional[int] = None,
    k: int = 0,
    dtype: Any = float,
) -> Array:
    """A 2-D array with ones on the ``k``-th diagonal and zeros elsewhere, as
    ``numpy.eye`` (dask.array's signature: ``eye(N, chunks, M, k, dtype)``).

    Returns
    -------
    Array
    """
    M = N if M is None else M
    d = normalize_dtype(dtype) or np.dtype(np.float64)
    shape = (int(N), int(M))
    rows = _iota(shape, chunks, 0, d)
    cols = Array(_kaon.Array.iota([list(c) for c in rows.chunks], 1))
    return ((cols - rows) == int(k)).astype(d)
