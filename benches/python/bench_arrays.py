"""kaon.array against dask.array, side by side, in one invocation.

What it measures, for each case below: the best-of-N wall time of the computation
(cluster start-up and one tiny warm-up computation excluded) and the peak memory,
summed RSS of the whole process tree (client, scheduler and worker processes; sampled
every 20 ms with psutil, the list of processes refreshed every 0.5 s), for

- Kaon: ``kaon.LocalCluster(n_workers=1, threads_per_worker=2, processes=True)`` and
  2 workers x 1 thread, each with ``kaon.Client(cluster)``; the faster one is reported;
- Dask: the threaded scheduler and ``distributed.LocalCluster(n_workers=1,
  threads_per_worker=2)``; the faster one is reported.

Every case runs in a fresh subprocess per system and configuration (Kaon in
``.venv``, Dask in ``.venv-bench``). Cases:

==========  ====================================================================
seed        ``(arcsin(x) + arccos(y)).sum(axis=(1, 2))``, random (10000,10000,10),
            chunks (1000,1000,10)
tadd        ``(x + x.T).sum()``, random (20000,20000), chunks (2000,2000)
mean0       ``x.mean(axis=0)``, random (50_000_000, 4), chunks (1_000_000, 4)
std         ``x.std()``, same array
matmul      ``x @ x.T``, random (4000,4000), chunks (1000,1000)
hist        ``histogram(normal(0, 1, size=10**9, chunks=10**7), bins=100,
            range=(-5, 5))``
==========  ====================================================================

Random numbers differ between Kaon and Dask, so the big runs are checked
statistically: every configuration's summary (shape, mean, sum, std, histogram
counts) must agree with the analytic expectation and with the other system's. A
separate exact check computes small versions of every expression on the same NumPy
input (``from_array``) with Kaon, Dask and NumPy and requires agreement to 1e-9
relative (histogram counts: exactly).

Two measurements of the Python layer alone: the time to build and lower (to the graph
that ``Client.compute`` submits; ``Array._h.graph_summary()`` runs the same lowering
without submitting) a 100,000-chunk expression, its submit and end-to-end times; and
the seed expression through ``kaon.array`` against the Rust API
(``target/release/seed``, which starts ``kaon local`` 1x2 and 2x1) as Python overhead,
the two alternating (``--overhead-rounds``) since the machine's load changes by the minute.

Run it with ``make bench-arrays`` (builds kaon release into ``.venv``, the ``kaon`` and
``seed`` release binaries, Dask into ``.venv-bench``), or directly::

    .venv/bin/python benches/python/bench_arrays.py [--reps 3] [--cases seed,std]

It prints a Markdown table and writes it to ``target/bench-arrays.md`` (raw results in
``target/bench-arrays.json``). Exit status: 1 if a result disagrees or a run failed,
2 if a Kaon feature a case needs is not implemented yet (printed as NOT IMPLEMENTED YET).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
import traceback

import numpy as np
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MiB = 2**20

CASES = ["seed", "tadd", "mean0", "std", "matmul", "hist"]
KAON_CONFIGS = ["1x2", "2x1"]
DASK_CONFIGS = ["threads", "dist1x2"]
DESCRIPTION = {
    "seed": "`(arcsin(x) + arccos(y)).sum(axis=(1,2))`, (10000,10000,10) in (1000,1000,10)",
    "tadd": "`(x + x.T).sum()`, (20000,20000) in (2000,2000)",
    "mean0": "`x.mean(axis=0)`, (50M,4) in (1M,4)",
    "std": "`x.std()`, (50M,4) in (1M,4)",
    "matmul": "`x @ x.T`, (4000,4000) in (1000,1000)",
    "hist": "`histogram(normal(size=1e9, chunks=1e7), bins=100, range=(-5,5))`",
}
#: Which Kaon features each case needs (checked before a cluster starts).
NEEDS = {
    "seed": [],
    "tadd": ["Array.T"],
    "mean0": [],
    "std": [],
    "matmul": ["Array.T", "Array.__matmul__"],
    "hist": ["histogram"],
}
XCHECK_NEEDS = ["from_array", "Array.T", "Array.__matmul__", "histogram"]

SEED_SHAPE, SEED_CHUNKS = (10000, 10000, 10), (1000, 1000, 10)
TADD_N, TADD_CH = 20000, 2000
TALL_SHAPE, TALL_CHUNKS = (50_000_000, 4), (1_000_000, 4)
MM_N, MM_CH = 4000, 1000
HIST_N, HIST_CH = 10**9, 10**7
GRAPH_CHUNKS = 100_000


# ---------------------------------------------------------------------------- memory
def _tree(root: psutil.Process) -> list:
    try:
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return [root]


class Sampler(threading.Thread):
    """Peak of the summed RSS of this process and all its descendants.

    Finding the descendants walks all of /proc (about 10 ms on a loaded machine, with
    the GIL held), so the process list is refreshed every ``refresh`` seconds and only
    their RSS (one small /proc read each) every ``interval``: the sampler then takes
    about 1% of one core and does not hold up a scheduler in this process.
    """

    def __init__(self, interval: float = 0.02, refresh: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.refresh = refresh
        self.root = psutil.Process()
        self._halt = threading.Event()
        self._procs = _tree(self.root)
        self._listed = time.monotonic()
        self.peak = 0

    def sample(self, fresh: bool = False) -> int:
        now = time.monotonic()
        if fresh or now - self._listed > self.refresh:
            self._procs = _tree(self.root)
            self._listed = now
        tot = 0
        for p in self._procs:
            try:
                tot += p.memory_info().rss
            except psutil.Error:
                pass
        return tot

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self.sample())
            self._halt.wait(self.interval)

    def reset(self) -> None:
        self.peak = self.sample(fresh=True)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def tree_cpu_s() -> float:
    tot = 0.0
    for p in _tree(psutil.Process()):
        try:
            t = p.cpu_times()
            tot += t.user + t.system
        except psutil.Error:
            pass
    return tot


def busy_cpu_s() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


# ---------------------------------------------------------------------------- children
def has_feature(ka, name: str) -> bool:
    if name.startswith("Array."):
        return hasattr(ka.Array, name[len("Array.") :])
    return hasattr(ka, name)


def missing_features(names: list) -> list:
    import kaon.array as ka

    return [n for n in names if not has_feature(ka, n)]


def build(case: str, system: str):
    """The lazy result of ``case``: a tuple of arrays (or numpy values)."""
    if system == "kaon":
        import kaon.array as xa

        def rand(shape, chunks):
            return xa.random.random(shape, chunks=chunks, seed=1)

        def rand2(shape, chunks):
            return xa.random.random(shape, chunks=chunks, seed=2)

        def normal(n, chunks):
            return xa.random.normal(0, 1, size=n, chunks=chunks, seed=1)
    else:
        import dask.array as xa

        def rand(shape, chunks):
            return xa.random.random(shape, chunks=chunks)

        rand2 = rand

        def normal(n, chunks):
            return xa.random.normal(0, 1, size=n, chunks=chunks)

    if case == "seed":
        x, y = rand(SEED_SHAPE, SEED_CHUNKS), rand2(SEED_SHAPE, SEED_CHUNKS)
        return ((xa.arcsin(x) + xa.arccos(y)).sum(axis=(1, 2)),)
    if case == "tadd":
        x = rand((TADD_N, TADD_N), (TADD_CH, TADD_CH))
        return ((x + x.T).sum(),)
    if case == "mean0":
        return (rand(TALL_SHAPE, TALL_CHUNKS).mean(axis=0),)
    if case == "std":
        return (rand(TALL_SHAPE, TALL_CHUNKS).std(),)
    if case == "matmul":
        x = rand((MM_N, MM_N), (MM_CH, MM_CH))
        return (x @ x.T,)
    if case == "hist":
        counts, edges = xa.histogram(normal(HIST_N, HIST_CH), bins=100, range=(-5, 5))
        return counts, edges
    raise ValueError(case)


def materialize(system: str, mode: str, parts: tuple) -> list:
    """Computes the lazy parts (numpy parts pass through), as numpy arrays."""
    lazy = [i for i, p in enumerate(parts) if hasattr(p, "compute")]
    # np.asarray of a lazy array computes it: only the eager parts go through it.
    out = [None if hasattr(p, "compute") else np.asarray(p) for p in parts]
    if lazy:
        if system == "kaon":
            import kaon

            vals = kaon.compute(*[parts[i] for i in lazy], progress=False)
        else:
            import dask

            kw = {"scheduler": "threads"} if mode == "threads" else {}
            vals = dask.compute(*[parts[i] for i in lazy], **kw)
        for i, v in zip(lazy, vals):
            out[i] = np.asarray(v)
    return out


def summarize(case: str, vals: list) -> dict:
    """Small, comparable facts about a case's result."""
    v = vals[0]
    s = {"shape": list(v.shape)}
    if case == "seed":
        s.update(mean=float(v.mean()), min=float(v.min()), max=float(v.max()))
    elif case in ("tadd", "std"):
        s.update(value=float(v))
    elif case == "mean0":
        s.update(values=[float(t) for t in v])
    elif case == "matmul":
        s.update(
            sum=float(v.sum()),
            trace=float(np.trace(v)),
            asym=float(np.abs(v - v.T).max()),
        )
    elif case == "hist":
        s.update(counts=[int(t) for t in v], edges=[float(t) for t in vals[1]])
    return s


