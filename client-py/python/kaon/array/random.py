"""Random arrays, with dask.array.random's names: ``random``, ``random_sample``,
``uniform``, ``default_rng(seed).random(...)`` and ``RandomState(seed).random_sample(...)``.

The numbers come from Kaon's own counter-based generator: chunk ``c`` of a random
array with seed ``s`` is a pure function of ``(s, c)``, so recomputation (after a
worker died, say) gives the same bits, and the same seed and chunks give the same
array on any cluster. Other chunks give other numbers (as in dask).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from kaon import _kaon
from kaon.array.chunks import ChunksLike, normalize_chunks, normalize_shape
from kaon.array.core import Array, as_scalar, normalize_dtype

__all__ = [
    "Generator",
    "RandomState",
    "default_rng",
    "normal",
    "randint",
    "random",
    "random_sample",
    "seed",
    "standard_normal",
    "uniform",
]

SeedLike = Union[None, int, np.integer, np.random.SeedSequence]

_U64 = 2**64


def _kaon_random(size: Any, chunks: ChunksLike, seed: int) -> Array:
    shape = normalize_shape(size)
    return Array(_kaon.Array.random([list(c) for c in normalize_chunks(chunks, shape)], seed))


def _typed(array: Array, dtype: Any) -> Array:
    """Float32 random numbers are the float64 ones rounded (NumPy draws them anew)."""
    d = normalize_dtype(dtype)
    if d is None or d == np.float64:
        return array
    if d != np.float32:
        raise TypeError(f"random floats are float64 or float32, not {d}")
    return array.astype(d)


def _uniform(array: Array, low: Any, high: Any) -> Array:
    lo, hi = as_scalar(low), as_scalar(high)
    if lo is None or hi is None:
        raise TypeError("low and high must be real scalars (array bounds are not supported yet)")
    if (lo, hi) == (0.0, 1.0):
        return array
    return array * (hi - lo) + lo


def _second_seed(seed: int) -> int:
    """A second stream's seed, derived from the first (SplitMix64's increment)."""
    return (seed * 0x9E3779B97F4A7C15 + 1) % _U64


def _normal(size: Any, chunks: ChunksLike, seed: int, loc: Any, scale: Any) -> Array:
    """Box-Muller from two uniform streams, fused into the consumers' programs:
    ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)`` (u1 < 1, so the log is finite)."""
    from kaon.array import ufuncs

    u1 = _kaon_random(size, chunks, seed)
    u2 = _kaon_random(size, chunks, _second_seed(seed))
    z = ufuncs.sqrt(ufuncs.log1p(-u1) * -2.0) * ufuncs.cos(u2 * (2 * np.pi))
    lo, sc = as_scalar(loc), as_scalar(scale)
    if lo is None or sc is None:
        raise TypeError("loc and scale must be real scalars (array parameters are not supported)")
    if sc < 0:
        raise ValueError("scale < 0")
    if (lo, sc) == (0.0, 1.0):
        return z
    return z * sc + lo


def _integers(
    size: Any, chunks: ChunksLike, seed: int, low: Any, high: Any, dtype: Any, endpoint: bool
) -> Array:
    """Uniform integers in [low, high) (or [low, high] with ``endpoint``)."""
    from kaon.array import ufuncs

    if high is None:
        low, high = 0, low
    if not all(isinstance(v, (int, np.integer)) for v in (low, high)):
        raise TypeError("low and high must be integers")
    low, high = int(low), int(high) + (1 if endpoint else 0)
    if high <= low:
        raise ValueError(f"low >= high: the range [{low}, {high}) is empty")
    d = normalize_dtype(dtype) or np.dtype(np.int64)
    if d.kind not in "iu":
        raise TypeError(f"integers are of an integer dtype, not {d}")
    n = high - low
    u = _kaon_random(size, chunks, seed)
    k = ufuncs.minimum(ufuncs.floor(u * float(n)), float(n - 1)) + float(low)
    return k.astype(d)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, not {seed!r}")
    seed = int(seed)
    if not 0 <= seed < _U64:
        raise ValueError(f"seed must be between 0 and 2**64 - 1, not {seed}")
    return seed


class RandomState:
    """A stream of random arrays, like ``dask.array.random.RandomState``.

    Each call draws a fresh Kaon seed from a NumPy generator seeded with ``seed``,
    so a ``RandomState`` built with the same seed gives the same sequence of arrays.

    Parameters
    ----------
    seed : int, optional
        None: fresh entropy from the operating system.
    """

    def __init__(self, seed: SeedLike = None) -> None:
        self.seed(seed)

    def seed(self, seed: SeedLike = None) -> None:
        """Restarts the stream from ``seed``."""
        self._rng = np.random.default_rng(seed)

    def _next_seed(self) -> int:
        return int(self._rng.integers(0, _U64, dtype=np.uint64))

    def random_sample(self, size: Any = None, chunks: ChunksLike = "auto", **kwargs: Any) -> Array:
        """Uniform random floats in [0, 1) of shape ``size``.

        Parameters
        ----------
        size : int or tuple of int
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict or "auto"
            How to cut the array into chunks.
        """
        return _typed(_kaon_random(size, chunks, self._next_seed()), kwargs.pop("dtype", None))

    random = random_sample

    def standard_normal(
        self, size: Any = None, chunks: ChunksLike = "auto", **kwargs: Any
    ) -> Array:
        """Standard normal floats of shape ``size`` (Box-Muller of two uniform streams)."""
        return _typed(_normal(size, chunks, self._next_seed(), 0.0, 1.0), kwargs.pop("dtype", None))

    def normal(
        self,
        loc: float = 0.0,
        scale: float = 1.0,
        size: Any = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Normal floats with mean ``loc`` and standard deviation ``scale``."""
        return _normal(size, chunks, self._next_seed(), loc, scale)

    def randint(
        self,
        low: int,
        high: Optional[int] = None,
        size: Any = None,
        dtype: Any = np.int64,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform integers in [low, high) (``randint(n)``: in [0, n))."""
        return _integers(size, chunks, self._next_seed(), low, high, dtype, False)

    def uniform(
        self,
        low: float = 0.0,
        high: float = 1.0,
        size: Any = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random floats in [low, high) of shape ``size``."""
        return _uniform(self.random_sample(size, chunks, **kwargs), low, high)


class Generator:
    """Random arrays from a ``numpy.random.Generator``-like object
    (``dask.array.random.default_rng``)."""

    def __init__(self, seed: SeedLike = None) -> None:
        self._state = RandomState(seed)

    def random(
        self,
        size: Any = None,
        dtype: Any = np.float64,
        out: None = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random floats in [0, 1) of shape ``size``.

        Parameters
        ----------
        size : int or tuple of int
            Shape of the array.
        dtype : dtype
            float64 or float32.
        out : None
            Not supported.
        chunks : int, tuple, dict or "auto"
            How to cut the array into chunks.
        """
        if out is not None:
            raise TypeError("out= is not supported")
        return _typed(self._state.random_sample(size, chunks), dtype)

    def uniform(
        self,
        low: float = 0.0,
        high: float = 1.0,
        size: Any = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random floats in [low, high) of shape ``size``."""
        return self._state.uniform(low, high, size, chunks, **kwargs)

    def standard_normal(
        self, size: Any = None, dtype: Any = np.float64, chunks: ChunksLike = "auto", **kwargs: Any
    ) -> Array:
        """Standard normal floats of shape ``size``."""
        return self._state.standard_normal(size, chunks, dtype=dtype)

    def normal(
        self,
        loc: float = 0.0,
        scale: float = 1.0,
        size: Any = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Normal floats with mean ``loc`` and standard deviation ``scale``."""
        return self._state.normal(loc, scale, size, chunks)

    def integers(
        self,
        low: int,
        high: Optional[int] = None,
        size: Any = None,
        dtype: Any = np.int64,
        endpoint: bool = False,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform integers in [low, high) (or [low, high] with ``endpoint``)."""
        return _integers(size, chunks, self._state._next_seed(), low, high, dtype, endpoint)


def default_rng(seed: SeedLike = None) -> Generator:
    """A :class:`Generator` seeded with ``seed`` (None: fresh entropy)."""
    return Generator(seed)


_global = RandomState()


def seed(seed: SeedLike = None) -> None:
    """Seeds the module's stream used by :func:`random` without ``seed=``."""
    _global.seed(seed)


def random(
    size: Any = None, chunks: ChunksLike = "auto", *, seed: Optional[int] = None, **kwargs: Any
) -> Array:
    """Uniform random floats in [0, 1) of shape ``size``.

    Parameters
    ----------
    size : int or tuple of int
        Shape of the array.
    chunks : int, tuple, dict or "auto"
        How to cut the array into chunks, as in dask.array.
    seed : int, optional
        Kaon's generator seed (0 to 2**64 - 1): the same seed and chunks give the
        same numbers, here and from the Rust API. None: the next seed of the
        module's stream (see :func:`seed`).

    Returns
    -------
    Array

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.random((1000, 1000), chunks=(250, 500), seed=1)
    >>> x.numblocks
    (4, 2)
    """
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    s = _global._next_seed() if seed is None else _check_seed(seed)
    return _typed(_kaon_random(size, chunks, s), dtype)


random_sample = random


def uniform(
    low: float = 0.0,
    high: float = 1.0,
    size: Any = None,
    chunks: ChunksLike = "auto",
    *,
    seed: Optional[int] = None,
) -> Array:
    """Uniform random floats in [low, high) of shape ``size``; see :func:`random`."""
    return _uniform(random(size, chunks, seed=seed), low, high)


def _seed_or_next(seed: Optional[int]) -> int:
    return _global._next_seed() if seed is None else _check_seed(seed)


def normal(
    loc: float = 0.0,
    scale: float = 1.0,
    size: Any = None,
    chunks: ChunksLike = "auto",
    *,
    seed: Optional[int] = None,
) -> Array:
    """Normal floats with mean ``loc`` and standard deviation ``scale``, by Box-Muller
    from two of Kaon's uniform streams (seeds ``seed`` and one derived from it).

    Parameters
    ----------
    loc, scale : float
        Mean and standard deviation.
    size : int or tuple of int
        Shape of the array.
    chunks : int, tuple, dict or "auto"
        How to cut the array into chunks.
    seed : int, optional
        As in :func:`random`.

    Returns
    -------
    Array
    """
    return _normal(size, chunks, _seed_or_next(seed), loc, scale)


def standard_normal(
    size: Any = None, chunks: ChunksLike = "auto", *, seed: Optional[int] = None
) -> Array:
    """Standard normal floats; see :func:`normal`."""
    return _normal(size, chunks, _seed_or_next(seed), 0.0, 1.0)


def randint(
    low: int,
    high: Optional[int] = None,
    size: Any = None,
    chunks: ChunksLike = "auto",
    dtype: Any = np.int64,
    *,
    seed: Optional[int] = None,
) -> Array:
    """Uniform integers in [low, high) (``randint(n)``: in [0, n)), from Kaon's uniform
    stream: ``floor(u * (high - low)) + low``.

    Returns
    -------
    Array
        Of ``dtype`` (int64 by default).
    """
    return _integers(size, chunks, _seed_or_next(seed), low, high, dtype, False)
