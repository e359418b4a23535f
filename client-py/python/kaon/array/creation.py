"""Arrays filled with one value: ``ones``, ``zeros``, ``empty``, ``full`` and their
``*_like`` forms, with dask.array's signatures."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from kaon import _kaon
from kaon.array.chunks import ChunksLike, normalize_chunks, normalize_shape
from kaon.array.core import Array, as_scalar, check_dtype

__all__ = ["empty", "empty_like", "full", "full_like", "ones", "ones_like", "zeros", "zeros_like"]


def _filled(shape: Any, value: float, dtype: Any, chunks: ChunksLike) -> Array:
    check_dtype(dtype)
    shape = normalize_shape(shape)
    return Array(_kaon.Array.full([list(c) for c in normalize_chunks(chunks, shape)], value))


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
        float64 (the one dtype kaon arrays have for now).
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
    value = as_scalar(fill_value)
    if value is None:
        raise TypeError(f"fill_value must be a real scalar, not {fill_value!r}")
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
        float64 only (for now).
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
    return full(shape, fill_value, dtype=dtype, chunks=chunks)


def ones_like(
    a: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """Ones with the shape and chunks of ``a``; see :func:`full_like`."""
    return full_like(a, 1.0, dtype, order, chunks, name, shape)


def zeros_like(
    a: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """Zeros with the shape and chunks of ``a``; see :func:`full_like`."""
    return full_like(a, 0.0, dtype, order, chunks, name, shape)


def empty_like(
    a: Any,
    dtype: Any = None,
    order: str = "C",
    chunks: Optional[ChunksLike] = None,
    name: Optional[str] = None,
    shape: Any = None,
) -> Array:
    """An array with the shape and chunks of ``a`` and unspecified values (zeros)."""
    return full_like(a, 0.0, dtype, order, chunks, name, shape)
