"""``kaon.array``: lazy chunked arrays with dask.array's API, computed by Kaon.

>>> import kaon, kaon.array as ka
>>> client = kaon.Client()                                  # doctest: +SKIP
>>> x = ka.random.random((10000, 10000, 10), chunks=(1000, 1000, 10), seed=1)
>>> y = ka.random.random((10000, 10000, 10), chunks=(1000, 1000, 10), seed=2)
>>> z = (ka.arcsin(x) + ka.arccos(y)).sum(axis=(1, 2))
>>> z.compute()                                             # doctest: +SKIP

What exists: float64 arrays; ``random``, ``ones``, ``zeros``, ``empty``, ``full``
and ``*_like``; the NumPy ufuncs in :data:`UFUNCS` (also through ``np.sin(x)`` and
operators ``+ - * / **``, unary ``-`` and ``abs``); the reductions ``sum``, ``prod``,
``min``, ``max`` and ``mean`` over any axes. Operands of a binary operation must have
the same shape and chunks (no broadcasting or rechunking yet).
"""

from kaon.array import random
from kaon.array.chunks import normalize_chunks
from kaon.array.core import REDUCTIONS, UFUNCS, Array
from kaon.array.creation import (
    empty,
    empty_like,
    full,
    full_like,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from kaon.array.reductions import amax, amin, max, mean, min, prod, sum
from kaon.array.ufuncs import ALIASES, ufunc

__all__ = [
    "REDUCTIONS",
    "UFUNCS",
    "Array",
    "amax",
    "amin",
    "empty",
    "empty_like",
    "full",
    "full_like",
    "max",
    "mean",
    "min",
    "normalize_chunks",
    "ones",
    "ones_like",
    "prod",
    "random",
    "sum",
    "ufunc",
    "zeros",
    "zeros_like",
]


def _export_ufuncs() -> None:
    from kaon.array import ufuncs

    for name in list(UFUNCS) + [a for a, n in ALIASES.items() if n in UFUNCS]:
        globals()[name] = getattr(ufuncs, name)
        __all__.append(name)


_export_ufuncs()


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
