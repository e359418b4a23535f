"""Reductions with dask.array's signatures: ``sum``, ``prod``, ``min``, ``max``,
``mean``, ``var``, ``std``, ``any``, ``all``, the ``nan*`` forms, and the aliases
``amin``/``amax``.

Each runs as a tree: a per-chunk step fused with the elementwise work before it, then
``split_every``-way combine steps, so no intermediate array is stored. Integer sums
and products are exact int64 arithmetic, wrapping around on overflow as NumPy's do.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import numpy.typing as npt

from kaon.array.core import Array, AxisLike, all_, any_, nan_reduce, reduce
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

#: What the reductions take: a kaon array, or in-memory input that NumPy reduces.
ArrayLike = Union[Array, npt.ArrayLike]
SplitEvery = Union[int, dict[int, int], None]


def sum(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:  # noqa: A001
    return reduce("sum", a, axis, dtype, keepdims, split_every, out)


def prod(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return reduce("prod", a, axis, dtype, keepdims, split_every, out)


def min(
    a: ArrayLike,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:  # noqa: A001
    return reduce("min", a, axis, None, keepdims, split_every, out)


def max(
    a: ArrayLike,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:  # noqa: A001
    return reduce("max", a, axis, None, keepdims, split_every, out)


def mean(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return _mean(a, axis, dtype, keepdims, split_every, out)


def any(
    a: ArrayLike,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:  # noqa: A001
    return any_(a, axis, keepdims, split_every)


def all(
    a: ArrayLike,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:  # noqa: A001
    return all_(a, axis, keepdims, split_every)


def nansum(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return nan_reduce("nansum", a, axis, dtype, keepdims, split_every)


def nanprod(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanprod", a, axis, dtype, keepdims, split_every)


def nanmean(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanmean", a, axis, dtype, keepdims, split_every)


def nanmin(
    a: ArrayLike,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanmin", a, axis, None, keepdims, split_every)


def nanmax(
    a: ArrayLike,
    axis: AxisLike = None,
    keepdims: bool = False,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return nan_reduce("nanmax", a, axis, None, keepdims, split_every)


def var(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    ddof: float = 0,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return _var(a, axis, dtype, keepdims, ddof, split_every, out)


def std(
    a: ArrayLike,
    axis: AxisLike = None,
    dtype: npt.DTypeLike = None,
    keepdims: bool = False,
    ddof: float = 0,
    split_every: SplitEvery = None,
    out: None = None,
) -> Any:
    return _std(a, axis, dtype, keepdims, ddof, split_every, out)


amin = min
amax = max

# ---------------------------------------------------------------------- docstrings
# The reductions share most of their documentation: it is assembled here from the
# parts each one needs, with examples whose computed values come from NumPy (which
# Kaon reproduces) and whose lazy shapes and dtypes the doctests check.

_PARAMS = {
    "a": """a : Array or array_like
    Input values. In-memory input (a NumPy array, a list) is reduced by NumPy at once.""",
    "axis": """axis : None, int or tuple of ints, optional
    Axis or axes to reduce; None (the default) reduces all of them. Negative axes count
    from the end.""",
    "dtype": """dtype : dtype, optional
{dtype_doc}""",
    "keepdims": """keepdims : bool
    Keep the reduced axes, with length one, so that the result broadcasts against
    ``a`` (``x - x.mean(axis=0, keepdims=True)``).""",
    "ddof": """ddof : float
    Delta degrees of freedom: the sum of squared deviations is divided by
    ``n - ddof``, ``n`` being the number of elements reduced (0: the population
    variance; 1: the unbiased sample variance).""",
    "split_every": """split_every : int or dict, optional
    Fan-in of the tree of combine steps (default 8; a dict, as dask takes it, gives
    its largest value). Larger values make shallower trees with bigger steps.""",
    "out": """out : None
    Not supported (kaon arrays are immutable); accepted for NumPy's signature.""",
}

_SUM_DTYPE = "NumPy's: int64 for bool, uint8 and int32 input, the input's dtype otherwise."
_MEAN_DTYPE = "float64, or float32 for float32 input, as NumPy."

_TWO_D = (
    "x = ka.eye(4, chunks=2) * 2 + ka.arange(4, chunks=2)",
    lambda: np.eye(4) * 2 + np.arange(4),
)
_WITH_NAN = (
    "x = ka.arange(6, chunks=2)\n>>> x = ka.where(x % 2 == 0, x + 1.0, np.nan)  # 1, nan, 3, ...",
    lambda: np.where(np.arange(6) % 2 == 0, np.arange(6) + 1.0, np.nan),
)

