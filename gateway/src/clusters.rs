//! The cluster manager: what the API's routes, the scheduler's scaler callback and
//! the reconcile loop do to clusters (create, stop, scale, adapt, add workers),
//! with ownership and quota checks, the database kept in step, and slow backend
//! calls made outside the per-user lock.

use crate::auth::{Authenticator, User};
use crate::backend::{Backend, ClusterSpec, LaunchError, WorkerHandle};
use crate::config::GatewayConfig;
use crate::db::{AdaptRange, ClusterRecord, Db, Status, TrackedWorker, now};
use crate::quota::{self, ClusterSize, Limits, QuotaError};
use kaon_client::Client;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the gateway waits for a scheduler's answer.
pub const SCHEDULER_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong, mapped to an HTTP status by the API.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Quota(#[from] QuotaError),
    /// The backend failed to start something (502), or timed out (504).
    #[error("cluster {cluster}: {error}")]
    Launch { cluster: String, error: LaunchError },
    /// The cluster's scheduler did not answer or refused (502).
    #[error("{0}")]
    Scheduler(String),
    #[error("{0}")]
    Internal(String),
}

impl From<String> for GatewayError {
    fn from(e: String) -> Self {
        GatewayError::Internal(e)
    }
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

/// What the gateway knows about a running cluster beyond its record.
#[derive(Clone)]
pub(crate) struct Live {
    pub client: Option<Client>,
    /// The last time the cluster had a graph running (or was created).
    pub busy_at: Instant,
    pub workers: Option<u64>,
    pub desired: Option<u64>,
}

/// The gateway's shared state.
pub struct Gateway {
    pub config: GatewayConfig,
    pub db: Db,
    pub backend: Arc<dyn Backend>,
    pub auth: Arc<dyn Authenticator>,
    public_url: String,
    base_path: String,
    internal_url: String,
    /// One lock per user: quota checks and the record changes they allow are atomic.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) live: Mutex<HashMap<String, Live>>,
    /// Clusters whose scheduler this gateway process is starting now.
    starting: Mutex<HashSet<String>>,
    /// Each user's groups when last seen (quotas of the scaler callback).
    groups: Mutex<HashMap<String, Vec<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A DNS-safe cluster name: the user's name (lowercased, other characters as '-',
/// at most 20) and 8 random hex digits.
pub fn cluster_name(user: &str) -> String {
    let mut base: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(20)
        .collect();
    base = base.trim_matches('-').to_string();
    if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base = format!("u{base}");
    }
    format!("{base}-{}", crate::random_hex(4))
}

impl Gateway {
    pub fn new(
        config: GatewayConfig,
        db: Db,
        backend: Arc<dyn Backend>,
        auth: Arc<dyn Authenticator>,
    ) -> Gateway {
        Gateway {
            public_url: config.public_url(),
            base_path: config.base_path(),
            internal_url: config.internal_url(),
            config,
            db,
            backend,
            auth,
            locks: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            starting: Mutex::new(HashSet::new()),
            groups: Mutex::new(HashMap::new()),
        }
    }

    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    fn user_lock(&self, user: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.locks)
            .entry(user.to_string())
            .or_default()
            .clone()
    }

    pub fn limits(&self, user: &User) -> Limits {
        Limits::for_user(
            &self.config.quotas.default,
            &self.config.quotas.groups,
            &user.groups,
        )
    }

    /// Limits of a cluster's owner, for requests not of theirs (the scaler callback,
    /// an admin's): the groups they had when last seen, else those the record kept.
    fn limits_of(&self, r: &ClusterRecord) -> Limits {
        let groups = lock(&self.groups)
            .get(&r.user)
            .cloned()
            .unwrap_or_else(|| r.groups.clone());
        Limits::for_user(
            &self.config.quotas.default,
            &self.config.quotas.groups,
            &groups,
        )
    }

    /// Remembers a user's groups (for quotas applied without a request of theirs).
    pub fn saw_user(&self, user: &User) {
        lock(&self.groups).insert(user.name.clone(), user.groups.clone());
    }

