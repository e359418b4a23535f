//! The `kaon` command: run a scheduler, a worker, a local cluster, or the demo.

mod gateway_client;

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
    /// Fill a histogram from ROOT ntuples on a cluster: select events, define
    /// columns, and write the histogram as JSON (and as a ROOT TH1D with --root-output).
    #[command(after_help = HISTOGRAM_HELP)]
    Histogram(HistogramArgs),
    /// Run a gateway: per-user clusters, authentication, quotas, behind a REST API.
    Gateway(kaon_gateway::cli::GatewayArgs),
    /// Create, list, scale and stop your clusters on a Kaon gateway.
    Cluster(gateway_client::ClusterArgs),
    /// Run a program (a Python script or any executable) on a gateway cluster: a new
    /// one, stopped afterwards, or --cluster NAME.
    Run(gateway_client::RunArgs),
    /// Print the workers of a running cluster.
    Info {
        /// The scheduler's address, host:port.
        #[arg(env = "KAON_SCHEDULER_ADDRESS", default_value = "127.0.0.1:8786")]
        scheduler: String,
        /// The cluster's token, if its scheduler requires one.
        #[arg(long, env = "KAON_TOKEN", hide_env_values = true)]
        token: Option<String>,
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
    /// Path prefix the dashboard is served under, e.g. /user/NAME/proxy/8787 behind
    /// JupyterHub's proxy.
    #[arg(long, env = "KAON_DASHBOARD_PREFIX", default_value = "")]
    dashboard_prefix: String,
    /// The cluster's token: clients and workers must present it, and so must the
    /// dashboard's scaling controls.
    #[arg(long, env = "KAON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where to ask for more workers: the scheduler POSTs {"n": N} here with its
    /// token (a gateway passes its internal URL for the cluster).
    #[arg(long, env = "KAON_SCALER_URL")]
    scaler_url: Option<String>,
    /// Write {"address": "host:port", "dashboard": "host:port"} to this file once
    /// listening (useful with --port 0; a gateway's backends read it).
    #[arg(long, env = "KAON_ADDRESS_FILE")]
    address_file: Option<std::path::PathBuf>,
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
    /// The cluster's token, if its scheduler requires one.
    #[arg(long, env = "KAON_TOKEN", hide_env_values = true)]
    token: Option<String>,
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
    /// Run on this running cluster (host:port) instead of an embedded one.
    #[arg(long, env = "KAON_SCHEDULER_ADDRESS")]
    scheduler: Option<String>,
    /// The cluster's token, with --scheduler.
    #[arg(long, env = "KAON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Times to compute it (each run is timed).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

const HISTOGRAM_HELP: &str = "\
Filters and defines run in the order given. Expressions: numbers, branches and defined \
columns, + - * / % **, == != < <= > >=, && || !, indexing of jagged branches \
(lep_pt[0], lep_pt[-1]; past the end: NaN, so the event fails a cut on it), and the \
functions sqrt abs exp log log10 sin cos tan asin acos atan sinh cosh tanh asinh acosh \
atanh floor ceil round isnan isfinite atan2 pow hypot min max where, per-event \
reductions of jagged values sum max min mean count any all, and the physics helpers \
mass(pt, eta, phi, e [, mask]), mass_m(pt, eta, phi, m [, mask]), \
mass_xyze(px, py, pz, e [, mask]), delta_phi(phi1, phi2), delta_r(eta1, phi1, eta2, phi2).

Bins are [low, high) with edges k*(high-low)/bins + low; values below low go to the \
underflow, values at or above high (and NaN) to the overflow.

Example (the ATLAS dilepton selection):
  kaon histogram --local 2 'data/*.root' --tree nominal \\
    --filter 'lep_n == 2 && lep_charge[0] != lep_charge[1]' \\
    --filter 'lep_pt[0] > 25 && lep_pt[1] > 25' \\
    --define 'mll=mass(lep_pt, lep_eta, lep_phi, lep_E)' \\
    --hist mll --bins 100 --range 0,500 --output mll.json";

#[derive(Args)]
struct HistogramArgs {
    /// ROOT files or glob patterns (quote patterns: 'data/*.root'); the workers must
    /// see them at the same paths. The variable holds one file or pattern.
    #[arg(required = true, env = "KAON_FILES", value_name = "FILES")]
    files: Vec<String>,
    /// Address (host:port) of a running cluster's scheduler.
    #[arg(long, env = "KAON_SCHEDULER_ADDRESS")]
    scheduler: Option<String>,
    /// The cluster's token, with --scheduler, if its scheduler requires one.
    #[arg(long, env = "KAON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Start a local cluster of N worker processes for this command instead (this
    /// takes precedence over --scheduler).
    #[arg(long, env = "KAON_LOCAL", value_name = "N")]
    local: Option<usize>,
    /// Kernel threads per local worker (default: all cores divided among the workers).
    #[arg(long, env = "KAON_THREADS_PER_WORKER")]
    threads_per_worker: Option<usize>,
    /// The tree in each file (a path such as dir/nominal).
    #[arg(long, env = "KAON_TREE", default_value = "nominal")]
    tree: String,
    /// Keep the events where EXPR is true (repeatable).
    #[arg(long = "filter", env = "KAON_FILTER", value_name = "EXPR")]
    filters: Vec<String>,
    /// Define a column, NAME=EXPR (repeatable).
    #[arg(long = "define", env = "KAON_DEFINE", value_name = "NAME=EXPR")]
    defines: Vec<String>,
    /// What to histogram: an expression (every object of a jagged value is filled).
    #[arg(long, env = "KAON_HIST", value_name = "EXPR")]
    hist: String,
    /// Number of regular bins.
    #[arg(long, env = "KAON_BINS", default_value_t = 100)]
    bins: u32,
    /// The binned range, LOW,HIGH.
    #[arg(
        long,
        env = "KAON_RANGE",
        value_name = "LOW,HIGH",
        allow_hyphen_values = true
    )]
    range: String,
    /// Weight of each entry: an expression (sums of squared weights are written too).
    #[arg(long, env = "KAON_WEIGHT", value_name = "EXPR")]
    weight: Option<String>,
    /// Entries per task (partitions follow the files' clusters).
    #[arg(long, env = "KAON_STEP_SIZE", default_value_t = kaon_client::ntuple::DEFAULT_STEP_SIZE)]
    step_size: u64,
    /// Where to write the histogram as JSON.
    #[arg(long, short, env = "KAON_OUTPUT", default_value = "histogram.json")]
    output: std::path::PathBuf,
    /// Also write the histogram as a TH1D (named --name) into this ROOT file.
    #[arg(long, env = "KAON_ROOT_OUTPUT", value_name = "FILE")]
    root_output: Option<std::path::PathBuf>,
    /// Name of the histogram (in the JSON, and of the TH1D).
    #[arg(long, env = "KAON_HIST_NAME", default_value = "h")]
    name: String,
    /// Title of the histogram (default: the expression).
    #[arg(long, env = "KAON_HIST_TITLE")]
    title: Option<String>,
}

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
            Command::Info { scheduler, token } => info(&scheduler, token.as_deref()).await,
            Command::Gateway(args) => kaon_gateway::cli::run(args).await,
            Command::Cluster(args) => gateway_client::cluster(args).await,
            Command::Run(args) => match gateway_client::run(args).await {
                Ok(0) => Ok(()),
                Ok(code) => std::process::exit(code),
                Err(e) => Err(e),
            },
            Command::Histogram(args) => {
                let steps = histogram_steps(&matches, &args)?;
                histogram(args, steps).await
            }
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
        dashboard_prefix: args.dashboard_prefix.clone(),
        token: args.token.clone(),
        ..Default::default()
    };
    if let Some(url) = &args.scaler_url {
        let scaler = kaon_cli::scaler_url::HttpScaler::new(url, args.token.clone())?;
        config.scaler = Some(std::sync::Arc::new(scaler));
    }
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
    if let Some(path) = &args.address_file {
        write_address_file(path, running.address, running.dashboard)?;
    }
    println!("Scheduler at {}", running.address);
    println!("Dashboard at {}", running.dashboard_link());
    tokio::select! {
        _ = ctrl_c() => { running.stop().await; }
    }
    Ok(())
}

