//! `kaon gateway`: its flags (which, with their `KAON_GATEWAY_*` variables,
//! override the configuration file) and `kaon gateway hash-password`.

use crate::config::GatewayConfig;
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;

/// Run the gateway: per-user clusters behind an authenticated REST API.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    /// The configuration file (TOML; see gateway/gateway.example.toml).
    #[arg(long, env = "KAON_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// HOST:PORT to listen on (default 127.0.0.1:8000).
    #[arg(long, env = "KAON_GATEWAY_BIND")]
    pub bind: Option<String>,
    /// How users authenticate: jupyterhub (API tokens checked with the hub) or
    /// simple (static users from the configuration, HTTP Basic).
    #[arg(long, env = "KAON_GATEWAY_AUTH", value_parser = ["jupyterhub", "simple"])]
    pub auth: Option<String>,
    /// Where clusters run: local (processes on this host), slurm or kubernetes.
    #[arg(long, env = "KAON_GATEWAY_BACKEND", value_parser = ["local", "slurm", "kubernetes"])]
    pub backend: Option<String>,
    /// The SQLite database of clusters.
    #[arg(long, env = "KAON_GATEWAY_DB")]
    pub db: Option<PathBuf>,
    /// The URL users reach the gateway at (dashboard links; its path prefixes
    /// every route, e.g. https://vre.example/services/kaon).
    #[arg(long, env = "KAON_GATEWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The URL schedulers use to call the gateway back (default: the bind
    /// address with the public URL's path).
    #[arg(long, env = "KAON_GATEWAY_INTERNAL_URL")]
    pub internal_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// Print an argon2 hash of a password for [[simple.users]] (reads the password
    /// from standard input unless --password is given).
    HashPassword {
        #[arg(long)]
        password: Option<String>,
    },
}

/// The configuration: the file (if any), then the flags and variables.
pub fn config(args: &GatewayArgs) -> Result<GatewayConfig, String> {
    let mut config = match &args.config {
        Some(path) => GatewayConfig::load(path)?,
        None => GatewayConfig::default(),
    };
    if config.auth == "jupyterhub" || args.auth.as_deref() == Some("jupyterhub") {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        hub_service_env(
            &mut config,
            var("JUPYTERHUB_SERVICE_URL").as_deref(),
            var("JUPYTERHUB_SERVICE_PREFIX").as_deref(),
        );
    }
    if let Some(v) = &args.bind {
        config.bind = v.clone();
    }
    if let Some(v) = &args.auth {
        config.auth = v.clone();
    }
    if let Some(v) = &args.backend {
        config.backend = v.clone();
    }
    if let Some(v) = &args.db {
        config.db = v.clone();
    }
    if let Some(v) = &args.public_url {
        config.public_url = Some(v.clone());
    }
    if let Some(v) = &args.internal_url {
        config.internal_url = Some(v.clone());
    }
    config.validate()?;
    Ok(config)
}

/// A hub-managed service is told where to listen (`JUPYTERHUB_SERVICE_URL`) and
/// the path the hub's proxy routes to it unchanged (`JUPYTERHUB_SERVICE_PREFIX`);
/// they win over the file, flags win over them.
fn hub_service_env(config: &mut GatewayConfig, url: Option<&str>, prefix: Option<&str>) {
    if let Some(url) = url {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host_port = rest.split('/').next().unwrap_or(rest);
        if !host_port.is_empty() {
            config.bind = host_port.to_string();
        }
    }
    if let Some(prefix) = prefix {
        // Relative dashboard links: the browser is on the hub's own host.
        config.public_url = Some(format!("/{}", prefix.trim_matches('/')));
    }
}

async fn ctrl_c() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `kaon gateway` until Ctrl-C or SIGTERM (clusters keep running; the next
/// start on the same database finds them again).
pub async fn run(args: GatewayArgs) -> Result<(), String> {
    if let Some(GatewayCommand::HashPassword { password }) = &args.command {
        let password = match password {
            Some(p) => p.clone(),
            None => {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| format!("cannot read the password: {e}"))?;
                line.trim_end_matches(['\n', '\r']).to_string()
            }
        };
        if password.is_empty() {
            return Err("the password is empty".into());
        }
        println!("{}", crate::auth::hash_password(&password)?);
        return Ok(());
    }
    let config = config(&args)?;
    let running = crate::server::start(config).await?;
    // Whoever started the gateway may have closed its standard output: no panic.
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Gateway at http://{}", running.address);
    let _ = writeln!(
        out,
        "Backend {}, auth {}",
        running.gateway.backend.name(),
        running.gateway.auth.kind()
    );
    let _ = out.flush();
    running.until(ctrl_c()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hub_managed_service_listens_where_the_hub_says() {
        let mut c = GatewayConfig::default();
        hub_service_env(
            &mut c,
            Some("http://127.0.0.1:10101"),
            Some("/services/kaon-gateway/"),
        );
        assert_eq!(c.bind, "127.0.0.1:10101");
        assert_eq!(c.base_path(), "/services/kaon-gateway");
        assert_eq!(
            c.internal_url(),
            "http://127.0.0.1:10101/services/kaon-gateway"
        );
        let mut c = GatewayConfig::default();
        hub_service_env(&mut c, None, None);
        assert_eq!(c.bind, GatewayConfig::default().bind);
        assert_eq!(c.public_url, None);
    }
}
