"""Per-user clusters from a Kaon gateway (``kaon gateway``), like ``dask_gateway``.

>>> import kaon
>>> gw = kaon.Gateway("https://vre.example/services/kaon")     # doctest: +SKIP
>>> cluster = gw.new_cluster(worker_threads=2)                 # doctest: +SKIP
>>> cluster.adapt(minimum=1, maximum=10)                       # doctest: +SKIP
>>> client = cluster.get_client()                              # doctest: +SKIP

Inside a JupyterHub notebook server nothing else is needed: the gateway's address comes
from ``KAON_GATEWAY_ADDRESS`` and the user's token from ``JUPYTERHUB_API_TOKEN``. With a
gateway in simple mode (``kaon gateway --auth simple``), pass ``auth="basic"`` (reads
``KAON_GATEWAY_USER`` and ``KAON_GATEWAY_PASSWORD``) or ``auth=kaon.BasicAuth(user, pw)``.

Requests are plain HTTP(S) with JSON bodies (the standard library's ``urllib``), following
the gateway's REST API (``docs/gateway-api.md``). Refusals raise
:class:`kaon.errors.GatewayError` subclasses: :class:`~kaon.errors.GatewayAuthError`
(credentials or ownership, a :class:`PermissionError`), :class:`~kaon.errors.GatewayQuotaError`
(``.limit`` names the quota), :class:`~kaon.errors.GatewayClusterNotFound`,
:class:`~kaon.errors.GatewayClusterStartError` and :class:`~kaon.errors.GatewayUnreachable`
(a :class:`ConnectionError`).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import html
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from kaon.errors import (
    GatewayAuthError,
    GatewayClusterNotFound,
    GatewayClusterStartError,
    GatewayError,
    GatewayQuotaError,
    GatewayUnreachable,
)

if TYPE_CHECKING:
    from kaon.client import Client

__all__ = [
    "Auth",
    "BasicAuth",
    "ClusterReport",
    "Gateway",
    "GatewayCluster",
    "JupyterHubAuth",
    "Options",
    "parse_bytes",
]

#: Seconds to wait for an answer to an ordinary request.
DEFAULT_TIMEOUT = 30.0
#: Seconds to wait for ``POST /clusters``: the gateway answers once the scheduler runs.
START_TIMEOUT = 600.0
_API = "/api/v1"


# ---------------------------------------------------------------------------- auth
class Auth:
    """How requests to the gateway authenticate; see :class:`JupyterHubAuth` and
    :class:`BasicAuth`."""

    def headers(self) -> dict[str, str]:
        """The HTTP headers that carry the credentials."""
        raise NotImplementedError

    def describe(self) -> str:
        """Who the credentials are, for error messages (never the secret itself)."""
        raise NotImplementedError


class JupyterHubAuth(Auth):
    """A JupyterHub API token, sent as ``Authorization: token <T>``.

    Parameters
    ----------
    api_token : str, optional
        The token. Default: ``JUPYTERHUB_API_TOKEN``, which JupyterHub sets in every
        notebook server. It needs the scope ``access:services!service=<gateway>``.

    Raises
    ------
    ValueError
        If no token was given and ``JUPYTERHUB_API_TOKEN`` is not set.
    """

    def __init__(self, api_token: Optional[str] = None) -> None:
        self._from_env = api_token is None
        token = os.environ.get("JUPYTERHUB_API_TOKEN") if api_token is None else api_token
        if not token:
            raise ValueError(
                "no JupyterHub API token: set JUPYTERHUB_API_TOKEN (JupyterHub sets it in "
                "notebook servers) or pass auth=kaon.JupyterHubAuth(api_token=...)"
            )
        self.api_token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.api_token}"}

    def describe(self) -> str:
        source = " from JUPYTERHUB_API_TOKEN" if self._from_env else ""
        return f"the JupyterHub token{source} ({self.api_token[:4]}...)"

    def __repr__(self) -> str:
        return "JupyterHubAuth(api_token=<hidden>)"


class BasicAuth(Auth):
    """A user name and password for a gateway in simple mode (``--auth simple``).

    Parameters
    ----------
    username : str, optional
        Default: ``KAON_GATEWAY_USER``.
    password : str, optional
        Default: ``KAON_GATEWAY_PASSWORD``.

    Raises
    ------
    ValueError
        If the user name or the password is missing.
    """

    def __init__(self, username: Optional[str] = None, password: Optional[str] = None) -> None:
        username = os.environ.get("KAON_GATEWAY_USER") if username is None else username
        password = os.environ.get("KAON_GATEWAY_PASSWORD") if password is None else password
        if not username:
            raise ValueError("no user name: pass BasicAuth(username, ...) or set KAON_GATEWAY_USER")
        if password is None:
            raise ValueError(
                f"no password for user {username!r}: pass BasicAuth(username, password) or "
                "set KAON_GATEWAY_PASSWORD"
            )
        self.username = username
        self.password = password

    def headers(self) -> dict[str, str]:
        raw = f"{self.username}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    def describe(self) -> str:
        return f"user {self.username!r}"

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=<hidden>)"


def _get_auth(auth: Union[str, Auth, None]) -> Auth:
    if auth is None:
        auth = os.environ.get("KAON_GATEWAY_AUTH", "jupyterhub")
    if isinstance(auth, Auth):
        return auth
    if isinstance(auth, str):
        kind = auth.lower()
        if kind == "jupyterhub":
            return JupyterHubAuth()
        if kind in ("basic", "simple"):
            return BasicAuth()
        raise ValueError(f"auth must be 'jupyterhub', 'basic' or an Auth object, not {auth!r}")
    raise TypeError(f"auth must be a string or an Auth object, not {type(auth).__name__}")


def _gateway_address(address: Optional[str]) -> str:
    if address is None:
        address = os.environ.get("KAON_GATEWAY_ADDRESS")
        if not address:
            raise ValueError(
                "no gateway address: pass Gateway(address) or set KAON_GATEWAY_ADDRESS, "
                "e.g. http://127.0.0.1:8000 or https://vre.example/services/kaon"
            )
    a = address.strip().rstrip("/")
    if "://" not in a:
        a = "http://" + a
    if a.endswith(_API):
        a = a[: -len(_API)]
    parsed = urllib.parse.urlparse(a)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"gateway address {address!r} is not an http(s) URL")
    return a


# ---------------------------------------------------------------------------- sizes
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_bytes(size: Union[str, int, float]) -> int:
    """Bytes from a size such as ``"4GiB"``, ``"512 MB"`` or ``2**30``.

    Raises
    ------
    ValueError
        If ``size`` is not a size.
    """
    if isinstance(size, bool):
        raise ValueError(f"{size!r} is not a size")
    if isinstance(size, (int, float)):
        return int(size)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", size)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{size!r} is not a size such as 4GiB, 512MB or 1000000")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


# ---------------------------------------------------------------------------- options
_NUMBER_TYPES = ("int", "integer", "number", "float", "seconds", "bytes", "memory", "size")


class Options(MutableMapping):
    """The options of a new cluster: the gateway's defaults and this user's limits.

    A mapping (``opts["worker_threads"] = 2``) with attribute access
    (``opts.worker_threads = 2``); values are checked against the limits the gateway
    gave. Pass it to :meth:`Gateway.new_cluster`.

    Attributes
    ----------
    fields : dict
        ``{name: {"type", "default", "min", "max", "description"}}`` as the gateway
        sent them.
    """

    def __init__(self, fields: Mapping[str, Mapping[str, Any]]) -> None:
        object.__setattr__(self, "fields", {k: dict(v) for k, v in fields.items()})
        object.__setattr__(self, "_values", {k: v.get("default") for k, v in fields.items()})
        object.__setattr__(self, "_explicit", set())

    def _check(self, name: str, value: Any) -> Any:
        if name not in self.fields:
            known = ", ".join(sorted(self.fields))
            raise ValueError(f"unknown cluster option {name!r}; the options are: {known}")
        spec = self.fields[name]
        kind = str(spec.get("type", "")).lower()
        if isinstance(value, str) and (kind in ("bytes", "memory", "size") or "memory" in name):
            value = parse_bytes(value)
        if kind in _NUMBER_TYPES and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"cluster option {name} takes a number, not {value!r}")
            if kind in ("int", "integer", "bytes", "memory", "size") and value != int(value):
                raise TypeError(f"cluster option {name} takes a whole number, not {value!r}")
            lo, hi = spec.get("min"), spec.get("max")
            if lo is not None and value < lo:
                raise ValueError(f"cluster option {name}={value} is below the minimum {lo}")
            if hi is not None and value > hi:
                raise ValueError(f"cluster option {name}={value} is above this user's maximum {hi}")
        return value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._values[name] = self._check(name, value)
        self._explicit.add(name)

    def __delitem__(self, name: str) -> None:
        """Resets an option to its default."""
        if name not in self.fields:
            raise KeyError(name)
        self._values[name] = self.fields[name].get("default")
        self._explicit.discard(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._values))

    def _changed(self) -> dict[str, Any]:
        """The options set explicitly (the gateway applies its defaults to the rest)."""
        return {k: self._values[k] for k in self._values if k in self._explicit}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Options<{inner}>"

    def _repr_html_(self) -> str:
        rows = []
        for k, spec in self.fields.items():
            limits = " to ".join(
                str(spec[b]) if spec.get(b) is not None else "" for b in ("min", "max")
            )
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(c))}</td>"
                    for c in (k, self._values[k], spec.get("default"), limits.strip(" to"))
                )
                + f"<td>{html.escape(str(spec.get('description', '')))}</td></tr>"
            )
        head = "".join(
            f"<th>{h}</th>" for h in ("option", "value", "default", "limits", "description")
        )
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


# ---------------------------------------------------------------------------- reports
@dataclass
class ClusterReport:
    """A cluster as the gateway reports it (``GET /api/v1/clusters/{name}``).

    Attributes
    ----------
    name : str
        The cluster's name, e.g. ``"alice-7f3a9c2e"``.
    user : str
        Its owner.
    status : str
        ``"pending"``, ``"running"``, ``"stopping"``, ``"stopped"`` or ``"failed"``.
    reason : str or None
        Why it failed or stopped.
    scheduler_address : str
        ``host:port`` of its scheduler.
    dashboard_link : str
        Its dashboard, proxied by the gateway.
    options : dict
        The options it was created with.
    workers, desired_workers : int
        Workers running, and wanted.
    adapt : dict or None
        ``{"minimum", "maximum"}`` while adaptive.
    created : float
        Creation time, seconds since the epoch.
    token : str or None
        The cluster's secret (only the owner gets it); hidden from ``repr``.
    """

    name: str
    user: str = ""
    status: str = ""
    reason: Optional[str] = None
    backend: str = ""
    scheduler_address: str = ""
    dashboard_link: str = ""
    options: dict = field(default_factory=dict)
    workers: int = 0
    desired_workers: int = 0
    adapt: Optional[dict] = None
    created: Optional[float] = None
    token: Optional[str] = field(default=None, repr=False)

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> ClusterReport:
        if not isinstance(d, Mapping) or not isinstance(d.get("name"), str):
            raise GatewayError(f"the gateway sent a cluster without a name: {d!r}")
        known = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in known and v is not None}
        kw["reason"] = d.get("reason")
        kw["adapt"] = d.get("adapt")
        return cls(**kw)

    @property
    def start_time(self) -> Optional[datetime.datetime]:
        """When the cluster was created (UTC), like dask-gateway's report."""
        if self.created is None:
            return None
        return datetime.datetime.fromtimestamp(self.created, tz=datetime.timezone.utc)


