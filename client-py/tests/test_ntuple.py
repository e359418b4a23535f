"""``kaon.ntuple`` on a cluster of worker processes, checked against uproot + awkward.

The data and the reference venv (uproot, awkward) come from ``make test-data``
(worker/ntuple/tests/fetch-data.sh); a test fails, never skips, when they are
missing. References are computed by that venv's python in a subprocess.
"""

from __future__ import annotations

import errno
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kaon
import kaon.ntuple as kn
from conftest import REPO

DATA = REPO / "worker" / "ntuple" / "tests" / "data"

TWO_LEPTONS = "lep_n == 2 && lep_charge[0] != lep_charge[1]"
PT_CUTS = "lep_pt[0] > 25 && lep_pt[1] > 25"
MLL = "mass(lep_pt, lep_eta, lep_phi, lep_E)"


def data_file(rel: str) -> str:
    p = DATA / rel
    if not p.exists():
        pytest.fail(f"{p} is missing: run `make test-data` (worker/ntuple/tests/fetch-data.sh)")
    return str(p)


def dilepton_files() -> list[str]:
    kinds = ["zlib", "lz4", "lzma", "zstd", "none", "onebasket-zlib", "tinybaskets-lz4"]
    return [data_file(f"synthetic/dilepton-{k}.root") for k in kinds]


