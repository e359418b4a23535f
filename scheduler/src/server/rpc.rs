//! The tonic services: client-facing `Scheduler` and the per-worker `WorkerLink`.
//!
//! Handlers validate what arrives and forward it to the core; they hold no state.

use super::core::CoreMsg;
use futures::Stream;
use kaon_graph::Graph;
use kaon_proto as pb;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{UnboundedReceiverStream, WatchStream};
use tonic::{Request, Response, Status, Streaming};

#[derive(Clone)]
pub(crate) struct Rpc {
    pub core: mpsc::UnboundedSender<CoreMsg>,
}

impl Rpc {
    fn send(&self, msg: CoreMsg) -> Result<(), Status> {
        self.core
            .send(msg)
            .map_err(|_| Status::unavailable("the scheduler is shutting down"))
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> CoreMsg) -> Result<T, Status> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await
            .map_err(|_| Status::unavailable("the scheduler is shutting down"))
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl pb::scheduler_server::Scheduler for Rpc {
    async fn submit_graph(
        &self,
        request: Request<pb::SubmitGraphRequest>,
    ) -> Result<Response<pb::SubmitGraphReply>, Status> {
        let graph = request
            .into_inner()
            .graph
            .ok_or_else(|| Status::invalid_argument("the request carries no graph"))?;
        // Validation runs here, off the core, so a large graph does not stall it.
        let graph =
            Graph::from_proto(&graph).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let tasks = graph.num_tasks();
        let graph = Arc::new(graph);
        let id = self.ask(|reply| CoreMsg::Submit { graph, reply }).await?;
        tracing::info!(graph = id, tasks, "graph submitted");
        Ok(Response::new(pb::SubmitGraphReply { graph: id, tasks }))
    }

    type WatchGraphStream = BoxStream<pb::GraphProgress>;

    async fn watch_graph(
        &self,
        request: Request<pb::WatchGraphRequest>,
    ) -> Result<Response<Self::WatchGraphStream>, Status> {
        let graph = request.into_inner().graph;
        let rx = self
            .ask(|reply| CoreMsg::Watch { graph, reply })
            .await?
            .ok_or_else(|| Status::not_found(format!("graph {graph} is unknown or released")))?;
        // The stream ends after the first update that reports an end state.
        let mut ended = false;
        let stream = WatchStream::new(rx)
            .take_while(move |p| {
                let keep = !ended;
                ended = p.state != pb::GraphState::Running as i32;
                keep
            })
            .map(Ok);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn locate_results(
        &self,
        request: Request<pb::LocateResultsRequest>,
    ) -> Result<Response<pb::LocateResultsReply>, Status> {
        let graph = request.into_inner().graph;
        let chunks = self.ask(|reply| CoreMsg::Locate { graph, reply }).await??;
        Ok(Response::new(pb::LocateResultsReply { chunks }))
    }

    async fn release_graph(
        &self,
        request: Request<pb::ReleaseGraphRequest>,
    ) -> Result<Response<pb::ReleaseGraphReply>, Status> {
        let graph = request.into_inner().graph;
        self.send(CoreMsg::Release { graph })?;
        Ok(Response::new(pb::ReleaseGraphReply {}))
    }

    async fn cluster_info(
        &self,
        _request: Request<pb::ClusterInfoRequest>,
    ) -> Result<Response<pb::ClusterInfoReply>, Status> {
        Ok(Response::new(
            self.ask(|reply| CoreMsg::Info { reply }).await?,
        ))
    }

    async fn scale(
        &self,
        request: Request<pb::ScaleRequest>,
    ) -> Result<Response<pb::ScaleReply>, Status> {
        let n = request.into_inner().n as usize;
        Ok(Response::new(
            self.ask(|reply| CoreMsg::Scale { n, reply }).await??,
        ))
    }

    async fn adapt(
        &self,
        request: Request<pb::AdaptRequest>,
    ) -> Result<Response<pb::ScaleReply>, Status> {
        let r = request.into_inner();
        let range = r.active.then_some((r.minimum as usize, r.maximum as usize));
        Ok(Response::new(
            self.ask(|reply| CoreMsg::Adapt { range, reply }).await??,
        ))
    }
}

#[tonic::async_trait]
impl pb::worker_link_server::WorkerLink for Rpc {
    type LinkStream = BoxStream<pb::SchedulerMessage>;

    async fn link(
        &self,
        request: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let mut inbound = request.into_inner();
        let register = match inbound.message().await? {
            Some(pb::WorkerMessage {
                kind: Some(pb::worker_message::Kind::Register(r)),
            }) => r,
            _ => {
                return Err(Status::invalid_argument(
                    "a worker must send Register as its first message",
                ));
            }
        };
        if register
            .data_address
            .parse::<std::net::SocketAddr>()
            .is_err()
            && !register.data_address.contains(':')
        {
            return Err(Status::invalid_argument(format!(
                "worker data address {:?} is not host:port",
                register.data_address
            )));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = self
            .ask(|reply| CoreMsg::WorkerJoined {
                register,
                sender: tx,
                reply,
            })
            .await?;
        let core = self.core.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(message)) => {
                        if core
                            .send(CoreMsg::WorkerMessage { worker, message })
                            .is_err()
                        {
                            return;
                        }
                    }
                    end => {
                        let graceful = matches!(end, Ok(None));
                        let _ = core.send(CoreMsg::WorkerGone { worker, graceful });
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }
}