# ---------------------------------------------------------------------------- HTTP
def _http(
    base: str,
    auth: Optional[Auth],
    method: str,
    path: str,
    body: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "",
) -> Any:
    """One request to the gateway at ``base``; the JSON answer, or a GatewayError."""
    url = base + _API + path
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if auth is not None:
        headers.update(auth.headers())
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    who = auth.describe() if auth is not None else "anonymous"
    context = f" ({what})" if what else ""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raw_err = e.read()
        try:
            answer = json.loads(raw_err)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "error" in answer:
            message = str(answer["error"])
            limit = answer.get("limit")
        else:
            message = raw_err.decode(errors="replace").strip() or e.reason
            limit = None
        head = f"gateway {base}: {method} {path} as {who}{context}"
        text = f"{head}: {e.code} {message}"
        if e.code in (401, 403) and limit:
            raise GatewayQuotaError(
                f"{head}: quota {limit} reached: {message}", e.code, message, str(limit)
            ) from None
        if e.code == 401:
            raise GatewayAuthError(
                f"{text} (missing or malformed credentials)", 401, message
            ) from None
        if e.code == 403:
            raise GatewayAuthError(text, 403, message) from None
        if e.code == 404:
            raise GatewayClusterNotFound(text, 404, message) from None
        if e.code in (502, 504):
            raise GatewayClusterStartError(text, e.code, message) from None
        raise GatewayError(text, e.code, message) from None
    except urllib.error.URLError as e:
        reason = e.reason
        raise GatewayUnreachable(
            f"cannot reach the Kaon gateway at {base}{context}: {reason}. Is `kaon gateway` "
            "running there? (The address comes from Gateway(address) or KAON_GATEWAY_ADDRESS.)",
            0,
            str(reason),
        ) from None
    except (socket.timeout, TimeoutError):
        raise GatewayUnreachable(
            f"the Kaon gateway at {base} did not answer {method} {path}{context} within "
            f"{timeout:g} s",
            0,
        ) from None
    except ConnectionError as e:
        raise GatewayUnreachable(
            f"connection to the Kaon gateway at {base} failed{context}: {e}", 0, str(e)
        ) from None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise GatewayError(
            f"gateway {base}: {method} {path} answered with something that is not JSON: "
            f"{raw[:200]!r}"
        ) from None