#: name: (summary, description, parameters, result, raises min/max's ValueError,
#: example input, example call arguments, see also).
_REDUCTIONS: dict[str, tuple[str, str, tuple[str, ...], str, bool, Any, str, str]] = {
    "sum": (
        "Sum of array elements over the given axes.",
        "Like ``numpy.sum`` and ``dask.array.sum``. Integer sums are exact (int64, "
        "wrapping on overflow as NumPy's); float sums are added pairwise "
        "within a chunk and by the tree across chunks, so their last bits can differ "
        "from NumPy's.",
        ("a", "axis", "dtype", "keepdims", "split_every", "out"),
        "Of the ``dtype`` given, else " + _SUM_DTYPE,
        False,
        _TWO_D,
        "x, axis=0",
        "nansum, mean, prod",
    ),
    "prod": (
        "Product of array elements over the given axes.",
        "Like ``numpy.prod`` and ``dask.array.prod``. Integer products are exact "
        "int64 arithmetic and wrap around on overflow, as NumPy's do.",
        ("a", "axis", "dtype", "keepdims", "split_every", "out"),
        "Of the ``dtype`` given, else " + _SUM_DTYPE,
        False,
        _TWO_D,
        "x, axis=1",
        "nanprod, sum",
    ),
    "min": (
        "Minimum of array elements over the given axes.",
        "Like ``numpy.min`` (``amin``) and ``dask.array.min``. NaN propagates: a slice "
        "with a NaN has the minimum NaN (see :func:`nanmin`).",
        ("a", "axis", "keepdims", "split_every", "out"),
        "Of the dtype of ``a``.",
        True,
        _TWO_D,
        "x, axis=1",
        "nanmin, max, minimum",
    ),
    "max": (
        "Maximum of array elements over the given axes.",
        "Like ``numpy.max`` (``amax``) and ``dask.array.max``. NaN propagates: a slice "
        "with a NaN has the maximum NaN (see :func:`nanmax`).",
        ("a", "axis", "keepdims", "split_every", "out"),
        "Of the dtype of ``a``.",
        True,
        _TWO_D,
        "x, axis=0",
        "nanmax, min, maximum",
    ),
    "mean": (
        "Arithmetic mean of array elements over the given axes.",
        "Like ``numpy.mean`` and ``dask.array.mean``: the sum (a tree reduction) divided "
        "by the number of elements reduced; NaN for an empty reduction.",
        ("a", "axis", "dtype", "keepdims", "split_every", "out"),
        "Of the ``dtype`` given, else " + _MEAN_DTYPE,
        False,
        _TWO_D,
        "x, axis=0",
        "nanmean, sum, var",
    ),
    "var": (
        "Variance of array elements over the given axes.",
        "Like ``numpy.var`` and ``dask.array.var``, by NumPy's two-pass method: the mean "
        "first (a tree reduction), then the sum of squared deviations from it divided by "
        "``n - ddof``. The second pass recomputes the input's fused program instead of "
        "storing it, so an expression such as ``ka.sin(x).var()`` stores nothing of the "
        "input's size; the input is computed twice.",
        ("a", "axis", "dtype", "keepdims", "ddof", "split_every", "out"),
        "Of the ``dtype`` given, else " + _MEAN_DTYPE,
        False,
        _TWO_D,
        "x, axis=1, ddof=1",
        "std, mean",
    ),
    "std": (
        "Standard deviation of array elements over the given axes.",
        "Like ``numpy.std`` and ``dask.array.std``: the square root of :func:`var` "
        "(NumPy's two-pass method; the input is computed twice, not stored).",
        ("a", "axis", "dtype", "keepdims", "ddof", "split_every", "out"),
        "Of the ``dtype`` given, else " + _MEAN_DTYPE,
        False,
        _TWO_D,
        "x, axis=1, ddof=1",
        "var, mean",
    ),
    "any": (
        "Whether any element over the given axes is true (non-zero).",
        "Like ``numpy.any`` and ``dask.array.any``: NaN counts as true; False for an "
        "empty reduction. Computed as a count of true elements, so every element is "
        "read (no early exit).",
        ("a", "axis", "keepdims", "split_every", "out"),
        "Of dtype bool.",
        False,
        _TWO_D,
        "x > 4, axis=1",
        "all, logical_or",
    ),
    "all": (
        "Whether all elements over the given axes are true (non-zero).",
        "Like ``numpy.all`` and ``dask.array.all``: NaN counts as true; True for an empty "
        "reduction. Computed as a count of false elements, so every element is read (no "
        "early exit).",
        ("a", "axis", "keepdims", "split_every", "out"),
        "Of dtype bool.",
        False,
        _TWO_D,
        "x > 0, axis=0",
        "any, logical_and",
    ),
    "nansum": (
        "Sum of array elements over the given axes, treating NaN as zero.",
        "Like ``numpy.nansum`` and ``dask.array.nansum``: 0 for a slice that is all "
        "NaN. For integer and bool input (which hold no NaN) it is :func:`sum`.",
        ("a", "axis", "dtype", "keepdims", "split_every", "out"),
        "Of the ``dtype`` given, else " + _SUM_DTYPE,
        False,
        _WITH_NAN,
        "x",
        "sum, nanmean",
    ),
    "nanprod": (
        "Product of array elements over the given axes, treating NaN as one.",
        "Like ``numpy.nanprod`` and ``dask.array.nanprod``: 1 for a slice that is all "
        "NaN. For integer and bool input it is :func:`prod`.",
        ("a", "axis", "dtype", "keepdims", "split_every", "out"),
        "Of the ``dtype`` given, else " + _SUM_DTYPE,
        False,
        _WITH_NAN,
        "x",
        "prod, nansum",
    ),
    "nanmean": (
        "Arithmetic mean of array elements over the given axes, ignoring NaN.",
        "Like ``numpy.nanmean`` and ``dask.array.nanmean``: the sum of the elements that "
        "are not NaN divided by their count; NaN for a slice that is all NaN (NumPy also "
        "warns; Kaon does not). For integer and bool input it is :func:`mean`.",
        ("a", "axis", "dtype", "keepdims", "split_every", "out"),
        "Of the ``dtype`` given, else of the dtype of float input (float64 for integer "
        "and bool input, as :func:`mean`).",
        False,
        _WITH_NAN,
        "x",
        "mean, nansum",
    ),
    "nanmin": (
        "Minimum of array elements over the given axes, ignoring NaN.",
        "Like ``numpy.nanmin`` and ``dask.array.nanmin``: NaN for a slice that is all "
        "NaN (NumPy also warns; Kaon does not). For integer and bool input it is "
        ":func:`min`.",
        ("a", "axis", "keepdims", "split_every", "out"),
        "Of the dtype of ``a``.",
        True,
        _WITH_NAN,
        "x",
        "min, nanmax",
    ),
    "nanmax": (
        "Maximum of array elements over the given axes, ignoring NaN.",
        "Like ``numpy.nanmax`` and ``dask.array.nanmax``: NaN for a slice that is all "
        "NaN (NumPy also warns; Kaon does not). For integer and bool input it is "
        ":func:`max`.",
        ("a", "axis", "keepdims", "split_every", "out"),
        "Of the dtype of ``a``.",
        True,
        _WITH_NAN,
        "x",
        "max, nanmin",
    ),
}


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.split("\n"))


