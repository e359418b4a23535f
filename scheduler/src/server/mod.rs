//! The scheduler process: the gRPC services and the dashboard endpoint around the
//! state machine. [`start`] binds and runs them in the background and returns the
//! addresses, so a CLI or an embedded local cluster can use the same code.

mod core;
mod dashboard;
mod rpc;

pub use self::core::CoreConfig;
use self::core::{Core, CoreMsg};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;

/// How to run a scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    pub host: String,
    /// gRPC port for clients and workers (0: any free port).
    pub port: u16,
    /// HTTP port of the dashboard endpoint (0: any free port).
    pub dashboard_port: u16,
    pub core: CoreConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8786,
            dashboard_port: 8787,
            core: CoreConfig {
                heartbeat: Duration::from_millis(500),
                worker_ttl: Duration::from_secs(10),
                progress_interval: Duration::from_millis(100),
                dashboard: String::new(),
                state: crate::state::Config::default(),
            },
        }
    }
}

/// A running scheduler; dropping it does not stop it, [`RunningScheduler::stop`] does.
pub struct RunningScheduler {
    pub address: SocketAddr,
    pub dashboard: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningScheduler {
    /// The dashboard's status page.
    pub fn dashboard_link(&self) -> String {
        format!("http://{}/status", self.dashboard)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the scheduler stops by itself (it does not, unless it fails).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Binds both ports and runs the scheduler on the current tokio runtime.
pub async fn start(config: SchedulerConfig) -> Result<RunningScheduler, String> {
    let grpc = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let http = tokio::net::TcpListener::bind((config.host.as_str(), config.dashboard_port))
        .await
        .map_err(|e| {
            format!(
                "cannot serve the dashboard on {}:{}: {e}",
                config.host, config.dashboard_port
            )
        })?;
    let address = grpc.local_addr().map_err(|e| e.to_string())?;
    let dashboard = http.local_addr().map_err(|e| e.to_string())?;
    let mut core_config = config.core.clone();
    core_config.dashboard = format!("http://{dashboard}/status");

    let (core_tx, core_rx) = mpsc::unbounded_channel::<CoreMsg>();
    let core = tokio::spawn(Core::new(core_config).run(core_rx));
    let rpc = rpc::Rpc {
        core: core_tx.clone(),
    };
    let grpc_server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(
            kaon_proto::scheduler_server::SchedulerServer::new(rpc.clone())
                .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES),
        )
        .add_service(
            kaon_proto::worker_link_server::WorkerLinkServer::new(rpc)
                .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming(TcpListenerStream::new(grpc));
    let http_server = dashboard::serve(http, core_tx);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tokio::select! {
            r = grpc_server => if let Err(e) = r { tracing::error!("gRPC server failed: {e}") },
            r = http_server => if let Err(e) = r { tracing::error!("dashboard failed: {e}") },
            _ = stop_rx => {}
        }
        core.abort();
    });
    tracing::info!(%address, %dashboard, "scheduler listening");
    Ok(RunningScheduler {
        address,
        dashboard,
        stop: Some(stop_tx),
        task,
    })
}
