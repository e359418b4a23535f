//! The connection to a scheduler and submitted graphs (`Job`s) for Python.
//!
//! A `Job` follows its graph's progress stream in the background; Python polls
//! [`Job::progress`] for its progress bar and blocks in [`Job::wait`], which releases
//! the GIL and returns to Python for signals every few milliseconds. Results come back
//! as NumPy arrays that own the buffers they were assembled in: a result of one chunk
//! is handed over as received, without a copy; one of many chunks is copied once,
//! each chunk straight into its place.

use crate::array::ArrayHandle;
use crate::errors::{client_error, kaon_error, memory_error, task_failed};
use crate::{SIGNAL_POLL, runtime, wait_for};
use kaon_client::array::{Keep, Output, lower};
use kaon_client::{ClientError, GraphHandle};
use kaon_graph::{Graph, LayerId};
use kaon_proto::auth::{AddToken, Authed};
use kaon_proto::data::RawChunk;
use kaon_proto::scheduler_client::SchedulerClient;
use kaon_proto::{ClusterInfoRequest, Dtype, GraphProgress, LocateResultsRequest};
use numpy::PyArray1;
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tonic::transport::Endpoint;

/// A connection to one scheduler.
#[pyclass(frozen, module = "kaon._kaon")]
pub struct Client {
    inner: kaon_client::Client,
    /// Direct RPCs the Rust client does not expose (probing a graph's state).
    raw: SchedulerClient<Authed>,
}

#[pymethods]
impl Client {
    /// Connects to the scheduler at `host:port`, retrying for up to `timeout` seconds;
    /// `token` is the cluster's secret where the cluster has one.
    #[new]
    #[pyo3(signature = (address, timeout, token=None))]
    fn connect(
        py: Python<'_>,
        address: String,
        timeout: f64,
        token: Option<String>,
    ) -> PyResult<Self> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let raw_address = format!("http://{address}");
        let add_token = AddToken::new(token.as_deref()).map_err(PyValueError::new_err)?;
        let inner = wait_for(py, async move {
            kaon_client::Client::connect_with_token(&address, token.as_deref(), timeout).await
        })?
        .map_err(|e| client_error(py, e))?;
        let channel = {
            let _guard = runtime().enter();
            Endpoint::from_shared(raw_address)
                .map_err(|e| PyValueError::new_err(e.to_string()))?
                .tcp_nodelay(true)
                .connect_lazy()
        };
        Ok(Self {
            inner,
            raw: SchedulerClient::with_interceptor(channel, add_token),
        })
    }

    #[getter]
    fn address(&self) -> String {
        self.inner.address().to_string()
    }

    /// The scheduler's view of the cluster: `{"workers": [...], "graphs_running": n,
    /// "dashboard": link}`, each worker a dict of its figures.
    fn cluster_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let client = self.inner.clone();
        let info = wait_for(py, async move { client.cluster_info().await })?
            .map_err(|e| client_error(py, e))?;
        let workers = PyList::empty(py);
        for w in info.workers {
            let d = PyDict::new(py);
            d.set_item("id", w.id)?;
            d.set_item("name", w.name)?;
            d.set_item("address", w.data_address)?;
            d.set_item("nthreads", w.nthreads)?;
            d.set_item("memory_limit", w.memory_limit)?;
            d.set_item("memory", w.memory)?;
            d.set_item("spilled", w.spilled)?;
            d.set_item("executing", w.executing)?;
            d.set_item("pid", w.pid)?;
            d.set_item("paused", w.paused)?;
            workers.append(d)?;
        }
        let out = PyDict::new(py);
        out.set_item("workers", workers)?;
        out.set_item("graphs_running", info.graphs_running)?;
        out.set_item("dashboard", info.dashboard)?;
        Ok(out)
    }

    /// Lowers `arrays` to one fused graph and submits it; returns at once.
    ///
    /// Raises MemoryError when the results could never fit in this machine's memory
    /// (nothing is submitted then).
    fn submit(&self, py: Python<'_>, arrays: Vec<PyRef<'_, ArrayHandle>>) -> PyResult<Job> {
        let refs: Vec<&kaon_client::Array> = arrays.iter().map(|a| &a.inner).collect();
        let (graph, outputs) = lower(&refs).map_err(|e| client_error(py, e.into()))?;
        let result_bytes: u128 = outputs
            .iter()
            .map(|o| o.shape.iter().map(|&s| s as u128).product::<u128>() * 8)
            .sum();
        let memory = kaon_worker::memory::total_memory_bytes() as u128;
        if result_bytes > memory {
            let shapes: Vec<String> = outputs.iter().map(|o| format!("{:?}", o.shape)).collect();
            return Err(memory_error(format!(
                "the results (shapes {}) take {} bytes, more than this machine's memory \
                 ({memory} bytes); reduce them before computing",
                shapes.join(", "),
                result_bytes
            )));
        }
        let client = self.inner.clone();
        let proto = graph.to_proto();
        let handle = wait_for(py, async move { client.submit_proto(proto).await })?
            .map_err(|e| client_error(py, e))?;
        Ok(Job::start(
            self.inner.clone(),
            self.raw.clone(),
            handle,
            graph,
            outputs,
        ))
    }
}

