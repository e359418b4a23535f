//! The Slurm backend: a cluster's scheduler and each of its workers run as batch jobs
//! submitted with `sbatch`, tracked with `squeue` and stopped with `scancel`.
//!
//! Every cluster gets a folder `work_dir/NAME` (mode 0700) on a file system shared by
//! the gateway's host and the compute nodes. It holds the cluster's token (mode 0600:
//! jobs read it into `KAON_TOKEN`, so it never shows in `ps` or `squeue`), the
//! address file the scheduler writes once it listens, and the jobs' output files,
//! whose last lines go into the error when a job ends before its scheduler listens.
//! All jobs of a cluster share the job name `kaon-NAME`, so that stopping a cluster
//! also catches a job whose id the gateway never recorded.

use super::{
    Backend, BoxFuture, ClusterSpec, JobState, LaunchError, SchedulerHandle, WorkerHandle,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BACKEND: &str = "slurm";

/// How long one `sbatch`, `squeue` or `scancel` may take: a controller that does not
/// answer gives an error instead of hanging the gateway.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a starting scheduler's address file and job state are looked at.
const POLL: Duration = Duration::from_millis(200);

/// Lines of a job's output quoted in an error.
const TAIL_LINES: usize = 20;

/// The `[slurm]` section of the gateway's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmConfig {
    /// The `sbatch` command (a name looked up on `PATH`, or a path).
    pub sbatch: String,
    /// The `squeue` command.
    pub squeue: String,
    /// The `scancel` command.
    pub scancel: String,
    /// The `kaon` executable as the compute nodes see it (a path, or a name found on
    /// the `PATH` the job's prologue sets up).
    pub kaon: String,
    /// Folder for the clusters' files (token, address file, job output). It must be on
    /// a file system the compute nodes share with the gateway's host. Default:
    /// `$HOME/.kaon-gateway/slurm`.
    pub work_dir: Option<PathBuf>,
    /// `sbatch --partition`.
    pub partition: Option<String>,
    /// `sbatch --account`.
    pub account: Option<String>,
    /// `sbatch --qos`.
    pub qos: Option<String>,
    /// `sbatch --time` of every job, e.g. `8:00:00` (default: the partition's limit).
    pub time_limit: Option<String>,
    /// Cores of the scheduler's job (`--cpus-per-task`).
    pub scheduler_cpus: u32,
    /// Memory of the scheduler's job in bytes (`--mem`).
    pub scheduler_memory: u64,
    /// Extra `sbatch` arguments for every job, e.g. `["--constraint=haswell"]`.
    pub extra_args: Vec<String>,
    /// Extra `sbatch` arguments for the scheduler's job only.
    pub scheduler_args: Vec<String>,
    /// Extra `sbatch` arguments for worker jobs only, e.g. `["--exclusive"]`.
    pub worker_args: Vec<String>,
    /// `sbatch --export`: which of the gateway's environment variables the jobs get.
    /// `NONE` (the default) keeps the gateway's own secrets out of users' jobs.
    pub export: String,
    /// Shell lines run at the start of every job, before `kaon` starts, e.g.
    /// `module load kaon` or `source /opt/kaon/env.sh`.
    pub prologue: String,
    /// Shell line that selects the software environment a user asked for with the
    /// `image` option; `{image}` is replaced by the (shell-quoted) name, e.g.
    /// `conda activate {image}` or `module load {image}`. Without it, `image` is
    /// ignored.
    pub image_prologue: Option<String>,
    /// Shell command printing the name other nodes reach a job's node by: workers
    /// serve their data there and the scheduler's address uses it.
    pub host_command: String,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            sbatch: "sbatch".into(),
            squeue: "squeue".into(),
            scancel: "scancel".into(),
            kaon: "kaon".into(),
            work_dir: None,
            partition: None,
            account: None,
            qos: None,
            time_limit: None,
            scheduler_cpus: 1,
            scheduler_memory: 2 << 30,
            extra_args: vec![],
            scheduler_args: vec![],
            worker_args: vec![],
            export: "NONE".into(),
            prologue: String::new(),
            image_prologue: None,
            host_command: "hostname -f 2>/dev/null || hostname".into(),
        }
    }
}

