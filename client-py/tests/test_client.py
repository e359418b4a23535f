"""Clients and clusters: embedded, local processes, a scheduler from the command line,
shared clusters, dying workers, errors, cancellation and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import kaon
import kaon.array as ka
from conftest import PYTHON, kaon_binary, start_process, stop_process, wait_until
from kaon._testing import failing_array


def test_embedded_client_starts_and_closes_its_cluster():
    with kaon.Client(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        assert kaon.default_client() is c
        info = c.scheduler_info()
        assert info["type"] == "Scheduler" and info["address"] == c.scheduler_address
        assert len(info["workers"]) == 2
        for address, w in info["workers"].items():
            assert ":" in address
            for key in ("name", "nthreads", "memory_limit", "pid", "memory", "executing"):
                assert key in w, key
            assert w["nthreads"] == 1 and w["pid"] == os.getpid()  # in-process workers
            assert w["memory_limit"] > 0 and w["executing"] == 0
        assert c.dashboard_link.startswith("http://127.0.0.1:") and c.dashboard_link.endswith(
            "/status"
        )
        assert c.nthreads() == {a: 1 for a in info["workers"]}
        html = c._repr_html_()
        assert "Workers" in html and c.dashboard_link in html and "Threads" in html
        assert "workers=2" in repr(c)
        x = ka.ones((10, 10), chunks=5)
        assert x.sum().compute() == 100.0
        cluster = c.cluster
    assert c.status == "closed" and cluster.status == "closed"
    assert kaon.default_client() is not c
    with pytest.raises(RuntimeError, match="closed"):
        c.scheduler_info()


def test_client_of_a_local_cluster_of_processes(cluster, client):
    pids = cluster.worker_pids()
    assert len(pids) == 2 and os.getpid() not in pids
    info = client.scheduler_info()
    assert sorted(w["pid"] for w in info["workers"].values()) == sorted(pids)
    assert cluster.dashboard_link == client.dashboard_link
    assert set(cluster.workers) == {w["name"] for w in info["workers"].values()}
    assert kaon.Client(cluster, set_as_default=False).scheduler_address == client.scheduler_address
    assert "LocalCluster" in cluster._repr_html_() and "workers=2" in repr(cluster)


def test_futures_gather_and_cancel(client):
    x = ka.random.random((300, 200), chunks=(100, 50), seed=11)
    xv = x.compute()
    f = client.compute(x.sum(axis=0))
    assert isinstance(f, kaon.Future)
    np.testing.assert_allclose(f.result(), xv.sum(axis=0), rtol=1e-12)
    assert f.status == "finished" and f.done() and f.exception() is None
    assert "finished" in repr(f) and f.key in f._repr_html_()
    fs = client.compute([x.min(), x.max()])
    assert isinstance(fs, list) and len(fs) == 2
    lo, hi = client.gather(fs)
    assert lo == xv.min() and hi == xv.max()
    assert client.gather({"a": fs[0], "b": [fs[1]]}) == {"a": xv.min(), "b": [xv.max()]}
    assert np.allclose(client.compute(x.mean(), sync=True), xv.mean())
    p = client.persist(x * 3)
    assert isinstance(p, ka.Array)
    assert np.allclose(client.gather(p), xv * 3)
    # A long computation: a timeout leaves it running, cancel stops it.
    big = ka.arcsin(ka.random.random((100000, 40000), chunks=(2000, 2000), seed=1)).sum()
    g = client.compute(big)
    with pytest.raises(TimeoutError):
        g.result(timeout=0.2)
    client.cancel([g])
    assert g.status == "cancelled"
    with pytest.raises(kaon.CancelledError):
        g.result()
    wait_until(lambda: client.scheduler_info()["graphs_running"] == 0, what="the cancelled graph")
    with pytest.raises(NotImplementedError):
        client.submit(sum, [1, 2])


def test_two_clients_share_one_cluster(cluster):
    results: dict = {}
    errors: list = []

    def run(i: int) -> None:
        try:
            c = kaon.Client(cluster, set_as_default=False)
            x = ka.random.random((2000, 1000), chunks=(250, 250), seed=i)
            futures = c.compute([ka.sin(x).sum(axis=1), x])
            s, xv = c.gather(futures)
            results[i] = np.allclose(s, np.sin(xv).sum(axis=1), rtol=1e-12)
            results[f"info{i}"] = len(c.scheduler_info()["workers"])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert results == {1: True, 2: True, "info1": 2, "info2": 2}


def test_a_scheduler_and_workers_started_from_the_command_line():
    kaon_bin = kaon_binary()
    scheduler = start_process([kaon_bin, "scheduler", "--port", "0", "--dashboard-port", "0"])
    procs = [scheduler]
    try:
        line = scheduler.stdout.readline()
        assert line.startswith("Scheduler at "), (line, scheduler.stderr.read())
        address = line.split()[-1]
        procs.append(
            start_process([kaon_bin, "worker", address, "--nthreads", "1", "--name", "bin"])
        )
        procs.append(
            start_process([PYTHON, "-m", "kaon.worker", address, "--nthreads", "1", "--name", "py"])
        )
        with kaon.Client(address, timeout=10, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=20)
            names = {w["name"] for w in c.scheduler_info()["workers"].values()}
            assert names == {"bin", "py"}
            x = ka.random.random((1000, 400), chunks=(100, 400), seed=5)
            xv, s = c.compute([x, (ka.exp(x) - 1).sum(axis=0)], sync=True)
            np.testing.assert_allclose(s, (np.exp(xv) - 1).sum(axis=0), rtol=1e-12)
            # Both workers took part.
            assert all(w["memory"] > 0 for w in c.scheduler_info()["workers"].values())
    finally:
        for p in reversed(procs):
            stop_process(p)


def test_the_python_scheduler_entry_point():
    scheduler = start_process(
        [PYTHON, "-m", "kaon.scheduler", "--port", "0", "--dashboard-port", "0"]
    )
    worker = None
    try:
        line = scheduler.stdout.readline()
        assert line.startswith("Scheduler at "), (line, scheduler.stderr.read())
        address = line.split()[-1]
        assert scheduler.stdout.readline().startswith("Dashboard at http://")
        worker = start_process([PYTHON, "-m", "kaon.worker", address, "--nthreads", "1"])
        with kaon.Client(f"tcp://{address}", set_as_default=False) as c:
            c.wait_for_workers(1, timeout=20)
            assert c.compute(ka.full((5, 5), 2.0, chunks=2).prod(), sync=True) == 2.0**25
    finally:
        for p in (worker, scheduler):
            if p is not None:
                stop_process(p)
    assert scheduler.returncode == 0
    out = start_process([PYTHON, "-m", "kaon.worker", "--help"])
    assert "--nthreads" in out.communicate(timeout=30)[0]


def test_connection_errors():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(kaon.SchedulerUnreachable) as e:
        kaon.Client(f"127.0.0.1:{port}", timeout=0.5)
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, kaon.KaonError)
    assert f"127.0.0.1:{port}" in str(e.value) and e.value.address == f"127.0.0.1:{port}"
    assert time.monotonic() - t0 < 10
    with pytest.raises(ValueError, match="host:port"):
        kaon.Client("no-port-here")
    with pytest.raises(TypeError):
        kaon.Client(42)


def _delayed_failure(message: str = "", exit_worker: bool = False, rows: int = 200):
    """An array whose tasks fail after a reduction ran first: a graph that ends at once
    can end before the client's progress stream subscribed, and the scheduler then
    loses its error (reported to its owners; the client falls back to a generic one)."""
    x = ka.random.random((600, 4000), chunks=(rows, 1000), seed=1).sum(axis=1, keepdims=True)
    fault = failing_array((600, 1), chunks=(rows, 1), message=message, exit_worker=exit_worker)
    return x + fault


def test_a_failing_task_raises_task_error_with_its_key(client):
    with pytest.raises(kaon.TaskError) as e:
        _delayed_failure("bad value in chunk").compute()
    err = e.value
    assert isinstance(err, kaon.KaonError) and not isinstance(err, kaon.KilledWorker)
    assert err.key.startswith("('") and "fault" in err.key and err.key in str(err)
    assert "bad value in chunk" in err.message and "bad value in chunk" in str(err)
    assert err.worker
    f = client.compute(_delayed_failure("again"))
    assert isinstance(f.exception(), kaon.TaskError) and f.status == "error"
    # The cluster keeps working.
    assert ka.ones((4, 4), chunks=2).sum().compute() == 16.0


def test_a_task_that_kills_its_workers_raises_killed_worker():
    env = {"KAON_ALLOW_FAULT_INJECTION": "1"}
    with (
        kaon.LocalCluster(
            n_workers=3, threads_per_worker=1, dashboard_address=None, env=env, allowed_failures=3
        ) as cl,
        kaon.Client(cl, set_as_default=False) as c,
    ):
        with pytest.raises(kaon.KilledWorker) as e:
            c.compute(_delayed_failure(exit_worker=True, rows=600), sync=True)
        assert isinstance(e.value, kaon.TaskError)
        assert e.value.key == "('fault-add', 0, 0)" and "workers that died" in str(e.value)
        cl.scale(1)  # replaces the dead workers
        assert c.compute(ka.ones(3, chunks=1).sum(), sync=True) == 3.0


def test_killing_a_worker_process_during_compute_still_gives_the_right_result():
    with (
        kaon.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cl,
        kaon.Client(cl, set_as_default=False) as c,
    ):
        # About 1 s of work: long enough to kill a worker in the middle of it.
        x = ka.random.random((48000, 8000), chunks=(500, 1000), seed=2)
        expr = (ka.arcsin(x) * ka.cos(x)).sum(axis=1)
        want = c.compute(expr, sync=True)
        f = c.compute(expr)
        wait_until(lambda: f.progress()[0] > f.progress()[1] // 10, what="some progress")
        busy = [w for w in c.scheduler_info()["workers"].values() if w["executing"] > 0]
        victim = (busy or list(c.scheduler_info()["workers"].values()))[0]["pid"]
        assert victim in cl.worker_pids()
        os.kill(victim, signal.SIGKILL)
        assert not f.done()
        got = f.result(timeout=120)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert victim not in [w["pid"] for w in c.scheduler_info()["workers"].values()]
        cl.scale(2)
        assert len(c.scheduler_info()["workers"]) == 2


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys, kaon, kaon.array as ka
    c = kaon.Client(sys.argv[1])
    x = ka.random.random((40000, 40000), chunks=(2000, 2000), seed=1)
    print("computing", flush=True)
    ka.arcsin(x).sum().compute(progress=False)
    print("finished", flush=True)
    """
)


