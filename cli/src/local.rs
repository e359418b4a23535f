//! Local clusters: a scheduler in this process and workers as child processes
//! (`kaon worker`, or another worker command) or as tasks in this process.
//!
//! The cluster's [`Spawner`] is also the scheduler's [`Scaler`], so scaling from the
//! dashboard, from adaptive scaling or from [`LocalCluster::scale`] all go through the
//! scheduler: more workers are spawned here, fewer are retired by the scheduler (which
//! moves their results first) and their processes exit by themselves.

use kaon_scheduler::server::{RunningScheduler, Scaler, SchedulerConfig};
use kaon_worker::WorkerConfig;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How the workers of a local cluster run.
#[derive(Clone, Debug)]
pub enum WorkerMode {
    /// `kaon worker` child processes started from this executable path.
    Processes(PathBuf),
    /// Child processes started as `program args... SCHEDULER_ADDR --nthreads N
    /// --memory-limit M --name NAME`, for worker entry points other than the `kaon`
    /// binary (the Python package starts `python -m kaon.worker`).
    Command { program: PathBuf, args: Vec<String> },
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

/// A started worker: a task that owns it until it exits, and a way to stop it.
struct LocalWorker {
    name: String,
    pid: Option<u32>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

/// Starts the workers of one local cluster; the scheduler's scaler.
struct Spawner {
    config: LocalClusterConfig,
    /// The scheduler's address, known once it listens.
    address: OnceLock<String>,
    workers: Mutex<Vec<LocalWorker>>,
    next_index: Mutex<usize>,
}

impl Spawner {
    /// Starts one worker; it joins the scheduler on its own.
    fn spawn_worker(&self) -> Result<(), String> {
        let config = &self.config;
        let address = self
            .address
            .get()
            .ok_or("the scheduler is not listening yet")?
            .clone();
        let name = {
            let mut i = self.next_index.lock().unwrap();
            *i += 1;
            format!("local-{}", *i - 1)
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let token = config.scheduler.token.clone();
        let command = |program: &PathBuf, args: &[String]| {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args)
                .arg(&address)
                .arg("--nthreads")
                .arg(config.threads_per_worker.to_string())
                .arg("--memory-limit")
                .arg(&config.memory_limit)
                .arg("--name")
                .arg(&name)
                .envs(config.worker_env.iter().cloned())
                .kill_on_drop(true);
            if let Some(t) = &token {
                cmd.env("KAON_TOKEN", t);
            }
            die_with_parent(&mut cmd);
            cmd.spawn()
                .map_err(|e| format!("cannot start {}: {e}", program.display()))
        };
        let child = match &config.mode {
            WorkerMode::Processes(exe) => Some(command(exe, &["worker".to_string()])?),
            WorkerMode::Command { program, args } => Some(command(program, args)?),
            WorkerMode::InProcess => None,
        };
        let (pid, done) = match child {
            Some(mut child) => {
                let pid = child.id();
                // The task owns the child: it reaps it when it exits (a retired worker
                // leaves no zombie) and terminates it when asked to.
                let done = tokio::spawn(async move {
                    tokio::select! {
                        _ = child.wait() => {}
                        _ = stop_rx => {
                            if let Some(pid) = child.id() {
                                // SAFETY: signalling our own child by pid.
                                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                            }
                            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                                let _ = child.kill().await;
                            }
                        }
                    }
                });
                (pid, done)
            }
            None => {
                let mut wc = WorkerConfig::new(address);
                wc.nthreads = config.threads_per_worker;
                wc.memory_limit =
                    kaon_worker::memory::parse_memory_limit(&config.memory_limit, wc.nthreads)?;
                wc.name = name.clone();
                wc.token = token;
                let done = tokio::spawn(async move {
                    if let Err(e) = kaon_worker::run_worker(wc, async {
                        let _ = stop_rx.await;
                    })
                    .await
                    {
                        tracing::error!("in-process worker stopped: {e}");
                    }
                });
                (None, done)
            }
        };
        let mut workers = self.workers.lock().unwrap();
        workers.retain(|w| !w.done.is_finished());
        workers.push(LocalWorker {
            name,
            pid,
            stop: Some(stop_tx),
            done,
        });
        Ok(())
    }
}

impl Scaler for Spawner {
    fn start_workers(&self, n: usize) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let result = (0..n).try_for_each(|_| self.spawn_worker());
        Box::pin(async move { result })
    }
}

