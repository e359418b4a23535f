"""Exceptions raised by Kaon.

Mistakes in an expression raise the built-in exception NumPy would raise
(``ValueError`` for shapes and chunks, ``numpy.exceptions.AxisError`` for axes,
``TypeError`` for operands and dtypes, ``MemoryError`` for results that cannot fit).
Faults of the cluster raise a :class:`KaonError`:

- :class:`TaskError`: a task failed; ``.key`` names it, e.g. ``"('sum', 0, 1)"``.
- :class:`KilledWorker`: a task was running on workers that died, too many times.
- :class:`CancelledError`: the computation was cancelled (``Client.cancel``).
- :class:`CommError`: talking to the scheduler or a worker failed.
- :class:`GraphRejected`: the scheduler refused the graph.
- :class:`SchedulerUnreachable`: no scheduler answered at an address in time.
- :class:`GatewayError` and its subclasses: the gateway (:class:`kaon.Gateway`) refused
  or failed a request (:class:`GatewayAuthError`, :class:`GatewayQuotaError`, ...).
"""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "CancelledError",
    "CommError",
    "GatewayAuthError",
    "GatewayClusterNotFound",
    "GatewayClusterStartError",
    "GatewayError",
    "GatewayQuotaError",
    "GatewayUnreachable",
    "GraphRejected",
    "KaonError",
    "KilledWorker",
    "SchedulerUnreachable",
    "TaskError",
]


class KaonError(Exception):
    """Base class of the errors of a Kaon cluster.

    Catch it for any fault of the cluster (a failed task, a dead worker, a lost
    connection); mistakes in an expression raise NumPy's exceptions instead, when the
    expression is built. ``distributed`` has no common base class.
    """


class TaskError(KaonError):
    """A task of a computation failed.

    Raised by ``compute()`` and :meth:`kaon.Future.result`; ``distributed`` re-raises
    the task's own exception instead.

    Attributes
    ----------
    key : str
        The failing task, as ``('layer-name', i, j, ...)`` with its block index.
    message : str
        What the task reported.
    worker : str
        The worker it failed on (empty when unknown).
    """

    def __init__(self, text: str, key: str = "", message: str = "", worker: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.key = key
        self.message = message
        self.worker = worker

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.key, self.message, self.worker))

    def __str__(self) -> str:
        return self.text


class KilledWorker(TaskError):
    """A task was running on workers that died, as many times as allowed.

    Like ``distributed.KilledWorker``: after the scheduler's ``allowed_failures``
    deaths (see :class:`kaon.LocalCluster`), the task is probably what kills them.
    """


class CancelledError(KaonError, concurrent.futures.CancelledError):
    """The computation was cancelled before it finished.

    Raised by :meth:`kaon.Future.result` after :meth:`kaon.Client.cancel`; it is also a
    ``concurrent.futures.CancelledError``.
    """


class CommError(KaonError, ConnectionError):
    """Talking to the scheduler or to a worker failed.

    Also a ``ConnectionError``, like ``distributed``'s ``CommClosedError``.
    """


class GraphRejected(KaonError, ValueError):
    """The scheduler refused a graph as invalid.

    Also a ``ValueError``; it points at a bug (the client checks expressions first).
    """


class SchedulerUnreachable(KaonError, TimeoutError):
    """No scheduler answered at ``address`` within the timeout.

    Raised by :class:`kaon.Client`; also a ``TimeoutError``, as ``distributed`` raises.

    Attributes
    ----------
    address : str
        The address tried, ``host:port``.
    """

    def __init__(self, text: str, address: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.address = address

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.address))

    def __str__(self) -> str:
        return self.text


class GatewayError(KaonError):
    """The gateway (``kaon gateway``) refused or failed a request.

    Attributes
    ----------
    status : int
        The HTTP status of the answer (0 when no answer came).
    message : str
        The gateway's own message.
    """

    def __init__(self, text: str, status: int = 0, message: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.message = message or text

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.status, self.message))

    def __str__(self) -> str:
        return self.text


class GatewayAuthError(GatewayError, PermissionError):
    """The gateway did not accept the credentials (401), or the caller may not touch
    that cluster (403)."""


class GatewayQuotaError(GatewayError, PermissionError):
    """A per-user quota forbids the request; ``limit`` names it (e.g. ``max_workers``)."""

    def __init__(self, text: str, status: int = 403, message: str = "", limit: str = "") -> None:
        super().__init__(text, status, message)
        self.limit = limit

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.text, self.status, self.message, self.limit))


class GatewayClusterNotFound(GatewayError, LookupError):
    """No cluster of that name exists (404)."""


class GatewayClusterStartError(GatewayError):
    """A cluster failed to start, or did not start in time (502/504); the message
    carries the backend's reason."""


class GatewayUnreachable(GatewayError, ConnectionError):
    """Nothing answered at the gateway's address."""