    pub fn spec(&self, r: &ClusterRecord) -> ClusterSpec {
        ClusterSpec {
            name: r.name.clone(),
            user: r.user.clone(),
            token: r.token.clone(),
            options: r.options.clone(),
            scaler_url: format!(
                "{}/api/v1/internal/clusters/{}/workers",
                self.internal_url, r.name
            ),
            dashboard_prefix: format!("{}/clusters/{}", self.base_path, r.name),
        }
    }

    fn sizes(&self, user: &str) -> Result<Vec<ClusterSize>> {
        Ok(self.db.active(Some(user))?.iter().map(size_of).collect())
    }

    /// The record, if `user` may see it.
    pub fn owned(&self, user: &User, name: &str) -> Result<ClusterRecord> {
        let r = self
            .db
            .get(name)?
            .ok_or_else(|| GatewayError::NotFound(format!("no cluster named {name}")))?;
        if r.user != user.name && !user.admin {
            return Err(GatewayError::Forbidden(format!(
                "cluster {name} belongs to another user; {} may only use their own",
                user.name
            )));
        }
        Ok(r)
    }

    /// The API's view of a cluster; the token only for its owner.
    pub fn view(&self, r: &ClusterRecord, viewer: &User) -> Value {
        let live = lock(&self.live).get(&r.name).cloned();
        let running = r.status == Status::Running;
        let workers = match (&live, running) {
            (
                Some(Live {
                    workers: Some(n), ..
                }),
                true,
            ) => *n,
            (_, true) => r.workers.len() as u64,
            _ => 0,
        };
        let desired = live
            .as_ref()
            .and_then(|l| l.desired)
            .filter(|_| running)
            .unwrap_or(r.desired_workers);
        json!({
            "name": r.name,
            "user": r.user,
            "status": r.status.as_str(),
            "reason": r.reason,
            "backend": r.backend,
            "scheduler_address": r.scheduler.as_ref().map(|s| s.address.clone()).filter(|_| r.status.is_active()),
            "dashboard_link": format!("{}/clusters/{}/status", self.public_url, r.name),
            "token": if viewer.name == r.user { Some(r.token.clone()) } else { None },
            "options": r.options,
            "workers": workers,
            "desired_workers": desired,
            "adapt": r.adapt,
            "created": r.created,
        })
    }

    /// Refreshes the live worker count of a running cluster (for `GET`), quickly.
    pub async fn refresh(&self, r: &ClusterRecord) {
        if r.status != Status::Running {
            return;
        }
        if let Some(client) = self.client(r).await
            && let Ok(Ok(info)) =
                tokio::time::timeout(Duration::from_secs(2), client.cluster_info()).await
        {
            let mut live = lock(&self.live);
            if let Some(l) = live.get_mut(&r.name) {
                l.workers = Some(info.workers.iter().filter(|w| !w.retiring).count() as u64);
                l.desired = Some(info.desired_workers as u64);
                if info.graphs_running > 0 {
                    l.busy_at = Instant::now();
                }
            }
        }
    }

    /// A client of the cluster's scheduler (connected once, then shared).
    pub(crate) async fn client(&self, r: &ClusterRecord) -> Option<Client> {
        if let Some(c) = lock(&self.live).get(&r.name).and_then(|l| l.client.clone()) {
            return Some(c);
        }
        let address = r.scheduler.as_ref()?.address.clone();
        let client = Client::connect_with_token(&address, Some(&r.token), SCHEDULER_TIMEOUT)
            .await
            .ok()?;
        lock(&self.live)
            .entry(r.name.clone())
            .or_insert_with(|| Live {
                client: None,
                busy_at: Instant::now(),
                workers: None,
                desired: None,
            })
            .client = Some(client.clone());
        Some(client)
    }

    // ------------------------------------------------------------ create