impl Client {
    /// Submits a graph lowered elsewhere (ntuple queries) and follows it like any
    /// other; its results are not arrays: read them with [`Job::fetch_chunks`].
    pub(crate) fn submit_graph(&self, py: Python<'_>, graph: Graph) -> PyResult<Job> {
        let client = self.inner.clone();
        let proto = graph.to_proto();
        let handle = wait_for(py, async move { client.submit_proto(proto).await })?
            .map_err(|e| client_error(py, e))?;
        Ok(Job::start(
            self.inner.clone(),
            self.raw.clone(),
            handle,
            graph,
            Vec::new(),
        ))
    }
}

/// What became of a graph.
#[derive(Clone, Debug)]
enum Outcome {
    Running,
    Finished,
    Failed {
        text: String,
        key: String,
        message: String,
        worker: String,
    },
    Cancelled,
    /// The progress stream broke (the scheduler went away).
    Lost(String),
}

#[derive(Clone, Debug)]
struct JobState {
    /// Progress messages received.
    updates: u64,
    done: u64,
    total: u64,
    running: u64,
    erred: u64,
    outcome: Outcome,
}

/// A submitted graph and, once finished, its results.
#[pyclass(frozen, module = "kaon._kaon")]
pub struct Job {
    client: kaon_client::Client,
    handle: GraphHandle,
    graph: Arc<Graph>,
    outputs: Vec<Output>,
    state: watch::Receiver<JobState>,
}

impl Job {
    fn start(
        client: kaon_client::Client,
        raw: SchedulerClient<Authed>,
        handle: GraphHandle,
        graph: Graph,
        outputs: Vec<Output>,
    ) -> Self {
        let (tx, rx) = watch::channel(JobState {
            updates: 0,
            done: 0,
            total: handle.tasks,
            running: 0,
            erred: 0,
            outcome: Outcome::Running,
        });
        let watcher = client.clone();
        runtime().spawn(async move {
            let tx = Arc::new(tx);
            let updates = tx.clone();
            let follow = watcher.wait(handle, move |p: &GraphProgress| {
                updates.send_modify(|s| {
                    s.updates += 1;
                    s.done = p.layers.iter().map(|l| l.done).sum();
                    s.total = p.layers.iter().map(|l| l.total).sum::<u64>().max(s.total);
                    s.running = p.layers.iter().map(|l| l.running).sum();
                    s.erred = p.layers.iter().map(|l| l.erred).sum();
                })
            });
            tokio::pin!(follow);
            // The scheduler publishes a running graph's progress every 100 ms; a stream
            // silent for longer may have missed the graph's end (a graph that ends before
            // its watcher subscribed gets only the state it was submitted in), so ask
            // about the graph directly. The first message is that subscription state.
            let mut seen = 1;
            let result = loop {
                tokio::select! {
                    r = &mut follow => break r,
                    _ = tokio::time::sleep(STALL_PROBE) => {
                        let now = tx.borrow().updates;
                        if now == seen
                            && let Some(r) = probe(raw.clone(), handle).await
                        {
                            break r;
                        }
                        seen = now;
                    }
                }
            };
            let outcome = match result {
                Ok(()) => Outcome::Finished,
                Err(e @ ClientError::TaskFailed { .. }) => {
                    let text = e.to_string();
                    let ClientError::TaskFailed {
                        key,
                        message,
                        worker,
                    } = e
                    else {
                        unreachable!()
                    };
                    Outcome::Failed {
                        text,
                        key,
                        message,
                        worker,
                    }
                }
                Err(ClientError::Released(_)) => Outcome::Cancelled,
                Err(e) => Outcome::Lost(e.to_string()),
            };
            tx.send_modify(|s| {
                if matches!(outcome, Outcome::Finished) {
                    s.done = s.total;
                    s.running = 0;
                }
                s.outcome = outcome;
            });
        });
        Self {
            client,
            handle,
            graph: Arc::new(graph),
            outputs,
            state: rx,
        }
    }