def start_cluster(system: str, config: str):
    """(compute-ready state, closer) for a configuration; the default client is set."""
    if system == "kaon":
        import kaon

        nw, tpw = (int(t) for t in config.split("x"))
        cluster = kaon.LocalCluster(
            n_workers=nw, threads_per_worker=tpw, processes=True, dashboard_address=None
        )
        client = kaon.Client(cluster)
        client.wait_for_workers(nw, timeout=60)

        def close() -> None:
            client.close()
            cluster.close()

        return close
    if config == "threads":
        return lambda: None
    from dask.distributed import Client, LocalCluster

    nw, tpw = (int(t) for t in config.removeprefix("dist").split("x"))
    cluster = LocalCluster(
        n_workers=nw, threads_per_worker=tpw, dashboard_address=":0", silence_logs=40
    )
    client = Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return close


def warm_up(system: str, config: str) -> None:
    if system == "kaon":
        import kaon.array as ka

        ka.ones((10,), chunks=5).sum().compute(progress=False)
    else:
        import dask.array as da

        kw = {"scheduler": "threads"} if config == "threads" else {}
        da.ones((10,), chunks=5).sum().compute(**kw)


def child_case(a: argparse.Namespace) -> dict:
    out = {"system": a.system, "config": a.config, "case": a.case}
    if a.system == "kaon":
        miss = missing_features(NEEDS[a.case])
        if miss:
            out["not_implemented"] = miss
            return out
    sampler = Sampler()
    sampler.start()
    out["idle_MiB"] = round(sampler.sample(fresh=True) / MiB, 1)
    close = start_cluster(a.system, a.config)
    try:
        warm_up(a.system, a.config)
        out["cluster_MiB"] = round(sampler.sample(fresh=True) / MiB, 1)
        times, peaks, foreign, summaries = [], [], [], []
        for _ in range(a.reps):
            sampler.reset()
            b0, c0 = busy_cpu_s(), tree_cpu_s()
            t0 = time.perf_counter()
            vals = materialize(a.system, a.config, build(a.case, a.system))
            dt = time.perf_counter() - t0
            b1, c1 = busy_cpu_s(), tree_cpu_s()
            times.append(dt)
            peaks.append(sampler.peak / MiB)
            foreign.append(max(0.0, (b1 - b0) - (c1 - c0)) / dt)
            summaries.append(summarize(a.case, vals))
            del vals
        out.update(
            times=[round(t, 4) for t in times],
            peaks_MiB=[round(p, 1) for p in peaks],
            foreign_cores=[round(f, 2) for f in foreign],
            summaries=summaries,
        )
    finally:
        close()
        sampler.stop()
    return out


