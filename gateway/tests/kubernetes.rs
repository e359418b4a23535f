//! The Kubernetes backend against a fake API server (no kube-apiserver can be
//! installed here): axum on loopback answers the core/v1 calls the backend makes
//! (create, get, list, delete of Pods, Services and Secrets; Pod logs) with plausible
//! objects, records every request, and lets the test set Pods' status. The test then
//! checks the manifests: labels, resources, owner references, the Secret and its
//! `secretKeyRef`, namespaces, and the deletions.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use kaon_gateway::backend::kubernetes::{KubernetesBackend, KubernetesConfig};
use kaon_gateway::backend::{Backend, ClusterOptions, ClusterSpec, JobState, LaunchError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const NS: &str = "kaon-test";

#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

#[derive(Default)]
struct Fake {
    requests: Vec<Recorded>,
    /// (namespace, plural, name) -> object.
    objects: HashMap<(String, String, String), Value>,
    next: u64,
}

type Shared = Arc<Mutex<Fake>>;

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
        .into_response()
}

/// What the kubelet would report for a new Pod; cluster names choose the story.
fn initial_pod_status(name: &str) -> Value {
    if name.contains("broken") {
        json!({"phase": "Failed", "containerStatuses": [{
            "name": "scheduler", "image": "kaon", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})
    } else if name.contains("stuck") {
        json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient cpu."}]})
    } else {
        json!({"phase": "Running", "podIP": "10.1.2.3", "containerStatuses": [{
            "name": "c", "image": "kaon", "imageID": "", "ready": true, "restartCount": 0,
            "state": {"running": {}}}]})
    }
}

fn matches_selector(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        obj["metadata"]["labels"][k].as_str() == Some(v)
    })
}

async fn api(State(fake): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let bytes: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut fake = fake.lock().unwrap();
    fake.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
    });
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/namespaces/{ns}/{plural}[/{name}[/log]]
    let ["api", "v1", "namespaces", ns, plural, rest @ ..] = parts.as_slice() else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route {path}"),
        );
    };
    let (ns, plural) = (ns.to_string(), plural.to_string());
    let kind = match plural.as_str() {
        "pods" => "Pod",
        "services" => "Service",
        "secrets" => "Secret",
        _ => return status(StatusCode::NOT_FOUND, "NotFound", format!("no {plural}")),
    };
    match (method, rest) {
        (Method::POST, []) => {
            let mut obj = body;
            let name = match obj["metadata"]["name"].as_str() {
                Some(n) => n.to_string(),
                None => {
                    fake.next += 1;
                    let prefix = obj["metadata"]["generateName"].as_str().unwrap_or("x-");
                    format!("{prefix}{:05x}", fake.next * 7919)
                }
            };
            let key = (ns.clone(), plural.clone(), name.clone());
            if fake.objects.contains_key(&key) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("{plural} \"{name}\" already exists"),
                );
            }
            fake.next += 1;
            obj["metadata"]["name"] = json!(name);
            obj["metadata"]["namespace"] = json!(ns);
            obj["metadata"]["uid"] = json!(format!("uid-{}-{}", plural, fake.next));
            obj["metadata"]["resourceVersion"] = json!(fake.next.to_string());
            obj["metadata"]["creationTimestamp"] = json!("2026-11-26T12:00:00Z");
            obj["kind"] = json!(kind);
            obj["apiVersion"] = json!("v1");
            if plural == "pods" {
                obj["status"] = initial_pod_status(&name);
            }
            fake.objects.insert(key, obj.clone());
            (StatusCode::CREATED, axum::Json(obj)).into_response()
        }
        (Method::GET, []) => {
            let selector = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("labelSelector="))
                .map(percent_decode)
                .unwrap_or_default();
            let items: Vec<Value> = fake
                .objects
                .iter()
                .filter(|((n, p, _), o)| *n == ns && *p == plural && matches_selector(o, &selector))
                .map(|(_, o)| o.clone())
                .collect();
            axum::Json(json!({
                "kind": format!("{kind}List"), "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"}, "items": items,
            }))
            .into_response()
        }
        (Method::GET, [name]) => match fake.objects.get(&(ns, plural.clone(), name.to_string())) {
            Some(o) => axum::Json(o.clone()).into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{plural} \"{name}\" not found"),
            ),
        },
        (Method::GET, [name, "log"]) => {
            if fake.objects.contains_key(&(ns, plural, name.to_string())) {
                "starting\nkaon: cannot listen on 0.0.0.0:8786: address in use\n".into_response()
            } else {
                status(StatusCode::NOT_FOUND, "NotFound", "no pod".into())
            }
        }
        (Method::DELETE, [name]) => {
            match fake.objects.remove(&(ns, plural.clone(), name.to_string())) {
                Some(o) => axum::Json(o).into_response(),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("{plural} \"{name}\" not found"),
                ),
            }
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            path.clone(),
        ),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn start_fake() -> (Shared, String) {
    let fake: Shared = Arc::default();
    let app = axum::Router::new().fallback(api).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn cluster_spec(name: &str) -> ClusterSpec {
    ClusterSpec {
        name: name.into(),
        user: "alice@example.org".into(),
        token: format!("token-of-{name}-5ecret"),
        options: ClusterOptions {
            worker_threads: 2,
            worker_memory: 1 << 30,
            image: Some("registry.example/kaon:custom".into()),
            environment: BTreeMap::from([("ANALYSIS".to_string(), "hzz".to_string())]),
            idle_timeout: 0,
        },
        scaler_url: format!("http://gateway.kaon:8000/api/v1/internal/clusters/{name}/workers"),
        dashboard_prefix: format!("/clusters/{name}"),
    }
}

fn created(fake: &Shared, plural: &str) -> Vec<Value> {
    fake.lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| {
            r.method == Method::POST && r.path == format!("/api/v1/namespaces/{NS}/{plural}")
        })
        .map(|r| r.body.clone())
        .collect()
}

