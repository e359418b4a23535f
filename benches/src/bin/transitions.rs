//! Zero-worker benchmark of the scheduler's state machine: a tree sum of `--tasks`
//! one-element chunks runs through `SimCluster`, whose simulated workers finish tasks
//! instantly, so the time measured is the scheduler's own (plus the simulation's).
//! Prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use kaon_graph::testing::sum_tree_graph;
use kaon_scheduler::state::Config;
use kaon_scheduler::state::sim::SimCluster;

#[derive(Parser)]
#[command(about = "Scheduler state-machine throughput (task transitions per second)")]
struct Args {
    /// Root tasks of the tree sum (split_every 32).
    #[arg(long, default_value_t = 1_000_000)]
    tasks: u64,
    /// Simulated workers, 2 threads each.
    #[arg(long, default_value_t = 2)]
    workers: u64,
}

fn main() {
    let args = Args::parse();
    let graph = Arc::new(sum_tree_graph(args.tasks.max(1), 32));
    let num_tasks = graph.num_tasks();
    let start = Instant::now();
    let mut sim = SimCluster::new(Config::default());
    for w in 0..args.workers.max(1) {
        sim.add_worker(w, 2);
    }
    sim.submit(1, graph);
    let done = sim.run_until(u64::MAX, |s| s.finished(1));
    assert!(done, "the graph did not finish");
    sim.release_graph(1);
    sim.run(u64::MAX);
    let seconds = start.elapsed().as_secs_f64();
    let transitions = sim.state().transitions();
    let line = serde_json::json!({
        "bench": "transitions",
        "tasks": num_tasks,
        "transitions": transitions,
        "seconds": seconds,
        "transitions_per_s": transitions as f64 / seconds,
        "tasks_per_s": num_tasks as f64 / seconds,
    });
    println!("{line}");
}
