"""Local clusters: a scheduler and workers on this machine, like
``distributed.LocalCluster``."""

from __future__ import annotations

import html
import math
import os
import sys
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Optional, Union

from kaon import _kaon

if TYPE_CHECKING:
    from kaon.client import Client

__all__ = ["LocalCluster"]


def _dashboard_port(address: Union[str, int, None]) -> int:
    if address is None:
        return 0
    if isinstance(address, int):
        return address
    port = str(address).rpartition(":")[2]
    if not port.isdigit():
        raise ValueError(f"dashboard_address {address!r} is not of the form ':port' or 'host:port'")
    return int(port)


def _memory_limit(limit: Union[str, int, float, None], threads: int) -> str:
    total = _kaon.total_memory()
    if limit is None or (isinstance(limit, (int, float)) and limit == 0):
        return str(total)
    if isinstance(limit, bool):
        raise TypeError(f"memory_limit must be a size, not {limit!r}")
    if isinstance(limit, float) and 0 < limit <= 1:
        return str(int(total * limit))
    if isinstance(limit, (int, float)):
        if limit < 0:
            raise ValueError(f"memory_limit must not be negative: {limit}")
        return str(int(limit))
    text = str(limit)
    _kaon.parse_memory_limit(text, threads)  # ValueError naming what is wrong
    return text


