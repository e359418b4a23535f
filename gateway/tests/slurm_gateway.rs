//! The whole path through a real `kaon gateway --backend slurm --auth simple` process
//! on a real single-node Slurm (Debian's slurm-wlm and munge, installed and started by
//! tests/gateway/slurm/start.sh, stopped by its pids at the end even when the test
//! fails): a user creates a cluster over the REST API, scales it to 2 worker jobs,
//! computes the seed expression with the cluster's token, survives a worker job killed
//! by `scancel` (the gateway submits a replacement), scales down (a worker job leaves
//! squeue) and deletes the cluster (no job of it is left).
//!
//! Needs target/debug/kaon (`cargo build -p kaon-cli` first). Fails, never skips, when
//! Slurm cannot start. One test function on purpose: Slurm is started once.

use serde_json::{Value, json};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "alice-pw";

mod common;

use common::{Slurm, free_port, kaon_binary, seed_reference, survives_a_cancelled_worker_job};

impl Slurm {
    /// The cluster's queued or running jobs, as (scheduler job ids, worker job ids),
    /// told apart by their batch scripts.
    fn jobs_of(&self, cluster: &str) -> (Vec<String>, Vec<String>) {
        let out = Command::new("squeue")
            .env("SLURM_CONF", self.conf())
            .args(["-h", "-t", "PENDING,RUNNING,CONFIGURING", "-o", "%i|%T|%o"])
            .arg(format!("--name=kaon-{cluster}"))
            .output()
            .expect("run squeue");
        assert!(out.status.success(), "squeue: {out:?}");
        let (mut scheduler, mut workers) = (vec![], vec![]);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let fields: Vec<&str> = line.trim().splitn(3, '|').collect();
            let [id, _state, command] = fields[..] else {
                panic!("unexpected squeue line {line:?}");
            };
            if command.ends_with("/scheduler.sh") {
                scheduler.push(id.to_string());
            } else if command.ends_with("/worker.sh") {
                workers.push(id.to_string());
            } else {
                panic!("a job of cluster {cluster} that is neither scheduler nor worker: {line}");
            }
        }
        workers.sort();
        (scheduler, workers)
    }
}