    /// Creates a cluster and returns once its scheduler runs (its workers join by
    /// themselves).
    pub async fn create(
        &self,
        user: &User,
        options: &Value,
        workers: u64,
    ) -> Result<ClusterRecord> {
        self.saw_user(user);
        let options = crate::options::resolve(&self.config.options, options)
            .map_err(|e| GatewayError::BadRequest(format!("cluster options: {e}")))?;
        let mut token = [0u8; 32];
        crate::random_bytes(&mut token)?;
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let record = {
            let user_lock = self.user_lock(&user.name);
            let _guard = user_lock.lock().await;
            let name = cluster_name(&user.name);
            let planned = ClusterSize {
                name: name.clone(),
                workers,
                threads: options.worker_threads as u64,
                memory: options.worker_memory,
            };
            quota::check(
                &self.limits(user),
                &user.name,
                &self.sizes(&user.name)?,
                &planned,
            )?;
            let t = now();
            let record = ClusterRecord {
                name,
                user: user.name.clone(),
                token,
                backend: self.backend.name().to_string(),
                options,
                status: Status::Pending,
                reason: None,
                scheduler: None,
                workers: vec![],
                desired_workers: workers,
                adapt: None,
                groups: user.groups.clone(),
                created: t,
                updated: t,
            };
            self.db.insert(&record)?;
            lock(&self.starting).insert(record.name.clone());
            record
        };
        let result = self.launch(record).await;
        if let Err(e) = &result {
            tracing::warn!("{e}");
        }
        result
    }

    async fn launch(&self, record: ClusterRecord) -> Result<ClusterRecord> {
        let name = record.name.clone();
        let spec = self.spec(&record);
        let started = self
            .backend
            .start_scheduler(&spec, self.config.start_timeout)
            .await;
        lock(&self.starting).remove(&name);
        let user_lock = self.user_lock(&record.user);
        let guard = user_lock.lock().await;
        let mut r = self
            .db
            .get(&name)?
            .ok_or_else(|| GatewayError::Internal(format!("cluster {name} vanished")))?;
        let scheduler = match started {
            Err(error) => {
                if r.status == Status::Pending {
                    r.status = Status::Failed;
                    r.reason = Some(format!("the scheduler did not start: {error}"));
                    self.db.update(&mut r)?;
                }
                return Err(GatewayError::Launch {
                    cluster: name,
                    error,
                });
            }
            Ok(s) => s,
        };
        if r.status != Status::Pending {
            // Stopped while starting: stop what was started.
            drop(guard);
            let _ = self.backend.stop_cluster(&spec, &scheduler, &[]).await;
            return self
                .db
                .get(&name)?
                .ok_or_else(|| GatewayError::Internal(format!("cluster {name} vanished")));
        }
        r.status = Status::Running;
        r.scheduler = Some(scheduler.clone());
        lock(&self.live).insert(
            name.clone(),
            Live {
                client: None,
                busy_at: Instant::now(),
                workers: Some(0),
                desired: Some(r.desired_workers),
            },
        );
        self.db.update(&mut r)?;
        drop(guard);
        // The first workers are asked of the scheduler, like any later scale, so that
        // it counts them as starting: a scale right after create then starts only the
        // difference. (It calls back for them once the user's lock is free.)
        if r.desired_workers > 0 {
            let n = r.desired_workers;
            let asked = match self.client(&r).await {
                Some(client) => client.scale(n as usize).await,
                None => Err(kaon_client::ClientError::Protocol(
                    "the new scheduler does not answer".into(),
                )),
            };
            match asked {
                Ok(reply) => {
                    if let Some(l) = lock(&self.live).get_mut(&name) {
                        l.desired = Some(reply.desired as u64);
                    }
                }
                Err(kaon_client::ClientError::Rpc(s))
                    if s.code() == tonic::Code::FailedPrecondition =>
                {
                    self.scale_directly(&r, n).await?;
                }
                Err(e) => {
                    tracing::warn!("cluster {name}: cannot start its first workers: {e}");
                    r.reason = Some(format!("its first workers did not start: {e}"));
                    self.db.update(&mut r)?;
                }
            }
        } else {
            // Connect now, so the first request need not wait for it.
            let _ = self.client(&r).await;
        }
        Ok(self.db.get(&name)?.unwrap_or(r))
    }

    // ------------------------------------------------------------ stop