def _stop_quietly(base: str, auth: Auth, name: str) -> None:
    """Stops a cluster at exit (shutdown_on_close); errors are ignored."""
    try:
        _http(base, auth, "DELETE", f"/clusters/{urllib.parse.quote(name)}", timeout=10)
    except Exception:
        pass


# ---------------------------------------------------------------------------- gateway
class Gateway:
    """A connection to a Kaon gateway, like ``dask_gateway.Gateway``.

    Parameters
    ----------
    address : str, optional
        The gateway's URL, e.g. ``"http://127.0.0.1:8000"`` or
        ``"https://vre.example/services/kaon"``. Default: ``KAON_GATEWAY_ADDRESS``.
    auth : {"jupyterhub", "basic"} or Auth
        ``"jupyterhub"`` sends the token in ``JUPYTERHUB_API_TOKEN``;
        ``kaon.JupyterHubAuth(api_token=...)`` passes one explicitly; ``"basic"`` or
        ``kaon.BasicAuth(username, password)`` is for a gateway in simple mode.
    asynchronous : bool
        If True, the methods return awaitables (requests run in a thread), for use
        inside an event loop: ``clusters = await gw.list_clusters()``.
    timeout : float
        Seconds to wait for an answer (creating a cluster waits longer).

    Examples
    --------
    >>> with kaon.Gateway() as gw:                                  # doctest: +SKIP
    ...     with gw.new_cluster(worker_threads=2) as cluster:
    ...         cluster.scale(4)
    ...         client = cluster.get_client()
    """

    def __init__(
        self,
        address: Optional[str] = None,
        auth: Union[str, Auth, None] = "jupyterhub",
        *,
        asynchronous: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.address = _gateway_address(address)
        self.auth = _get_auth(auth)
        self.asynchronous = bool(asynchronous)
        self.timeout = float(timeout)
        self._closed = False

    # -- plumbing
    def _request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if self._closed:
            raise RuntimeError(f"the Gateway for {self.address} is closed")
        kw.setdefault("timeout", self.timeout)
        return _http(self.address, self.auth, method, path, body, **kw)

    def _run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if self.asynchronous:
            return asyncio.to_thread(fn, *args, **kw)
        return fn(*args, **kw)

    @staticmethod
    def _path(name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a cluster name must be a non-empty string, not {name!r}")
        return "/clusters/" + urllib.parse.quote(name, safe="")

    # -- sync implementations
    def _list_clusters(self, status: Optional[str]) -> list[ClusterReport]:
        answer = self._request("GET", "/clusters")
        items = answer.get("clusters", []) if isinstance(answer, dict) else []
        reports = [ClusterReport._from_json(c) for c in items]
        if status is not None:
            wanted = {status} if isinstance(status, str) else set(status)
            reports = [r for r in reports if r.status in wanted]
        return reports

    def _get_cluster(self, name: str) -> ClusterReport:
        answer = self._request("GET", self._path(name), what=f"cluster {name}")
        return ClusterReport._from_json(answer)

    def _cluster_options(self) -> Options:
        answer = self._request("GET", "/options")
        fields = answer.get("options") if isinstance(answer, dict) else None
        if not isinstance(fields, dict):
            raise GatewayError(f"gateway {self.address}: GET /options sent no options: {answer!r}")
        return Options(fields)

    def _new_cluster(
        self,
        cluster_options: Optional[Mapping[str, Any]],
        workers: Optional[int],
        shutdown_on_close: bool,
        kwargs: dict,
    ) -> GatewayCluster:
        if isinstance(cluster_options, Options):
            options = cluster_options._changed()
        else:
            options = dict(cluster_options or {})
        options.update(kwargs)
        for k, v in list(options.items()):
            if isinstance(v, str) and "memory" in k:
                options[k] = parse_bytes(v)
        body: dict[str, Any] = {"options": options}
        if workers is not None:
            body["workers"] = int(workers)
        answer = self._request(
            "POST", "/clusters", body, timeout=max(self.timeout, START_TIMEOUT), what="new cluster"
        )
        report = ClusterReport._from_json(answer)
        return GatewayCluster._attach(self, report, shutdown_on_close)

    def _connect(self, name: str, shutdown_on_close: bool) -> GatewayCluster:
        report = self._get_cluster(name)
        if report.status in ("stopped", "failed"):
            why = f": {report.reason}" if report.reason else ""
            raise GatewayError(f"cluster {name} is {report.status}{why}")
        return GatewayCluster._attach(self, report, shutdown_on_close)

    def _stop_cluster(self, name: str) -> ClusterReport:
        answer = self._request("DELETE", self._path(name), what=f"cluster {name}")
        return ClusterReport._from_json(answer) if answer else ClusterReport(name, status="stopped")

    def _scale_cluster(self, name: str, n: int) -> ClusterReport:
        if isinstance(n, bool) or int(n) != n or n < 0:
            raise ValueError(f"the number of workers must be a whole number >= 0, not {n!r}")
        answer = self._request(
            "POST", self._path(name) + "/scale", {"n": int(n)}, what=f"cluster {name}"
        )
        return ClusterReport._from_json(answer)

    def _adapt_cluster(
        self, name: str, minimum: Optional[int], maximum: Optional[int], active: bool
    ) -> ClusterReport:
        body: dict[str, Any]
        if not active:
            body = {"active": False}
        else:
            lo = 0 if minimum is None else int(minimum)
            if maximum is None:
                raise ValueError("adapt needs maximum= (the most workers to run)")
            if lo < 0 or int(maximum) < lo:
                raise ValueError(f"adapt needs 0 <= minimum <= maximum, not {lo}, {maximum}")
            body = {"minimum": lo, "maximum": int(maximum)}
        answer = self._request("POST", self._path(name) + "/adapt", body, what=f"cluster {name}")
        return ClusterReport._from_json(answer)

    # -- public API
    def health(self) -> dict:
        """``GET /api/v1/health``: ``{"status", "backend", "clusters"}`` (no auth)."""
        return self._run(_http, self.address, None, "GET", "/health", None, self.timeout)

    def list_clusters(self, status: Union[str, list[str], None] = None) -> list[ClusterReport]:
        """The caller's clusters (an admin's: everyone's).

        Parameters
        ----------
        status : str or list of str, optional
            Keep only clusters in these states (e.g. ``"running"``).

        Returns
        -------
        list of ClusterReport
        """
        return self._run(self._list_clusters, status)

    def get_cluster(self, cluster_name: str) -> ClusterReport:
        """The report of one cluster of the caller's.

        Parameters
        ----------
        cluster_name : str
            The cluster's name (``cluster.name``, or from :meth:`list_clusters`).

        Returns
        -------
        ClusterReport

        Raises
        ------
        GatewayClusterNotFound
            If there is none of that name.
        GatewayAuthError
            If it belongs to someone else.
        """
        return self._run(self._get_cluster, cluster_name)

    def cluster_options(self) -> Options:
        """The options a new cluster takes, with defaults and this user's limits.

        Returns
        -------
        Options
            Set values on it and pass it to :meth:`new_cluster`.
        """
        return self._run(self._cluster_options)

    def new_cluster(
        self,
        cluster_options: Optional[Mapping[str, Any]] = None,
        *,
        workers: Optional[int] = None,
        shutdown_on_close: bool = True,
        **kwargs: Any,
    ) -> GatewayCluster:
        """Creates a cluster and waits until its scheduler runs.

        Parameters
        ----------
        cluster_options : Options or dict, optional
            From :meth:`cluster_options`, or a plain dict.
        workers : int, optional
            Workers to start with (default: the gateway's).
        shutdown_on_close : bool
            Stop the cluster when it is closed (``with`` block, ``close()``) or when
            this process exits, like dask-gateway.
        **kwargs
            Options, e.g. ``worker_threads=2, worker_memory="4GiB"``.

        Returns
        -------
        GatewayCluster

        Raises
        ------
        GatewayQuotaError
            If a quota forbids it; ``.limit`` names the quota.
        GatewayClusterStartError
            If the cluster failed to start; the message holds the backend's reason.
        """
        return self._run(self._new_cluster, cluster_options, workers, shutdown_on_close, kwargs)

    def connect(self, cluster_name: str, *, shutdown_on_close: bool = False) -> GatewayCluster:
        """Attaches to a running cluster of the caller's.

        Parameters
        ----------
        cluster_name : str
        shutdown_on_close : bool
            Stop it when the returned object is closed.

        Returns
        -------
        GatewayCluster
        """
        return self._run(self._connect, cluster_name, shutdown_on_close)

    def stop_cluster(self, cluster_name: str) -> ClusterReport:
        """Stops a cluster of the caller's; returns its final report.

        Parameters
        ----------
        cluster_name : str
            The cluster's name.

        Returns
        -------
        ClusterReport
            Its final report (status ``"stopped"``).
        """
        return self._run(self._stop_cluster, cluster_name)

    def scale_cluster(self, cluster_name: str, n: int) -> ClusterReport:
        """Sets a cluster's number of workers (turns adaptive scaling off).

        Parameters
        ----------
        cluster_name : str
            The cluster's name.
        n : int
            The number of workers to run (a whole number >= 0).

        Returns
        -------
        ClusterReport

        Raises
        ------
        ValueError
            If ``n`` is not a whole number >= 0.
        GatewayQuotaError
            If ``n`` workers exceed this user's quota; ``.limit`` names it.
        """
        return self._run(self._scale_cluster, cluster_name, n)

    def adapt_cluster(
        self,
        cluster_name: str,
        minimum: Optional[int] = None,
        maximum: Optional[int] = None,
        active: bool = True,
    ) -> ClusterReport:
        """Lets a cluster scale itself between ``minimum`` and ``maximum`` workers.

        ``active=False`` turns that off.

        Parameters
        ----------
        cluster_name : str
            The cluster's name.
        minimum : int, optional
            The fewest workers to keep (default 0).
        maximum : int
            The most workers to run; required unless ``active=False``.
        active : bool
            False turns adaptive scaling off (``minimum`` and ``maximum`` are then
            ignored).

        Returns
        -------
        ClusterReport

        Raises
        ------
        ValueError
            Without ``maximum``, or unless ``0 <= minimum <= maximum``.
        """
        return self._run(self._adapt_cluster, cluster_name, minimum, maximum, active)

    def close(self) -> None:
        """Closes this connection (clusters keep running unless their own objects
        stop them)."""
        self._closed = True

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gateway<{self.address}, auth={type(self.auth).__name__}>"


# ---------------------------------------------------------------------------- cluster
class GatewayCluster:
    """A cluster that a gateway runs for this user, like ``dask_gateway.GatewayCluster``.

    ``GatewayCluster(**options)`` creates a new cluster (through a new
    :class:`Gateway` with ``address`` and ``auth``); :meth:`Gateway.new_cluster` and
    :meth:`Gateway.connect` return one too.

    Parameters
    ----------
    address : str, optional
        The gateway's URL (default: ``KAON_GATEWAY_ADDRESS``).
    auth : str or Auth
        As for :class:`Gateway`.
    cluster_options : Options or dict, optional
        Options of the new cluster.
    workers : int, optional
        Workers to start with.
    shutdown_on_close : bool
        Stop the cluster when this object is closed or the process exits.
    **kwargs
        More options, e.g. ``worker_threads=2``.

    Attributes
    ----------
    name : str
    scheduler_address : str
        ``host:port``: what :class:`kaon.Client` connects to.
    token : str
        The cluster's secret; the scheduler refuses clients without it.
    dashboard_link : str
    """

    gateway: Gateway
    report: ClusterReport

    def __init__(
        self,
        address: Optional[str] = None,
        auth: Union[str, Auth, None] = "jupyterhub",
        *,
        cluster_options: Optional[Mapping[str, Any]] = None,
        workers: Optional[int] = None,
        shutdown_on_close: bool = True,
        **kwargs: Any,
    ) -> None:
        gateway = Gateway(address, auth)
        made = gateway._new_cluster(cluster_options, workers, shutdown_on_close, kwargs)
        self.__dict__.update(made.__dict__)
        self._owns_gateway = True
        made._finalizer.detach()
        self._finalizer = self._make_finalizer()

    @classmethod
    def _attach(
        cls, gateway: Gateway, report: ClusterReport, shutdown_on_close: bool
    ) -> GatewayCluster:
        self = cls.__new__(cls)
        self.gateway = gateway
        self.report = report
        self.shutdown_on_close = shutdown_on_close
        self._owns_gateway = False
        self._closed = False
        self._finalizer = self._make_finalizer()
        return self

    @classmethod
    def from_name(
        cls,
        cluster_name: str,
        address: Optional[str] = None,
        auth: Union[str, Auth, None] = "jupyterhub",
        *,
        shutdown_on_close: bool = False,
    ) -> GatewayCluster:
        """Attaches to a running cluster by name (:meth:`Gateway.connect`).

        Parameters
        ----------
        cluster_name : str
            The cluster's name.
        address : str, optional
            The gateway's URL (default: ``KAON_GATEWAY_ADDRESS``).
        auth : str or Auth
            As for :class:`Gateway`.
        shutdown_on_close : bool
            Stop the cluster when the returned object is closed or the process exits.

        Returns
        -------
        GatewayCluster

        Examples
        --------
        >>> cluster = kaon.GatewayCluster.from_name("alice.3f2a")  # doctest: +SKIP
        >>> client = cluster.get_client()  # doctest: +SKIP
        """
        gateway = Gateway(address, auth)
        cluster = gateway._connect(cluster_name, shutdown_on_close)
        cluster._owns_gateway = True
        return cluster

    def _make_finalizer(self) -> weakref.finalize:
        f = weakref.finalize(
            self, _stop_quietly, self.gateway.address, self.gateway.auth, self.report.name
        )
        if not self.shutdown_on_close:
            f.detach()
        return f

    # -- attributes
    @property
    def name(self) -> str:
        """The cluster's name."""
        return self.report.name

    @property
    def scheduler_address(self) -> str:
        """``host:port`` of the cluster's scheduler."""
        return self.report.scheduler_address

    @property
    def token(self) -> Optional[str]:
        """The cluster's secret, which :meth:`get_client` passes to the scheduler."""
        return self.report.token

    @property
    def dashboard_link(self) -> str:
        """The cluster's dashboard, through the gateway."""
        return self.report.dashboard_link

    @property
    def status(self) -> str:
        """The status last reported (``refresh()`` asks again)."""
        return self.report.status

    @property
    def asynchronous(self) -> bool:
        """Whether the methods return awaitables (the :class:`Gateway`'s setting)."""
        return self.gateway.asynchronous

    def _update(self, report: ClusterReport) -> ClusterReport:
        if report.token is None:
            report.token = self.report.token
        self.report = report
        return report

    # -- sync implementations
    def _refresh(self) -> ClusterReport:
        return self._update(self.gateway._get_cluster(self.name))

    def _scale(self, n: int) -> ClusterReport:
        return self._update(self.gateway._scale_cluster(self.name, n))

    def _adapt(self, minimum: Optional[int], maximum: Optional[int], active: bool) -> ClusterReport:
        return self._update(self.gateway._adapt_cluster(self.name, minimum, maximum, active))

    def _wait_for_workers(self, n: int, timeout: Optional[float]) -> ClusterReport:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            report = self._refresh()
            if report.workers >= n:
                return report
            if report.status in ("stopped", "failed"):
                why = f": {report.reason}" if report.reason else ""
                raise GatewayError(f"cluster {self.name} is {report.status}{why}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"cluster {self.name} has {report.workers} of {n} workers after {timeout} s"
                )
            time.sleep(0.2)

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._finalizer.detach()
        try:
            self._update(self.gateway._stop_cluster(self.name))
        except GatewayClusterNotFound:
            pass
        self._closed = True

    def _close(self, shutdown: Optional[bool]) -> None:
        if shutdown is None:
            shutdown = self.shutdown_on_close
        if shutdown:
            self._shutdown()
        else:
            self._finalizer.detach()
        self._closed = True
        if self._owns_gateway:
            self.gateway.close()

    # -- public API
    def refresh(self) -> ClusterReport:
        """Asks the gateway for the cluster's current report."""
        return self.gateway._run(self._refresh)

    def scale(self, n: int) -> ClusterReport:
        """Runs ``n`` workers (turns adaptive scaling off).

        Parameters
        ----------
        n : int
            The number of workers (a whole number >= 0).

        Returns
        -------
        ClusterReport

        Raises
        ------
        GatewayQuotaError
            If ``n`` workers exceed this user's quota; ``.limit`` names it.
        """
        return self.gateway._run(self._scale, n)

    def adapt(
        self, minimum: Optional[int] = None, maximum: Optional[int] = None, active: bool = True
    ) -> ClusterReport:
        """Lets the cluster scale itself between ``minimum`` and ``maximum`` workers by its load.

        ``active=False`` turns that off.

        Parameters
        ----------
        minimum : int, optional
            The fewest workers to keep (default 0).
        maximum : int
            The most workers to run; required unless ``active=False``.
        active : bool
            False turns adaptive scaling off.

        Returns
        -------
        ClusterReport

        Examples
        --------
        >>> cluster.adapt(minimum=1, maximum=10)  # doctest: +SKIP
        """
        return self.gateway._run(self._adapt, minimum, maximum, active)

    def wait_for_workers(self, n: int = 1, timeout: Optional[float] = None) -> ClusterReport:
        """Blocks until the gateway reports at least ``n`` workers.

        Parameters
        ----------
        n : int
            The number of workers to wait for.
        timeout : float, optional
            Seconds to wait at most (default: no limit).

        Returns
        -------
        ClusterReport
            The report that showed ``n`` workers.

        Raises
        ------
        TimeoutError
            If ``timeout`` passes first.
        GatewayError
            If the cluster stops or fails meanwhile.
        """
        return self.gateway._run(self._wait_for_workers, n, timeout)

    def get_client(self, set_as_default: bool = True) -> Client:
        """A :class:`kaon.Client` connected to this cluster with its token.

        Parameters
        ----------
        set_as_default : bool
            Make it the client that ``x.compute()`` uses.

        Returns
        -------
        kaon.Client
            (With ``asynchronous=True``: an awaitable of one; the client itself is
            synchronous.)
        """
        from kaon.client import Client

        return self.gateway._run(Client, self, set_as_default=set_as_default)

    def shutdown(self) -> None:
        """Stops the cluster: its scheduler and workers end."""
        return self.gateway._run(self._shutdown)

    def close(self, shutdown: Optional[bool] = None) -> None:
        """Closes this object, and stops the cluster if ``shutdown``.

        Parameters
        ----------
        shutdown : bool, optional
            Stop the cluster (default: the ``shutdown_on_close`` it was created
            with). A gateway connection this object opened itself is closed too.
        """
        return self.gateway._run(self._close, shutdown)

    def __enter__(self) -> GatewayCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close(None)

    async def __aenter__(self) -> GatewayCluster:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.to_thread(self._close, None)

    def __repr__(self) -> str:
        return f"GatewayCluster<{self.name}, status={self.status}, workers={self.report.workers}>"

    def _repr_html_(self) -> str:
        r = self.report
        link = html.escape(r.dashboard_link)
        rows = [
            ("Name", html.escape(r.name)),
            ("User", html.escape(r.user)),
            ("Status", html.escape(r.status) + (f" ({html.escape(r.reason)})" if r.reason else "")),
            ("Workers", f"{r.workers} (wanted {r.desired_workers})"),
            (
                "Adaptive",
                f"{r.adapt.get('minimum')} to {r.adapt.get('maximum')}" if r.adapt else "off",
            ),
            ("Scheduler", html.escape(r.scheduler_address)),
            ("Dashboard", f'<a href="{link}" target="_blank">{link}</a>'),
            ("Gateway", html.escape(self.gateway.address)),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>"
            for k, v in rows
        )
        return f"<div><strong>GatewayCluster</strong><table>{body}</table></div>"
