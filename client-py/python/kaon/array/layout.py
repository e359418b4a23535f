"""Moving elements and the operations that are not elementwise: transposes, indexing,
rechunking, concatenation, stacking, reshapes, arrays from NumPy data, matrix
products and histograms, with ``dask.array``'s names and NumPy's results.

A chain of movements (``x[::2].T.rechunk(...)``) becomes one layer that copies each
element once; ``matmul`` multiplies blocks with a vectorized dgemm; ``histogram``
bins each chunk as it is generated, without materializing it.
"""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from kaon import _kaon
from kaon.array.chunks import ChunksLike, normalize_chunks
from kaon.array.core import DTYPES, Array, apply_ufunc

__all__ = [
    "asarray",
    "concatenate",
    "dot",
    "from_array",
    "histogram",
    "matmul",
    "moveaxis",
    "rechunk",
    "reshape",
    "stack",
    "swapaxes",
    "tensordot",
    "transpose",
]


def _check(x: Any, name: str) -> Array:
    if not isinstance(x, Array):
        raise TypeError(f"{name} expects a kaon array, not {type(x).__name__}")
    return x


def transpose(a: Array, axes: Optional[Sequence[int]] = None) -> Array:
    """Permutes the axes of ``a`` (reverses them by default), like ``numpy.transpose``.

    Parameters
    ----------
    a : Array
        The array.
    axes : sequence of int, optional
        The new order of the axes.

    Returns
    -------
    Array
        A lazy array; chunks are permuted with the axes.

    Raises
    ------
    ValueError
        If ``axes`` is not a permutation of the array's axes.
    """
    _check(a, "transpose")
    return Array(a._h.transpose(None if axes is None else [int(x) for x in axes]))


def swapaxes(a: Array, axis1: int, axis2: int) -> Array:
    """Interchanges two axes, like ``numpy.swapaxes``.

    Parameters
    ----------
    a : Array
        The array.
    axis1, axis2 : int
        The axes to swap (negative values count from the end).

    Returns
    -------
    Array
    """
    _check(a, "swapaxes")
    order = list(range(a.ndim))
    i, j = _axis(axis1, a.ndim), _axis(axis2, a.ndim)
    order[i], order[j] = order[j], order[i]
    return transpose(a, order)


def moveaxis(a: Array, source: int | Sequence[int], destination: int | Sequence[int]) -> Array:
    """Moves axes to new positions, keeping the order of the others (``numpy.moveaxis``).

    Parameters
    ----------
    a : Array
        The array.
    source, destination : int or sequence of int
        Original and new positions of the moved axes.

    Returns
    -------
    Array
    """
    _check(a, "moveaxis")
    src = [_axis(s, a.ndim) for s in np.atleast_1d(source)]
    dst = [_axis(d, a.ndim) for d in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ValueError(
            "`source` and `destination` arguments must have the same number of elements"
        )
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def _axis(axis: int, ndim: int) -> int:
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"an axis must be an integer, not {axis!r}")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(int(axis), ndim)
    return int(axis) % ndim