def child_graph(a: argparse.Namespace) -> dict:
    """The Python layer on a 100,000-chunk expression: build, lower, submit, compute."""
    import kaon
    import kaon.array as ka

    n = GRAPH_CHUNKS * 10

    def expr():
        x = ka.random.random((n,), chunks=10, seed=1)
        return ((ka.sin(x) * 2.0 + 1.0) ** 2).sum()

    builds, lowers = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        z = expr()
        t1 = time.perf_counter()
        tasks, layers = z._h.graph_summary()
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        lowers.append(t2 - t1)
    out = {
        "case": "graph",
        "chunks": ka.random.random((n,), chunks=10, seed=1).npartitions,
        "tasks": tasks,
        "layers": layers,
        "build_s": [round(t, 5) for t in builds],
        "lower_s": [round(t, 5) for t in lowers],
    }
    close = start_cluster("kaon", a.config)
    try:
        warm_up("kaon", a.config)
        client = kaon.get_client()
        submits, totals, values = [], [], []
        for _ in range(a.reps):
            z = expr()
            t0 = time.perf_counter()
            job = client._rust.submit([z._h])
            t1 = time.perf_counter()
            while not job.wait(1.0):
                pass
            job.release()
            submits.append(t1 - t0)
            z = expr()
            t2 = time.perf_counter()
            values.append(float(z.compute(progress=False)))
            totals.append(time.perf_counter() - t2)
        out.update(
            config=a.config,
            submit_s=[round(t, 4) for t in submits],
            compute_s=[round(t, 4) for t in totals],
            values=values,
        )
    finally:
        close()
    return out