def test_ctrl_c_cancels_the_computation_on_the_cluster(cluster, client):
    assert client.scheduler_info()["graphs_running"] == 0
    p = start_process([PYTHON, "-c", CTRL_C_SCRIPT, cluster.scheduler_address])
    try:
        assert p.stdout.readline().strip() == "computing"
        wait_until(lambda: client.scheduler_info()["graphs_running"] == 1, what="the graph")
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        stop_process(p)
    assert p.returncode != 0 and "finished" not in out
    assert "KeyboardInterrupt" in err, err
    # The computation was released on the cluster, not left running.
    wait_until(lambda: client.scheduler_info()["graphs_running"] == 0, timeout=5, what="the cancel")


def test_local_cluster_scale_and_adapt():
    with kaon.LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=None, memory_limit="1GB"
    ) as cl:
        assert [w["memory_limit"] for w in cl.workers.values()] == [10**9]
        cl.scale(3)
        assert len(cl.workers) == 3 and len(cl.worker_pids()) == 3
        cl.scale(cores=2)
        assert len(cl.workers) == 2
        cl.adapt(minimum=3, maximum=5)  # up to the minimum at once
        wait_until(lambda: len(cl.workers) == 3, what="adapting up to the minimum")
        cl.adapt(minimum=0, maximum=1)  # an idle cluster goes down after a few seconds
        wait_until(lambda: len(cl.workers) == 1, timeout=30, what="adapting down")
        cl.scale(2)  # ends adaptive scaling
        assert len(cl.workers) == 2
        with pytest.raises(ValueError):
            cl.adapt(minimum=2, maximum=1)
        with kaon.Client(cl, set_as_default=False) as c:
            assert c.compute(ka.ones((6, 6), chunks=3).sum(), sync=True) == 36.0
    assert cl.status == "closed" and cl.workers == {}
    with kaon.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cl:
        assert cl.worker_pids() == [] and len(cl.workers) == 2
        cl.scale(1)
        assert len(cl.workers) == 1
    with pytest.raises(ValueError, match="memory limit"):
        kaon.LocalCluster(memory_limit="3 parsecs")