def getitem(a: Array, index: Any) -> Array:
    """``a[index]`` for NumPy's basic indices, and boolean masks of the same shape.

    Integers (negative count from the end) drop their axis, slices may have any step
    (including negative ones), ``None`` adds an axis of length 1, ``...`` stands for
    the axes not named. Chunks follow dask: a slice keeps the chunk boundaries it
    crosses.
    """
    if isinstance(index, Array) or (isinstance(index, np.ndarray) and index.dtype == bool):
        return _masked(a, index)
    if not isinstance(index, tuple):
        index = (index,)
    named = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if builtins.sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if named > a.ndim:
        raise IndexError(
            f"too many indices for array: array is {a.ndim}-dimensional, but {named} were indexed"
        )
    items: list[tuple[str, int, int, int]] = []
    axis = 0
    for i in index:
        if i is None:
            items.append(("newaxis", 0, 0, 0))
        elif i is Ellipsis:
            for _ in range(a.ndim - named):
                n = a.shape[axis]
                items.append(("slice", 0, 1, n))
                axis += 1
        elif isinstance(i, slice):
            n = a.shape[axis]
            r = range(*i.indices(n))
            start = r.start if len(r) else 0
            items.append(("slice", start, r.step, len(r)))
            axis += 1
        elif isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, (bool, np.bool_)):
            n = a.shape[axis]
            k = int(i)
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {n}")
            items.append(("int", k % n, 0, 0))
            axis += 1
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`) and None (`numpy.newaxis`) are "
                f"valid indices for kaon arrays, not {i!r}"
            )
    return Array(a._h.index(items))


def _masked(a: Array, mask: Any) -> Array:
    """``a[mask]`` for a boolean mask of ``a``'s shape: the kept elements in C order.

    The number of elements each chunk keeps is computed first (one pass over the
    mask; dask leaves the result's chunks unknown instead), then the selection is one
    lazy layer.
    """
    mask = asarray(mask)
    if mask.dtype != np.bool_:
        raise IndexError(
            "arrays used as indices must be boolean masks of the same shape for kaon "
            f"arrays, not {mask.dtype}"
        )
    if mask.shape != a.shape:
        raise IndexError(
            f"boolean index did not match indexed array: shapes {mask.shape} and {a.shape}"
        )
    counts = Array(a._h.mask_counts(mask._h)).compute(progress=False)
    return Array(a._h.compress(mask._h, [int(c) for c in np.ravel(counts)]))


def rechunk(x: Array, chunks: ChunksLike = "auto", **kwargs: Any) -> Array:
    """The array cut into other chunks, like ``dask.array.rechunk``.

    Each new chunk is assembled from the pieces of the old chunks it overlaps, in one
    layer of copies.

    Parameters
    ----------
    x : Array
        The array.
    chunks : int, tuple, dict or "auto"
        The new chunks, in any form ``dask.array`` accepts (``-1`` for a whole axis,
        ``{axis: size}`` to change some axes only, ``"auto"``).
    **kwargs
        ``threshold``, ``block_size_limit``, ``balance`` and ``method`` are accepted
        for dask compatibility and ignored; any other keyword raises ``TypeError``.

    Returns
    -------
    Array

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.ones((6, 4), chunks=2).rechunk({0: 3, 1: -1}).chunks
    ((3, 3), (4,))
    """
    _check(x, "rechunk")
    for k in ("threshold", "block_size_limit", "balance", "method"):
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    if isinstance(chunks, dict):
        chunks = {(_axis(k, x.ndim)): v for k, v in chunks.items()}
        chunks = tuple(chunks.get(i, x.chunks[i]) for i in range(x.ndim))
    if isinstance(chunks, (tuple, list)) and len(chunks) == x.ndim:
        # As in dask.array.rechunk, None keeps an axis' chunks (-1 makes it one).
        chunks = tuple(x.chunks[i] if c is None else c for i, c in enumerate(chunks))
    new = normalize_chunks(chunks, x.shape, dtype=x.dtype)
    if new == x.chunks:
        return x
    return Array(x._h.rechunk([list(c) for c in new]))


def reshape(x: Array, shape: Any, merge_chunks: bool = True, limit: Any = None) -> Array:
    """The array's elements in C order with another shape (one length may be -1).

    Like ``dask.array.reshape``: where the chunks do not map onto chunks of the new
    shape, the array is first rechunked so that they do (axes that merge become one
    chunk).

    Parameters
    ----------
    x : Array
        The array.
    shape : int or tuple of int
        The new shape.
    merge_chunks : bool
        Accepted for dask compatibility and ignored: Kaon always rechunks as
        described above.
    limit : int, optional
        Accepted for dask compatibility (dask's bound on the size of the merged
        chunks) and ignored.

    Returns
    -------
    Array

    Raises
    ------
    ValueError
        If the sizes differ.

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.reshape(ka.ones((4, 6), chunks=(2, 6)), (2, 12)).shape
    (2, 12)
    """
    _check(x, "reshape")
    if isinstance(shape, (numbers.Integral, np.integer)):
        shape = (shape,)
    return Array(x._h.reshape([int(s) for s in shape]))


def from_array(
    x: Any, chunks: ChunksLike = "auto", name: Any = None, asarray: Any = None, **kwargs: Any
) -> Array:
    """A kaon array from a NumPy array (or anything ``numpy.asarray`` takes).

    The values travel inside the task graph (like dask's ``from_array`` of an
    in-memory array), so this is for arrays that fit in the client's memory; build
    big arrays on the cluster instead (``random``, ``arange``, ...). Integer and bool
    data travels as int64 and stays exact.

    Parameters
    ----------
    x : array_like
        The data (float64, float32, int64, int32, uint8 or bool, or convertible).
    chunks : int, tuple, dict or "auto"
        How to cut it.
    name : str, optional
        Accepted for dask compatibility and ignored (Kaon names graph layers itself).
    asarray : bool, optional
        Accepted for dask compatibility and ignored: the data is always converted
        with ``numpy.asarray``.
    **kwargs
        dask's other arguments (``lock``, ``fancy``, ``getitem``, ``meta``,
        ``inline_array``), accepted and ignored.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For data of a dtype kaon arrays cannot hold (complex, strings, objects).
    ValueError
        For uint64 values beyond the int64 range (Kaon's widest integer type).

    Examples
    --------
    >>> import numpy as np, kaon.array as ka
    >>> x = ka.from_array(np.arange(10, dtype=np.int32), chunks=4)
    >>> x.dtype, x.chunks
    (dtype('int32'), ((4, 4, 2),))
    """
    data = np.asarray(x)
    dtype = data.dtype
    if dtype not in DTYPES:
        if dtype.kind in "iu":
            dtype = np.dtype(np.int64)
        elif dtype.kind == "f":
            dtype = np.dtype(np.float64)
        else:
            raise TypeError(f"kaon arrays cannot hold values of dtype {dtype}")
    if data.dtype.kind == "u" and data.dtype.itemsize == 8 and data.size:
        hi = int(data.max())
        if hi >= 2**63:
            raise ValueError(
                f"this {data.dtype} array of shape {data.shape} holds values up to {hi}, "
                "beyond int64 (the widest integer type kaon arrays hold)"
            )
    new = normalize_chunks(chunks, data.shape, dtype=dtype)
    # Kernels hold integers and bools as int64 and floats as float64.
    wire = "<f8" if dtype.kind == "f" else "<i8"
    raw = np.ascontiguousarray(data, dtype=wire).tobytes()
    return Array(_kaon.Array.from_bytes(raw, [list(c) for c in new], dtype.name))


def asarray(a: Any, **kwargs: Any) -> Array:
    """``a`` itself if it is a kaon array, else :func:`from_array` of it.

    Parameters
    ----------
    a : Array or array_like
        A kaon array (returned as it is) or data that :func:`from_array` takes.
    **kwargs
        Passed to :func:`from_array` (e.g. ``chunks``) when ``a`` is not a kaon array.

    Returns
    -------
    Array
    """
    if isinstance(a, Array):
        return a
    return from_array(a, **kwargs)


def concatenate(
    seq: Sequence[Array], axis: int = 0, allow_unknown_chunksizes: bool = False
) -> Array:
    """Joins arrays along an existing axis, like ``numpy.concatenate``.

    Parameters
    ----------
    seq : sequence of Array
        Arrays with the same shape except along ``axis``.
    axis : int
        The axis to join along.
    allow_unknown_chunksizes : bool
        Accepted for dask compatibility and ignored (kaon arrays always know their
        chunk sizes).

    Returns
    -------
    Array
        In the promoted dtype; along ``axis`` the chunks of the inputs in turn.

    Raises
    ------
    ValueError
        If the shapes do not match (the message names them).
    """
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    return Array(_kaon.Array.concatenate([a._h for a in arrays], int(axis)))


def stack(seq: Sequence[Array], axis: int = 0, allow_unknown_chunksizes: bool = False) -> Array:
    """Joins arrays of one shape along a new axis, like ``numpy.stack``.

    Parameters
    ----------
    seq : sequence of Array
        Arrays of the same shape.
    axis : int
        Position of the new axis in the result.
    allow_unknown_chunksizes : bool
        Accepted for dask compatibility and ignored (kaon arrays always know their
        chunk sizes).

    Returns
    -------
    Array
        The new axis has one chunk per input.
    """
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to stack")
    return Array(_kaon.Array.stack([a._h for a in arrays], int(axis)))


def matmul(a: Array, b: Array) -> Array:
    """The matrix product, like ``numpy.matmul`` for 1-D and 2-D operands.

    Each output chunk sums the dgemm products of a row of ``a``'s chunks and a column
    of ``b``'s chunks; ``b`` is rechunked along its first axis to match ``a``'s
    second where they differ.

    Parameters
    ----------
    a, b : Array
        1-D or 2-D arrays whose inner lengths agree.

    Returns
    -------
    Array

    Raises
    ------
    ValueError
        If the inner lengths differ (the message names the shapes).
    """
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    if a.ndim > 2 or b.ndim > 2:
        raise NotImplementedError(
            "matmul of arrays with more than 2 dimensions is not supported yet"
        )
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out = Array(_kaon.Array.matmul(a2._h, b2._h))
    if a.ndim == 1 and b.ndim == 1:
        return out[0, 0]
    if a.ndim == 1:
        return out[0]
    if b.ndim == 1:
        return out[:, 0]
    return out


def dot(a: Array, b: Array) -> Array:
    """Dot product, like ``numpy.dot`` for 1-D and 2-D operands (the matrix product).

    The same as :func:`matmul` for these operands.

    Parameters
    ----------
    a, b : Array
        1-D or 2-D arrays whose inner lengths agree.

    Returns
    -------
    Array
        A 0-D array for two 1-D operands.

    Raises
    ------
    ValueError
        If the inner lengths differ.
    NotImplementedError
        For operands with more than 2 dimensions.
    """
    return matmul(a, b)


def tensordot(a: Array, b: Array, axes: Any = 2) -> Array:
    """Sums products over the given axes, like ``numpy.tensordot``.

    The contracted axes are moved together and the operands reshaped to matrices,
    multiplied with :func:`matmul`, and the result reshaped back (what NumPy does).

    Parameters
    ----------
    a, b : Array
        The operands.
    axes : int or (sequence, sequence)
        The number of trailing axes of ``a`` and leading axes of ``b`` to contract, or
        the axes of each.

    Returns
    -------
    Array
    """
    a, b = asarray(a), asarray(b)
    if isinstance(axes, (numbers.Integral, np.integer)):
        n = int(axes)
        ax_a = list(range(a.ndim - n, a.ndim))
        ax_b = list(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (numbers.Integral, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (numbers.Integral, np.integer)) else list(ax_b)
    ax_a = [_axis(x, a.ndim) for x in ax_a]
    ax_b = [_axis(x, b.ndim) for x in ax_b]
    if len(ax_a) != len(ax_b) or any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(f"shape-mismatch for sum: shapes {a.shape} and {b.shape}, axes {axes}")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [j for j in range(b.ndim) if j not in ax_b]
    k = int(np.prod([a.shape[i] for i in ax_a], dtype=np.int64))
    m = int(np.prod([a.shape[i] for i in free_a], dtype=np.int64))
    n = int(np.prod([b.shape[j] for j in free_b], dtype=np.int64))
    a2 = transpose(a, free_a + ax_a).reshape((m, k))
    b2 = transpose(b, ax_b + free_b).reshape((k, n))
    out = matmul(a2, b2).reshape(
        tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    )
    # The free axes keep their operands' chunks, as in dask.
    return out.rechunk(tuple(a.chunks[i] for i in free_a) + tuple(b.chunks[j] for j in free_b))


def histogram(
    a: Array,
    bins: int = 10,
    range: Optional[tuple[float, float]] = None,  # noqa: A002
    normed: Any = None,
    weights: Optional[Array] = None,
    density: bool = False,
) -> tuple[Array, np.ndarray]:
    """A histogram of all elements with regular bins, like ``dask.array.histogram``.

    Each chunk is binned as it is generated (the values are never stored) and the
    chunks' histograms are summed by a tree reduction. Bins and edges are NumPy's:
    the last bin includes its right edge; values outside the range and NaN are not
    counted.

    Parameters
    ----------
    a : Array
        The values.
    bins : int
        Number of equal-width bins.
    range : (float, float)
        The lower and upper edges; required, as in dask (computing it would read the
        data twice).
    normed : None
        Accepted for dask compatibility (NumPy removed it); anything but None raises
        ``TypeError``: use ``density``.
    weights : Array, optional
        Weights of the same shape as ``a``.
    density : bool
        If True, the counts are normalized so that the histogram integrates to 1.

    Returns
    -------
    (Array, numpy.ndarray)
        The lazy counts (int64; the weights' sum dtype with weights) and the bin edges.

    Raises
    ------
    ValueError
        Without ``range``, with an inverted or non-finite range, or with weights of
        another shape.
    TypeError
        If ``normed`` is given.
    NotImplementedError
        If ``bins`` is not an integer (sequences of edges are not supported).

    Examples
    --------
    >>> import kaon.array as ka
    >>> counts, edges = ka.histogram(ka.arange(10, chunks=4), bins=5, range=(0, 10))
    >>> edges
    array([ 0.,  2.,  4.,  6.,  8., 10.])
    >>> counts.compute()  # doctest: +SKIP
    array([2, 2, 2, 2, 2])
    """
    a = _check(a, "histogram")
    if normed is not None:
        raise TypeError("normed is not supported; use density")
    if not isinstance(bins, (numbers.Integral, np.integer)):
        raise NotImplementedError("histogram bins must be a number of regular bins for kaon arrays")
    if range is None:
        raise ValueError(
            "histogram requires range=(lo, hi) with an integer number of bins, as "
            "dask.array.histogram does"
        )
    lo, hi = float(range[0]), float(range[1])
    w = None if weights is None else asarray(weights)
    counts = Array(a._h.histogram(int(bins), lo, hi, None if w is None else w._h))
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    # NumPy bins float32 values in float32, with float32 edges.
    edges = np.linspace(lo, hi, int(bins) + 1, dtype=np.float32 if a.dtype == np.float32 else None)
    if density:
        widths = np.diff(edges)
        total = counts.sum()
        counts = apply_ufunc("divide", apply_ufunc("divide", counts, total), from_array(widths))
    return counts, edges