def reference(script: str, *args: str) -> dict:
    """Runs ``script`` with the test venv's python (uproot, awkward); its JSON output."""
    out = subprocess.run(
        [data_file("venv/bin/python"), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, f"reference script failed: {out.stderr}"
    return json.loads(out.stdout)


DILEPTON_REFERENCE = r"""
import json, sys
import awkward as ak, numpy as np, uproot

files = sys.argv[1:]
branches = ["lep_n", "lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "mcWeight",
            "eventNumber", "met_et"]
arr = uproot.concatenate([f + ":nominal" for f in files], branches, library="ak")
f64 = lambda x: ak.values_astype(x, np.float64)

def mass(pt, eta, phi, e):
    pt, eta, phi, e = f64(pt), f64(eta), f64(phi), f64(e)
    px = ak.sum(pt * np.cos(phi), axis=1)
    py = ak.sum(pt * np.sin(phi), axis=1)
    pz = ak.sum(pt * np.sinh(eta), axis=1)
    E = ak.sum(e, axis=1)
    m2 = ak.to_numpy(E * E - px * px - py * py - pz * pz)
    return np.where(m2 < 0, -np.sqrt(np.abs(m2)), np.sqrt(np.abs(m2)))

def slots(x, bins, lo, hi, w=None):
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.searchsorted(edges, x, side="right")
    return np.bincount(idx, weights=w, minlength=bins + 2).tolist()

two = arr[arr.lep_n == 2]
sel = (two.lep_charge[:, 0] != two.lep_charge[:, 1]) & (two.lep_pt[:, 0] > 25) \
    & (two.lep_pt[:, 1] > 25)
ev = two[sel]
mll = mass(ev.lep_pt, ev.lep_eta, ev.lep_phi, ev.lep_E)
w = ak.to_numpy(ev.mcWeight)
print(json.dumps({
    "entries": len(arr),
    "selected": len(ev),
    "mll": slots(mll, 100, 0.0, 500.0),
    "mll_weighted": slots(mll, 100, 0.0, 500.0, w),
    "mll_weighted_sumw2": slots(mll, 100, 0.0, 500.0, w * w),
    "mll_sum": float(np.sum(mll)),
    "lead_pt_2d": np.histogram2d(
        np.clip(mll, -1, 1000), np.clip(ak.to_numpy(f64(ev.lep_pt[:, 0])), -1, 1000),
        bins=[np.concatenate([[-np.inf], np.linspace(0, 500, 26), [np.inf]]),
              np.concatenate([[-np.inf], np.linspace(0, 200, 11), [np.inf]])])[0].tolist(),
    "event_numbers": ak.to_numpy(ev.eventNumber).tolist(),
    "met_et": ak.to_numpy(ev.met_et).astype(np.float64).tolist(),
    "lep_pt": ak.to_list(f64(ev.lep_pt)),
    "mll_values": mll.tolist(),
}))
"""


@pytest.fixture(scope="module")
def dilepton_reference() -> dict:
    return reference(DILEPTON_REFERENCE, *dilepton_files())


def test_dilepton_selection_matches_uproot_and_awkward(
    client: kaon.Client, dilepton_reference: dict
) -> None:
    want = dilepton_reference
    files = dilepton_files()
    events = kn.read(files, tree="nominal", step_size=3000)
    assert events.num_entries == want["entries"]
    assert events.files == files
    assert events.tree == "nominal"
    assert events.npartitions > 2 * len(files), "several partitions per file"
    assert events.branches["lep_pt"] == "list of float32"
    assert events.branches["lep_n"] == "int32"
    assert events.branches["eventNumber"] == "uint64"

    sel = events.filter(TWO_LEPTONS).filter(PT_CUTS).define("mll", MLL)
    assert sel.columns == {"mll": "float64"}
    assert sel.steps == [("filter", TWO_LEPTONS), ("filter", PT_CUTS), ("define", "mll", MLL)]
    assert events.steps == [], "steps return new datasets"

    h_q = sel.histogram("mll", bins=100, range=(0, 500))
    assert h_q.kind == "histogram"
    results = kn.compute(
        h_q,
        sel.histogram("mll", bins=100, range=(0, 500), weight="mcWeight"),
        sel.count(),
        sel.sum("mll"),
        sel.histogram2d("mll", "lep_pt[0]", bins=(25, 10), range=((0, 500), (0, 200))),
        sel.to_arrow(["eventNumber", "lep_pt", "mll"]),
        sel.to_numpy(["eventNumber", "met_et", "mll"]),
        "not a query",
        progress=False,
        client=client,
    )
    h, hw, n, s, h2, table, arrays, passthrough = results
    assert passthrough == "not a query"

    counts = np.array(want["mll"])
    assert isinstance(h, kn.Histogram)
    np.testing.assert_array_equal(h.values(flow=True), counts)
    np.testing.assert_array_equal(h.values(), counts[1:-1])
    assert h.underflow == counts[0] and h.overflow == counts[-1]
    np.testing.assert_allclose(h.edges, np.linspace(0, 500, 101), rtol=1e-15)
    assert not h.weighted and h.weight is None
    np.testing.assert_array_equal(h.variances(), h.values())

    selected = want["selected"]
    assert selected > 1000
    assert n == selected and isinstance(n, int)
    assert h.sum(flow=True) == selected

    assert hw.weighted and hw.weight == "mcWeight"
    np.testing.assert_allclose(hw.values(flow=True), want["mll_weighted"], rtol=1e-12)
    np.testing.assert_allclose(hw.variances(flow=True), want["mll_weighted_sumw2"], rtol=1e-12)

    assert isinstance(s, float)
    assert s == pytest.approx(want["mll_sum"], rel=1e-12)

    assert h2.ndim == 2 and h2.shape == (25, 10)
    np.testing.assert_array_equal(h2.values(flow=True), np.array(want["lead_pt_2d"]))
    ex, ey = h2.edges
    assert len(ex) == 26 and len(ey) == 11

    import pyarrow as pa

    assert isinstance(table, pa.Table)
    assert table.column_names == ["eventNumber", "lep_pt", "mll"]
    assert table.num_rows == selected
    assert table.column("eventNumber").to_pylist() == want["event_numbers"]
    assert table.column("lep_pt").to_pylist() == want["lep_pt"]
    # The same arithmetic; NumPy's vectorized sin and cos may differ from libm's by an
    # ulp, which the cancellation in E^2 - p^2 magnifies for small masses.
    np.testing.assert_allclose(table.column("mll").to_numpy(), want["mll_values"], rtol=1e-9)

    assert list(arrays) == ["eventNumber", "met_et", "mll"]
    assert arrays["eventNumber"].dtype == np.uint64
    np.testing.assert_array_equal(arrays["eventNumber"], want["event_numbers"])
    assert arrays["met_et"].dtype == np.float32
    np.testing.assert_array_equal(arrays["met_et"].astype(np.float64), want["met_et"])
    np.testing.assert_allclose(arrays["mll"], want["mll_values"], rtol=1e-9)

    # The results were freed on the cluster.
    assert client.scheduler_info()["graphs_running"] == 0


def test_histogram_converts_to_boost_hist_and_root(
    client: kaon.Client, dilepton_reference: dict, tmp_path: pathlib.Path
) -> None:
    sel = kn.read(dilepton_files(), "nominal").filter(TWO_LEPTONS).filter(PT_CUTS)
    sel = sel.define("mll", MLL)
    h = sel.histogram("mll", 100, (0, 500)).compute(progress=False)
    hw = sel.histogram("mll", 100, (0, 500), weight="mcWeight").compute(progress=False)
    counts = np.array(dilepton_reference["mll"])

    import boost_histogram as bh
    import hist

    b = h.to_boost()
    assert isinstance(b, bh.Histogram)
    np.testing.assert_array_equal(b.view(flow=True), counts)
    np.testing.assert_allclose(b.axes[0].edges, h.edges, rtol=1e-12)
    bw = hw.to_boost()
    np.testing.assert_array_equal(bw.view(flow=True).value, hw.values(flow=True))
    np.testing.assert_array_equal(bw.view(flow=True).variance, hw.variances(flow=True))

    hh = h.to_hist()
    assert isinstance(hh, hist.Hist)
    assert hh.axes[0].name == "mll" and hh.axes[0].label == "mll"
    np.testing.assert_array_equal(hh.values(flow=True), counts)

    values, edges = h.to_numpy()
    np.testing.assert_array_equal(values, counts[1:-1])
    assert len(edges) == 101
    assert "mll" in repr(h) and "<svg" in h._repr_html_()

    path = tmp_path / "mll.root"
    h.to_root(path, name="mll", title="m_ll")
    hw.to_root(tmp_path / "w.root", name="w")
    got = reference(
        r"""
import json, sys, uproot
h = uproot.open(sys.argv[1])["mll"]
w = uproot.open(sys.argv[2])["w"]
print(json.dumps({"class": h.classname, "values": h.values(flow=True).tolist(),
                  "title": h.title, "edges": h.axis().edges().tolist(),
                  "w": w.values(flow=True).tolist(), "w2": w.variances(flow=True).tolist()}))
""",
        str(path),
        str(tmp_path / "w.root"),
    )
    assert got["class"] == "TH1D" and got["title"] == "m_ll"
    np.testing.assert_array_equal(got["values"], counts)
    np.testing.assert_allclose(got["edges"], h.edges, rtol=1e-12)
    np.testing.assert_allclose(got["w"], hw.values(flow=True), rtol=1e-12)
    np.testing.assert_allclose(got["w2"], hw.variances(flow=True), rtol=1e-12)

    h2 = sel.histogram2d("mll", "lep_pt[0]", 5, ((0, 500), (0, 200))).compute(progress=False)
    with pytest.raises(ValueError, match="1-D"):
        h2.to_root(tmp_path / "2d.root")
    assert h2.to_hist().axes[1].label == "lep_pt[0]"


HZZ_REFERENCE = r"""
import json, sys
import awkward as ak, numpy as np, uproot

arr = uproot.concatenate([f + ":events" for f in sys.argv[1:]],
                         ["NMuon", "Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"], library="ak")
mu = arr[arr.NMuon == 2]
f64 = lambda x: ak.values_astype(x, np.float64)
px, py, pz, e = (ak.sum(f64(mu[k]), axis=1) for k in ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"])
m2 = ak.to_numpy(e * e - px * px - py * py - pz * pz)
m = np.where(m2 < 0, -np.sqrt(np.abs(m2)), np.sqrt(np.abs(m2)))
edges = np.linspace(0, 120, 121)
print(json.dumps({"entries": len(arr), "dimuons": len(mu),
                  "mass": np.bincount(np.searchsorted(edges, m, side="right"),
                                      minlength=122).tolist()}))
"""


def test_real_hzz_file_dimuon_mass(client: kaon.Client) -> None:
    files = [data_file(f"skhep/{f}") for f in ["uproot-HZZ.root", "uproot-HZZ-zstd.root"]]
    want = reference(HZZ_REFERENCE, *files)
    events = kn.read(files, "events", step_size=500)
    assert events.num_entries == want["entries"]
    dimuons = events.filter("NMuon == 2")
    h, n = kn.compute(
        dimuons.histogram("mass_xyze(Muon_Px, Muon_Py, Muon_Pz, Muon_E)", 120, (0, 120)),
        dimuons.count(),
        progress=False,
    )
    np.testing.assert_array_equal(h.values(flow=True), want["mass"])
    assert n == want["dimuons"]


def test_expression_errors_raise_at_build_time_with_their_column() -> None:
    events = kn.read(dilepton_files()[0], "nominal")
    with pytest.raises(kn.ExpressionError) as e:
        events.define("x", "lep_n +* 2")
    assert isinstance(e.value, ValueError)
    assert e.value.column == 8 and e.value.expr == "lep_n +* 2"
    assert e.value.context == "define x"
    assert "column 8" in str(e.value)
    assert "\n         ^" in str(e.value), "a caret under the column"

    with pytest.raises(kn.UnknownBranchError) as e:
        events.filter("lep_n == 2 && lep_ptt[0] > 25")
    assert e.value.column == 15 and e.value.branch == "lep_ptt"
    assert "did you mean lep_pt" in str(e.value)
    assert isinstance(e.value, KeyError) and isinstance(e.value, kn.MissingBranchError)
    assert isinstance(e.value, ValueError)

    with pytest.raises(kn.ExpressionError, match=r"any\(\.\.\.\)"):
        events.filter("lep_pt > 25")
    with pytest.raises(kn.ExpressionError, match="weight"):
        events.histogram("lep_n", 10, (0, 10), weight="lep_n > 1 +")
    with pytest.raises(ValueError, match="0 bins"):
        events.histogram("lep_pt[0]", 0, (0.0, 1.0))
    with pytest.raises(TypeError, match="regular bins"):
        events.histogram("lep_n", [0, 1, 2], (0, 2))
    with pytest.raises(TypeError, match="range"):
        events.histogram("lep_n", 10, 5)
    with pytest.raises(ValueError, match="exists already"):
        events.define("lep_n", "1")

    # to_numpy takes flat columns only, and says which one is not.
    with pytest.raises(TypeError, match="'lep_pt' is jagged"):
        events.to_numpy(["lep_n", "lep_pt"])
    with pytest.raises(TypeError, match="'pt2' is jagged"):
        events.define("pt2", "lep_pt * 2").to_numpy(["pt2"])
    with pytest.raises(kn.MissingBranchError, match="'nope'") as e:
        events.to_arrow(["lep_pt", "nope"])
    assert e.value.branch == "nope" and e.value.tree == "nominal"


def test_missing_files_trees_and_branches_name_them(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="/nonexistent/kaon.root") as e:
        kn.read("/nonexistent/kaon.root", "nominal")
    assert e.value.filename == "/nonexistent/kaon.root" and e.value.errno == errno.ENOENT
    with pytest.raises(FileNotFoundError, match="no file matches") as e:
        kn.read("/nonexistent/kaon-*.root", "nominal")
    assert e.value.filename == "/nonexistent/kaon-*.root"
    f = dilepton_files()[0]
    with pytest.raises(kn.MissingTreeError) as e:
        kn.read(f, "nominl")
    assert isinstance(e.value, KeyError)
    assert e.value.tree == "nominl" and e.value.file == f
    assert "nominal" in e.value.available
    assert '"nominal"' in str(e.value), "the message lists the trees the file has"
    with pytest.raises(kn.MissingBranchError, match="lep_ptx") as e:
        kn.read(f, "nominal", branches=["lep_pt", "lep_ptx"])
    assert e.value.branch == "lep_ptx" and e.value.file == f
    not_root = tmp_path / "text.root"
    not_root.write_text("not a ROOT file\n" * 100)
    with pytest.raises(OSError, match="not a ROOT file"):
        kn.read(not_root, "nominal")
    # A glob expands in sorted order; branches= sets the default columns.
    events = kn.read(str(DATA / "synthetic" / "dilepton-*.root"), "nominal", branches=["lep_n"])
    assert events.files == sorted(events.files) and len(events.files) == 7
    assert events._d.default_columns == ["lep_n"]


def test_a_corrupt_file_fails_only_its_query(client: kaon.Client, tmp_path: pathlib.Path) -> None:
    files = dilepton_files()
    copy = tmp_path / "truncated.root"
    shutil.copy(files[0], copy)
    planned = kn.read(copy, "nominal").histogram("lep_pt[0]", 10, (0, 100))
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(kaon.TaskError) as e:
        planned.compute(progress=False, client=client)
    assert isinstance(e.value, kaon.KaonError)
    assert e.value.key == "('ntuple-nominal', 0, 0)"
    for part in [str(copy), '"nominal"', 'branch "', "passes the end"]:
        assert part in str(e.value), f"{part!r} missing from {e.value}"

    # The cluster serves the next query, with both workers.
    sel = kn.read(files[:2], "nominal", step_size=1000).filter(TWO_LEPTONS)
    h, n = kn.compute(sel.histogram("lep_pt[0]", 50, (0, 250)), sel.count(), progress=False)
    assert h.sum(flow=True) == n > 0
    assert len(client.scheduler_info()["workers"]) == 2
    assert client.scheduler_info()["graphs_running"] == 0


def test_progress_bar_and_pyarrow_free_tables(
    client: kaon.Client, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = kn.read(dilepton_files()[:2], "nominal", step_size=1000)
    sel = events.filter("lep_n >= 2")
    n = sel.count().compute(progress=True)
    err = capsys.readouterr().err
    assert "kaon ntuple" in err and "tasks" in err, err
    assert sel.count().compute(progress=False) == n
    assert capsys.readouterr().err == ""

    # Without pyarrow, to_arrow gives NumPy arrays (jagged ones as object arrays).
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    t = sel.to_arrow(["lep_n", "lep_pt"]).compute(progress=False)
    assert isinstance(t, dict) and list(t) == ["lep_n", "lep_pt"]
    assert len(t["lep_n"]) == n and t["lep_n"].dtype == np.int32
    assert t["lep_pt"].dtype == object and len(t["lep_pt"]) == n
    assert all(len(pt) == k for pt, k in zip(t["lep_pt"], t["lep_n"]))
    assert t["lep_pt"][0].dtype == np.float32


def test_queries_display_and_help() -> None:
    events = kn.read(dilepton_files()[0], "nominal")
    assert "nominal" in repr(events) and "entries" in repr(events)
    assert "<table>" in events._repr_html_()
    q = events.histogram("lep_pt", 10, (0, 100), weight="mcWeight")
    assert "histogram of lep_pt" in repr(q) and "mcWeight" in repr(q)
    assert kn.read.__doc__ and "step_size" in kn.read.__doc__
    assert kaon.ntuple is kn


def test_an_empty_tree_gives_empty_results(client: kaon.Client) -> None:
    events = kn.read(data_file("skhep/uproot-empty.root"), "tree")
    assert events.num_entries == 0 and events.npartitions == 0
    assert events.branches["x"] == "int32" and events.branches["y"] == "float64"
    sel = events.filter("x > 1").define("w", "y * 2")
    h, n, s, t, a = kn.compute(
        sel.histogram("w", 4, (0, 1), weight="y"),
        sel.count(),
        sel.sum("w"),
        sel.to_arrow(["x", "w"]),
        sel.to_numpy(["x", "y"]),
        client=client,
    )
    np.testing.assert_array_equal(h.values(flow=True), np.zeros(6))
    np.testing.assert_array_equal(h.variances(), np.zeros(4))
    assert (n, s) == (0, 0.0)
    assert t.num_rows == 0 and t.column_names == ["x", "w"]
    assert str(t.schema.field("x").type) == "int32" and str(t.schema.field("w").type) == "double"
    assert a["x"].dtype == np.int32 and len(a["x"]) == 0
    with pytest.raises(TypeError, match="'z'"):
        events.to_numpy(["z"])


def test_kaon_compute_and_client_compute_take_queries(client: kaon.Client) -> None:
    import kaon.array as ka

    sel = kn.read(dilepton_files()[:2], "nominal").filter("lep_n >= 2")
    h, n, x, s = kaon.compute(
        sel.histogram("lep_pt[0]", 10, (0, 100)),
        sel.count(),
        ka.ones((4,), chunks=2).sum(),
        "s",
        progress=False,
    )
    assert h.sum(flow=True) == n and x == 4.0 and s == "s"
    assert client.compute(sel.count()) == n
    assert client.compute([sel.count(), sel.sum("lep_n")])[0] == n