    /// The result chunks of the finished graph as they came (for a graph submitted
    /// with [`Client::submit_graph`]); raises its error if it failed.
    pub(crate) fn fetch_chunks(&self, py: Python<'_>) -> PyResult<Vec<RawChunk>> {
        if !self.check(py)? {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "the graph has not finished",
            ));
        }
        let client = self.client.clone();
        let handle = self.handle;
        wait_for(py, async move { client.fetch_outputs(handle).await })?
            .map_err(|e| client_error(py, e))
    }

    /// The graph as submitted.
    pub(crate) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Raises the outcome's exception, or says whether the graph finished.
    fn check(&self, py: Python<'_>) -> PyResult<bool> {
        let outcome = self.state.borrow().outcome.clone();
        match outcome {
            Outcome::Running => Ok(false),
            Outcome::Finished => Ok(true),
            Outcome::Failed {
                text,
                key,
                message,
                worker,
            } => Err(task_failed(py, text, key, message, worker)),
            Outcome::Cancelled => Err(kaon_error(
                py,
                "CancelledError",
                (format!("graph {} was cancelled", self.handle.id),),
            )),
            Outcome::Lost(text) => Err(kaon_error(
                py,
                "CommError",
                (format!("lost track of graph {}: {text}", self.handle.id),),
            )),
        }
    }
}

#[pymethods]
impl Job {
    /// The scheduler's id of the graph.
    #[getter]
    fn graph_id(&self) -> u64 {
        self.handle.id
    }

    /// Tasks in the graph.
    #[getter]
    fn ntasks(&self) -> u64 {
        self.handle.tasks
    }

    /// `(done, total, running, erred)` task counts, as last reported.
    fn progress(&self) -> (u64, u64, u64, u64) {
        let s = self.state.borrow();
        (s.done, s.total, s.running, s.erred)
    }

    /// `"pending"`, `"finished"`, `"error"`, `"cancelled"` or `"lost"`.
    #[getter]
    fn status(&self) -> &'static str {
        match self.state.borrow().outcome {
            Outcome::Running => "pending",
            Outcome::Finished => "finished",
            Outcome::Failed { .. } => "error",
            Outcome::Cancelled => "cancelled",
            Outcome::Lost(_) => "lost",
        }
    }

    /// Waits up to `timeout` seconds (None: no limit) for the graph to end; returns
    /// whether it finished, raises its error if it failed. Signal handlers run while
    /// it waits, so Ctrl-C raises KeyboardInterrupt (the graph keeps running: cancel it).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        // A clone starts at the original's (never updated) version: mark what it sees
        // now as seen, so that `changed()` sleeps until the next update.
        let mut rx = self.state.clone();
        rx.borrow_and_update();
        loop {
            if self.check(py)? {
                return Ok(true);
            }
            let mut slice = SIGNAL_POLL;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                slice = slice.min(left);
            }
            py.detach(|| {
                runtime().block_on(async {
                    let _ = tokio::time::timeout(slice, rx.changed()).await;
                })
            });
            py.check_signals()?;
        }
    }

    /// Fetches the results of the finished graph from the workers: for each output, a
    /// flat NumPy array (float64, or int64 for integer and bool results, as the cluster
    /// holds them) and the shape to give it.
    fn fetch<'py>(&self, py: Python<'py>) -> PyResult<Vec<(Bound<'py, PyAny>, Vec<u64>)>> {
        if !self.check(py)? {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "the graph has not finished",
            ));
        }
        let client = self.client.clone();
        let handle = self.handle;
        let chunks = wait_for(py, async move { client.fetch_outputs(handle).await })?
            .map_err(|e| client_error(py, e))?;
        let graph = self.graph.clone();
        let outputs = self.outputs.clone();
        let assembled = py
            .detach(move || assemble_all(&graph, &outputs, chunks))
            .map_err(|e| match e {
                AssembleError::Memory(t) => memory_error(t),
                AssembleError::Protocol(t) => kaon_error(py, "CommError", (t,)),
            })?;
        assembled
            .into_iter()
            .zip(&self.outputs)
            .map(|(a, o)| {
                let array = match a {
                    // A single chunk's bytes, viewed in place (no copy).
                    Assembled::Bytes(b, dtype) => PyArray1::from_vec(py, b)
                        .into_any()
                        .call_method1("view", (numpy_name(dtype),))?,
                    Assembled::Values(v, Dtype::I64) => {
                        let ints: Vec<i64> = v.into_iter().map(|x| x.to_bits() as i64).collect();
                        PyArray1::from_vec(py, ints).into_any()
                    }
                    Assembled::Values(v, _) => PyArray1::from_vec(py, v).into_any(),
                };
                Ok((array, o.shape.clone()))
            })
            .collect()
    }

    /// Cancels the graph if it runs, frees its results on the cluster if it finished.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let client = self.client.clone();
        let handle = self.handle;
        wait_for(py, async move { client.release(handle).await })?.map_err(|e| client_error(py, e))
    }

    /// Like `release`, without waiting for the scheduler's answer (for finalizers).
    fn release_soon(&self) {
        let client = self.client.clone();
        let handle = self.handle;
        runtime().spawn(async move {
            let _ = client.release(handle).await;
        });
    }

    /// Number of arrays the graph computes.
    #[getter]
    fn noutputs(&self) -> usize {
        self.outputs.len()
    }

    /// Output `index` (the array `array` submitted in that place) as the results the
    /// cluster keeps of it: expressions on the returned array read them instead of
    /// computing them again. `keep` (whose finalizer releases the graph) lives as long as
    /// any of those expressions.
    fn persisted(
        &self,
        index: usize,
        array: PyRef<'_, ArrayHandle>,
        keep: Py<PyAny>,
    ) -> PyResult<ArrayHandle> {
        let output = self.outputs.get(index).ok_or_else(|| {
            PyIndexError::new_err(format!(
                "graph {} has {} outputs, not {}",
                self.handle.id,
                self.outputs.len(),
                index + 1
            ))
        })?;
        let keep = Keep(Arc::new(keep));
        Ok(ArrayHandle {
            inner: array.inner.stored(self.handle.id, output.layer, keep),
        })
    }
}

