//! Launch backends: how a cluster's scheduler and workers are started, found again
//! after a gateway restart, and stopped. One trait, one module per backend.
//!
//! A backend only launches and stops processes (jobs, pods); policy stays elsewhere.
//! The scheduler decides how many workers it wants (manual scale, adaptive scaling,
//! replacing a lost worker) and asks the gateway through its scaler callback; it
//! retires surplus workers itself after moving their results, and those workers
//! exit by themselves. The gateway's reconcile loop then stops the jobs whose
//! workers are gone and marks clusters whose scheduler vanished as failed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so the trait stays object-safe (`Arc<dyn Backend>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a user may choose for a cluster (validated and clamped by the gateway's
/// options and quotas before a backend sees it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// Kernel threads (cores) of each worker.
    pub worker_threads: u32,
    /// Memory limit of each worker, in bytes.
    pub worker_memory: u64,
    /// Container image (Kubernetes) or software environment name (Slurm module /
    /// conda environment); backends that run the gateway's own binary ignore it.
    pub image: Option<String>,
    /// Extra environment variables for the scheduler and the workers.
    pub environment: BTreeMap<String, String>,
    /// Seconds without work after which the gateway stops the cluster (0: never).
    pub idle_timeout: u64,
}

/// Everything a backend needs to launch one cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Unique, DNS-safe name, e.g. `alice-7f3a9c2e`.
    pub name: String,
    /// The owner.
    pub user: String,
    /// The cluster's secret: `kaon scheduler --token` and `kaon worker --token`.
    pub token: String,
    pub options: ClusterOptions,
    /// URL the scheduler calls to ask for workers (`kaon scheduler --scaler-url`),
    /// authenticated with the cluster's token.
    pub scaler_url: String,
    /// Path prefix of the scheduler's dashboard (`kaon scheduler --dashboard-prefix`),
    /// so that the gateway can proxy it under `/clusters/{name}/`.
    pub dashboard_prefix: String,
}

/// A started scheduler: where it listens, and what the backend needs to find it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerHandle {
    /// gRPC address `host:port` that clients and workers use.
    pub address: String,
    /// HTTP address `host:port` of its dashboard.
    pub dashboard: String,
    /// Backend-specific handle (a pid, a Slurm job id, a pod name), stored in the
    /// database as JSON.
    pub job: serde_json::Value,
}

/// A started worker (one process, job or pod).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerHandle {
    /// The name the worker registers with (`kaon worker --name`), so the gateway can
    /// match the scheduler's worker list to jobs.
    pub name: String,
    /// Backend-specific handle, stored as JSON.
    pub job: serde_json::Value,
}

/// Whether a job is still there, as the backend sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Queued, not running yet (a pending Slurm job or pod).
    Pending,
    Running,
    /// Gone: exited, cancelled, deleted; with the backend's reason.
    Gone(String),
}

/// A launch failure, with the backend's own words (sbatch's stderr, the API
/// server's message, the process's exit status and last output lines).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{backend} backend: {message}")]
    Failed {
        backend: &'static str,
        message: String,
    },
    #[error("{backend} backend: the scheduler did not start within {seconds} s: {reason}")]
    Timeout {
        backend: &'static str,
        seconds: u64,
        reason: String,
    },
}

/// Starts, finds and stops the processes of clusters.
pub trait Backend: Send + Sync + 'static {
    /// `local`, `slurm` or `kubernetes`.
    fn name(&self) -> &'static str;

    /// Starts the scheduler and returns once it listens (its address known), or
    /// fails with the backend's reason within `start_timeout` seconds.
    fn start_scheduler<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        start_timeout: u64,
    ) -> BoxFuture<'a, Result<SchedulerHandle, LaunchError>>;

    /// Starts `n` workers joining `scheduler`; returns at once (they join by
    /// themselves). Worker names must be unique within the cluster.
    fn start_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<WorkerHandle>, LaunchError>>;

    /// Stops these workers' jobs (already exited ones are fine).
    fn stop_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>>;

    /// Stops the whole cluster: workers, scheduler, and anything else it created
    /// (services, secrets, files).
    fn stop_cluster<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>>;

    /// The state of the scheduler's job and of each worker's job, in order.
    fn check<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(JobState, Vec<JobState>), LaunchError>>;
}

pub mod kubernetes;
pub mod slurm;

pub mod local;

/// The Slurm backend as a trait object.
pub fn slurm_backend(config: slurm::SlurmConfig) -> Result<std::sync::Arc<dyn Backend>, String> {
    Ok(std::sync::Arc::new(slurm::SlurmBackend::new(config)?))
}

/// The Kubernetes backend as a trait object.
pub async fn kubernetes_backend(
    config: kubernetes::KubernetesConfig,
) -> Result<std::sync::Arc<dyn Backend>, String> {
    Ok(std::sync::Arc::new(
        kubernetes::KubernetesBackend::new(config).await?,
    ))
}
