//! `kaon cluster new|list|scale|adapt|stop` and `kaon run`: per-user clusters through a
//! Kaon gateway's REST API (docs/gateway-api.md), from a shell or a Reana workflow step.
//!
//! The gateway's address comes from `--gateway` or `KAON_GATEWAY_ADDRESS`; credentials
//! from `JUPYTERHUB_API_TOKEN` (a JupyterHub token, as in a notebook server or a Reana
//! secret) or `--user`/`--password` (`KAON_GATEWAY_USER`/`KAON_GATEWAY_PASSWORD`) for a
//! gateway in simple mode. `kaon run` hands the cluster to its program through
//! `KAON_SCHEDULER_ADDRESS` and `KAON_TOKEN`, which `kaon histogram`, `kaon info` and
//! `kaon.Client(os.environ["KAON_SCHEDULER_ADDRESS"], token=os.environ["KAON_TOKEN"])`
//! read.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the gateway is, and who is asking.
#[derive(Args, Clone, Debug)]
pub struct GatewayArgs {
    /// The gateway's URL, e.g. http://127.0.0.1:8000 or https://vre.example/services/kaon.
    #[arg(long = "gateway", env = "KAON_GATEWAY_ADDRESS", global = true)]
    pub address: Option<String>,
    /// How to authenticate (default: basic when a user is given, else jupyterhub).
    #[arg(long, env = "KAON_GATEWAY_AUTH", value_enum, global = true)]
    pub auth: Option<AuthKind>,
    /// A JupyterHub API token with access to the gateway service.
    #[arg(
        long = "api-token",
        env = "JUPYTERHUB_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub api_token: Option<String>,
    /// User name, for a gateway with simple (password) auth.
    #[arg(long, env = "KAON_GATEWAY_USER", global = true)]
    pub user: Option<String>,
    /// Password, for a gateway with simple auth.
    #[arg(
        long,
        env = "KAON_GATEWAY_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
}

/// The gateway's authentication modes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// `Authorization: token T` with JUPYTERHUB_API_TOKEN.
    Jupyterhub,
    /// `Authorization: Basic` with --user and --password.
    #[value(alias = "simple")]
    Basic,
}

