//! Task throughput end to end: `ones((n,), chunks=1).sum()` — n one-element tasks and
//! their tree reduction — on a real 2-worker local cluster (`kaon local`), side by
//! side with Dask's LocalCluster(2 workers x 1 thread) running the same expression
//! (../shared/bench/bench_b.py ones). Prints one JSON line with both and the ratio.

use clap::Parser;
use kaon_benches::{LocalProcess, PeakSampler, dask_median, median, run_dask};
use kaon_client::{Array, Client};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// The kaon executable.
    #[arg(long, default_value = "target/release/kaon")]
    kaon: String,
    /// Python with dask installed; without it only Kaon runs.
    #[arg(long)]
    dask_python: Option<String>,
    /// Tiny tasks in Kaon's graph.
    #[arg(long, default_value_t = 50_000)]
    tasks: u64,
    /// Tiny tasks in Dask's graph (Dask needs ~1.6 ms per task).
    #[arg(long, default_value_t = 10_000)]
    dask_tasks: u64,
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Use this running cluster (host:port) instead of starting `kaon local`, e.g. to
    /// measure with a dashboard page open.
    #[arg(long)]
    scheduler: Option<String>,
}

fn main() {
    let args = Args::parse();
    let cluster = match &args.scheduler {
        Some(_) => None,
        None => Some(LocalProcess::start(&args.kaon, 2, 1)),
    };
    let address = args
        .scheduler
        .clone()
        .unwrap_or_else(|| cluster.as_ref().unwrap().address.clone());
    let mut roots = vec![std::process::id()];
    roots.extend(cluster.as_ref().map(|c| c.pid()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (times, executed, peak) = rt.block_on(async {
        let client = Client::connect(&address, Duration::from_secs(30))
            .await
            .unwrap();
        let x = Array::ones(&[args.tasks], &[1]).unwrap().sum(None).unwrap();
        let (graph, _) = kaon_client::lower(&[&x]).unwrap();
        // Warm-up, then timed repetitions.
        let r = client.compute(&[&x], |_| {}).await.unwrap();
        assert_eq!(r[0].iter().next().copied(), Some(args.tasks as f64));
        let sampler = PeakSampler::start(roots);
        let mut times = Vec::new();
        for _ in 0..args.reps {
            let t0 = Instant::now();
            let r = client.compute(&[&x], |_| {}).await.unwrap();
            times.push(t0.elapsed().as_secs_f64());
            assert_eq!(r[0].iter().next().copied(), Some(args.tasks as f64));
        }
        (times, graph.num_tasks(), sampler.finish())
    });
    drop(cluster);
    let t = median(&times);
    let kaon_rate = executed as f64 / t;
    let mut out = serde_json::json!({
        "bench": "throughput",
        "expression": format!("ones(({},), chunks=1).sum()", args.tasks),
        "kaon": {
            "cluster": "kaon local, 2 workers x 1 thread",
            "tasks": executed, "wall_s_median": t, "raw_wall_s": times,
            "tasks_per_s": kaon_rate.round(), "us_per_task": t / executed as f64 * 1e6,
            "peak_rss_MiB": peak.round(),
        },
    });
    if let Some(py) = &args.dask_python {
        let n = args.dask_tasks.to_string();
        if let Some(d) = run_dask(
            py,
            "bench_b.py",
            &["ones", "-n", &n, "--sched", "dist2x1", "--reps", "3"],
        ) {
            let rate = dask_median(&d, "tasks_per_s");
            out["dask"] = serde_json::json!({
                "cluster": "LocalCluster(2 workers x 1 thread)",
                "tasks": n, "tasks_per_s": rate, "peak_rss_MiB": dask_median(&d, "peak_rss_sum_MiB"),
            });
            if let Some(rate) = rate {
                out["ratio_kaon_over_dask"] =
                    serde_json::json!((kaon_rate / rate * 10.0).round() / 10.0);
            }
        }
    }
    println!("{out}");
}