    /// Stops a cluster (its owner's or an admin's request, or the gateway's own
    /// with `reason`).
    pub async fn stop(&self, name: &str, reason: String) -> Result<ClusterRecord> {
        let Some(r) = self.db.get(name)? else {
            return Err(GatewayError::NotFound(format!("no cluster named {name}")));
        };
        let user_lock = self.user_lock(&r.user);
        let guard = user_lock.lock().await;
        let Some(mut r) = self.db.get(name)? else {
            return Err(GatewayError::NotFound(format!("no cluster named {name}")));
        };
        if r.status == Status::Stopped {
            return Ok(r);
        }
        let was_failed = r.status == Status::Failed;
        r.status = Status::Stopping;
        if !was_failed {
            r.reason = Some(reason.clone());
        }
        self.db.update(&mut r)?;
        drop(guard);
        let spec = self.spec(&r);
        let handles: Vec<WorkerHandle> = r.workers.iter().map(|w| w.handle.clone()).collect();
        let stopped = match &r.scheduler {
            Some(s) => self.backend.stop_cluster(&spec, s, &handles).await,
            None => self.backend.stop_workers(&spec, &handles).await,
        };
        lock(&self.live).remove(name);
        let user_lock = self.user_lock(&r.user);
        let _guard = user_lock.lock().await;
        let mut r = self.db.get(name)?.unwrap_or(r);
        r.status = Status::Stopped;
        r.workers.clear();
        if let Err(e) = stopped {
            r.reason = Some(format!(
                "{}; stopping it failed: {e}",
                r.reason.clone().unwrap_or(reason)
            ));
        }
        self.db.update(&mut r)?;
        tracing::info!(cluster = name, "stopped");
        Ok(r)
    }

    // ------------------------------------------------------------ scale and adapt

