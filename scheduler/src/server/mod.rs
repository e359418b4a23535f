//! The scheduler process: the gRPC services and the dashboard endpoint around the
//! state machine. [`start`] binds and runs them in the background and returns the
//! addresses, so a CLI or an embedded local cluster can use the same code.

mod core;
mod dashboard;
mod monitor;
mod rpc;
mod scaling;
mod views;

pub use self::core::CoreConfig;
use self::core::{Core, CoreMsg};
pub use self::scaling::Scaler;
use kaon_proto::auth::CheckToken;
use kaon_proto::net::no_delay;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::service::interceptor::InterceptedService;

/// How to run a scheduler.
#[derive(Clone)]
pub struct SchedulerConfig {
    pub host: String,
    /// gRPC port for clients and workers (0: any free port).
    pub port: u16,
    /// HTTP port of the dashboard endpoint (0: any free port).
    pub dashboard_port: u16,
    /// Path prefix of the dashboard (e.g. a JupyterHub proxy path), "" for none.
    pub dashboard_prefix: String,
    /// The cluster's token: every gRPC call must carry it, and so must the dashboard's
    /// changing endpoints.
    pub token: Option<String>,
    /// Starts workers when the cluster scales up (a local cluster or a gateway).
    pub scaler: Option<Arc<dyn Scaler>>,
    pub core: CoreConfig,
}

impl std::fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dashboard_port", &self.dashboard_port)
            .field("dashboard_prefix", &self.dashboard_prefix)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("scaler", &self.scaler.is_some())
            .field("core", &self.core)
            .finish()
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8786,
            dashboard_port: 8787,
            dashboard_prefix: String::new(),
            token: None,
            scaler: None,
            core: CoreConfig {
                heartbeat: Duration::from_millis(500),
                worker_ttl: Duration::from_secs(10),
                progress_interval: Duration::from_millis(100),
                dashboard: String::new(),
                state: crate::state::Config::default(),
                adapt_interval: Duration::from_secs(1),
            },
        }
    }
}

/// A running scheduler; dropping it does not stop it, [`RunningScheduler::stop`] does.
pub struct RunningScheduler {
    pub address: SocketAddr,
    pub dashboard: SocketAddr,
    prefix: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningScheduler {
    /// The dashboard's status page.
    pub fn dashboard_link(&self) -> String {
        format!("http://{}{}/status", self.dashboard, self.prefix)
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
    let prefix = dashboard::normalize_prefix(&config.dashboard_prefix);
    let mut core_config = config.core.clone();
    core_config.dashboard = format!("http://{dashboard}{prefix}/status");

    let (core_tx, core_rx) = mpsc::unbounded_channel::<CoreMsg>();
    let core =
        tokio::spawn(Core::new(core_config, config.scaler.clone(), core_tx.clone()).run(core_rx));
    let check = CheckToken::new(config.token.as_deref());
    let rpc = rpc::Rpc {
        core: core_tx.clone(),
    };
    let grpc_server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(InterceptedService::new(
            kaon_proto::scheduler_server::SchedulerServer::new(rpc.clone())
                .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            kaon_proto::worker_link_server::WorkerLinkServer::new(rpc)
                .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES),
            check,
        ))
        .serve_with_incoming(no_delay(grpc));
    let http_server = dashboard::serve(http, core_tx, config.token.clone(), prefix.clone());
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
        prefix,
        stop: Some(stop_tx),
        task,
    })
}