/// `kaon cluster ...`.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The options of a new cluster.
#[derive(Args, Clone, Debug, Default)]
pub struct NewClusterArgs {
    /// Workers to start with (default: the gateway's).
    #[arg(long)]
    pub workers: Option<u32>,
    /// Kernel threads per worker.
    #[arg(long)]
    pub worker_threads: Option<u32>,
    /// Memory per worker: bytes or a size such as 4GiB or 512MB.
    #[arg(long, value_name = "SIZE")]
    pub worker_memory: Option<String>,
    /// Any other cluster option, NAME=VALUE (VALUE as JSON if it parses, else a
    /// string); repeatable. `kaon cluster options` lists them.
    #[arg(long = "option", value_name = "NAME=VALUE")]
    pub options: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Create a cluster and print its name once its scheduler runs.
    New {
        #[command(flatten)]
        options: NewClusterArgs,
        /// Also write {"name", "scheduler_address", "token", "dashboard_link"} to this
        /// file (mode 0600: it holds the cluster's secret).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List your clusters (an admin's: everyone's).
    List {
        /// Print the gateway's JSON (without the clusters' secrets).
        #[arg(long)]
        json: bool,
    },
    /// Show the options a new cluster takes, with defaults and your limits.
    Options,
    /// Set a cluster's number of workers (turns adaptive scaling off).
    Scale {
        /// The cluster's name, or @FILE for a file written by `kaon cluster new --output`.
        name: String,
        /// Workers to run.
        n: u32,
    },
    /// Let a cluster scale itself between a minimum and a maximum number of workers.
    Adapt {
        /// The cluster's name, or @FILE.
        name: String,
        #[arg(long, default_value_t = 0)]
        minimum: u32,
        #[arg(long, required_unless_present = "off")]
        maximum: Option<u32>,
        /// Turn adaptive scaling off instead.
        #[arg(long)]
        off: bool,
    },
    /// Stop a cluster: its scheduler and workers end.
    Stop {
        /// The cluster's name, or @FILE.
        name: String,
    },
}

/// `kaon run`.
#[derive(Args, Debug)]
#[command(after_help = RUN_HELP)]
pub struct RunArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Run on this running cluster (a name, or @FILE written by `kaon cluster new
    /// --output`); it keeps running afterwards.
    #[arg(long, conflicts_with = "new")]
    pub cluster: Option<String>,
    /// Create a cluster for this program and stop it afterwards (the default).
    #[arg(long)]
    pub new: bool,
    #[command(flatten)]
    pub options: NewClusterArgs,
    /// Seconds to wait for the cluster's workers before starting the program anyway.
    #[arg(long, default_value_t = 120.0)]
    pub wait: f64,
    /// The program: a Python script (run with python3) or any executable.
    pub script: String,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

const RUN_HELP: &str = "\
The program finds its cluster in KAON_SCHEDULER_ADDRESS and KAON_TOKEN (and \
KAON_CLUSTER_NAME, KAON_DASHBOARD_LINK). `kaon histogram` and `kaon info` read them; \
in Python: kaon.Client(os.environ[\"KAON_SCHEDULER_ADDRESS\"], token=os.environ[\"KAON_TOKEN\"]).
The exit status is the program's; a cluster created for it is stopped also when it fails.

Example (a Reana step, with JUPYTERHUB_API_TOKEN as a secret):
  kaon run --workers 4 kaon histogram 'data/*.root' --hist 'lep_pt[0]' --range 0,200";

/// An HTTP client for one gateway and one user.
pub struct GatewayClient {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

enum Auth {
    Token(String),
    Basic { user: String, password: String },
}

impl Auth {
    fn describe(&self) -> String {
        match self {
            Auth::Token(t) => format!(
                "the JupyterHub token {}... (JUPYTERHUB_API_TOKEN or --api-token)",
                t.chars().take(4).collect::<String>()
            ),
            Auth::Basic { user, .. } => format!("user {user:?}"),
        }
    }
}

/// The gateway's answer to a failed request, as an error message.
fn http_error(
    base: &str,
    who: &str,
    what: &str,
    status: reqwest::StatusCode,
    body: &str,
) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let t = body.trim();
            if t.is_empty() {
                status.canonical_reason().unwrap_or("").to_string()
            } else {
                t.chars().take(500).collect()
            }
        });
    let limit = parsed
        .as_ref()
        .and_then(|v| v.get("limit"))
        .and_then(Value::as_str);
    let hint = match (status.as_u16(), limit) {
        (_, Some(limit)) if !message.contains(limit) => format!(" (quota {limit})"),
        (_, Some(_)) => String::new(),
        (401, _) => " (missing or malformed credentials)".into(),
        (403, _) => " (not valid, or not yours)".into(),
        _ => String::new(),
    };
    format!(
        "gateway {base}: {what} as {who}: {} {message}{hint}",
        status.as_u16()
    )
}

