//! The Kubernetes backend: a cluster is a Secret holding its token, a scheduler Pod, a
//! Service in front of it, and one Pod per worker, created through kube-rs.
//!
//! The Secret is the root of the cluster's objects: the scheduler Pod and the Service
//! name it as their owner, and the worker Pods name the scheduler Pod, so deleting the
//! Secret (or the scheduler Pod) lets Kubernetes' garbage collector remove the rest
//! even if the gateway is gone. The token reaches the containers only as the variable
//! `KAON_TOKEN` from the Secret (`secretKeyRef`), never on a command line. Every
//! object carries the labels `app.kubernetes.io/name=kaon`, `kaon.dev/cluster`,
//! `kaon.dev/user` and `kaon.dev/component`.

use super::{
    Backend, BoxFuture, ClusterSpec, JobState, LaunchError, SchedulerHandle, WorkerHandle,
};
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const BACKEND: &str = "kubernetes";

/// The scheduler's gRPC port (clients and workers) and its dashboard's port.
pub const SCHEDULER_PORT: u16 = 8786;
pub const DASHBOARD_PORT: u16 = 8787;

/// How often a starting scheduler Pod is looked at.
const POLL: Duration = Duration::from_millis(250);

/// Lines of a failed scheduler's log quoted in an error.
const LOG_LINES: i64 = 20;

/// The `[kubernetes]` section of the gateway's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Namespace of the clusters' objects (default: the gateway's own, from its
    /// service account or kubeconfig).
    pub namespace: Option<String>,
    /// API server URL to use instead of the in-cluster or kubeconfig settings, e.g.
    /// `http://127.0.0.1:8001` behind `kubectl proxy`.
    pub api_url: Option<String>,
    /// Image of the scheduler and worker containers (a user's `image` option
    /// replaces it, as far as the gateway's options allow).
    pub image: String,
    /// `imagePullPolicy` of the containers (default: Kubernetes' rule).
    pub image_pull_policy: Option<String>,
    /// `imagePullSecrets` of the Pods.
    pub image_pull_secrets: Vec<String>,
    /// The `kaon` executable inside the image.
    pub kaon: String,
    /// CPU of the scheduler container (a Kubernetes quantity: `1`, `500m`).
    pub scheduler_cpu: String,
    /// Memory of the scheduler container, in bytes.
    pub scheduler_memory: u64,
    /// Service account of the Pods (default: the namespace's `default`; the API
    /// token is not mounted either way).
    pub service_account: Option<String>,
    /// `nodeSelector` of the Pods.
    pub node_selector: BTreeMap<String, String>,
    /// Extra labels on every object.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on every object.
    pub annotations: BTreeMap<String, String>,
    /// `spec.type` of the scheduler's Service.
    pub service_type: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            namespace: None,
            api_url: None,
            image: "kaon:latest".into(),
            image_pull_policy: None,
            image_pull_secrets: vec![],
            kaon: "kaon".into(),
            scheduler_cpu: "1".into(),
            scheduler_memory: 2 << 30,
            service_account: None,
            node_selector: BTreeMap::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            service_type: "ClusterIP".into(),
        }
    }
}

/// Launches clusters as Kubernetes Pods.
pub struct KubernetesBackend {
    config: KubernetesConfig,
    client: kube::Client,
    namespace: String,
}

/// What a scheduler or worker handle's `job` holds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, Deserialize)]
struct PodRef {
    namespace: String,
    pod: String,
    uid: String,
}

impl KubernetesBackend {
    /// Connects with `api_url` if set, else the in-cluster service account or the
    /// kubeconfig (as kubectl does).
    pub async fn new(config: KubernetesConfig) -> Result<KubernetesBackend, String> {
        let kube_config = match &config.api_url {
            Some(url) => {
                let uri: http::Uri = url.parse().map_err(|e| {
                    format!("kubernetes backend: kubernetes.api_url {url:?} is not a URL: {e}")
                })?;
                kube::Config::new(uri)
            }
            None => kube::Config::infer().await.map_err(|e| {
                format!(
                    "kubernetes backend: no in-cluster service account and no usable \
                     kubeconfig: {e}"
                )
            })?,
        };
        let client = kube::Client::try_from(kube_config)
            .map_err(|e| format!("kubernetes backend: cannot make an API client: {e}"))?;
        Self::with_client(client, config)
    }

