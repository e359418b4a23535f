"""The lazy, chunked :class:`Array` and the operations every other module builds on."""

from __future__ import annotations

import html
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from kaon import _kaon
from kaon.array.chunks import Chunks, ChunksLike, normalize_chunks

if TYPE_CHECKING:
    from kaon.client import Future

__all__ = ["Array", "apply_ufunc", "reduce"]

FLOAT64 = np.dtype(np.float64)

#: The dtypes kaon arrays hold.
DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(d) for d in ("float64", "float32", "int64", "int32", "uint8", "bool")
)

#: NumPy ufunc names Kaon computes, with their number of operands (the table lives
#: in the extension, next to the kernels' ops and NumPy's dtype rules).
UFUNCS: dict[str, int] = dict(_kaon.ufuncs())
#: Reductions Kaon computes.
REDUCTIONS: tuple[str, ...] = tuple(_kaon.reductions())

Scalar = Union[int, float, np.number]
AxisLike = Union[None, int, Sequence[int]]


def normalize_dtype(dtype: Any) -> Optional[np.dtype]:
    """``dtype`` as one of :data:`DTYPES` (None stays None).

    Raises
    ------
    TypeError
        For something that is not a dtype, or a dtype kaon arrays do not hold.
    """
    if dtype is None:
        return None
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{dtype!r} is not a dtype") from e
    if d not in DTYPES:
        raise TypeError(
            f"kaon arrays hold float64, float32, int64, int32, uint8 or bool values, not {d}"
        )
    return d


def check_dtype(dtype: Any) -> None:
    """Raises TypeError unless ``dtype`` is None or a dtype kaon arrays hold."""
    normalize_dtype(dtype)


#: Integers up to this magnitude are exact in float64 (random integers are drawn from
#: float64 uniforms, so their ranges stay within it).
EXACT_INT = 2**53


def inexact_int_error(what: str) -> ValueError:
    """The error for integer ranges beyond :data:`EXACT_INT` where values are made from
    float64s: ``what`` says which."""
    return ValueError(f"integers are drawn from float64 uniforms, exact up to 2**53; {what}")


