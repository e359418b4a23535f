"""Random arrays, with dask.array.random's names: ``random``, ``random_sample``,
``uniform``, ``normal``, ``standard_normal``, ``randint``, ``default_rng(seed)`` (a
:class:`Generator`) and ``RandomState(seed)``.

The numbers come from Kaon's own counter-based generator, not NumPy's: chunk ``c`` of a
random array with seed ``s`` is a pure function of ``(s, c)``, so recomputation (after a
worker died, say) gives the same bits, and the same seed and chunks give the same array
on any cluster, and from Kaon's Rust API. Other chunks give other numbers (as in dask),
and no seed gives the numbers NumPy or dask would. The module functions take a ``seed=``
keyword (a Kaon extension); without it they draw the next seed of a module-wide stream
(see :func:`seed`).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from kaon import _kaon
from kaon.array.chunks import ChunksLike, normalize_chunks, normalize_shape
from kaon.array.core import EXACT_INT, Array, as_scalar, inexact_int_error, normalize_dtype

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


#: A shape: None (a 0-d array), an int (one axis) or a tuple of ints.
SizeLike = Union[None, int, tuple[int, ...], list[int]]


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
    # u1 is a multiple of 2**-53 in [0, 1), so 1 - u1 is exact and log(1 - u1) is
    # log1p(-u1) (the vectorized log is several times faster than log1p).
    z = ufuncs.sqrt(ufuncs.log(1.0 - u1) * -2.0) * ufuncs.cos(u2 * (2 * np.pi))
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
    if max(abs(low), abs(high)) > EXACT_INT:
        raise inexact_int_error(f"the range [{low}, {high}) goes beyond")
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

    Each call draws a fresh Kaon seed from a NumPy generator seeded with ``seed``, so a
    ``RandomState`` built with the same seed gives the same sequence of arrays (for the
    same calls with the same chunks). The numbers are Kaon's, not NumPy's.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        Seeds the stream of Kaon seeds; None takes fresh entropy from the operating
        system.

    Examples
    --------
    >>> import kaon.array as ka
    >>> rs = ka.random.RandomState(42)
    >>> x = rs.random_sample((1000, 1000), chunks=500)
    >>> x.dtype, x.numblocks
    (dtype('float64'), (2, 2))
    """

    def __init__(self, seed: SeedLike = None) -> None:
        self.seed(seed)

    def seed(self, seed: SeedLike = None) -> None:
        """Restarts the stream from ``seed``.

        Parameters
        ----------
        seed : int, numpy.random.SeedSequence or None
            As for the constructor; None takes fresh entropy.
        """
        self._rng = np.random.default_rng(seed)

    def _next_seed(self) -> int:
        return int(self._rng.integers(0, _U64, dtype=np.uint64))

    def random_sample(
        self, size: SizeLike = None, chunks: ChunksLike = "auto", **kwargs: Any
    ) -> Array:
        """Uniform random floats in [0, 1).

        Like ``dask.array.random.RandomState.random_sample`` (also available as
        ``random``).

        Parameters
        ----------
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            ``dtype``: float64 (the default) or float32 (the float64 numbers rounded).

        Returns
        -------
        Array
            Lazy; each chunk is generated where it is consumed.

        Raises
        ------
        TypeError
            For a dtype other than float64 and float32.
        """
        return _typed(_kaon_random(size, chunks, self._next_seed()), kwargs.pop("dtype", None))

    random = random_sample

    def standard_normal(
        self, size: SizeLike = None, chunks: ChunksLike = "auto", **kwargs: Any
    ) -> Array:
        """Standard normal floats (mean 0, standard deviation 1).

        Like ``dask.array.random.RandomState.standard_normal``; computed by Box-Muller
        from two of Kaon's uniform streams (see :func:`normal`).

        Parameters
        ----------
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            ``dtype``: float64 (the default) or float32.

        Returns
        -------
        Array
        """
        return _typed(_normal(size, chunks, self._next_seed(), 0.0, 1.0), kwargs.pop("dtype", None))

    def normal(
        self,
        loc: float = 0.0,
        scale: float = 1.0,
        size: SizeLike = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Normal (Gaussian) floats with mean ``loc`` and standard deviation ``scale``.

        Like ``dask.array.random.RandomState.normal``; computed by Box-Muller from two of
        Kaon's uniform streams (see :func:`normal`).

        Parameters
        ----------
        loc, scale : float
            Mean and standard deviation (``scale >= 0``); scalars only.
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            Accepted for dask's signature and ignored.

        Returns
        -------
        Array

        Raises
        ------
        TypeError
            For array ``loc`` or ``scale``.
        ValueError
            For ``scale < 0``.
        """
        return _normal(size, chunks, self._next_seed(), loc, scale)

    def randint(
        self,
        low: int,
        high: Optional[int] = None,
        size: SizeLike = None,
        dtype: npt.DTypeLike = np.int64,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random integers in ``[low, high)``.

        Like ``dask.array.random.RandomState.randint``: ``randint(n)`` draws from
        ``[0, n)``. Computed as ``floor(u * (high - low)) + low`` from a uniform ``u``,
        so the range should stay well within 2**53 for every value to be equally likely.

        Parameters
        ----------
        low : int
            Lowest value (or, without ``high``, one above the highest, from 0).
        high : int, optional
            One above the highest value.
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        dtype : dtype
            An integer dtype: int64 (the default), int32 or uint8.
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            Accepted for dask's signature and ignored.

        Returns
        -------
        Array

        Raises
        ------
        TypeError
            For bounds that are not integers, or a dtype that is not an integer one.
        ValueError
            For an empty range (``high <= low``).
        """
        return _integers(size, chunks, self._next_seed(), low, high, dtype, False)

    def uniform(
        self,
        low: float = 0.0,
        high: float = 1.0,
        size: SizeLike = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random floats in ``[low, high)``.

        Like ``dask.array.random.RandomState.uniform``: ``low + (high - low) * u`` from
        a uniform ``u`` in [0, 1).

        Parameters
        ----------
        low, high : float
            The interval; scalars only.
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            ``dtype``: float64 (the default) or float32.

        Returns
        -------
        Array

        Raises
        ------
        TypeError
            For array bounds.
        """
        return _uniform(self.random_sample(size, chunks, **kwargs), low, high)


class Generator:
    """Random arrays from a ``numpy.random.Generator``-like object.

    What ``dask.array.random.default_rng(seed)`` returns: each call draws a fresh Kaon
    seed from a NumPy generator seeded with ``seed``, so the same seed gives the same
    sequence of arrays (for the same calls with the same chunks). The numbers are
    Kaon's, not NumPy's.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        Seeds the stream of Kaon seeds; None takes fresh entropy from the operating
        system.

    Examples
    --------
    >>> import kaon.array as ka
    >>> rng = ka.random.default_rng(42)
    >>> x = rng.standard_normal((1000, 1000), chunks=500, dtype="float32")
    >>> x.dtype, x.numblocks
    (dtype('float32'), (2, 2))
    """

    def __init__(self, seed: SeedLike = None) -> None:
        self._state = RandomState(seed)

    def random(
        self,
        size: SizeLike = None,
        dtype: npt.DTypeLike = np.float64,
        out: None = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random floats in [0, 1).

        Like ``numpy.random.Generator.random`` (with dask's ``chunks``).

        Parameters
        ----------
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        dtype : dtype
            float64, or float32 (the float64 numbers rounded; NumPy draws float32
            numbers of their own).
        out : None
            Not supported (kaon arrays are immutable).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            Accepted for dask's signature and ignored.

        Returns
        -------
        Array

        Raises
        ------
        TypeError
            For ``out=``, or a dtype other than float64 and float32.
        """
        if out is not None:
            raise TypeError("out= is not supported")
        return _typed(self._state.random_sample(size, chunks), dtype)

    def uniform(
        self,
        low: float = 0.0,
        high: float = 1.0,
        size: SizeLike = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random floats in ``[low, high)``.

        Like ``numpy.random.Generator.uniform``: ``low + (high - low) * u``.

        Parameters
        ----------
        low, high : float
            The interval; scalars only.
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            ``dtype``: float64 (the default) or float32.

        Returns
        -------
        Array
        """
        return self._state.uniform(low, high, size, chunks, **kwargs)

    def standard_normal(
        self,
        size: SizeLike = None,
        dtype: npt.DTypeLike = np.float64,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Standard normal floats (mean 0, standard deviation 1).

        Like ``numpy.random.Generator.standard_normal``, by Box-Muller from two of
        Kaon's uniform streams (NumPy uses the ziggurat method: other numbers).

        Parameters
        ----------
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        dtype : dtype
            float64 or float32.
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            Accepted for dask's signature and ignored.

        Returns
        -------
        Array
        """
        return self._state.standard_normal(size, chunks, dtype=dtype)

    def normal(
        self,
        loc: float = 0.0,
        scale: float = 1.0,
        size: SizeLike = None,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Normal (Gaussian) floats with mean ``loc`` and standard deviation ``scale``.

        Like ``numpy.random.Generator.normal``, by Box-Muller (see :func:`normal`).

        Parameters
        ----------
        loc, scale : float
            Mean and standard deviation (``scale >= 0``); scalars only.
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            Accepted for dask's signature and ignored.

        Returns
        -------
        Array

        Raises
        ------
        ValueError
            For ``scale < 0``.
        """
        return self._state.normal(loc, scale, size, chunks)

    def integers(
        self,
        low: int,
        high: Optional[int] = None,
        size: SizeLike = None,
        dtype: npt.DTypeLike = np.int64,
        endpoint: bool = False,
        chunks: ChunksLike = "auto",
        **kwargs: Any,
    ) -> Array:
        """Uniform random integers in ``[low, high)``, or ``[low, high]`` with ``endpoint``.

        Like ``numpy.random.Generator.integers``: ``integers(n)`` draws from ``[0, n)``.
        Computed as ``floor(u * n) + low`` from a uniform ``u``, so the range should stay
        well within 2**53 for every value to be equally likely.

        Parameters
        ----------
        low : int
            Lowest value (or, without ``high``, one above the highest, from 0).
        high : int, optional
            One above the highest value (the highest itself with ``endpoint``).
        size : int or tuple of int, optional
            Shape of the array (None: a 0-d array).
        dtype : dtype
            An integer dtype: int64 (the default), int32 or uint8.
        endpoint : bool
            Include ``high``.
        chunks : int, tuple, dict, str or "auto"
            How to cut the array into chunks, in any form dask.array takes. The numbers
            depend on the chunks: the same seed with other chunks gives other numbers.
        **kwargs
            Accepted for dask's signature and ignored.

        Returns
        -------
        Array

        Raises
        ------
        TypeError
            For bounds that are not integers, or a dtype that is not an integer one.
        ValueError
            For an empty range.
        """
        return _integers(size, chunks, self._state._next_seed(), low, high, dtype, endpoint)


def default_rng(seed: SeedLike = None) -> Generator:
    """A :class:`Generator` of random arrays, like ``dask.array.random.default_rng``.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        Seeds the generator's stream of Kaon seeds; None takes fresh entropy.

    Returns
    -------
    Generator

    Examples
    --------
    >>> import kaon.array as ka
    >>> rng = ka.random.default_rng(7)
    >>> rng.integers(0, 10, size=100, chunks=50).dtype
    dtype('int64')
    """
    return Generator(seed)


_global = RandomState()


def seed(seed: SeedLike = None) -> None:
    """Seeds the module's stream of Kaon seeds, like ``dask.array.random.seed``.

    The module functions (:func:`random`, :func:`normal`, ...) called without
    ``seed=`` draw their seeds from this stream.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence or None
        None takes fresh entropy from the operating system.
    """
    _global.seed(seed)


def random(
    size: SizeLike = None,
    chunks: ChunksLike = "auto",
    *,
    seed: Optional[int] = None,
    **kwargs: Any,
) -> Array:
    """Uniform random floats in [0, 1).

    Like ``dask.array.random.random`` (also available as ``random_sample``), with
    Kaon's ``seed=``: the numbers come from Kaon's counter-based generator, where chunk
    ``c`` is a pure function of ``(seed, c)`` (recomputing a lost chunk gives the same
    bits), not from NumPy's.

    Parameters
    ----------
    size : int or tuple of int, optional
        Shape of the array (None: a 0-d array).
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes. The numbers
        depend on the chunks: the same seed with other chunks gives other numbers.
    seed : int, optional
        Kaon's generator seed, 0 to 2**64 - 1: the same seed and chunks give the same
        numbers, on any cluster and from the Rust API. None: the next seed of the
        module's stream (see :func:`seed`).
    **kwargs
        ``dtype``: float64 (the default) or float32 (the float64 numbers rounded).

    Returns
    -------
    Array
        Lazy; each chunk is generated where it is consumed, and never stored.

    Raises
    ------
    TypeError
        For a seed that is not an int, a dtype other than float64 and float32, or
        other keyword arguments.
    ValueError
        For a seed out of range.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.random((1000, 1000), chunks=(250, 500), seed=1)
    >>> x.dtype, x.numblocks
    (dtype('float64'), (4, 2))
    >>> y = ka.random.random((1000, 1000), chunks=(250, 500), seed=1)
    >>> bool((x == y).all().compute())  # the same seed and chunks  # doctest: +SKIP
    True
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
    size: SizeLike = None,
    chunks: ChunksLike = "auto",
    *,
    seed: Optional[int] = None,
) -> Array:
    """Uniform random floats in ``[low, high)``.

    Like ``dask.array.random.uniform``, with Kaon's ``seed=`` (see :func:`random`):
    ``low + (high - low) * u`` from a uniform ``u`` in [0, 1).

    Parameters
    ----------
    low, high : float
        The interval; scalars only.
    size : int or tuple of int, optional
        Shape of the array (None: a 0-d array).
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes. The numbers
        depend on the chunks: the same seed with other chunks gives other numbers.
    seed : int, optional
        Kaon's generator seed, as in :func:`random`.

    Returns
    -------
    Array

    Raises
    ------
    TypeError
        For array bounds, or a seed that is not an int.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.uniform(-1, 1, size=1000, chunks=100, seed=3)
    >>> x.shape, x.dtype
    ((1000,), dtype('float64'))
    """
    return _uniform(random(size, chunks, seed=seed), low, high)


def _seed_or_next(seed: Optional[int]) -> int:
    return _global._next_seed() if seed is None else _check_seed(seed)


def normal(
    loc: float = 0.0,
    scale: float = 1.0,
    size: SizeLike = None,
    chunks: ChunksLike = "auto",
    *,
    seed: Optional[int] = None,
) -> Array:
    """Normal (Gaussian) floats with mean ``loc`` and standard deviation ``scale``.

    Like ``dask.array.random.normal``, with Kaon's ``seed=``. Computed by the
    Box-Muller transform from two of Kaon's uniform streams (seeds ``seed`` and one
    derived from it): ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)``, fused into the programs
    of the chunks that consume it (nothing is stored). NumPy and dask use other
    methods, hence other numbers.

    Parameters
    ----------
    loc, scale : float
        Mean and standard deviation (``scale >= 0``); scalars only.
    size : int or tuple of int, optional
        Shape of the array (None: a 0-d array).
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes. The numbers
        depend on the chunks: the same seed with other chunks gives other numbers.
    seed : int, optional
        Kaon's generator seed, as in :func:`random`.

    Returns
    -------
    Array
        Of dtype float64.

    Raises
    ------
    TypeError
        For array ``loc`` or ``scale``, or a seed that is not an int.
    ValueError
        For ``scale < 0``.

    Examples
    --------
    >>> import kaon.array as ka
    >>> x = ka.random.normal(10.0, 2.0, size=(4000, 4000), chunks=1000, seed=5)
    >>> x.numblocks
    (4, 4)
    >>> round(float(x.std().compute()), 1)  # doctest: +SKIP
    2.0
    """
    return _normal(size, chunks, _seed_or_next(seed), loc, scale)


def standard_normal(
    size: SizeLike = None, chunks: ChunksLike = "auto", *, seed: Optional[int] = None
) -> Array:
    """Standard normal floats (mean 0, standard deviation 1).

    Like ``dask.array.random.standard_normal``, with Kaon's ``seed=``; see
    :func:`normal` for the method.

    Parameters
    ----------
    size : int or tuple of int, optional
        Shape of the array (None: a 0-d array).
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes. The numbers
        depend on the chunks: the same seed with other chunks gives other numbers.
    seed : int, optional
        Kaon's generator seed, as in :func:`random`.

    Returns
    -------
    Array
        Of dtype float64.
    """
    return _normal(size, chunks, _seed_or_next(seed), 0.0, 1.0)


def randint(
    low: int,
    high: Optional[int] = None,
    size: SizeLike = None,
    chunks: ChunksLike = "auto",
    dtype: npt.DTypeLike = np.int64,
    *,
    seed: Optional[int] = None,
) -> Array:
    """Uniform random integers in ``[low, high)``.

    Like ``dask.array.random.randint`` (``randint(n)`` draws from ``[0, n)``), with
    Kaon's ``seed=``. Computed from Kaon's uniform stream as
    ``floor(u * (high - low)) + low``, so the range should stay well within 2**53 for
    every value to be equally likely.

    Parameters
    ----------
    low : int
        Lowest value (or, without ``high``, one above the highest, from 0).
    high : int, optional
        One above the highest value.
    size : int or tuple of int, optional
        Shape of the array (None: a 0-d array).
    chunks : int, tuple, dict, str or "auto"
        How to cut the array into chunks, in any form dask.array takes. The numbers
        depend on the chunks: the same seed with other chunks gives other numbers.
    dtype : dtype
        An integer dtype: int64 (the default), int32 or uint8.
    seed : int, optional
        Kaon's generator seed, as in :func:`random`.

    Returns
    -------
    Array
        Of ``dtype``.

    Raises
    ------
    TypeError
        For bounds that are not integers, or a dtype that is not an integer one.
    ValueError
        For an empty range (``high <= low``).

    Examples
    --------
    >>> import kaon.array as ka
    >>> dice = ka.random.randint(1, 7, size=10_000, chunks=1000, seed=2)
    >>> dice.dtype, dice.npartitions
    (dtype('int64'), 10)
    >>> ((dice >= 1) & (dice <= 6)).all().compute()  # doctest: +SKIP
    np.True_
    """
    return _integers(size, chunks, _seed_or_next(seed), low, high, dtype, False)
