//! The gateway as users meet it: `kaon gateway` as a real process with simple
//! auth and the local backend, clusters of real `kaon` processes, and the REST
//! API over HTTP. Needs `target/debug/kaon` (`cargo build -p kaon-cli`).

use kaon_client::{Array, Client};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, kaon_binary};

const PASSWORD: &str = "pw";

/// One argon2 hash for every test user (hashing is slow on purpose).
fn password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| kaon_gateway::auth::hash_password(PASSWORD).unwrap())
}

/// A `kaon gateway` process; killed (not gracefully) when dropped, with every
/// cluster process it left (unless it is `crash`ed on purpose).
struct Gateway {
    child: Child,
    url: String,
    dir: PathBuf,
    keep_clusters: bool,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_clusters {
            // Cluster processes name files in the test's directory.
            for pid in processes_with(&self.dir.to_string_lossy()) {
                kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// The configuration: users `alice`, `bob`, `admin` (an admin), `big` (group
/// `big`), `user0`..`user19`, and `extra` TOML.
fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    write_config_with(dir, port, extra, &kaon_binary("gateway", &[]))
}

fn write_config_with(dir: &Path, port: u16, extra: &str, kaon: &Path) -> PathBuf {
    let mut users = String::new();
    let mut add = |name: &str, admin: bool, groups: &str| {
        users.push_str(&format!(
            "[[simple.users]]\nname = \"{name}\"\npassword_hash = \"{}\"\nadmin = {admin}\ngroups = [{groups}]\n",
            password_hash()
        ));
    };
    add("alice", false, "");
    add("bob", false, "");
    add("admin", true, "");
    add("big", false, "\"big\"");
    for i in 0..20 {
        add(&format!("user{i}"), false, "");
    }
    let text = format!(
        "bind = \"127.0.0.1:{port}\"\nauth = \"simple\"\nbackend = \"local\"\n\
         db = \"{}\"\nreconcile_interval = 0.5\n\n{extra}\n[local]\nkaon = \"{}\"\n\n{users}",
        dir.join("gateway.sqlite").display(),
        kaon.display()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Gateway {
    fn start(dir: &Path) -> Gateway {
        let mut child = Command::new(kaon_binary("gateway", &[]))
            .args(["gateway", "--config"])
            .arg(dir.join("gateway.toml"))
            .env_remove("KAON_GATEWAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(stdout);
        reader.read_line(&mut line).unwrap();
        // Keep reading, so the gateway never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("Gateway at ")
            .unwrap_or_else(|| panic!("unexpected first line from kaon gateway: {line:?}"))
            .to_string();
        Gateway {
            child,
            url,
            dir: dir.to_path_buf(),
            keep_clusters: false,
        }
    }

    /// kill -9 of the gateway alone; its clusters' processes live on.
    fn crash(mut self) -> PathBuf {
        self.keep_clusters = true;
        self.dir.clone()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn call(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let http = reqwest::Client::new();
        let mut request = http
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.url),
            )
            .basic_auth(user, Some(PASSWORD));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, user: &str, body: Value) -> Value {
        let (status, c) = self.call(user, "POST", "/clusters", Some(body)).await;
        assert_eq!(status, 201, "{c}");
        c
    }

    async fn get(&self, user: &str, name: &str) -> Value {
        let (status, c) = self
            .call(user, "GET", &format!("/clusters/{name}"), None)
            .await;
        assert_eq!(status, 200, "{c}");
        c
    }

    /// Waits until `done` holds for the cluster (polling GET).
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        seconds: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let c = self.get("admin", name).await;
            if done(&c) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "cluster {name}: {what} did not happen: {c}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Processes whose command line contains `needle` (and are not zombies).
fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if cmdline.contains(needle) && !zombie {
            out.push(pid);
        }
    }
    out
}

/// Worker processes of a cluster.
fn workers_of(name: &str) -> Vec<u32> {
    processes_with(&format!("--name {name}-w"))
}

fn scheduler_of(name: &str) -> Vec<u32> {
    processes_with(&format!("--dashboard-prefix /clusters/{name} "))
}

/// Children of a process.
fn children(pid: u32) -> Vec<u32> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
            && let Some((_, rest)) = stat.rsplit_once(')')
        {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) && fields[0] != "Z" {
                out.push(child);
            }
        }
    }
    out
}