/// How long a graph's progress stream may stay silent before [`probe`] asks about it.
const STALL_PROBE: Duration = Duration::from_millis(150);

/// The end of a graph whose progress stream went silent, if it ended: finished when
/// its results can be located, released when the scheduler does not know it, failed
/// when it has not finished and no graph is running at all. None: still running (or
/// unknown while other graphs run).
async fn probe(
    mut raw: SchedulerClient<Authed>,
    handle: GraphHandle,
) -> Option<Result<(), ClientError>> {
    let located = raw
        .locate_results(LocateResultsRequest { graph: handle.id })
        .await;
    match located {
        Ok(_) => return Some(Ok(())),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Some(Err(ClientError::Released(handle.id)));
        }
        Err(_) => {}
    }
    let info = raw.cluster_info(ClusterInfoRequest {}).await.ok()?;
    if info.into_inner().graphs_running == 0 {
        // It may have finished between the two calls.
        if raw
            .locate_results(LocateResultsRequest { graph: handle.id })
            .await
            .is_ok()
        {
            return Some(Ok(()));
        }
        return Some(Err(ClientError::TaskFailed {
            key: String::new(),
            message: format!(
                "graph {} ended without finishing, and the scheduler's progress stream \
                 missed its error (see the scheduler's log)",
                handle.id
            ),
            worker: String::new(),
        }));
    }
    None
}

/// NumPy's name of the little-endian values of result chunks of `dtype`.
fn numpy_name(dtype: Dtype) -> &'static str {
    if dtype == Dtype::I64 { "<i8" } else { "<f8" }
}

enum Assembled {
    /// The one chunk of the output, as received (little-endian values of the dtype).
    Bytes(Vec<u8>, Dtype),
    /// The output's values as 8-byte slots (int64 bits for `Dtype::I64`).
    Values(Vec<f64>, Dtype),
}

enum AssembleError {
    Memory(String),
    Protocol(String),
}

