"""Lazy NumPy ufuncs over kaon arrays, generated from the extension's table of ops.

Every NumPy ufunc name the engine computes (``kaon._kaon.ufuncs()``) becomes a
:class:`ufunc` here and in :mod:`kaon.array`; adding an op to that table adds it here
with no further code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kaon.array.core import UFUNCS, apply_ufunc, check_dtype

__all__ = ["ALIASES", "ufunc"]


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
                "    Inputs; two kaon arrays must have the same shape and chunks.\n"
            )
            + "dtype : dtype, optional\n    float64 only.\n\n"
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
        check_dtype(dtype)
        return apply_ufunc(self.__name__, *args)

    def __repr__(self) -> str:
        return f"<kaon.array.ufunc '{self.__name__}'>"


#: Other names NumPy gives the same ufuncs.
ALIASES = {"abs": "absolute", "true_divide": "divide", "fabs": "absolute", "pow": "power"}

for _name, _nin in UFUNCS.items():
    globals()[_name] = ufunc(_name, _nin)
    __all__.append(_name)
for _alias, _name in ALIASES.items():
    if _name in UFUNCS:
        globals()[_alias] = globals()[_name]
        __all__.append(_alias)
