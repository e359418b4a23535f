"""kaon.Gateway, ``kaon cluster`` and ``kaon run`` against a real JupyterHub and a real
``kaon gateway --auth jupyterhub --backend local`` (fixtures in gateway_fixtures.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request

import numpy as np
import psutil
import pytest

import kaon
import kaon.array as ka
from conftest import kaon_uniform
from gateway_fixtures import (  # noqa: F401
    CACHE_SECONDS,
    MAX_CLUSTER_WORKERS,
    HubGateway,
    hub_fixture,
    hub_gateway_fixture,
    support,
)
from kaon.errors import (
    GatewayAuthError,
    GatewayClusterNotFound,
    GatewayError,
    GatewayQuotaError,
    GatewayUnreachable,
)

pytestmark = pytest.mark.timeout(300)


def gateway_of(hg: HubGateway, token: str) -> kaon.Gateway:
    return kaon.Gateway(hg.address, auth=kaon.JupyterHubAuth(api_token=token))


def gateway_children(hg: HubGateway) -> list[psutil.Process]:
    try:
        return psutil.Process(hg.gateway.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def alice_cluster(hub_gateway: HubGateway):
    """Alice's cluster, created through kaon.Gateway and stopped at the end."""
    gw = gateway_of(hub_gateway, hub_gateway.alice)
    cluster = gw.new_cluster(worker_threads=1, workers=1)
    try:
        yield cluster
    finally:
        cluster.close()
        gw.close()


def test_health_and_options(hub_gateway: HubGateway) -> None:
    gw = gateway_of(hub_gateway, hub_gateway.alice)
    health = gw.health()
    assert health["status"] == "ok" and health["backend"] == "local"
    opts = gw.cluster_options()
    for name in ("worker_threads", "worker_memory", "image", "environment", "idle_timeout"):
        assert name in opts.fields, opts.fields
    opts.worker_threads = 2
    opts["worker_memory"] = "1GiB"
    assert opts["worker_memory"] == 2**30
    with pytest.raises(ValueError, match="worker_threads"):
        opts.worker_threads = 10**6
    with pytest.raises(ValueError, match="unknown cluster option"):
        opts["nope"] = 1
    assert "worker_threads" in opts._repr_html_()