    fn running(&self, r: &ClusterRecord) -> Result<()> {
        if r.status != Status::Running {
            return Err(GatewayError::Conflict(format!(
                "cluster {} is {}{}",
                r.name,
                r.status.as_str(),
                r.reason
                    .as_ref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Sets the number of workers: the scheduler starts more through the scaler
    /// callback, or retires the surplus after moving their results.
    pub async fn scale(&self, user: &User, name: &str, n: u64) -> Result<ClusterRecord> {
        self.saw_user(user);
        let r = {
            let user_lock = self.user_lock(&self.owned(user, name)?.user);
            let _guard = user_lock.lock().await;
            let mut r = self.owned(user, name)?;
            self.running(&r)?;
            let planned = ClusterSize {
                workers: n,
                ..size_of(&r)
            };
            let owner_limits = if r.user == user.name {
                self.limits(user)
            } else {
                self.limits_of(&r)
            };
            quota::check(&owner_limits, &r.user, &self.sizes(&r.user)?, &planned)?;
            r.desired_workers = n;
            r.adapt = None;
            if r.user == user.name {
                r.groups = user.groups.clone();
            }
            self.db.update(&mut r)?;
            r
        };
        let client = self.client(&r).await.ok_or_else(|| {
            GatewayError::Scheduler(format!("cannot reach the scheduler of cluster {name}"))
        })?;
        match client.scale(n as usize).await {
            Ok(reply) => {
                if let Some(l) = lock(&self.live).get_mut(name) {
                    l.desired = Some(reply.desired as u64);
                    l.workers = Some(reply.workers as u64);
                }
            }
            Err(kaon_client::ClientError::Rpc(s))
                if s.code() == tonic::Code::FailedPrecondition =>
            {
                // A scheduler without the scaler callback: the gateway sizes it.
                self.scale_directly(&r, n).await?;
            }
            Err(e) => {
                return Err(GatewayError::Scheduler(format!(
                    "the scheduler of cluster {name} refused to scale to {n}: {e}"
                )));
            }
        }
        Ok(self.db.get(name)?.unwrap_or(r))
    }

    async fn scale_directly(&self, r: &ClusterRecord, n: u64) -> Result<()> {
        let have = r.workers.len() as u64;
        if n > have {
            self.add_workers(&r.name, n - have).await.map(|_| ())
        } else {
            let user_lock = self.user_lock(&r.user);
            let guard = user_lock.lock().await;
            let Some(mut cur) = self.db.get(&r.name)? else {
                return Ok(());
            };
            let keep = (n as usize).min(cur.workers.len());
            let surplus: Vec<WorkerHandle> = cur.workers.drain(keep..).map(|w| w.handle).collect();
            self.db.update(&mut cur)?;
            drop(guard);
            self.backend
                .stop_workers(&self.spec(&cur), &surplus)
                .await
                .map_err(|error| GatewayError::Launch {
                    cluster: cur.name.clone(),
                    error,
                })
        }
    }

    /// Adaptive scaling between `range` (or off with `None`); the maximum must fit
    /// the quotas.
    pub async fn adapt(
        &self,
        user: &User,
        name: &str,
        range: Option<(u64, u64)>,
    ) -> Result<ClusterRecord> {
        self.saw_user(user);
        if let Some((min, max)) = range
            && min > max
        {
            return Err(GatewayError::BadRequest(format!(
                "adapt: minimum {min} is larger than maximum {max}"
            )));
        }
        let r = {
            let user_lock = self.user_lock(&self.owned(user, name)?.user);
            let _guard = user_lock.lock().await;
            let mut r = self.owned(user, name)?;
            self.running(&r)?;
            if let Some((_, max)) = range {
                let planned = ClusterSize {
                    workers: max,
                    ..size_of(&r)
                };
                let owner_limits = if r.user == user.name {
                    self.limits(user)
                } else {
                    self.limits_of(&r)
                };
                quota::check(&owner_limits, &r.user, &self.sizes(&r.user)?, &planned)?;
            }
            r.adapt = range.map(|(minimum, maximum)| AdaptRange { minimum, maximum });
            if r.user == user.name {
                r.groups = user.groups.clone();
            }
            self.db.update(&mut r)?;
            r
        };
        let client = self.client(&r).await.ok_or_else(|| {
            GatewayError::Scheduler(format!("cannot reach the scheduler of cluster {name}"))
        })?;
        let reply = client
            .adapt(range.map(|(a, b)| (a as usize, b as usize)))
            .await
            .map_err(|e| match e {
                kaon_client::ClientError::Rpc(s) if s.code() == tonic::Code::InvalidArgument => {
                    GatewayError::BadRequest(format!("adapt: {}", s.message()))
                }
                e => GatewayError::Scheduler(format!(
                    "the scheduler of cluster {name} refused to adapt: {e}"
                )),
            })?;
        if let Some(l) = lock(&self.live).get_mut(name) {
            l.desired = Some(reply.desired as u64);
        }
        Ok(r)
    }

    /// The scaler callback: starts up to `n` more workers within the owner's
    /// quotas; returns how many started, and the limit that stopped the rest.
    pub async fn add_workers(&self, name: &str, n: u64) -> Result<(u64, Option<QuotaError>)> {
        let Some(r) = self.db.get(name)? else {
            return Err(GatewayError::NotFound(format!("no cluster named {name}")));
        };
        let user_lock = self.user_lock(&r.user);
        let _guard = user_lock.lock().await;
        let Some(mut r) = self.db.get(name)? else {
            return Err(GatewayError::NotFound(format!("no cluster named {name}")));
        };
        self.running(&r)?;
        let (allowed, refused) = quota::allowed_more(
            &self.limits_of(&r),
            &r.user,
            &self.sizes(&r.user)?,
            &size_of(&r),
            n,
        );
        if allowed > 0 {
            let spec = self.spec(&r);
            let scheduler = r.scheduler.clone().ok_or_else(|| {
                GatewayError::Internal(format!("cluster {name} runs without a scheduler handle"))
            })?;
            let started = self
                .backend
                .start_workers(&spec, &scheduler, allowed as usize)
                .await
                .map_err(|error| GatewayError::Launch {
                    cluster: name.to_string(),
                    error,
                })?;
            track(&mut r, started);
            self.db.update(&mut r)?;
        }
        Ok((allowed, refused))
    }

    // ------------------------------------------------------------ restart

    /// After a restart: reconnects to running clusters, fails those whose jobs
    /// vanished, and finishes interrupted starts and stops.
    pub async fn recover(&self) -> Result<()> {
        for r in self.db.active(None)? {
            match r.status {
                Status::Pending => {
                    let mut r = r;
                    r.status = Status::Failed;
                    r.reason = Some("the gateway restarted while the cluster was starting".into());
                    self.db.update(&mut r)?;
                }
                Status::Stopping => {
                    let reason = r.reason.clone().unwrap_or_else(|| "stopped".into());
                    self.stop(&r.name, reason).await?;
                }
                _ => {
                    lock(&self.live).insert(
                        r.name.clone(),
                        Live {
                            client: None,
                            busy_at: Instant::now(),
                            workers: None,
                            desired: None,
                        },
                    );
                    crate::reconcile::reconcile_cluster(self, &r).await;
                    if let Some(cur) = self.db.get(&r.name)?
                        && cur.status == Status::Running
                        && self.client(&cur).await.is_some()
                    {
                        tracing::info!(cluster = r.name, "reconnected");
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether this process is starting the cluster's scheduler now.
    pub fn is_starting(&self, name: &str) -> bool {
        lock(&self.starting).contains(name)
    }

    /// Marks a cluster failed (the reconcile loop's finding) and stops what remains.
    pub async fn fail(&self, name: &str, reason: String) -> Result<()> {
        let Some(r) = self.db.get(name)? else {
            return Ok(());
        };
        let user_lock = self.user_lock(&r.user);
        let guard = user_lock.lock().await;
        let Some(mut r) = self.db.get(name)? else {
            return Ok(());
        };
        if !r.status.is_active() || r.status == Status::Stopping {
            return Ok(());
        }
        tracing::warn!(cluster = name, "failed: {reason}");
        r.status = Status::Failed;
        r.reason = Some(reason);
        let workers: Vec<WorkerHandle> = r.workers.drain(..).map(|w| w.handle).collect();
        self.db.update(&mut r)?;
        drop(guard);
        lock(&self.live).remove(name);
        let spec = self.spec(&r);
        let _ = match &r.scheduler {
            Some(s) => self.backend.stop_cluster(&spec, s, &workers).await,
            None => self.backend.stop_workers(&spec, &workers).await,
        };
        Ok(())
    }

    /// Applies the reconcile loop's findings about workers: marks `joined` ones,
    /// forgets `gone` ones and returns the handles to stop.
    pub(crate) async fn drop_workers(
        &self,
        name: &str,
        joined: &HashSet<String>,
        gone: &HashSet<String>,
    ) -> Result<(ClusterSpec, Vec<WorkerHandle>)> {
        let Some(r) = self.db.get(name)? else {
            return Err(GatewayError::NotFound(name.into()));
        };
        let user_lock = self.user_lock(&r.user);
        let _guard = user_lock.lock().await;
        let Some(mut r) = self.db.get(name)? else {
            return Err(GatewayError::NotFound(name.into()));
        };
        let mut dropped = vec![];
        let mut changed = false;
        r.workers.retain(|w| {
            if gone.contains(&w.handle.name) {
                dropped.push(w.handle.clone());
                changed = true;
                false
            } else {
                true
            }
        });
        for w in &mut r.workers {
            if !w.joined && joined.contains(&w.handle.name) {
                w.joined = true;
                changed = true;
            }
        }
        if changed && r.status == Status::Running {
            self.db.update(&mut r)?;
        }
        Ok((self.spec(&r), dropped))
    }
}

fn track(r: &mut ClusterRecord, started: Vec<WorkerHandle>) {
    let t = now();
    r.workers
        .extend(started.into_iter().map(|handle| TrackedWorker {
            handle,
            started: t,
            joined: false,
        }));
}

fn size_of(r: &ClusterRecord) -> ClusterSize {
    ClusterSize {
        name: r.name.clone(),
        workers: r.workers.len() as u64,
        threads: r.options.worker_threads as u64,
        memory: r.options.worker_memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_safe() {
        for user in ["alice", "Bob.Smith@cern.ch", "9lives", "---", "ünï"] {
            let n = cluster_name(user);
            assert!(n.len() <= 30, "{n}");
            assert!(n.starts_with(|c: char| c.is_ascii_lowercase()), "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
        }
        assert!(cluster_name("alice").starts_with("alice-"));
    }
}
