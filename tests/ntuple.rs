//! Ntuple selections and histograms end to end: real `kaon scheduler` + 2 `kaon worker`
//! processes, the Rust client's `Dataset` API and the `kaon histogram` command, checked
//! against uproot + awkward + NumPy (run with kaon-ntuple's test venv) on the synthetic
//! dilepton ntuples and scikit-hep-testdata's HZZ sample.
//!
//! The data comes from `make test-data` (worker/ntuple/tests/fetch-data.sh); a test
//! fails, never skips, when it is missing.

mod support;

use std::process::Command;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt64Type};
use kaon_client::ClientError;
use kaon_client::ntuple::{Dataset, DatasetError, QueryResult};
use support::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../worker/ntuple/tests/data");

fn data_file(rel: &str) -> String {
    let p = format!("{DATA}/{rel}");
    assert!(
        std::path::Path::new(&p).exists(),
        "{p} is missing: run `make test-data` (worker/ntuple/tests/fetch-data.sh)"
    );
    p
}

fn python() -> String {
    data_file("venv/bin/python")
}

/// The synthetic dilepton files (every compression and basket layout).
fn dilepton_files() -> Vec<String> {
    [
        "zlib",
        "lz4",
        "lzma",
        "zstd",
        "none",
        "onebasket-zlib",
        "tinybaskets-lz4",
    ]
    .iter()
    .map(|c| data_file(&format!("synthetic/dilepton-{c}.root")))
    .collect()
}

const TWO_LEPTONS: &str = "lep_n == 2 && lep_charge[0] != lep_charge[1]";
const PT_CUTS: &str = "lep_pt[0] > 25 && lep_pt[1] > 25";
const MLL: &str = "mass(lep_pt, lep_eta, lep_phi, lep_E)";

/// The reference: the same selection and histograms with uproot, awkward and NumPy.
/// Bins follow Kaon's documented rule, `searchsorted(edges, x, side="right")`: slot 0
/// is underflow, slot bins+1 is overflow (x >= high, and NaN).
const DILEPTON_REFERENCE: &str = r#"
import json, sys
import awkward as ak, numpy as np, uproot

