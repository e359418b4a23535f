//! Shared pieces of Kaon's benchmarks: a real local cluster as a child process, a
//! process-tree memory sampler, running the Dask peer scripts, and medians.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// `kaon local` running as a child process; killed (with its workers) on drop.
pub struct LocalProcess {
    child: Child,
    pub address: String,
    /// The dashboard's `http://host:port` (its event stream has the task stream).
    pub dashboard: String,
}

impl LocalProcess {
    pub fn start(kaon: &str, workers: usize, threads: usize) -> LocalProcess {
        let mut child = Command::new(kaon)
            .args(["local", "--port", "0", "--dashboard-port", "0"])
            .args(["--workers", &workers.to_string()])
            .args(["--threads-per-worker", &threads.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {kaon}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("kaon local printed nothing").unwrap();
        let address = first
            .strip_prefix("Scheduler at ")
            .unwrap_or_else(|| panic!("unexpected output of kaon local: {first}"))
            .to_string();
        let second = lines.next().expect("kaon local printed one line").unwrap();
        let dashboard = second
            .strip_prefix("Dashboard at ")
            .and_then(|l| l.find("/status").map(|i| l[..i].to_string()))
            .unwrap_or_else(|| panic!("unexpected output of kaon local: {second}"));
        std::thread::spawn(move || for _ in lines {});
        LocalProcess {
            child,
            address,
            dashboard,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        // SIGTERM lets kaon local stop its workers; they also die with it.
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Resident memory of a process and all its descendants, in bytes.
pub fn tree_rss_bytes(root: u32) -> u64 {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    let mut rss: std::collections::HashMap<u32, u64> = Default::default();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command name, which is in parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ppid: u32 = fields.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let pages: u64 = fields.get(21).and_then(|s| s.parse().ok()).unwrap_or(0);
            children.entry(ppid).or_default().push(pid);
            rss.insert(pid, pages * 4096);
        }
    }
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        total += rss.get(&p).copied().unwrap_or(0);
        if let Some(c) = children.get(&p) {
            stack.extend(c);
        }
    }
    total
}

/// Samples the summed RSS of process trees every 20 ms and keeps the peak.
pub struct PeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    pub fn start(roots: Vec<u32>) -> PeakSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now: u64 = roots.iter().map(|&r| tree_rss_bytes(r)).sum();
                p.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        PeakSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns the peak in MiB.
    pub fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
    }
}

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs one of the Dask scripts in ../shared/bench and returns its JSON line.
pub fn run_dask(python: &str, script: &str, args: &[&str]) -> Option<serde_json::Value> {
    let bench_dir = std::env::var("KAON_DASK_BENCH_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/bench").to_string());
    let path = format!("{bench_dir}/{script}");
    eprintln!("running Dask: {python} {path} {}", args.join(" "));
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("Dask run failed: {}", out.status);
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
}

/// The median of a Dask script's `{"median": ..}` statistic.
pub fn dask_median(v: &serde_json::Value, field: &str) -> Option<f64> {
    v.get(field)?.get("median")?.as_f64()
}

/// The dilepton benchmark's job on `data` (a `nominal` tree): events with exactly two
/// opposite-charge leptons of pT > 25 GeV, and a 100-bin histogram of their invariant
/// mass over 0-500 GeV.
pub fn dilepton_mass_histogram(
    data: &kaon_client::ntuple::Dataset,
) -> Result<kaon_client::ntuple::Query, kaon_client::ntuple::DatasetError> {
    data.filter("lep_n == 2 && lep_charge[0] != lep_charge[1] && lep_pt[0] > 25 && lep_pt[1] > 25")?
        .histogram(
            "mass(lep_pt, lep_eta, lep_phi, lep_E)",
            100,
            (0.0, 500.0),
            None,
        )
}
