//! The local backend: a cluster's scheduler and workers as `kaon` processes on
//! this host, each in its own process group with a log in the cluster's work
//! directory; tracked by pid and start time (so a restarted gateway finds them
//! again and never signals a recycled pid), stopped with SIGTERM, then SIGKILL.

use super::{
    Backend, BoxFuture, ClusterSpec, JobState, LaunchError, SchedulerHandle, WorkerHandle,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "local";

/// How the local backend runs `kaon`.
#[derive(Clone, Debug)]
pub struct LocalSettings {
    /// The `kaon` binary.
    pub kaon: PathBuf,
    /// Each cluster gets `work_dir/<cluster name>/` for logs and spilled data.
    pub work_dir: PathBuf,
    /// The interface schedulers and workers listen on.
    pub host: String,
}

/// A process this backend started, as stored in the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Job {
    pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    start_time: u64,
    log: PathBuf,
}

/// What `kaon scheduler` supports (older builds lack the gateway's flags).
#[derive(Clone, Copy, Debug)]
struct SchedulerFlags {
    scaler_url: bool,
    address_file: bool,
}

pub struct LocalBackend {
    settings: LocalSettings,
    flags: tokio::sync::OnceCell<SchedulerFlags>,
    /// Exit statuses of children that ended, by pid (children are reaped by a task
    /// each, so none stays a zombie).
    exited: Arc<Mutex<HashMap<u32, String>>>,
    /// Children not reaped yet.
    unreaped: Arc<Mutex<std::collections::HashSet<u32>>>,
}

impl LocalBackend {
    pub fn new(settings: LocalSettings) -> Result<LocalBackend, String> {
        if !settings.kaon.is_file() {
            return Err(format!(
                "local backend: the kaon binary {} does not exist (set local.kaon)",
                settings.kaon.display()
            ));
        }
        std::fs::create_dir_all(&settings.work_dir).map_err(|e| {
            format!(
                "local backend: cannot create the work directory {}: {e}",
                settings.work_dir.display()
            )
        })?;
        Ok(LocalBackend {
            settings,
            flags: tokio::sync::OnceCell::new(),
            exited: Arc::new(Mutex::new(HashMap::new())),
            unreaped: Arc::new(Mutex::new(std::collections::HashSet::new())),
        })
    }

    async fn flags(&self) -> SchedulerFlags {
        *self
            .flags
            .get_or_init(|| async {
                let probe = tokio::process::Command::new(&self.settings.kaon)
                    .args(["scheduler", "--help"])
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .output();
                let help = match tokio::time::timeout(Duration::from_secs(5), probe).await {
                    Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).into_owned(),
                    _ => String::new(),
                };
                SchedulerFlags {
                    scaler_url: help.contains("--scaler-url"),
                    address_file: help.contains("--address-file"),
                }
            })
            .await
    }

    fn cluster_dir(&self, cluster: &str) -> PathBuf {
        self.settings.work_dir.join(cluster)
    }

    /// Starts `kaon ARGS` in its own process group, output to `log`, with the
    /// cluster's token and environment; a task reaps it when it ends.
    fn spawn(&self, spec: &ClusterSpec, args: &[String], log: &Path) -> Result<Job, String> {
        let out = std::fs::File::create(log)
            .map_err(|e| format!("cannot create the log {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let mut cmd = tokio::process::Command::new(&self.settings.kaon);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(false);
        // The gateway's own KAON_* settings are not the cluster's.
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str()
                && k.starts_with("KAON_")
                && k != "KAON_LOG"
            {
                cmd.env_remove(k);
            }
        }
        cmd.envs(&spec.options.environment);
        // The token goes by environment, so it does not show in `ps`.
        cmd.env("KAON_TOKEN", &spec.token);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.settings.kaon.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| "the process ended before its pid was known".to_string())?;
        let start_time = proc_stat(pid).map_or(0, |s| s.start_time);
        let exited = self.exited.clone();
        let unreaped = self.unreaped.clone();
        unreaped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid);
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => describe_exit(s),
                Err(e) => format!("unknown exit ({e})"),
            };
            let mut exited = exited.lock().unwrap_or_else(|e| e.into_inner());
            if exited.len() > 10_000 {
                exited.clear();
            }
            exited.insert(pid, status);
            drop(exited);
            unreaped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&pid);
        });
        Ok(Job {
            pid,
            start_time,
            log: log.to_path_buf(),
        })
    }

    fn state(&self, job: &Job) -> JobState {
        // A child of ours that ended a moment ago is reported once its exit status
        // is known.
        let unreaped = || {
            self.unreaped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&job.pid)
        };
        if alive(job) || unreaped() {
            return JobState::Running;
        }
        let how = self
            .exited
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&job.pid)
            .cloned()
            .unwrap_or_else(|| "ended".to_string());
        JobState::Gone(format!(
            "process {} {how}{}",
            job.pid,
            log_tail_suffix(&job.log)
        ))
    }
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