/// Writes where the scheduler listens, replacing a wildcard host (`--host 0.0.0.0`)
/// by this machine's name so that workers on other nodes can use it. Written to a
/// temporary file and renamed, so a reader never sees half of it.
fn write_address_file(
    path: &std::path::Path,
    address: std::net::SocketAddr,
    dashboard: std::net::SocketAddr,
) -> Result<(), String> {
    let reachable = |a: std::net::SocketAddr| {
        if a.ip().is_unspecified() {
            format!("{}:{}", hostname(), a.port())
        } else {
            a.to_string()
        }
    };
    let text = serde_json::json!({
        "address": reachable(address),
        "dashboard": reachable(dashboard),
    })
    .to_string();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write the address file {}: {e}", path.display()))
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

async fn worker(args: WorkerArgs) -> Result<(), String> {
    kaon_worker::memory::keep_freed_memory();
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
    config.token = args.token;
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
    let (cluster, address) = match &args.scheduler {
        Some(address) => {
            println!("Cluster at {address}");
            (None, address.clone())
        }
        None => {
            let scheduler = SchedulerConfig {
                host: "127.0.0.1".into(),
                port: 0,
                dashboard_port: 0,
                ..Default::default()
            };
            let cluster = LocalCluster::start(LocalClusterConfig {
                workers: args.workers,
                threads_per_worker: threads,
                memory_limit: "auto".into(),
                scheduler,
                mode: WorkerMode::InProcess,
                worker_env: vec![],
            })
            .await?;
            println!(
                "Embedded local cluster: {} worker(s) x {} thread(s), scheduler {}, started in {:.0} ms",
                args.workers,
                threads,
                cluster.address(),
                start.elapsed().as_secs_f64() * 1e3
            );
            let address = cluster.address();
            (Some(cluster), address)
        }
    };
    let client = kaon_client::Client::connect_with_token(
        &address,
        args.token.as_deref(),
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| e.to_string())?;
    let z = kaon_client::seed_expression(&shape, &chunks).map_err(|e| e.to_string())?;
    println!(
        "Computing (arcsin(x) + arccos(y)).sum(axis=(1, 2)), x and y random {shape:?} in chunks {chunks:?}"
    );
    for _ in 0..args.repeat.max(1) {
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
    }
    if let Some(cluster) = cluster {
        cluster.stop().await;
    }
    Ok(())
}

async fn info(address: &str, token: Option<&str>) -> Result<(), String> {
    let client = kaon_client::Client::connect_with_token(address, token, Duration::from_secs(5))
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

/// The --filter and --define steps in command-line order (values from the environment,
/// which have no position, go first: defines, then filters).
fn histogram_steps(
    matches: &clap::ArgMatches,
    args: &HistogramArgs,
) -> Result<Vec<kaon_graph::Step>, String> {
    let sub = matches.subcommand_matches("histogram");
    let positions = |id: &str, n: usize| -> Vec<usize> {
        sub.and_then(|m| m.indices_of(id))
            .map(|i| i.collect::<Vec<_>>())
            .filter(|v| v.len() == n)
            .unwrap_or_else(|| vec![0; n])
    };
    let mut steps: Vec<(usize, u8, kaon_graph::Step)> = Vec::new();
    for (d, at) in args
        .defines
        .iter()
        .zip(positions("defines", args.defines.len()))
    {
        let (name, expr) = d
            .split_once('=')
            .ok_or_else(|| format!("--define {d:?}: expected NAME=EXPR"))?;
        steps.push((
            at,
            0,
            kaon_graph::Step::Define {
                name: name.trim().to_string(),
                expr: expr.trim().to_string(),
            },
        ));
    }
    for (f, at) in args
        .filters
        .iter()
        .zip(positions("filters", args.filters.len()))
    {
        steps.push((at, 1, kaon_graph::Step::Filter(f.clone())));
    }
    steps.sort_by_key(|(at, kind, _)| (*at, *kind));
    Ok(steps.into_iter().map(|(_, _, s)| s).collect())
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let bad = || format!("--range {text:?}: expected LOW,HIGH such as 0,500");
    let (lo, hi) = text.split_once(',').ok_or_else(bad)?;
    let lo: f64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: f64 = hi.trim().parse().map_err(|_| bad())?;
    Ok((lo, hi))
}

/// The message of a dataset error, with a caret under the column of an expression.
fn dataset_error(e: kaon_client::ntuple::DatasetError) -> String {
    match &e {
        kaon_client::ntuple::DatasetError::Expr { error, .. } => {
            format!("{e}\n{}", error.caret())
        }
        _ => e.to_string(),
    }
}

async fn histogram(args: HistogramArgs, steps: Vec<kaon_graph::Step>) -> Result<(), String> {
    use kaon_client::ntuple::Dataset;
    use std::io::IsTerminal;
    let range = parse_range(&args.range)?;
    if args.scheduler.is_none() && args.local.is_none() {
        return Err(
            "say where to run: --scheduler HOST:PORT (or KAON_SCHEDULER_ADDRESS) for a \
             running cluster, or --local N for a local cluster of N workers"
                .into(),
        );
    }
    // Plan (reads the files' metadata) and check every expression before any cluster
    // starts.
    let started = Instant::now();
    let mut data =
        Dataset::read(&args.files, &args.tree, Some(&[]), args.step_size).map_err(dataset_error)?;
    for step in &steps {
        data = match step {
            kaon_graph::Step::Define { name, expr } => data.define(name, expr),
            kaon_graph::Step::Filter(expr) => data.filter(expr),
        }
        .map_err(dataset_error)?;
    }
    let hist = data
        .histogram(&args.hist, args.bins, range, args.weight.as_deref())
        .map_err(dataset_error)?;
    let count = data.count();

    let cluster = match args.local {
        Some(workers) => {
            let workers = workers.max(1);
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find the kaon executable: {e}"))?;
            let threads = args
                .threads_per_worker
                .unwrap_or_else(|| (cores() / workers).max(1));
            let scheduler = SchedulerConfig {
                host: "127.0.0.1".into(),
                port: 0,
                dashboard_port: 0,
                ..Default::default()
            };
            Some(
                LocalCluster::start(LocalClusterConfig {
                    workers,
                    threads_per_worker: threads,
                    memory_limit: "auto".into(),
                    scheduler,
                    mode: WorkerMode::Processes(exe),
                    worker_env: vec![],
                })
                .await?,
            )
        }
        None => None,
    };
    let (address, token) = match (&cluster, &args.scheduler) {
        (Some(c), _) => (c.address(), None),
        (None, Some(a)) => (a.clone(), args.token.as_deref()),
        (None, None) => unreachable!("checked above"),
    };
    let run = async {
        let client =
            kaon_client::Client::connect_with_token(&address, token, Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string())?;
        let tty = std::io::stderr().is_terminal();
        let results = client
            .compute_ntuple(&[&hist, &count], |p| {
                if tty {
                    let (done, total) = p
                        .layers
                        .iter()
                        .fold((0, 0), |(d, t), l| (d + l.done, t + l.total));
                    eprint!("\r  {done}/{total} tasks");
                }
            })
            .await
            .map_err(dataset_error)?;
        if tty {
            eprintln!();
        }
        Ok::<_, String>(results)
    };
    let results = run.await;
    if let Some(c) = cluster {
        c.stop().await;
    }
    let results = results?;
    let h = results[0].as_histogram().ok_or("no histogram came back")?;
    let selected = results[1].as_count().ok_or("no count came back")?;
    let title = args.title.clone().unwrap_or_else(|| args.hist.clone());
    let json = histogram_json(&args, &title, &data, h, selected);
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(&args.output, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    if let Some(path) = &args.root_output {
        h.write_root(path, &args.name, &title)
            .map_err(|e| e.to_string())?;
    }
    let (under, over) = h.flow();
    let mut wrote = args.output.display().to_string();
    if let Some(path) = &args.root_output {
        wrote.push_str(&format!(" and {}", path.display()));
    }
    println!(
        "{} of {} events selected; {} in range, {under} below, {over} above; wrote {wrote} in \
         {:.2} s",
        selected,
        data.num_entries(),
        h.bin_values().iter().sum::<f64>(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn histogram_json(
    args: &HistogramArgs,
    title: &str,
    data: &kaon_client::ntuple::Dataset,
    h: &kaon_client::ntuple::Histogram,
    selected: u64,
) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = data
        .steps()
        .iter()
        .map(|s| match s {
            kaon_graph::Step::Define { name, expr } => {
                serde_json::json!({"define": {"name": name, "expr": expr}})
            }
            kaon_graph::Step::Filter(e) => serde_json::json!({"filter": e}),
        })
        .collect();
    let n = h.values.len();
    let variances = h.variances.as_ref();
    // Unweighted counts are whole numbers: written as integers.
    let number = |x: f64| -> serde_json::Value {
        if args.weight.is_none() && x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
            serde_json::json!(x as u64)
        } else {
            serde_json::json!(x)
        }
    };
    serde_json::json!({
        "name": args.name,
        "title": title,
        "expression": args.hist,
        "weight": args.weight,
        "bins": h.axes[0].bins,
        "range": [h.axes[0].low, h.axes[0].high],
        "edges": h.edges[0],
        "counts": h.bin_values().into_iter().map(number).collect::<Vec<_>>(),
        "underflow": number(h.values[0]),
        "overflow": number(h.values[n - 1]),
        "sumw2": variances.map(|v| v[1..n - 1].to_vec()),
        "sumw2_underflow": variances.map(|v| v[0]),
        "sumw2_overflow": variances.map(|v| v[n - 1]),
        "selection": {
            "files": data.files(),
            "tree": data.tree(),
            "steps": steps,
            "entries": data.num_entries(),
            "selected": selected,
        },
        "producer": format!("kaon {}", env!("CARGO_PKG_VERSION")),
    })
}
