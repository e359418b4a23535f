//! The `kaon` command: run a scheduler, a worker, a local cluster, or the demo.

use clap::{Args, Parser, Subcommand};
use kaon_cli::local::{LocalCluster, LocalClusterConfig, WorkerMode};
use kaon_scheduler::server::SchedulerConfig;
use kaon_worker::WorkerConfig;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "kaon",
    version,
    about = "Kaon: a fast distributed task scheduler for physics analysis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scheduler: clients and workers connect to it.
    Scheduler(SchedulerArgs),
    /// Run a worker that executes tasks for a scheduler.
    Worker(WorkerArgs),
    /// Run a scheduler and worker processes on this host until Ctrl-C.
    Local(LocalArgs),
    /// Compute (arcsin(x) + arccos(y)).sum(axis=(1,2)) on an embedded local cluster.
    Demo(DemoArgs),
    /// Print the workers of a running cluster.
    Info {
        /// The scheduler's address, host:port.
        #[arg(env = "KAON_SCHEDULER_ADDRESS", default_value = "127.0.0.1:8786")]
        scheduler: String,
    },
}

#[derive(Args, Clone)]
struct SchedulerArgs {
    /// Interface to listen on.
    #[arg(long, env = "KAON_HOST", default_value = "127.0.0.1")]
    host: String,
    /// gRPC port for clients and workers (0: any free port).
    #[arg(long, env = "KAON_SCHEDULER_PORT", default_value_t = 8786)]
    port: u16,
    /// HTTP port of the dashboard endpoint (0: any free port).
    #[arg(long, env = "KAON_DASHBOARD_PORT", default_value_t = 8787)]
    dashboard_port: u16,
    /// Seconds without a heartbeat after which a worker is removed and its work redone.
    #[arg(long, env = "KAON_WORKER_TTL", default_value_t = 10.0)]
    worker_ttl: f64,
    /// Milliseconds between worker heartbeats.
    #[arg(long, env = "KAON_HEARTBEAT_MS", default_value_t = 500)]
    heartbeat_ms: u64,
    /// Workers a task may crash (die while running it) before its graph fails.
    #[arg(long, env = "KAON_ALLOWED_FAILURES", default_value_t = 3)]
    allowed_failures: u32,
}

#[derive(Args)]
struct WorkerArgs {
    /// The scheduler's address, host:port.
    #[arg(env = "KAON_SCHEDULER_ADDRESS")]
    scheduler: String,
    /// Kernel threads (default: all cores).
    #[arg(long, env = "KAON_NTHREADS")]
    nthreads: Option<usize>,
    /// Memory limit: bytes, a size such as 4GB or 512MiB, or auto (this worker's
    /// share of the host's memory). Results spill to disk above 60% of it and the
    /// worker pauses above 80%.
    #[arg(long, env = "KAON_MEMORY_LIMIT", default_value = "auto")]
    memory_limit: String,
    /// Name shown in cluster info and errors.
    #[arg(long, env = "KAON_WORKER_NAME")]
    name: Option<String>,
    /// Interface (and address peers use) for this worker's Data service.
    #[arg(long, env = "KAON_WORKER_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port of the Data service (0: any free port).
    #[arg(long, env = "KAON_DATA_PORT", default_value_t = 0)]
    data_port: u16,
    /// Directory for spilled chunks (default: the system's temporary directory).
    #[arg(long, env = "KAON_SPILL_DIR")]
    spill_dir: Option<std::path::PathBuf>,
    /// Allow the exit_worker fault, for tests of recovery. Never in production.
    #[arg(long, env = "KAON_ALLOW_FAULT_INJECTION", hide = true)]
    allow_fault_injection: bool,
}

#[derive(Args)]
struct LocalArgs {
    /// Number of worker processes.
    #[arg(long, env = "KAON_WORKERS", default_value_t = 1)]
    workers: usize,
    /// Kernel threads per worker (default: all cores divided among the workers).
    #[arg(long, env = "KAON_THREADS_PER_WORKER")]
    threads_per_worker: Option<usize>,
    /// Memory limit per worker (bytes, 4GB, 512MiB or auto).
    #[arg(long, env = "KAON_MEMORY_LIMIT", default_value = "auto")]
    memory_limit: String,
    #[command(flatten)]
    scheduler: SchedulerArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Array shape, comma-separated.
    #[arg(long, env = "KAON_DEMO_SHAPE", default_value = "10000,10000,10")]
    shape: String,
    /// Chunk shape, comma-separated.
    #[arg(long, env = "KAON_DEMO_CHUNKS", default_value = "1000,1000,10")]
    chunks: String,
    /// In-process workers.
    #[arg(long, env = "KAON_WORKERS", default_value_t = 1)]
    workers: usize,
    /// Kernel threads per worker (default: all cores divided among the workers).
    #[arg(long, env = "KAON_THREADS_PER_WORKER")]
    threads_per_worker: Option<usize>,
}

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // One I/O thread: kernels run on rayon pools, and on a small machine a single
    // thread that batches messages beats threads waking each other up.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Scheduler(args) => scheduler(args).await,
            Command::Worker(args) => worker(args).await,
            Command::Local(args) => local(args).await,
            Command::Demo(args) => demo(args).await,
            Command::Info { scheduler } => info(&scheduler).await,
        }
    });
    if let Err(e) = result {
        eprintln!("kaon: {e}");
        std::process::exit(1);
    }
}