/// Launches clusters as Slurm jobs.
pub struct SlurmBackend {
    config: SlurmConfig,
    work_dir: PathBuf,
}

/// The job behind a scheduler or worker handle (`SchedulerHandle::job`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, Deserialize)]
struct JobRef {
    job_id: String,
}

impl SlurmBackend {
    /// Checks the configuration, finds the Slurm commands and creates the work folder.
    pub fn new(config: SlurmConfig) -> Result<SlurmBackend, String> {
        for (what, command) in [
            ("sbatch", &config.sbatch),
            ("squeue", &config.squeue),
            ("scancel", &config.scancel),
        ] {
            if find_command(command).is_none() {
                return Err(format!(
                    "slurm backend: the {what} command {command:?} is not found (on PATH: {}); \
                     install Slurm's client commands or set slurm.{what} to its path",
                    std::env::var("PATH").unwrap_or_default()
                ));
            }
        }
        if config.kaon.trim().is_empty() {
            return Err("slurm backend: slurm.kaon (the kaon executable) is empty".into());
        }
        if config.scheduler_cpus == 0 {
            return Err("slurm backend: slurm.scheduler_cpus must be at least 1".into());
        }
        if config.host_command.trim().is_empty() {
            return Err("slurm backend: slurm.host_command is empty".into());
        }
        let work_dir = match &config.work_dir {
            Some(d) => d.clone(),
            None => {
                let home = std::env::var_os("HOME").ok_or(
                    "slurm backend: set slurm.work_dir (a folder the compute nodes share); \
                     HOME is not set to default to",
                )?;
                PathBuf::from(home).join(".kaon-gateway").join("slurm")
            }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&work_dir)
            .map_err(|e| {
                format!(
                    "slurm backend: cannot create the work folder {}: {e}",
                    work_dir.display()
                )
            })?;
        Ok(SlurmBackend { config, work_dir })
    }

    /// The folder of one cluster's files.
    fn cluster_dir(&self, spec: &ClusterSpec) -> Result<PathBuf, LaunchError> {
        // The name becomes a path and a job name: refuse anything that could escape.
        let ok = !spec.name.is_empty()
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !spec.name.starts_with('.');
        if !ok {
            return Err(failed(
                spec,
                format!("the cluster name {:?} is not a safe file name", spec.name),
            ));
        }
        Ok(self.work_dir.join(&spec.name))
    }

    fn job_name(spec: &ClusterSpec) -> String {
        format!("kaon-{}", spec.name)
    }

    /// Creates the cluster's folder (0700) and writes its token file (0600).
    fn prepare_dir(&self, spec: &ClusterSpec) -> Result<PathBuf, LaunchError> {
        let dir = self.cluster_dir(spec)?;
        let io = |what: &str, e: std::io::Error| {
            failed(spec, format!("cannot {what} in {}: {e}", dir.display()))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io("create the cluster's folder", e))?;
        // A folder left by an earlier cluster of the same name keeps its mode: make sure.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restrict the cluster's folder", e))?;
        let token_path = dir.join("token");
        let _ = std::fs::remove_file(&token_path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&token_path)
            .map_err(|e| io("write the token file", e))?;
        f.write_all(spec.token.as_bytes())
            .map_err(|e| io("write the token file", e))?;
        Ok(dir)
    }