    /// Uses this client (tests point one at a fake API server).
    pub fn with_client(
        client: kube::Client,
        config: KubernetesConfig,
    ) -> Result<KubernetesBackend, String> {
        if config.image.trim().is_empty() {
            return Err("kubernetes backend: kubernetes.image is empty".into());
        }
        if config.kaon.trim().is_empty() {
            return Err("kubernetes backend: kubernetes.kaon (the executable) is empty".into());
        }
        let namespace = config
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        Ok(KubernetesBackend {
            config,
            client,
            namespace,
        })
    }

    /// The namespace the clusters' objects go to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn secret_name(spec: &ClusterSpec) -> String {
        format!("{}-token", spec.name)
    }

    fn scheduler_name(spec: &ClusterSpec) -> String {
        format!("{}-scheduler", spec.name)
    }

    /// The Service's DNS name: the scheduler's address inside the cluster.
    fn service_host(&self, spec: &ClusterSpec) -> String {
        format!("{}.{}.svc", Self::scheduler_name(spec), self.namespace)
    }

    fn labels(&self, spec: &ClusterSpec, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.config.labels.clone();
        labels.insert("app.kubernetes.io/name".into(), "kaon".into());
        labels.insert("app.kubernetes.io/managed-by".into(), "kaon-gateway".into());
        labels.insert("kaon.dev/cluster".into(), label_value(&spec.name));
        labels.insert("kaon.dev/user".into(), label_value(&spec.user));
        labels.insert("kaon.dev/component".into(), component.into());
        labels
    }

    fn metadata(
        &self,
        spec: &ClusterSpec,
        component: &str,
        name: Option<&str>,
        owner: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut annotations = self.config.annotations.clone();
        // Label values cannot hold every user name; the annotation keeps it whole.
        annotations.insert("kaon.dev/user".into(), spec.user.clone());
        let mut meta = json!({
            "namespace": self.namespace,
            "labels": self.labels(spec, component),
            "annotations": annotations,
        });
        match name {
            Some(n) => meta["name"] = json!(n),
            None => meta["generateName"] = json!(format!("{}-worker-", spec.name)),
        }
        if let Some(owner) = owner {
            meta["ownerReferences"] = json!([owner]);
        }
        meta
    }

    /// The environment shared by the scheduler and worker containers.
    fn env(&self, spec: &ClusterSpec) -> Result<Vec<serde_json::Value>, LaunchError> {
        let mut env = vec![json!({
            "name": "KAON_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": Self::secret_name(spec), "key": "token"}},
        })];
        for (key, value) in &spec.options.environment {
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            if !valid || key == "KAON_TOKEN" {
                return Err(failed(
                    spec,
                    format!("the environment variable name {key:?} is not allowed"),
                ));
            }
            env.push(json!({"name": key, "value": value}));
        }
        Ok(env)
    }

    /// A Pod around one container, with the settings every Kaon Pod shares.
    fn pod(
        &self,
        spec: &ClusterSpec,
        metadata: serde_json::Value,
        container: serde_json::Value,
    ) -> Result<Pod, LaunchError> {
        let c = &self.config;
        let mut container = container;
        container["image"] = json!(spec.options.image.as_deref().unwrap_or(&c.image));
        if let Some(policy) = &c.image_pull_policy {
            container["imagePullPolicy"] = json!(policy);
        }
        container["securityContext"] = json!({
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        });
        let mut pod_spec = json!({
            "restartPolicy": "Never",
            // User code runs in these Pods: no credentials for the API server.
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "containers": [container],
        });
        if let Some(sa) = &c.service_account {
            pod_spec["serviceAccountName"] = json!(sa);
        }
        if !c.node_selector.is_empty() {
            pod_spec["nodeSelector"] = json!(c.node_selector);
        }
        if !c.image_pull_secrets.is_empty() {
            pod_spec["imagePullSecrets"] = json!(
                c.image_pull_secrets
                    .iter()
                    .map(|n| json!({ "name": n }))
                    .collect::<Vec<_>>()
            );
        }
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": pod_spec,
        }))
        .map_err(|e| failed(spec, format!("cannot build the Pod manifest: {e}")))
    }

    async fn start_scheduler_pod(
        &self,
        spec: &ClusterSpec,
        start_timeout: u64,
    ) -> Result<SchedulerHandle, LaunchError> {
        let ns = &self.namespace;
        let secret_name = Self::secret_name(spec);
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self.metadata(spec, "token", Some(&secret_name), None),
            "type": "Opaque",
            "stringData": {"token": spec.token},
        }))
        .map_err(|e| failed(spec, format!("cannot build the Secret manifest: {e}")))?;
        let secret = self
            .secrets()
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| {
                failed(
                    spec,
                    format!(
                        "cannot create the Secret {secret_name} in namespace {ns}: {}",
                        api_error(&e)
                    ),
                )
            })?;
        let secret_uid = secret.metadata.uid.clone().unwrap_or_default();
        let owned_by_secret = owner("Secret", &secret_name, &secret_uid);

        // From here on a failure removes what was created (the Secret owns the rest).
        let result = self
            .create_scheduler_objects(spec, owned_by_secret, start_timeout)
            .await;
        if result.is_err() {
            let _ = self.delete_cluster_objects(spec).await;
        }
        result
    }

    async fn create_scheduler_objects(
        &self,
        spec: &ClusterSpec,
        owned_by_secret: serde_json::Value,
        start_timeout: u64,
    ) -> Result<SchedulerHandle, LaunchError> {
        let ns = &self.namespace;
        let name = Self::scheduler_name(spec);
        let memory = self.config.scheduler_memory.max(1 << 20);
        let container = json!({
            "name": "scheduler",
            "command": [
                self.config.kaon, "scheduler",
                "--host", "0.0.0.0",
                "--port", SCHEDULER_PORT.to_string(),
                "--dashboard-port", DASHBOARD_PORT.to_string(),
                "--scaler-url", spec.scaler_url,
                "--dashboard-prefix", spec.dashboard_prefix,
            ],
            "env": self.env(spec)?,
            "ports": [
                {"name": "grpc", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
                {"name": "dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
            ],
            "resources": {
                "requests": {"cpu": self.config.scheduler_cpu, "memory": memory.to_string()},
                "limits": {"cpu": self.config.scheduler_cpu, "memory": memory.to_string()},
            },
            "readinessProbe": {
                "tcpSocket": {"port": SCHEDULER_PORT},
                "periodSeconds": 2,
            },
        });
        let pod = self.pod(
            spec,
            self.metadata(
                spec,
                "scheduler",
                Some(&name),
                Some(owned_by_secret.clone()),
            ),
            container,
        )?;
        let pod = self
            .pods()
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|e| {
                failed(
                    spec,
                    format!(
                        "cannot create the Pod {name} in namespace {ns}: {}",
                        api_error(&e)
                    ),
                )
            })?;
        let uid = pod.metadata.uid.clone().unwrap_or_default();

        let service: Service = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(spec, "scheduler", Some(&name), Some(owned_by_secret)),
            "spec": {
                "type": self.config.service_type,
                "selector": {
                    "kaon.dev/cluster": label_value(&spec.name),
                    "kaon.dev/component": "scheduler",
                },
                "ports": [
                    {"name": "grpc", "port": SCHEDULER_PORT, "targetPort": "grpc", "protocol": "TCP"},
                    {"name": "dashboard", "port": DASHBOARD_PORT, "targetPort": "dashboard", "protocol": "TCP"},
                ],
            },
        }))
        .map_err(|e| failed(spec, format!("cannot build the Service manifest: {e}")))?;
        self.services()
            .create(&PostParams::default(), &service)
            .await
            .map_err(|e| {
                failed(
                    spec,
                    format!(
                        "cannot create the Service {name} in namespace {ns}: {}",
                        api_error(&e)
                    ),
                )
            })?;

        // Wait until the scheduler's container runs and listens.
        let deadline = Instant::now() + Duration::from_secs(start_timeout);
        loop {
            let now = match self.pods().get_opt(&name).await {
                Ok(Some(pod)) => match pod_phase(&pod) {
                    Phase::Running { ready: true } => break,
                    Phase::Running { ready: false } => "running, not listening yet".to_string(),
                    Phase::Pending(why) => format!("pending: {why}"),
                    Phase::Gone(why) => {
                        return Err(failed(
                            spec,
                            format!(
                                "the scheduler Pod {name} ended before it listened: {why}{}",
                                self.log_tail(&name).await
                            ),
                        ));
                    }
                },
                Ok(None) => {
                    return Err(failed(
                        spec,
                        format!("the scheduler Pod {name} was deleted while it started"),
                    ));
                }
                // An API server busy for a moment is no reason to give up yet.
                Err(e) => format!("unknown ({})", api_error(&e)),
            };
            if Instant::now() >= deadline {
                return Err(LaunchError::Timeout {
                    backend: BACKEND,
                    seconds: start_timeout,
                    reason: format!(
                        "cluster {}: the scheduler Pod {name} in namespace {ns} was {now}",
                        spec.name
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        let host = self.service_host(spec);
        Ok(SchedulerHandle {
            address: format!("{host}:{SCHEDULER_PORT}"),
            dashboard: format!("{host}:{DASHBOARD_PORT}"),
            job: json!(PodRef {
                namespace: ns.clone(),
                pod: name,
                uid,
            }),
        })
    }

    /// The last lines of a Pod's log, for an error message ("" when unavailable).
    async fn log_tail(&self, pod: &str) -> String {
        let params = LogParams {
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        match self.pods().logs(pod, &params).await {
            Ok(log) if !log.trim().is_empty() => {
                format!("; the end of its log:\n{}", log.trim_end())
            }
            _ => String::new(),
        }
    }

    async fn start_worker_pods(
        &self,
        spec: &ClusterSpec,
        scheduler: &SchedulerHandle,
        n: usize,
    ) -> Result<Vec<WorkerHandle>, LaunchError> {
        let sched: PodRef = serde_json::from_value(scheduler.job.clone()).map_err(|e| {
            failed(
                spec,
                format!(
                    "the scheduler's handle {} is not a Pod's: {e}",
                    scheduler.job
                ),
            )
        })?;
        let threads = spec.options.worker_threads.max(1);
        let memory = spec.options.worker_memory.max(1 << 20);
        let mut env = self.env(spec)?;
        // The worker registers under its Pod's name (the handle's name, chosen by the
        // API server from generateName) and serves its data on its Pod's IP.
        env.push(json!({"name": "KAON_WORKER_NAME",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}));
        env.push(json!({"name": "KAON_WORKER_HOST",
            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}));
        let container = json!({
            "name": "worker",
            "command": [
                self.config.kaon, "worker", scheduler.address,
                "--nthreads", threads.to_string(),
                "--memory-limit", memory.to_string(),
            ],
            "env": env,
            "resources": {
                "requests": {"cpu": threads.to_string(), "memory": memory.to_string()},
                "limits": {"cpu": threads.to_string(), "memory": memory.to_string()},
            },
        });
        let pod = self.pod(
            spec,
            self.metadata(
                spec,
                "worker",
                None,
                Some(owner("Pod", &sched.pod, &sched.uid)),
            ),
            container,
        )?;
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            match self.pods().create(&PostParams::default(), &pod).await {
                Ok(created) => {
                    let name = created.metadata.name.clone().unwrap_or_default();
                    handles.push(WorkerHandle {
                        job: json!(PodRef {
                            namespace: self.namespace.clone(),
                            pod: name.clone(),
                            uid: created.metadata.uid.clone().unwrap_or_default(),
                        }),
                        name,
                    });
                }
                Err(e) => {
                    // Do not leave Pods the caller never hears of.
                    let _ = self.delete_pods(spec, &handles).await;
                    return Err(failed(
                        spec,
                        format!(
                            "cannot create a worker Pod in namespace {}: {}",
                            self.namespace,
                            api_error(&e)
                        ),
                    ));
                }
            }
        }
        Ok(handles)
    }

    async fn delete_pods(
        &self,
        spec: &ClusterSpec,
        workers: &[WorkerHandle],
    ) -> Result<(), LaunchError> {
        for w in workers {
            let name = pod_name(&w.job).unwrap_or_else(|| w.name.clone());
            self.delete_one(spec, &self.pods(), "Pod", &name).await?;
        }
        Ok(())
    }

    /// Deletes one object; one that is already gone is fine.
    async fn delete_one<K>(
        &self,
        spec: &ClusterSpec,
        api: &Api<K>,
        kind: &str,
        name: &str,
    ) -> Result<(), LaunchError>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(failed(
                spec,
                format!(
                    "cannot delete the {kind} {name} in namespace {}: {}",
                    self.namespace,
                    api_error(&e)
                ),
            )),
        }
    }

    /// Deletes every object of the cluster: its Pods (also those the gateway never
    /// recorded, by label), the Service and the Secret.
    async fn delete_cluster_objects(&self, spec: &ClusterSpec) -> Result<(), LaunchError> {
        let selector = format!("kaon.dev/cluster={}", label_value(&spec.name));
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                failed(
                    spec,
                    format!(
                        "cannot list the cluster's Pods in namespace {}: {}",
                        self.namespace,
                        api_error(&e)
                    ),
                )
            })?;
        let mut first_error = None;
        for pod in pods.items {
            if let Some(name) = pod.metadata.name.as_deref()
                && let Err(e) = self.delete_one(spec, &self.pods(), "Pod", name).await
            {
                first_error.get_or_insert(e);
            }
        }
        let name = Self::scheduler_name(spec);
        for result in [
            self.delete_one(spec, &self.pods(), "Pod", &name).await,
            self.delete_one(spec, &self.services(), "Service", &name)
                .await,
            self.delete_one(spec, &self.secrets(), "Secret", &Self::secret_name(spec))
                .await,
        ] {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn check_pods(
        &self,
        spec: &ClusterSpec,
        scheduler: &SchedulerHandle,
        workers: &[WorkerHandle],
    ) -> Result<(JobState, Vec<JobState>), LaunchError> {
        let selector = format!("kaon.dev/cluster={}", label_value(&spec.name));
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                failed(
                    spec,
                    format!(
                        "cannot list the cluster's Pods in namespace {}: {}",
                        self.namespace,
                        api_error(&e)
                    ),
                )
            })?;
        let by_name: HashMap<String, Pod> = pods
            .items
            .into_iter()
            .filter_map(|p| Some((p.metadata.name.clone()?, p)))
            .collect();
        let state_of = |job: &serde_json::Value, fallback: &str| {
            let name = pod_name(job).unwrap_or_else(|| fallback.to_string());
            match by_name.get(&name) {
                None => JobState::Gone(format!("Pod {name} not found")),
                Some(pod) => match pod_phase(pod) {
                    Phase::Running { .. } => JobState::Running,
                    Phase::Pending(_) => JobState::Pending,
                    Phase::Gone(why) => JobState::Gone(format!("Pod {name} {why}")),
                },
            }
        };
        Ok((
            state_of(&scheduler.job, &Self::scheduler_name(spec)),
            workers.iter().map(|w| state_of(&w.job, &w.name)).collect(),
        ))
    }
}

