//! The connection to a scheduler: submit graphs, follow progress, fetch results.

use crate::array::{Array, Output, lower};
use kaon_graph::{Graph, GraphError};
use kaon_proto::auth::{AddToken, Authed};
use kaon_proto::data::{DataClients, FetchError, RawChunk};
use kaon_proto::scheduler_client::SchedulerClient;
use kaon_proto::{
    ClusterInfoReply, ClusterInfoRequest, Dtype, GraphProgress, GraphState, LocateResultsRequest,
    ReleaseGraphRequest, SubmitGraphRequest, WatchGraphRequest,
};
use ndarray::{ArrayD, ArrayViewD, IxDyn, Slice};
use std::collections::HashMap;
use std::time::Duration;

/// What went wrong, with the context users need to act on it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the scheduler at {address}: {message}")]
    Connect { address: String, message: String },
    #[error("{0}")]
    InvalidGraph(#[from] GraphError),
    #[error("the scheduler refused the graph: {0}")]
    Rejected(String),
    #[error("task {key} failed{}: {message}", worker_suffix(.worker))]
    TaskFailed {
        key: String,
        message: String,
        worker: String,
    },
    #[error("graph {0} was released before it finished")]
    Released(u64),
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("scheduler call failed: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

fn worker_suffix(worker: &str) -> String {
    if worker.is_empty() {
        String::new()
    } else {
        format!(" on worker {worker}")
    }
}

/// How long fetching results keeps trying while lost results are recomputed.
const FETCH_RETRY_FOR: Duration = Duration::from_secs(60);

/// A submitted graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphHandle {
    pub id: u64,
    pub tasks: u64,
}

/// A client of one scheduler. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    address: String,
    scheduler: SchedulerClient<Authed>,
    data: DataClients,
}

