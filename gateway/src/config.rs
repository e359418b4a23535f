//! The gateway's configuration: the TOML file's sections, their defaults, and how
//! command-line flags and `KAON_*` variables override them.

use crate::backend::kubernetes::KubernetesConfig;
use crate::backend::slurm::SlurmConfig;
use crate::quota::Limits;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration (`gateway.toml`); every section and field is optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// `HOST:PORT` the REST API listens on.
    pub bind: String,
    /// The URL users reach the gateway at (dashboard links; its path is the prefix
    /// every route is served under, e.g. `/services/kaon` behind JupyterHub).
    /// Default: `http://{bind}`.
    pub public_url: Option<String>,
    /// The URL the schedulers call back (scaler). Default: `http://{bind}` with
    /// the public URL's path.
    pub internal_url: Option<String>,
    /// `jupyterhub` or `simple`.
    pub auth: String,
    /// `local`, `slurm` or `kubernetes`.
    pub backend: String,
    /// The SQLite database file.
    pub db: PathBuf,
    /// Seconds a scheduler may take to start.
    pub start_timeout: u64,
    /// Seconds a worker may take to join its scheduler before its job is stopped.
    pub worker_start_timeout: u64,
    /// Seconds between reconcile passes (job checks, idle timeouts).
    pub reconcile_interval: f64,
    pub options: OptionsConfig,
    pub quotas: QuotaConfig,
    pub jupyterhub: JupyterHubConfig,
    pub simple: SimpleConfig,
    pub local: LocalConfig,
    pub slurm: SlurmConfig,
    pub kubernetes: KubernetesConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            bind: "127.0.0.1:8000".into(),
            public_url: None,
            internal_url: None,
            auth: "jupyterhub".into(),
            backend: "local".into(),
            db: PathBuf::from("kaon-gateway.sqlite"),
            start_timeout: 60,
            worker_start_timeout: 120,
            reconcile_interval: 3.0,
            options: OptionsConfig::default(),
            quotas: QuotaConfig::default(),
            jupyterhub: JupyterHubConfig::default(),
            simple: SimpleConfig::default(),
            local: LocalConfig::default(),
            slurm: SlurmConfig::default(),
            kubernetes: KubernetesConfig::default(),
        }
    }
}

/// Defaults and bounds of the options users may set per cluster.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptionsConfig {
    pub worker_threads: u32,
    pub max_worker_threads: u32,
    /// Bytes (the file also takes "4GiB").
    #[serde(deserialize_with = "crate::quota::size")]
    pub worker_memory: u64,
    /// Bytes (the file also takes "4GiB").
    #[serde(deserialize_with = "crate::quota::size")]
    pub min_worker_memory: u64,
    /// Bytes (the file also takes "4GiB").
    #[serde(deserialize_with = "crate::quota::size")]
    pub max_worker_memory: u64,
    pub image: Option<String>,
    /// Images (or environments) users may choose; empty: any.
    pub allowed_images: Vec<String>,
    /// Seconds without work before a cluster is stopped (0: never).
    pub idle_timeout: u64,
    /// The longest idle timeout a user may ask for (0 among them means never).
    pub max_idle_timeout: u64,
}

impl Default for OptionsConfig {
    fn default() -> Self {
        OptionsConfig {
            worker_threads: 1,
            max_worker_threads: 64,
            worker_memory: 2 << 30,
            min_worker_memory: 64 << 20,
            max_worker_memory: 256 << 30,
            image: None,
            allowed_images: vec![],
            idle_timeout: 1800,
            max_idle_timeout: 86400,
        }
    }
}

/// `[quotas]`: limits for everyone, and `[quotas.groups.NAME]` overrides.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct QuotaConfig {
    #[serde(flatten)]
    pub default: Limits,
    pub groups: BTreeMap<String, Limits>,
}

/// `[jupyterhub]`: values a hub-managed service gets from its environment
/// (`JUPYTERHUB_API_URL`, `JUPYTERHUB_API_TOKEN`, `JUPYTERHUB_SERVICE_NAME`), which
/// take precedence over the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JupyterHubConfig {
    pub api_url: Option<String>,
    pub api_token: Option<String>,
    pub service_name: Option<String>,
    /// Seconds a token's answer is kept.
    pub cache_seconds: f64,
}

impl Default for JupyterHubConfig {
    fn default() -> Self {
        JupyterHubConfig {
            api_url: None,
            api_token: None,
            service_name: None,
            cache_seconds: 60.0,
        }
    }
}

