//! The reconcile loop: every few seconds, compares each running cluster's jobs
//! (the backend's view) with its scheduler's worker list, stops the jobs of
//! workers that retired or never joined, fails clusters whose scheduler is gone,
//! and stops clusters idle for longer than their idle timeout.

use crate::backend::JobState;
use crate::clusters::{Gateway, SCHEDULER_TIMEOUT};
use crate::db::{ClusterRecord, Status, TrackedWorker, now};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs until the gateway stops.
pub async fn run(gateway: Arc<Gateway>) {
    let period = Duration::from_secs_f64(gateway.config.reconcile_interval);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        reconcile_all(&gateway).await;
    }
}

/// One pass over all running clusters, a few at a time.
pub async fn reconcile_all(gateway: &Gateway) {
    let clusters = match gateway.db.active(None) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reconcile: {e}");
            return;
        }
    };
    use futures::StreamExt;
    futures::stream::iter(clusters.iter())
        .for_each_concurrent(8, |r| reconcile_cluster(gateway, r))
        .await;
}

/// Why a worker's job is to be stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leaving {
    /// It joined the scheduler and left it (retired, or lost: the scheduler asks
    /// for a replacement itself).
    Retired,
    /// It did not join within the start timeout.
    NeverJoined(u64),
    /// Its job ended, with the backend's reason.
    JobGone(String),
}

impl std::fmt::Display for Leaving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leaving::Retired => write!(f, "it left the scheduler"),
            Leaving::NeverJoined(s) => write!(f, "it did not join within {s} s"),
            Leaving::JobGone(reason) => write!(f, "its job ended: {reason}"),
        }
    }
}

/// Compares the gateway's worker jobs with the scheduler's workers (`connected`,
/// `None` when the scheduler did not answer) and the backend's job states: the
/// workers seen joined now, and those whose jobs are to be stopped, with why.
pub fn classify(
    workers: &[TrackedWorker],
    states: &[JobState],
    connected: Option<&HashSet<&str>>,
    now: f64,
    start_timeout: u64,
) -> (HashSet<String>, Vec<(String, Leaving)>) {
    let mut joined = HashSet::new();
    let mut gone = vec![];
    for (i, w) in workers.iter().enumerate() {
        let name = w.handle.name.as_str();
        if let Some(JobState::Gone(reason)) = states.get(i) {
            gone.push((name.to_string(), Leaving::JobGone(reason.clone())));
            continue;
        }
        let Some(connected) = connected else {
            continue;
        };
        if connected.contains(name) {
            joined.insert(name.to_string());
        } else if w.joined {
            gone.push((name.to_string(), Leaving::Retired));
        } else if now - w.started > start_timeout as f64 {
            gone.push((name.to_string(), Leaving::NeverJoined(start_timeout)));
        }
    }
    (joined, gone)
}

/// Reconciles one cluster (running ones; others are left to their operation).
pub async fn reconcile_cluster(gateway: &Gateway, r: &ClusterRecord) {
    if r.status != Status::Running {
        return;
    }
    let Some(scheduler) = r.scheduler.clone() else {
        return;
    };
    let spec = gateway.spec(r);
    let handles: Vec<_> = r.workers.iter().map(|w| w.handle.clone()).collect();
    let (scheduler_state, worker_states) =
        match gateway.backend.check(&spec, &scheduler, &handles).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(cluster = r.name, "cannot check its jobs: {e}");
                return;
            }
        };
    if let JobState::Gone(reason) = scheduler_state {
        let _ = gateway
            .fail(&r.name, format!("its scheduler's job is gone: {reason}"))
            .await;
        return;
    }
    // The scheduler's view: which workers are connected, is anything running.
    let info = match gateway.client(r).await {
        Some(c) => tokio::time::timeout(SCHEDULER_TIMEOUT, c.cluster_info())
            .await
            .ok()
            .and_then(|i| i.ok()),
        None => None,
    };
    let connected: Option<HashSet<&str>> = info
        .as_ref()
        .map(|i| i.workers.iter().map(|w| w.name.as_str()).collect());
    let (joined, gone) = classify(
        &r.workers,
        &worker_states,
        connected.as_ref(),
        now(),
        gateway.config.worker_start_timeout,
    );
    for (name, why) in &gone {
        if !matches!(why, Leaving::Retired) {
            tracing::warn!(cluster = r.name, worker = name, "stopping its job: {why}");
        }
    }
    let gone: HashSet<String> = gone.into_iter().map(|(n, _)| n).collect();
    if let Some(info) = &info {
        let mut live = gateway.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = live.get_mut(&r.name) {
            l.workers = Some(info.workers.iter().filter(|w| !w.retiring).count() as u64);
            l.desired = Some(info.desired_workers as u64);
            if info.graphs_running > 0 {
                l.busy_at = Instant::now();
            } else {
                // The scheduler knows when work last ran (also from before a
                // gateway restart).
                let idle = Duration::from_secs_f64(info.idle_seconds.clamp(0.0, 1e9));
                l.busy_at = Instant::now().checked_sub(idle).unwrap_or(l.busy_at);
            }
        }
    }
    if !joined.is_empty() || !gone.is_empty() {
        match gateway.drop_workers(&r.name, &joined, &gone).await {
            Ok((spec, stop)) if !stop.is_empty() => {
                if let Err(e) = gateway.backend.stop_workers(&spec, &stop).await {
                    tracing::warn!(cluster = r.name, "cannot stop worker jobs: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(cluster = r.name, "{e}"),
        }
    }
    // Idle timeout.
    let idle_timeout = r.options.idle_timeout;
    if idle_timeout > 0 && info.is_some() {
        let busy_at = gateway
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&r.name)
            .map(|l| l.busy_at);
        if let Some(busy_at) = busy_at
            && busy_at.elapsed() >= Duration::from_secs(idle_timeout)
        {
            let reason = format!("idle timeout: no work for {idle_timeout} s");
            tracing::info!(cluster = r.name, "{reason}");
            let _ = gateway.stop(&r.name, reason).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::WorkerHandle;

    fn worker(name: &str, started: f64, joined: bool) -> TrackedWorker {
        TrackedWorker {
            handle: WorkerHandle {
                name: name.into(),
                job: serde_json::Value::Null,
            },
            started,
            joined,
        }
    }

    #[test]
    fn workers_that_left_never_came_or_whose_jobs_ended_are_stopped() {
        let workers = vec![
            worker("in", 0.0, false),
            worker("retired", 0.0, true),
            worker("late", 0.0, false),
            worker("starting", 95.0, false),
            worker("dead", 99.0, false),
        ];
        let states = vec![
            JobState::Running,
            JobState::Running,
            JobState::Pending,
            JobState::Running,
            JobState::Gone("exited with status 1".into()),
        ];
        let connected: HashSet<&str> = ["in"].into_iter().collect();
        let (joined, gone) = classify(&workers, &states, Some(&connected), 100.0, 60);
        assert_eq!(joined, ["in".to_string()].into_iter().collect());
        assert_eq!(
            gone,
            vec![
                ("retired".to_string(), Leaving::Retired),
                ("late".to_string(), Leaving::NeverJoined(60)),
                (
                    "dead".to_string(),
                    Leaving::JobGone("exited with status 1".into())
                ),
            ]
        );
        // A scheduler that did not answer: only ended jobs are known to be gone.
        let (joined, gone) = classify(&workers, &states, None, 100.0, 60);
        assert!(joined.is_empty());
        assert_eq!(gone.len(), 1);
        assert!(gone[0].1.to_string().contains("status 1"));
    }
}
