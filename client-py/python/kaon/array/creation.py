"""Arrays filled with one value: ``ones``, ``zeros``, ``empty``, ``full`` and their
``*_like`` forms, and ranges: ``arange``, ``linspace``, ``eye``, with dask.array's
signatures.

None of them stores anything: a filled chunk, or a range (each element from its index),
is computed inside the program of the chunk that consumes it.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

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


#: A shape: an int (one axis) or a sequence of ints.
ShapeLike = Union[int, tuple[int, ...], list[int]]


def _filled(shape: Any, value: float, dtype: Any, chunks: ChunksLike) -> Array:
    d = normalize_dtype(dtype) or np.dtype(np.float64)
    shape = normalize_shape(shape)
    spec = normalize_chunks(chunks, shape, dtype=d)
    return Array(_kaon.Array.full([list(c) for c in spec], value, d.name))


def full(
    shape: ShapeLike,
    fill_value: Any,
    dtype: npt.DTypeLike = None,
    chunks: ChunksLike = "auto",
    **kwargs: Any,
) -> Array:
    """A lazy array of the given shape filled with ``fill_value``.

    Like ``numpy.full`` and ``dask.array.full``. Nothing is stored: each chunk is
    produced inside the program of the chunk that consumes it.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    fill_value : scalar
        The value of every element (a real number or a bool).
    dtype : dtype, optional
        The element type (float64, float32, int64, int32, uint8 or bool); by default
        that of ``fill_value`` as NumPy gives it: int64 for a Python int, bool for a
        bool, float64 for a float, the dtype of a NumPy scalar.
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes (see
        :func:`kaon.array.normalize_chunks`); ``"auto"`` aims at 128 MiB chunks.
    **kwargs
        dask's other arguments (``name``, ``meta``, ...) are accepted and ignored.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For a ``fill_value`` that is not a real number, or an unsupported dtype.
    ValueError
        For a negative dimension, or chunks that do not fit the shape.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.full((4, 3), 2.5, chunks=2)
    >>> x.dtype, x.chunks
    (dtype('float64'), ((2, 2), (2, 1)))
    >>> ka.full(3, 7, chunks=2).dtype
    dtype('int64')
    >>> ka.full(3, 7, chunks=2).compute()  # doctest: +SKIP
    array([7, 7, 7])
    """
    op = scalar_operand(fill_value)
    if op is None:
        raise TypeError(f"fill_value must be a real scalar, not {fill_value!r}")
    value, kind = op
    if dtype is None:
        dtype = {"bool": bool, "int": np.int64, "float": np.float64}.get(kind, kind)
    if isinstance(value, int) and np.dtype(normalize_dtype(dtype)).kind in "iu":
        if not -(2**63) <= value < 2**63:
            raise OverflowError(f"Python integer {value} out of bounds for int64")
    return _filled(shape, value, dtype, chunks)


def ones(
    shape: ShapeLike, dtype: npt.DTypeLike = None, chunks: ChunksLike = "auto", **kwargs: Any
) -> Array:
    """A lazy array of the given shape filled with ones.

    Like ``numpy.ones`` and ``dask.array.ones``; see :func:`full`.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    dtype : dtype, optional
        The element type: float64 (the default), float32, int64, int32, uint8 or bool.
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes (see
        :func:`kaon.array.normalize_chunks`); ``"auto"`` aims at 128 MiB chunks.
    **kwargs
        dask's other arguments (``name``, ``meta``, ...) are accepted and ignored.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For an unsupported dtype.
    ValueError
        For a negative dimension, or chunks that do not fit the shape.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.ones((1000, 1000), chunks=(250, 500))
    >>> x.dtype, x.numblocks
    (dtype('float64'), (4, 2))
    >>> ka.ones(3, dtype=int, chunks=2).compute()  # doctest: +SKIP
    array([1, 1, 1])
    """
    return _filled(shape, 1.0, dtype, chunks)


def zeros(
    shape: ShapeLike, dtype: npt.DTypeLike = None, chunks: ChunksLike = "auto", **kwargs: Any
) -> Array:
    """A lazy array of the given shape filled with zeros.

    Like ``numpy.zeros`` and ``dask.array.zeros``; see :func:`full`.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    dtype : dtype, optional
        The element type: float64 (the default), float32, int64, int32, uint8 or bool.
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes (see
        :func:`kaon.array.normalize_chunks`); ``"auto"`` aims at 128 MiB chunks.
    **kwargs
        dask's other arguments (``name``, ``meta``, ...) are accepted and ignored.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For an unsupported dtype.
    ValueError
        For a negative dimension, or chunks that do not fit the shape.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.zeros((1000, 1000), chunks=(250, 500))
    >>> x.dtype, x.numblocks
    (dtype('float64'), (4, 2))
    >>> ka.zeros(3, dtype=int, chunks=2).compute()  # doctest: +SKIP
    array([0, 0, 0])
    """
    return _filled(shape, 0.0, dtype, chunks)


def empty(
    shape: ShapeLike, dtype: npt.DTypeLike = None, chunks: ChunksLike = "auto", **kwargs: Any
) -> Array:
    """A lazy array of the given shape whose values are unspecified.

    Like ``numpy.empty`` and ``dask.array.empty``. Kaon fills it with zeros (as
    :func:`zeros`), which costs nothing since no chunk is stored, but code should not
    rely on that.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    dtype : dtype, optional
        The element type: float64 (the default), float32, int64, int32, uint8 or bool.
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes (see
        :func:`kaon.array.normalize_chunks`); ``"auto"`` aims at 128 MiB chunks.
    **kwargs
        dask's other arguments (``name``, ``meta``, ...) are accepted and ignored.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For an unsupported dtype.
    ValueError
        For a negative dimension, or chunks that do not fit the shape.

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.empty((4, 6), chunks=(2, 3)).chunks
    ((2, 2), (3, 3))
    """
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
    dtype: npt.DTypeLike = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Optional[ShapeLike] = None,
) -> Array:
    """A lazy array with the shape, dtype and chunks of ``a``, filled with ``fill_value``.

    Like ``numpy.full_like`` and ``dask.array.full_like``. Only the metadata of ``a`` is
    used: nothing of ``a`` is computed.

    Parameters
    ----------
    a : Array or array_like
        The array whose shape, dtype (and chunks, for a kaon array) to use.
    fill_value : scalar
        The value of every element.
    dtype : dtype, optional
        The element type; by default that of ``a`` (for in-memory input of a dtype kaon
        arrays do not hold, that of the fill value).
    order : str
        Ignored: kaon arrays have no memory layout until computed (C order then).
    chunks : int, tuple, dict, str or "auto", optional
        Chunks of the new array; by default those of ``a`` when it is a kaon array of
        the same shape, else ``"auto"``.
    name : str, optional
        Ignored (dask's name of the graph layer).
    shape : int or tuple of int, optional
        Overrides the shape of ``a``.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For a ``fill_value`` that is not a real number, or an unsupported dtype.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.arange(10, chunks=4)
    >>> y = ka.full_like(x, 3)
    >>> y.dtype, y.chunks
    (dtype('int64'), ((4, 4, 2),))
    """
    shape, chunks = _like_args(a, chunks, shape)
    if dtype is None:
        dtype = a.dtype if isinstance(a, Array) else np.asarray(a).dtype
        if _normalize_dtype_or_none(dtype) is None:
            dtype = None
    return full(shape, fill_value, dtype=dtype, chunks=chunks)


def ones_like(
    a: Any,
    dtype: npt.DTypeLike = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Optional[ShapeLike] = None,
) -> Array:
    """A lazy array with the shape, dtype and chunks of ``a``, filled with ones.

    Like ``numpy.ones_like`` and ``dask.array.ones_like``; see :func:`full_like`. Only
    the metadata of ``a`` is used: nothing of ``a`` is computed.

    Parameters
    ----------
    a : Array or array_like
        The array whose shape, dtype (and chunks, for a kaon array) to use.
    dtype : dtype, optional
        The element type; by default that of ``a`` (for in-memory input of a dtype kaon
        arrays do not hold, that of the fill value).
    order : str
        Ignored: kaon arrays have no memory layout until computed (C order then).
    chunks : int, tuple, dict, str or "auto", optional
        Chunks of the new array; by default those of ``a`` when it is a kaon array of
        the same shape, else ``"auto"``.
    name : str, optional
        Ignored (dask's name of the graph layer).
    shape : int or tuple of int, optional
        Overrides the shape of ``a``.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For an unsupported dtype.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.random((6, 4), chunks=(3, 2), seed=0)
    >>> y = ka.ones_like(x, dtype="float32")
    >>> y.shape, y.dtype, y.chunks
    ((6, 4), dtype('float32'), ((3, 3), (2, 2)))
    """
    return full_like(a, 1, dtype, order, chunks, name, shape)


def zeros_like(
    a: Any,
    dtype: npt.DTypeLike = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Optional[ShapeLike] = None,
) -> Array:
    """A lazy array with the shape, dtype and chunks of ``a``, filled with zeros.

    Like ``numpy.zeros_like`` and ``dask.array.zeros_like``; see :func:`full_like`. Only
    the metadata of ``a`` is used: nothing of ``a`` is computed.

    Parameters
    ----------
    a : Array or array_like
        The array whose shape, dtype (and chunks, for a kaon array) to use.
    dtype : dtype, optional
        The element type; by default that of ``a`` (for in-memory input of a dtype kaon
        arrays do not hold, that of the fill value).
    order : str
        Ignored: kaon arrays have no memory layout until computed (C order then).
    chunks : int, tuple, dict, str or "auto", optional
        Chunks of the new array; by default those of ``a`` when it is a kaon array of
        the same shape, else ``"auto"``.
    name : str, optional
        Ignored (dask's name of the graph layer).
    shape : int or tuple of int, optional
        Overrides the shape of ``a``.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For an unsupported dtype.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.random((6, 4), chunks=(3, 2), seed=0)
    >>> y = ka.zeros_like(x, dtype="float32")
    >>> y.shape, y.dtype, y.chunks
    ((6, 4), dtype('float32'), ((3, 3), (2, 2)))
    """
    return full_like(a, 0, dtype, order, chunks, name, shape)


def empty_like(
    a: Any,
    dtype: npt.DTypeLike = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Optional[ShapeLike] = None,
) -> Array:
    """A lazy array with the shape, dtype and chunks of ``a``, and unspecified values.

    Like ``numpy.empty_like`` and ``dask.array.empty_like``; see :func:`full_like`. Kaon
    fills it with zeros, which costs nothing since no chunk is stored, but code should
    not rely on that. Only the metadata of ``a`` is used: nothing of ``a`` is computed.

    Parameters
    ----------
    a : Array or array_like
        The array whose shape, dtype (and chunks, for a kaon array) to use.
    dtype : dtype, optional
        The element type; by default that of ``a`` (for in-memory input of a dtype kaon
        arrays do not hold, that of the fill value).
    order : str
        Ignored: kaon arrays have no memory layout until computed (C order then).
    chunks : int, tuple, dict, str or "auto", optional
        Chunks of the new array; by default those of ``a`` when it is a kaon array of
        the same shape, else ``"auto"``.
    name : str, optional
        Ignored (dask's name of the graph layer).
    shape : int or tuple of int, optional
        Overrides the shape of ``a``.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For an unsupported dtype.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.random((6, 4), chunks=(3, 2), seed=0)
    >>> y = ka.empty_like(x, dtype="float32")
    >>> y.shape, y.dtype, y.chunks
    ((6, 4), dtype('float32'), ((3, 3), (2, 2)))
    """
    return full_like(a, 0, dtype, order, chunks, name, shape)


def _normalize_dtype_or_none(dtype: Any) -> Any:
    """``dtype`` if kaon arrays hold it, else None."""
    try:
        return normalize_dtype(dtype)
    except TypeError:
        return None


def _iota(shape: tuple[int, ...], chunks: ChunksLike, axis: int, dtype: Any) -> Array:
    spec = normalize_chunks(chunks, shape, dtype=dtype)
    return Array(_kaon.Array.iota([list(c) for c in spec], axis))


def arange(
    *args: float, chunks: ChunksLike = "auto", dtype: npt.DTypeLike = None, **kwargs: Any
) -> Array:
    """Evenly spaced values within ``[start, stop)``.

    Like ``numpy.arange`` and ``dask.array.arange``: ``arange(stop)``,
    ``arange(start, stop)`` or ``arange(start, stop, step)``; element ``i`` is
    ``start + i * step``. Nothing is stored: each element is computed from its index
    where it is consumed. Integer ranges are exact over all of int64.

    Parameters
    ----------
    start, stop, step : int or float
        The range, given by position: ``start`` (default 0) is included, ``stop`` is
        not, ``step`` (default 1) may be negative but not 0.
    chunks : int, tuple, str or "auto"
        How to cut the array into chunks.
    dtype : dtype, optional
        By default int64 when ``start``, ``stop`` and ``step`` are integers, float64
        otherwise.
    **kwargs
        ``like=None`` is accepted, for NumPy's signature.

    Returns
    -------
    Array
        One-dimensional, of length ``ceil((stop - start) / step)`` (0 if negative).

    Raises
    ------
    TypeError
        For keyword ``start``/``stop``/``step``, or other keyword arguments.
    ValueError
        For ``step == 0``.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.arange(10, chunks=4)
    >>> x.dtype, x.chunks
    (dtype('int64'), ((4, 4, 2),))
    >>> ka.arange(1, 2, 0.25, chunks=2).compute()  # doctest: +SKIP
    array([1.  , 1.25, 1.5 , 1.75])
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
    ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    if ints:
        start, stop, step = int(start), int(stop), int(step)
        n = max(0, -((start - stop) // step))  # exact for any size
    else:
        n = max(0, int(np.ceil((stop - start) / step)))
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
    dtype: npt.DTypeLike = None,
) -> Any:
    """``num`` evenly spaced values from ``start`` to ``stop``.

    Like ``numpy.linspace`` and ``dask.array.linspace``: element ``i`` is
    ``start + i * step``, and with ``endpoint`` the last one is exactly ``stop``.
    Nothing is stored: each element is computed from its index where it is consumed.

    Parameters
    ----------
    start, stop : float
        The first value, and the last one (included with ``endpoint``).
    num : int
        Number of values (non-negative).
    endpoint : bool
        Include ``stop``: the step is ``(stop - start) / (num - 1)`` then, else
        ``(stop - start) / num``.
    retstep : bool
        Also return the step.
    chunks : int, tuple, str or "auto"
        How to cut the array into chunks.
    dtype : dtype, optional
        By default float64 (values are computed in float64, then converted).

    Returns
    -------
    Array, or (Array, float) with ``retstep``
        The values (and the step: NaN for ``num < 2`` with ``endpoint``).

    Raises
    ------
    ValueError
        For a negative ``num``.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x, step = ka.linspace(0, 1, 5, chunks=2, retstep=True)
    >>> step, x.chunks
    (0.25, ((2, 2, 1),))
    >>> x.compute()  # doctest: +SKIP
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
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
    dtype: npt.DTypeLike = float,
) -> Array:
    """A 2-D array with ones on the ``k``-th diagonal and zeros elsewhere.

    Like ``numpy.eye``, with dask.array's signature: ``eye(N, chunks, M, k, dtype)``
    (``chunks`` is the second argument). Nothing is stored: each element is computed
    from its indices where it is consumed.

    Parameters
    ----------
    N : int
        Number of rows.
    chunks : int, tuple, str or "auto"
        How to cut the array into chunks.
    M : int, optional
        Number of columns (default ``N``).
    k : int
        The diagonal: 0 the main one, positive above it, negative below.
    dtype : dtype
        The element type (default float64).

    Returns
    -------
    Array
        Of shape ``(N, M)``.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.eye(4, chunks=2, k=1)
    >>> x.shape, x.chunks
    ((4, 4), ((2, 2), (2, 2)))
    >>> x.compute()  # doctest: +SKIP
    array([[0., 1., 0., 0.],
           [0., 0., 1., 0.],
           [0., 0., 0., 1.],
           [0., 0., 0., 0.]])
    """
    M = N if M is None else M
    d = normalize_dtype(dtype) or np.dtype(np.float64)
    shape = (int(N), int(M))
    rows = _iota(shape, chunks, 0, d)
    cols = Array(_kaon.Array.iota([list(c) for c in rows.chunks], 1))
    return ((cols - rows) == int(k)).astype(d)
