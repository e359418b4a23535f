//! Where the time of the dilepton job (`ntuple`'s benchmark) goes on a local cluster:
//! for each run, the client's own times (planning, submission, the answer) against
//! the workers' task stream read from the dashboard's event stream, so that a loss
//! of 2-worker scaling can be put on the scheduler's latency, idle workers, uneven
//! task counts or tasks that run slower side by side.
//!
//! ```text
//! cargo build --release -p kaon-cli -p kaon-benches
//! ./target/release/ntuple_timeline --workers 2 --reps 8 \
//!     --file worker/ntuple/tests/data/synthetic/bench-dilepton-lz4.root
//! ```
//!
//! One line per run, in milliseconds from the run's start: `plan` (reading the file's
//! metadata and building the query), `first` (submission to the first task's start),
//! `reads` (when the last partition task ended, and the sum of all their durations),
//! `end` (the answer, after the histogram merges and the fetch); then per worker its
//! partition tasks, from the first start to the last end, their summed durations
//! (`busy`) and the time between them (`idle`).

use clap::Parser;
use kaon_benches::{LocalProcess, dilepton_mass_histogram};
use kaon_client::Client;
use kaon_client::ntuple::Dataset;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/kaon")]
    kaon: String,
    #[arg(
        long,
        default_value = "worker/ntuple/tests/data/synthetic/bench-dilepton-lz4.root"
    )]
    file: String,
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long, default_value_t = 8)]
    reps: usize,
    /// Entries per task.
    #[arg(long, default_value_t = 100_000)]
    step_size: u64,
}

/// Unix time in milliseconds, the clock of the task stream.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

/// One record of the task stream.
#[derive(PartialEq)]
struct Rec {
    start: f64,
    duration: f64,
    worker: String,
    /// A partition task (not a merge, a transfer or a disk record).
    partition: bool,
}

/// The task stream the dashboard still holds, from its event stream's snapshots.
fn task_stream(dashboard: &str) -> Vec<Rec> {
    let out = Command::new("curl")
        .args(["-sN", "--max-time", "1"])
        .arg(format!("{dashboard}/api/v1/events"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut recs = Vec::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        for r in v["task_stream"].as_array().into_iter().flatten() {
            recs.push(Rec {
                start: r["start_ms"].as_f64().unwrap_or(0.0),
                duration: r["duration_ms"].as_f64().unwrap_or(0.0),
                worker: r["worker"].as_str().unwrap_or("?").to_string(),
                partition: r["kind"] == "compute"
                    && !r["name"].as_str().unwrap_or("").ends_with("-sum"),
            });
        }
    }
    recs.sort_by(|a, b| a.start.total_cmp(&b.start));
    recs.dedup();
    recs
}

fn main() {
    let args = Args::parse();
    let cluster = LocalProcess::start(&args.kaon, args.workers, 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let runs = rt.block_on(async {
        let client = Client::connect(&cluster.address, Duration::from_secs(30))
            .await
            .unwrap();
        let once = || async {
            let t0 = now_ms();
            let data =
                Dataset::read(&[args.file.as_str()], "nominal", None, args.step_size).unwrap();
            let data = dilepton_mass_histogram(&data).unwrap();
            let t1 = now_ms();
            client.compute_ntuple(&[&data], |_| {}).await.unwrap();
            (t0, t1, now_ms())
        };
        once().await; // warm-up: page cache, the workers' open files
        let mut runs = Vec::new();
        for _ in 0..args.reps {
            // apart, so that each run's records are told from the next one's
            tokio::time::sleep(Duration::from_millis(20)).await;
            runs.push(once().await);
        }
        runs
    });
    // the workers report finished tasks in batches
    std::thread::sleep(Duration::from_millis(700));
    let recs = task_stream(&cluster.dashboard);
    for (t0, t1, t2) in runs {
        let mine: Vec<&Rec> = recs
            .iter()
            .filter(|r| r.start >= t0 && r.start <= t2)
            .collect();
        let parts: Vec<&&Rec> = mine.iter().filter(|r| r.partition).collect();
        let first = mine.iter().map(|r| r.start).fold(f64::MAX, f64::min);
        let reads_end = parts
            .iter()
            .map(|r| r.start + r.duration)
            .fold(0.0, f64::max);
        let busy: f64 = parts.iter().map(|r| r.duration).sum();
        let mut workers: BTreeMap<&str, Vec<&Rec>> = BTreeMap::new();
        for r in &parts {
            workers.entry(&r.worker).or_default().push(r);
        }
        let per: Vec<String> = workers
            .iter()
            .map(|(w, rs)| {
                let start = rs.iter().map(|r| r.start).fold(f64::MAX, f64::min);
                let end = rs.iter().map(|r| r.start + r.duration).fold(0.0, f64::max);
                let b: f64 = rs.iter().map(|r| r.duration).sum();
                format!(
                    "{w}: {} tasks {:.1}..{:.1} busy {b:.1} idle {:.1}",
                    rs.len(),
                    start - t0,
                    end - t0,
                    end - start - b
                )
            })
            .collect();
        println!(
            "plan {:.1} | first {:.1} | reads end {:.1} (busy {busy:.1}) | end {:.1} | {}",
            t1 - t0,
            first - t1,
            reads_end - t0,
            t2 - t0,
            per.join("; ")
        );
    }
}