files = sys.argv[1:]
branches = ["lep_n", "lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "mcWeight", "eventNumber"]
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
sel = (two.lep_charge[:, 0] != two.lep_charge[:, 1]) & (two.lep_pt[:, 0] > 25) & (two.lep_pt[:, 1] > 25)
ev = two[sel]
mll = mass(ev.lep_pt, ev.lep_eta, ev.lep_phi, ev.lep_E)
w = ak.to_numpy(ev.mcWeight)

# The masked variant: events with at least two leptons above 25 GeV, mass of those.
good = arr.lep_pt > 25
many = arr[ak.sum(good, axis=1) >= 2]
keep = many.lep_pt > 25
mmask = mass(many.lep_pt[keep], many.lep_eta[keep], many.lep_phi[keep], many.lep_E[keep])

print(json.dumps({
    "entries": len(arr),
    "selected": len(ev),
    "mll": slots(mll, 100, 0.0, 500.0),
    "mll_weighted": slots(mll, 100, 0.0, 500.0, w),
    "mll_weighted_sumw2": slots(mll, 100, 0.0, 500.0, w * w),
    "mll_sum": float(np.sum(mll)),
    "masked": slots(mmask, 50, 0.0, 250.0),
    "masked_count": len(many),
    "lead_pt_2d": np.histogram2d(
        np.clip(mll, -1, 1000), np.clip(ak.to_numpy(f64(ev.lep_pt[:, 0])), -1, 1000),
        bins=[np.concatenate([[-np.inf], np.linspace(0, 500, 26), [np.inf]]),
              np.concatenate([[-np.inf], np.linspace(0, 200, 11), [np.inf]])])[0].ravel().tolist(),
    "event_numbers": ak.to_numpy(ev.eventNumber).tolist(),
    "mll_values": mll.tolist(),
}))
"#;

/// Runs a Python reference script with the test venv; returns its JSON output.
fn reference(script: &str, args: &[String]) -> serde_json::Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run the test venv's python");
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference output is JSON")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

async fn cluster() -> (Proc, Proc, Proc, kaon_client::Client, String) {
    let (s, address) = scheduler(&[]);
    let w1 = worker(&address, "w1", &[]);
    let w2 = worker(&address, "w2", &[]);
    let client = connect(&address).await;
    wait_for_workers(&client, 2).await;
    (s, w1, w2, client, address)
}

/// The same dilepton ntuples written as RNTuples (ROOT 6.34+ format), in every
/// compression and with split column encodings.
fn rntuple_dilepton_files() -> Vec<String> {
    ["zlib", "lz4", "lzma", "zstd", "none", "split"]
        .iter()
        .map(|c| data_file(&format!("synthetic/rntuple-dilepton-{c}.root")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dilepton_selection_matches_uproot_and_awkward() {
    dilepton_selection_on(dilepton_files()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rntuple_dilepton_selection_matches_uproot_and_awkward() {
    dilepton_selection_on(rntuple_dilepton_files()).await;
}

/// Selection, histograms, count, sum and table over `files` on a real cluster, against
/// uproot + awkward + NumPy.
async fn dilepton_selection_on(files: Vec<String>) {
    let want = reference(DILEPTON_REFERENCE, &files);
    let (_s, _w1, _w2, client, _) = cluster().await;

    let events = Dataset::read(&files, "nominal", None, 3000).unwrap();
    assert_eq!(events.num_entries(), want["entries"].as_u64().unwrap());
    assert!(
        events.partitions().len() > 2 * files.len(),
        "several partitions per file"
    );
    let sel = events
        .filter(TWO_LEPTONS)
        .unwrap()
        .filter(PT_CUTS)
        .unwrap()
        .define("mll", MLL)
        .unwrap();
    let hist = sel.histogram("mll", 100, (0.0, 500.0), None).unwrap();
    let weighted = sel
        .histogram("mll", 100, (0.0, 500.0), Some("mcWeight"))
        .unwrap();
    let count = sel.count();
    let sum = sel.sum("mll").unwrap();
    let hist2d = sel
        .histogram2d(
            ("mll", 25, (0.0, 500.0)),
            ("lep_pt[0]", 10, (0.0, 200.0)),
            None,
        )
        .unwrap();
    let table = sel
        .to_arrow(Some(&["eventNumber", "lep_pt", "mll"]))
        .unwrap();
    let masked = events
        .filter("count(lep_pt > 25) >= 2")
        .unwrap()
        .histogram(
            "mass(lep_pt, lep_eta, lep_phi, lep_E, lep_pt > 25)",
            50,
            (0.0, 250.0),
            None,
        )
        .unwrap();
    let results = client
        .compute_ntuple(
            &[&hist, &weighted, &count, &sum, &hist2d, &table, &masked],
            |_| {},
        )
        .await
        .unwrap();

    let h = results[0].as_histogram().unwrap();
    assert_eq!(h.values, floats(&want["mll"]), "mll bin counts");
    assert_eq!(h.edges[0].len(), 101);
    assert_eq!(h.variances, None);
    let selected = want["selected"].as_u64().unwrap();
    assert!(selected > 1000, "{selected} events selected");
    assert_eq!(results[2], QueryResult::Count(selected));
    assert_eq!(h.values.iter().sum::<f64>(), selected as f64);

    let hw = results[1].as_histogram().unwrap();
    assert_close(
        &hw.values,
        &floats(&want["mll_weighted"]),
        1e-12,
        "weighted",
    );
    assert_close(
        hw.variances.as_ref().unwrap(),
        &floats(&want["mll_weighted_sumw2"]),
        1e-12,
        "sumw2",
    );
    assert_close(
        &[results[3].as_sum().unwrap()],
        &[want["mll_sum"].as_f64().unwrap()],
        1e-12,
        "sum",
    );
    let h2 = results[4].as_histogram().unwrap();
    assert_eq!(h2.shape(), vec![27, 12]);
    assert_eq!(h2.values, floats(&want["lead_pt_2d"]), "2-D counts");

    let t = results[5].as_table().unwrap();
    assert_eq!(t.num_rows() as u64, selected);
    let numbers = t.column(0).as_primitive::<UInt64Type>().values().to_vec();
    let want_numbers: Vec<u64> = want["event_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(numbers, want_numbers, "events in file and entry order");
    let pts = t.column(1).as_list::<i32>();
    assert!(
        (0..pts.len()).all(|i| pts.value(i).as_primitive::<Float32Type>().len() == 2),
        "two leptons each"
    );
    let m = t.column(2).as_primitive::<Float64Type>().values().to_vec();
    // The same arithmetic; NumPy's vectorized sin and cos may differ from libm's by an
    // ulp, which the cancellation in E^2 - p^2 magnifies for small masses.
    assert_close(&m, &floats(&want["mll_values"]), 1e-9, "mll column");

    let hm = results[6].as_histogram().unwrap();
    assert_eq!(hm.values, floats(&want["masked"]), "masked mass");

    // The results were freed on the cluster.
    assert_eq!(client.cluster_info().await.unwrap().graphs_running, 0);
}

const HZZ_REFERENCE: &str = r#"
import json, sys
import awkward as ak, numpy as np, uproot

files = sys.argv[1:]
arr = uproot.concatenate([f + ":events" for f in files], ["NMuon", "Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"], library="ak")
mu = arr[arr.NMuon == 2]
f64 = lambda x: ak.values_astype(x, np.float64)
px, py, pz, e = (ak.sum(f64(mu[k]), axis=1) for k in ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"])
m2 = ak.to_numpy(e * e - px * px - py * py - pz * pz)
m = np.where(m2 < 0, -np.sqrt(np.abs(m2)), np.sqrt(np.abs(m2)))
edges = np.linspace(0, 120, 121)
print(json.dumps({
    "entries": len(arr),
    "dimuons": len(mu),
    "mass": np.bincount(np.searchsorted(edges, m, side="right"), minlength=122).tolist(),
}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hzz_dimuon_mass_matches_uproot_and_awkward() {
    let files: Vec<String> = [
        "uproot-HZZ.root",
        "uproot-HZZ-lzma.root",
        "uproot-HZZ-zstd.root",
    ]
    .iter()
    .map(|f| data_file(&format!("skhep/{f}")))
    .collect();
    let want = reference(HZZ_REFERENCE, &files);
    let (_s, _w1, _w2, client, _) = cluster().await;
    let events = Dataset::read(&files, "events", None, 500).unwrap();
    assert_eq!(events.num_entries(), want["entries"].as_u64().unwrap());
    let dimuons = events.filter("NMuon == 2").unwrap();
    let h = dimuons
        .histogram(
            "mass_xyze(Muon_Px, Muon_Py, Muon_Pz, Muon_E)",
            120,
            (0.0, 120.0),
            None,
        )
        .unwrap();
    let results = client
        .compute_ntuple(&[&h, &dimuons.count()], |_| {})
        .await
        .unwrap();
    assert_eq!(
        results[0].as_histogram().unwrap().values,
        floats(&want["mass"]),
        "dimuon mass bin counts"
    );
    assert_eq!(
        results[1].as_count().unwrap(),
        want["dimuons"].as_u64().unwrap()
    );
    // The Z peak is there.
    let v = &results[0].as_histogram().unwrap().values;
    let peak = (1..121).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    assert!((85..=95).contains(&(peak - 1)), "peak in bin {}", peak - 1);
}

#[test]
fn build_time_errors_name_what_is_wrong() {
    let files = dilepton_files();
    let events = Dataset::read(&files[..1], "nominal", None, 3000).unwrap();
    let e = events.filter("lep_n == 2 && lep_ptt[0] > 25").unwrap_err();
    let DatasetError::Expr { error, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(error.column, 15);
    assert!(error.message.contains("did you mean lep_pt"), "{e}");
    let e = events.filter("lep_pt > 25").unwrap_err().to_string();
    assert!(e.contains("any(...)"), "{e}");
    let e = events.define("x", "lep_n +* 2").unwrap_err().to_string();
    assert!(e.contains("column 8"), "{e}");
    let e = events
        .histogram("lep_pt[0]", 0, (0.0, 1.0), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("0 bins"), "{e}");
    let e = Dataset::read(&files[..1], "nominl", None, 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nominl") && e.contains("\"nominal\""), "{e}");
    let e = Dataset::read(&["/nonexistent/kaon-*.root"], "nominal", None, 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no file matches"), "{e}");
    let e = Dataset::read(&["/nonexistent/kaon.root"], "nominal", None, 100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/kaon.root"), "{e}");
    let e = events
        .to_arrow(Some(&["lep_pt", "nope"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'nope'"), "{e}");
    // A glob expands in sorted order.
    let glob = format!("{DATA}/synthetic/dilepton-*.root");
    let all = Dataset::read(&[glob.as_str()], "nominal", Some(&["lep_n"]), 3000).unwrap();
    let mut sorted = all.files();
    sorted.sort();
    assert_eq!(all.files(), sorted);
    assert_eq!(all.files().len(), 7);
    assert_eq!(all.default_columns(), vec!["lep_n"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_or_branch_fails_only_its_graph() {
    let files = dilepton_files();
    let (_s, _w1, _w2, client, _) = cluster().await;

    // A good graph with many small tasks runs while the bad ones fail.
    let events = Dataset::read(&files, "nominal", None, 500).unwrap();
    let sel = events.filter(TWO_LEPTONS).unwrap();
    let good_hist = sel.histogram("lep_pt[0]", 50, (0.0, 250.0), None).unwrap();
    let good = {
        let client = client.clone();
        let q = good_hist.clone();
        tokio::spawn(async move { client.compute_ntuple(&[&q], |_| {}).await })
    };

    // A file cut short after planning: its baskets are missing at run time.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("truncated.root");
    std::fs::copy(&files[0], &copy).unwrap();
    let copy_path = copy.display().to_string();
    let planned = Dataset::read(&[copy_path.as_str()], "nominal", None, 100_000)
        .unwrap()
        .histogram("lep_pt[0]", 10, (0.0, 100.0), None)
        .unwrap();
    let bytes = std::fs::read(&copy).unwrap();
    std::fs::write(&copy, &bytes[..bytes.len() / 2]).unwrap();
    match client.compute_ntuple(&[&planned], |_| {}).await {
        Err(DatasetError::Client(e)) if matches!(*e, ClientError::TaskFailed { .. }) => {
            let ClientError::TaskFailed { key, message, .. } = *e else {
                unreachable!()
            };
            assert_eq!(key, "('ntuple-nominal', 0, 0)");
            for part in [
                copy_path.as_str(),
                "\"nominal\"",
                "branch \"",
                "passes the end",
            ] {
                assert!(message.contains(part), "{part:?} missing from: {message}");
            }
        }
        other => panic!("expected a task failure, got {other:?}"),
    }

    // A graph whose plan names a branch the file does not have (planned against
    // another version of the file): the error names file, tree, branch and task.
    let mut g = kaon_graph::testing::ntuple_histogram_graph(&[files[1].as_str()], 1, 1000, 2);
    let mut layers = g.layers().to_vec();
    if let kaon_graph::LayerOp::Ntuple(s) = &mut layers[0].op {
        s.branches[1].name = "lep_ptx".into();
        s.steps[0] = kaon_graph::Step::Filter("lep_n == 2 && lep_ptx[0] > 25".into());
        s.steps[1] = kaon_graph::Step::Define {
            name: "mll".into(),
            expr: "mass(lep_ptx, lep_eta, lep_phi, lep_E)".into(),
        };
    }
    g = kaon_graph::Graph::new(layers, g.outputs().to_vec()).unwrap();
    let handle = client.submit(&g).await.unwrap();
    match client.wait(handle, |_| {}).await {
        Err(ClientError::TaskFailed { key, message, .. }) => {
            assert_eq!(key, "('dilepton', 0, 0)");
            for part in [files[1].as_str(), "\"nominal\"", "lep_ptx", "nearest"] {
                assert!(message.contains(part), "{part:?} missing from: {message}");
            }
        }
        other => panic!("expected a task failure, got {other:?}"),
    }
    let _ = client.release(handle).await;

    // The good graph is untouched and right; both workers are still there.
    let got = good.await.unwrap().unwrap();
    let again = client.compute_ntuple(&[&good_hist], |_| {}).await.unwrap();
    assert_eq!(got, again);
    let total: f64 = got[0].as_histogram().unwrap().values.iter().sum();
    let n = client
        .compute_ntuple(&[&sel.count()], |_| {})
        .await
        .unwrap();
    assert_eq!(total, n[0].as_count().unwrap() as f64);
    assert_eq!(client.cluster_info().await.unwrap().workers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_larger_than_a_message_piece_cross_the_data_service() {
    let file = data_file("synthetic/bigbasket-zlib.root");
    let (_s, _w1, _w2, client, _) = cluster().await;
    let d = Dataset::read(&[file.as_str()], "big", None, 10_000_000).unwrap();
    assert_eq!(d.partitions().len(), 1);
    let t = d.to_arrow(Some(&["x", "k"])).unwrap();
    let got = client.compute_ntuple(&[&t], |_| {}).await.unwrap();
    let got = got[0].as_table().unwrap();
    // 2.5 M doubles and a jagged column: well over one 4 MiB piece.
    assert!(got.get_array_memory_size() > 3 * kaon_proto::CHUNK_PIECE_BYTES);
    let tree = kaon_ntuple::RootFile::open(&file)
        .unwrap()
        .tree("big")
        .unwrap();
    let n = tree.num_entries();
    assert_eq!(got.num_rows() as u64, n);
    assert_eq!(
        got.column(0).as_ref(),
        tree.read("x", 0..n).unwrap().as_ref()
    );
    assert_eq!(
        got.column(1).as_ref(),
        tree.read("k", 0..n).unwrap().as_ref()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaon_histogram_writes_the_histogram_as_json() {
    let files = dilepton_files();
    let want = reference(DILEPTON_REFERENCE, &files);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mll.json");
    // A local cluster of 2 worker processes started by the command; the binning comes
    // from the environment.
    let run = Command::new(KAON)
        .env_remove("KAON_SCHEDULER_ADDRESS")
        .arg("histogram")
        .args(["--local", "2", "--threads-per-worker", "1"])
        .args(&files)
        .args(["--tree", "nominal", "--filter", TWO_LEPTONS])
        .args(["--define", &format!("mll={MLL}"), "--filter", PT_CUTS])
        .args(["--hist", "mll", "--output"])
        .arg(&out)
        .arg("--root-output")
        .arg(dir.path().join("mll.root"))
        .args(["--step-size", "4000", "--name", "mll"])
        .env("KAON_BINS", "100")
        .env("KAON_RANGE", "0,500")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "kaon histogram failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("events selected"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let counts = floats(&want["mll"]);
    assert_eq!(floats(&json["counts"]), counts[1..101].to_vec());
    assert_eq!(json["underflow"].as_f64(), Some(counts[0]));
    assert_eq!(json["overflow"].as_f64(), Some(counts[101]));
    assert_eq!(floats(&json["edges"]).len(), 101);
    assert_eq!(json["selection"]["selected"], want["selected"]);
    assert_eq!(json["selection"]["steps"].as_array().unwrap().len(), 3);
    assert_eq!(
        json["selection"]["steps"][1]["define"]["name"].as_str(),
        Some("mll"),
        "steps keep the command line's order"
    );
    // The TH1D, as uproot reads it.
    let th1 = reference(
        r#"
import json, sys, uproot
h = uproot.open(sys.argv[1])["mll"]
print(json.dumps({"class": h.classname, "values": h.values(flow=True).tolist(),
                  "edges": h.axis().edges().tolist(), "title": h.title}))
"#,
        &[dir.path().join("mll.root").display().to_string()],
    );
    assert_eq!(th1["class"].as_str(), Some("TH1D"));
    assert_eq!(floats(&th1["values"]), counts, "TH1D bin contents");
    assert_eq!(floats(&th1["edges"]), floats(&json["edges"]));
    assert_eq!(th1["title"].as_str(), Some("mll"));

    // Against a running cluster, weighted, with flags from the environment; and a bad
    // expression is refused with its column before anything runs.
    let (_s, _w1, _w2, _client, address) = cluster().await;
    let out2 = dir.path().join("weighted.json");
    let run = Command::new(KAON)
        .arg("histogram")
        .args(&files[..2])
        .args(["--scheduler", &address])
        .args(["--hist", "lep_pt", "--bins", "20", "--range", "0,200"])
        .env("KAON_WEIGHT", "mcWeight")
        .env("KAON_FILTER", "lep_n >= 1")
        .env("KAON_OUTPUT", &out2)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out2).unwrap()).unwrap();
    assert_eq!(json["weight"].as_str(), Some("mcWeight"));
    assert_eq!(json["sumw2"].as_array().unwrap().len(), 20);
    assert_eq!(
        json["selection"]["steps"][0]["filter"].as_str(),
        Some("lep_n >= 1")
    );

    let run = Command::new(KAON)
        .arg("histogram")
        .args(&files[..1])
        .args(["--scheduler", &address])
        .args(["--filter", "lep_n == 2 && lep_ptt[0] > 25"])
        .args(["--hist", "lep_n", "--range", "0,10"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("column 15") && stderr.contains("did you mean lep_pt"),
        "{stderr}"
    );
    let help = Command::new(KAON)
        .args(["histogram", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "KAON_HIST",
        "KAON_RANGE",
        "KAON_FILTER",
        "KAON_SCHEDULER_ADDRESS",
        "mass(",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