impl Backend for KubernetesBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn start_scheduler<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        start_timeout: u64,
    ) -> BoxFuture<'a, Result<SchedulerHandle, LaunchError>> {
        Box::pin(self.start_scheduler_pod(spec, start_timeout))
    }

    fn start_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<WorkerHandle>, LaunchError>> {
        Box::pin(self.start_worker_pods(spec, scheduler, n))
    }

    fn stop_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(self.delete_pods(spec, workers))
    }

    fn stop_cluster<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        _scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(async move {
            // The recorded workers first (they may carry other labels if the
            // configuration changed), then everything the cluster's label finds.
            self.delete_pods(spec, workers).await?;
            self.delete_cluster_objects(spec).await
        })
    }

    fn check<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(JobState, Vec<JobState>), LaunchError>> {
        Box::pin(self.check_pods(spec, scheduler, workers))
    }
}

enum Phase {
    Pending(String),
    Running { ready: bool },
    Gone(String),
}

/// A Pod's phase, with Kubernetes' own reason and message where it has one.
fn pod_phase(pod: &Pod) -> Phase {
    if pod.metadata.deletion_timestamp.is_some() {
        return Phase::Gone("is being deleted".into());
    }
    let Some(status) = &pod.status else {
        return Phase::Pending("no status yet".into());
    };
    let container = status.container_statuses.as_ref().and_then(|c| c.first());
    // Why a container waits (ImagePullBackOff...) or ended (Error, OOMKilled...).
    let container_reason = container
        .and_then(|c| c.state.as_ref())
        .and_then(|s| {
            if let Some(w) = &s.waiting {
                Some(join_reason(w.reason.as_deref(), w.message.as_deref()))
            } else {
                s.terminated.as_ref().map(|t| {
                    format!(
                        "{} (exit code {})",
                        join_reason(t.reason.as_deref(), t.message.as_deref()),
                        t.exit_code
                    )
                })
            }
        })
        .filter(|s| !s.is_empty());
    let pod_reason = join_reason(status.reason.as_deref(), status.message.as_deref());
    let why = |default: &str| {
        let mut parts: Vec<String> = vec![];
        if !pod_reason.is_empty() {
            parts.push(pod_reason.clone());
        }
        if let Some(c) = &container_reason {
            parts.push(c.clone());
        }
        if parts.is_empty() {
            // A Pod the scheduler cannot place says so in its PodScheduled condition.
            if let Some(c) = status.conditions.as_ref().and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            }) {
                parts.push(join_reason(c.reason.as_deref(), c.message.as_deref()));
            }
        }
        if parts.is_empty() {
            default.to_string()
        } else {
            parts.join("; ")
        }
    };
    match status.phase.as_deref() {
        Some("Running") => Phase::Running {
            ready: container.is_some_and(|c| c.ready),
        },
        Some("Succeeded") => Phase::Gone(format!("exited: {}", why("Succeeded"))),
        Some("Failed") => Phase::Gone(format!("failed: {}", why("Failed"))),
        _ => Phase::Pending(why("Pending")),
    }
}