def child_xcheck(a: argparse.Namespace) -> dict:
    """Small versions of every case on one NumPy input: max relative differences of
    the system's results from NumPy's."""
    out = {"system": a.system, "case": "xcheck"}
    if a.system == "kaon":
        miss = missing_features(XCHECK_NEEDS)
        if miss:
            out["not_implemented"] = miss
            return out
        import kaon.array as xa
    else:
        import dask.array as xa
    rng = np.random.default_rng(12345)
    a3, b3 = rng.random((200, 100, 10)), rng.random((200, 100, 10))
    sq = rng.random((600, 600))
    tall = rng.random((100_000, 4))
    mm = rng.random((400, 400))
    nrm = rng.normal(0, 1, size=10**6)
    ref = {
        "seed": (np.arcsin(a3) + np.arccos(b3)).sum(axis=(1, 2)),
        "tadd": np.asarray((sq + sq.T).sum()),
        "mean0": tall.mean(axis=0),
        "std": np.asarray(tall.std()),
        "matmul": mm @ mm.T,
        "hist": np.histogram(nrm, bins=100, range=(-5, 5))[0],
    }
    close = start_cluster(a.system, a.config)
    try:

        def fa(v, chunks):
            return xa.from_array(v, chunks=chunks)

        x3, y3 = fa(a3, (50, 50, 10)), fa(b3, (50, 50, 10))
        s = fa(sq, (200, 200))
        t = fa(tall, (10_000, 4))
        m = fa(mm, (100, 100))
        lazy = {
            "seed": (xa.arcsin(x3) + xa.arccos(y3)).sum(axis=(1, 2)),
            "tadd": (s + s.T).sum(),
            "mean0": t.mean(axis=0),
            "std": t.std(),
            "matmul": m @ m.T,
            "hist": xa.histogram(fa(nrm, 10**5), bins=100, range=(-5, 5))[0],
        }
        got = {}
        for k, v in lazy.items():
            try:
                got[k] = materialize(a.system, a.config, (v,))[0]
            except Exception as e:  # noqa: BLE001 (reported as this check's failure)
                got[k] = e
        diffs = {}
        for k, r in ref.items():
            g = got[k]
            if isinstance(g, Exception):
                diffs[k] = {"error": f"{type(g).__name__}: {g}"}
            elif g.shape != r.shape:
                diffs[k] = {"error": f"shape {g.shape} != numpy's {r.shape}"}
            elif k == "hist":
                diffs[k] = {
                    "bins_differing": int((g != r).sum()),
                    "max_abs": int(abs(g - r).max()),
                }
            else:
                scale = float(np.abs(r).max()) or 1.0
                diffs[k] = {"max_rel": float(np.abs(g - r).max() / scale)}
        out["diffs"] = diffs
    finally:
        close()
    return out


def child_main(argv: list) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["case", "graph", "xcheck"])
    ap.add_argument("--system", choices=["kaon", "dask"], default="kaon")
    ap.add_argument("--config", default="1x2")
    ap.add_argument("--case", default="seed")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args(argv)
    try:
        fn = {"case": child_case, "graph": child_graph, "xcheck": child_xcheck}[a.kind]
        out = fn(a)
    except Exception as e:  # noqa: BLE001 (any failure goes back to the driver)
        out = {
            "system": a.system,
            "config": a.config,
            "case": a.case if a.kind == "case" else a.kind,
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-3000:],
        }
    print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------- driver
def snapshot_kaon(py: str, dest: str) -> dict:
    """Copies the ``kaon`` package that ``py`` imports, with its built extension, to
    ``dest/kaon``: the benchmark then runs that copy (workers included), whatever is
    edited or rebuilt in the checkout meanwhile."""
    import shutil

    find = "import importlib.util as u; print(u.find_spec('kaon').submodule_search_locations[0])"
    src = subprocess.run(
        [py, "-c", find], check=True, capture_output=True, text=True
    ).stdout.strip()
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(
        src, os.path.join(dest, "kaon"), ignore=shutil.ignore_patterns("__pycache__")
    )
    info = {"source": src, "copy": dest}
    for f in os.listdir(src):
        if f.startswith("_kaon") and f.endswith(".so"):
            st = os.stat(os.path.join(src, f))
            info["extension"] = f
            info["built"] = time.strftime(
                "%Y-%m-%d %H:%M:%S UTC", time.gmtime(st.st_mtime)
            )
    return info


