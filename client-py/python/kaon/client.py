"""The :class:`Client` of a Kaon cluster, :class:`Future` results, and the module
functions ``compute``, ``persist``, ``default_client`` and ``get_client``, with
``distributed``'s and dask's names and signatures."""

from __future__ import annotations

import atexit
import html
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from kaon import _kaon
from kaon.array.core import Array
from kaon.errors import CancelledError, KaonError
from kaon.progress import Tracker

if TYPE_CHECKING:
    from kaon.cluster import LocalCluster

__all__ = ["Client", "Future", "compute", "default_client", "get_client", "persist"]

#: Default seconds to keep trying to reach a scheduler.
DEFAULT_TIMEOUT = 10.0


def normalize_address(address: str) -> str:
    """The ``host:port`` of a scheduler address such as ``tcp://host:port``.

    Parameters
    ----------
    address : str
        ``host:port``, optionally after ``tcp://``, ``grpc://`` or ``http://``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If the address has no port.
    """
    a = address.strip()
    for prefix in ("tcp://", "grpc://", "http://"):
        if a.startswith(prefix):
            a = a[len(prefix) :]
    host, sep, port = a.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"scheduler address {address!r} is not of the form host:port")
    return a


def _as_numpy(flat: np.ndarray, shape: list, dtype: Any = None) -> Any:
    if dtype is not None and dtype != flat.dtype:
        # Kernels hold floats as float64 and integers and bools as int64.
        flat = flat.astype(dtype)
    if not shape:
        return flat[0]  # a NumPy scalar, as NumPy's and dask's reductions give
    return flat.reshape(tuple(shape))