/// What `/proc/PID/stat` says about a process.
struct ProcStat {
    state: char,
    start_time: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past its
    // last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Whether the job's process still runs (same pid *and* start time, not a zombie).
fn alive(job: &Job) -> bool {
    proc_stat(job.pid).is_some_and(|s| {
        (job.start_time == 0 || s.start_time == job.start_time) && !matches!(s.state, 'Z' | 'X')
    })
}

/// Signals the job's process group, if the job is still that process.
fn signal(job: &Job, sig: i32) {
    if alive(job) && job.pid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory
        // is involved.
        unsafe {
            libc::kill(-(job.pid as i32), sig);
        }
    }
}

/// SIGTERM, up to `grace` to exit, then SIGKILL.
async fn terminate(jobs: &[Job], grace: Duration) {
    for j in jobs {
        signal(j, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while jobs.iter().any(alive) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for j in jobs {
        signal(j, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while jobs.iter().any(alive) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The last lines of a log, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let start = text.len().saturating_sub(4096);
    let text = String::from_utf8_lossy(&text[start..]);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn log_tail_suffix(path: &Path) -> String {
    let tail = log_tail(path, 8);
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last lines of {}:\n{tail}", path.display())
    }
}

fn job_of(value: &serde_json::Value) -> Result<Job, LaunchError> {
    serde_json::from_value(value.clone()).map_err(|e| LaunchError::Failed {
        backend: NAME,
        message: format!("not a local job handle ({e}): {value}"),
    })
}

fn failed(message: String) -> LaunchError {
    LaunchError::Failed {
        backend: NAME,
        message,
    }
}

/// The address file `kaon scheduler --address-file` writes once it listens.
#[derive(Deserialize)]
struct AddressFile {
    address: String,
    dashboard: String,
}

/// `host:port` of the lines `Scheduler at ADDR` and `Dashboard at http://HOST:PORT/...`
/// that `kaon scheduler` prints (for builds without `--address-file`).
fn addresses_from_log(log: &str) -> Option<(String, String)> {
    let mut address = None;
    let mut dashboard = None;
    for line in log.lines() {
        if let Some(a) = line.trim().strip_prefix("Scheduler at ") {
            address = Some(a.trim().to_string());
        }
        if let Some(d) = line.trim().strip_prefix("Dashboard at ") {
            let d = d.trim();
            let d = d.split_once("://").map_or(d, |(_, r)| r);
            dashboard = Some(d.split('/').next().unwrap_or(d).to_string());
        }
    }
    Some((address?, dashboard?))
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start_scheduler<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        start_timeout: u64,
    ) -> BoxFuture<'a, Result<SchedulerHandle, LaunchError>> {
        Box::pin(async move {
            let flags = self.flags().await;
            let dir = self.cluster_dir(&spec.name);
            std::fs::create_dir_all(&dir).map_err(|e| {
                failed(format!(
                    "cannot create the cluster directory {}: {e}",
                    dir.display()
                ))
            })?;
            let log = dir.join("scheduler.log");
            let address_file = dir.join("scheduler.json");
            let _ = std::fs::remove_file(&address_file);
            let mut args: Vec<String> = vec![
                "scheduler".into(),
                "--host".into(),
                self.settings.host.clone(),
                "--port".into(),
                "0".into(),
                "--dashboard-port".into(),
                "0".into(),
                "--dashboard-prefix".into(),
                spec.dashboard_prefix.clone(),
            ];
            if flags.scaler_url {
                args.extend(["--scaler-url".into(), spec.scaler_url.clone()]);
            }
            if flags.address_file {
                args.extend([
                    "--address-file".into(),
                    address_file.to_string_lossy().into_owned(),
                ]);
            }
            let job = self.spawn(spec, &args, &log).map_err(failed)?;
            let deadline = Instant::now() + Duration::from_secs(start_timeout);
            loop {
                let found = if flags.address_file {
                    std::fs::read_to_string(&address_file)
                        .ok()
                        .and_then(|t| serde_json::from_str::<AddressFile>(&t).ok())
                        .map(|a| (a.address, a.dashboard))
                } else {
                    std::fs::read_to_string(&log)
                        .ok()
                        .and_then(|t| addresses_from_log(&t))
                };
                if let Some((address, dashboard)) = found {
                    return Ok(SchedulerHandle {
                        address,
                        dashboard,
                        job: serde_json::to_value(&job).map_err(|e| failed(e.to_string()))?,
                    });
                }
                if let JobState::Gone(reason) = self.state(&job) {
                    return Err(failed(format!("the scheduler did not start: {reason}")));
                }
                if Instant::now() >= deadline {
                    terminate(std::slice::from_ref(&job), Duration::from_secs(2)).await;
                    return Err(LaunchError::Timeout {
                        backend: NAME,
                        seconds: start_timeout,
                        reason: format!(
                            "process {} was still starting{}",
                            job.pid,
                            log_tail_suffix(&log)
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    }

    fn start_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<WorkerHandle>, LaunchError>> {
        Box::pin(async move {
            let dir = self.cluster_dir(&spec.name);
            std::fs::create_dir_all(&dir).map_err(|e| {
                failed(format!(
                    "cannot create the cluster directory {}: {e}",
                    dir.display()
                ))
            })?;
            let mut started = Vec::with_capacity(n);
            for _ in 0..n {
                let name = format!("{}-w{}", spec.name, crate::random_hex(4));
                let args: Vec<String> = vec![
                    "worker".into(),
                    scheduler.address.clone(),
                    "--name".into(),
                    name.clone(),
                    "--nthreads".into(),
                    spec.options.worker_threads.to_string(),
                    "--memory-limit".into(),
                    spec.options.worker_memory.to_string(),
                    "--host".into(),
                    self.settings.host.clone(),
                    "--spill-dir".into(),
                    dir.join(format!("{name}-spill"))
                        .to_string_lossy()
                        .into_owned(),
                ];
                match self.spawn(spec, &args, &dir.join(format!("{name}.log"))) {
                    Ok(job) => started.push(WorkerHandle {
                        name,
                        job: serde_json::to_value(&job).map_err(|e| failed(e.to_string()))?,
                    }),
                    Err(e) => {
                        // Do not leave half a request running.
                        let jobs: Vec<Job> = started
                            .iter()
                            .filter_map(|w: &WorkerHandle| job_of(&w.job).ok())
                            .collect();
                        terminate(&jobs, Duration::from_secs(2)).await;
                        return Err(failed(format!("cannot start worker {name}: {e}")));
                    }
                }
            }
            Ok(started)
        })
    }

    fn stop_workers<'a>(
        &'a self,
        _spec: &'a ClusterSpec,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(async move {
            let jobs = workers
                .iter()
                .map(|w| job_of(&w.job))
                .collect::<Result<Vec<_>, _>>()?;
            terminate(&jobs, Duration::from_secs(5)).await;
            Ok(())
        })
    }

    fn stop_cluster<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(async move {
            let mut jobs = Vec::with_capacity(workers.len() + 1);
            // A handle the gateway cannot read is skipped, not a reason to leave the rest.
            jobs.extend(workers.iter().filter_map(|w| job_of(&w.job).ok()));
            if let Ok(j) = job_of(&scheduler.job) {
                jobs.push(j);
            }
            terminate(&jobs, Duration::from_secs(5)).await;
            let dir = self.cluster_dir(&spec.name);
            if dir.starts_with(&self.settings.work_dir) && dir != self.settings.work_dir {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(())
        })
    }

    fn check<'a>(
        &'a self,
        _spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(JobState, Vec<JobState>), LaunchError>> {
        Box::pin(async move {
            let s = self.state(&job_of(&scheduler.job)?);
            let w = workers
                .iter()
                .map(|w| job_of(&w.job).map(|j| self.state(&j)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((s, w))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_the_schedulers_output() {
        let log =
            "Scheduler at 127.0.0.1:4000\nDashboard at http://127.0.0.1:4001/clusters/a/status\n";
        assert_eq!(
            addresses_from_log(log),
            Some(("127.0.0.1:4000".into(), "127.0.0.1:4001".into()))
        );
        assert_eq!(addresses_from_log("Scheduler at x\n"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id();
        let stat = proc_stat(me).unwrap();
        let job = Job {
            pid: me,
            start_time: stat.start_time,
            log: PathBuf::new(),
        };
        assert!(alive(&job));
        assert!(!alive(&Job {
            start_time: stat.start_time + 1,
            ..job.clone()
        }));
        assert!(!alive(&Job {
            pid: u32::MAX - 1,
            ..job
        }));
    }

    #[test]
    fn log_tails_keep_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.log");
        std::fs::write(&p, "a\nb\n\nc\nd\n").unwrap();
        assert_eq!(log_tail(&p, 2), "c\nd");
        assert_eq!(log_tail(&dir.path().join("none"), 2), "");
    }
}