def run_child(
    py: str, args: list, timeout: float, pythonpath: str | None = None
) -> dict:
    cmd = [py, os.path.abspath(__file__), "--child", *args]
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t0 = time.time()
    load0 = os.getloadavg()[0]
    try:
        p = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s: {' '.join(args)}"}
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT ") :])
    if res is None:
        tail = (p.stdout + p.stderr)[-3000:]
        res = {"error": f"no result (exit status {p.returncode}): {tail}"}
    res["load1"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    res["child_wall_s"] = round(time.time() - t0, 1)
    return res


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def check_one(case: str, s: dict) -> list:
    """Problems of one summary against the analytic expectation."""
    bad = []

    def near(what, got, want, tol):
        if not rel(got, want) <= tol:
            bad.append(f"{what} {got!r} is not within {tol:g} relative of {want!r}")

    if case == "seed":
        if s["shape"] != [SEED_SHAPE[0]]:
            bad.append(f"shape {s['shape']}")
        near("mean", s["mean"], SEED_SHAPE[1] * SEED_SHAPE[2] * math.pi / 2, 1e-3)
    elif case == "tadd":
        near("sum", s["value"], float(TADD_N) ** 2, 1e-3)
    elif case == "mean0":
        if s["shape"] != [TALL_SHAPE[1]]:
            bad.append(f"shape {s['shape']}")
        for v in s["values"]:
            near("column mean", v, 0.5, 1e-3)
    elif case == "std":
        near("std", s["value"], math.sqrt(1 / 12), 1e-3)
    elif case == "matmul":
        if s["shape"] != [MM_N, MM_N]:
            bad.append(f"shape {s['shape']}")
        near("sum", s["sum"], MM_N**3 / 4, 5e-3)
        near("trace", s["trace"], MM_N * MM_N / 3, 5e-3)
        if s["asym"] > 1e-9 * MM_N:
            bad.append(f"x @ x.T is not symmetric: max |r - r.T| = {s['asym']}")
    elif case == "hist":
        counts, edges = s["counts"], s["edges"]
        if len(counts) != 100 or len(edges) != 101:
            bad.append(f"{len(counts)} counts, {len(edges)} edges")
            return bad
        if not np.allclose(edges, np.linspace(-5, 5, 101), rtol=0, atol=1e-12):
            bad.append("edges are not linspace(-5, 5, 101)")
        inside = HIST_N * (normal_cdf(5) - normal_cdf(-5))
        if abs(sum(counts) - inside) > 6 * math.sqrt(HIST_N - inside) + 10:
            bad.append(f"counts sum to {sum(counts)}, expected {inside:.0f}")
        z = [
            (c - HIST_N * (normal_cdf(hi) - normal_cdf(lo)))
            / math.sqrt(HIST_N * (normal_cdf(hi) - normal_cdf(lo)) + 1)
            for c, lo, hi in zip(counts, edges[:-1], edges[1:])
        ]
        worst = max(range(100), key=lambda i: abs(z[i]))
        if abs(z[worst]) > 6:
            bad.append(
                f"bin {worst} [{edges[worst]:.2f}, {edges[worst + 1]:.2f}) holds "
                f"{counts[worst]}, {z[worst]:+.1f} sigma from the normal distribution"
            )
    return bad


def check_pair(case: str, k: dict, d: dict) -> list:
    """Problems of a Kaon summary against a Dask one (different random numbers)."""
    bad = []
    if k["shape"] != d["shape"]:
        return [f"shapes differ: kaon {k['shape']}, dask {d['shape']}"]
    key, tol = {
        "seed": ("mean", 1e-3),
        "tadd": ("value", 1e-3),
        "std": ("value", 1e-3),
        "matmul": ("sum", 5e-3),
        "mean0": ("values", 1e-3),
        "hist": ("counts", 1e-5),
    }[case]
    if case == "mean0":
        pairs = [("column mean", a, b, tol) for a, b in zip(k[key], d[key])]
    elif case == "hist":
        pairs = [("counts sum", sum(k[key]), sum(d[key]), tol)]
    else:
        pairs = [(key, k[key], d[key], tol)]
    for what, a, b, tol in pairs:
        if not rel(a, b) <= tol:
            bad.append(f"{what}: kaon {a!r} vs dask {b!r} (more than {tol:g} relative)")
    if case == "hist":
        worst = max(
            abs(a - b) / math.sqrt(a + b + 1) for a, b in zip(k["counts"], d["counts"])
        )
        if worst > 7:
            bad.append(f"histogram counts differ by {worst:.1f} sigma in some bin")
    return bad


def python_overhead(a, n: int, kconf: list, kpath, problems: list) -> dict:
    """The seed expression through kaon.array and through the Rust API, alternating
    (the machine's load changes from minute to minute), ``a.overhead_rounds`` times."""
    out = {"rounds": a.overhead_rounds, "python": {}, "rust": {}, "load1": []}
    for c in kconf:
        out["python"][c] = {"times": [], "peaks": []}
        out["rust"][c] = {"times": [], "peaks": []}
    for _ in range(a.overhead_rounds):
        for c in kconf:
            r = run_child(
                a.kaon_python,
                [
                    "case",
                    "--system",
                    "kaon",
                    "--config",
                    c,
                    "--case",
                    "seed",
                    "--reps",
                    str(n),
                ],
                a.timeout,
                kpath,
            )
            if "times" in r:
                out["python"][c]["times"] += r["times"]
                out["python"][c]["peaks"] += r["peaks_MiB"]
                out["load1"].append(r["load1"])
            else:
                problems.append(
                    f"FAILED: seed through kaon.array ({c}): {r.get('error')}"
                )
                print("!" * 8, problems[-1], flush=True)
        load0 = os.getloadavg()[0]
        p = subprocess.run(
            [a.seed_bin, "--kaon", a.kaon_bin, "--reps", str(n)],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=a.timeout,
        )
        out["load1"].append([round(load0, 2), round(os.getloadavg()[0], 2)])
        try:
            rust = json.loads(p.stdout.strip().splitlines()[-1])["kaon"]
        except (IndexError, ValueError, KeyError):
            problems.append(f"FAILED: {a.seed_bin}: {(p.stdout + p.stderr)[-2000:]}")
            print("!" * 8, problems[-1], flush=True)
            continue
        for c in kconf:
            rr = rust.get(f"local{c}")
            if rr:
                out["rust"][c]["times"] += rr["raw_wall_s"]
                out["rust"][c]["peaks"].append(rr["peak_rss_MiB"])
        print(f"overhead round: {json.dumps(out)}", flush=True)
    return out


def fmt_s(t) -> str:
    return "—" if t is None else (f"{t:.3f} s" if t < 10 else f"{t:.2f} s")


def fmt_mib(m) -> str:
    return "—" if m is None else f"{m:,.0f} MiB"


def uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], check=False, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        la = os.getloadavg()
        return f"load average: {la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--reps", type=int, default=3, help="timed repetitions (best is reported)"
    )
    ap.add_argument(
        "--case-reps",
        default="",
        help="repetitions of single cases, overriding --reps, e.g. 'hist=2,seed=2'",
    )
    ap.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated subset of cases"
    )
    ap.add_argument("--kaon-python", default=os.path.join(ROOT, ".venv/bin/python"))
    ap.add_argument(
        "--dask-python", default=os.path.join(ROOT, ".venv-bench/bin/python")
    )
    ap.add_argument("--kaon-configs", default=",".join(KAON_CONFIGS))
    ap.add_argument("--dask-configs", default=",".join(DASK_CONFIGS))
    ap.add_argument("--seed-bin", default=os.path.join(ROOT, "target/release/seed"))
    ap.add_argument("--kaon-bin", default=os.path.join(ROOT, "target/release/kaon"))
    ap.add_argument(
        "--no-python-layer", action="store_true", help="skip graph and overhead"
    )
    ap.add_argument(
        "--overhead-rounds",
        type=int,
        default=2,
        help="alternations of the seed expression through kaon.array and the Rust API",
    )
    ap.add_argument(
        "--no-xcheck", action="store_true", help="skip the same-input check"
    )
    ap.add_argument("--timeout", type=float, default=900, help="seconds per subprocess")
    ap.add_argument("--out", default=os.path.join(ROOT, "target/bench-arrays.md"))
    ap.add_argument(
        "--snapshot",
        default=os.path.join(ROOT, "target/bench-arrays-kaon"),
        help="where to copy the kaon package before running ('' runs it in place)",
    )
    a = ap.parse_args()
    cases = [c for c in a.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r} (cases: {', '.join(CASES)})")
    reps = dict.fromkeys(cases, a.reps)
    for item in filter(None, a.case_reps.split(",")):
        name, _, n = item.partition("=")
        if name not in CASES or not n.isdigit() or int(n) < 1:
            ap.error(f"--case-reps: {item!r} is not CASE=N")
        reps[name] = int(n)
    kconf = [c for c in a.kaon_configs.split(",") if c]
    dconf = [c for c in a.dask_configs.split(",") if c]

    problems: list = []  # results that disagree, runs that failed
    missing: list = []  # NOT IMPLEMENTED YET
    load_start = uptime()
    print(
        f"# bench-arrays, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {load_start}",
        flush=True,
    )
    kpath = None
    snap = {}
    if a.snapshot:
        snap = snapshot_kaon(a.kaon_python, a.snapshot)
        kpath = a.snapshot
        print(f"kaon package: {json.dumps(snap)}", flush=True)
    runs: dict = {}
    for case in cases:
        for system, py, confs in (
            ("kaon", a.kaon_python, kconf),
            ("dask", a.dask_python, dconf),
        ):
            for conf in confs:
                r = run_child(
                    py,
                    ["case", "--system", system, "--config", conf, "--case", case]
                    + ["--reps", str(reps[case])],
                    a.timeout,
                    kpath if system == "kaon" else None,
                )
                runs[(case, system, conf)] = r
                tag = f"{case} {system} {conf}"
                if r.get("not_implemented"):
                    msg = f"NOT IMPLEMENTED YET: {tag}: kaon.array lacks {', '.join(r['not_implemented'])}"
                    print("!" * 8, msg, flush=True)
                    missing.append(msg)
                    continue
                if "error" in r:
                    msg = f"FAILED: {tag}: {r['error']}"
                    print("!" * 8, msg, flush=True)
                    if r.get("traceback"):
                        print(r["traceback"], flush=True)
                    problems.append(msg)
                    continue
                for s in r["summaries"]:
                    for b in check_one(case, s):
                        problems.append(f"MISMATCH: {tag}: {b}")
                        print("!" * 8, problems[-1], flush=True)
                print(
                    f"{tag}: best {min(r['times']):.3f} s of {r['times']}, peak "
                    f"{max(r['peaks_MiB']):.0f} MiB, other load {max(r['foreign_cores'])} "
                    f"cores, load1 {r['load1']}",
                    flush=True,
                )

    # Best configuration per system, and the cross-system comparison.
    rows = []
    for case in cases:
        best = {}
        for system, confs in (("kaon", kconf), ("dask", dconf)):
            ok = [
                (min(runs[(case, system, c)]["times"]), c)
                for c in confs
                if "times" in runs[(case, system, c)]
            ]
            best[system] = min(ok) if ok else None
        k, d = best["kaon"], best["dask"]
        if k and d:
            ks = runs[(case, "kaon", k[1])]["summaries"][0]
            ds = runs[(case, "dask", d[1])]["summaries"][0]
            for b in check_pair(case, ks, ds):
                problems.append(f"MISMATCH: {case} kaon {k[1]} vs dask {d[1]}: {b}")
                print("!" * 8, problems[-1], flush=True)
        rows.append((case, k, d))

    # The same input through Kaon, Dask and NumPy.
    xcheck = {}
    if not a.no_xcheck:
        for system, py, conf in (
            ("kaon", a.kaon_python, kconf[0]),
            ("dask", a.dask_python, "threads"),
        ):
            r = run_child(
                py,
                ["xcheck", "--system", system, "--config", conf],
                a.timeout,
                kpath if system == "kaon" else None,
            )
            xcheck[system] = r
            if r.get("not_implemented"):
                msg = f"NOT IMPLEMENTED YET: same-input check ({system}): kaon.array lacks {', '.join(r['not_implemented'])}"
                print("!" * 8, msg, flush=True)
                missing.append(msg)
                continue
            if "error" in r:
                problems.append(f"FAILED: same-input check ({system}): {r['error']}")
                print("!" * 8, problems[-1], r.get("traceback", ""), flush=True)
                continue
            for case, dd in r["diffs"].items():
                if "error" in dd:
                    bad = dd["error"]
                elif case == "hist":
                    bad = (
                        dd["bins_differing"]
                        and f"{dd['bins_differing']} bins differ from numpy's (by up to {dd['max_abs']})"
                    )
                else:
                    bad = (
                        dd["max_rel"] > 1e-9
                        and f"differs from numpy's by {dd['max_rel']:.3g} relative"
                    )
                if bad:
                    problems.append(f"MISMATCH: same-input {case} ({system}): {bad}")
                    print("!" * 8, problems[-1], flush=True)
            print(f"same-input check ({system}): {json.dumps(r['diffs'])}", flush=True)

    # The Python layer.
    graph = overhead = None
    if not a.no_python_layer:
        graph = run_child(
            a.kaon_python,
            ["graph", "--config", kconf[0], "--reps", str(a.reps)],
            a.timeout,
            kpath,
        )
        if "error" in graph:
            problems.append(f"FAILED: graph construction: {graph['error']}")
            print("!" * 8, problems[-1], graph.get("traceback", ""), flush=True)
        else:
            print(f"graph: {json.dumps(graph)}", flush=True)
        if "seed" in cases and os.path.exists(a.seed_bin):
            overhead = python_overhead(a, reps["seed"], kconf, kpath, problems)
        elif "seed" in cases:
            problems.append(
                f"FAILED: no {a.seed_bin} (cargo build --release -p kaon-benches)"
            )
            print("!" * 8, problems[-1], flush=True)

    load_end = uptime()
    md = report(
        reps,
        a,
        cases,
        kconf,
        dconf,
        runs,
        rows,
        xcheck,
        graph,
        overhead,
        missing,
        problems,
    )
    md = md.replace("{LOAD}", f"start: `{load_start}`; end: `{load_end}`")
    if snap.get("built"):
        md = md.replace("{BUILT}", f"; kaon extension built {snap['built']}")
    md = md.replace("{BUILT}", "")
    print()
    print(md)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(md)
    raw = {
        "runs": {" ".join(k): v for k, v in runs.items()},
        "xcheck": xcheck,
        "graph": graph,
        "rust_seed": overhead,
        "kaon_package": snap,
        "missing": missing,
        "problems": problems,
    }
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    print(f"written to {a.out} and {os.path.splitext(a.out)[0]}.json")
    if problems:
        print(f"{len(problems)} PROBLEM(S):", *problems, sep="\n  ")
        return 1
    if missing:
        print(f"{len(missing)} NOT IMPLEMENTED YET:", *missing, sep="\n  ")
        return 2
    return 0


