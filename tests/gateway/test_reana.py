"""examples/dilepton/reana.yaml: ``reana-client validate`` accepts it without a WARNING,
and its steps, run here one after another as Reana's serial engine would (reana-client
cannot run workflows locally), fill the dilepton mass histogram on a cluster of a real
``kaon gateway --auth simple --backend local``.

Run: ``cd tests/gateway && ../../.venv/bin/python -m pytest -q test_reana.py``
(reana-client goes into target/reana-venv on first use; it pins old dependencies).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import string
import subprocess
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import support

REPO = support.REPO
EXAMPLE = REPO / "examples" / "dilepton"
REANA_VENV = REPO / "target" / "reana-venv"
NTUPLE_VENV = REPO / "worker" / "ntuple" / "tests" / "data" / "venv"

pytestmark = pytest.mark.timeout(600)

REFERENCE = """
import json, sys
import awkward as ak, numpy as np, uproot
files, bins, lo, hi = sys.argv[1:-3], int(sys.argv[-3]), float(sys.argv[-2]), float(sys.argv[-1])
branches = ["lep_n", "lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type"]
a = ak.concatenate([uproot.open(f)["nominal"].arrays(branches) for f in files])
two = a[a.lep_n == 2]
q, t, pt = two.lep_charge, two.lep_type, two.lep_pt
keep = (q[:, 0] != q[:, 1]) & (t[:, 0] == t[:, 1]) & (pt[:, 0] > 25) & (pt[:, 1] > 25)
def p4(pt, eta, phi, e):
    pt, eta, phi, e = (np.asarray(x, dtype=np.float64) for x in (pt, eta, phi, e))
    return e, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
e0, x0, y0, z0 = p4(two.lep_pt[:, 0], two.lep_eta[:, 0], two.lep_phi[:, 0], two.lep_E[:, 0])
e1, x1, y1, z1 = p4(two.lep_pt[:, 1], two.lep_eta[:, 1], two.lep_phi[:, 1], two.lep_E[:, 1])
m2 = (e0 + e1) ** 2 - (x0 + x1) ** 2 - (y0 + y1) ** 2 - (z0 + z1) ** 2
m = np.sqrt(np.maximum(m2, 0))[np.asarray(keep)]
idx = np.floor((m - lo) / (hi - lo) * bins)
counts = np.bincount(idx[(idx >= 0) & (idx < bins)].astype(int), minlength=bins)
print(json.dumps({"selected": int(np.sum(keep)), "counts": counts.tolist()}))
"""


def data_python() -> pathlib.Path:
    """A Python with uproot: the ntuple tests' venv (make test-data), else our own."""
    p = NTUPLE_VENV / "bin" / "python"
    if p.exists():
        return p
    return support.ensure_venv(
        REPO / "target" / "uproot-venv", ["uproot", "awkward", "numpy"]
    ) / ("python")


@pytest.fixture(scope="module")
def reana_client() -> pathlib.Path:
    return support.ensure_venv(REANA_VENV, ["reana-client"]) / "reana-client"


