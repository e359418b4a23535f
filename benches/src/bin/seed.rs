//! The seed expression `(arcsin(x) + arccos(y)).sum(axis=(1,2))` on random
//! (10000,10000,10) in (1000,1000,10) chunks, on real local clusters (`kaon local`,
//! 1 worker x 2 threads and 2 workers x 1 thread), side by side with Dask
//! (../shared/bench/bench_a.py: threaded, LocalCluster 1x2 and 2x1). Reports times,
//! peak memory of all Kaon processes (scheduler, workers, this client) and the ratio
//! against Dask's best configuration.

use clap::Parser;
use kaon_benches::{LocalProcess, PeakSampler, dask_median, median, run_dask};
use kaon_client::{Client, seed_expression};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/kaon")]
    kaon: String,
    /// Python with dask installed; without it only Kaon runs.
    #[arg(long)]
    dask_python: Option<String>,
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Dask modes to run (bench_a.py MODE).
    #[arg(long, value_delimiter = ',', default_value = "threads,dist1x2,dist2x1")]
    dask_modes: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "10000,10000,10")]
    shape: Vec<u64>,
    #[arg(long, value_delimiter = ',', default_value = "1000,1000,10")]
    chunks: Vec<u64>,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut kaon = serde_json::Map::new();
    let mut best_kaon = f64::INFINITY;
    for (workers, threads) in [(1usize, 2usize), (2, 1)] {
        let cluster = LocalProcess::start(&args.kaon, workers, threads);
        let (times, peak, first) = rt.block_on(async {
            let client = Client::connect(&cluster.address, Duration::from_secs(30))
                .await
                .unwrap();
            let z = seed_expression(&args.shape, &args.chunks).unwrap();
            client.compute(&[&z], |_| {}).await.unwrap(); // warm-up
            let sampler = PeakSampler::start(vec![cluster.pid(), std::process::id()]);
            let mut times = Vec::new();
            let mut first = 0.0;
            for _ in 0..args.reps {
                let t0 = Instant::now();
                let r = client.compute(&[&z], |_| {}).await.unwrap();
                times.push(t0.elapsed().as_secs_f64());
                first = r[0][[0]];
            }
            (times, sampler.finish(), first)
        });
        drop(cluster);
        let t = median(&times);
        best_kaon = best_kaon.min(t);
        kaon.insert(
            format!("local{workers}x{threads}"),
            serde_json::json!({"wall_s_median": t, "raw_wall_s": times, "peak_rss_MiB": peak.round(), "z0": first}),
        );
    }
    let mut out = serde_json::json!({
        "bench": "seed",
        "shape": args.shape, "chunks": args.chunks,
        "kaon": kaon,
    });
    if let Some(py) = &args.dask_python {
        let mut dask = serde_json::Map::new();
        let mut best_dask = f64::INFINITY;
        let reps = args.reps.to_string();
        for mode in &args.dask_modes {
            if let Some(d) = run_dask(py, "bench_a.py", &[mode, "--reps", &reps]) {
                let t = dask_median(&d, "wall_s").unwrap_or(f64::NAN);
                best_dask = best_dask.min(t);
                dask.insert(
                    mode.clone(),
                    serde_json::json!({"wall_s_median": t, "peak_rss_MiB": dask_median(&d, "peak_rss_sum_MiB")}),
                );
            }
        }
        out["dask"] = serde_json::Value::Object(dask);
        if best_dask.is_finite() {
            out["ratio_dask_best_over_kaon_best"] =
                serde_json::json!((best_dask / best_kaon * 100.0).round() / 100.0);
        }
    }
    println!("{out}");
}