class LocalCluster:
    """A scheduler and workers on this machine, like ``distributed.LocalCluster``.

    The scheduler runs in this process; workers run as processes
    (``python -m kaon.worker``) or, with ``processes=False``, as threads of this
    process. Unlike dask's, one Kaon worker uses all the cores it is given (its kernels
    are multithreaded), so the default is a single worker.

    Parameters
    ----------
    n_workers : int, optional
        Number of workers (default 1: one Kaon worker uses all the cores it is given).
    threads_per_worker : int, optional
        Kernel threads per worker (default: the cores divided among the workers).
    processes : bool
        Run workers as processes (``python -m kaon.worker``); False runs them in this
        process.
    dashboard_address : str or None
        ``":8787"``, ``"host:port"``; a port in use falls back to a free one (with a
        warning), None picks a free one.
    memory_limit : str, int, float or None
        Per worker: ``"auto"`` (its share of the machine's memory by threads), bytes,
        a size such as ``"4GB"``, a fraction of the machine's memory, or None/0 for
        all of it. Results spill to disk above 60% of it.
    host : str
        Interface the scheduler listens on.
    scheduler_port : int
        Port of the scheduler (0: any free port).
    env : dict, optional
        Extra environment of worker processes.
    worker_ttl : float
        Seconds without a heartbeat after which a worker is removed.
    allowed_failures : int
        Workers a task may take down with it before its graph fails (KilledWorker).
    **kwargs
        ``distributed``'s ``silence_logs``, ``asynchronous``, ``name``, ``protocol`` and
        ``interface`` are accepted and ignored.

    Raises
    ------
    TypeError
        For other keyword arguments.
    ValueError
        For a negative ``n_workers``, a bad ``memory_limit`` or ``dashboard_address``.
    OSError
        If the scheduler or a worker cannot start (a port in use, say).

    Examples
    --------
    >>> from kaon import LocalCluster, Client
    >>> cluster = LocalCluster(n_workers=2, threads_per_worker=1)    # doctest: +SKIP
    >>> client = Client(cluster)                                     # doctest: +SKIP
    >>> cluster.scale(4)                                             # doctest: +SKIP
    >>> cluster.close()                                              # doctest: +SKIP
    """

    def __init__(
        self,
        n_workers: Optional[int] = None,
        threads_per_worker: Optional[int] = None,
        processes: bool = True,
        dashboard_address: Union[str, int, None] = ":8787",
        memory_limit: Union[str, int, float, None] = "auto",
        *,
        host: str = "127.0.0.1",
        scheduler_port: int = 0,
        env: Optional[dict[str, str]] = None,
        worker_ttl: float = 10.0,
        allowed_failures: int = 3,
        **kwargs: Any,
    ) -> None:
        for k in ("silence_logs", "asynchronous", "name", "protocol", "interface"):
            kwargs.pop(k, None)
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        cores = _kaon.cpu_count()
        n = 1 if n_workers is None else int(n_workers)
        if n < 0:
            raise ValueError(f"n_workers must not be negative: {n}")
        threads = threads_per_worker or max(1, cores // max(n, 1))
        if threads < 1:
            raise ValueError(f"threads_per_worker must be positive: {threads}")
        self.processes = bool(processes)
        self.threads_per_worker = int(threads)
        self._memory_limit = _memory_limit(memory_limit, self.threads_per_worker)
        command = [sys.executable, "-m", "kaon.worker"] if self.processes else None
        worker_env = dict(env or {})
        if self.processes:
            # Workers import this very kaon package, wherever it was imported from.
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            path = [here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            worker_env.setdefault("PYTHONPATH", os.pathsep.join(path))
        port = _dashboard_port(dashboard_address)

        def start(dashboard_port: int) -> Any:
            return _kaon.LocalCluster(
                n,
                self.threads_per_worker,
                self._memory_limit,
                host,
                int(scheduler_port),
                dashboard_port,
                command,
                sorted(worker_env.items()),
                float(worker_ttl),
                int(allowed_failures),
            )

        try:
            self._rust = start(port)
        except OSError as e:
            if port == 0 or "cannot serve the dashboard" not in str(e):
                raise
            warnings.warn(
                f"Port {port} is already in use; the dashboard is served on another port",
                RuntimeWarning,
                stacklevel=2,
            )
            self._rust = start(0)
        self._finalizer = weakref.finalize(self, self._rust.close)
        self._info = _kaon.Client(self._rust.address, 10.0)
        self._adapt_message = ""

    # ------------------------------------------------------------------ addresses
    @property
    def scheduler_address(self) -> str:
        """The scheduler's address, ``host:port``."""
        return self._rust.address

    @property
    def dashboard_link(self) -> str:
        """Link to the dashboard, e.g. ``http://127.0.0.1:8787/status``."""
        return self._rust.dashboard_link

    @property
    def status(self) -> str:
        """``'running'`` or ``'closed'``."""
        return "closed" if self._rust.closed else "running"

    @property
    def workers(self) -> dict[str, dict]:
        """The workers that joined, by name: address, pid, threads and memory limit."""
        if self._rust.closed:
            return {}
        out = {}
        for w in self._info.cluster_info()["workers"]:
            out[w["name"]] = {
                "address": w["address"],
                "pid": w["pid"],
                "nthreads": w["nthreads"],
                "memory_limit": w["memory_limit"],
            }
        return out

    def worker_pids(self) -> list[int]:
        """Process ids of the worker processes (empty for in-process workers).

        A Kaon addition, handy for tests that kill a worker.

        Returns
        -------
        list of int
        """
        return list(self._rust.worker_pids())

    # ------------------------------------------------------------------ scaling
    def scale(
        self, n: Optional[int] = None, *, cores: Optional[int] = None, memory: Any = None
    ) -> None:
        """Starts or stops workers until ``n`` run, and waits until the scheduler has them.

        Like ``distributed.LocalCluster.scale``; a worker that died is replaced, and it
        ends adaptive scaling (:meth:`adapt`). Stopped workers' results are recomputed
        where needed.

        Parameters
        ----------
        n : int, optional
            The number of workers.
        cores : int, optional
            Instead of ``n``: enough workers for that many threads.
        memory : str or int, optional
            Accepted for ``distributed``'s signature and ignored.

        Raises
        ------
        TypeError
            If neither ``n`` nor ``cores`` is given.
        ValueError
            For a negative ``n``.
        """
        if n is None:
            if cores is None:
                raise TypeError("scale() needs n or cores")
            n = math.ceil(cores / self.threads_per_worker)
        n = int(n)
        if n < 0:
            raise ValueError(f"cannot scale to {n} workers")
        self._rust.scale(n)

    def adapt(self, minimum: int = 0, maximum: float = math.inf, **kwargs: Any) -> None:
        """Lets the scheduler choose the number of workers by its load.

        Like ``distributed.LocalCluster.adapt``: between ``minimum`` and ``maximum``
        workers, aiming at about 5 s of queued work per worker. More workers start at
        once when the work needs them; idle ones retire after a few seconds (their
        results are moved first). :meth:`scale` ends adaptive scaling.

        Parameters
        ----------
        minimum : int
            The fewest workers to keep.
        maximum : int or float
            The most workers to run (``math.inf``: no limit).
        **kwargs
            ``distributed``'s other arguments (``interval``, ``wait_count``, ...),
            accepted and ignored.

        Raises
        ------
        ValueError
            For a range with ``maximum < minimum``.
        """
        if minimum < 0 or maximum < minimum:
            raise ValueError(f"bad adapt range: minimum={minimum}, maximum={maximum}")
        top = None if math.isinf(maximum) else int(maximum)
        self._adapt_message = self._rust.adapt(int(minimum), top)

    # ------------------------------------------------------------------ lifecycle
    def get_client(self) -> Client:
        """A new :class:`kaon.Client` of this cluster (made the default client).

        Returns
        -------
        kaon.Client
        """
        from kaon.client import Client

        return Client(self)

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops the workers, then the scheduler.

        Like ``distributed.LocalCluster.close``; ``with LocalCluster() as cluster:``
        closes it at the end of the block, and it is closed when garbage-collected.

        Parameters
        ----------
        timeout : float, optional
            Accepted for ``distributed``'s signature; closing waits for the workers.
        """
        self._finalizer()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._rust.closed:
            return f"LocalCluster({self.scheduler_address!r}, closed)"
        n = len(self.workers)
        return (
            f"LocalCluster({self.scheduler_address!r}, workers={n}, "
            f"threads={n * self.threads_per_worker}, processes={self.processes})"
        )

    def _repr_html_(self) -> str:
        link = html.escape(self.dashboard_link)
        workers = self.workers
        rows = [
            ("Scheduler", html.escape(self.scheduler_address)),
            ("Dashboard", f"<a href='{link}' target='_blank'>{link}</a>"),
            ("Workers", str(len(workers))),
            ("Threads", str(sum(w["nthreads"] for w in workers.values()))),
            ("Memory", f"{sum(w['memory_limit'] for w in workers.values()) / 2**30:.2f} GiB"),
            ("Processes", str(self.processes)),
            ("Status", self.status),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows
        )
        return f"<div class='kaon-cluster'><h3>LocalCluster</h3><table>{body}</table></div>"
