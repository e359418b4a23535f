//! The dilepton selection + histogram on the 2,000,000-event benchmark ntuple
//! (`make bench-ntuple`'s first step writes it): exactly two opposite-charge leptons,
//! both with pT > 25 GeV, histogram of their invariant mass (100 bins, 0-500 GeV).
//!
//! Kaon runs it on real local clusters (`kaon local`, 2 workers x 1 thread, and 1 x 1
//! for the single-threaded rate); uproot + awkward + NumPy run it in one Python process
//! in the same invocation. Times are medians of `--reps` runs after a warm-up (the
//! file is in the page cache for both); Kaon's time includes planning (reading the
//! file's metadata) and fetching the result. Peak memory: every Kaon process
//! (scheduler, workers, this client) summed over three more runs after the timed ones,
//! and the Python process's maximum RSS.
//! The two histograms must agree bin for bin.
//!
//! ```text
//! make bench-ntuple   # writes worker/ntuple/tests/data/synthetic/bench-dilepton-*.root
//! cargo build --release -p kaon-cli -p kaon-benches
//! ./target/release/ntuple --kaon target/release/kaon \
//!     --python worker/ntuple/tests/data/venv/bin/python \
//!     --file worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root
//! ```

use clap::Parser;
use kaon_benches::{LocalProcess, PeakSampler, dilepton_mass_histogram, median};
use kaon_client::Client;
use kaon_client::ntuple::Dataset;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/kaon")]
    kaon: String,
    /// Python with uproot and awkward (kaon-ntuple's test venv).
    #[arg(long, default_value = "worker/ntuple/tests/data/venv/bin/python")]
    python: String,
    /// Benchmark ntuples (repeatable).
    #[arg(
        long = "file",
        default_value = "worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root"
    )]
    files: Vec<String>,
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Entries per task.
    #[arg(long, default_value_t = 100_000)]
    step_size: u64,
}

const UPROOT: &str = r#"
import json, resource, sys, time
import awkward as ak, numpy as np, uproot

path, reps = sys.argv[1], int(sys.argv[2])
branches = ["lep_n", "lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge"]

def run():
    with uproot.open(path) as f:
        arr = f["nominal"].arrays(branches, array_cache=None, library="ak")
    two = arr[arr.lep_n == 2]
    sel = (two.lep_charge[:, 0] != two.lep_charge[:, 1]) & (two.lep_pt[:, 0] > 25) & (two.lep_pt[:, 1] > 25)
    ev = two[sel]
    f64 = lambda x: ak.values_astype(x, np.float64)
    pt, eta, phi, e = f64(ev.lep_pt), f64(ev.lep_eta), f64(ev.lep_phi), f64(ev.lep_E)
    px = ak.sum(pt * np.cos(phi), axis=1)
    py = ak.sum(pt * np.sin(phi), axis=1)
    pz = ak.sum(pt * np.sinh(eta), axis=1)
    E = ak.sum(e, axis=1)
    m2 = ak.to_numpy(E * E - px * px - py * py - pz * pz)
    m = np.where(m2 < 0, -np.sqrt(np.abs(m2)), np.sqrt(np.abs(m2)))
    edges = np.linspace(0, 500, 101)
    return np.bincount(np.searchsorted(edges, m, side="right"), minlength=102)

run()  # warm-up
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    h = run()
    times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "counts": h.tolist(),
                  "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"#;

/// Runs the selection on a `kaon local` cluster: (times, planning times, peak MiB,
/// slot counts).
fn kaon(args: &Args, file: &str, workers: usize) -> (Vec<f64>, Vec<f64>, f64, Vec<f64>) {
    let cluster = LocalProcess::start(&args.kaon, workers, 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt.block_on(async {
        let client = Client::connect(&cluster.address, Duration::from_secs(30))
            .await
            .unwrap();
        let once = || async {
            let t0 = Instant::now();
            let data = Dataset::read(&[file], "nominal", None, args.step_size).unwrap();
            let plan = t0.elapsed().as_secs_f64();
            let h = dilepton_mass_histogram(&data).unwrap();
            let r = client.compute_ntuple(&[&h], |_| {}).await.unwrap();
            (r[0].as_histogram().unwrap().values.clone(), plan)
        };
        once().await; // warm-up: page cache, workers' open files
        let mut times = Vec::new();
        let mut plans = Vec::new();
        let mut counts = Vec::new();
        for _ in 0..args.reps {
            let t0 = Instant::now();
            let (c, plan) = once().await;
            times.push(t0.elapsed().as_secs_f64());
            plans.push(plan);
            counts = c;
        }
        // Peak memory over runs of their own: the sampler walks /proc every 20 ms,
        // CPU that a timed 2-worker run on a 2-core machine would lose.
        let sampler = PeakSampler::start(vec![cluster.pid(), std::process::id()]);
        for _ in 0..3 {
            once().await;
        }
        (times, plans, sampler.finish(), counts)
    });
    drop(cluster);
    out
}

fn main() {
    let args = Args::parse();
    for file in &args.files {
        assert!(
            std::path::Path::new(file).exists(),
            "{file} is missing: run `make bench-ntuple` (its first step writes it)"
        );
        let (t2, p2, mem2, counts) = kaon(&args, file, 2);
        let (t1, _, mem1, counts1) = kaon(&args, file, 1);
        assert_eq!(counts, counts1, "1 and 2 workers disagree");
        eprintln!("running uproot + awkward + NumPy: {}", args.python);
        let out = Command::new(&args.python)
            .args(["-c", UPROOT, file, &args.reps.to_string()])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "uproot run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let py: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let py_times: Vec<f64> = py["times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let py_counts: Vec<f64> = py["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let (k2, k1, u) = (median(&t2), median(&t1), median(&py_times));
        let selected: f64 = counts.iter().sum();
        println!(
            "{}",
            serde_json::json!({
                "bench": "ntuple-dilepton",
                "file": file,
                "events_selected": selected,
                "histograms_identical": counts == py_counts,
                "kaon_local_2x1": {"wall_s_median": k2, "raw_wall_s": t2, "planning_s_median": median(&p2), "peak_rss_MiB": mem2.round()},
                "kaon_local_1x1": {"wall_s_median": k1, "raw_wall_s": t1, "peak_rss_MiB": mem1.round()},
                "uproot_awkward": {"wall_s_median": u, "raw_wall_s": py_times, "peak_rss_MiB": py["peak_rss_MiB"].as_f64().map(|m| m.round())},
                "ratio_uproot_over_kaon_2x1": (u / k2 * 100.0).round() / 100.0,
                "speedup_2x1_over_1x1": (k1 / k2 * 100.0).round() / 100.0,
            })
        );
        assert_eq!(counts, py_counts, "Kaon and uproot histograms differ");
    }
}
