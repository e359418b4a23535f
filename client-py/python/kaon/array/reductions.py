"""Reductions with dask.array's signatures: ``sum``, ``prod``, ``min``, ``max``,
``mean`` (and ``amin``/``amax``). Each runs as a tree: a per-chunk step fused with
the elementwise work before it, then ``split_every``-way combine steps."""

from __future__ import annotations

from typing import Any, Optional

from kaon.array.core import AxisLike, all_, any_, nan_reduce, reduce
from kaon.array.core import mean as _mean
from kaon.array.core import std as _std
from kaon.array.core import var as _var

__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "max",
    "mean",
    "min",
    "nanmax",
    "nanmean",
    "nanmin",
    "nanprod",
    "nansum",
    "prod",
    "std",
    "sum",
    "var",
]

_DOC = """{title} of array elements over a given axis.

Parameters
----------
a : Array
    Input array (NumPy computes in-memory input at once).
axis : None, int or tuple of ints
    Axis or axes to reduce; None reduces all of them. Negative axes count from
    the end.{dtype_doc}
keepdims : bool
    Keep the reduced axes, with length one.
split_every : int, optional
    Fan-in of the tree of combine steps (default 8).
out : None
    Not supported (kaon arrays are immutable).

Returns
-------
Array
    The lazy result.

Raises
------
numpy.exceptions.AxisError
    For an axis out of bounds.
ValueError
    For a repeated axis{empty}.

Examples
--------
>>> import kaon.array as ka
>>> x = ka.ones((4, 6), chunks=2)
>>> ka.{name}(x, axis=1).shape
(4,)
"""

_DTYPE_DOC = (
    "\ndtype : dtype, optional\n    The dtype to convert the values to before reducing (by "
    "default\n    NumPy's: int64 for sums of bool and small integers)."
)


def sum(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:  # noqa: A001
    return reduce("sum", a, axis, dtype, keepdims, split_every, out)


def prod(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return reduce("prod", a, axis, dtype, keepdims, split_every, out)


def min(
    a: Any,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:  # noqa: A001
    return reduce("min", a, axis, None, keepdims, split_every, out)


def max(
    a: Any,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:  # noqa: A001
    return reduce("max", a, axis, None, keepdims, split_every, out)


def mean(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return _mean(a, axis, dtype, keepdims, split_every, out)


def any(
    a: Any,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:  # noqa: A001
    return any_(a, axis, keepdims, split_every)


def all(
    a: Any,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:  # noqa: A001
    return all_(a, axis, keepdims, split_every)


def nansum(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return nan_reduce("nansum", a, axis, dtype, keepdims, split_every)


def nanprod(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanprod", a, axis, dtype, keepdims, split_every)


def nanmean(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanmean", a, axis, dtype, keepdims, split_every)


def nanmin(
    a: Any,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanmin", a, axis, None, keepdims, split_every)


def nanmax(
    a: Any,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanmax", a, axis, None, keepdims, split_every)


def var(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    ddof: float = 0,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return _var(a, axis, dtype, keepdims, ddof, split_every, out)


def std(
    a: Any,
    axis: AxisLike = None,
    dtype: Any = None,
    keepdims: bool = False,
    ddof: float = 0,
    split_every: Optional[int] = None,
    out: None = None,
) -> Any:
    return _std(a, axis, dtype, keepdims, ddof, split_every, out)


amin = min
amax = max

for _f, _title, _has_dtype in (
    (sum, "Sum", True),
    (prod, "Product", True),
    (min, "Minimum", False),
    (max, "Maximum", False),
    (mean, "Arithmetic mean (the sum divided by the number of elements)", True),
    (var, "Variance (two-pass: mean, then squared deviations; ``ddof``)", True),
    (std, "Standard deviation (the square root of the variance; ``ddof``)", True),
    (any, "Whether any (true: non-zero)", False),
    (all, "Whether all (true: non-zero)", False),
    (nansum, "Sum, treating NaN as zero,", True),
    (nanprod, "Product, treating NaN as one,", True),
    (nanmean, "Mean, ignoring NaN,", True),
    (nanmin, "Minimum, ignoring NaN (NaN where all are NaN),", False),
    (nanmax, "Maximum, ignoring NaN (NaN where all are NaN),", False),
):
    _f.__doc__ = _DOC.format(
        title=_title,
        name=_f.__name__,
        dtype_doc=_DTYPE_DOC if _has_dtype else "",
        empty=", or an empty reduction without identity"
        if _f in (min, max, nanmin, nanmax)
        else "",
    )
