//! The Slurm backend against a real single-node Slurm (Debian's slurm-wlm and munge,
//! installed and started by tests/gateway/slurm/start.sh, stopped by its pids at the
//! end even when the test fails), driven directly with the real `kaon` binary
//! (target/debug/kaon: `cargo build -p kaon-cli` first).
//!
//! One test function on purpose: the Slurm daemons are started once and stopped by a
//! guard that is sure to drop; the phases run in order on the same Slurm.

use kaon_gateway::backend::slurm::{SlurmBackend, SlurmConfig};
use kaon_gateway::backend::{
    Backend, ClusterOptions, ClusterSpec, JobState, LaunchError, SchedulerHandle, WorkerHandle,
};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{Slurm, kaon_binary, seed_reference, survives_a_cancelled_worker_job};

impl Slurm {
    fn config(&self, work_dir: &Path) -> SlurmConfig {
        SlurmConfig {
            sbatch: self.bin.join("sbatch").display().to_string(),
            squeue: self.bin.join("squeue").display().to_string(),
            scancel: self.bin.join("scancel").display().to_string(),
            kaon: kaon_binary("scheduler", &["--address-file", "--scaler-url"])
                .display()
                .to_string(),
            work_dir: Some(work_dir.to_path_buf()),
            // Small jobs, so that the scheduler and three workers fit on two cores.
            scheduler_memory: 256 << 20,
            prologue: "export KAON_LOG=info".into(),
            ..SlurmConfig::default()
        }
    }