impl Client {
    /// Connects to a scheduler at `host:port`, retrying for up to `timeout`.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Client, ClientError> {
        Self::connect_with_token(address, None, timeout).await
    }

    /// Connects to a cluster that requires a token (its scheduler and workers refuse
    /// calls without it).
    pub async fn connect_with_token(
        address: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let token = AddToken::new(token).map_err(|message| ClientError::Connect {
            address: address.into(),
            message,
        })?;
        let err = |message: String| ClientError::Connect {
            address: address.into(),
            message,
        };
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| err(e.to_string()))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        let deadline = std::time::Instant::now() + timeout;
        let channel = loop {
            match endpoint.connect().await {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() >= deadline => return Err(err(e.to_string())),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Ok(Client {
            address: address.into(),
            scheduler: SchedulerClient::with_interceptor(channel, token.clone())
                .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES),
            data: DataClients::with_token(token),
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub async fn cluster_info(&self) -> Result<ClusterInfoReply, ClientError> {
        Ok(self
            .scheduler
            .clone()
            .cluster_info(ClusterInfoRequest {})
            .await?
            .into_inner())
    }

    /// Scales the cluster to `n` workers (through its cluster manager; retiring workers
    /// hand their results over first). Ends adaptive scaling.
    pub async fn scale(&self, n: usize) -> Result<kaon_proto::ScaleReply, ClientError> {
        Ok(self
            .scheduler
            .clone()
            .scale(kaon_proto::ScaleRequest { n: n as u32 })
            .await?
            .into_inner())
    }

    /// Lets the scheduler scale between `minimum` and `maximum` workers by itself, or
    /// stops adapting with `None`.
    pub async fn adapt(
        &self,
        range: Option<(usize, usize)>,
    ) -> Result<kaon_proto::ScaleReply, ClientError> {
        let (minimum, maximum) = range.unwrap_or((0, 0));
        Ok(self
            .scheduler
            .clone()
            .adapt(kaon_proto::AdaptRequest {
                minimum: minimum as u32,
                maximum: maximum as u32,
                active: range.is_some(),
            })
            .await?
            .into_inner())
    }

    /// Submits a graph; a graph the scheduler finds invalid is `Rejected` with its reason.
    pub async fn submit(&self, graph: &Graph) -> Result<GraphHandle, ClientError> {
        self.submit_proto(graph.to_proto()).await
    }

    /// Submits an already encoded graph (the scheduler validates it).
    pub async fn submit_proto(&self, graph: kaon_proto::Graph) -> Result<GraphHandle, ClientError> {
        let reply = self
            .scheduler
            .clone()
            .submit_graph(SubmitGraphRequest { graph: Some(graph) })
            .await
            .map_err(|s| {
                if s.code() == tonic::Code::InvalidArgument {
                    ClientError::Rejected(s.message().to_string())
                } else {
                    ClientError::Rpc(s)
                }
            })?
            .into_inner();
        Ok(GraphHandle {
            id: reply.graph,
            tasks: reply.tasks,
        })
    }

    /// Follows a graph until it finishes, calling `on_progress` with each update.
    pub async fn wait(
        &self,
        handle: GraphHandle,
        mut on_progress: impl FnMut(&GraphProgress),
    ) -> Result<(), ClientError> {
        let mut stream = self
            .scheduler
            .clone()
            .watch_graph(WatchGraphRequest { graph: handle.id })
            .await?
            .into_inner();
        while let Some(p) = stream.message().await? {
            on_progress(&p);
            match GraphState::try_from(p.state) {
                Ok(GraphState::Finished) => return Ok(()),
                Ok(GraphState::Failed) => {
                    let e = p.error.unwrap_or_default();
                    return Err(ClientError::TaskFailed {
                        key: e.key,
                        message: e.message,
                        worker: e.worker,
                    });
                }
                Ok(GraphState::Released) => return Err(ClientError::Released(handle.id)),
                _ => {}
            }
        }
        Err(ClientError::Protocol(
            "the progress stream ended before the graph finished".into(),
        ))
    }

    /// Fetches the output chunks of a finished graph straight from the workers.
    ///
    /// A holder can die between the end of the graph and the fetch; the scheduler then
    /// recomputes what it held, so a failed fetch asks for the locations again.
    pub async fn fetch_outputs(&self, handle: GraphHandle) -> Result<Vec<RawChunk>, ClientError> {
        let deadline = std::time::Instant::now() + FETCH_RETRY_FOR;
        loop {
            match self.try_fetch_outputs(handle).await {
                Ok(chunks) => return Ok(chunks),
                Err(e @ (ClientError::Fetch(_) | ClientError::Protocol(_)))
                    if std::time::Instant::now() < deadline =>
                {
                    tracing::debug!("fetching results of graph {} again: {e}", handle.id);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_fetch_outputs(&self, handle: GraphHandle) -> Result<Vec<RawChunk>, ClientError> {
        let located = self
            .scheduler
            .clone()
            .locate_results(LocateResultsRequest { graph: handle.id })
            .await?
            .into_inner();
        let mut by_holder: HashMap<String, Vec<kaon_proto::TaskRef>> = HashMap::new();
        for loc in located.chunks {
            let task = loc
                .task
                .ok_or_else(|| ClientError::Protocol("a location without a task".into()))?;
            let holder = loc.holders.first().ok_or_else(|| {
                ClientError::Protocol(format!("chunk {} of the result has no holder", task.chunk))
            })?;
            by_holder.entry(holder.clone()).or_default().push(task);
        }
        let fetches = by_holder
            .into_iter()
            .map(|(address, tasks)| {
                let data = self.data.clone();
                async move { data.fetch(&address, tasks).await }
            })
            .collect::<Vec<_>>();
        let mut chunks = Vec::new();
        for r in futures::future::join_all(fetches).await {
            chunks.extend(r?);
        }
        Ok(chunks)
    }

    /// Cancels a running graph or frees a finished one's results.
    pub async fn release(&self, handle: GraphHandle) -> Result<(), ClientError> {
        self.scheduler
            .clone()
            .release_graph(ReleaseGraphRequest { graph: handle.id })
            .await?;
        Ok(())
    }

    /// Computes arrays: lowers and fuses them, runs the graph, fetches and assembles
    /// the results, and frees them on the cluster.
    pub async fn compute(
        &self,
        arrays: &[&Array],
        on_progress: impl FnMut(&GraphProgress),
    ) -> Result<Vec<ArrayD<f64>>, ClientError> {
        let (graph, outputs) = lower(arrays)?;
        let handle = self.submit(&graph).await?;
        let result = async {
            self.wait(handle, on_progress).await?;
            let chunks = self.fetch_outputs(handle).await?;
            outputs
                .iter()
                .map(|o| assemble(&graph, o, &chunks))
                .collect::<Result<Vec<_>, _>>()
        }
        .await;
        // Free results (or cancel) whatever happened; a failure to do so is not the
        // user's error.
        let _ = self.release(handle).await;
        result
    }
}

/// Places each chunk of an output layer into one array of the user's shape.
fn assemble(
    graph: &Graph,
    output: &Output,
    chunks: &[RawChunk],
) -> Result<ArrayD<f64>, ClientError> {
    let grid = graph.grid(output.layer);
    let shape: Vec<usize> = grid.shape().iter().map(|&s| s as usize).collect();
    let mut full = ArrayD::<f64>::zeros(IxDyn(&shape));
    let mut seen = 0u64;
    for c in chunks.iter().filter(|c| c.task.layer == output.layer) {
        if c.dtype != Dtype::F64 && c.dtype != Dtype::I64 {
            return Err(ClientError::Protocol(format!(
                "chunk of dtype {:?}",
                c.dtype
            )));
        }
        if c.task.chunk >= grid.num_chunks() {
            return Err(ClientError::Protocol(format!(
                "unknown chunk {}",
                c.task.chunk
            )));
        }
        let idx = grid.block_index(c.task.chunk);
        let expected = grid.chunk_shape(&idx);
        if c.shape != expected || c.bytes.len() as u64 != expected.iter().product::<u64>() * 8 {
            return Err(ClientError::Protocol(format!(
                "chunk {} has shape {:?}, expected {expected:?}",
                c.task.chunk, c.shape
            )));
        }
        // Integer results (exact int64 on the cluster) are converted to float64 here.
        let int = c.dtype == Dtype::I64;
        let values: Vec<f64> = c
            .bytes
            .chunks_exact(8)
            .map(|b| {
                let b: [u8; 8] = b.try_into().unwrap();
                if int {
                    i64::from_le_bytes(b) as f64
                } else {
                    f64::from_le_bytes(b)
                }
            })
            .collect();
        let dims: Vec<usize> = expected.iter().map(|&s| s as usize).collect();
        let view = ArrayViewD::from_shape(IxDyn(&dims), &values)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let offset = grid.chunk_offset(&idx);
        full.slice_each_axis_mut(|ax| {
            let i = ax.axis.index();
            let start = offset[i] as isize;
            Slice::from(start..start + dims[i] as isize)
        })
        .assign(&view);
        seen += 1;
    }
    if seen != grid.num_chunks() {
        return Err(ClientError::Protocol(format!(
            "got {seen} of {} result chunks",
            grid.num_chunks()
        )));
    }
    let user_shape: Vec<usize> = output.shape.iter().map(|&s| s as usize).collect();
    full.into_shape_with_order(IxDyn(&user_shape))
        .map_err(|e| ClientError::Protocol(e.to_string()))
}
