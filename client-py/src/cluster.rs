//! Local clusters, and the worker and scheduler entry points of `python -m kaon.worker`
//! and `python -m kaon.scheduler`.

use crate::{runtime, wait_for};
use kaon_cli::local::{LocalCluster as RustCluster, LocalClusterConfig, WorkerMode};
use kaon_scheduler::server::{RunningScheduler, SchedulerConfig};
use kaon_worker::WorkerConfig;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

fn scheduler_config(
    host: String,
    port: u16,
    dashboard_port: u16,
    worker_ttl: f64,
    allowed_failures: u32,
) -> PyResult<SchedulerConfig> {
    if !(worker_ttl > 0.0 && worker_ttl.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "worker_ttl must be a positive number of seconds, not {worker_ttl}"
        )));
    }
    let mut config = SchedulerConfig {
        host,
        port,
        dashboard_port,
        ..Default::default()
    };
    config.core.worker_ttl = Duration::from_secs_f64(worker_ttl);
    config.core.state.max_worker_deaths = allowed_failures.max(1);
    Ok(config)
}

/// A scheduler and workers started by this process.
#[pyclass(frozen, module = "kaon._kaon")]
pub struct LocalCluster {
    inner: Arc<Mutex<Option<RustCluster>>>,
    address: String,
    dashboard_link: String,
}

#[pymethods]
impl LocalCluster {
    /// Starts a scheduler and `n_workers` workers and waits until they joined.
    ///
    /// `worker_command` (program and leading arguments) starts workers as processes;
    /// None runs them in this process. Raises OSError when a port cannot be bound or a
    /// worker does not start.
    #[new]
    #[pyo3(signature = (n_workers, threads_per_worker, memory_limit, host, port, dashboard_port,
                        worker_command=None, worker_env=vec![], worker_ttl=10.0, allowed_failures=3))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        py: Python<'_>,
        n_workers: usize,
        threads_per_worker: usize,
        memory_limit: String,
        host: String,
        port: u16,
        dashboard_port: u16,
        worker_command: Option<Vec<String>>,
        worker_env: Vec<(String, String)>,
        worker_ttl: f64,
        allowed_failures: u32,
    ) -> PyResult<Self> {
        let mode = match worker_command {
            None => WorkerMode::InProcess,
            Some(cmd) => {
                let (program, args) = cmd
                    .split_first()
                    .ok_or_else(|| PyValueError::new_err("an empty worker command"))?;
                WorkerMode::Command {
                    program: PathBuf::from(program),
                    args: args.to_vec(),
                }
            }
        };
        kaon_worker::memory::parse_memory_limit(&memory_limit, threads_per_worker.max(1))
            .map_err(PyValueError::new_err)?;
        let config = LocalClusterConfig {
            workers: n_workers,
            threads_per_worker: threads_per_worker.max(1),
            memory_limit,
            scheduler: scheduler_config(host, port, dashboard_port, worker_ttl, allowed_failures)?,
            mode,
            worker_env,
        };
        // Started on a runtime thread: worker processes die with the thread that forked
        // them, and runtime threads live as long as the process.
        let cluster = wait_for(py, async move { RustCluster::start(config).await })?
            .map_err(PyOSError::new_err)?;
        Ok(Self {
            address: cluster.address(),
            dashboard_link: cluster.scheduler.dashboard_link(),
            inner: Arc::new(Mutex::new(Some(cluster))),
        })
    }

    /// The scheduler's address, `host:port`.
    #[getter]
    fn address(&self) -> String {
        self.address.clone()
    }

    #[getter]
    fn dashboard_link(&self) -> String {
        self.dashboard_link.clone()
    }

    /// Starts or stops workers until `n` run, and waits until the scheduler has `n`.
    fn scale(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        let inner = self.inner.clone();
        wait_for(py, async move {
            match inner.lock().await.as_ref() {
                Some(c) => c.scale(n).await,
                None => Err("the cluster is closed".to_string()),
            }
        })?
        .map_err(PyRuntimeError::new_err)
    }

    /// Lets the scheduler scale between `minimum` and `maximum` workers by its load
    /// (None: stop adapting); returns the scheduler's message.
    #[pyo3(signature = (minimum=None, maximum=None))]
    fn adapt(
        &self,
        py: Python<'_>,
        minimum: Option<usize>,
        maximum: Option<usize>,
    ) -> PyResult<String> {
        let range = match (minimum, maximum) {
            (None, None) => None,
            (lo, hi) => Some((lo.unwrap_or(0), hi.unwrap_or(usize::MAX))),
        };
        let inner = self.inner.clone();
        wait_for(py, async move {
            match inner.lock().await.as_ref() {
                Some(c) => c.adapt(range).await,
                None => Err("the cluster is closed".to_string()),
            }
        })?
        .map_err(PyValueError::new_err)
    }

    /// Process ids of the worker processes this cluster started and that still run.
    fn worker_pids(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        let inner = self.inner.clone();
        wait_for(py, async move {
            match inner.lock().await.as_ref() {
                Some(c) => c.worker_pids(),
                None => vec![],
            }
        })
    }

    /// Stops the workers, then the scheduler. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let inner = self.inner.clone();
        let task = runtime().spawn(async move {
            if let Some(c) = inner.lock().await.take() {
                c.stop().await;
            }
        });
        // Not interruptible: a half-stopped cluster helps nobody.
        py.detach(|| runtime().block_on(task))
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.try_lock().map(|g| g.is_none()).unwrap_or(false)
    }
}

