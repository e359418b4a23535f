//! Local clusters: a scheduler in this process and workers as child processes
//! (`kaon worker`) or as tasks in this process.

use kaon_scheduler::server::{RunningScheduler, SchedulerConfig};
use kaon_worker::WorkerConfig;
use std::path::PathBuf;
use std::time::Duration;

/// How the workers of a local cluster run.
#[derive(Clone, Debug)]
pub enum WorkerMode {
    /// `kaon worker` child processes started from this executable path.
    Processes(PathBuf),
    /// Worker tasks inside this process, each with its own kernel thread pool.
    InProcess,
}

/// What to start.
#[derive(Clone, Debug)]
pub struct LocalClusterConfig {
    pub workers: usize,
    pub threads_per_worker: usize,
    /// Per worker: a byte count, a size with a unit, or `auto`.
    pub memory_limit: String,
    pub scheduler: SchedulerConfig,
    pub mode: WorkerMode,
    /// Extra environment for worker processes.
    pub worker_env: Vec<(String, String)>,
}

enum LocalWorker {
    Process(tokio::process::Child),
    Task(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    ),
}

/// A running local cluster. [`LocalCluster::stop`] stops everything it started; so
/// does dropping it (worker processes are killed, and they also die with this process).
pub struct LocalCluster {
    pub scheduler: RunningScheduler,
    workers: Vec<LocalWorker>,
}

impl LocalCluster {
    /// Starts the scheduler and the workers, and waits until every worker joined.
    pub async fn start(config: LocalClusterConfig) -> Result<LocalCluster, String> {
        let scheduler = kaon_scheduler::server::start(config.scheduler.clone()).await?;
        let address = scheduler.address.to_string();
        let mut cluster = LocalCluster {
            scheduler,
            workers: Vec::new(),
        };
        for i in 0..config.workers {
            let name = format!("local-{i}");
            let worker = match &config.mode {
                WorkerMode::Processes(exe) => {
                    let mut cmd = tokio::process::Command::new(exe);
                    cmd.arg("worker")
                        .arg(&address)
                        .arg("--nthreads")
                        .arg(config.threads_per_worker.to_string())
                        .arg("--memory-limit")
                        .arg(&config.memory_limit)
                        .arg("--name")
                        .arg(&name)
                        .envs(config.worker_env.iter().cloned())
                        .kill_on_drop(true);
                    die_with_parent(&mut cmd);
                    let child = cmd
                        .spawn()
                        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
                    LocalWorker::Process(child)
                }
                WorkerMode::InProcess => {
                    let mut wc = WorkerConfig::new(address.clone());
                    wc.nthreads = config.threads_per_worker;
                    wc.memory_limit =
                        kaon_worker::memory::parse_memory_limit(&config.memory_limit, wc.nthreads)?;
                    wc.name = name;
                    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                    let handle = tokio::spawn(async move {
                        if let Err(e) = kaon_worker::run_worker(wc, async {
                            let _ = stop_rx.await;
                        })
                        .await
                        {
                            tracing::error!("in-process worker stopped: {e}");
                        }
                    });
                    LocalWorker::Task(handle, stop_tx)
                }
            };
            cluster.workers.push(worker);
        }
        cluster
            .wait_for_workers(config.workers, Duration::from_secs(30))
            .await?;
        Ok(cluster)
    }

    /// The scheduler's address, `host:port`.
    pub fn address(&self) -> String {
        self.scheduler.address.to_string()
    }

    /// Process ids of worker processes (empty for in-process workers).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .filter_map(|w| match w {
                LocalWorker::Process(c) => c.id(),
                LocalWorker::Task(..) => None,
            })
            .collect()
    }

    async fn wait_for_workers(&mut self, n: usize, timeout: Duration) -> Result<(), String> {
        let client = kaon_client::Client::connect(&self.address(), timeout)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let joined = client
                .cluster_info()
                .await
                .map_err(|e| e.to_string())?
                .workers
                .len();
            if joined >= n {
                return Ok(());
            }
            for w in &mut self.workers {
                if let LocalWorker::Process(c) = w
                    && let Ok(Some(status)) = c.try_wait()
                {
                    return Err(format!("a worker process exited at start: {status}"));
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "only {joined} of {n} workers joined within {timeout:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the workers, then the scheduler.
    pub async fn stop(mut self) {
        for w in self.workers.drain(..) {
            match w {
                LocalWorker::Process(mut c) => {
                    if let Some(pid) = c.id() {
                        // SAFETY: signalling our own child by pid.
                        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                    }
                    if tokio::time::timeout(Duration::from_secs(5), c.wait())
                        .await
                        .is_err()
                    {
                        let _ = c.kill().await;
                    }
                }
                LocalWorker::Task(handle, stop) => {
                    let _ = stop.send(());
                    let _ = handle.await;
                }
            }
        }
        let LocalCluster { scheduler, .. } = self;
        scheduler.stop().await;
    }
}

/// Asks Linux to kill the child when this process dies, even by SIGKILL, so a local
/// cluster never leaves workers behind.
fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