@pytest.fixture(scope="module")
def spec(reana_client: pathlib.Path) -> dict:
    """reana.yaml as data (PyYAML comes with reana-client)."""
    py = reana_client.parent / "python"
    r = subprocess.run(
        [
            str(py),
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            str(EXAMPLE / "reana.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def simple_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A gateway in simple mode with one user, ``reana``."""
    work = tmp_path_factory.mktemp("gateway")
    kaon = support.kaon_binary()
    password = secrets.token_hex(8)
    hashed = support.hash_password(kaon, password)
    config = work / "gateway.toml"
    config.write_text(
        f"""
reconcile_interval = 0.5

[[simple.users]]
name = "reana"
password_hash = "{hashed}"
"""
    )
    gw = support.GatewayProcess(
        kaon, work, ["--config", config, "--auth", "simple", "--backend", "local"]
    )
    try:
        yield gw, "reana", password
    finally:
        gw.stop()


def test_reana_validate(reana_client: pathlib.Path) -> None:
    r = subprocess.run(
        [str(reana_client), "validate", "--file", str(EXAMPLE / "reana.yaml")],
        check=False,
        capture_output=True,
        text=True,
        cwd=EXAMPLE,
        timeout=120,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    warnings = [line for line in out.splitlines() if "WARNING" in line]
    assert not warnings, out
    assert out.count("SUCCESS") == 4, out


def test_python_basic_auth(
    simple_gateway: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kaon.Gateway(auth="basic") with KAON_GATEWAY_USER/KAON_GATEWAY_PASSWORD."""
    import kaon
    from kaon.errors import GatewayAuthError

    gw, user, password = simple_gateway
    monkeypatch.setenv("KAON_GATEWAY_USER", user)
    monkeypatch.setenv("KAON_GATEWAY_PASSWORD", password)
    with kaon.Gateway(gw.address, auth="basic") as g:
        with g.new_cluster(workers=1) as cluster:
            assert cluster.name in [r.name for r in g.list_clusters()]
        assert g.get_cluster(cluster.name).status in ("stopping", "stopped")
    with pytest.raises(GatewayAuthError, match=user):
        kaon.Gateway(gw.address, auth=kaon.BasicAuth(user, "wrong")).list_clusters()


def test_workflow_steps_against_a_gateway(
    spec: dict, simple_gateway: tuple, tmp_path
) -> None:
    gw, user, password = simple_gateway
    assert spec["version"] == "0.9.0" and spec["workflow"]["type"] == "serial"
    # The workspace: the declared inputs.
    assert spec["inputs"]["directories"] == ["data"]
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    subprocess.run(
        [
            str(data_python()),
            str(EXAMPLE / "make_ntuples.py"),
            str(workspace / "data"),
            "--files",
            "2",
            "--events",
            "20000",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    params = {k: str(v) for k, v in spec["inputs"]["parameters"].items()}
    params["gateway"] = gw.address
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KAON_", "JUPYTERHUB_"))
    }
    env.update(
        PATH=os.pathsep.join([str(support.kaon_binary().parent), env.get("PATH", "")]),
        KAON_GATEWAY_USER=user,  # Reana secrets arrive as environment variables
        KAON_GATEWAY_PASSWORD=password,
    )
    steps = spec["workflow"]["specification"]["steps"]
    assert [s["name"] for s in steps] == [
        "start-cluster",
        "select-and-histogram",
        "stop-cluster",
    ]
    for step in steps:
        for command in step["commands"]:
            command = string.Template(command).safe_substitute(params)
            assert "${" not in command, command
            r = subprocess.run(
                ["bash", "-c", command],
                check=False,
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert r.returncode == 0, (
                f"step {step['name']}: {command}\n{r.stdout}\n{r.stderr}\n{gw.log_tail()}"
            )
    for out in spec["outputs"]["files"]:
        assert (workspace / out).stat().st_size > 0, out

    # The histogram: a Z peak, and the same counts as uproot + NumPy give.
    h = json.loads((workspace / "results" / "mll.json").read_text())
    bins, (lo, hi) = int(params["bins"]), (float(x) for x in params["range"].split(","))
    assert h["bins"] == bins and h["range"] == [lo, hi]
    peak = h["edges"][h["counts"].index(max(h["counts"]))]
    assert 86 <= peak <= 96, peak
    files = sorted(str(p) for p in (workspace / "data").glob("*.root"))
    r = subprocess.run(
        [str(data_python()), "-c", REFERENCE, *files, str(bins), str(lo), str(hi)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    ref = json.loads(r.stdout)
    assert h["selection"]["selected"] == ref["selected"]
    diff = [abs(a - b) for a, b in zip(h["counts"], ref["counts"])]
    assert max(diff) <= 1 and sum(diff) <= 4, (h["counts"], ref["counts"])

    # The cluster is gone: stopped by the last step.
    status, answer = support.http(
        "GET",
        gw.address + "/api/v1/clusters",
        headers={"Authorization": "Basic " + _basic(user, password)},
    )
    assert status == 200
    assert all(c["status"] in ("stopping", "stopped") for c in answer["clusters"]), (
        answer
    )
    assert not json.loads((workspace / "cluster.json").read_text()).get("error")
    shutil.rmtree(workspace / "data")


def _basic(user: str, password: str) -> str:
    import base64

    return base64.b64encode(f"{user}:{password}".encode()).decode()
