"""Fixtures of the gateway tests: a real JupyterHub and a real ``kaon gateway --auth
jupyterhub --backend local``, both started here (``tests/gateway/support.py``) and
stopped by PID; tokens of alice and bob minted through the hub's API."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "gateway"))

import support  # noqa: E402

#: Seconds the gateway keeps a token's answer: short, so revocation shows quickly.
CACHE_SECONDS = 1.0
#: Workers one cluster may have (a quota, to see GatewayQuotaError).
MAX_CLUSTER_WORKERS = 3

__all__ = [
    "CACHE_SECONDS",
    "MAX_CLUSTER_WORKERS",
    "HubGateway",
    "hub_fixture",
    "hub_gateway_fixture",
    "support",
]


@dataclass
class HubGateway:
    """A gateway behind a hub, and its users' tokens."""

    hub: support.Hub
    gateway: support.GatewayProcess
    address: str
    alice: str
    bob: str


@pytest.fixture(scope="session", name="hub")
def hub_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Hub]:
    h = support.Hub(tmp_path_factory.mktemp("hub"))
    yield h
    h.stop()


@pytest.fixture(scope="session", name="hub_gateway")
def hub_gateway_fixture(
    hub: support.Hub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubGateway]:
    """``kaon gateway --auth jupyterhub --backend local`` as a hub service would run:
    ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN`` and ``JUPYTERHUB_SERVICE_NAME``
    in its environment."""
    work = tmp_path_factory.mktemp("gateway")
    config = work / "gateway.toml"
    config.write_text(
        f"""
start_timeout = 60
reconcile_interval = 0.5

[jupyterhub]
cache_seconds = {CACHE_SECONDS}

[quotas]
max_cluster_workers = {MAX_CLUSTER_WORKERS}
"""
    )
    gw = support.GatewayProcess(
        support.kaon_binary(),
        work,
        ["--config", config, "--auth", "jupyterhub", "--backend", "local"],
        env={
            "JUPYTERHUB_API_URL": hub.api_url,
            "JUPYTERHUB_API_TOKEN": hub.service_token,
            "JUPYTERHUB_SERVICE_NAME": hub.service_name,
        },
    )
    try:
        yield HubGateway(hub, gw, gw.address, hub.token("alice"), hub.token("bob"))
    finally:
        gw.stop()
