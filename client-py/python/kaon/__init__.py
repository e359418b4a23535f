"""Kaon: a fast distributed task scheduler for physics analysis, with Dask's API.

>>> import kaon, kaon.array as ka
>>> client = kaon.Client()                       # doctest: +SKIP
>>> x = ka.random.random((10000, 1000), chunks=(1000, 1000), seed=1)
>>> ka.arcsin(x).sum(axis=1).compute()           # doctest: +SKIP

- :class:`Client` connects to a cluster (or starts an embedded one);
  :class:`LocalCluster` runs a scheduler and workers on this machine.
- :mod:`kaon.array` mirrors ``dask.array``; ``compute()`` returns NumPy arrays.
- :func:`progress` shows a computation's progress; errors are :class:`KaonError`
  (cluster faults) or NumPy's own exceptions (mistakes in an expression).
"""

from kaon import array, ntuple
from kaon._kaon import __version__
from kaon.client import Client, Future, compute, default_client, get_client, persist
from kaon.cluster import LocalCluster
from kaon.errors import (
    CancelledError,
    CommError,
    GraphRejected,
    KaonError,
    KilledWorker,
    SchedulerUnreachable,
    TaskError,
)
from kaon.gateway import BasicAuth, Gateway, GatewayCluster, JupyterHubAuth
from kaon.progress import progress

__all__ = [
    "BasicAuth",
    "CancelledError",
    "Client",
    "CommError",
    "Future",
    "Gateway",
    "GatewayCluster",
    "GraphRejected",
    "JupyterHubAuth",
    "KaonError",
    "KilledWorker",
    "LocalCluster",
    "SchedulerUnreachable",
    "TaskError",
    "__version__",
    "array",
    "compute",
    "default_client",
    "get_client",
    "ntuple",
    "persist",
    "progress",
]