/// A running local cluster. [`LocalCluster::stop`] stops everything it started; so
/// does dropping it (worker processes are killed, and they also die with this process).
pub struct LocalCluster {
    pub scheduler: RunningScheduler,
    spawner: Arc<Spawner>,
}

impl LocalCluster {
    /// Starts the scheduler and the workers, and waits until every worker joined.
    pub async fn start(config: LocalClusterConfig) -> Result<LocalCluster, String> {
        let spawner = Arc::new(Spawner {
            config: config.clone(),
            address: OnceLock::new(),
            workers: Mutex::new(Vec::new()),
            next_index: Mutex::new(0),
        });
        let mut scheduler_config = config.scheduler.clone();
        scheduler_config.scaler = Some(spawner.clone());
        let scheduler = kaon_scheduler::server::start(scheduler_config).await?;
        let _ = spawner.address.set(scheduler.address.to_string());
        let cluster = LocalCluster { scheduler, spawner };
        for _ in 0..config.workers {
            cluster.spawner.spawn_worker()?;
        }
        cluster
            .wait_until(|live, _| live >= config.workers, Duration::from_secs(30))
            .await
            .map_err(|(live, _)| {
                format!(
                    "only {live} of {} workers joined within 30 s",
                    config.workers
                )
            })?;
        Ok(cluster)
    }

    async fn client(&self) -> Result<kaon_client::Client, String> {
        kaon_client::Client::connect_with_token(
            &self.address(),
            self.spawner.config.scheduler.token.as_deref(),
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Waits until `done(live workers, retiring workers)` holds, as the scheduler sees
    /// them; on timeout returns the last counts.
    async fn wait_until(
        &self,
        done: impl Fn(usize, usize) -> bool,
        timeout: Duration,
    ) -> Result<(), (usize, usize)> {
        let client = self.client().await.map_err(|_| (0, 0))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let workers = client
                .cluster_info()
                .await
                .map(|i| i.workers)
                .unwrap_or_default();
            let retiring = workers.iter().filter(|w| w.retiring).count();
            let live = workers.len() - retiring;
            if done(live, retiring) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err((live, retiring));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Scales to `n` workers through the scheduler, and waits until it has exactly `n`
    /// and every retired worker left (results of retired workers are moved first).
    pub async fn scale(&self, n: usize) -> Result<(), String> {
        self.client()
            .await?
            .scale(n)
            .await
            .map_err(|e| e.to_string())?;
        self.wait_until(
            |live, retiring| live == n && retiring == 0,
            Duration::from_secs(60),
        )
        .await
        .map_err(|(live, retiring)| {
            format!(
                "scaling to {n}: the cluster has {live} workers and {retiring} retiring after 60 s"
            )
        })
    }

    /// Lets the scheduler scale between `minimum` and `maximum` by itself (`None`: stop).
    pub async fn adapt(&self, range: Option<(usize, usize)>) -> Result<String, String> {
        let reply = self
            .client()
            .await?
            .adapt(range)
            .await
            .map_err(|e| e.to_string())?;
        Ok(reply.message)
    }

    /// Workers started by this cluster that are still running.
    pub fn num_workers(&self) -> usize {
        let mut workers = self.spawner.workers.lock().unwrap();
        workers.retain(|w| !w.done.is_finished());
        workers.len()
    }

    /// The scheduler's address, `host:port`.
    pub fn address(&self) -> String {
        self.scheduler.address.to_string()
    }

    /// Process ids of running worker processes (empty for in-process workers).
    pub fn worker_pids(&self) -> Vec<u32> {
        let mut workers = self.spawner.workers.lock().unwrap();
        workers.retain(|w| !w.done.is_finished());
        workers.iter().filter_map(|w| w.pid).collect()
    }

    /// Names of running workers.
    pub fn worker_names(&self) -> Vec<String> {
        let mut workers = self.spawner.workers.lock().unwrap();
        workers.retain(|w| !w.done.is_finished());
        workers.iter().map(|w| w.name.clone()).collect()
    }

    /// Stops the workers, then the scheduler.
    pub async fn stop(self) {
        let workers: Vec<LocalWorker> = std::mem::take(&mut *self.spawner.workers.lock().unwrap());
        for mut w in workers {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
            let _ = w.done.await;
        }
        self.scheduler.stop().await;
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