def test_alice_scales_computes_and_lists(hub_gateway: HubGateway, alice_cluster) -> None:
    c = alice_cluster
    assert c.status == "running" and c.name and c.token
    assert c.scheduler_address and c.dashboard_link.startswith(hub_gateway.address)
    with kaon.Client(c, set_as_default=False) as first:
        # See test_scale_right_after_create for scaling before the first worker joined.
        first.wait_for_workers(1, timeout=30)
    c.scale(2)
    report = c.wait_for_workers(2, timeout=60)
    log = hub_gateway.gateway.log_tail
    assert report.workers == 2 and report.desired_workers == 2, (report, log())
    client = c.get_client(set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=30)
        pids = {w["pid"] for w in client.scheduler_info()["workers"].values()}
        assert len(pids) == 2, (client.scheduler_info()["workers"], log())
        assert all(psutil.pid_exists(p) for p in pids)
        x = ka.random.random((400, 300), chunks=(100, 100), seed=7)
        got = client.compute((ka.arcsin(x) + ka.arccos(x) * 2).sum(axis=1)).result()
        u = kaon_uniform(7, x.chunks)
        np.testing.assert_allclose(got, (np.arcsin(u) + np.arccos(u) * 2).sum(axis=1))
    finally:
        client.close()
    gw = gateway_of(hub_gateway, hub_gateway.alice)
    names = [r.name for r in gw.list_clusters()]
    assert c.name in names
    assert [r.name for r in gw.list_clusters(status="running")].count(c.name) == 1
    report = gw.get_cluster(c.name)
    assert report.user == "alice" and report.options["worker_threads"] == 1
    assert "GatewayCluster" in c._repr_html_() and c.name in repr(c)
    # Adaptive scaling is accepted and reported.
    assert c.adapt(minimum=1, maximum=2).adapt == {"minimum": 1, "maximum": 2}
    c.scale(2)
    # The dashboard, proxied by the gateway for the owner.
    req = urllib.request.Request(
        c.dashboard_link, headers={"Authorization": f"token {hub_gateway.alice}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_scale_right_after_create(hub_gateway: HubGateway) -> None:
    # The first workers go through the scheduler like any scale, so scaling before
    # they joined starts only the difference.
    gw = gateway_of(hub_gateway, hub_gateway.bob)
    for _ in range(5):
        with gw.new_cluster(workers=1) as c:
            c.scale(2)
            with c.get_client(set_as_default=False) as client:
                client.wait_for_workers(2, timeout=30)
                time.sleep(1.0)
                assert len(client.scheduler_info()["workers"]) == 2
                assert c.refresh().workers == 2


def test_owner_connects_by_name(hub_gateway: HubGateway, alice_cluster) -> None:
    gw = gateway_of(hub_gateway, hub_gateway.alice)
    with gw.connect(alice_cluster.name) as again:
        assert again.token == alice_cluster.token
        assert again.scheduler_address == alice_cluster.scheduler_address
    # connect() does not stop the cluster on close (shutdown_on_close=False).
    assert gw.get_cluster(alice_cluster.name).status == "running"
    other = kaon.GatewayCluster.from_name(
        alice_cluster.name, hub_gateway.address, kaon.JupyterHubAuth(hub_gateway.alice)
    )
    assert other.name == alice_cluster.name and not other.shutdown_on_close
    other.close()
    assert gw.get_cluster(alice_cluster.name).status == "running"


def test_quota_names_the_limit(hub_gateway: HubGateway, alice_cluster) -> None:
    with pytest.raises(GatewayQuotaError) as e:
        alice_cluster.scale(MAX_CLUSTER_WORKERS + 1)
    assert e.value.limit == "max_cluster_workers"
    assert isinstance(e.value, PermissionError) and e.value.status == 403


def test_bob_cannot_touch_alices_cluster(hub_gateway: HubGateway, alice_cluster) -> None:
    name = alice_cluster.name
    bob = gateway_of(hub_gateway, hub_gateway.bob)
    assert name not in [r.name for r in bob.list_clusters()]
    for call in (
        lambda: bob.get_cluster(name),
        lambda: bob.scale_cluster(name, 1),
        lambda: bob.adapt_cluster(name, 1, 2),
        lambda: bob.connect(name),
        lambda: bob.stop_cluster(name),
    ):
        with pytest.raises(GatewayAuthError) as e:
            call()
        assert e.value.status == 403, e.value
        assert hub_gateway.address in str(e.value)
    # Knowing the scheduler's address is not enough.
    for token in (None, "not-the-cluster-secret"):
        with pytest.raises((kaon.KaonError, PermissionError)):
            kaon.Client(
                alice_cluster.scheduler_address, token=token, timeout=3, set_as_default=False
            ).scheduler_info()
    # Alice's cluster still runs.
    assert gateway_of(hub_gateway, hub_gateway.alice).get_cluster(name).status == "running"


def test_bad_missing_and_revoked_tokens(hub_gateway: HubGateway) -> None:
    with pytest.raises(GatewayAuthError) as e:
        gateway_of(hub_gateway, "bogus-token").list_clusters()
    assert e.value.status == 403
    status, answer = support.http("GET", hub_gateway.address + "/api/v1/clusters")
    assert status == 401 and "error" in answer
    # A token without access to the gateway service.
    narrow = hub_gateway.hub.token("alice", scopes=["read:users:name!user=alice"])
    with pytest.raises(GatewayAuthError):
        gateway_of(hub_gateway, narrow).list_clusters()
    # Revoked at the hub: refused once the gateway's cache expired.
    minted = hub_gateway.hub.mint("alice")
    gw = gateway_of(hub_gateway, minted["token"])
    gw.list_clusters()
    hub_gateway.hub.revoke("alice", minted["id"])
    time.sleep(CACHE_SECONDS + 0.5)
    with pytest.raises(GatewayAuthError) as e:
        gw.list_clusters()
    assert e.value.status == 403


def test_errors_name_the_gateway_and_cluster(hub_gateway: HubGateway) -> None:
    gw = gateway_of(hub_gateway, hub_gateway.alice)
    with pytest.raises(GatewayClusterNotFound, match="no-such-cluster"):
        gw.get_cluster("no-such-cluster")
    port = support.free_port()
    with pytest.raises(GatewayUnreachable, match=f"127.0.0.1:{port}") as e:
        kaon.Gateway(f"127.0.0.1:{port}", auth=kaon.JupyterHubAuth("x")).list_clusters()
    assert isinstance(e.value, ConnectionError) and isinstance(e.value, GatewayError)


def test_auth_from_environment(hub_gateway: HubGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAON_GATEWAY_ADDRESS", hub_gateway.address)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub_gateway.bob)
    with kaon.Gateway() as gw:
        assert gw.address == hub_gateway.address
        gw.list_clusters()
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN")
    with pytest.raises(ValueError, match="JUPYTERHUB_API_TOKEN"):
        kaon.Gateway()


def test_context_manager_and_async(hub_gateway: HubGateway) -> None:
    import asyncio

    async def main() -> tuple[str, list[str]]:
        async with kaon.Gateway(
            hub_gateway.address,
            auth=kaon.JupyterHubAuth(hub_gateway.bob),
            asynchronous=True,
        ) as gw:
            async with await gw.new_cluster(workers=1) as cluster:
                names = [r.name for r in await gw.list_clusters()]
                return cluster.name, names

    name, names = asyncio.run(main())
    assert name in names
    # Closed with the block: stopped.
    report = gateway_of(hub_gateway, hub_gateway.bob).get_cluster(name)
    assert report.status in ("stopping", "stopped")


def run_kaon(args: list, env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(support.kaon_binary()), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_cli_cluster_and_run(hub_gateway: HubGateway, tmp_path) -> None:
    # kaon and the test's python3 (with the kaon package) first on PATH.
    path = os.pathsep.join(
        [str(support.kaon_binary().parent), os.path.dirname(sys.executable), os.environ["PATH"]]
    )
    env = {
        "KAON_GATEWAY_ADDRESS": hub_gateway.address,
        "JUPYTERHUB_API_TOKEN": hub_gateway.alice,
        "PATH": path,
    }
    info = tmp_path / "cluster.json"
    r = run_kaon(["cluster", "new", "--workers", "1", "--output", info], env)
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    saved = json.loads(info.read_text())
    assert saved["name"] == name and saved["token"] and saved["scheduler_address"]
    assert stat.S_IMODE(info.stat().st_mode) == 0o600
    try:
        r = run_kaon(["cluster", "scale", f"@{info}", "2"], env)
        assert r.returncode == 0, r.stderr
        r = run_kaon(["cluster", "list"], env)
        assert r.returncode == 0 and name in r.stdout, r.stderr
        # Bob sees an error naming the gateway and the cluster.
        r = run_kaon(["cluster", "stop", name], {**env, "JUPYTERHUB_API_TOKEN": hub_gateway.bob})
        assert r.returncode == 1 and "403" in r.stderr and name in r.stderr, r.stderr
        assert hub_gateway.address in r.stderr
        # kaon run on the existing cluster: `kaon info` reads KAON_SCHEDULER_ADDRESS/KAON_TOKEN.
        r = run_kaon(["run", "--cluster", f"@{info}", "kaon", "info"], env, cwd=tmp_path)
        assert r.returncode == 0 and "2 workers" in r.stdout, r.stdout + r.stderr
    finally:
        r = run_kaon(["cluster", "stop", f"@{info}"], env)
        assert r.returncode == 0, r.stderr
    gw = gateway_of(hub_gateway, hub_gateway.alice)
    assert gw.get_cluster(name).status in ("stopping", "stopped")

    # kaon run --new: a Python script computes on a fresh cluster; its exit status is
    # kept and the cluster is stopped afterwards, also when the script fails.
    script = tmp_path / "analysis.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            import kaon, kaon.array as ka
            address, token = os.environ["KAON_SCHEDULER_ADDRESS"], os.environ["KAON_TOKEN"]
            client = kaon.Client(address, token=token)
            total = float(ka.ones((100, 100), chunks=50).sum().compute())
            result = {"total": total, "name": os.environ["KAON_CLUSTER_NAME"]}
            json.dump(result, open(sys.argv[1], "w"))
            sys.exit(int(sys.argv[2]))
            """
        )
    )
    before = {r.name for r in gw.list_clusters()}
    for code in (0, 3):
        out = tmp_path / f"out{code}.json"
        r = run_kaon(
            ["run", "--workers", "1", str(script), str(out), str(code)],
            env,
        )
        assert r.returncode == code, r.stdout + r.stderr
        result = json.loads(out.read_text())
        assert result["total"] == 10000.0
        assert gw.get_cluster(result["name"]).status in ("stopping", "stopped")
    running = {r.name for r in gw.list_clusters(status=["pending", "running"])}
    assert not (running - before)


def test_no_leftover_processes(hub_gateway: HubGateway, alice_cluster) -> None:
    """Last: once every cluster is stopped, the gateway has no scheduler or worker left."""
    alice_cluster.shutdown()
    for g in (hub_gateway.alice, hub_gateway.bob):
        gw = gateway_of(hub_gateway, g)
        for r in gw.list_clusters(status=["pending", "running"]):
            gw.stop_cluster(r.name)
    deadline = time.monotonic() + 20
    while gateway_children(hub_gateway) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [(p.pid, p.cmdline()) for p in gateway_children(hub_gateway) if p.is_running()]
    assert not left, left