    /// The shell lines every job starts with: environment set-up and the token.
    fn script_head(
        &self,
        spec: &ClusterSpec,
        dir: &Path,
        role: &str,
    ) -> Result<String, LaunchError> {
        let mut s = String::new();
        s.push_str("#!/bin/bash\n");
        s.push_str(&format!(
            "# Kaon {role} of cluster {} (user {}), submitted by kaon gateway.\n",
            one_line(&spec.name),
            one_line(&spec.user)
        ));
        // Files the job creates (spill, logs) are the gateway user's alone.
        s.push_str("umask 077\n");
        if !self.config.prologue.trim().is_empty() {
            s.push_str(&self.config.prologue);
            s.push('\n');
        }
        if let Some(image) = &spec.options.image {
            match &self.config.image_prologue {
                Some(template) => {
                    s.push_str(&template.replace("{image}", &shell_quote(image)));
                    s.push('\n');
                }
                None => tracing::debug!(
                    cluster = %spec.name,
                    image,
                    "slurm.image_prologue is not set: the image option is ignored"
                ),
            }
        }
        for (key, value) in &spec.options.environment {
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(failed(
                    spec,
                    format!("the environment variable name {key:?} is not valid"),
                ));
            }
            s.push_str(&format!("export {key}={}\n", shell_quote(value)));
        }
        // Read from a 0600 file rather than passed as an argument: command lines are
        // visible to every user of the node (ps) and of the cluster (squeue).
        s.push_str(&format!(
            "KAON_TOKEN=$(cat {}) || exit 1\nexport KAON_TOKEN\n",
            shell_quote(&dir.join("token").to_string_lossy())
        ));
        s.push_str(&format!(
            "KAON_NODE_HOST=$({})\n",
            self.config.host_command.trim()
        ));
        Ok(s)
    }

    /// The `sbatch` arguments shared by all jobs of a cluster.
    fn common_args(&self, spec: &ClusterSpec, dir: &Path, output: &str) -> Vec<String> {
        let c = &self.config;
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", Self::job_name(spec)),
            format!("--chdir={}", dir.display()),
            format!("--output={}", dir.join(output).display()),
            format!("--export={}", c.export),
            "--nodes=1".into(),
            "--ntasks=1".into(),
        ];
        if let Some(p) = &c.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(a) = &c.account {
            args.push(format!("--account={a}"));
        }
        if let Some(q) = &c.qos {
            args.push(format!("--qos={q}"));
        }
        if let Some(t) = &c.time_limit {
            args.push(format!("--time={t}"));
        }
        args.extend(c.extra_args.iter().cloned());
        args
    }

    /// Writes a job script (0700), replacing the file atomically: a concurrent
    /// `sbatch` of the same script reads either version whole.
    fn write_script(
        &self,
        spec: &ClusterSpec,
        path: &Path,
        script: &str,
    ) -> Result<(), LaunchError> {
        let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), unique()));
        write_private(&tmp, script, 0o700)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                failed(
                    spec,
                    format!("cannot write the job script {}: {e}", path.display()),
                )
            })
    }

    /// Submits a job script; returns the job id.
    async fn submit(
        &self,
        spec: &ClusterSpec,
        path: &Path,
        args: Vec<String>,
    ) -> Result<String, LaunchError> {
        let mut args = args;
        args.push(path.display().to_string());
        let out = run(&self.config.sbatch, &args)
            .await
            .map_err(|e| failed(spec, e))?;
        if !out.status.success() {
            return Err(failed(
                spec,
                format!(
                    "sbatch {} failed ({}): {}",
                    path.display(),
                    out.status,
                    out.stderr.trim()
                ),
            ));
        }
        // --parsable prints "jobid" or "jobid;cluster".
        let id = out
            .stdout
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(failed(
                spec,
                format!(
                    "sbatch printed no job id: stdout {:?}, stderr {:?}",
                    out.stdout.trim(),
                    out.stderr.trim()
                ),
            ));
        }
        Ok(id)
    }

    /// The states of these jobs, by id; jobs squeue no longer knows are missing.
    async fn job_states(
        &self,
        spec: &ClusterSpec,
        ids: &[&str],
    ) -> Result<HashMap<String, (String, String)>, LaunchError> {
        let mut states = HashMap::new();
        if ids.is_empty() {
            return Ok(states);
        }
        let args = vec![
            "--noheader".to_string(),
            "--states=all".into(),
            "--format=%i|%T|%r".into(),
            format!("--jobs={}", ids.join(",")),
        ];
        let out = run(&self.config.squeue, &args)
            .await
            .map_err(|e| failed(spec, e))?;
        if !out.status.success() {
            // When none of the jobs is known any more squeue says so and fails.
            if out.stderr.contains("Invalid job id") {
                return Ok(states);
            }
            return Err(failed(
                spec,
                format!("squeue failed ({}): {}", out.status, out.stderr.trim()),
            ));
        }
        for line in out.stdout.lines() {
            let mut parts = line.trim().splitn(3, '|');
            let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
                continue;
            };
            let reason = parts.next().unwrap_or("").trim().to_string();
            states.insert(id.trim().to_string(), (state.trim().to_string(), reason));
        }
        Ok(states)
    }

    async fn cancel(&self, spec: &ClusterSpec, args: Vec<String>) -> Result<(), LaunchError> {
        let out = run(&self.config.scancel, &args)
            .await
            .map_err(|e| failed(spec, e))?;
        // Jobs that already ended are what we wanted anyway.
        let benign = out.stderr.lines().all(|l| {
            l.trim().is_empty()
                || l.contains("Invalid job id")
                || l.contains("already completing or completed")
        });
        if !out.status.success() && !benign {
            return Err(failed(
                spec,
                format!(
                    "scancel {} failed ({}): {}",
                    args.join(" "),
                    out.status,
                    out.stderr.trim()
                ),
            ));
        }
        Ok(())
    }

    async fn start_scheduler_job(
        &self,
        spec: &ClusterSpec,
        start_timeout: u64,
    ) -> Result<SchedulerHandle, LaunchError> {
        let dir = self.prepare_dir(spec)?;
        let address_file = dir.join("scheduler.json");
        let host_file = dir.join("scheduler.host");
        // A file from an earlier run of the same cluster would look like success.
        let _ = std::fs::remove_file(&address_file);
        let _ = std::fs::remove_file(&host_file);

        let mut script = self.script_head(spec, &dir, "scheduler")?;
        script.push_str(&format!(
            "printf '%s\\n' \"$KAON_NODE_HOST\" > {}\n",
            shell_quote(&host_file.to_string_lossy())
        ));
        // exec: scancel's SIGTERM reaches the scheduler itself, which stops cleanly.
        script.push_str(&format!(
            "exec {} scheduler --host 0.0.0.0 --port 0 --dashboard-port 0 \
             --scaler-url {} --dashboard-prefix {} --address-file {}\n",
            shell_quote(&self.config.kaon),
            shell_quote(&spec.scaler_url),
            shell_quote(&spec.dashboard_prefix),
            shell_quote(&address_file.to_string_lossy()),
        ));
        let mut args = self.common_args(spec, &dir, "scheduler-%j.out");
        args.push(format!("--cpus-per-task={}", self.config.scheduler_cpus));
        args.push(format!(
            "--mem={}M",
            mebibytes(self.config.scheduler_memory)
        ));
        args.extend(self.config.scheduler_args.iter().cloned());
        let script_path = dir.join("scheduler.sh");
        self.write_script(spec, &script_path, &script)?;
        let job_id = self.submit(spec, &script_path, args).await?;
        let output = dir.join(format!("scheduler-{job_id}.out"));
        tracing::info!(cluster = %spec.name, job_id, "scheduler job submitted");

        let deadline = Instant::now() + Duration::from_secs(start_timeout);
        let handle = |address, dashboard, job_id: &str| SchedulerHandle {
            address,
            dashboard,
            job: serde_json::json!(JobRef {
                job_id: job_id.to_string()
            }),
        };
        // The job's folder keeps its output for diagnosis after a failed start, but
        // not the secret.
        let forget_token = || {
            let _ = std::fs::remove_file(dir.join("token"));
        };
        loop {
            if let Some((address, dashboard)) = read_address_file(&address_file, &host_file) {
                return Ok(handle(address, dashboard, &job_id));
            }
            let now = match self.job_states(spec, &[&job_id]).await {
                Ok(states) => match states.get(&job_id) {
                    Some((state, reason)) if !is_gone(state) => describe_state(state, reason),
                    gone => {
                        // It may have written the file just before it ended.
                        if let Some((address, dashboard)) =
                            read_address_file(&address_file, &host_file)
                        {
                            return Ok(handle(address, dashboard, &job_id));
                        }
                        forget_token();
                        let state = match gone {
                            Some((s, r)) => describe_state(s, r),
                            None => "no longer in squeue".into(),
                        };
                        return Err(failed(
                            spec,
                            format!(
                                "the scheduler job {job_id} ended before its scheduler \
                                 listened: {state}{}",
                                output_tail(&output)
                            ),
                        ));
                    }
                },
                // A controller that is busy for a moment is no reason to give up yet.
                Err(e) => format!("in an unknown state ({e})"),
            };
            if Instant::now() >= deadline {
                let _ = self.cancel(spec, vec![job_id.clone()]).await;
                forget_token();
                return Err(LaunchError::Timeout {
                    backend: BACKEND,
                    seconds: start_timeout,
                    reason: format!(
                        "cluster {}: the scheduler job {job_id} was still {now} (cancelled it){}",
                        spec.name,
                        output_tail(&output)
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn start_worker_jobs(
        &self,
        spec: &ClusterSpec,
        scheduler: &SchedulerHandle,
        n: usize,
    ) -> Result<Vec<WorkerHandle>, LaunchError> {
        let dir = self.cluster_dir(spec)?;
        if !dir.join("token").exists() {
            // After a gateway restart the folder is still there; if it is not, the
            // cluster was stopped (or its files removed) and workers could not join.
            self.prepare_dir(spec)?;
        }
        let threads = spec.options.worker_threads.max(1);
        let mut script = self.script_head(spec, &dir, "worker")?;
        // The job id names the worker: unique, and known to the gateway from sbatch.
        script.push_str(&format!(
            "exec {} worker {} --name \"worker-$SLURM_JOB_ID\" --nthreads {threads} \
             --memory-limit {} --host \"$KAON_NODE_HOST\"\n",
            shell_quote(&self.config.kaon),
            shell_quote(&scheduler.address),
            spec.options.worker_memory,
        ));
        let script_path = dir.join("worker.sh");
        self.write_script(spec, &script_path, &script)?;
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let mut args = self.common_args(spec, &dir, "worker-%j.out");
            args.push(format!("--cpus-per-task={threads}"));
            args.push(format!("--mem={}M", mebibytes(spec.options.worker_memory)));
            args.extend(self.config.worker_args.iter().cloned());
            match self.submit(spec, &script_path, args).await {
                Ok(job_id) => handles.push(WorkerHandle {
                    name: format!("worker-{job_id}"),
                    job: serde_json::json!(JobRef { job_id }),
                }),
                Err(e) => {
                    // Do not leave jobs the caller never hears of.
                    let ids: Vec<String> =
                        handles.iter().filter_map(|h| job_id_of(&h.job)).collect();
                    if !ids.is_empty() {
                        let _ = self.cancel(spec, ids).await;
                    }
                    return Err(e);
                }
            }
        }
        tracing::info!(cluster = %spec.name, n, "worker jobs submitted");
        Ok(handles)
    }

    async fn stop_all(
        &self,
        spec: &ClusterSpec,
        scheduler: &SchedulerHandle,
        workers: &[WorkerHandle],
    ) -> Result<(), LaunchError> {
        let mut ids: Vec<String> = workers.iter().filter_map(|w| job_id_of(&w.job)).collect();
        ids.extend(job_id_of(&scheduler.job));
        if !ids.is_empty() {
            self.cancel(spec, ids).await?;
        }
        // Jobs the gateway submitted but never recorded (it stopped in between) carry
        // the cluster's job name too; only this user's jobs.
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        self.cancel(
            spec,
            vec![
                format!("--name={}", Self::job_name(spec)),
                format!("--user={uid}"),
            ],
        )
        .await?;
        let dir = self.cluster_dir(spec)?;
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(failed(
                spec,
                format!("cannot remove the cluster's folder {}: {e}", dir.display()),
            ));
        }
        Ok(())
    }

    async fn check_jobs(
        &self,
        spec: &ClusterSpec,
        scheduler: &SchedulerHandle,
        workers: &[WorkerHandle],
    ) -> Result<(JobState, Vec<JobState>), LaunchError> {
        let scheduler_id = job_id_of(&scheduler.job);
        let worker_ids: Vec<Option<String>> = workers.iter().map(|w| job_id_of(&w.job)).collect();
        let mut ids: Vec<&str> = worker_ids.iter().flatten().map(String::as_str).collect();
        ids.extend(scheduler_id.as_deref());
        let states = self.job_states(spec, &ids).await?;
        let state_of = |id: &Option<String>| match id {
            None => JobState::Gone("the handle holds no Slurm job id".into()),
            Some(id) => match states.get(id) {
                None => JobState::Gone(format!("job {id} is no longer in squeue")),
                Some((state, reason)) => job_state(id, state, reason),
            },
        };
        Ok((
            state_of(&scheduler_id),
            worker_ids.iter().map(state_of).collect(),
        ))
    }
}

impl Backend for SlurmBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn start_scheduler<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        start_timeout: u64,
    ) -> BoxFuture<'a, Result<SchedulerHandle, LaunchError>> {
        Box::pin(self.start_scheduler_job(spec, start_timeout))
    }

    fn start_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<WorkerHandle>, LaunchError>> {
        Box::pin(self.start_worker_jobs(spec, scheduler, n))
    }

    fn stop_workers<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(async move {
            let ids: Vec<String> = workers.iter().filter_map(|w| job_id_of(&w.job)).collect();
            if ids.is_empty() {
                return Ok(());
            }
            self.cancel(spec, ids).await
        })
    }

    fn stop_cluster<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(), LaunchError>> {
        Box::pin(self.stop_all(spec, scheduler, workers))
    }

    fn check<'a>(
        &'a self,
        spec: &'a ClusterSpec,
        scheduler: &'a SchedulerHandle,
        workers: &'a [WorkerHandle],
    ) -> BoxFuture<'a, Result<(JobState, Vec<JobState>), LaunchError>> {
        Box::pin(self.check_jobs(spec, scheduler, workers))
    }
}

