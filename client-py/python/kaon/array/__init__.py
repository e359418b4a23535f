"""``kaon.array``: lazy chunked arrays with dask.array's API, computed by Kaon.

>>> import kaon, kaon.array as ka
>>> client = kaon.Client()                                  # doctest: +SKIP
>>> x = ka.random.random((10000, 10000, 10), chunks=(1000, 1000, 10), seed=1)
>>> y = ka.random.random((10000, 10000, 10), chunks=(1000, 1000, 10), seed=2)
>>> z = (ka.arcsin(x) + ka.arccos(y)).sum(axis=(1, 2))
>>> z.compute()                                             # doctest: +SKIP

What exists: arrays of float64, float32, int64, int32, uint8 and bool with NumPy 2's
promotion rules (Python scalars are weak) and ``astype``; ``random`` (``random``,
``uniform``, ``normal``, ``randint``, ``default_rng``, ``RandomState``), ``ones``,
``zeros``, ``empty``, ``full``, ``*_like``, ``arange``, ``linspace`` and ``eye``; the
NumPy ufuncs in :data:`UFUNCS` (also through ``np.sin(x)`` and every arithmetic,
comparison and bitwise operator), ``where``, ``clip`` and ``round``; the reductions
``sum``, ``prod``, ``min``, ``max``, ``mean``, ``var``, ``std``, ``any``, ``all`` and
the ``nan*`` forms over any axes, with ``keepdims``, ``dtype`` and ``split_every``.
Operands broadcast as in NumPy (``x - x.mean(axis=0)``, ``broadcast_to``); along an
axis where two operands both have a length other than 1, their chunks must agree.
Kernels hold integer and bool values as int64 (exact, wrapping on overflow as NumPy's
integers do) and float values as float64.
"""

from kaon.array import random
from kaon.array.chunks import normalize_chunks
from kaon.array.core import REDUCTIONS, UFUNCS, Array, broadcast_to
from kaon.array.creation import (
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from kaon.array.layout import (
    asarray,
    concatenate,
    dot,
    from_array,
    histogram,
    matmul,
    moveaxis,
    rechunk,
    reshape,
    stack,
    swapaxes,
    tensordot,
    transpose,
)
from kaon.array.reductions import (
    all,
    amax,
    amin,
    any,
    max,
    mean,
    min,
    nanmax,
    nanmean,
    nanmin,
    nanprod,
    nansum,
    prod,
    std,
    sum,
    var,
)
from kaon.array.routines import (
    argmax,
    argmin,
    bincount,
    count_nonzero,
    cumprod,
    cumsum,
    nanargmax,
    nanargmin,
    nancumprod,
    nancumsum,
    percentile,
    unique,
)
from kaon.array.ufuncs import ALIASES, around, clip, round, ufunc, where

__all__ = [
    "REDUCTIONS",
    "UFUNCS",
    "Array",
    "all",
    "amax",
    "amin",
    "any",
    "arange",
    "argmax",
    "argmin",
    "around",
    "asarray",
    "bincount",
    "broadcast_to",
    "clip",
    "concatenate",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "dot",
    "empty",
    "empty_like",
    "eye",
    "full",
    "from_array",
    "full_like",
    "histogram",
    "linspace",
    "matmul",
    "max",
    "mean",
    "min",
    "moveaxis",
    "nanargmax",
    "nanargmin",
    "nancumprod",
    "nancumsum",
    "nanmax",
    "nanmean",
    "nanmin",
    "nanprod",
    "nansum",
    "normalize_chunks",
    "ones",
    "ones_like",
    "percentile",
    "prod",
    "random",
    "rechunk",
    "reshape",
    "round",
    "stack",
    "std",
    "sum",
    "swapaxes",
    "tensordot",
    "transpose",
    "ufunc",
    "unique",
    "var",
    "where",
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