def report(
    reps, a, cases, kconf, dconf, runs, rows, xcheck, graph, overhead, missing, problems
) -> str:
    L = []
    other = ", ".join(f"{c}: {n}" for c, n in reps.items() if n != a.reps)
    reps_text = f"{a.reps} runs" + (f" ({other})" if other else "")
    L.append(
        f"## kaon.array vs dask.array ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    L.append("")
    L.append(
        f"{platform.node()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; best of {reps_text} after a tiny "
        "warm-up; peak = summed RSS of client, scheduler and workers (20 ms samples). "
        "Load: {LOAD}{BUILT}."
    )
    L.append("")
    L.append(
        "| case | Kaon best | Dask best | Dask/Kaon | Kaon peak | Dask peak | Kaon/Dask memory |"
    )
    L.append("|---|---|---|---|---|---|---|")
    for case, k, d in rows:
        kp = runs[(case, "kaon", k[1])]["peaks_MiB"] if k else None
        dp = runs[(case, "dask", d[1])]["peaks_MiB"] if d else None
        kpk, dpk = (max(kp) if kp else None), (max(dp) if dp else None)

        def cell(best, system, case=case):
            if best:
                return f"{fmt_s(best[0])} ({best[1]})"
            rs = [
                runs[(case, system, c)] for c in (kconf if system == "kaon" else dconf)
            ]
            if any(r.get("not_implemented") for r in rs):
                return "NOT IMPLEMENTED YET"
            return "FAILED"

        ratio = f"**{d[0] / k[0]:.2f}×**" if k and d else "—"
        mem = f"{kpk / dpk:.2f}" if kpk and dpk else "—"
        L.append(
            f"| {DESCRIPTION[case]} | {cell(k, 'kaon')} | {cell(d, 'dask')} | {ratio} | "
            f"{fmt_mib(kpk)} | {fmt_mib(dpk)} | {mem} |"
        )
    L.append("")
    L.append(
        "Every configuration (time: best of the runs; peak: max over them; other load: "
    )
    L.append(
        "CPU used by processes outside the benchmark during its slowest-loaded run, in cores):"
    )
    L.append("")
    L.append(
        "| case | system | config | best | all runs | peak | other load | load1 before/after |"
    )
    L.append("|---|---|---|---|---|---|---|---|")
    for case in cases:
        for system, confs in (("kaon", kconf), ("dask", dconf)):
            for c in confs:
                r = runs[(case, system, c)]
                if "times" in r:
                    L.append(
                        f"| {case} | {system} | {c} | {fmt_s(min(r['times']))} | "
                        f"{', '.join(f'{t:.3f}' for t in r['times'])} | {fmt_mib(max(r['peaks_MiB']))} | "
                        f"{max(r['foreign_cores']):.2f} | {r['load1'][0]} / {r['load1'][1]} |"
                    )
                else:
                    what = (
                        "NOT IMPLEMENTED YET" if r.get("not_implemented") else "FAILED"
                    )
                    L.append(f"| {case} | {system} | {c} | {what} | | | | |")
    L.append("")
    if xcheck:
        L.append(
            "Same input (`from_array` of one NumPy array) through each system vs NumPy:"
        )
        L.append("")
        for system, r in xcheck.items():
            if r.get("not_implemented"):
                L.append(
                    f"- {system}: NOT IMPLEMENTED YET (lacks {', '.join(r['not_implemented'])})"
                )
            elif "error" in r:
                L.append(f"- {system}: FAILED: {r['error']}")
            else:
                parts = []
                for case, dd in r["diffs"].items():
                    if "error" in dd:
                        parts.append(f"{case} ERROR {dd['error']}")
                    elif case == "hist":
                        parts.append(f"hist {dd['bins_differing']} bins differ")
                    else:
                        parts.append(f"{case} {dd['max_rel']:.1e}")
                L.append(f"- {system}: max relative difference: {'; '.join(parts)}")
        L.append("")
    if graph and "error" not in graph:
        L.append(
            f"Python layer, {graph['chunks']:,}-chunk expression "
            f"`((sin(x) * 2 + 1) ** 2).sum()` over `random((1_000_000,), chunks=10)` "
            f"({graph['tasks']:,} tasks, layers {graph['layers']}): build "
            f"{min(graph['build_s']) * 1e3:.1f} ms, lower (`graph_summary`) "
            f"{min(graph['lower_s']) * 1e3:.1f} ms, submit (lower + send) "
            f"{min(graph['submit_s']) * 1e3:.1f} ms, compute end to end "
            f"{min(graph['compute_s']):.3f} s on {graph['config']} "
            f"({graph['tasks'] / min(graph['compute_s']):,.0f} tasks/s)."
        )
        L.append("")
    if overhead:
        L.append(
            "Seed expression through `kaon.array` (`kaon.LocalCluster`, workers as "
            "`python -m kaon.worker`) vs the Rust API (`target/release/seed`, `kaon local`), "
            f"alternating, {overhead['rounds']} rounds of {reps['seed']} runs each:"
        )
        L.append("")
        L.append(
            "| config | Python best | Rust best | Python overhead | Python peak | Rust peak |"
        )
        L.append("|---|---|---|---|---|---|")
        for c in kconf:
            py, rs = overhead["python"][c], overhead["rust"][c]
            if py["times"] and rs["times"]:
                tp, tr = min(py["times"]), min(rs["times"])
                L.append(
                    f"| {c} | {fmt_s(tp)} | {fmt_s(tr)} | {(tp / tr - 1) * 100:+.1f}% | "
                    f"{fmt_mib(max(py['peaks']))} | {fmt_mib(max(rs['peaks']))} |"
                )
            else:
                L.append(
                    f"| {c} | {fmt_s(min(py['times'], default=None))} | "
                    f"{fmt_s(min(rs['times'], default=None))} | FAILED | — | — |"
                )
        L.append("")
    for m in missing:
        L.append(f"- **{m}**")
    for p in problems:
        L.append(f"- **{p}**")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        sys.exit(main())