fn failed(spec: &ClusterSpec, message: String) -> LaunchError {
    LaunchError::Failed {
        backend: BACKEND,
        message: format!("cluster {}: {message}", spec.name),
    }
}

fn job_id_of(job: &serde_json::Value) -> Option<String> {
    serde_json::from_value::<JobRef>(job.clone())
        .ok()
        .map(|j| j.job_id)
}

/// Whether a Slurm job state (squeue `%T`) means the job no longer runs.
fn is_gone(state: &str) -> bool {
    matches!(
        state,
        "BOOT_FAIL"
            | "CANCELLED"
            | "COMPLETED"
            | "COMPLETING"
            | "DEADLINE"
            | "FAILED"
            | "NODE_FAIL"
            | "OUT_OF_MEMORY"
            | "PREEMPTED"
            | "REVOKED"
            | "SPECIAL_EXIT"
            | "TIMEOUT"
    )
}

fn job_state(id: &str, state: &str, reason: &str) -> JobState {
    if is_gone(state) {
        JobState::Gone(format!("job {id} {}", describe_state(state, reason)))
    } else if state == "RUNNING" {
        JobState::Running
    } else {
        // PENDING, CONFIGURING, REQUEUED, SUSPENDED...: may still run.
        JobState::Pending
    }
}