fn deleted(fake: &Shared) -> Vec<String> {
    fake.lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.method == Method::DELETE)
        .map(|r| r.path.clone())
        .collect()
}

fn stored(fake: &Shared, plural: &str, name: &str) -> Option<Value> {
    fake.lock()
        .unwrap()
        .objects
        .get(&(NS.to_string(), plural.to_string(), name.to_string()))
        .cloned()
}

fn assert_labels(obj: &Value, cluster: &str, component: &str) {
    let labels = &obj["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/name"], "kaon", "{obj}");
    assert_eq!(labels["kaon.dev/cluster"], cluster, "{obj}");
    assert_eq!(labels["kaon.dev/user"], "alice-example.org", "{obj}");
    assert_eq!(labels["kaon.dev/component"], component, "{obj}");
    assert_eq!(
        obj["metadata"]["annotations"]["kaon.dev/user"],
        "alice@example.org"
    );
}

fn env_var<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {container}"))
}

async fn backend(url: &str) -> KubernetesBackend {
    KubernetesBackend::new(KubernetesConfig {
        api_url: Some(url.into()),
        namespace: Some(NS.into()),
        scheduler_cpu: "500m".into(),
        scheduler_memory: 1 << 30,
        ..KubernetesConfig::default()
    })
    .await
    .expect("a client for the fake API server")
}