fn join_reason(reason: Option<&str>, message: Option<&str>) -> String {
    match (
        reason.filter(|s| !s.is_empty()),
        message.filter(|s| !s.is_empty()),
    ) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (Some(r), None) => r.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => String::new(),
    }
}

fn owner(kind: &str, name: &str, uid: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": true,
    })
}

fn pod_name(job: &serde_json::Value) -> Option<String> {
    serde_json::from_value::<PodRef>(job.clone())
        .ok()
        .map(|p| p.pod)
}

/// The API server's own message (its `Status`), or the client's error.
fn api_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} ({} {})", s.message, s.code, s.reason)
        }
        other => other.to_string(),
    }
}

fn failed(spec: &ClusterSpec, message: String) -> LaunchError {
    LaunchError::Failed {
        backend: BACKEND,
        message: format!("cluster {}: {message}", spec.name),
    }
}

/// A label value Kubernetes accepts: at most 63 of `[A-Za-z0-9._-]`, starting and
/// ending with a letter or digit (user names such as `a@b.org` become `a-b.org`).
fn label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("alice"), "alice");
        assert_eq!(label_value("a@b.org"), "a-b.org");
        assert_eq!(label_value("_x_"), "x");
        assert_eq!(label_value(&"u".repeat(80)).len(), 63);
    }

    #[test]
    fn pod_phases_carry_kubernetes_reasons() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "scheduler", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}
            }]}
        }))
        .unwrap();
        assert!(
            matches!(pod_phase(&pod), Phase::Pending(w) if w == "ImagePullBackOff: no such image")
        );
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}
        }))
        .unwrap();
        assert!(matches!(pod_phase(&pod), Phase::Gone(w) if w == "failed: Evicted: low on memory"));
    }
}
