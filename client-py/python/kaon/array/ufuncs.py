"""Lazy NumPy ufuncs over kaon arrays, generated from the extension's table of ops.

Every NumPy ufunc name the engine computes (``kaon._kaon.ufuncs()``) becomes a
:class:`ufunc` here and in :mod:`kaon.array`; adding an op to that table adds it here
with no further code.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any, Optional, Union

import numpy as np

from kaon.array.core import UFUNCS, Array, apply_ufunc, normalize_dtype

__all__ = ["ALIASES", "around", "clip", "round", "ufunc", "where"]

#: What a ufunc takes: kaon arrays, in-memory arrays and scalars.
ArrayOrScalar = Union[Array, "np.ndarray[Any, Any]", float, int, bool, np.number, None]


#: Result dtypes of the float functions (``sqrt``, ``sin``, ...), as NumPy gives them.
_FLOAT_RESULT = (
    "Its dtype is float64 for float64, int64 and int32 input, and float32 for float32, "
    "uint8 and bool input (NumPy gives float16 for the last two; kaon arrays hold no "
    "float16)."
)
_SAME = "Its dtype is that of the input."
_PROMOTED = (
    "Its dtype is the operands' promoted dtype (NumPy 2's rules: Python scalars are weak, so "
    "``int32_array + 1`` stays int32). Integer results are exact and wrap around on "
    "overflow as in NumPy (kernels compute integers in int64)."
)
_BOOL = "Its dtype is bool."

#: Inputs of the generated examples: (source in the docstring, the NumPy equivalent).
_INPUTS: dict[str, tuple[str, Any]] = {
    "unit": ("ka.linspace(-1, 1, 5, chunks=2)", lambda: np.linspace(-1, 1, 5)),
    "wide": ("ka.linspace(-2, 2, 5, chunks=2)", lambda: np.linspace(-2, 2, 5)),
    "halves": ("ka.linspace(-1.5, 1.5, 7, chunks=3)", lambda: np.linspace(-1.5, 1.5, 7)),
    "ints": ("ka.arange(-2, 3, chunks=2)", lambda: np.arange(-2, 3)),
    "count": ("ka.arange(5, chunks=2)", lambda: np.arange(5)),
    "positive": ("ka.arange(1, 6, chunks=2)", lambda: np.arange(1, 6)),
    "degrees": ("ka.linspace(0, 180, 5, chunks=2)", lambda: np.linspace(0, 180, 5)),
    "radians": ("ka.linspace(0, np.pi, 5, chunks=2)", lambda: np.linspace(0, np.pi, 5)),
    "cosh": ("ka.linspace(1, 3, 5, chunks=2)", lambda: np.linspace(1, 3, 5)),
    "special": (
        "ka.log(ka.arange(-1, 3, chunks=2))  # nan, -inf, 0, log(2)",
        lambda: np.log(np.arange(-1, 3)),
    ),
}

#: name: (summary, notes on the domain and Kaon's differences, result dtype, example
#: input, arguments of the example call). The summaries say what NumPy's ufunc of the
#: same name computes; Kaon computes the same values (in float64 inside the kernels).
_TABLE: dict[str, tuple[str, str, str, str, str]] = {
    # arithmetic of one operand
    "negative": (
        "Numerical negative, ``-x``, element-wise.",
        "Not defined for bool input "
        "(TypeError, as NumPy: use ``~`` or ``logical_not``); int32 and uint8 wrap "
        "around.",
        _SAME,
        "ints",
        "x",
    ),
    "positive": (
        "Numerical positive, ``+x``, element-wise (a copy of the values).",
        "Not defined for bool input (TypeError, as NumPy).",
        _SAME,
        "ints",
        "x",
    ),
    "absolute": (
        "Absolute value, ``|x|``, element-wise.",
        "Unlike ``numpy.fabs``, its alias "
        "``fabs`` keeps integer dtypes here. The most "
        "negative int32 stays negative, as in NumPy.",
        _SAME,
        "ints",
        "x",
    ),
    "sign": (
        "Sign of each element: -1, 0 or 1.",
        "NaN stays NaN and signed zeros keep "
        "their sign. Not defined for bool input (TypeError, as NumPy).",
        _SAME,
        "ints",
        "x",
    ),
    "sqrt": (
        "Non-negative square root, element-wise.",
        "Domain ``x >= 0``: negative values give NaN (NumPy also warns; Kaon's workers do not).",
        _FLOAT_RESULT,
        "positive",
        "x",
    ),
    "cbrt": (
        "Cube root, element-wise.",
        "Defined for every real number (``cbrt(-8) == -2``).",
        _FLOAT_RESULT,
        "ints",
        "x",
    ),
    "square": (
        "Square, ``x * x``, element-wise.",
        "bool input gives int64 (NumPy gives int8, which kaon arrays do not hold); integers "
        "wrap around on overflow, as in NumPy.",
        _SAME,
        "ints",
        "x",
    ),
    "exp": (
        "Exponential, ``e**x``, element-wise.",
        "Overflows to inf above about 709.78 (float64) or 88.72 (float32).",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "expm1": (
        "``exp(x) - 1``, element-wise, accurate for small ``x``.",
        "Use it instead of ``exp(x) - 1`` where ``|x|`` is much smaller than 1.",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "log": (
        "Natural logarithm, element-wise.",
        "Domain ``x > 0``: ``log(0)`` is -inf, negative values give NaN (no warning).",
        _FLOAT_RESULT,
        "positive",
        "x",
    ),
    "log1p": (
        "``log(1 + x)``, element-wise, accurate for small ``x``.",
        "Domain ``x > -1``: ``log1p(-1)`` is -inf, smaller values give NaN.",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "log10": (
        "Base-10 logarithm, element-wise.",
        "Domain ``x > 0``: ``log10(0)`` is -inf, negative values give NaN.",
        _FLOAT_RESULT,
        "positive",
        "x",
    ),
    "log2": (
        "Base-2 logarithm, element-wise.",
        "Domain ``x > 0``: ``log2(0)`` is -inf, negative values give NaN.",
        _FLOAT_RESULT,
        "positive",
        "x",
    ),
    # trigonometric
    "sin": (
        "Trigonometric sine, element-wise (``x`` in radians).",
        "Defined for every finite ``x``; inf gives NaN.",
        _FLOAT_RESULT,
        "radians",
        "x",
    ),
    "cos": (
        "Trigonometric cosine, element-wise (``x`` in radians).",
        "Defined for every finite ``x``; inf gives NaN.",
        _FLOAT_RESULT,
        "radians",
        "x",
    ),
    "tan": (
        "Trigonometric tangent, element-wise (``x`` in radians).",
        "Large (not infinite) near odd multiples of pi/2, where it has poles.",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "arcsin": (
        "Inverse sine, element-wise, in radians in [-pi/2, pi/2].",
        "Domain [-1, 1]: values outside give NaN (NumPy also warns).",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "arccos": (
        "Inverse cosine, element-wise, in radians in [0, pi].",
        "Domain [-1, 1]: values outside give NaN (NumPy also warns).",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "arctan": (
        "Inverse tangent, element-wise, in radians in (-pi/2, pi/2).",
        "Defined for every real number; +-inf give +-pi/2. See also ``arctan2``.",
        _FLOAT_RESULT,
        "wide",
        "x",
    ),
    "sinh": (
        "Hyperbolic sine, element-wise.",
        "Overflows to +-inf for ``|x|`` above about 710 (float64).",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "cosh": (
        "Hyperbolic cosine, element-wise.",
        "Overflows to inf for ``|x|`` above about 710 (float64).",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "tanh": (
        "Hyperbolic tangent, element-wise, in [-1, 1].",
        "Defined for every real number.",
        _FLOAT_RESULT,
        "wide",
        "x",
    ),
    "arcsinh": (
        "Inverse hyperbolic sine, element-wise.",
        "Defined for every real number.",
        _FLOAT_RESULT,
        "wide",
        "x",
    ),
    "arccosh": (
        "Inverse hyperbolic cosine, element-wise (non-negative).",
        "Domain ``x >= 1``: smaller values give NaN.",
        _FLOAT_RESULT,
        "cosh",
        "x",
    ),
    "arctanh": (
        "Inverse hyperbolic tangent, element-wise.",
        "Domain [-1, 1]: +-1 give +-inf, values outside give NaN.",
        _FLOAT_RESULT,
        "unit",
        "x",
    ),
    "deg2rad": (
        "Converts angles from degrees to radians (``x * pi / 180``).",
        "The same as ``x * (pi / 180)``.",
        _FLOAT_RESULT,
        "degrees",
        "x",
    ),
    "rad2deg": (
        "Converts angles from radians to degrees (``x * 180 / pi``).",
        "The same as ``x * (180 / pi)``.",
        _FLOAT_RESULT,
        "radians",
        "x",
    ),
    # rounding
    "floor": (
        "Floor of each element: the largest integer ``<= x``.",
        "Integer and bool input is returned as it is (as NumPy 2.1 and later do).",
        _SAME,
        "halves",
        "x",
    ),
    "ceil": (
        "Ceiling of each element: the smallest integer ``>= x``.",
        "Integer and bool input is returned as it is.",
        _SAME,
        "halves",
        "x",
    ),
    "rint": (
        "Rounds each element to the nearest integer, halves to even.",
        "Integer input gives float64 as in NumPy; see also :func:`round` for decimals.",
        _FLOAT_RESULT,
        "halves",
        "x",
    ),
    "trunc": (
        "Truncates each element toward zero.",
        "Integer and bool input is returned as it is.",
        _SAME,
        "halves",
        "x",
    ),
    # classification and logic
    "isnan": (
        "Tests each element for NaN.",
        "False for every integer and bool element.",
        _BOOL,
        "special",
        "x",
    ),
    "isinf": (
        "Tests each element for positive or negative infinity.",
        "False for every integer and bool element.",
        _BOOL,
        "special",
        "x",
    ),
    "isfinite": (
        "Tests each element for being finite (not NaN, not infinite).",
        "True for every integer and bool element.",
        _BOOL,
        "special",
        "x",
    ),
    "logical_not": (
        "Logical NOT of each element's truth value (true: non-zero).",
        "NaN counts as true, as in NumPy.",
        _BOOL,
        "count",
        "x",
    ),
    "invert": (
        "Bitwise NOT (``~x``) of integers, logical NOT of bools.",
        "Float input raises TypeError, as in NumPy.",
        _SAME,
        "ints",
        "x",
    ),
    # arithmetic of two operands
    "add": (
        "Adds the operands element-wise (``x1 + x2``).",
        "For bools it is a logical OR, as in NumPy.",
        _PROMOTED,
        "count",
        "x, 2",
    ),
    "subtract": (
        "Subtracts the operands element-wise (``x1 - x2``).",
        "Not defined for two bools (TypeError, as NumPy: use ``^``).",
        _PROMOTED,
        "count",
        "x, 2",
    ),
    "multiply": (
        "Multiplies the operands element-wise (``x1 * x2``).",
        "For bools it is a logical AND, as in NumPy.",
        _PROMOTED,
        "count",
        "x, 3",
    ),
    "divide": (
        "True division of the operands element-wise (``x1 / x2``).",
        "Integer operands give float64; division by zero gives inf or NaN (no warning).",
        "Its dtype is float64, or float32 for float32 operands.",
        "count",
        "x, 2",
    ),
    "floor_divide": (
        "Floor division of the operands element-wise (``x1 // x2``).",
        "Rounds toward minus infinity, as Python does. Integer division by "
        "zero gives 0, as NumPy gives (without its warning); float division "
        "by zero gives +-inf or NaN."
        " Two bools give int64 (NumPy gives int8, which kaon arrays do not hold).",
        _PROMOTED,
        "ints",
        "x, 2",
    ),
    "remainder": (
        "Remainder of floor division element-wise (``x1 % x2``), with the sign of ``x2``.",
        "Integer remainder by zero gives 0, as NumPy gives; float remainder by zero gives NaN."
        " Two bools give int64 (NumPy gives int8, which kaon arrays do not hold).",
        _PROMOTED,
        "ints",
        "x, 3",
    ),
    "power": (
        "First operand raised to the second's power, element-wise (``x1 ** x2``).",
        "Integer results are exact and wrap around on overflow, as in NumPy. An "
        "integer to a negative integer power: NumPy raises ValueError when it sees "
        "the values, while Kaon (which cannot look at values when the graph is "
        "built) converts the float power to the integer dtype, truncating it toward "
        "zero."
        " Two bools give int64 (NumPy gives int8, which kaon arrays do not hold).",
        _PROMOTED,
        "count",
        "x, 2",
    ),
    "maximum": (
        "Element-wise maximum of the operands.",
        "NaN propagates: a NaN in either "
        "operand gives NaN (see ``nanmax`` for reductions that skip NaN).",
        _PROMOTED,
        "ints",
        "x, 0",
    ),
    "minimum": (
        "Element-wise minimum of the operands.",
        "NaN propagates: a NaN in either operand gives NaN.",
        _PROMOTED,
        "ints",
        "x, 0",
    ),
    "arctan2": (
        "Angle of the point ``(x2, x1)``: ``arctan(x1 / x2)`` in the right "
        "quadrant, in radians in [-pi, pi].",
        "The first operand is the "
        "y-coordinate, as in NumPy; defined everywhere, including ``(0, 0)``.",
        "Its dtype is float64, or float32 for float32 operands.",
        "unit",
        "x, -1.0",
    ),
    "hypot": (
        "Hypotenuse ``sqrt(x1**2 + x2**2)``, element-wise, without overflow.",
        "inf if either operand is infinite, even if the other is NaN.",
        "Its dtype is float64, or float32 for float32 operands.",
        "count",
        "x, 3",
    ),
    # comparisons
    "equal": (
        "``x1 == x2``, element-wise.",
        "NaN is not equal to anything, itself included.",
        _BOOL,
        "count",
        "x, 2",
    ),
    "not_equal": (
        "``x1 != x2``, element-wise.",
        "True wherever either operand is NaN.",
        _BOOL,
        "count",
        "x, 2",
    ),
    "less": (
        "``x1 < x2``, element-wise.",
        "False wherever either operand is NaN.",
        _BOOL,
        "count",
        "x, 2",
    ),
    "less_equal": (
        "``x1 <= x2``, element-wise.",
        "False wherever either operand is NaN.",
        _BOOL,
        "count",
        "x, 2",
    ),
    "greater": (
        "``x1 > x2``, element-wise.",
        "False wherever either operand is NaN.",
        _BOOL,
        "count",
        "x, 2",
    ),
    "greater_equal": (
        "``x1 >= x2``, element-wise.",
        "False wherever either operand is NaN.",
        _BOOL,
        "count",
        "x, 2",
    ),
    # logic and bits
    "logical_and": (
        "Logical AND of the operands' truth values, element-wise.",
        "Non-zero (NaN included) is true.",
        _BOOL,
        "count",
        "x > 1, x < 4",
    ),
    "logical_or": (
        "Logical OR of the operands' truth values, element-wise.",
        "Non-zero (NaN included) is true.",
        _BOOL,
        "count",
        "x < 1, x > 3",
    ),
    "logical_xor": (
        "Logical XOR of the operands' truth values, element-wise.",
        "Non-zero (NaN included) is true.",
        _BOOL,
        "count",
        "x > 1, x < 4",
    ),
    "bitwise_and": (
        "Bitwise AND of integers and bools (``x1 & x2``), element-wise.",
        "Float operands raise TypeError, as in NumPy.",
        _PROMOTED,
        "count",
        "x, 6",
    ),
    "bitwise_or": (
        "Bitwise OR of integers and bools (``x1 | x2``), element-wise.",
        "Float operands raise TypeError, as in NumPy.",
        _PROMOTED,
        "count",
        "x, 8",
    ),
    "bitwise_xor": (
        "Bitwise XOR of integers and bools (``x1 ^ x2``), element-wise.",
        "Float operands raise TypeError, as in NumPy.",
        _PROMOTED,
        "count",
        "x, 1",
    ),
    "left_shift": (
        "Shifts the bits of integers left (``x1 << x2``), element-wise.",
        "Bools count as int64 (NumPy: int8). Results are exact; shifts by 64 or "
        "more (or negative) give 0 (platform-defined in NumPy). Float operands "
        "raise TypeError.",
        _PROMOTED,
        "count",
        "x, 2",
    ),
    "right_shift": (
        "Shifts the bits of integers right (``x1 >> x2``), element-wise, keeping the sign.",
        "Shifts by 64 or more give 0 (-1 for negative ``x1``). Float operands raise TypeError."
        " Two bools give int64 (NumPy gives int8, which kaon arrays do not hold).",
        _PROMOTED,
        "ints",
        "x, 1",
    ),
}

#: Other names NumPy gives the same ufuncs.
ALIASES = {
    "abs": "absolute",
    "true_divide": "divide",
    "fabs": "absolute",
    "pow": "power",
    "mod": "remainder",
    "bitwise_not": "invert",
    "bitwise_invert": "invert",
    "degrees": "rad2deg",
    "radians": "deg2rad",
}


def _example(name: str, nin: int, entry: Optional[tuple[str, str, str, str, str]]) -> str:
    """The Examples section: the lazy result's dtype (checked by the doctests, without a
    cluster) and the computed values (NumPy's, which Kaon reproduces; skipped, since
    computing needs a cluster)."""
    if entry is None:
        return ""
    source, values = _INPUTS[entry[3]]
    call = f"ka.{name}({entry[4]})"
    try:
        with np.errstate(all="ignore"):
            want = getattr(np, name)(*eval(f"({entry[4]},)", {"x": values(), "np": np}))  # noqa: S307
    except Exception:  # pragma: no cover - an example NumPy rejects: leave it out
        return ""
    lines = [
        "Examples",
        "--------",
        ">>> import numpy as np, kaon.array as ka",
        f">>> x = {source}",
        f">>> {call}.dtype",
        repr(want.dtype),
        f">>> {call}.compute()  # doctest: +SKIP",
        repr(want),
    ]
    return "\n".join(lines) + "\n"


def _fill(text: str, indent: str = "") -> str:
    return textwrap.fill(text, 88, initial_indent=indent, subsequent_indent=indent) + "\n"


def _ufunc_doc(name: str, nin: int) -> str:
    """The docstring of the generated ufunc ``name`` (from :data:`_TABLE`)."""
    entry = _TABLE.get(name)
    if entry is None:  # an op the extension gained before this table: NumPy's summary
        paragraphs = (getattr(np, name).__doc__ or "").strip().split("\n\n")
        summary = next((p.strip() for p in paragraphs[1:] if p.strip()), f"NumPy's {name}.")
        notes, result = "", "As ``numpy." + name + "`` gives it."
    else:
        summary, notes, result = entry[0], entry[1], entry[2]
    aliases = [a for a, n in ALIASES.items() if n == name]
    operands = "x" if nin == 1 else "x1, x2"
    params = (
        "x : Array or array_like\n    Input values.\n"
        if nin == 1
        else "x1, x2 : Array or array_like\n"
        "    Input values (scalars included). Operands broadcast as in NumPy; along an axis\n"
        "    where both have a length other than 1, two kaon arrays must have the same\n"
        "    chunks. Python scalars are weak (NEP 50): ``int32_array + 1`` stays int32.\n"
    )
    about = (
        f"Lazy on kaon arrays: returns an :class:`Array` computed elementwise, fused with "
        f"the operations around it. Like ``numpy.{name}`` and ``dask.array.{name}`` "
        f"(``np.{name}`` applied to a kaon array stays lazy too); with only in-memory "
        f"operands it is ``numpy.{name}`` itself."
    )
    if aliases:
        about += f" Also available as {' and '.join(f'``{a}``' for a in aliases)}."
    return (
        f"{name}({operands}, /, *, dtype=None)\n\n"
        f"{summary}\n\n"
        + _fill(about)
        + (f"\n{_fill(notes)}" if notes else "")
        + "\nParameters\n----------\n"
        + params
        + "dtype : dtype, optional\n"
        "    Convert the result to this dtype (one of float64, float32, int64, int32,\n"
        "    uint8, bool).\n"
        "\nReturns\n-------\nArray\n"
        + _fill(f"The lazy result. {result}", "    ")
        + "\nRaises\n------\n"
        "TypeError\n"
        "    For ``out=`` (kaon arrays are immutable), other keyword arguments, or input\n"
        "    dtypes the ufunc does not accept.\n"
        + ("ValueError\n    For operands whose shapes do not broadcast.\n" if nin == 2 else "")
        + "\n"
        + _example(name, nin, entry)
    )


class ufunc:  # noqa: N801 - named like numpy.ufunc and dask.array.ufunc.ufunc
    """A NumPy ufunc that stays lazy on kaon arrays, like ``dask.array.ufunc.ufunc``.

    Called with a kaon array among its operands it returns a lazy kaon :class:`Array`;
    with only in-memory operands it calls NumPy's ufunc of the same name. Every name in
    :data:`kaon.array.UFUNCS` is one, in :mod:`kaon.array` (``ka.sin``); NumPy's own
    ufuncs applied to kaon arrays (``np.sin(x)``) come here as well.

    Parameters
    ----------
    name : str
        NumPy's name of the ufunc, e.g. ``"sin"``.
    nin : int
        Number of operands (1 or 2).

    Attributes
    ----------
    nin, nout : int
        Numbers of operands and of results (always 1), as on ``numpy.ufunc``.

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.sin
    <kaon.array.ufunc 'sin'>
    >>> ka.sin.nin, ka.add.nin
    (1, 2)
    """

    def __init__(self, name: str, nin: int) -> None:
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = "kaon.array"
        self.nin = nin
        self.nout = 1
        self._ufunc: np.ufunc = getattr(np, name)
        self.__doc__ = _ufunc_doc(name, nin)
        positional = inspect.Parameter.POSITIONAL_ONLY
        operands = ["x"] if nin == 1 else ["x1", "x2"]
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(o, positional, annotation="ArrayOrScalar") for o in operands]
            + [
                inspect.Parameter(
                    "dtype", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Any"
                )
            ],
            return_annotation="Array",
        )

    def __call__(self, *args: ArrayOrScalar, dtype: Any = None, **kwargs: Any) -> Any:
        """Applies the ufunc; see the class docstring of this ufunc (``help(ka.sin)``)."""
        if kwargs.get("out") is not None:
            raise TypeError("kaon arrays are immutable: out= is not supported")
        kwargs.pop("out", None)
        if kwargs:
            raise TypeError(
                f"{self.__name__}: unsupported keyword arguments {', '.join(sorted(kwargs))}"
            )
        d = normalize_dtype(dtype)
        r = apply_ufunc(self.__name__, *args)
        return r if d is None or not isinstance(r, Array) else r.astype(d)

    def __repr__(self) -> str:
        return f"<kaon.array.ufunc '{self.__name__}'>"


for _name, _nin in UFUNCS.items():
    globals()[_name] = ufunc(_name, _nin)
    __all__.append(_name)
for _alias, _name in ALIASES.items():
    if _name in UFUNCS:
        globals()[_alias] = globals()[_name]
        __all__.append(_alias)


def where(condition: ArrayOrScalar, x: ArrayOrScalar = None, y: ArrayOrScalar = None) -> Any:
    """Elements of ``x`` where ``condition`` is true (non-zero), else of ``y``.

    Like ``numpy.where`` and ``dask.array.where`` with three arguments; lazy when any
    operand is a kaon array (NumPy's ``where`` otherwise), and fused with the work
    around it.

    Parameters
    ----------
    condition : Array or array_like
        Where true (non-zero, NaN included), take ``x``.
    x, y : Array or array_like
        The values to choose from (scalars included). The three operands broadcast as in
        NumPy; along an axis where two have a length other than 1, their chunks must
        agree.

    Returns
    -------
    Array
        Lazy, of the promoted dtype of ``x`` and ``y`` (Python scalars are weak:
        ``where(c, int32_array, 0)`` stays int32).

    Raises
    ------
    NotImplementedError
        For the one-argument form (``nonzero``), whose result has an unknown shape.
    ValueError
        When only one of ``x`` and ``y`` is given, or the shapes do not broadcast.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.arange(6, chunks=3)
    >>> y = ka.where(x > 2, x, -1)
    >>> y.dtype, y.chunks
    (dtype('int64'), ((3, 3),))
    >>> y.compute()  # doctest: +SKIP
    array([-1, -1, -1,  3,  4,  5])
    """
    if x is None and y is None:
        raise NotImplementedError("where(condition) (nonzero) is not supported by kaon arrays")
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    return apply_ufunc("where", condition, x, y)


def clip(
    a: ArrayOrScalar,
    a_min: ArrayOrScalar = None,
    a_max: ArrayOrScalar = None,
    out: None = None,
    **kwargs: Any,
) -> Any:
    """Limits the values of ``a`` to the interval ``[a_min, a_max]``.

    Like ``numpy.clip`` and ``dask.array.clip``: ``minimum(maximum(a, a_min), a_max)``,
    lazily; NaN stays NaN. Either bound may be None (no limit on that side). NumPy 2's
    keyword names ``min=`` and ``max=`` are accepted too.

    Parameters
    ----------
    a : Array or array_like
        Input values.
    a_min, a_max : scalar or Array, optional
        The lower and upper bounds (arrays broadcast against ``a``).
    out : None
        Not supported (kaon arrays are immutable).
    **kwargs
        ``min`` and ``max``, NumPy 2's names of the bounds.

    Returns
    -------
    Array
        Lazy, of the promoted dtype of ``a`` and the bounds.

    Raises
    ------
    ValueError
        If neither bound is given.
    TypeError
        For ``out=`` or other keyword arguments.

    Examples
    --------
    >>> import kaon.array as ka
    >>> ka.clip(ka.arange(6, chunks=3), 1, 4).compute()  # doctest: +SKIP
    array([1, 1, 2, 3, 4, 4])
    """
    if out is not None:
        raise TypeError("kaon arrays are immutable: out= is not supported")
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if kwargs:
        raise TypeError(f"clip: unexpected keyword arguments {', '.join(sorted(kwargs))}")
    if a_min is None and a_max is None:
        raise ValueError("One of max or min must be given")
    r = a
    if a_min is not None:
        r = apply_ufunc("maximum", r, a_min)
    if a_max is not None:
        r = apply_ufunc("minimum", r, a_max)
    return r


def round(a: ArrayOrScalar, decimals: int = 0, out: None = None) -> Any:  # noqa: A001
    """Rounds to the given number of decimals, halves to even.

    Like ``numpy.round`` (and ``around``) and ``dask.array.round``: floats become
    ``rint(a * 10**decimals) / 10**decimals``, NumPy's method, so a decimal ending in 5
    may round either way (binary floats hold most decimals inexactly), as in NumPy.
    Integers are returned as they are for
    ``decimals >= 0``, and rounded to tens, hundreds, ... (halves to even) otherwise.

    Parameters
    ----------
    a : Array or array_like
        Input values (NumPy rounds in-memory input at once).
    decimals : int
        Number of decimals to keep; negative values round to the left of the point.
    out : None
        Not supported (kaon arrays are immutable).

    Returns
    -------
    Array
        Lazy, of the dtype of ``a``.

    Raises
    ------
    TypeError
        For ``out=``.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.linspace(0, 1, 5, chunks=2)
    >>> ka.round(x, 1).dtype
    dtype('float64')
    >>> ka.round(x, 1).compute()  # doctest: +SKIP
    array([0. , 0.2, 0.5, 0.8, 1. ])
    >>> ka.round(ka.arange(0, 100, 25, chunks=2), -1).compute()  # doctest: +SKIP
    array([ 0, 20, 50, 80])
    """
    if out is not None:
        raise TypeError("kaon arrays are immutable: out= is not supported")
    if not isinstance(a, Array):
        return np.round(a, decimals)
    decimals = int(decimals)
    if a.dtype.kind in "biu":
        if decimals >= 0:
            return a
        # Half to even, as NumPy: q = a // f, r = a % f (0 <= r < f).
        f = 10 ** (-decimals)
        q, r = a // f, a % f
        up = (r * 2 > f) | ((r * 2 == f) & (q % 2 == 1))
        return (q + up.astype(a.dtype)) * f
    if decimals == 0:
        return apply_ufunc("rint", a)
    if decimals > 0:
        f = a.dtype.type(10.0**decimals)
        return apply_ufunc("divide", apply_ufunc("rint", apply_ufunc("multiply", a, f)), f)
    f = a.dtype.type(10.0 ** (-decimals))
    return apply_ufunc("multiply", apply_ufunc("rint", apply_ufunc("divide", a, f)), f)


around = round