class _Job:
    """One submitted graph, shared by the futures of its outputs."""

    def __init__(self, client: Client, job: _kaon.Job, dtypes: Optional[list] = None) -> None:
        self.client = client
        self._job = job
        self._dtypes = dtypes
        self._results: Optional[list[np.ndarray]] = None
        self._cancelled = False
        # Persisted: the cluster keeps the results for arrays that read them, so
        # fetching them does not release the graph (only the finalizer does).
        self.persisted = False
        self._lock = threading.Lock()
        # Free the results on the cluster when nobody can fetch them any more.
        self._finalizer = weakref.finalize(self, job.release_soon)

    @property
    def status(self) -> str:
        if self._cancelled:
            return "cancelled"
        if self._results is not None:
            return "finished"
        return self._job.status

    def progress(self) -> tuple[int, int, int, int]:
        return self._job.progress()

    def wait_step(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds; True once the graph ended, however."""
        if self._cancelled or self._results is not None:
            return True
        try:
            return self._job.wait(timeout)
        except KaonError:
            return True

    def cancel(self) -> None:
        self._cancelled = True
        self._finalizer.detach()
        self._job.release()

    def _wait(self, timeout: Optional[float], progress: Optional[bool]) -> None:
        tracker = Tracker([self._job], progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        status = "error"
        try:
            while True:
                step = 0.1
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        status = "timed out"
                        raise TimeoutError(
                            f"graph {self._job.graph_id} did not finish within {timeout} s"
                        )
                    step = min(step, left)
                if self._job.wait(step):
                    status = "finished"
                    return
                tracker.tick()
        except KeyboardInterrupt:
            status = "cancelled"
            raise
        finally:
            tracker.close(status)

    def results(
        self, timeout: Optional[float] = None, progress: Optional[bool] = None
    ) -> list[np.ndarray]:
        if self._cancelled:
            raise CancelledError(f"graph {self._job.graph_id} was cancelled")
        with self._lock:
            if self._results is None:
                try:
                    self._wait(timeout, progress)
                    fetched = self._job.fetch()
                except KeyboardInterrupt:
                    # Ctrl-C: stop the computation on the cluster too.
                    self.cancel()
                    raise
                dtypes = self._dtypes or [None] * len(fetched)
                self._results = [
                    _as_numpy(flat, shape, d) for (flat, shape), d in zip(fetched, dtypes)
                ]
                if not self.persisted:
                    self._finalizer.detach()
                    self._job.release_soon()
        return self._results


class Future:
    """A computation running on the cluster, like ``distributed.Future``.

    Returned by :meth:`Client.compute` (not created directly); :meth:`result` waits for
    it and returns the NumPy array. The outputs of one ``compute`` call share a graph:
    cancelling one future cancels them all. The results are freed on the cluster once
    fetched, or once no future refers to them.

    Parameters
    ----------
    job : _Job
        The submitted graph (internal).
    index : int
        Which of the graph's outputs this future is.

    Examples
    --------
    >>> import kaon, kaon.array as ka
    >>> client = kaon.Client()                                       # doctest: +SKIP
    >>> f = client.compute(ka.ones((1000, 1000), chunks=500).sum())  # doctest: +SKIP
    >>> f.result()                                                   # doctest: +SKIP
    np.float64(1000000.0)
    """

    def __init__(self, job: _Job, index: int) -> None:
        self._job = job
        self._index = index

    @property
    def key(self) -> str:
        """``'<graph id>-<output index>'``."""
        return f"{self._job._job.graph_id}-{self._index}"

    @property
    def client(self) -> Client:
        """The :class:`Client` that submitted the computation."""
        return self._job.client

    @property
    def status(self) -> str:
        """``'pending'``, ``'finished'``, ``'error'``, ``'cancelled'`` or ``'lost'``."""
        return self._job.status

    def done(self) -> bool:
        """Whether the computation ended: finished, failed or was cancelled.

        Like ``distributed.Future.done``; does not wait.
        """
        return self.status != "pending"

    def result(
        self, timeout: Optional[float] = None, *, progress: Optional[bool] = None
    ) -> np.ndarray:
        """Waits for the computation and returns its result.

        Like ``distributed.Future.result``. The result is fetched once and kept: later
        calls return the same array.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most; None waits as long as it takes.
        progress : bool, optional
            Show a progress bar while waiting (default: in notebooks and terminals).

        Returns
        -------
        numpy.ndarray or numpy scalar
            A NumPy scalar for a 0-d result (a full reduction), as NumPy and dask give.

        Raises
        ------
        TimeoutError
            If the computation did not finish within ``timeout``.
        kaon.TaskError
            If a task failed (``.key`` names it).
        kaon.CancelledError
            If it was cancelled.
        KeyboardInterrupt
            On Ctrl-C, after cancelling the computation on the cluster.
        """
        return self._job.results(timeout, progress)[self._index]

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """The exception the computation failed with, or None if it succeeded.

        Waits for the computation, like ``distributed.Future.exception``.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most; None waits as long as it takes.

        Returns
        -------
        KaonError, MemoryError or None

        Raises
        ------
        TimeoutError
            If the computation did not end within ``timeout``.
        """
        try:
            self.result(timeout, progress=False)
        except (KaonError, MemoryError) as e:
            return e
        return None

    def cancel(self) -> None:
        """Cancels the computation, and the other outputs of the same graph.

        Like ``distributed.Future.cancel``; :meth:`result` then raises
        :class:`kaon.CancelledError`.
        """
        self._job.cancel()

    def progress(self) -> tuple[int, int]:
        """Tasks of the graph done so far, and in all: ``(done, total)``.

        A Kaon addition (``distributed`` has :func:`kaon.progress` only).
        """
        done, total, _, _ = self._job.progress()
        return done, total

    def __repr__(self) -> str:
        return f"<Future: {self.status}, key: {self.key}>"

    def _repr_html_(self) -> str:
        done, total = self.progress()
        return (
            f"<b>Future: {html.escape(self.key)}</b> status: {html.escape(self.status)}, "
            f"{done} / {total} tasks"
        )


def _flatten(x: Any) -> list:
    if isinstance(x, (list, tuple, set)):
        out = []
        for v in x:
            out.extend(_flatten(v))
        return out
    return [x]


def _rebuild(template: Any, values: Iterable) -> Any:
    it = iter(values)

    def go(t: Any) -> Any:
        if isinstance(t, (list, tuple)):
            return type(t)(go(v) for v in t)
        return next(it)

    return go(template)


class Client:
    """Connects to a Kaon cluster, like ``distributed.Client``.

    Parameters
    ----------
    address : str, LocalCluster or None
        None starts an embedded local cluster: a scheduler and in-process workers
        using all cores (closed with the client). ``"host:port"`` connects to a
        running ``kaon scheduler``; a cluster object connects to that cluster.
    n_workers, threads_per_worker : int, optional
        For the embedded cluster: workers, and kernel threads each (default: one
        worker using all cores).
    timeout : float
        Seconds to keep trying to reach the scheduler.
    token : str, optional
        The cluster's secret, for a cluster that requires one (a gateway cluster
        passes its own; ``kaon scheduler --token`` sets one).
    set_as_default : bool
        Make this the client that ``x.compute()`` uses.
    **cluster_kwargs
        Further arguments of :class:`kaon.LocalCluster` for the embedded cluster
        (``processes=True`` runs its workers as processes).

    Raises
    ------
    kaon.SchedulerUnreachable
        If no scheduler answered at ``address`` within ``timeout``.
    ValueError
        For an address that is not ``host:port``, or cluster arguments given with an
        address.
    TypeError
        For an address of another type.

    Examples
    --------
    >>> import kaon, kaon.array as ka
    >>> with kaon.Client() as client:                          # doctest: +SKIP
    ...     x = ka.random.random((1000, 1000), chunks=250, seed=1)
    ...     client.compute(x.sum()).result()
    >>> client = kaon.Client("scheduler-host:8786")            # doctest: +SKIP
    """

    def __init__(
        self,
        address: Union[str, LocalCluster, None] = None,
        *,
        n_workers: Optional[int] = None,
        threads_per_worker: Optional[int] = None,
        timeout: float = DEFAULT_TIMEOUT,
        token: Optional[str] = None,
        set_as_default: bool = True,
        **cluster_kwargs: Any,
    ) -> None:
        from kaon.cluster import LocalCluster

        self._closed = False
        self.cluster: Optional[Any] = None
        self._owns_cluster = False
        if address is None:
            cluster_kwargs.setdefault("processes", False)
            self.cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=threads_per_worker, **cluster_kwargs
            )
            self._owns_cluster = True
            scheduler = self.cluster.scheduler_address
        else:
            if n_workers is not None or threads_per_worker is not None or cluster_kwargs:
                raise ValueError(
                    "n_workers, threads_per_worker and cluster arguments apply only to the "
                    "local cluster that Client() starts without an address"
                )
            if isinstance(address, str):
                scheduler = normalize_address(address)
            elif hasattr(address, "scheduler_address"):
                self.cluster = address
                scheduler = address.scheduler_address
                token = token if token is not None else getattr(address, "token", None)
            else:
                raise TypeError(
                    f"address must be 'host:port', a cluster or None, not {type(address).__name__}"
                )
        try:
            self._rust = _kaon.Client(scheduler, float(timeout), token)
        except BaseException:
            if self._owns_cluster and self.cluster is not None:
                self.cluster.close()
            raise
        self.scheduler_address = scheduler
        if set_as_default:
            _set_default(self)

    # ------------------------------------------------------------------ lifecycle
    @property
    def status(self) -> str:
        """``'running'`` or ``'closed'``."""
        return "closed" if self._closed else "running"

    def close(self, timeout: Optional[float] = None) -> None:
        """Closes the client, and the cluster it started, if any.

        Like ``distributed.Client.close``; ``with Client() as client:`` closes it at the
        end of the block. Closing twice does nothing.

        Parameters
        ----------
        timeout : float, optional
            Accepted for ``distributed``'s signature; closing does not wait.
        """
        if self._closed:
            return
        self._closed = True
        _forget_default(self)
        if self._owns_cluster and self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the client is closed")

    # ------------------------------------------------------------------ cluster
    def scheduler_info(self) -> dict:
        """The cluster as the scheduler sees it, like ``distributed.Client.scheduler_info``.

        Returns
        -------
        dict
            ``{"type": "Scheduler", "address", "dashboard", "graphs_running",
            "workers": {address: {"name", "nthreads", "memory_limit", "pid",
            "memory", "executing", "spilled", "paused", "id"}}}``.
        """
        self._check_open()
        info = self._rust.cluster_info()
        workers = {}
        for w in info["workers"]:
            address = w.pop("address")
            w["host"] = address.rpartition(":")[0]
            workers[address] = w
        return {
            "type": "Scheduler",
            "address": self.scheduler_address,
            "dashboard": info["dashboard"],
            "graphs_running": info["graphs_running"],
            "workers": workers,
        }

    @property
    def dashboard_link(self) -> str:
        """Link to the scheduler's dashboard, e.g. ``http://127.0.0.1:8787/status``."""
        return self._rust.cluster_info()["dashboard"]

    def nthreads(self) -> dict[str, int]:
        """Kernel threads of each worker, by address (also available as ``ncores``).

        Returns
        -------
        dict
            ``{worker address: threads}``, like ``distributed.Client.nthreads()``.
        """
        return {a: w["nthreads"] for a, w in self.scheduler_info()["workers"].items()}

    ncores = nthreads

    def wait_for_workers(self, n_workers: int = 1, timeout: Optional[float] = None) -> None:
        """Blocks until at least ``n_workers`` workers joined.

        Like ``distributed.Client.wait_for_workers``.

        Parameters
        ----------
        n_workers : int
            The number of workers to wait for.
        timeout : float, optional
            Seconds to wait at most; None waits as long as it takes.

        Raises
        ------
        TimeoutError
            If they did not within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self.scheduler_info()["workers"]) < n_workers:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {n_workers} workers joined within {timeout} s")
            time.sleep(0.05)

    # ------------------------------------------------------------------ computing
    def _submit(self, arrays: list[Array]) -> list[Future]:
        """Futures for ``arrays``: persisted ones keep theirs, the others are computed
        by one new graph (shared subexpressions run once)."""
        self._check_open()
        todo: list[Array] = []
        for a in arrays:
            if not isinstance(a, Array):
                raise TypeError(f"kaon computes kaon arrays, not {type(a).__name__}")
            if a._future is None and not any(a is t for t in todo):
                todo.append(a)
        new: list[Future] = []
        if todo:
            job = _Job(self, self._rust.submit([a._h for a in todo]), [a.dtype for a in todo])
            new = [Future(job, i) for i in range(len(todo))]
        out = []
        for a in arrays:
            if a._future is not None:
                out.append(a._future)
            else:
                out.append(new[next(i for i, t in enumerate(todo) if t is a)])
        return out

    def compute(
        self,
        collections: Any,
        sync: bool = False,
        *,
        progress: Optional[bool] = None,
        **kwargs: Any,
    ) -> Any:
        """Starts computing arrays on the cluster.

        Like ``distributed.Client.compute``. Several arrays are computed by one graph,
        so shared subexpressions run once; a persisted array returns its own future.

        Parameters
        ----------
        collections : Array, kaon.ntuple.Query, or list of them
            What to compute; several arrays run as one graph. Ntuple queries run
            as one graph too and are returned computed (not as futures).
        sync : bool
            Wait and return NumPy arrays instead of futures.
        progress : bool, optional
            With ``sync=True``: show a progress bar while waiting (default: in
            notebooks and terminals).
        **kwargs
            ``distributed``'s other arguments, accepted and ignored.

        Returns
        -------
        Future, or a list of them (NumPy arrays with ``sync=True``)
            In the structure of ``collections``.

        Raises
        ------
        TypeError
            For something that is neither a kaon array nor an ntuple query.
        RuntimeError
            If the client is closed.

        Examples
        --------
        >>> x = ka.random.random((10000, 1000), chunks=1000, seed=1)  # doctest: +SKIP
        >>> total, biggest = client.compute([x.sum(), x.max()])       # doctest: +SKIP
        >>> total.result() / x.size                                   # doctest: +SKIP
        np.float64(0.50009...)
        """
        flat = _flatten(collections)
        from kaon import ntuple

        if any(isinstance(c, ntuple.Query) for c in flat):
            # Ntuple queries run as one graph and return their results (not futures).
            return _rebuild(collections, ntuple.compute(*flat, client=self, progress=progress))
        futures = self._submit(flat)
        if sync:
            return _rebuild(collections, [f.result(progress=progress) for f in futures])
        return _rebuild(collections, futures)

    def persist(self, collections: Any, **kwargs: Any) -> Any:
        """Starts computing arrays and returns arrays backed by the computations.

        Like ``distributed.Client.persist``: the workers keep the results, and
        expressions built on a persisted array read them there instead of computing them
        again (their tasks wait for chunks still being computed). ``x.compute()`` of a
        persisted array fetches its result, which this process then keeps too. The
        results are freed on the cluster once no array built on them is referenced any
        more, or when the array's future is cancelled (expressions still reading them
        then fail with :class:`kaon.TaskError`). A worker lost meanwhile costs a
        recomputation of the chunks only it held, not the results.

        Parameters
        ----------
        collections : Array, or a list or tuple of them
            The arrays to compute; several run as one graph.
        **kwargs
            ``distributed``'s other arguments, accepted and ignored.

        Returns
        -------
        Array, or a list of them
            In the structure of ``collections``.
        """
        flat = _flatten(collections)
        futures = self._submit(flat)
        out = []
        for a, f in zip(flat, futures):
            if a._future is f:
                out.append(a)  # persisted before
                continue
            f._job.persisted = True
            # The handle keeps the job (whose finalizer releases the graph) alive for
            # as long as any expression reads the kept results.
            out.append(Array(f._job._job.persisted(f._index, a._h, f._job), f))
        return _rebuild(collections, out)

    def gather(self, futures: Any, errors: str = "raise") -> Any:
        """Waits for futures (or persisted arrays) and returns their results.

        Like ``distributed.Client.gather``.

        Parameters
        ----------
        futures : Future, Array, or a list, tuple or dict of them
            What to wait for; other values are returned as they are.
        errors : {"raise", "skip"}
            ``"skip"`` gives None for a failed computation instead of raising.

        Returns
        -------
        object
            The NumPy results, in the structure of ``futures``.

        Raises
        ------
        kaon.KaonError
            If a computation failed (with ``errors="raise"``).
        """
        if isinstance(futures, dict):
            return {k: self.gather(v, errors) for k, v in futures.items()}
        if isinstance(futures, (list, tuple)):
            return type(futures)(self.gather(f, errors) for f in futures)
        if isinstance(futures, Array):
            return futures.compute()
        if isinstance(futures, Future):
            if errors == "skip":
                try:
                    return futures.result()
                except KaonError:
                    return None
            return futures.result()
        return futures

    def cancel(self, futures: Any) -> None:
        """Cancels the computations behind futures or persisted arrays.

        Like ``distributed.Client.cancel``. A cancelled graph stops on the cluster and
        its futures raise :class:`kaon.CancelledError`.

        Parameters
        ----------
        futures : Future, Array, or a list of them
            Other values are ignored.
        """
        for f in _flatten(futures):
            if isinstance(f, Array):
                f = f._future
            if isinstance(f, Future):
                f.cancel()

    def submit(self, func: Any, *args: Any, **kwargs: Any) -> Future:
        """Not supported yet: Kaon's workers run array graphs, not Python functions.

        ``distributed.Client.submit`` runs ``func(*args, **kwargs)`` on a worker.

        Parameters
        ----------
        func : callable
            The function.
        *args, **kwargs
            Its arguments.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError("kaon cannot run Python functions on its workers yet")

    def map(self, func: Any, *iterables: Any, **kwargs: Any) -> list:
        """Not supported yet: Kaon's workers run array graphs, not Python functions.

        ``distributed.Client.map`` runs ``func`` over the elements of ``iterables``.

        Parameters
        ----------
        func : callable
            The function.
        *iterables
            Its arguments.
        **kwargs
            Further arguments.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError("kaon cannot run Python functions on its workers yet")

    # ------------------------------------------------------------------ display
    def _summary(self) -> tuple[dict, int, int, int]:
        info = self.scheduler_info()
        workers = info["workers"]
        threads = sum(w["nthreads"] for w in workers.values())
        memory = sum(w["memory_limit"] for w in workers.values())
        return info, len(workers), threads, memory

    def __repr__(self) -> str:
        if self._closed:
            return f"<Client: {self.scheduler_address!r} closed>"
        try:
            _, n, threads, memory = self._summary()
        except Exception:
            return f"<Client: {self.scheduler_address!r}>"
        return (
            f"<Client: {self.scheduler_address!r} workers={n} threads={threads}, "
            f"memory={memory / 2**30:.2f} GiB>"
        )

    def _repr_html_(self) -> str:
        if self._closed:
            return f"<p>Client of {html.escape(self.scheduler_address)} (closed)</p>"
        info, n, threads, memory = self._summary()
        link = html.escape(info["dashboard"])
        cluster = type(self.cluster).__name__ if self.cluster is not None else "remote"
        rows = [
            ("Scheduler", html.escape(self.scheduler_address)),
            ("Dashboard", f"<a href='{link}' target='_blank'>{link}</a>"),
            ("Cluster", html.escape(cluster)),
            ("Workers", str(n)),
            ("Threads", str(threads)),
            ("Memory", f"{memory / 2**30:.2f} GiB"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows
        )
        return f"<div class='kaon-client'><h3>Client</h3><table>{body}</table></div>"


# ---------------------------------------------------------------------- defaults
_defaults: list[weakref.ref] = []
_default_lock = threading.Lock()
_auto_client: Optional[Client] = None


def _set_default(client: Client) -> None:
    with _default_lock:
        _defaults.append(weakref.ref(client))


def _forget_default(client: Client) -> None:
    with _default_lock:
        _defaults[:] = [r for r in _defaults if r() is not None and r() is not client]


def default_client() -> Optional[Client]:
    """The client that ``x.compute()`` uses: the newest open one, or None.

    Like ``distributed.default_client``, except that it returns None instead of raising
    when there is no client (``get_client`` starts one).

    Returns
    -------
    Client or None
    """
    with _default_lock:
        for ref in reversed(_defaults):
            c = ref()
            if c is not None and not c._closed:
                return c
    return None


def get_client() -> Client:
    """The default client, started with an embedded local cluster if there is none.

    Like ``distributed.get_client``. The client it starts (in-process workers using all
    cores) is closed when Python exits.

    Returns
    -------
    Client
    """
    global _auto_client
    c = default_client()
    if c is None:
        _auto_client = Client()
        c = _auto_client
    return c


@atexit.register
def _close_auto_client() -> None:
    if _auto_client is not None:
        _auto_client.close()


def compute_arrays(arrays: list[Array], progress: Optional[bool] = None) -> list[np.ndarray]:
    """Computes arrays as one graph on the default client.

    Parameters
    ----------
    arrays : list of Array
        The arrays.
    progress : bool, optional
        Show a progress bar while waiting.

    Returns
    -------
    list of numpy.ndarray
    """
    futures = get_client()._submit(arrays)
    return [f.result(progress=progress) for f in futures]


def compute(*args: Any, progress: Optional[bool] = None, **kwargs: Any) -> tuple:
    """Computes several arrays at once, as one graph, like ``dask.compute``.

    Shared subexpressions run once. Ntuple queries (:mod:`kaon.ntuple`) are computed
    together too, as one graph of their own. Runs on the default client (see
    :func:`get_client`).

    Parameters
    ----------
    *args : Array, kaon.ntuple.Query, or lists or tuples of them
        What to compute; other values are returned as they are.
    progress : bool, optional
        Show a progress bar while waiting (default: in notebooks and terminals).
    **kwargs
        dask's other arguments (``scheduler=``, ...), accepted and ignored.

    Returns
    -------
    tuple
        One result per argument, NumPy arrays in place of kaon arrays.

    Raises
    ------
    kaon.KaonError
        If a computation failed on the cluster.

    Examples
    --------
    >>> import kaon, kaon.array as ka
    >>> x = ka.random.random(1_000_000, chunks=100_000, seed=1)
    >>> lo, hi = kaon.compute(x.min(), x.max())  # doctest: +SKIP
    """
    from kaon import ntuple

    flat = _flatten(args)
    arrays = [a for a in flat if isinstance(a, Array)]
    results = iter(compute_arrays(arrays, progress=progress) if arrays else [])
    flat = [next(results) if isinstance(a, Array) else a for a in flat]
    # Ntuple queries (kaon.ntuple) run together as one graph of their own.
    flat = list(ntuple.compute(*flat, progress=progress))
    return tuple(_rebuild(list(args), flat))


def persist(*args: Any, **kwargs: Any) -> tuple:
    """Starts computing several arrays at once, like ``dask.persist``.

    See :meth:`Client.persist`; runs on the default client (see :func:`get_client`).

    Parameters
    ----------
    *args : Array
        The arrays to compute, as one graph.
    **kwargs
        dask's other arguments, accepted and ignored.

    Returns
    -------
    tuple of Array
        Arrays backed by the running computations, one per argument.
    """
    out = get_client().persist(list(args))
    return tuple(out)
