//! Kaon's worker: one process per node, owning all its cores.
//!
//! tokio drives I/O (the [`WorkerLink`](kaon_proto::worker_link_client) stream to the
//! scheduler, the `Data` service for peers and clients, input fetches); a rayon pool of
//! `nthreads` runs kernels. Results live in a [`store::ChunkStore`] that spills
//! least-recently-used chunks to disk above a target fraction of the memory limit, and
//! the executor pauses above a higher mark. Entry point: [`run_worker`].

mod data_service;
mod executor;
mod link;
pub mod memory;
pub mod store;

pub use link::run_worker;

/// Everything a worker needs to start.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The scheduler's address, `host:port`.
    pub scheduler: String,
    /// Kernel threads (the rayon pool's size).
    pub nthreads: usize,
    /// Memory limit in bytes.
    pub memory_limit: u64,
    /// Fraction of the limit held in memory before spilling to disk.
    pub spill_fraction: f64,
    /// Fraction of the limit (process memory) above which no new task starts.
    pub pause_fraction: f64,
    /// A name shown in cluster info and errors.
    pub name: String,
    /// Host to serve the Data service on; peers connect to it.
    pub host: String,
    /// Port of the Data service (0: any free port).
    pub data_port: u16,
    /// Where spilled chunks go (a fresh temporary directory when None).
    pub spill_dir: Option<std::path::PathBuf>,
    /// Allow the `exit_worker` fault (tests of recovery only).
    pub allow_fault_injection: bool,
    /// How long to keep trying to reach the scheduler at start.
    pub connect_timeout: std::time::Duration,
    /// The cluster's token: presented to the scheduler and peers, required of callers.
    pub token: Option<String>,
}

impl WorkerConfig {
    /// Defaults for a worker on this host talking to `scheduler`.
    pub fn new(scheduler: impl Into<String>) -> Self {
        let nthreads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            scheduler: scheduler.into(),
            nthreads,
            memory_limit: memory::parse_memory_limit("auto", nthreads).unwrap_or(4 << 30),
            spill_fraction: 0.6,
            pause_fraction: 0.8,
            name: format!("worker-{}", std::process::id()),
            host: "127.0.0.1".into(),
            data_port: 0,
            spill_dir: None,
            allow_fault_injection: false,
            connect_timeout: std::time::Duration::from_secs(30),
            token: None,
        }
    }
}