/// `[simple]`: static users for local use.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimpleConfig {
    pub users: Vec<SimpleUser>,
}

/// One `[[simple.users]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleUser {
    pub name: String,
    /// An argon2 PHC string (`kaon gateway hash-password`).
    pub password_hash: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `[local]`: the local-process backend.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// The `kaon` binary (default: the running executable).
    pub kaon: Option<PathBuf>,
    /// Where each cluster gets a directory for logs and spilled data (default: next
    /// to the database, `<db>.clusters/`).
    pub work_dir: Option<PathBuf>,
    /// The interface schedulers and workers listen on.
    pub host: Option<String>,
}

impl GatewayConfig {
    /// Reads a TOML file; errors name the file and the problem.
    pub fn load(path: &Path) -> Result<GatewayConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("configuration {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<GatewayConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks the values that have no sensible fallback.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.auth.as_str(), "jupyterhub" | "simple") {
            return Err(format!(
                "auth must be jupyterhub or simple, not {:?}",
                self.auth
            ));
        }
        if !matches!(self.backend.as_str(), "local" | "slurm" | "kubernetes") {
            return Err(format!(
                "backend must be local, slurm or kubernetes, not {:?}",
                self.backend
            ));
        }
        if self.options.worker_threads == 0
            || self.options.worker_threads > self.options.max_worker_threads
        {
            return Err(format!(
                "options.worker_threads ({}) must be between 1 and options.max_worker_threads ({})",
                self.options.worker_threads, self.options.max_worker_threads
            ));
        }
        if self.options.worker_memory < self.options.min_worker_memory
            || self.options.worker_memory > self.options.max_worker_memory
        {
            return Err(format!(
                "options.worker_memory ({}) must be between options.min_worker_memory ({}) and \
                 options.max_worker_memory ({})",
                self.options.worker_memory,
                self.options.min_worker_memory,
                self.options.max_worker_memory
            ));
        }
        if !(self.reconcile_interval > 0.0 && self.reconcile_interval.is_finite()) {
            return Err("reconcile_interval must be a positive number of seconds".into());
        }
        if !(self.jupyterhub.cache_seconds >= 0.0 && self.jupyterhub.cache_seconds.is_finite()) {
            return Err("jupyterhub.cache_seconds must be zero or more seconds".into());
        }
        for u in &self.simple.users {
            if u.name.is_empty() || u.name.contains(':') {
                return Err(format!(
                    "simple user name {:?} must be non-empty and without ':'",
                    u.name
                ));
            }
        }
        Ok(())
    }

    /// The public URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The path every route is served under: "" or "/a/b".
    pub fn base_path(&self) -> String {
        base_path_of(&self.public_url())
    }

    /// The URL schedulers use to reach the gateway.
    pub fn internal_url(&self) -> String {
        match &self.internal_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let bind = self.bind.replace("0.0.0.0", "127.0.0.1");
                let bind = bind.replace("[::]", "[::1]");
                format!("http://{bind}{}", self.base_path())
            }
        }
    }
}

/// The path of a URL, normalized to "" or "/a/b".
pub fn base_path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        String::new()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_normalized() {
        assert_eq!(base_path_of("http://h:1"), "");
        assert_eq!(base_path_of("http://h:1/"), "");
        assert_eq!(base_path_of("https://vre/services/kaon/"), "/services/kaon");
        assert_eq!(
            base_path_of("https://vre/services/kaon?x=1"),
            "/services/kaon"
        );
    }

    #[test]
    fn the_example_configuration_parses() {
        let c = GatewayConfig::parse(include_str!("../gateway.example.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.options.worker_memory, 4 << 30);
        assert_eq!(c.quotas.groups["physics-power-users"].max_clusters, Some(4));
    }

    #[test]
    fn a_full_file_parses() {
        let c = GatewayConfig::parse(
            r#"
            bind = "0.0.0.0:9000"
            auth = "simple"
            [options]
            worker_threads = 2
            [quotas]
            max_clusters = 2
            [quotas.groups.physics]
            max_clusters = 5
            [[simple.users]]
            name = "alice"
            password_hash = "x"
            groups = ["physics"]
            [local]
            work_dir = "/tmp/x"
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.quotas.default.max_clusters, Some(2));
        assert_eq!(c.quotas.groups["physics"].max_clusters, Some(5));
        assert_eq!(c.internal_url(), "http://127.0.0.1:9000");
        assert!(GatewayConfig::parse("nonsense = 1").is_err());
    }
}
