"""Lazy NumPy ufuncs over kaon arrays, generated from the extension's table of ops.

Every NumPy ufunc name the engine computes (``kaon._kaon.ufuncs()``) becomes a
:class:`ufunc` here and in :mod:`kaon.array`; adding an op to that table adds it here
with no further code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kaon.array.core import UFUNCS, Array, apply_ufunc, normalize_dtype

__all__ = ["ALIASES", "around", "clip", "round", "ufunc", "where"]


class ufunc:  # noqa: N801 - named like numpy.ufunc and dask.array.ufunc.ufunc
    """A NumPy ufunc that stays lazy on kaon arrays.

    Called with a kaon array among its operands it returns a kaon array; with only
    in-memory operands it calls NumPy's ufunc of the same name.
    """

    def __init__(self, name: str, nin: int) -> None:
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = "kaon.array"
        self.nin = nin
        self.nout = 1
        self._ufunc: np.ufunc = getattr(np, name)
        summary = (self._ufunc.__doc__ or "").strip().split("\n\n")
        first = next((p.strip() for p in summary[1:] if p.strip()), name)
        operands = "x" if nin == 1 else "x1, x2"
        self.__doc__ = (
            f"{name}({operands}, /, dtype=None)\n\n"
            f"{first}\n\n"
            f"Lazy, elementwise, on kaon arrays (numpy.{name} on in-memory operands).\n\n"
            "Parameters\n----------\n"
            + (
                "x : Array or scalar\n    Input.\n"
                if nin == 1
                else "x1, x2 : Array or scalar\n"
                "    Inputs; two kaon arrays must have the same shape and chunks. Python\n"
                "    scalars are weak (NEP 50): ``int32_array + 1`` stays int32.\n"
            )
            + "dtype : dtype, optional\n    Convert the result to this dtype.\n\n"
            "Returns\n-------\nArray\n"
        )

    def __call__(self, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
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

for _name, _nin in UFUNCS.items():
    globals()[_name] = ufunc(_name, _nin)
    __all__.append(_name)
for _alias, _name in ALIASES.items():
    if _name in UFUNCS:
        globals()[_alias] = globals()[_name]
        __all__.append(_alias)


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """Elements of ``x`` where ``condition`` is true (non-zero), else of ``y``.

    Lazy when any operand is a kaon array (NumPy's ``where`` otherwise).

    Parameters
    ----------
    condition : Array or scalar
        Where true, take ``x``.
    x, y : Array or scalar
        The values; the result's dtype is their promoted dtype (Python scalars are weak).

    Returns
    -------
    Array

    Raises
    ------
    NotImplementedError
        For the one-argument form (``nonzero``), which has an unknown result shape.
    """
    if x is None and y is None:
        raise NotImplementedError("where(condition) (nonzero) is not supported by kaon arrays")
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    return apply_ufunc("where", condition, x, y)


def clip(a: Any, a_min: Any = None, a_max: Any = None, out: None = None, **kwargs: Any) -> Any:
    """Limits the values of ``a`` to ``[a_min, a_max]`` (either may be None), as
    ``numpy.clip``: ``minimum(maximum(a, a_min), a_max)``; NaN propagates.

    Parameters
    ----------
    a : Array
        Input.
    a_min, a_max : scalar or Array, optional
        The bounds.

    Returns
    -------
    Array
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


def round(a: Any, decimals: int = 0, out: None = None) -> Any:  # noqa: A001
    """Rounds to ``decimals`` decimals, halves to even, as ``numpy.round``
    (``rint(a * 10**decimals) / 10**decimals``; integers are returned as they are for
    ``decimals >= 0``).

    Parameters
    ----------
    a : Array
        Input.
    decimals : int
        Number of decimals (negative: round to tens, hundreds, ...).

    Returns
    -------
    Array
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