    /// `squeue` lines `id|state|name` of the jobs still queued or running.
    fn active_jobs(&self) -> Vec<String> {
        let out = Command::new("squeue")
            .env("SLURM_CONF", self.conf())
            .args(["-h", "-t", "PENDING,RUNNING,CONFIGURING", "-o", "%i|%T|%j"])
            .output()
            .expect("run squeue");
        assert!(out.status.success(), "squeue: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn cluster_spec(name: &str, scaler_url: &str) -> ClusterSpec {
    ClusterSpec {
        name: name.into(),
        user: "alice".into(),
        token: format!("secret-of-{name}-0123456789abcdef"),
        options: ClusterOptions {
            worker_threads: 1,
            worker_memory: 512 << 20,
            image: None,
            environment: BTreeMap::from([("KAON_TEST_VAR".to_string(), "it's here".to_string())]),
            idle_timeout: 0,
        },
        scaler_url: scaler_url.into(),
        dashboard_prefix: format!("/clusters/{name}"),
    }
}

fn job_id(job: &serde_json::Value) -> String {
    job["job_id"].as_str().expect("a job id").to_string()
}

/// The gateway's part in a backend-level test: the scaler callback starts workers
/// through the backend and records them.
#[derive(Clone)]
struct Callback {
    backend: Arc<SlurmBackend>,
    spec: Arc<ClusterSpec>,
    scheduler: Arc<Mutex<Option<SchedulerHandle>>>,
    started: Arc<Mutex<Vec<WorkerHandle>>>,
    calls: Arc<Mutex<Vec<u64>>>,
}

async fn scaler_callback(
    axum::extract::State(cb): axum::extract::State<Callback>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> (axum::http::StatusCode, String) {
    let expected = format!("Bearer {}", cb.spec.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (axum::http::StatusCode::FORBIDDEN, "bad token".into());
    }
    let n = body["n"].as_u64().unwrap_or(0);
    cb.calls.lock().unwrap().push(n);
    let Some(scheduler) = cb.scheduler.lock().unwrap().clone() else {
        return (axum::http::StatusCode::CONFLICT, "no scheduler yet".into());
    };
    match cb
        .backend
        .start_workers(&cb.spec, &scheduler, n as usize)
        .await
    {
        Ok(handles) => {
            cb.started.lock().unwrap().extend(handles);
            (axum::http::StatusCode::OK, "{}".into())
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

async fn wait_for_workers(client: &kaon_client::Client, n: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let info = client.cluster_info().await.expect("cluster info");
        let live: Vec<String> = info
            .workers
            .iter()
            .filter(|w| !w.retiring)
            .map(|w| w.name.clone())
            .collect();
        if info.workers.len() == n {
            return live;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster has workers {:?}, expected {n}",
            info.workers.iter().map(|w| &w.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_jobs_run_a_cluster_that_scales_and_survives_a_cancelled_worker() {
    let t0 = Instant::now();
    let slurm = Slurm::start();
    let work = tempfile::tempdir().unwrap();
    let backend = Arc::new(SlurmBackend::new(slurm.config(work.path())).expect("slurm backend"));
    assert_eq!(backend.name(), "slurm");

    // The scaler callback, as the gateway serves it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let name = "alice-5107a001";
    let spec = Arc::new(cluster_spec(
        name,
        &format!("http://127.0.0.1:{port}/api/v1/internal/clusters/{name}/workers"),
    ));
    let cb = Callback {
        backend: backend.clone(),
        spec: spec.clone(),
        scheduler: Arc::default(),
        started: Arc::default(),
        calls: Arc::default(),
    };
    let app = axum::Router::new()
        .route(
            "/api/v1/internal/clusters/{name}/workers",
            axum::routing::post(scaler_callback),
        )
        .with_state(cb.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The scheduler job: it listens once its address file is there.
    let scheduler = backend
        .start_scheduler(&spec, 30)
        .await
        .expect("the scheduler job starts");
    *cb.scheduler.lock().unwrap() = Some(scheduler.clone());
    let sched_job = job_id(&scheduler.job);
    assert!(!scheduler.address.starts_with("0.0.0.0"), "{scheduler:?}");
    let dir = work.path().join(name);
    let mode = std::fs::metadata(dir.join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the token file is the owner's alone");
    let script = std::fs::read_to_string(dir.join("scheduler.sh")).unwrap();
    assert!(
        !script.contains(&spec.token),
        "the job script holds no token"
    );
    assert!(
        script.contains("export KAON_TEST_VAR='it'\\''s here'"),
        "{script}"
    );
    println!(
        "[{:.1?}] scheduler job {sched_job} at {}",
        t0.elapsed(),
        scheduler.address
    );

    let client = kaon_client::Client::connect_with_token(
        &scheduler.address,
        Some(&spec.token),
        Duration::from_secs(10),
    )
    .await
    .expect("connect to the scheduler with the cluster's token");

    // Two worker jobs.
    let workers = backend
        .start_workers(&spec, &scheduler, 2)
        .await
        .expect("worker jobs start");
    assert_eq!(workers.len(), 2);
    assert_ne!(workers[0].name, workers[1].name);
    let mut joined = wait_for_workers(&client, 2, Duration::from_secs(30)).await;
    joined.sort();
    let mut names: Vec<String> = workers.iter().map(|w| w.name.clone()).collect();
    names.sort();
    assert_eq!(joined, names, "workers register under their handles' names");
    let (s, w) = backend.check(&spec, &scheduler, &workers).await.unwrap();
    assert_eq!((s, w), (JobState::Running, vec![JobState::Running; 2]));
    println!("[{:.1?}] 2 worker jobs joined", t0.elapsed());

    // The token appears on no command line (ps shows every user's).
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ps.stdout).contains(&spec.token),
        "the token is visible in ps"
    );

    // The seed expression, checked against a direct computation.
    let (shape, chunks) = ([60u64, 50, 4], [7u64, 20, 3]);
    let z = kaon_client::seed_expression(&shape, &chunks).unwrap();
    let got = client
        .compute(&[&z], |_| {})
        .await
        .expect("compute on Slurm workers");
    let got: Vec<f64> = got[0].iter().copied().collect();
    let want = seed_reference(shape, chunks);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "element {i}: {g} vs {w}"
        );
    }
    println!("[{:.1?}] seed expression computed", t0.elapsed());

    // A worker job cancelled by hand mid-computation: the answer still comes, and the
    // scheduler asks the gateway (its scaler callback) for a replacement job.
    client
        .scale(2)
        .await
        .expect("scale(2) sets the size to keep");
    let victim = job_id(&workers[0].job);
    survives_a_cancelled_worker_job(&client, &slurm, &victim).await;
    println!(
        "[{:.1?}] computed through scancel of job {victim}",
        t0.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while cb.started.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the scheduler did not ask for a replacement worker (callback calls: {:?})",
            cb.calls.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_workers(&client, 2, Duration::from_secs(30)).await;
    let (_, w) = backend.check(&spec, &scheduler, &workers).await.unwrap();
    assert!(
        matches!(&w[0], JobState::Gone(r) if r.contains(&victim)),
        "the cancelled job is gone: {w:?}"
    );
    println!("[{:.1?}] replacement joined", t0.elapsed());

    // Scale down: the scheduler retires one worker, which exits; its job is then
    // stopped and leaves squeue.
    let mut all: Vec<WorkerHandle> = workers[1..].to_vec();
    all.extend(cb.started.lock().unwrap().iter().cloned());
    client.scale(1).await.expect("scale(1)");
    let remaining = wait_for_workers(&client, 1, Duration::from_secs(30)).await;
    let (retired, kept): (Vec<WorkerHandle>, Vec<WorkerHandle>) =
        all.into_iter().partition(|w| !remaining.contains(&w.name));
    assert_eq!(
        (retired.len(), kept.len()),
        (1, 1),
        "remaining {remaining:?}"
    );
    backend
        .stop_workers(&spec, &retired)
        .await
        .expect("stop the retired worker's job");
    let retired_job = job_id(&retired[0].job);
    let deadline = Instant::now() + Duration::from_secs(10);
    while slurm
        .active_jobs()
        .iter()
        .any(|l| l.starts_with(&format!("{retired_job}|")))
    {
        assert!(
            Instant::now() < deadline,
            "job {retired_job} is still in squeue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, w) = backend
        .check(&spec, &scheduler, &[retired[0].clone(), kept[0].clone()])
        .await
        .unwrap();
    assert_eq!(s, JobState::Running);
    assert!(matches!(w[0], JobState::Gone(_)), "{w:?}");
    assert_eq!(w[1], JobState::Running);
    println!("[{:.1?}] scaled down to 1", t0.elapsed());

    // Stopping the cluster leaves no job and no files.
    drop(client);
    let mut every: Vec<WorkerHandle> = workers.clone();
    every.extend(cb.started.lock().unwrap().iter().cloned());
    backend
        .stop_cluster(&spec, &scheduler, &every)
        .await
        .expect("stop the cluster");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = slurm.active_jobs();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs left after stop_cluster: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!dir.exists(), "the cluster's folder is removed");
    let (s, _) = backend.check(&spec, &scheduler, &[]).await.unwrap();
    assert!(matches!(s, JobState::Gone(_)), "{s:?}");
    println!("[{:.1?}] cluster stopped", t0.elapsed());

    // Start failures carry Slurm's own words.
    // 1. A job that fails at once: its state and the end of its output.
    let broken = SlurmBackend::new(SlurmConfig {
        kaon: "/nonexistent/kaon".into(),
        ..slurm.config(work.path())
    })
    .unwrap();
    let err = broken
        .start_scheduler(&cluster_spec("alice-broken1", "http://127.0.0.1:1/x"), 20)
        .await
        .expect_err("a scheduler that cannot run");
    let msg = err.to_string();
    assert!(matches!(err, LaunchError::Failed { .. }), "{msg}");
    assert!(
        msg.contains("alice-broken1") && msg.contains("FAILED"),
        "{msg}"
    );
    assert!(
        msg.contains("/nonexistent/kaon"),
        "the job's output is quoted: {msg}"
    );
    println!("[{:.1?}] failing job: {msg}", t0.elapsed());

    // 2. A job that cannot start in time: a timeout with its pending reason, and the
    //    job is cancelled.
    let late = SlurmBackend::new(SlurmConfig {
        scheduler_args: vec!["--begin=now+1hour".into()],
        ..slurm.config(work.path())
    })
    .unwrap();
    let err = late
        .start_scheduler(&cluster_spec("alice-late1", "http://127.0.0.1:1/x"), 2)
        .await
        .expect_err("a scheduler job that stays pending");
    let msg = err.to_string();
    assert!(
        matches!(err, LaunchError::Timeout { seconds: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("PENDING") && msg.contains("BeginTime"),
        "{msg}"
    );
    assert!(slurm.active_jobs().is_empty(), "the late job was cancelled");

    // 3. sbatch refusing the job: its stderr.
    let refused = SlurmBackend::new(SlurmConfig {
        partition: Some("nosuchpartition".into()),
        ..slurm.config(work.path())
    })
    .unwrap();
    let err = refused
        .start_scheduler(&cluster_spec("alice-refused1", "http://127.0.0.1:1/x"), 5)
        .await
        .expect_err("sbatch refuses an unknown partition");
    let msg = err.to_string();
    assert!(
        msg.contains("sbatch") && msg.to_lowercase().contains("invalid partition"),
        "{msg}"
    );
    println!("[{:.1?}] done", t0.elapsed());
}
