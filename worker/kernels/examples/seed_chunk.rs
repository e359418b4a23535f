//! Times `run_task` on one (1000, 1000, 10) chunk of the seed expression
//! `(arcsin(random(seed 1)) + arccos(random(seed 2))).sum(axis=(1, 2))`
//! in rayon pools of 1 and 2 threads (and of all cores, if more), and projects the
//! time of the full (10000, 10000, 10) problem (100 such chunks).
//!
//! `cargo run --release -p kaon-kernels --example seed_chunk [repeats]`

use std::time::Instant;

use kaon_graph::TaskId;
use kaon_graph::testing::seed_expression_graph;
use kaon_kernels::{KernelOptions, run_task};

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let graph = seed_expression_graph([10000, 10000, 10], [1000, 1000, 10], 8);
    let elements_per_chunk = 1000.0 * 1000.0 * 10.0;
    let chunks = 100.0;
    let opts = KernelOptions::default();
    let mut threads = vec![1, 2];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 2 {
        threads.push(cores);
    }
    println!("kernels use {} code", kaon_kernels::kernel_isa());
    let mut reference: Option<Vec<u64>> = None;
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("a rayon pool");
        let mut best = f64::INFINITY;
        for r in 0..repeats {
            let task = TaskId {
                layer: 0,
                chunk: r as u64 % 100,
            };
            let start = Instant::now();
            let out = pool
                .install(|| run_task(&graph, task, &[], &opts))
                .expect("the task runs");
            let secs = start.elapsed().as_secs_f64();
            best = best.min(secs);
            if r == 0 {
                let bits: Vec<u64> = out.as_f64().unwrap().iter().map(|x| x.to_bits()).collect();
                match &reference {
                    None => reference = Some(bits),
                    Some(want) => assert_eq!(&bits, want, "results differ between pool sizes"),
                }
            }
        }
        println!(
            "threads {t}: best {:.1} ms per chunk, {:.3} ns/element ({:.3} ns/element/thread), \
             projected full problem (100 chunks): {:.2} s",
            best * 1e3,
            best * 1e9 / elements_per_chunk,
            best * 1e9 * t as f64 / elements_per_chunk,
            best * chunks
        );
    }
}