#[tokio::test]
async fn a_cluster_is_a_secret_a_scheduler_pod_a_service_and_worker_pods() {
    let (fake, url) = start_fake().await;
    let backend = backend(&url).await;
    assert_eq!(backend.name(), "kubernetes");
    assert_eq!(backend.namespace(), NS);
    let name = "alice-7f3a9c2e";
    let spec = cluster_spec(name);

    let scheduler = backend
        .start_scheduler(&spec, 10)
        .await
        .expect("the scheduler pod runs");
    assert_eq!(scheduler.address, format!("{name}-scheduler.{NS}.svc:8786"));
    assert_eq!(
        scheduler.dashboard,
        format!("{name}-scheduler.{NS}.svc:8787")
    );

    // The Secret: the token, and the root that owns the rest.
    let secrets = created(&fake, "secrets");
    assert_eq!(secrets.len(), 1);
    let secret = &secrets[0];
    assert_eq!(secret["metadata"]["name"], format!("{name}-token"));
    assert_eq!(secret["metadata"]["namespace"], NS);
    assert_eq!(secret["stringData"]["token"], spec.token);
    assert_labels(secret, name, "token");
    let secret_uid = stored(&fake, "secrets", &format!("{name}-token")).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();

    // The scheduler Pod.
    let pods = created(&fake, "pods");
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(pod["metadata"]["name"], format!("{name}-scheduler"));
    assert_eq!(pod["metadata"]["namespace"], NS);
    assert_labels(pod, name, "scheduler");
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["uid"].as_str()),
        (Some("Secret"), Some(secret_uid.as_str()))
    );
    assert_eq!(owner["name"], format!("{name}-token"));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    let c = &pod["spec"]["containers"][0];
    assert_eq!(
        c["image"], "registry.example/kaon:custom",
        "the user's image wins"
    );
    let command: Vec<&str> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(&command[..2], &["kaon", "scheduler"]);
    for flag in [
        ["--host", "0.0.0.0"],
        ["--port", "8786"],
        ["--dashboard-port", "8787"],
        ["--scaler-url", spec.scaler_url.as_str()],
        ["--dashboard-prefix", spec.dashboard_prefix.as_str()],
    ] {
        assert!(
            command.windows(2).any(|w| w == flag),
            "{flag:?} in {command:?}"
        );
    }
    assert_eq!(
        env_var(c, "KAON_TOKEN")["valueFrom"]["secretKeyRef"],
        json!({"name": format!("{name}-token"), "key": "token"})
    );
    assert_eq!(env_var(c, "ANALYSIS")["value"], "hzz");
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "500m", "memory": "1073741824"})
    );
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu": "500m", "memory": "1073741824"})
    );
    assert!(
        !pod.to_string().contains(&spec.token),
        "the token is only in the Secret, not in the Pod"
    );

    // The Service in front of it.
    let services = created(&fake, "services");
    assert_eq!(services.len(), 1);
    let svc = &services[0];
    assert_eq!(svc["metadata"]["name"], format!("{name}-scheduler"));
    assert_labels(svc, name, "scheduler");
    assert_eq!(
        svc["metadata"]["ownerReferences"][0]["uid"],
        secret_uid.as_str()
    );
    assert_eq!(
        svc["spec"]["selector"],
        json!({"kaon.dev/cluster": name, "kaon.dev/component": "scheduler"})
    );
    let ports: Vec<u64> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(ports, vec![8786, 8787]);

    // Two workers, owned by the scheduler Pod.
    let workers = backend
        .start_workers(&spec, &scheduler, 2)
        .await
        .expect("worker pods");
    assert_eq!(workers.len(), 2);
    assert_ne!(workers[0].name, workers[1].name);
    let sched_uid = stored(&fake, "pods", &format!("{name}-scheduler")).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let pods = created(&fake, "pods");
    assert_eq!(pods.len(), 3);
    for (w, handle) in pods[1..].iter().zip(&workers) {
        assert_eq!(w["metadata"]["generateName"], format!("{name}-worker-"));
        assert!(
            handle.name.starts_with(&format!("{name}-worker-")),
            "{}",
            handle.name
        );
        assert!(
            stored(&fake, "pods", &handle.name).is_some(),
            "the handle names the Pod"
        );
        assert_labels(w, name, "worker");
        let owner = &w["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "Pod");
        assert_eq!(owner["name"], format!("{name}-scheduler"));
        assert_eq!(owner["uid"], sched_uid.as_str());
        assert_eq!(w["spec"]["restartPolicy"], "Never");
        let c = &w["spec"]["containers"][0];
        let command: Vec<&str> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(
            command,
            [
                "kaon",
                "worker",
                scheduler.address.as_str(),
                "--nthreads",
                "2",
                "--memory-limit",
                "1073741824"
            ]
        );
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "2", "memory": "1073741824"})
        );
        assert_eq!(
            c["resources"]["limits"],
            json!({"cpu": "2", "memory": "1073741824"})
        );
        assert_eq!(
            env_var(c, "KAON_TOKEN")["valueFrom"]["secretKeyRef"]["name"],
            format!("{name}-token")
        );
        assert_eq!(
            env_var(c, "KAON_WORKER_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
        assert_eq!(
            env_var(c, "KAON_WORKER_HOST")["valueFrom"]["fieldRef"]["fieldPath"],
            "status.podIP"
        );
        assert!(!w.to_string().contains(&spec.token));
    }

    // check(): running; then one worker OOM-killed and one deleted behind our back.
    let (s, w) = backend.check(&spec, &scheduler, &workers).await.unwrap();
    assert_eq!(
        (s, w),
        (
            JobState::Running,
            vec![JobState::Running, JobState::Running]
        )
    );
    {
        let mut f = fake.lock().unwrap();
        let key = (NS.to_string(), "pods".to_string(), workers[0].name.clone());
        f.objects.get_mut(&key).unwrap()["status"] = json!({"phase": "Failed",
            "containerStatuses": [{"name": "worker", "image": "kaon", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]});
        f.objects
            .remove(&(NS.to_string(), "pods".to_string(), workers[1].name.clone()));
    }
    let (s, w) = backend.check(&spec, &scheduler, &workers).await.unwrap();
    assert_eq!(s, JobState::Running);
    assert!(
        matches!(&w[0], JobState::Gone(r) if r.contains("OOMKilled") && r.contains("137")),
        "{w:?}"
    );
    assert!(
        matches!(&w[1], JobState::Gone(r) if r.contains("not found")),
        "{w:?}"
    );
    let list = fake
        .lock()
        .unwrap()
        .requests
        .iter()
        .rev()
        .find(|r| r.method == Method::GET && r.query.contains("labelSelector"))
        .cloned()
        .unwrap();
    assert_eq!(list.path, format!("/api/v1/namespaces/{NS}/pods"));
    assert_eq!(
        percent_decode(
            list.query
                .split('&')
                .find_map(|kv| kv.strip_prefix("labelSelector="))
                .unwrap()
        ),
        format!("kaon.dev/cluster={name}")
    );

    // stop_workers deletes those Pods (one already gone is fine).
    backend
        .stop_workers(&spec, &workers)
        .await
        .expect("stop workers");
    let d = deleted(&fake);
    for w in &workers {
        assert!(
            d.contains(&format!("/api/v1/namespaces/{NS}/pods/{}", w.name)),
            "{d:?}"
        );
    }

    // A third worker, then stop_cluster removes everything, by name and by label.
    let more = backend.start_workers(&spec, &scheduler, 1).await.unwrap();
    backend
        .stop_cluster(&spec, &scheduler, &[])
        .await
        .expect("stop the cluster");
    let d = deleted(&fake);
    for path in [
        format!("/api/v1/namespaces/{NS}/pods/{}", more[0].name),
        format!("/api/v1/namespaces/{NS}/pods/{name}-scheduler"),
        format!("/api/v1/namespaces/{NS}/services/{name}-scheduler"),
        format!("/api/v1/namespaces/{NS}/secrets/{name}-token"),
    ] {
        assert!(d.contains(&path), "{path} not in {d:?}");
    }
    assert!(fake.lock().unwrap().objects.is_empty(), "nothing left");
    let (s, _) = backend.check(&spec, &scheduler, &[]).await.unwrap();
    assert!(matches!(s, JobState::Gone(_)));

    // Every request stayed in the configured namespace.
    for r in &fake.lock().unwrap().requests {
        assert!(
            r.path.starts_with(&format!("/api/v1/namespaces/{NS}/")),
            "{}",
            r.path
        );
    }
}

#[tokio::test]
async fn start_failures_carry_the_api_servers_words_and_clean_up() {
    let (fake, url) = start_fake().await;
    let backend = backend(&url).await;

    // A scheduler container that exits: its reason and the end of its log.
    let err = backend
        .start_scheduler(&cluster_spec("bob-broken01"), 10)
        .await
        .expect_err("the scheduler pod fails");
    let msg = err.to_string();
    assert!(matches!(err, LaunchError::Failed { .. }), "{msg}");
    assert!(
        msg.contains("bob-broken01") && msg.contains("Error (exit code 1)"),
        "{msg}"
    );
    assert!(
        msg.contains("address in use"),
        "the log tail is quoted: {msg}"
    );
    assert!(
        fake.lock().unwrap().objects.is_empty(),
        "a failed start leaves nothing"
    );

    // A Pod that cannot be placed: a timeout with the scheduler's reason.
    let err = backend
        .start_scheduler(&cluster_spec("bob-stuck01"), 1)
        .await
        .expect_err("the scheduler pod stays pending");
    let msg = err.to_string();
    assert!(
        matches!(err, LaunchError::Timeout { seconds: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("Unschedulable") && msg.contains("Insufficient cpu"),
        "{msg}"
    );
    assert!(
        fake.lock().unwrap().objects.is_empty(),
        "a timed-out start leaves nothing"
    );

    // The API server refusing: its message (a Secret of that name exists already).
    fake.lock().unwrap().objects.insert(
        (NS.into(), "secrets".into(), "bob-taken01-token".into()),
        json!({"metadata": {"name": "bob-taken01-token", "labels": {}}}),
    );
    let err = backend
        .start_scheduler(&cluster_spec("bob-taken01"), 5)
        .await
        .expect_err("the secret exists");
    let msg = err.to_string();
    assert!(
        msg.contains("already exists") && msg.contains("409"),
        "{msg}"
    );
}