def test_a_dashboard_port_in_use_falls_back_to_a_free_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.warns(RuntimeWarning, match=f"Port {port}"):
            cl = kaon.LocalCluster(n_workers=1, processes=False, dashboard_address=f":{port}")
        with cl:
            assert cl.dashboard_link.startswith("http://127.0.0.1:")
            assert f":{port}/" not in cl.dashboard_link


def test_worker_entry_point_requires_an_address():
    p = start_process([PYTHON, "-m", "kaon.worker"], env={"KAON_SCHEDULER_ADDRESS": ""})
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0 and "address" in err
    assert sys.executable == PYTHON


def test_waiting_for_a_computation_does_not_burn_cpu(client):
    x = ka.random.random((48000, 32000), chunks=(4000, 4000), seed=3)
    expr = (ka.arcsin(x) * ka.cos(x)).sum()
    wall, cpu = time.perf_counter(), time.process_time()
    client.compute(expr, sync=True, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert wall > 0.3, "the computation was too short to tell"
    assert cpu < 0.25 * wall, (cpu, wall)  # the workers are other processes


def test_expressions_on_a_persisted_array_read_its_kept_chunks(client):
    x = ka.random.random((3000, 2000), chunks=(500, 500), seed=21)
    xv = x.compute()
    p = client.persist(ka.sin(x) * 2)
    # Built at once, while the persisted graph may still run: its tasks wait for it.
    later = [(p + 1).sum(axis=0), p.max(), p[::7, 3]]
    tasks, layers = later[0]._h.graph_summary()
    assert layers[0] == "persisted", layers
    assert not any("random" in name or "sin" in name for name in layers), layers
    assert tasks < x.npartitions * 3
    s, m, col = client.gather(client.compute(later))
    # Fetching the persisted array itself keeps it on the cluster for the next reader.
    pv = p.compute()
    np.testing.assert_allclose(pv, np.sin(xv) * 2, rtol=1e-15)
    np.testing.assert_allclose(s, (pv + 1).sum(axis=0), rtol=1e-12)
    assert m == pv.max()
    np.testing.assert_array_equal(col, pv[::7, 3])
    np.testing.assert_array_equal((p - p).compute(), np.zeros_like(pv))
    # Cancelled, its results are gone: readers fail with a message saying why, and the
    # cluster goes on serving.
    q = client.persist(x * 5)
    q.compute()
    client.cancel([q])
    with pytest.raises(kaon.TaskError, match="released"):
        (q + 1).compute()
    assert (x[:1, :1] + 1).compute()[0, 0] == xv[0, 0] + 1


def test_a_persisted_array_survives_the_loss_of_a_worker_holding_it():
    with (
        kaon.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cl,
        kaon.Client(cl, set_as_default=False) as c,
    ):
        x = ka.random.random((4000, 1000), chunks=(250, 1000), seed=5)
        p = c.persist(ka.arccos(x))
        pv = c.compute(p, sync=True)
        np.testing.assert_allclose(pv, np.arccos(c.compute(x, sync=True)), rtol=1e-15)
        holders = {w["pid"]: w["memory"] for w in c.scheduler_info()["workers"].values()}
        assert len(holders) == 2 and all(m > 0 for m in holders.values()), holders
        os.kill(next(iter(holders)), signal.SIGKILL)
        # The chunks only the dead worker held are computed again, the rest are read.
        got = c.compute((p * 2).sum(axis=1), sync=True)
        np.testing.assert_allclose(got, (pv * 2).sum(axis=1), rtol=1e-12)
        np.testing.assert_array_equal(c.compute(p + 0, sync=True), pv)
