"""Reductions with dask.array's signatures: ``sum``, ``prod``, ``min``, ``max``,
``mean`` (and ``amin``/``amax``). Each runs as a tree: a per-chunk step fused with
the elementwise work before it, then ``split_every``-way combine steps."""

from __future__ import annotations

from typing import Any, Optional

from kaon.array.core import AxisLike, reduce
from kaon.array.core import mean as _mean

__all__ = ["amax", "amin", "max", "mean", "min", "prod", "sum"]

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

_DTYPE_DOC = "\ndtype : dtype, optional\n    float64 only."


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


amin = min
amax = max

for _f, _title, _has_dtype in (
    (sum, "Sum", True),
    (prod, "Product", True),
    (min, "Minimum", False),
    (max, "Maximum", False),
    (mean, "Arithmetic mean (the sum divided by the number of elements)", True),
):
    _f.__doc__ = _DOC.format(
        title=_title,
        name=_f.__name__,
        dtype_doc=_DTYPE_DOC if _has_dtype else "",
        empty=", or an empty reduction without identity" if _f in (min, max) else "",
    )