/// A `kaon gateway` process; killed when dropped (Slurm's guard then cancels the jobs
/// it left).
struct Gateway {
    child: Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Writes the configuration (user alice, the `[slurm]` section for `slurm`) and
    /// starts the gateway on a free port of 127.0.0.1.
    fn start(slurm: &Slurm, dir: &Path) -> Gateway {
        let kaon = kaon_binary("gateway", &["--backend", "--internal-url"]);
        let port = free_port();
        let hash = kaon_gateway::auth::hash_password(PASSWORD).expect("argon2 hash");
        let bin = |cmd: &str| slurm.bin.join(cmd).display().to_string();
        let config = format!(
            r#"bind = "127.0.0.1:{port}"
internal_url = "http://127.0.0.1:{port}"
auth = "simple"
backend = "slurm"
db = "{db}"
start_timeout = 30
worker_start_timeout = 30
reconcile_interval = 0.5

[options]
worker_threads = 1
worker_memory = "512MiB"

[slurm]
sbatch = "{sbatch}"
squeue = "{squeue}"
scancel = "{scancel}"
kaon = "{kaon}"
work_dir = "{work_dir}"
scheduler_memory = {scheduler_memory}
prologue = "export KAON_LOG=info"

[[simple.users]]
name = "alice"
password_hash = "{hash}"
admin = false
"#,
            db = dir.join("gateway.sqlite").display(),
            sbatch = bin("sbatch"),
            squeue = bin("squeue"),
            scancel = bin("scancel"),
            kaon = kaon.display(),
            work_dir = dir.join("clusters").display(),
            scheduler_memory = 256u64 << 20,
        );
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        let mut cmd = Command::new(&kaon);
        cmd.args([
            "gateway",
            "--backend",
            "slurm",
            "--auth",
            "simple",
            "--config",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KAON_GATEWAY_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd.spawn().expect("start kaon gateway");
        let stdout = child.stdout.take().unwrap();
        // Killed on drop, also when the first line below is not what it should be.
        let mut gateway = Gateway {
            child,
            url: String::new(),
        };
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Keep reading, so the gateway never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        gateway.url = line
            .trim()
            .strip_prefix("Gateway at ")
            .unwrap_or_else(|| panic!("unexpected first line from kaon gateway: {line:?}"))
            .to_string();
        gateway
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.url),
            )
            .basic_auth("alice", Some(PASSWORD))
            .timeout(Duration::from_secs(60));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn scale(&self, name: &str, n: u64) -> Value {
        let (status, c) = self
            .call(
                "POST",
                &format!("/clusters/{name}/scale"),
                Some(json!({"n": n})),
            )
            .await;
        assert_eq!(status, 200, "scale to {n}: {c}");
        c
    }

    async fn get(&self, name: &str) -> Value {
        let (status, c) = self.call("GET", &format!("/clusters/{name}"), None).await;
        assert_eq!(status, 200, "{c}");
        c
    }
}

/// Waits until the scheduler has `n` workers (none retiring), the gateway reports `n`,
/// and squeue shows the scheduler's job and exactly the `n` worker jobs of those
/// workers (named `worker-JOBID`). Returns the worker job ids, sorted.
async fn wait_for_workers(
    slurm: &Slurm,
    gateway: &Gateway,
    client: &kaon_client::Client,
    name: &str,
    n: usize,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let info = client.cluster_info().await.expect("cluster info");
        let mut joined: Vec<String> = info
            .workers
            .iter()
            .map(|w| w.name.trim_start_matches("worker-").to_string())
            .collect();
        joined.sort();
        let retiring = info.workers.iter().any(|w| w.retiring);
        let (scheduler, jobs) = slurm.jobs_of(name);
        let reported = gateway.get(name).await["workers"].as_u64();
        if joined.len() == n && !retiring && jobs == joined && reported == Some(n as u64) {
            assert_eq!(scheduler.len(), 1, "one scheduler job: {scheduler:?}");
            return jobs;
        }
        assert!(
            Instant::now() < deadline,
            "cluster {name}: expected {n} workers; the scheduler has {:?} (retiring: \
             {retiring}), squeue shows scheduler jobs {scheduler:?} and worker jobs \
             {jobs:?}, the gateway reports {reported:?}",
            info.workers.iter().map(|w| &w.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_on_slurm_creates_scales_computes_heals_and_deletes_a_cluster() {
    let t0 = Instant::now();
    // Declared first, dropped last: the gateway is killed before Slurm stops.
    let slurm = Slurm::start();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&slurm, dir.path());
    println!("[{:.1?}] slurm and gateway at {}", t0.elapsed(), gw.url);

    let (status, health) = gw.call("GET", "/health", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["backend"], "slurm", "{health}");
    assert_eq!(health["auth"], "simple", "{health}");

    // Create: answered once the scheduler's job runs and listens.
    let (status, c) = gw
        .call(
            "POST",
            "/clusters",
            Some(json!({"options": {"worker_threads": 1, "worker_memory": "512MiB"}})),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], "running", "{c}");
    assert_eq!(c["backend"], "slurm", "{c}");
    let name = c["name"].as_str().unwrap().to_string();
    let token = c["token"].as_str().expect("the owner gets the token");
    let address = c["scheduler_address"].as_str().unwrap().to_string();
    let (scheduler_jobs, worker_jobs) = slurm.jobs_of(&name);
    assert_eq!(
        (scheduler_jobs.len(), worker_jobs.len()),
        (1, 0),
        "{scheduler_jobs:?} {worker_jobs:?}"
    );
    println!(
        "[{:.1?}] cluster {name}: scheduler job {} at {address}",
        t0.elapsed(),
        scheduler_jobs[0]
    );

    // Scale to 2 through the gateway: two worker jobs join.
    let c = gw.scale(&name, 2).await;
    assert_eq!(c["desired_workers"], 2, "{c}");
    let client =
        kaon_client::Client::connect_with_token(&address, Some(token), Duration::from_secs(10))
            .await
            .expect("connect to the scheduler with the cluster's token");
    let first = wait_for_workers(&slurm, &gw, &client, &name, 2, Duration::from_secs(30)).await;
    println!("[{:.1?}] worker jobs {first:?} joined", t0.elapsed());

    // The seed expression, checked against a direct computation.
    let (shape, chunks) = ([60u64, 50, 4], [7u64, 20, 3]);
    let z = kaon_client::seed_expression(&shape, &chunks).unwrap();
    let got = client
        .compute(&[&z], |_| {})
        .await
        .expect("compute on Slurm workers");
    let got: Vec<f64> = got[0].iter().copied().collect();
    let want = seed_reference(shape, chunks);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "element {i}: {g} vs {w}"
        );
    }
    println!("[{:.1?}] seed expression computed", t0.elapsed());

    // A worker job cancelled by hand mid-computation: the answer still comes, the
    // same as undisturbed, and the gateway submits a replacement job.
    let victim = first[0].clone();
    survives_a_cancelled_worker_job(&client, &slurm, &victim).await;
    println!(
        "[{:.1?}] computed through scancel of job {victim}",
        t0.elapsed()
    );
    let healed = wait_for_workers(&slurm, &gw, &client, &name, 2, Duration::from_secs(30)).await;
    assert!(
        !healed.contains(&victim),
        "the cancelled job is gone: {healed:?}"
    );
    assert!(
        healed.iter().any(|j| !first.contains(j)),
        "a replacement job appeared: {healed:?} (before: {first:?})"
    );
    println!("[{:.1?}] healed: worker jobs {healed:?}", t0.elapsed());

    // Scale down: the scheduler retires a worker and the gateway stops its job.
    let c = gw.scale(&name, 1).await;
    assert_eq!(c["desired_workers"], 1, "{c}");
    let kept = wait_for_workers(&slurm, &gw, &client, &name, 1, Duration::from_secs(30)).await;
    assert!(healed.contains(&kept[0]), "{kept:?} of {healed:?}");
    println!("[{:.1?}] scaled down to job {kept:?}", t0.elapsed());

    // Delete: no job of the cluster is left.
    drop(client);
    let (status, c) = gw.call("DELETE", &format!("/clusters/{name}"), None).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["status"], "stopped", "{c}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (scheduler, workers) = slurm.jobs_of(&name);
        if scheduler.is_empty() && workers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs left after DELETE: scheduler {scheduler:?}, workers {workers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !dir.path().join("clusters").join(&name).exists(),
        "the cluster's folder (token, job scripts) is removed"
    );
    let (_, health) = gw.call("GET", "/health", None).await;
    assert_eq!(health["clusters"], 0, "{health}");
    let (_, list) = gw.call("GET", "/clusters", None).await;
    assert_eq!(list["clusters"], json!([]), "{list}");
    println!("[{:.1?}] deleted", t0.elapsed());
}