fn scheduler_config(args: &SchedulerArgs) -> Result<SchedulerConfig, String> {
    if !(args.worker_ttl > 0.0 && args.worker_ttl.is_finite()) {
        return Err(format!(
            "--worker-ttl must be a positive number of seconds, not {}",
            args.worker_ttl
        ));
    }
    let mut config = SchedulerConfig {
        host: args.host.clone(),
        port: args.port,
        dashboard_port: args.dashboard_port,
        ..Default::default()
    };
    config.core.worker_ttl = Duration::from_secs_f64(args.worker_ttl);
    config.core.heartbeat = Duration::from_millis(args.heartbeat_ms.clamp(10, 60_000));
    config.core.state.max_worker_deaths = args.allowed_failures.max(1);
    Ok(config)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

async fn ctrl_c() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("cannot listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn scheduler(args: SchedulerArgs) -> Result<(), String> {
    let running = kaon_scheduler::server::start(scheduler_config(&args)?).await?;
    println!("Scheduler at {}", running.address);
    println!("Dashboard at {}", running.dashboard_link());
    tokio::select! {
        _ = ctrl_c() => { running.stop().await; }
    }
    Ok(())
}

async fn worker(args: WorkerArgs) -> Result<(), String> {
    let mut config = WorkerConfig::new(args.scheduler);
    config.nthreads = args.nthreads.unwrap_or_else(cores).max(1);
    config.memory_limit =
        kaon_worker::memory::parse_memory_limit(&args.memory_limit, config.nthreads)?;
    if let Some(name) = args.name {
        config.name = name;
    }
    config.host = args.host;
    config.data_port = args.data_port;
    config.spill_dir = args.spill_dir;
    config.allow_fault_injection = args.allow_fault_injection;
    kaon_worker::run_worker(config, ctrl_c()).await
}

async fn local(args: LocalArgs) -> Result<(), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the kaon executable: {e}"))?;
    let threads = args
        .threads_per_worker
        .unwrap_or_else(|| (cores() / args.workers.max(1)).max(1));
    let cluster = LocalCluster::start(LocalClusterConfig {
        workers: args.workers,
        threads_per_worker: threads,
        memory_limit: args.memory_limit,
        scheduler: scheduler_config(&args.scheduler)?,
        mode: WorkerMode::Processes(exe),
        worker_env: vec![],
    })
    .await?;
    println!("Scheduler at {}", cluster.address());
    println!("Dashboard at {}", cluster.scheduler.dashboard_link());
    println!(
        "{} workers x {} threads; Ctrl-C stops them all",
        args.workers, threads
    );
    let _ = std::io::stdout().flush();
    ctrl_c().await;
    cluster.stop().await;
    Ok(())
}

fn parse_dims(text: &str, what: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("{what} {text:?}: {s:?} is not a whole number"))
        })
        .collect()
}

async fn demo(args: DemoArgs) -> Result<(), String> {
    let shape = parse_dims(&args.shape, "shape")?;
    let chunks = parse_dims(&args.chunks, "chunks")?;
    let threads = args
        .threads_per_worker
        .unwrap_or_else(|| (cores() / args.workers.max(1)).max(1));
    let start = Instant::now();
    let mut scheduler = SchedulerConfig {
        port: 0,
        dashboard_port: 0,
        ..Default::default()
    };
    scheduler.host = "127.0.0.1".into();
    let cluster = LocalCluster::start(LocalClusterConfig {
        workers: args.workers,
        threads_per_worker: threads,
        memory_limit: "auto".into(),
        scheduler,
        mode: WorkerMode::InProcess,
        worker_env: vec![],
    })
    .await?;
    let started = start.elapsed();
    println!(
        "Embedded local cluster: {} worker(s) x {} thread(s), scheduler {}, started in {:.0} ms",
        args.workers,
        threads,
        cluster.address(),
        started.as_secs_f64() * 1e3
    );
    let client = kaon_client::Client::connect(&cluster.address(), Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let z = kaon_client::seed_expression(&shape, &chunks).map_err(|e| e.to_string())?;
    println!(
        "Computing (arcsin(x) + arccos(y)).sum(axis=(1, 2)), x and y random {shape:?} in chunks {chunks:?}"
    );
    let t0 = Instant::now();
    let result = client
        .compute(&[&z], |p| {
            let (done, total): (u64, u64) = p
                .layers
                .iter()
                .fold((0, 0), |(d, t), l| (d + l.done, t + l.total));
            eprint!("\r  progress: {done}/{total} tasks");
        })
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed();
    eprintln!();
    let r = &result[0];
    let values: Vec<f64> = r.iter().copied().collect();
    let head: Vec<String> = values.iter().take(4).map(|v| format!("{v:.6}")).collect();
    println!(
        "Result: shape {:?}, first values [{} ...]",
        r.shape(),
        head.join(", ")
    );
    println!("Sum of the result: {:.6}", values.iter().sum::<f64>());
    let elements = shape.iter().product::<u64>() as f64;
    if elements > 0.0 {
        println!(
            "Expected mean per element: pi/2 = {:.6}; measured {:.6}",
            std::f64::consts::FRAC_PI_2,
            values.iter().sum::<f64>() / elements
        );
    }
    println!("Computed in {:.3} s", elapsed.as_secs_f64());
    cluster.stop().await;
    Ok(())
}

async fn info(address: &str) -> Result<(), String> {
    let client = kaon_client::Client::connect(address, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let info = client.cluster_info().await.map_err(|e| e.to_string())?;
    println!(
        "{} workers; dashboard {}",
        info.workers.len(),
        info.dashboard
    );
    for w in info.workers {
        println!(
            "  {:<16} {:<22} threads {:>3}  memory {:>6} MB / {:>6} MB  executing {}  pid {}",
            w.name,
            w.data_address,
            w.nthreads,
            w.memory >> 20,
            w.memory_limit >> 20,
            w.executing,
            w.pid
        );
    }
    Ok(())
}
