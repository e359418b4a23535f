"""Chunk specifications, as dask.array accepts them, normalized to per-axis sizes."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Union

import numpy as np

__all__ = ["Chunks", "normalize_chunks", "normalize_shape", "parse_bytes"]

#: Normalized chunks: for each axis, the sizes of its chunks (dask's ``x.chunks``).
Chunks = tuple[tuple[int, ...], ...]

ChunksLike = Union[int, str, None, tuple, list, dict]

#: Target size of one chunk for ``chunks="auto"`` (dask's ``array.chunk-size``).
AUTO_CHUNK_BYTES = 128 * 2**20

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
}


def parse_bytes(text: str | int) -> int:
    """Parses a byte count such as ``"128MiB"``, ``"1 GB"`` or ``1000``.

    Like ``dask.utils.parse_bytes``: decimal (kB, MB, GB, TB, and k, M, G, T) and binary
    (KiB, MiB, GiB, TiB) units, case-insensitive.

    Parameters
    ----------
    text : str or int
        The size; an int is returned as it is.

    Returns
    -------
    int
        Bytes.

    Raises
    ------
    ValueError
        If the text is not a number with a known unit.

    Examples
    --------
    >>> parse_bytes("128MiB"), parse_bytes("1.5 kB")
    (134217728, 1500)
    """
    if isinstance(text, numbers.Integral):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a number of bytes (such as '128MiB')")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    raise TypeError(f"{what} must be an integer, not {value!r}")


def normalize_shape(shape: Any) -> tuple[int, ...]:
    """A shape as a tuple of non-negative ints.

    Parameters
    ----------
    shape : int, sequence of int, or None
        An int is a 1-d shape; None is the 0-d shape ``()``.

    Returns
    -------
    tuple of int

    Raises
    ------
    TypeError
        For dimensions that are not integers.
    ValueError
        For a negative dimension.
    """
    if shape is None:
        return ()
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(_as_int(s, "a dimension") for s in shape)
    except TypeError as e:
        raise TypeError(f"shape must be an int or a tuple of ints, not {shape!r}") from e
    if any(d < 0 for d in dims):
        raise ValueError(f"negative dimensions are not allowed: shape {dims}")
    return dims


def _blocks(dim: int, size: int) -> tuple[int, ...]:
    if dim == 0:
        return (0,)
    size = min(size, dim)
    full, rest = divmod(dim, size)
    return (size,) * full + ((rest,) if rest else ())


def _auto(shape: tuple[int, ...], fixed: list[int | None], limit: int, itemsize: int) -> list[int]:
    """Chunk sizes for the axes where ``fixed`` is None: about ``limit`` bytes per
    chunk, split as evenly as the axes allow."""
    sizes = list(fixed)
    auto = [i for i, s in enumerate(sizes) if s is None]
    known = math.prod(max(1, s) for s in sizes if s is not None)
    budget = max(1.0, limit / itemsize / known)
    while auto:
        side = budget ** (1.0 / len(auto))
        small = [i for i in auto if shape[i] <= side]
        if not small:
            break
        for i in small:
            sizes[i] = max(1, shape[i])
            budget = max(1.0, budget / max(1, shape[i]))
            auto.remove(i)
    if auto:
        side = max(1, int(budget ** (1.0 / len(auto))))
        for i in auto:
            nblocks = math.ceil(shape[i] / side)
            sizes[i] = max(1, math.ceil(shape[i] / nblocks))
    return [int(s) for s in sizes]  # type: ignore[arg-type]


def normalize_chunks(
    chunks: ChunksLike,
    shape: Any,
    limit: int | str | None = None,
    dtype: Any = np.float64,
) -> Chunks:
    """Normalizes a chunk specification to a tuple of per-axis chunk sizes.

    Like ``dask.array.core.normalize_chunks``, and what ``x.chunks`` shows. Accepts
    every form dask.array accepts: an int (the same block size on every
    axis), a tuple of block sizes (one per axis; ``-1`` or ``None`` for the whole
    axis, ``"auto"`` for an automatic size), explicit chunk sizes per axis (a tuple of
    tuples), a dict from axis to any of these, ``"auto"``, or a byte size such as
    ``"64MiB"`` for automatic chunks of about that size.

    Parameters
    ----------
    chunks : int, str, tuple, list or dict
        The specification (None is an error, as in dask without a previous chunking).
    shape : tuple of int
        The array's shape.
    limit : int or str, optional
        Bytes per chunk for automatic sizes (default 128 MiB).
    dtype : dtype
        The array's dtype, for automatic sizes.

    Returns
    -------
    tuple of tuple of int

    Raises
    ------
    ValueError
        If the chunks do not fit the shape.
    TypeError
        For a specification of another type.

    Examples
    --------
    >>> from kaon.array import normalize_chunks
    >>> normalize_chunks(2, (5, 3))
    ((2, 2, 1), (2, 1))
    >>> normalize_chunks(((3, 2), -1), (5, 3))
    ((3, 2), (3,))
    >>> normalize_chunks({0: 2}, (5, 3))
    ((2, 2, 1), (3,))
    >>> auto = normalize_chunks("auto", (10_000, 10_000), limit="8MiB")  # float64
    >>> auto[0][0], len(auto[0])  # 1000 x 1000 x 8 bytes: about 8 MiB a chunk
    (1000, 10)
    """
    shape = normalize_shape(shape)
    ndim = len(shape)
    limit = AUTO_CHUNK_BYTES if limit is None else parse_bytes(limit)
    itemsize = np.dtype(dtype).itemsize
    if chunks is None:
        raise ValueError("chunks must be given (an int, a tuple, 'auto', ...), not None")
    if isinstance(chunks, str):
        if chunks != "auto":
            limit = parse_bytes(chunks)
        chunks = ("auto",) * ndim
    elif isinstance(chunks, dict):
        for k in chunks:
            if not isinstance(k, numbers.Integral) or not -ndim <= k < ndim:
                raise ValueError(f"chunks has axis {k!r}, but the shape {shape} has {ndim} axes")
        chunks = tuple(chunks.get(i, chunks.get(i - ndim, -1)) for i in range(ndim))
    elif isinstance(chunks, (numbers.Integral, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks),) * ndim
    elif isinstance(chunks, np.ndarray):
        chunks = tuple(chunks.tolist())
    if not isinstance(chunks, (tuple, list)):
        raise TypeError(f"chunks must be an int, a tuple, a dict or 'auto', not {chunks!r}")
    chunks = tuple(chunks)
    if len(chunks) != ndim:
        raise ValueError(
            f"chunks {chunks!r} have {len(chunks)} entries, but the shape {shape} has {ndim} axes"
        )
    fixed: list[int | None] = []
    explicit: dict[int, tuple[int, ...]] = {}
    for i, (c, dim) in enumerate(zip(chunks, shape)):
        if isinstance(c, (tuple, list, np.ndarray)):
            sizes = tuple(_as_int(s, f"a chunk size on axis {i}") for s in c)
            if sum(sizes) != dim or any(s < 0 for s in sizes):
                raise ValueError(
                    f"chunks do not add up to the shape: axis {i} has chunks {sizes} "
                    f"for length {dim} (shape {shape})"
                )
            if dim and 0 in sizes:
                raise ValueError(f"axis {i} has an empty chunk: {sizes}")
            if not sizes:
                raise ValueError(f"axis {i} has no chunks")
            explicit[i] = sizes if dim else (0,)
            fixed.append(max(sizes))
        elif c is None or (isinstance(c, numbers.Integral) and not isinstance(c, bool) and c == -1):
            fixed.append(dim)
        elif isinstance(c, str):
            if c != "auto":
                raise ValueError(f"chunks on axis {i} must be an int or 'auto', not {c!r}")
            fixed.append(None)
        else:
            size = _as_int(c, f"the chunk size on axis {i}")
            if size <= 0:
                raise ValueError(f"chunk size {size} on axis {i} must be positive (or -1)")
            fixed.append(size)
    sizes = _auto(shape, fixed, limit, itemsize) if None in fixed else fixed
    return tuple(
        explicit[i] if i in explicit else _blocks(dim, int(sizes[i]))  # type: ignore[arg-type]
        for i, dim in enumerate(shape)
    )