impl GatewayClient {
    /// A client from the flags and environment; errors say what is missing.
    pub fn new(args: &GatewayArgs) -> Result<GatewayClient, String> {
        let address = args
            .address
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .ok_or(
                "no gateway address: pass --gateway URL or set KAON_GATEWAY_ADDRESS \
             (e.g. http://127.0.0.1:8000)",
            )?;
        let base = normalize_address(address)?;
        let kind = args.auth.unwrap_or(if args.user.is_some() {
            AuthKind::Basic
        } else {
            AuthKind::Jupyterhub
        });
        let auth = match kind {
            AuthKind::Basic => {
                let user = args
                    .user
                    .clone()
                    .ok_or("simple auth needs --user (or KAON_GATEWAY_USER)")?;
                let password = args.password.clone().ok_or_else(|| {
                    format!(
                        "no password for user {user:?}: pass --password or set \
                         KAON_GATEWAY_PASSWORD"
                    )
                })?;
                Auth::Basic { user, password }
            }
            AuthKind::Jupyterhub => {
                Auth::Token(args.api_token.clone().filter(|t| !t.is_empty()).ok_or(
                    "no credentials for the gateway: set JUPYTERHUB_API_TOKEN (or pass \
                         --api-token), or --user/--password for a gateway in simple mode",
                )?)
            }
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("kaon/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
            let pem = std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read SSL_CERT_FILE {}: {e}",
                    Path::new(&path).display()
                )
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("SSL_CERT_FILE {}: {e}", Path::new(&path).display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(GatewayClient { base, http, auth })
    }

    /// One request under /api/v1; the JSON answer or an error naming the gateway, the
    /// caller and what was asked.
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
        what: &str,
    ) -> Result<Value, String> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url).timeout(timeout);
        req = match &self.auth {
            Auth::Token(t) => req.header(reqwest::header::AUTHORIZATION, format!("token {t}")),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
        };
        if let Some(body) = body {
            req = req.json(body);
        }
        let who = self.auth.describe();
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                format!(
                    "gateway {}: {what}: no answer within {} s",
                    self.base,
                    timeout.as_secs()
                )
            } else {
                format!(
                    "cannot reach the Kaon gateway at {} ({what}): {}. Is `kaon gateway` \
                     running there? (--gateway or KAON_GATEWAY_ADDRESS)",
                    self.base,
                    error_chain(&e)
                )
            }
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("gateway {}: {what}: reading the answer: {e}", self.base))?;
        if !status.is_success() {
            return Err(http_error(&self.base, &who, what, status, &text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "gateway {}: {what}: the answer is not JSON ({e}): {}",
                self.base,
                text.chars().take(200).collect::<String>()
            )
        })
    }

    fn cluster_path(name: &str) -> String {
        let safe: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("/clusters/{safe}")
    }

    /// `POST /clusters`: waits until the scheduler runs.
    pub async fn new_cluster(&self, args: &NewClusterArgs) -> Result<Value, String> {
        let body = new_cluster_body(args)?;
        self.request(
            reqwest::Method::POST,
            "/clusters",
            Some(&body),
            Duration::from_secs(900),
            "create a cluster",
        )
        .await
    }

    pub async fn get(&self, name: &str) -> Result<Value, String> {
        self.request(
            reqwest::Method::GET,
            &Self::cluster_path(name),
            None,
            Duration::from_secs(30),
            &format!("get cluster {name}"),
        )
        .await
    }

    pub async fn list(&self) -> Result<Vec<Value>, String> {
        let v = self
            .request(
                reqwest::Method::GET,
                "/clusters",
                None,
                Duration::from_secs(30),
                "list clusters",
            )
            .await?;
        Ok(v.get("clusters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    pub async fn options(&self) -> Result<Value, String> {
        self.request(
            reqwest::Method::GET,
            "/options",
            None,
            Duration::from_secs(30),
            "get the cluster options",
        )
        .await
    }

    pub async fn scale(&self, name: &str, n: u32) -> Result<Value, String> {
        self.request(
            reqwest::Method::POST,
            &format!("{}/scale", Self::cluster_path(name)),
            Some(&json!({ "n": n })),
            Duration::from_secs(120),
            &format!("scale cluster {name} to {n} workers"),
        )
        .await
    }

    pub async fn adapt(&self, name: &str, range: Option<(u32, u32)>) -> Result<Value, String> {
        let body = match range {
            Some((minimum, maximum)) => json!({ "minimum": minimum, "maximum": maximum }),
            None => json!({ "active": false }),
        };
        self.request(
            reqwest::Method::POST,
            &format!("{}/adapt", Self::cluster_path(name)),
            Some(&body),
            Duration::from_secs(120),
            &format!("adapt cluster {name}"),
        )
        .await
    }

    pub async fn stop(&self, name: &str) -> Result<Value, String> {
        self.request(
            reqwest::Method::DELETE,
            &Self::cluster_path(name),
            None,
            Duration::from_secs(120),
            &format!("stop cluster {name}"),
        )
        .await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// `http://host:port` (no trailing slash, no /api/v1) from what the user typed.
fn normalize_address(address: &str) -> Result<String, String> {
    let mut a = address.trim().to_string();
    if !a.contains("://") {
        a = format!("http://{a}");
    }
    let (scheme, rest) = a.split_once("://").unwrap_or(("", &a));
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/api/v1").unwrap_or(rest);
    a = format!("{scheme}://{rest}");
    let rest = a
        .strip_prefix("http://")
        .or_else(|| a.strip_prefix("https://"))
        .ok_or_else(|| format!("gateway address {address:?} is not an http(s) URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("gateway address {address:?} has no host"));
    }
    Ok(a)
}

fn new_cluster_body(args: &NewClusterArgs) -> Result<Value, String> {
    let mut options = serde_json::Map::new();
    if let Some(t) = args.worker_threads {
        options.insert("worker_threads".into(), json!(t));
    }
    if let Some(m) = &args.worker_memory {
        let bytes = kaon_worker::memory::parse_memory_limit(m, 1)
            .map_err(|e| format!("--worker-memory: {e}"))?;
        options.insert("worker_memory".into(), json!(bytes));
    }
    for kv in &args.options {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--option {kv:?}: expected NAME=VALUE"))?;
        let value = serde_json::from_str(v.trim()).unwrap_or_else(|_| json!(v));
        options.insert(k.trim().to_string(), value);
    }
    let mut body = json!({ "options": options });
    if let Some(n) = args.workers {
        body["workers"] = json!(n);
    }
    Ok(body)
}

/// A cluster name, or the name inside @FILE (a file written by `kaon cluster new --output`).
fn resolve_name(name: &str) -> Result<String, String> {
    let Some(path) = name.strip_prefix('@') else {
        return Ok(name.to_string());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the cluster file {path}: {e}"))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("cluster file {path} is not JSON: {e}"))?;
    v.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("cluster file {path} has no \"name\""))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn u64_field(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The cluster's name, or an error when the gateway's answer has none.
fn cluster_name(v: &Value) -> Result<String, String> {
    v.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("the gateway's answer names no cluster: {v}"))
}

fn describe(v: &Value) -> String {
    let adapt = match v.get("adapt") {
        Some(a) if a.is_object() => format!(
            "adaptive {}..{}",
            u64_field(a, "minimum"),
            u64_field(a, "maximum")
        ),
        _ => "manual".into(),
    };
    format!(
        "{} {} workers {}/{} {adapt} {}",
        str_field(v, "name"),
        str_field(v, "status"),
        u64_field(v, "workers"),
        u64_field(v, "desired_workers"),
        str_field(v, "dashboard_link")
    )
}

/// Writes the connection file, readable by its owner only.
fn write_cluster_file(path: &Path, cluster: &Value) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let info = json!({
        "name": cluster.get("name"),
        "scheduler_address": cluster.get("scheduler_address"),
        "token": cluster.get("token"),
        "dashboard_link": cluster.get("dashboard_link"),
    });
    let text = serde_json::to_string_pretty(&info).map_err(|e| e.to_string())? + "\n";
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `kaon cluster ...`.
pub async fn cluster(args: ClusterArgs) -> Result<(), String> {
    // Output piped into `head` ends quietly, as with other Unix tools.
    // SAFETY: restoring the default disposition of SIGPIPE; no handler is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let gw = GatewayClient::new(&args.gateway)?;
    match args.command {
        ClusterCommand::New { options, output } => {
            let c = gw.new_cluster(&options).await?;
            let name = cluster_name(&c)?;
            if let Some(path) = output
                && let Err(e) = write_cluster_file(&path, &c)
            {
                let _ = gw.stop(&name).await;
                return Err(format!("{e} (cluster {name} stopped again)"));
            }
            println!("{name}");
            eprintln!("dashboard: {}", str_field(&c, "dashboard_link"));
        }
        ClusterCommand::List { json } => {
            let mut clusters = gw.list().await?;
            if json {
                for c in &mut clusters {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("token");
                    }
                }
                let text = serde_json::to_string_pretty(&clusters).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                println!(
                    "{:<24} {:<9} {:>7} {:<16} DASHBOARD",
                    "NAME", "STATUS", "WORKERS", "SCALING"
                );
                for c in &clusters {
                    let scaling = match c.get("adapt") {
                        Some(a) if a.is_object() => format!(
                            "adapt {}..{}",
                            u64_field(a, "minimum"),
                            u64_field(a, "maximum")
                        ),
                        _ => format!("fixed {}", u64_field(c, "desired_workers")),
                    };
                    println!(
                        "{:<24} {:<9} {:>7} {:<16} {}",
                        str_field(c, "name"),
                        str_field(c, "status"),
                        u64_field(c, "workers"),
                        scaling,
                        str_field(c, "dashboard_link")
                    );
                }
            }
        }
        ClusterCommand::Options => {
            let v = gw.options().await?;
            let text = serde_json::to_string_pretty(v.get("options").unwrap_or(&v))
                .map_err(|e| e.to_string())?;
            println!("{text}");
        }
        ClusterCommand::Scale { name, n } => {
            let name = resolve_name(&name)?;
            println!("{}", describe(&gw.scale(&name, n).await?));
        }
        ClusterCommand::Adapt {
            name,
            minimum,
            maximum,
            off,
        } => {
            let name = resolve_name(&name)?;
            let range = if off {
                None
            } else {
                let maximum = maximum.ok_or("adapt needs --maximum (or --off)")?;
                if maximum < minimum {
                    return Err(format!(
                        "adapt needs --minimum <= --maximum, not {minimum} > {maximum}"
                    ));
                }
                Some((minimum, maximum))
            };
            println!("{}", describe(&gw.adapt(&name, range).await?));
        }
        ClusterCommand::Stop { name } => {
            let name = resolve_name(&name)?;
            let c = gw.stop(&name).await?;
            println!("{name} {}", str_field(&c, "status"));
        }
    }
    Ok(())
}

/// Waits until the gateway reports the cluster's wanted workers, or `wait` passed.
async fn wait_for_workers(gw: &GatewayClient, name: &str, wait: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let c = gw.get(name).await?;
        let status = str_field(&c, "status");
        if status == "failed" || status == "stopped" {
            let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
            return Err(format!("cluster {name} is {status}: {reason}"));
        }
        let want = u64_field(&c, "desired_workers");
        let have = u64_field(&c, "workers");
        if have >= want.max(1) || (want == 0 && c.get("adapt").is_some_and(Value::is_object)) {
            return Ok(());
        }
        if start.elapsed() >= wait {
            eprintln!(
                "kaon run: cluster {name} has {have} of {want} workers after {} s; starting \
                 anyway",
                wait.as_secs()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The program's command: python3 (from PATH) for a `.py` script, else the program itself
/// (a path, or a name looked up in PATH).
fn program_command(script: &str, args: &[String]) -> tokio::process::Command {
    let mut cmd = if script.ends_with(".py") {
        let mut c = tokio::process::Command::new("python3");
        c.arg(script);
        c
    } else {
        tokio::process::Command::new(script)
    };
    cmd.args(args);
    cmd
}

/// Fails early (before a cluster starts) when the program cannot be found.
fn check_program(script: &str) -> Result<(), String> {
    if script.ends_with(".py") || script.contains('/') {
        return if Path::new(script).is_file() {
            Ok(())
        } else {
            Err(format!("no such file: {script}"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join(script).is_file()) {
        Ok(())
    } else {
        Err(format!("{script}: command not found in PATH"))
    }
}

/// `kaon run`: runs the program against a gateway cluster and returns its exit status.
pub async fn run(args: RunArgs) -> Result<i32, String> {
    let gw = GatewayClient::new(&args.gateway)?;
    check_program(&args.script)?;
    let (cluster, created) = match &args.cluster {
        Some(name) if !args.new => {
            let name = resolve_name(name)?;
            let c = gw.get(&name).await?;
            let status = str_field(&c, "status");
            if status != "running" && status != "pending" {
                let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
                return Err(format!("cluster {name} is {status} {reason}"));
            }
            (c, false)
        }
        _ => (gw.new_cluster(&args.options).await?, true),
    };
    let name = cluster_name(&cluster)?;
    eprintln!(
        "kaon run: cluster {name}{}; dashboard {}",
        if created { " (stopped afterwards)" } else { "" },
        str_field(&cluster, "dashboard_link")
    );
    let outcome = run_program(&gw, &args, &name, &cluster).await;
    if created && let Err(e) = gw.stop(&name).await {
        eprintln!("kaon run: stopping cluster {name}: {e}");
    }
    outcome
}

async fn run_program(
    gw: &GatewayClient,
    args: &RunArgs,
    name: &str,
    cluster: &Value,
) -> Result<i32, String> {
    let address = str_field(cluster, "scheduler_address");
    if address.is_empty() {
        return Err(format!(
            "the gateway gave no scheduler address for cluster {name}"
        ));
    }
    let token = cluster
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the gateway gave no token for cluster {name}"))?;
    let wait = if args.wait.is_finite() && args.wait > 0.0 {
        Duration::from_secs_f64(args.wait.min(86_400.0))
    } else {
        Duration::ZERO
    };
    wait_for_workers(gw, name, wait).await?;
    let mut cmd = program_command(&args.script, &args.args);
    cmd.env("KAON_SCHEDULER_ADDRESS", address)
        .env("KAON_TOKEN", token)
        .env("KAON_CLUSTER_NAME", name)
        .env("KAON_DASHBOARD_LINK", str_field(cluster, "dashboard_link"));
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.script))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    let status = tokio::select! {
        s = child.wait() => s,
        _ = tokio::signal::ctrl_c() => {
            // The program got the terminal's SIGINT too; wait for it to end.
            child.wait().await
        }
        _ = term.recv() => {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            }
            child.wait().await
        }
    }
    .map_err(|e| format!("waiting for {}: {e}", args.script))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_address("127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            normalize_address("https://vre.example/services/kaon/api/v1/").unwrap(),
            "https://vre.example/services/kaon"
        );
        assert!(normalize_address("ftp://x").is_err());
        assert!(normalize_address("http://").is_err());
    }

    #[test]
    fn bodies() {
        let args = NewClusterArgs {
            workers: Some(2),
            worker_threads: Some(3),
            worker_memory: Some("1GiB".into()),
            options: vec!["idle_timeout=60".into(), "image=python:3".into()],
        };
        let body = new_cluster_body(&args).unwrap();
        assert_eq!(body["workers"], 2);
        assert_eq!(body["options"]["worker_threads"], 3);
        assert_eq!(body["options"]["worker_memory"], 1u64 << 30);
        assert_eq!(body["options"]["idle_timeout"], 60);
        assert_eq!(body["options"]["image"], "python:3");
        let bad = NewClusterArgs {
            options: vec!["novalue".into()],
            ..Default::default()
        };
        assert!(new_cluster_body(&bad).is_err());
    }

    #[test]
    fn errors_name_the_gateway_and_limit() {
        let e = http_error(
            "http://gw",
            "user \"bob\"",
            "scale cluster alice-1 to 9 workers",
            reqwest::StatusCode::FORBIDDEN,
            r#"{"error": "max 4 workers", "limit": "max_workers"}"#,
        );
        assert!(e.contains("http://gw") && e.contains("bob") && e.contains("alice-1"));
        assert!(e.contains("quota max_workers"), "{e}");
        let e = http_error("http://gw", "u", "x", reqwest::StatusCode::UNAUTHORIZED, "");
        assert!(e.contains("401") && e.contains("credentials"), "{e}");
    }

    #[test]
    fn cluster_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let c = json!({"name": "alice-1", "scheduler_address": "h:1", "token": "s",
                       "dashboard_link": "d", "options": {}});
        write_cluster_file(&path, &c).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            resolve_name(&format!("@{}", path.display())).unwrap(),
            "alice-1"
        );
        assert_eq!(resolve_name("bob-2").unwrap(), "bob-2");
        assert!(resolve_name("@/nonexistent/x").is_err());
    }
}
