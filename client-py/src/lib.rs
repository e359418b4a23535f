//! `kaon._kaon`: the Rust side of the Python package `kaon`.
//!
//! Graph building and fusion ([`kaon_client::array`]), the gRPC client, local
//! clusters and the worker and scheduler entry points live here; the pure-Python
//! package on top holds only the Dask-like API surface. Everything that waits (for a
//! graph, a connection, a cluster) runs on one tokio runtime with the GIL released and
//! checks for signals every [`SIGNAL_POLL`], so Ctrl-C interrupts it.

mod array;
mod client;
mod cluster;
mod errors;
mod ntuple;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// How often a blocking wait wakes up to let Python handle signals.
pub(crate) const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The runtime every client, local cluster and in-process worker of this process
/// runs on. Its threads live as long as the process, so child processes started from
/// them (whose death signal follows the thread that forked them) live as long too.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.clamp(2, 4))
            .thread_name("kaon-io")
            .enable_all()
            .build()
            .expect("cannot start the async runtime")
    })
}

/// Runs `fut` on the runtime and waits for it with the GIL released. Signals are
/// handled every [`SIGNAL_POLL`]; when a handler raises (KeyboardInterrupt), the
/// future is aborted and the exception returned.
pub(crate) fn wait_for<T: Send + 'static>(
    py: Python<'_>,
    fut: impl Future<Output = T> + Send + 'static,
) -> PyResult<T> {
    let mut handle = runtime().spawn(fut);
    loop {
        let step = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut handle).await })
        });
        match step {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => {
                return Err(PyRuntimeError::new_err(format!(
                    "a background task of kaon failed: {e}"
                )));
            }
            Err(_) => {
                if let Err(e) = py.check_signals() {
                    handle.abort();
                    return Err(e);
                }
            }
        }
    }
}

/// Logs go to stderr, quiet unless `KAON_LOG` says otherwise (as for the `kaon` binary).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The number of cores of this machine, as Kaon counts them.
#[pyfunction]
fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Total memory of this machine in bytes.
#[pyfunction]
fn total_memory() -> u64 {
    kaon_worker::memory::total_memory_bytes()
}

/// Parses a memory limit (`"auto"`, bytes, `"4GB"`, `"512MiB"`) for a worker with
/// `nthreads` threads; raises ValueError naming what was wrong.
#[pyfunction]
fn parse_memory_limit(text: &str, nthreads: usize) -> PyResult<u64> {
    kaon_worker::memory::parse_memory_limit(text, nthreads)
        .map_err(pyo3::exceptions::PyValueError::new_err)
}

#[pymodule]
fn _kaon(m: &Bound<'_, PyModule>) -> PyResult<()> {
    init_logging();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(cpu_count, m)?)?;
    m.add_function(wrap_pyfunction!(total_memory, m)?)?;
    m.add_function(wrap_pyfunction!(parse_memory_limit, m)?)?;
    array::register(m)?;
    client::register(m)?;
    cluster::register(m)?;
    ntuple::register(m)?;
    Ok(())
}