fn describe_state(state: &str, reason: &str) -> String {
    if reason.is_empty() || reason == "None" {
        state.to_string()
    } else {
        format!("{state} ({reason})")
    }
}

/// The scheduler's `(address, dashboard)` once its address file is complete; a
/// wildcard host is replaced by the node name the job wrote.
fn read_address_file(path: &Path, host_file: &Path) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct AddressFile {
        address: String,
        dashboard: String,
    }
    let text = std::fs::read_to_string(path).ok()?;
    let parsed: AddressFile = serde_json::from_str(&text).ok()?;
    let node = std::fs::read_to_string(host_file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let fix = |a: String| -> String {
        let Some((host, port)) = a.rsplit_once(':') else {
            return a;
        };
        let wildcard = matches!(host, "0.0.0.0" | "[::]" | "::" | "");
        match &node {
            Some(n) if wildcard => format!("{n}:{port}"),
            _ => a,
        }
    };
    Some((fix(parsed.address), fix(parsed.dashboard)))
}

/// The last lines of a job's output file, for an error message.
fn output_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
            if tail.trim().is_empty() {
                format!("; its output {} is empty", path.display())
            } else {
                format!("; the end of its output {}:\n{tail}", path.display())
            }
        }
        Err(e) => format!("; no output in {} ({e})", path.display()),
    }
}