def scalar_operand(value: Any) -> Optional[tuple[int | float, str]]:
    """``value`` as a ufunc operand ``(value, kind)`` if it is a real scalar (or a 0-d
    array), else None. Python's bool, int and float are weak (NEP 50: kind ``"bool"``,
    ``"int"``, ``"float"``); NumPy scalars and 0-d arrays carry their dtype. Integers
    and bools are passed as Python ints (exact), floats as floats.

    Raises
    ------
    TypeError
        For complex numbers, or NumPy scalars of dtypes kaon arrays do not hold.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        if isinstance(value, np.ndarray) and value.ndim != 0:
            return None
        d = np.asarray(value).dtype
        if d.kind == "c":
            raise TypeError(f"kaon arrays hold no complex values, not {value!r}")
        if d.kind not in "biuf":
            return None
        if d not in DTYPES:
            # Other NumPy numbers (int16, float16, ...) count as the nearest kind.
            d = {"b": np.dtype(bool), "i": np.dtype(np.int64), "u": np.dtype(np.int64)}.get(
                d.kind, FLOAT64
            )
        return (int(value) if d.kind in "biu" else float(value)), d.name
    if isinstance(value, bool):
        return int(value), "bool"
    if isinstance(value, numbers.Integral):
        return int(value), "int"
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise TypeError(f"kaon arrays hold no complex values, not the complex {value!r}")
    if isinstance(value, numbers.Real):
        return float(value), "float"
    return None


def as_scalar(value: Any) -> float | None:
    """``value`` as a float if it is a real scalar (or a 0-d array), else None.

    Raises
    ------
    TypeError
        For complex numbers, which kaon arrays cannot hold.
    """
    op = scalar_operand(value)
    return None if op is None else op[0]


class Array:
    """A lazy, chunked, n-dimensional array, like ``dask.array.Array``.

    Arrays hold float64, float32, int64, int32, uint8 or bool values, with NumPy 2's
    promotion rules (NEP 50: Python scalars are weak, ``int32_array + 1`` stays int32).

    Build arrays with :func:`kaon.array.random.random`, :func:`kaon.array.ones`,
    :func:`kaon.array.full` and friends, combine them with NumPy ufuncs (``np.sin(x)``
    and ``ka.sin(x)`` both stay lazy), operators and reductions, then call
    :meth:`compute` to run the fused graph on the cluster and get a NumPy array.

    Elementwise chains and the per-chunk step of a reduction run as one fused
    program per chunk, so no intermediate array is stored.

    Parameters
    ----------
    handle : _kaon.Array
        The graph of the array in the Rust extension (internal: arrays are made by
        the functions of :mod:`kaon.array`, not by calling ``Array`` directly).
    future : Future, optional
        The computation holding the array's values on the cluster, for an array
        returned by :meth:`kaon.Client.persist` (internal).

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.ones((1000, 1000), chunks=500)
    >>> y = (x + 1).sum(axis=0)
    >>> y.shape, y.dtype, y.chunks
    ((1000,), dtype('float64'), ((500, 500),))
    >>> y.compute()[:3]  # doctest: +SKIP
    array([2000., 2000., 2000.])
    """

    __slots__ = ("__weakref__", "_chunks", "_dtype", "_future", "_h")
    __array_priority__ = 11
    # Elementwise ``==`` makes arrays unhashable by default; they hash by identity.
    __hash__ = object.__hash__

    def __init__(self, handle: _kaon.Array, future: Optional[Future] = None) -> None:
        self._h = handle
        self._future = future
        self._chunks: Optional[Chunks] = None
        self._dtype: Optional[np.dtype] = None

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's dimensions."""
        return tuple(self._h.shape)

    @property
    def dtype(self) -> np.dtype:
        """The element type (a NumPy dtype)."""
        if self._dtype is None:
            self._dtype = np.dtype(self._h.dtype)
        return self._dtype

    @property
    def chunks(self) -> Chunks:
        """Chunk sizes along each axis, e.g. ``((2, 2, 1), (3,))``."""
        if self._chunks is None:
            self._chunks = tuple(tuple(c) for c in self._h.chunks)
        return self._chunks

    @property
    def chunksize(self) -> tuple[int, ...]:
        """The largest chunk along each axis."""
        return tuple(max(c) for c in self.chunks)

    @property
    def numblocks(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(len(c) for c in self.chunks)

    @property
    def npartitions(self) -> int:
        """Total number of chunks."""
        return math.prod(self.numblocks)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the whole array once computed."""
        return self.size * self.itemsize

    @property
    def name(self) -> str:
        """Name of the graph layer that produces the array, e.g. ``'random_sample-sin-sum'``."""
        return self._h.graph_summary()[1][-1]

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"kaon.array<{self.name}, shape={self.shape}, dtype={self.dtype}, "
            f"chunksize={self.chunksize}, chunktype=numpy.ndarray>"
        )

    def _repr_html_(self) -> str:
        tasks, layers = self._h.graph_summary()
        chunk_bytes = math.prod(self.chunksize) * self.itemsize
        rows = [
            ("Bytes", _human_bytes(self.nbytes), _human_bytes(chunk_bytes)),
            ("Shape", str(self.shape), str(self.chunksize)),
            ("Graph", f"{self.npartitions} chunks in {len(layers)} graph layers", ""),
            ("Tasks", f"{tasks} tasks", ""),
            ("Data type", f"{self.dtype} numpy.ndarray", ""),
        ]
        body = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(a)}</td><td>{html.escape(c)}</td></tr>"
            for k, a, c in rows
        )
        status = ""
        if self._future is not None:
            status = f"<p>persisted: {html.escape(self._future.status)}</p>"
        return (
            "<div class='kaon-array'><table><thead><tr><td></td><th>Array</th><th>Chunk</th>"
            f"</tr></thead><tbody>{body}</tbody></table>"
            f"<p>chunks: {html.escape(_short(self.chunks))}</p>{status}</div>"
        )

    # ------------------------------------------------------------------ computing
    def compute(self, *, progress: Optional[bool] = None, **kwargs: Any) -> np.ndarray:
        """Computes the array on the cluster and returns it as a NumPy array.

        Parameters
        ----------
        progress : bool, optional
            Show a progress bar (tqdm in a terminal, a widget in a notebook). By
            default it shows in notebooks and terminals, after half a second.
        **kwargs
            Accepted for compatibility with dask (``scheduler=`` is ignored: the
            current :class:`kaon.Client` runs everything).

        Returns
        -------
        numpy.ndarray
        """
        from kaon.client import compute_arrays

        _ignore_dask_kwargs(kwargs)
        return compute_arrays([self], progress=progress)[0]

    def persist(self, **kwargs: Any) -> Array:
        """Starts computing the array on the cluster and returns at once an array
        backed by the running computation, like ``dask.array.Array.persist``.

        The workers keep the result: expressions built on the returned array read
        its chunks there instead of computing them again, and ``compute()`` of it
        fetches the result (then kept in this process too). See
        :meth:`kaon.Client.persist`.
        """
        from kaon.client import get_client

        _ignore_dask_kwargs(kwargs)
        return get_client().persist(self)

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        x = np.asarray(self.compute())
        if dtype is not None:
            x = x.astype(dtype, copy=False)
        return x

    def __float__(self) -> float:
        return float(self.compute())

    def __int__(self) -> int:
        return int(self.compute())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError("the truth value of an array with more than one element is ambiguous")
        return bool(self.compute())

    def rechunk(self, chunks: ChunksLike = "auto", **kwargs: Any) -> Array:
        """The array cut into other chunks; see :func:`kaon.array.rechunk`.

        ``x.rechunk(chunks)`` is ``kaon.array.rechunk(x, chunks)``: ``chunks`` in any
        form ``dask.array`` accepts; dask's ``threshold``, ``block_size_limit``,
        ``balance`` and ``method`` keywords are accepted and ignored.
        """
        from kaon.array.layout import rechunk

        return rechunk(self, chunks, **kwargs)

    @property
    def T(self) -> Array:  # noqa: N802
        """The array with its axes reversed (``transpose()``)."""
        return self.transpose()

    def transpose(self, *axes: Any) -> Array:
        """The axes permuted (reversed by default); see :func:`kaon.array.transpose`."""
        from kaon.array.layout import transpose

        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return transpose(self, axes or None)

    def swapaxes(self, axis1: int, axis2: int) -> Array:
        """Two axes interchanged; see :func:`kaon.array.swapaxes`."""
        from kaon.array.layout import swapaxes

        return swapaxes(self, axis1, axis2)

    def reshape(self, *shape: Any, merge_chunks: bool = True, limit: Any = None) -> Array:
        """The elements in C order with another shape; see :func:`kaon.array.reshape`."""
        from kaon.array.layout import reshape

        if len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, np.integer)):
            shape = shape[0]
        return reshape(self, shape)

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False, **kwargs: Any) -> Array:
        """Index of the largest element; see :func:`kaon.array.argmax`."""
        from kaon.array.routines import argmax

        return argmax(self, axis, keepdims)

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False, **kwargs: Any) -> Array:
        """Index of the smallest element; see :func:`kaon.array.argmin`."""
        from kaon.array.routines import argmin

        return argmin(self, axis, keepdims)

    def cumsum(self, axis: Optional[int] = None, dtype: Any = None, out: None = None) -> Array:
        """Cumulative sum along ``axis``; see :func:`kaon.array.cumsum`."""
        from kaon.array.routines import cumsum

        return cumsum(self, axis, dtype)

    def cumprod(self, axis: Optional[int] = None, dtype: Any = None, out: None = None) -> Array:
        """Cumulative product along ``axis``; see :func:`kaon.array.cumprod`."""
        from kaon.array.routines import cumprod

        return cumprod(self, axis, dtype)

    def dot(self, other: Any) -> Array:
        """The matrix product with ``other``; see :func:`kaon.array.dot`."""
        from kaon.array.layout import dot

        return dot(self, other)

    def __matmul__(self, other: Any) -> Array:
        from kaon.array.layout import matmul

        if not isinstance(other, (Array, np.ndarray)):
            return NotImplemented
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Array:
        from kaon.array.layout import matmul

        if not isinstance(other, np.ndarray):
            return NotImplemented
        return matmul(other, self)

    def astype(self, dtype: Any, **kwargs: Any) -> Array:
        """The array converted to ``dtype``, as ``numpy.ndarray.astype``: floats to
        integers truncate toward zero, anything to bool is ``!= 0``.

        Parameters
        ----------
        dtype : dtype
            float64, float32, int64, int32, uint8 or bool.
        **kwargs
            ``casting=``, ``copy=`` and ``order=`` are accepted and ignored.

        Returns
        -------
        Array
        """
        d = normalize_dtype(dtype)
        for k in ("casting", "copy", "order", "subok"):
            kwargs.pop(k, None)
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        if d == self.dtype:
            return self
        return Array(self._h.astype(d.name))

    def copy(self) -> Array:
        """Returns the array (kaon arrays are immutable)."""
        return self

    def __getitem__(self, index: Any) -> Array:
        """``x[index]`` with NumPy's basic indices; see :func:`kaon.array.layout.getitem`."""
        from kaon.array.layout import getitem

        return getitem(self, index)

    # ------------------------------------------------------------------ reductions
    def sum(
        self,
        axis: AxisLike = None,
        dtype: Any = None,
        keepdims: bool = False,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Sum over ``axis``; see :func:`kaon.array.sum`."""
        return reduce("sum", self, axis, dtype, keepdims, split_every, out)

    def prod(
        self,
        axis: AxisLike = None,
        dtype: Any = None,
        keepdims: bool = False,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Product over ``axis``; see :func:`kaon.array.prod`."""
        return reduce("prod", self, axis, dtype, keepdims, split_every, out)

    def min(
        self,
        axis: AxisLike = None,
        keepdims: bool = False,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Minimum over ``axis``; see :func:`kaon.array.min`."""
        return reduce("min", self, axis, None, keepdims, split_every, out)

    def max(
        self,
        axis: AxisLike = None,
        keepdims: bool = False,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Maximum over ``axis``; see :func:`kaon.array.max`."""
        return reduce("max", self, axis, None, keepdims, split_every, out)

    def mean(
        self,
        axis: AxisLike = None,
        dtype: Any = None,
        keepdims: bool = False,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Arithmetic mean over ``axis``; see :func:`kaon.array.mean`."""
        return mean(self, axis, dtype, keepdims, split_every, out)

    def var(
        self,
        axis: AxisLike = None,
        dtype: Any = None,
        keepdims: bool = False,
        ddof: float = 0,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Variance over ``axis``; see :func:`kaon.array.var`."""
        return var(self, axis, dtype, keepdims, ddof, split_every, out)

    def std(
        self,
        axis: AxisLike = None,
        dtype: Any = None,
        keepdims: bool = False,
        ddof: float = 0,
        split_every: Optional[int] = None,
        out: None = None,
    ) -> Array:
        """Standard deviation over ``axis``; see :func:`kaon.array.std`."""
        return std(self, axis, dtype, keepdims, ddof, split_every, out)

    def any(
        self, axis: AxisLike = None, keepdims: bool = False, split_every: Optional[int] = None
    ) -> Array:
        """Whether any element is true; see :func:`kaon.array.any`."""
        return any_(self, axis, keepdims, split_every)

    def all(
        self, axis: AxisLike = None, keepdims: bool = False, split_every: Optional[int] = None
    ) -> Array:
        """Whether all elements are true; see :func:`kaon.array.all`."""
        return all_(self, axis, keepdims, split_every)

    def clip(self, min: Any = None, max: Any = None) -> Array:  # noqa: A002
        """Values limited to ``[min, max]``; see :func:`kaon.array.clip`."""
        from kaon.array.ufuncs import clip

        return clip(self, min, max)

    def round(self, decimals: int = 0) -> Array:
        """Values rounded to ``decimals`` decimals; see :func:`kaon.array.round`."""
        from kaon.array.ufuncs import round as round_

        return round_(self, decimals)

    # ------------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Array:
        return _binary_op("add", self, other)

    def __radd__(self, other: Any) -> Array:
        return _binary_op("add", other, self)

    def __sub__(self, other: Any) -> Array:
        return _binary_op("subtract", self, other)

    def __rsub__(self, other: Any) -> Array:
        return _binary_op("subtract", other, self)

    def __mul__(self, other: Any) -> Array:
        return _binary_op("multiply", self, other)

    def __rmul__(self, other: Any) -> Array:
        return _binary_op("multiply", other, self)

    def __truediv__(self, other: Any) -> Array:
        return _binary_op("divide", self, other)

    def __rtruediv__(self, other: Any) -> Array:
        return _binary_op("divide", other, self)

    def __pow__(self, other: Any, modulo: Any = None) -> Array:
        if modulo is not None:
            return NotImplemented
        return _binary_op("power", self, other)

    def __rpow__(self, other: Any) -> Array:
        return _binary_op("power", other, self)

    def __floordiv__(self, other: Any) -> Array:
        return _binary_op("floor_divide", self, other)

    def __rfloordiv__(self, other: Any) -> Array:
        return _binary_op("floor_divide", other, self)

    def __mod__(self, other: Any) -> Array:
        return _binary_op("remainder", self, other)

    def __rmod__(self, other: Any) -> Array:
        return _binary_op("remainder", other, self)

    def __lt__(self, other: Any) -> Array:
        return _binary_op("less", self, other)

    def __le__(self, other: Any) -> Array:
        return _binary_op("less_equal", self, other)

    def __gt__(self, other: Any) -> Array:
        return _binary_op("greater", self, other)

    def __ge__(self, other: Any) -> Array:
        return _binary_op("greater_equal", self, other)

    def __eq__(self, other: Any) -> Array:  # type: ignore[override]
        return _binary_op("equal", self, other)

    def __ne__(self, other: Any) -> Array:  # type: ignore[override]
        return _binary_op("not_equal", self, other)

    def __and__(self, other: Any) -> Array:
        return _binary_op("bitwise_and", self, other)

    def __rand__(self, other: Any) -> Array:
        return _binary_op("bitwise_and", other, self)

    def __or__(self, other: Any) -> Array:
        return _binary_op("bitwise_or", self, other)

    def __ror__(self, other: Any) -> Array:
        return _binary_op("bitwise_or", other, self)

    def __xor__(self, other: Any) -> Array:
        return _binary_op("bitwise_xor", self, other)

    def __rxor__(self, other: Any) -> Array:
        return _binary_op("bitwise_xor", other, self)

    def __lshift__(self, other: Any) -> Array:
        return _binary_op("left_shift", self, other)

    def __rlshift__(self, other: Any) -> Array:
        return _binary_op("left_shift", other, self)

    def __rshift__(self, other: Any) -> Array:
        return _binary_op("right_shift", self, other)

    def __rrshift__(self, other: Any) -> Array:
        return _binary_op("right_shift", other, self)

    def __invert__(self) -> Array:
        return apply_ufunc("invert", self)

    def __neg__(self) -> Array:
        return apply_ufunc("negative", self)

    def __pos__(self) -> Array:
        return apply_ufunc("positive", self)

    def __abs__(self) -> Array:
        return apply_ufunc("absolute", self)

    # ------------------------------------------------------------------ NumPy protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        name = ufunc.__name__
        if kwargs.get("out") is not None:
            raise TypeError("kaon arrays are immutable: out= is not supported")
        dtype = normalize_dtype(kwargs.pop("dtype", None))
        kwargs.pop("out", None)
        name = _UFUNC_ALIASES.get(name, name)
        if method == "__call__" and name == "matmul" and not kwargs:
            r = _layout("matmul")(*inputs)
            return r if dtype is None else r.astype(dtype)
        if method == "__call__" and name in UFUNCS and not kwargs:
            r = apply_ufunc(name, *inputs)
            return r if dtype is None else r.astype(dtype)
        if method == "reduce" and name in _UFUNC_REDUCTIONS and len(inputs) == 1:
            return reduce(
                _UFUNC_REDUCTIONS[name],
                inputs[0],
                kwargs.get("axis", 0),
                None,
                kwargs.get("keepdims", False),
                None,
                None,
            )
        return NotImplemented

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        if not all(issubclass(t, (Array, np.ndarray)) for t in types):
            return NotImplemented
        impl = _ARRAY_FUNCTIONS.get(func)
        if impl is not None:
            return impl(*args, **kwargs)
        # Like dask: NumPy functions kaon does not have run on the computed arrays.
        warnings.warn(
            f"numpy.{func.__name__} is not implemented by kaon arrays: the arrays are "
            "computed and NumPy runs on the results",
            ComputedFallbackWarning,
            stacklevel=2,
        )
        return func(*_computed(args), **_computed(kwargs))


class ComputedFallbackWarning(UserWarning):
    """A NumPy function that kaon does not implement ran on computed arrays."""


def _computed(x: Any) -> Any:
    """``x`` with every kaon array in it (in lists, tuples, dicts) computed, as one graph."""
    found: list[Array] = []

    def collect(v: Any) -> None:
        if isinstance(v, Array):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            for i in v:
                collect(i)
        elif isinstance(v, dict):
            for i in v.values():
                collect(i)

    collect(x)
    if not found:
        return x
    from kaon.client import compute_arrays

    results = dict(zip(map(id, found), compute_arrays(found)))

    def replace(v: Any) -> Any:
        if isinstance(v, Array):
            return results[id(v)]
        if isinstance(v, (list, tuple)):
            return type(v)(replace(i) for i in v)
        if isinstance(v, dict):
            return {k: replace(i) for k, i in v.items()}
        return v

    return replace(x)


def _ignore_dask_kwargs(kwargs: dict) -> None:
    for k in ("scheduler", "optimize_graph", "traverse", "get"):
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")


def _human_bytes(n: float) -> str:
    for unit in ("B", "kiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def _short(chunks: Chunks) -> str:
    parts = []
    for c in chunks:
        parts.append(str(c) if len(c) <= 6 else f"({c[0]}, {c[1]}, ..., {c[-1]}) [{len(c)}]")
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


# ---------------------------------------------------------------------- elementwise
def _operand_error(name: str, value: Any) -> TypeError:
    if isinstance(value, np.ndarray):
        return TypeError(
            f"{name}: kaon arrays combine with scalars and other kaon arrays, not with an "
            f"in-memory NumPy array (shape {value.shape})"
        )
    return TypeError(f"{name}: unsupported operand type {type(value).__name__}")


def _binary_op(name: str, a: Any, b: Any) -> Any:
    """An operator: NotImplemented for operand types it does not know, so Python (or
    NumPy's __array_ufunc__ protocol) can try the other operand."""
    for v in (a, b):
        if not isinstance(v, (Array, np.ndarray)) and scalar_operand(v) is None:
            return NotImplemented
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and a.ndim == 0) and not (
            isinstance(b, np.ndarray) and b.ndim == 0
        ):
            return NotImplemented
    return apply_ufunc(name, a, b)


#: NumPy's other names of the same ufuncs.
_UFUNC_ALIASES = {"true_divide": "divide", "mod": "remainder", "abs": "absolute"}


def apply_ufunc(name: str, *args: Any) -> Any:
    """Applies NumPy ufunc ``name`` (or ``where``) lazily to kaon arrays and scalars,
    with NumPy's dtype rules.

    With no kaon array among ``args``, NumPy computes it at once.

    Raises
    ------
    ValueError
        If array operands' shapes do not broadcast together (NumPy's rules), or their
        chunks differ along an axis where both have a length other than 1.
    TypeError
        For operands that are neither kaon arrays nor real scalars, or dtypes the
        ufunc does not support (as NumPy).
    OverflowError
        For a Python int that the operation's integer dtype cannot hold.
    """
    name = _UFUNC_ALIASES.get(name, name)
    nin = 3 if name == "where" else UFUNCS[name]
    if len(args) != nin:
        raise TypeError(f"{name} takes {nin} operand(s), got {len(args)}")
    if not any(isinstance(a, Array) for a in args):
        return getattr(np, name)(*args)
    operands: list[Any] = []
    for a in args:
        if isinstance(a, Array):
            operands.append(a._h)
            continue
        op = scalar_operand(a)
        if op is None:
            raise _operand_error(name, a)
        operands.append(op)
    return Array(_kaon.Array.ufunc(name, operands))


# ---------------------------------------------------------------------- reductions
def normalize_axis(axis: AxisLike, ndim: int) -> tuple[int, ...]:
    """Axes as sorted non-negative ints (None: all), as NumPy checks them.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of bounds (a ValueError and an IndexError).
    ValueError
        For a repeated axis.
    TypeError
        For an axis that is not an int.
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (numbers.Integral, np.integer)):
            raise TypeError(f"axis must be an int or a tuple of ints, not {axis!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis!r}")
    return tuple(sorted(out))


_NP_REDUCTION_NAMES = {"sum": "add", "prod": "multiply", "min": "minimum", "max": "maximum"}
_UFUNC_REDUCTIONS = {v: k for k, v in _NP_REDUCTION_NAMES.items()}


def _split_every(split_every: Any) -> Optional[int]:
    if isinstance(split_every, dict):
        split_every = max(split_every.values()) if split_every else None
    if split_every is not None:
        split_every = int(split_every)
        if split_every < 2:
            raise ValueError(f"split_every must be at least 2, not {split_every}")
    return split_every


def reduce(
    name: str,
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    """Reduction ``name`` (one of :data:`REDUCTIONS`) of ``a`` over ``axis`` by a
    tree of ``split_every``-way combine steps. NumPy computes it for in-memory input.

    ``dtype`` converts the values before reducing (NumPy's accumulator dtype); by
    default sums and products of bool and small integers are int64, as in NumPy.
    """
    if out is not None:
        raise TypeError("kaon arrays are immutable: out= is not supported")
    d = normalize_dtype(dtype)
    if not isinstance(a, Array):
        return getattr(np, name)(a, axis=axis, keepdims=keepdims)
    axes = normalize_axis(axis, a.ndim)
    if d is not None:
        a = a.astype(d)
    if not axes:
        small_int = a.dtype.kind in "bu" or a.dtype == np.int32
        return a.astype(np.int64) if name in ("sum", "prod") and small_int else a
    if name in ("min", "max"):
        reduced = [a.shape[i] for i in axes]
        kept = [a.shape[i] for i in range(a.ndim) if i not in axes]
        if 0 in reduced and 0 not in kept:
            raise ValueError(
                f"zero-size array to reduction operation {_NP_REDUCTION_NAMES[name]} "
                "which has no identity"
            )
    return Array(a._h.reduce(name, list(axes), _split_every(split_every), bool(keepdims)))


def _count(a: Array, axes: tuple[int, ...]) -> int:
    return math.prod(a.shape[i] for i in axes)


def mean(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    """Arithmetic mean over ``axis``: the sum divided by the number of elements
    (float64, or float32 for float32 input, as NumPy)."""
    if not isinstance(a, Array):
        return np.mean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    axes = normalize_axis(axis, a.ndim)
    d = normalize_dtype(dtype)
    if d is None:
        d = a.dtype if a.dtype == np.float32 else FLOAT64
    s = reduce("sum", a.astype(d), axes, None, keepdims, split_every, out)
    return apply_ufunc("divide", s, float(_count(a, axes)))


def var(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    ddof: float = 0,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    """Variance over ``axis`` by NumPy's two-pass algorithm: the mean first (a tree
    reduction), then the sum of squared deviations from it, divided by ``n - ddof``.
    The second pass recomputes the input's fused program and reads the mean broadcast
    over its chunks, so nothing of the input's size is stored."""
    if out is not None:
        raise TypeError("kaon arrays are immutable: out= is not supported")
    if not isinstance(a, Array):
        return np.var(a, axis=axis, dtype=dtype, keepdims=keepdims, ddof=ddof)
    axes = normalize_axis(axis, a.ndim)
    d = normalize_dtype(dtype)
    if d is None:
        d = a.dtype if a.dtype == np.float32 else FLOAT64
    x = a.astype(d)
    m = mean(x, axes, None, True, split_every)
    dev = apply_ufunc("subtract", x, m)
    ss = reduce("sum", apply_ufunc("multiply", dev, dev), axes, None, keepdims, split_every)
    n = _count(a, axes) - ddof
    return apply_ufunc("divide", ss, float(max(n, 0)))


def std(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    ddof: float = 0,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    """Standard deviation over ``axis``: the square root of :func:`var`."""
    if not isinstance(a, Array):
        return np.std(a, axis=axis, dtype=dtype, keepdims=keepdims, ddof=ddof)
    return apply_ufunc("sqrt", var(a, axis, dtype, keepdims, ddof, split_every, out))


def broadcast_to(x: Any, shape: Any, chunks: Any = None) -> Any:
    """``x`` broadcast to ``shape`` (NumPy's rules), lazily.

    Parameters
    ----------
    x : Array
        The array.
    shape : tuple of int
        The new shape.
    chunks : tuple, optional
        Chunks of the result (by default ``x``'s chunks, and one chunk along the axes
        it is repeated on).

    Returns
    -------
    Array

    Raises
    ------
    ValueError
        If ``x`` does not broadcast to ``shape``.
    """
    from kaon.array.chunks import normalize_shape

    shape = normalize_shape(shape)
    if not isinstance(x, Array):
        return np.broadcast_to(x, shape)
    spec = None
    if chunks is not None:
        spec = [list(c) for c in normalize_chunks(chunks, shape, dtype=x.dtype)]
    return Array(x._h.broadcast_to(list(shape), spec))


def any_(
    a: Any, axis: AxisLike = None, keepdims: bool = False, split_every: Optional[int] = None
) -> Any:
    """Whether any element along ``axis`` is true (non-zero); False for empty input."""
    if not isinstance(a, Array):
        return np.any(a, axis=axis, keepdims=keepdims)
    n = reduce("sum", a.astype(bool), axis, None, keepdims, split_every)
    return apply_ufunc("not_equal", n, 0)


def all_(
    a: Any, axis: AxisLike = None, keepdims: bool = False, split_every: Optional[int] = None
) -> Any:
    """Whether every element along ``axis`` is true (non-zero); True for empty input."""
    if not isinstance(a, Array):
        return np.all(a, axis=axis, keepdims=keepdims)
    n = reduce("sum", apply_ufunc("logical_not", a), axis, None, keepdims, split_every)
    return apply_ufunc("equal", n, 0)


def nan_reduce(
    name: str,
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
) -> Any:
    """``nansum``, ``nanprod``, ``nanmin``, ``nanmax`` or ``nanmean``: the reduction
    with NaN ignored (NaN where a ``nanmin``/``nanmax``/``nanmean`` slice is all NaN,
    as NumPy, without its warning)."""
    if not isinstance(a, Array):
        return getattr(np, name)(a, axis=axis, keepdims=keepdims)
    if a.dtype.kind != "f":
        base = name[3:]
        if base == "mean":
            return mean(a, axis, dtype, keepdims, split_every)
        return reduce(base, a, axis, dtype, keepdims, split_every)
    isnan = apply_ufunc("isnan", a)
    fill = {"nansum": 0.0, "nanmean": 0.0, "nanprod": 1.0, "nanmin": np.inf, "nanmax": -np.inf}
    clean = apply_ufunc("where", isnan, fill[name], a)
    if name in ("nansum", "nanprod"):
        return reduce(name[3:], clean, axis, dtype, keepdims, split_every)
    count = reduce("sum", apply_ufunc("logical_not", isnan), axis, None, keepdims, split_every)
    if name == "nanmean":
        d = normalize_dtype(dtype) or a.dtype
        total = reduce("sum", clean.astype(d), axis, None, keepdims, split_every)
        return apply_ufunc("divide", total, count.astype(d))
    axes = normalize_axis(axis, a.ndim)
    reduced = [a.shape[i] for i in axes]
    kept = [a.shape[i] for i in range(a.ndim) if i not in axes]
    if 0 in reduced and 0 not in kept:
        raise ValueError(
            f"zero-size array to reduction operation {name[3:]}imum which has no identity"
        )
    r = reduce(name[3:], clean, axis, None, keepdims, split_every)
    return apply_ufunc("where", apply_ufunc("equal", count, 0), np.nan, r)


def _like(kind: str) -> Callable:
    def impl(*args: Any, **kwargs: Any) -> Any:
        from kaon.array import creation

        return getattr(creation, kind)(*args, **kwargs)

    return impl


def _ufuncs_function(name: str) -> Callable:
    def impl(*args: Any, **kwargs: Any) -> Any:
        from kaon.array import ufuncs

        return getattr(ufuncs, name)(*args, **kwargs)

    return impl


def _np_function(kind: str) -> Callable:
    def impl(
        a: Any,
        axis: AxisLike = None,
        dtype: Any = None,
        out: None = None,
        keepdims: bool = False,
        **kwargs: Any,
    ) -> Any:
        if "initial" in kwargs or "where" in kwargs:
            raise TypeError(f"{kind}: initial= and where= are not supported by kaon arrays")
        if kind == "mean":
            return mean(a, axis, dtype, keepdims, None, out)
        return reduce(kind, a, axis, dtype, keepdims, None, out)

    return impl


def _layout(name: str) -> Callable:
    from kaon.array import layout

    return getattr(layout, name)


def _routine(name: str) -> Callable:
    from kaon.array import routines

    return getattr(routines, name)


_ARRAY_FUNCTIONS: dict[Callable, Callable] = {
    np.sum: _np_function("sum"),
    np.prod: _np_function("prod"),
    np.min: _np_function("min"),
    np.max: _np_function("max"),
    np.amin: _np_function("min"),
    np.amax: _np_function("max"),
    np.mean: _np_function("mean"),
    np.var: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw: var(
        a, axis, dtype, keepdims, ddof, None, out
    ),
    np.std: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw: std(
        a, axis, dtype, keepdims, ddof, None, out
    ),
    np.broadcast_to: lambda a, shape, subok=False: broadcast_to(a, shape),
    np.any: lambda a, axis=None, out=None, keepdims=False, **kw: any_(a, axis, keepdims),
    np.all: lambda a, axis=None, out=None, keepdims=False, **kw: all_(a, axis, keepdims),
    np.where: _ufuncs_function("where"),
    np.clip: _ufuncs_function("clip"),
    np.round: _ufuncs_function("round"),
    np.around: _ufuncs_function("round"),
    np.nansum: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: nan_reduce(
        "nansum", a, axis, dtype, keepdims
    ),
    np.nanprod: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: nan_reduce(
        "nanprod", a, axis, dtype, keepdims
    ),
    np.nanmean: lambda a, axis=None, dtype=None, out=None, keepdims=False, **kw: nan_reduce(
        "nanmean", a, axis, dtype, keepdims
    ),
    np.nanmin: lambda a, axis=None, out=None, keepdims=False, **kw: nan_reduce(
        "nanmin", a, axis, None, keepdims
    ),
    np.nanmax: lambda a, axis=None, out=None, keepdims=False, **kw: nan_reduce(
        "nanmax", a, axis, None, keepdims
    ),
    np.ones_like: _like("ones_like"),
    np.zeros_like: _like("zeros_like"),
    np.empty_like: _like("empty_like"),
    np.full_like: _like("full_like"),
    np.shape: lambda a: a.shape,
    np.transpose: lambda a, axes=None: _layout("transpose")(a, axes),
    np.argmax: lambda a, axis=None, out=None, keepdims=False: _routine("argmax")(a, axis, keepdims),
    np.argmin: lambda a, axis=None, out=None, keepdims=False: _routine("argmin")(a, axis, keepdims),
    np.nanargmax: lambda a, axis=None, out=None, keepdims=False: _routine("nanargmax")(
        a, axis, keepdims
    ),
    np.nanargmin: lambda a, axis=None, out=None, keepdims=False: _routine("nanargmin")(
        a, axis, keepdims
    ),
    np.cumsum: lambda a, axis=None, dtype=None, out=None: _routine("cumsum")(a, axis, dtype),
    np.cumprod: lambda a, axis=None, dtype=None, out=None: _routine("cumprod")(a, axis, dtype),
    np.nancumsum: lambda a, axis=None, dtype=None, out=None: _routine("nancumsum")(a, axis, dtype),
    np.nancumprod: lambda a, axis=None, dtype=None, out=None: _routine("nancumprod")(
        a, axis, dtype
    ),
    np.bincount: lambda x, weights=None, minlength=0: _routine("bincount")(x, weights, minlength),
    np.count_nonzero: lambda a, axis=None, keepdims=False: _routine("count_nonzero")(
        a, axis, keepdims
    ),
    np.swapaxes: lambda a, axis1, axis2: _layout("swapaxes")(a, axis1, axis2),
    np.moveaxis: lambda a, source, destination: _layout("moveaxis")(a, source, destination),
    np.reshape: lambda a, *args, **kw: _layout("reshape")(a, *args, **kw),
    np.concatenate: lambda seq, axis=0, **kw: _layout("concatenate")(seq, axis),
    np.stack: lambda seq, axis=0, **kw: _layout("stack")(seq, axis),
    np.matmul: lambda a, b, **kw: _layout("matmul")(a, b),
    np.dot: lambda a, b, out=None: _layout("dot")(a, b),
    np.tensordot: lambda a, b, axes=2: _layout("tensordot")(a, b, axes),
    np.histogram: lambda a, bins=10, range=None, density=None, weights=None: _layout(  # noqa: A006
        "histogram"
    )(a, bins, range, None, weights, bool(density)),
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
}
