//! Starting a gateway: open the database, build the authenticator and the backend
//! the configuration names, reconnect to surviving clusters, then serve the API
//! and run the reconcile loop.

use crate::auth::{Authenticator, JupyterHubAuth, SimpleAuth};
use crate::backend::Backend;
use crate::backend::local::{LocalBackend, LocalSettings};
use crate::clusters::Gateway;
use crate::config::GatewayConfig;
use crate::db::Db;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A running gateway.
pub struct Running {
    pub address: SocketAddr,
    pub gateway: Arc<Gateway>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
    reconcile: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops serving (clusters keep running; a restarted gateway finds them).
    pub async fn stop(self) {
        self.reconcile.abort();
        let _ = self.shutdown.send(());
        // Open event streams would hold a graceful shutdown forever.
        let mut served = self.served;
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut served)
            .await
            .is_err()
        {
            served.abort();
        }
    }

    /// Serves until the future ends.
    pub async fn until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.stop().await;
    }
}

/// The backend the configuration names.
pub async fn backend(config: &GatewayConfig) -> Result<Arc<dyn Backend>, String> {
    match config.backend.as_str() {
        "local" => {
            let kaon = match &config.local.kaon {
                Some(k) => k.clone(),
                None => std::env::current_exe()
                    .map_err(|e| format!("cannot find the kaon executable: {e}"))?,
            };
            let work_dir = match &config.local.work_dir {
                Some(d) => d.clone(),
                None => {
                    let mut d = config.db.clone().into_os_string();
                    d.push(".clusters");
                    PathBuf::from(d)
                }
            };
            let work_dir = std::path::absolute(&work_dir).unwrap_or(work_dir);
            Ok(Arc::new(LocalBackend::new(LocalSettings {
                kaon,
                work_dir,
                host: config
                    .local
                    .host
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".into()),
            })?))
        }
        "slurm" => crate::backend::slurm_backend(config.slurm.clone()),
        "kubernetes" => crate::backend::kubernetes_backend(config.kubernetes.clone()).await,
        other => Err(format!("unknown backend {other:?}")),
    }
}

/// The authenticator the configuration names.
pub fn authenticator(config: &GatewayConfig) -> Result<Arc<dyn Authenticator>, String> {
    match config.auth.as_str() {
        "jupyterhub" => Ok(Arc::new(JupyterHubAuth::from_env(&config.jupyterhub)?)),
        "simple" => {
            if config.simple.users.is_empty() {
                return Err(
                    "--auth simple needs users: [[simple.users]] entries in the configuration"
                        .into(),
                );
            }
            Ok(Arc::new(SimpleAuth::new(&config.simple.users)?))
        }
        other => Err(format!("unknown auth {other:?}")),
    }
}

/// Starts a gateway on `config.bind`.
pub async fn start(config: GatewayConfig) -> Result<Running, String> {
    config.validate()?;
    if let Some(dir) = config.db.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create the database directory {}: {e}",
                dir.display()
            )
        })?;
    }
    let db = Db::open(&config.db)?;
    let auth = authenticator(&config)?;
    let backend = backend(&config).await?;
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let mut config = config;
    // With port 0, the real port goes into the URLs the gateway hands out.
    if config.bind.ends_with(":0") {
        config.bind = address.to_string();
    }
    let gateway = Arc::new(Gateway::new(config, db, backend, auth));
    let app = crate::api::router(gateway.clone());
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!("the gateway's server stopped: {e}");
        }
    });
    // Reconnect after the server listens: schedulers may call back meanwhile.
    if let Err(e) = gateway.recover().await {
        tracing::error!("recovering clusters: {e}");
    }
    let reconcile = tokio::spawn(crate::reconcile::run(gateway.clone()));
    tracing::info!(
        "gateway at http://{address} (backend {}, auth {})",
        gateway.backend.name(),
        gateway.auth.kind()
    );
    Ok(Running {
        address,
        gateway,
        shutdown,
        served,
        reconcile,
    })
}