struct Output {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs a Slurm command with a time limit; the error names the command.
async fn run(program: &str, args: &[String]) -> Result<Output, String> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(COMMAND_TIMEOUT, command.output()).await {
        Err(_) => Err(format!(
            "{program} {} did not answer within {} s",
            args.join(" "),
            COMMAND_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("cannot run {program}: {e}")),
        Ok(Ok(out)) => Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
    }
}

/// A path, or a name on `PATH`, that is an existing file.
fn find_command(command: &str) -> Option<PathBuf> {
    if command.contains('/') {
        let p = PathBuf::from(command);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(command))
        .find(|p| p.is_file())
}

/// Writes a file readable by its owner only (replacing an older one).
fn write_private(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// A number unique within this process (for temporary file names).
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Quotes a word for bash: single quotes, with embedded ones closed and escaped.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Text for a comment line: no line breaks that would end the comment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Bytes to whole mebibytes for `--mem`, rounded up, at least 1.
fn mebibytes(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn job_states_map_to_pending_running_gone() {
        assert_eq!(job_state("1", "PENDING", "Resources"), JobState::Pending);
        assert_eq!(job_state("1", "RUNNING", "None"), JobState::Running);
        assert_eq!(
            job_state("7", "FAILED", "NonZeroExitCode"),
            JobState::Gone("job 7 FAILED (NonZeroExitCode)".into())
        );
        assert_eq!(
            job_state("7", "CANCELLED", "None"),
            JobState::Gone("job 7 CANCELLED".into())
        );
    }

    #[test]
    fn wildcard_hosts_in_the_address_file_become_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let (a, h) = (dir.path().join("a.json"), dir.path().join("host"));
        assert_eq!(read_address_file(&a, &h), None);
        std::fs::write(&a, r#"{"address": "0.0.0.0:4000", "dash"#).unwrap();
        assert_eq!(
            read_address_file(&a, &h),
            None,
            "half a file is not an address"
        );
        std::fs::write(
            &a,
            r#"{"address": "0.0.0.0:4000", "dashboard": "node7:4001"}"#,
        )
        .unwrap();
        std::fs::write(&h, "node7.cluster\n").unwrap();
        assert_eq!(
            read_address_file(&a, &h),
            Some(("node7.cluster:4000".into(), "node7:4001".into()))
        );
    }

    #[test]
    fn memory_rounds_up_to_mebibytes() {
        assert_eq!(mebibytes(0), 1);
        assert_eq!(mebibytes(1 << 20), 1);
        assert_eq!(mebibytes((1 << 20) + 1), 2);
    }
}