/// Runs a worker until a signal handler raises (SIGINT, or SIGTERM where Python
/// handles it), then stops it and re-raises.
#[pyfunction]
#[pyo3(signature = (scheduler, nthreads, memory_limit, name=None, host="127.0.0.1".to_string(),
                    data_port=0, spill_dir=None, allow_fault_injection=false))]
#[allow(clippy::too_many_arguments)]
fn run_worker(
    py: Python<'_>,
    scheduler: String,
    nthreads: usize,
    memory_limit: String,
    name: Option<String>,
    host: String,
    data_port: u16,
    spill_dir: Option<PathBuf>,
    allow_fault_injection: bool,
) -> PyResult<()> {
    // `python -m kaon.worker` is a worker's own process, like `kaon worker`.
    kaon_worker::memory::keep_freed_memory();
    let mut config = WorkerConfig::new(scheduler);
    config.nthreads = nthreads.max(1);
    config.memory_limit = kaon_worker::memory::parse_memory_limit(&memory_limit, config.nthreads)
        .map_err(PyValueError::new_err)?;
    if let Some(name) = name {
        config.name = name;
    }
    config.host = host;
    config.data_port = data_port;
    config.spill_dir = spill_dir;
    config.allow_fault_injection = allow_fault_injection;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut task = runtime().spawn(kaon_worker::run_worker(config, async {
        let _ = stop_rx.await;
    }));
    loop {
        let step = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(crate::SIGNAL_POLL, &mut task).await })
        });
        match step {
            Ok(Ok(Ok(()))) => return Ok(()),
            Ok(Ok(Err(e))) => return Err(PyRuntimeError::new_err(e)),
            Ok(Err(e)) => return Err(PyRuntimeError::new_err(e.to_string())),
            Err(_) => {
                if let Err(signal) = py.check_signals() {
                    let _ = stop_tx.send(());
                    let _ = py.detach(|| {
                        runtime().block_on(async {
                            tokio::time::timeout(Duration::from_secs(5), &mut task).await
                        })
                    });
                    return Err(signal);
                }
            }
        }
    }
}

/// A scheduler running in this process (`python -m kaon.scheduler`).
#[pyclass(frozen, module = "kaon._kaon")]
pub struct Scheduler {
    inner: std::sync::Mutex<Option<RunningScheduler>>,
    address: String,
    dashboard_link: String,
}

#[pymethods]
impl Scheduler {
    #[new]
    #[pyo3(signature = (host="127.0.0.1".to_string(), port=8786, dashboard_port=8787,
                        worker_ttl=10.0, allowed_failures=3))]
    fn start(
        py: Python<'_>,
        host: String,
        port: u16,
        dashboard_port: u16,
        worker_ttl: f64,
        allowed_failures: u32,
    ) -> PyResult<Self> {
        let config = scheduler_config(host, port, dashboard_port, worker_ttl, allowed_failures)?;
        let running =
            wait_for(py, kaon_scheduler::server::start(config))?.map_err(PyOSError::new_err)?;
        Ok(Self {
            address: running.address.to_string(),
            dashboard_link: running.dashboard_link(),
            inner: std::sync::Mutex::new(Some(running)),
        })
    }

    #[getter]
    fn address(&self) -> String {
        self.address.clone()
    }

    #[getter]
    fn dashboard_link(&self) -> String {
        self.dashboard_link.clone()
    }

    /// Blocks until a signal handler raises (Ctrl-C).
    fn wait(&self, py: Python<'_>) -> PyResult<()> {
        wait_for(py, std::future::pending::<()>())
    }

    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let running = self.inner.lock().expect("scheduler lock").take();
        if let Some(r) = running {
            let task = runtime().spawn(r.stop());
            py.detach(|| runtime().block_on(task))
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        }
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LocalCluster>()?;
    m.add_class::<Scheduler>()?;
    m.add_function(wrap_pyfunction!(run_worker, m)?)?;
    Ok(())
}