async fn wait_until(what: &str, seconds: u64, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sum_of_ones(c: &Value) -> f64 {
    let address = c["scheduler_address"].as_str().unwrap();
    let token = c["token"].as_str().unwrap();
    let client = Client::connect_with_token(address, Some(token), Duration::from_secs(5))
        .await
        .unwrap();
    let ones = Array::ones(&[1000], &[100]).unwrap().sum(None).unwrap();
    let total = client.compute(&[&ones], |_| {}).await.unwrap();
    total[0].iter().next().copied().unwrap()
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a pid this test found; no memory is involved.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_creates_scales_computes_and_stops_a_cluster_that_others_cannot_touch() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), 0, "");
    let gw = Gateway::start(dir.path());

    let (status, health) = gw.call("nobody", "GET", "/health", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, options) = gw.call("alice", "GET", "/options", None).await;
    assert_eq!(status, 200);
    assert!(
        options["options"]["worker_threads"]["default"].is_number(),
        "{options}"
    );

    let c = gw
        .create("alice", json!({"options": {"worker_threads": 1}}))
        .await;
    let name = c["name"].as_str().unwrap().to_string();
    assert_eq!(c["status"], "running");
    assert_eq!(c["user"], "alice");
    assert!(c["token"].as_str().unwrap().len() >= 32);
    assert!(
        c["dashboard_link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/clusters/{name}/status"))
    );

    let (_, list) = gw.call("alice", "GET", "/clusters", None).await;
    assert_eq!(list["clusters"].as_array().unwrap().len(), 1);

    // Scale to 2: two worker processes appear and join.
    let (status, c) = gw
        .call(
            "alice",
            "POST",
            &format!("/clusters/{name}/scale"),
            Some(json!({"n": 2})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    wait_until("two worker processes", 10, || workers_of(&name).len() == 2).await;
    let c = gw
        .wait_for(&name, "2 workers", 10, |c| c["workers"] == 2)
        .await;
    assert_eq!(c["desired_workers"], 2);

    // The owner computes with the cluster's token; without it the scheduler refuses.
    let c = gw.get("alice", &name).await;
    assert_eq!(sum_of_ones(&c).await, 1000.0);
    let address = c["scheduler_address"].as_str().unwrap();
    let anonymous = Client::connect(address, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        anonymous.cluster_info().await.is_err(),
        "the scheduler must refuse a client without the token"
    );

    // Bob sees nothing of it and may not touch it.
    let (_, list) = gw.call("bob", "GET", "/clusters", None).await;
    assert_eq!(list["clusters"].as_array().unwrap().len(), 0, "{list}");
    for (method, path, body) in [
        ("GET", format!("/clusters/{name}"), None),
        (
            "POST",
            format!("/clusters/{name}/scale"),
            Some(json!({"n": 0})),
        ),
        (
            "POST",
            format!("/clusters/{name}/adapt"),
            Some(json!({"minimum": 0, "maximum": 1})),
        ),
        ("DELETE", format!("/clusters/{name}"), None),
    ] {
        let (status, e) = gw.call("bob", method, &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {e}");
        assert!(e["error"].as_str().unwrap().contains("another user"), "{e}");
        assert!(e.get("token").is_none());
    }
    // Nor its dashboard; its owner may.
    let http = reqwest::Client::new();
    let dashboard = format!("{}/clusters/{name}/api/v1/workers", gw.url);
    let r = http
        .get(&dashboard)
        .basic_auth("bob", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http.get(&dashboard).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(&dashboard)
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let workers: Value = r.json().await.unwrap();
    assert_eq!(workers["workers"].as_array().unwrap().len(), 2, "{workers}");
    // A browser: the cluster's token once in the URL, then a cookie for the path.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = c["token"].as_str().unwrap();
    let r = browser
        .get(format!("{}/clusters/{name}/status?token={token}", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/clusters/{name}/status"));
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains(&format!("Path=/clusters/{name}")),
        "{cookie}"
    );
    let r = browser
        .get(format!("{}/clusters/{name}/status", gw.url))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<html"));
    let r = browser
        .get(format!("{}/clusters/{name}/status?token=wrong", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A bad password, no credentials, a malformed header.
    assert_eq!(gw.call("alice", "GET", "/clusters", None).await.0, 200);
    let r = http
        .get(format!("{}/api/v1/clusters", gw.url))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{}/api/v1/clusters", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/api/v1/clusters", gw.url))
        .header("Authorization", "Basic %%%")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Adapt within the quota is accepted.
    let (status, c) = gw
        .call(
            "alice",
            "POST",
            &format!("/clusters/{name}/adapt"),
            Some(json!({"minimum": 1, "maximum": 3})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["adapt"]["maximum"], 3);
    // Without work the scheduler retires one worker (its results moved first); the
    // gateway then stops that worker's process.
    wait_until("the idle worker retired and stopped", 20, || {
        workers_of(&name).len() == 1
    })
    .await;
    gw.wait_for(&name, "1 worker", 10, |c| c["workers"] == 1)
        .await;
    let (status, _) = gw
        .call(
            "alice",
            "POST",
            &format!("/clusters/{name}/adapt"),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);

    // Stop: every process of the cluster ends.
    let (status, c) = gw
        .call("alice", "DELETE", &format!("/clusters/{name}"), None)
        .await;
    assert_eq!(
        (status, c["status"].as_str()),
        (200, Some("stopped")),
        "{c}"
    );
    wait_until("no processes left", 10, || children(gw.pid()).is_empty()).await;
    let (_, list) = gw.call("alice", "GET", "/clusters", None).await;
    assert_eq!(list["clusters"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_the_limit_user_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        0,
        "[quotas]\nmax_clusters = 1\nmax_cluster_workers = 2\n[quotas.groups.big]\nmax_clusters = 2\n",
    );
    let gw = Gateway::start(dir.path());
    let c = gw.create("alice", json!({})).await;
    let name = c["name"].as_str().unwrap();
    let (status, e) = gw.call("alice", "POST", "/clusters", Some(json!({}))).await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(e["limit"], "max_clusters");
    let msg = e["error"].as_str().unwrap();
    assert!(msg.contains("alice") && msg.contains("limit of 1"), "{msg}");

    let (status, e) = gw
        .call(
            "alice",
            "POST",
            &format!("/clusters/{name}/scale"),
            Some(json!({"n": 3})),
        )
        .await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(e["limit"], "max_cluster_workers");
    assert!(e["error"].as_str().unwrap().contains("3 workers"), "{e}");
    let (status, e) = gw
        .call(
            "alice",
            "POST",
            &format!("/clusters/{name}/adapt"),
            Some(json!({"minimum": 0, "maximum": 5})),
        )
        .await;
    assert_eq!(
        (status, e["limit"].as_str()),
        (403, Some("max_cluster_workers")),
        "{e}"
    );
    let (status, e) = gw
        .call("alice", "POST", "/clusters", Some(json!({"workers": 3})))
        .await;
    assert_eq!(status, 403, "{e}");

    // The scheduler's callback: only with the cluster's token, and within the quota
    // (the workers that fit start, the rest are refused with the limit).
    let http = reqwest::Client::new();
    let callback = format!("{}/api/v1/internal/clusters/{name}/workers", gw.url);
    let r = http
        .post(&callback)
        .bearer_auth("not-the-token")
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(&callback)
        .bearer_auth(c["token"].as_str().unwrap())
        .json(&json!({"n": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["limit"], "max_cluster_workers", "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("started 2 of 5"),
        "{e}"
    );
    wait_until("two worker processes", 10, || workers_of(name).len() == 2).await;

    // A bad option is a 400 that names it.
    let (status, e) = gw
        .call(
            "alice",
            "POST",
            "/clusters",
            Some(json!({"options": {"colour": 1}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("colour"), "{e}");

    // Group big may have two clusters.
    gw.create("big", json!({})).await;
    gw.create("big", json!({})).await;
    let (status, e) = gw.call("big", "POST", "/clusters", Some(json!({}))).await;
    assert_eq!((status, e["limit"].as_str()), (403, Some("max_clusters")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cluster_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), 0, "");
    let gw = Gateway::start(dir.path());
    let c = gw
        .create(
            "alice",
            json!({"options": {"idle_timeout": 2}, "workers": 1}),
        )
        .await;
    let name = c["name"].as_str().unwrap();
    let c = gw
        .wait_for(name, "idle stop", 15, |c| c["status"] == "stopped")
        .await;
    assert!(c["reason"].as_str().unwrap().contains("idle"), "{c}");
    wait_until("no processes left", 10, || children(gw.pid()).is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_keeps_its_clusters_and_notices_a_dead_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_config(dir.path(), port, "");
    let gw = Gateway::start(dir.path());
    let c = gw.create("alice", json!({"workers": 1})).await;
    let name = c["name"].as_str().unwrap().to_string();
    wait_until("a worker process", 10, || workers_of(&name).len() == 1).await;

    // kill -9 the gateway only: the cluster's processes live on.
    let dir_path = gw.crash();
    assert_eq!(scheduler_of(&name).len(), 1);
    let gw = Gateway::start(&dir_path);
    let c = gw.get("alice", &name).await;
    assert_eq!(c["status"], "running", "{c}");
    assert_eq!(sum_of_ones(&c).await, 1000.0);
    // Scaling still works through the scheduler's callback to the same address.
    let (status, c) = gw
        .call(
            "alice",
            "POST",
            &format!("/clusters/{name}/scale"),
            Some(json!({"n": 2})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    wait_until("two worker processes", 10, || workers_of(&name).len() == 2).await;

    // Its scheduler dies: the cluster becomes failed, with the reason, and its
    // workers are stopped.
    for pid in scheduler_of(&name) {
        kill(pid, libc::SIGKILL);
    }
    let c = gw
        .wait_for(&name, "failure", 15, |c| c["status"] == "failed")
        .await;
    assert!(c["reason"].as_str().unwrap().contains("scheduler"), "{c}");
    wait_until("its workers stopped", 10, || workers_of(&name).is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_users_create_and_stop_clusters_leaving_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), 0, "");
    let gw = std::sync::Arc::new(Gateway::start(dir.path()));
    let mut tasks = vec![];
    for i in 0..20 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("user{i}");
            let c = gw.create(&user, json!({"workers": i % 2})).await;
            let name = c["name"].as_str().unwrap().to_string();
            let (status, c) = gw
                .call(&user, "DELETE", &format!("/clusters/{name}"), None)
                .await;
            assert_eq!(
                (status, c["status"].as_str()),
                (200, Some("stopped")),
                "{c}"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_until("no processes left", 15, || children(gw.pid()).is_empty()).await;
    let (_, all) = gw.call("admin", "GET", "/clusters?all=true", None).await;
    let all = all["clusters"].as_array().unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|c| c["status"] == "stopped"), "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_cannot_start_fails_with_the_backends_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A "kaon" that fails at once, with a message in its log.
    let broken = dir.path().join("broken-kaon");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho \"cannot bind: address in use\" >&2\nexit 3\n",
    )
    .unwrap();
    // One that never gets ready.
    let slow = dir.path().join("slow-kaon");
    std::fs::write(&slow, "#!/bin/sh\necho starting\nexec sleep 30\n").unwrap();
    for f in [&broken, &slow] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let broken_dir = dir.path().join("broken");
    std::fs::create_dir(&broken_dir).unwrap();
    write_config_with(&broken_dir, 0, "", &broken);
    let gw = Gateway::start(&broken_dir);
    let (status, e) = gw.call("alice", "POST", "/clusters", Some(json!({}))).await;
    assert_eq!(status, 502, "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("status 3") && msg.contains("address in use"),
        "{msg}"
    );
    let (_, list) = gw.call("alice", "GET", "/clusters", None).await;
    let c = &list["clusters"][0];
    assert_eq!(c["status"], "failed", "{list}");
    assert!(
        c["reason"].as_str().unwrap().contains("address in use"),
        "{c}"
    );

    let slow_dir = dir.path().join("slow");
    std::fs::create_dir(&slow_dir).unwrap();
    write_config_with(&slow_dir, 0, "start_timeout = 1", &slow);
    let gw = Gateway::start(&slow_dir);
    let (status, e) = gw.call("alice", "POST", "/clusters", Some(json!({}))).await;
    assert_eq!(status, 504, "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("within 1 s") && msg.contains("starting"),
        "{msg}"
    );
    wait_until("the slow scheduler killed", 5, || {
        children(gw.pid()).is_empty()
    })
    .await;
}