def _fill(text: str, indent: str = "") -> str:
    import textwrap

    return textwrap.fill(text, 88, initial_indent=indent, subsequent_indent=indent)


def _reduction_doc(name: str) -> str:
    summary, about, params, result, no_identity, example, call, see = _REDUCTIONS[name]
    default = (
        "float64, or float32 for float32 input"
        if name in ("mean", "var", "std", "nanmean")
        else "int64 for bool, uint8 and int32 input, the input's dtype otherwise"
    )
    dtype_doc = _fill(
        "Convert the values to this dtype before reducing (NumPy's accumulator dtype); "
        f"by default NumPy's choice: {default}.",
        "    ",
    )
    listed = "\n".join(_PARAMS[p] for p in params).format(dtype_doc=dtype_doc)
    raises = [
        "numpy.exceptions.AxisError\n    For an axis out of bounds.",
        "ValueError\n    For a repeated axis"
        + (
            ", or an empty reduction (a zero-length axis reduced) without identity."
            if no_identity
            else "."
        ),
        "TypeError\n    For ``out=``, an axis that is not an int, or an unsupported ``dtype``.",
    ]
    source, values = example
    with np.errstate(all="ignore"):
        want = eval(f"np.{name}({call})", {"np": np, "x": values()})  # noqa: S307
    lines = [
        summary,
        "",
        _fill(about),
        "",
        "Parameters",
        "----------",
        listed,
        "",
        "Returns",
        "-------",
        "Array",
        _fill("Lazy; call ``.compute()`` for the NumPy result. " + result, "    "),
        "",
        "Raises",
        "------",
        *raises,
        "",
        "See Also",
        "--------",
        ", ".join(see.split(", ")),
        "",
        "Examples",
        "--------",
        ">>> import numpy as np, kaon.array as ka",
        f">>> {source}",
        f">>> r = ka.{name}({call})",
        ">>> r.shape, r.dtype",
        repr((want.shape, want.dtype)),
        ">>> r.compute()  # doctest: +SKIP",
        repr(want),
        f">>> x.{name}({call.partition(', ')[2]}).compute()  # doctest: +SKIP"
        if call.startswith("x, ") and not name.startswith("nan")
        else "",
        repr(want) if call.startswith("x, ") and not name.startswith("nan") else "",
    ]
    return "\n".join(lines).rstrip() + "\n"


for _name in _REDUCTIONS:
    globals()[_name].__doc__ = _reduction_doc(_name)
