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
from kaon.array.core import Array, as_scalar, check_dtype

__all__ = [
    "Generator",
    "RandomState",
    "default_rng",
    "random",
    "random_sample",
    "seed",
    "uniform",
]

SeedLike = Union[None, int, np.integer, np.random.SeedSequence]

_U64 = 2**64


def _kaon_random(size: Any, chunks: ChunksLike, seed: int) -> Array:
    shape = normalize_shape(size)
    return Array(_kaon.Array.random([list(c) for c in normalize_chunks(chunks, shape)], seed))


def _uniform(array: Array, low: Any, high: Any) -> Array:
    lo, hi = as_scalar(low), as_scalar(high)
    if lo is None or hi is None:
        raise TypeError("low and high must be real scalars (array bounds are not supported yet)")
    if (lo, hi) == (0.0, 1.0):
        return array
    return array * (hi - lo) + lo


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
        check_dtype(kwargs.pop("dtype", None))
        return _kaon_random(size, chunks, self._next_seed())

    random = random_sample

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
            float64 only.
        out : None
            Not supported.
        chunks : int, tuple, dict or "auto"
            How to cut the array into chunks.
        """
        if out is not None:
            raise TypeError("out= is not supported")
        check_dtype(dtype)
        return self._state.random_sample(size, chunks)

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
    check_dtype(kwargs.pop("dtype", None))
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    s = _global._next_seed() if seed is None else _check_seed(seed)
    return _kaon_random(size, chunks, s)


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