/// Places the chunks of every output into one flat C-order buffer per output.
fn assemble_all(
    graph: &Graph,
    outputs: &[Output],
    chunks: Vec<RawChunk>,
) -> Result<Vec<Assembled>, AssembleError> {
    let mut by_layer: HashMap<LayerId, Vec<RawChunk>> = HashMap::new();
    for c in chunks {
        if c.dtype != Dtype::F64 && c.dtype != Dtype::I64 {
            return Err(AssembleError::Protocol(format!(
                "a result chunk of dtype {:?}",
                c.dtype
            )));
        }
        by_layer.entry(c.task.layer).or_default().push(c);
    }
    let mut uses: HashMap<LayerId, usize> = HashMap::new();
    for o in outputs {
        *uses.entry(o.layer).or_default() += 1;
    }
    let mut result = Vec::with_capacity(outputs.len());
    for o in outputs {
        let grid = graph.grid(o.layer);
        let left = uses.get_mut(&o.layer).expect("counted above");
        *left -= 1;
        let layer_chunks = by_layer
            .get_mut(&o.layer)
            .map(|v| &mut v[..])
            .unwrap_or(&mut []);
        let mut seen = vec![false; grid.num_chunks() as usize];
        let dtype = layer_chunks.first().map_or(Dtype::F64, |c| c.dtype);
        for c in layer_chunks.iter() {
            if c.dtype != dtype {
                return Err(AssembleError::Protocol(format!(
                    "result chunks of dtypes {dtype:?} and {:?} in one output",
                    c.dtype
                )));
            }
            let i = c.task.chunk;
            if i >= grid.num_chunks() {
                return Err(AssembleError::Protocol(format!("unknown result chunk {i}")));
            }
            let expected = grid.chunk_shape(&grid.block_index(i));
            if c.shape != expected || c.bytes.len() as u64 != expected.iter().product::<u64>() * 8 {
                return Err(AssembleError::Protocol(format!(
                    "result chunk {i} has shape {:?}, expected {expected:?}",
                    c.shape
                )));
            }
            seen[i as usize] = true;
        }
        let got = seen.iter().filter(|s| **s).count();
        if got != seen.len() {
            return Err(AssembleError::Protocol(format!(
                "got {got} of {} result chunks",
                seen.len()
            )));
        }
        if layer_chunks.len() == 1 && cfg!(target_endian = "little") {
            let bytes = if *left == 0 {
                std::mem::take(&mut layer_chunks[0].bytes)
            } else {
                layer_chunks[0].bytes.clone()
            };
            result.push(Assembled::Bytes(bytes, dtype));
            continue;
        }
        let shape = grid.shape();
        let n = shape.iter().product::<u64>() as usize;
        let mut values: Vec<f64> = Vec::new();
        values.try_reserve_exact(n).map_err(|_| {
            AssembleError::Memory(format!(
                "cannot allocate {} bytes for a result of shape {:?}",
                n * 8,
                o.shape
            ))
        })?;
        values.resize(n, 0.0);
        for c in layer_chunks.iter() {
            let idx = grid.block_index(c.task.chunk);
            place(
                &mut values,
                &shape,
                &grid.chunk_offset(&idx),
                &c.shape,
                &c.bytes,
            );
        }
        result.push(Assembled::Values(values, dtype));
    }
    Ok(result)
}

/// Copies a chunk (C order, little-endian bytes) of shape `cshape` into `dst` (C order,
/// shape `shape`) at `offset`, one contiguous row of the last axis at a time. Values are
/// copied as 8-byte slots, bit for bit.
fn place(dst: &mut [f64], shape: &[u64], offset: &[u64], cshape: &[u64], bytes: &[u8]) {
    let nd = shape.len();
    if nd == 0 {
        dst[0] = f64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        return;
    }
    let row = cshape[nd - 1] as usize;
    if row == 0 || cshape.contains(&0) {
        return;
    }
    let mut strides = vec![1usize; nd];
    for a in (0..nd - 1).rev() {
        strides[a] = strides[a + 1] * shape[a + 1] as usize;
    }
    let rows: usize = cshape[..nd - 1].iter().map(|&s| s as usize).product();
    let mut idx = vec![0u64; nd - 1];
    for r in 0..rows {
        let mut at = offset[nd - 1] as usize;
        for a in 0..nd - 1 {
            at += (offset[a] + idx[a]) as usize * strides[a];
        }
        let src = &bytes[r * row * 8..(r + 1) * row * 8];
        for (d, s) in dst[at..at + row].iter_mut().zip(src.chunks_exact(8)) {
            *d = f64::from_le_bytes(s.try_into().expect("8 bytes"));
        }
        // Next row index, C order.
        for a in (0..nd - 1).rev() {
            idx[a] += 1;
            if idx[a] < cshape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_class::<Job>()?;
    Ok(())
}
