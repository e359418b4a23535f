//! End-to-end tests on a real cluster: `kaon scheduler` plus `kaon worker` processes
//! on loopback, driven by the Rust client.

mod support;

use kaon_client::{Array, ClientError, seed_expression};
use kaon_graph::{Blockwise, ChunkGrid, Fault, Graph, Instr, Layer, LayerOp, Program};
use std::time::Duration;
use support::*;

fn fault_graph(fault: Fault, name: &str) -> Graph {
    let mut program = Program::default();
    program.push(Instr::Fault(fault));
    Graph::new(
        vec![Layer {
            name: name.into(),
            op: LayerOp::Blockwise(Blockwise {
                domain: ChunkGrid::regular(&[4], &[4]).unwrap(),
                inputs: vec![],
                program,
                histogram: None,
                reduce: None,
            }),
        }],
        vec![0],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_expression_matches_a_direct_computation() {
    let (_s, address) = scheduler(&[]);
    let _w1 = worker(&address, "w1", &[]);
    let _w2 = worker(&address, "w2", &[]);
    let client = connect(&address).await;
    wait_for_workers(&client, 2).await;

    let (shape, chunks) = ([60u64, 50, 4], [7u64, 20, 3]);
    let z = seed_expression(&shape, &chunks).unwrap();
    let got = client.compute(&[&z], |_| {}).await.unwrap();
    assert_eq!(got[0].shape(), &[60]);
    let got: Vec<f64> = got[0].iter().copied().collect();
    assert_close(&got, &seed_reference(shape, chunks), 1e-12);

    // A sum tree over a ragged one-dimensional grid, and over all axes.
    let ones = Array::ones(&[1000], &[7]).unwrap().sum(None).unwrap();
    let total = client.compute(&[&ones], |_| {}).await.unwrap();
    assert_eq!(total[0].shape(), &[] as &[usize]);
    assert_eq!(total[0].iter().next().copied(), Some(1000.0));

    // Both workers took part, and every result was freed afterwards.
    let info = client.cluster_info().await.unwrap();
    assert_eq!(info.workers.len(), 2);
    assert_eq!(info.graphs_running, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_does_not_lose_the_answer() {
    let (_s, address) = scheduler(&[]);
    let mut w1 = worker(&address, "w1", &[]);
    let _w2 = worker(&address, "w2", &[]);
    let client = connect(&address).await;
    wait_for_workers(&client, 2).await;

    // Large enough (1e9 elements) to be running when the first progress arrives.
    // Kernels are deterministic, so an undisturbed run is the exact reference.
    let (shape, chunks) = ([10_000u64, 1000, 100], [100u64, 1000, 100]);
    let z = seed_expression(&shape, &chunks).unwrap();
    let reference = client.compute(&[&z], |_| {}).await.unwrap();

    let mut killed_at = None;
    let got = client
        .compute(&[&z], |p| {
            let done: u64 = p.layers.iter().map(|l| l.done).sum();
            let total: u64 = p.layers.iter().map(|l| l.total).sum();
            if killed_at.is_none() && done > 0 && done < total / 2 {
                w1.signal(libc::SIGKILL);
                killed_at = Some((done, total));
            }
        })
        .await
        .unwrap();
    let (done, total) = killed_at.expect("no progress update came while the graph ran");
    assert!(done < total);
    assert!(w1.exits_within(Duration::from_secs(5)));
    assert_eq!(got[0], reference[0], "recomputation changed the answer");
    assert_eq!(client.cluster_info().await.unwrap().workers.len(), 1);

    // The reference itself is right: spot-check one row against a direct computation.
    let row: f64 = (0..100_000u64)
        .map(|e| kaon_kernels::uniform(1, 0, e).asin() + kaon_kernels::uniform(2, 0, e).acos())
        .sum();
    assert_close(&[reference[0][[0]]], &[row], 1e-12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_kills_three_workers_fails_with_its_key() {
    let (_s, address) = scheduler(&[]);
    let allow = ["--allow-fault-injection"];
    let mut workers: Vec<Proc> = (0..3)
        .map(|i| worker(&address, &format!("w{i}"), &allow))
        .collect();
    let client = connect(&address).await;
    wait_for_workers(&client, 3).await;

    let handle = client
        .submit(&fault_graph(Fault::ExitWorker, "crash"))
        .await
        .unwrap();
    let err = client.wait(handle, |_| {}).await.unwrap_err();
    match &err {
        ClientError::TaskFailed { key, message, .. } => {
            assert_eq!(key, "('crash', 0)");
            assert!(message.contains("3 workers"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }
    for w in &mut workers {
        assert!(w.exits_within(Duration::from_secs(5)), "a worker survived");
    }
    // The cluster still serves: a new worker runs a new graph.
    let _w = worker(&address, "fresh", &[]);
    wait_for_workers(&client, 1).await;
    let ones = Array::ones(&[10], &[3]).unwrap().sum(None).unwrap();
    let total = client.compute(&[&ones], |_| {}).await.unwrap();
    assert_eq!(total[0].iter().next().copied(), Some(10.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_graphs_fail_alone() {
    let (_s, address) = scheduler(&[]);
    let _w1 = worker(&address, "w1", &[]);
    let _w2 = worker(&address, "w2", &[]);
    let client = connect(&address).await;
    wait_for_workers(&client, 2).await;

    // A long graph runs while the bad ones come and go.
    let (shape, chunks) = ([200u64, 100, 50], [5u64, 100, 50]);
    let z = seed_expression(&shape, &chunks).unwrap();
    let good = {
        let client = client.clone();
        tokio::spawn(async move { client.compute(&[&z], |_| {}).await })
    };

    // A cycle (a layer reading a later layer) is refused at submission.
    let mut cyclic = Array::ones(&[8], &[2]).unwrap().sum(None).unwrap();
    cyclic = cyclic.arcsin();
    let (graph, _) = kaon_client::lower(&[&cyclic]).unwrap();
    let mut proto = graph.to_proto();
    if let Some(kaon_proto::layer::Op::Combine(c)) = &mut proto.layers[1].op {
        c.input = 2;
    }
    match client.submit_proto(proto).await {
        Err(ClientError::Rejected(msg)) => assert!(msg.contains("cycle"), "{msg}"),
        other => panic!("expected a rejection, got {:?}", other.map(|h| h.id)),
    }

    // A chunk mismatch is refused with both grids named.
    let mut proto = graph.to_proto();
    if let Some(kaon_proto::layer::Op::Blockwise(b)) = &mut proto.layers.last_mut().unwrap().op {
        b.domain = Some(kaon_graph::grid_to_proto(
            &ChunkGrid::regular(&[9], &[9]).unwrap(),
        ));
    }
    match client.submit_proto(proto).await {
        Err(ClientError::Rejected(msg)) => assert!(msg.contains("[[9]]"), "{msg}"),
        other => panic!("expected a rejection, got {:?}", other.map(|h| h.id)),
    }

    // A kernel error fails its graph with the task key and the message.
    let handle = client
        .submit(&fault_graph(
            Fault::Error("bad value in chunk".into()),
            "explode",
        ))
        .await
        .unwrap();
    match client.wait(handle, |_| {}).await {
        Err(ClientError::TaskFailed { key, message, .. }) => {
            assert_eq!(key, "('explode', 0)");
            assert!(message.contains("bad value in chunk"), "{message}");
        }
        other => panic!("expected a task failure, got {other:?}"),
    }

    // Garbage bytes where a protobuf message belongs get an error status.
    let status = support_raw::send_garbage(&address).await;
    assert_ne!(status.code(), tonic::Code::Ok);

    // The good graph is untouched and right.
    let got = good.await.unwrap().unwrap();
    let got: Vec<f64> = got[0].iter().copied().collect();
    assert_close(&got, &seed_reference(shape, chunks), 1e-12);
    assert_eq!(client.cluster_info().await.unwrap().workers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_is_removed_after_the_ttl() {
    let (_s, address) = scheduler(&["--worker-ttl", "1", "--heartbeat-ms", "100"]);
    let mut frozen = worker(&address, "frozen", &[]);
    let _w2 = worker(&address, "alive", &[]);
    let client = connect(&address).await;
    wait_for_workers(&client, 2).await;

    frozen.signal(libc::SIGSTOP);
    wait_for_workers(&client, 1).await;
    let info = client.cluster_info().await.unwrap();
    assert_eq!(info.workers[0].name, "alive");
    let ones = Array::ones(&[100], &[10]).unwrap().sum(None).unwrap();
    let total = client.compute(&[&ones], |_| {}).await.unwrap();
    assert_eq!(total[0].iter().next().copied(), Some(100.0));
    // Woken up, it finds its stream closed and exits.
    frozen.signal(libc::SIGCONT);
    assert!(frozen.exits_within(Duration::from_secs(10)));
}

mod support_raw {
    //! A gRPC call with raw bytes as its body, to send what no client library would.

    use bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct RawCodec;
    struct RawEncoder;
    struct RawDecoder;

    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for RawDecoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            let mut v = vec![0; src.remaining()];
            src.copy_to_slice(&mut v);
            Ok(Some(v))
        }
    }

    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawEncoder;
        type Decoder = RawDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> RawDecoder {
            RawDecoder
        }
    }

    /// Sends truncated and garbage SubmitGraph bodies; returns the last status.
    pub async fn send_garbage(address: &str) -> tonic::Status {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut last = tonic::Status::ok("");
        for body in [
            vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // a length running past the end
            vec![0xff; 64],                           // no valid field at all
            vec![0x0a, 0x05, 0x0a, 0x03, 0x12, 0x01], // truncated nested message
        ] {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.unwrap();
            let path = http::uri::PathAndQuery::from_static("/kaon.v1.Scheduler/SubmitGraph");
            let status = grpc
                .unary::<Vec<u8>, Vec<u8>, RawCodec>(tonic::Request::new(body), path, RawCodec)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    status.code(),
                    tonic::Code::Internal | tonic::Code::InvalidArgument
                ),
                "unexpected status {status:?}"
            );
            last = status;
        }
        last
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaon_local_stops_every_process_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(KAON)
        .args(["local", "--workers", "2", "--threads-per-worker", "1"])
        .args(["--port", "0", "--dashboard-port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let address = first.strip_prefix("Scheduler at ").unwrap().to_string();
    std::thread::spawn(move || for _ in lines {});
    let local = Proc { child };
    let client = connect(&address).await;
    wait_for_workers(&client, 2).await;
    let pids: Vec<i32> = client
        .cluster_info()
        .await
        .unwrap()
        .workers
        .iter()
        .map(|w| w.pid as i32)
        .collect();
    let ones = Array::ones(&[100], &[10]).unwrap().sum(None).unwrap();
    assert_eq!(
        client.compute(&[&ones], |_| {}).await.unwrap()[0]
            .iter()
            .next()
            .copied(),
        Some(100.0)
    );

    let mut local = local;
    local.signal(libc::SIGINT);
    assert!(
        local.exits_within(Duration::from_secs(10)),
        "kaon local ignored Ctrl-C"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for pid in pids {
        // SAFETY: signal 0 only checks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "worker {pid} outlived kaon local"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_spill_to_disk_and_are_served_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let address_file = dir.path().join("address.json");
    let (_s, address) = scheduler(&[
        "--heartbeat-ms",
        "100",
        "--address-file",
        address_file.to_str().unwrap(),
    ]);
    // 40 MB: results beyond 24 MB go to disk.
    let _w = worker(&address, "small", &["--memory-limit", "40MB"]);
    let client = connect(&address).await;
    wait_for_workers(&client, 1).await;

    // 15 chunks of 4 MB, all kept as results until fetched.
    let x = Array::random(&[1500, 5000], &[100, 5000], 9)
        .unwrap()
        .arcsin();
    let (graph, outputs) = kaon_client::lower(&[&x]).unwrap();
    let handle = client.submit(&graph).await.unwrap();
    client.wait(handle, |_| {}).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let w = &client.cluster_info().await.unwrap().workers[0];
        if w.spilled >= 20_000_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing spilled: {w:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The dashboard's task stream shows the spills (and, once fetched, the reads back).
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&address_file).unwrap()).unwrap();
    let dashboard = written["dashboard"].as_str().unwrap().to_string();
    let first_update = first_dashboard_update(&dashboard).await;
    assert!(
        first_update.contains("\"kind\":\"spill\""),
        "no spill in the task stream: {}",
        &first_update[..first_update.len().min(2000)]
    );

    let chunks = client.fetch_outputs(handle).await.unwrap();
    assert_eq!(chunks.len(), 15);
    for c in &chunks {
        assert_eq!(c.task.layer, outputs[0].layer);
        let values = c
            .bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()));
        for (e, v) in values.enumerate().step_by(997) {
            let want = kaon_kernels::uniform(9, c.task.chunk, e as u64).asin();
            assert!(
                (v - want).abs() <= 1e-15,
                "chunk {} element {e}: {v} vs {want}",
                c.task.chunk
            );
        }
    }
    client.release(handle).await.unwrap();
}

/// The first update of the dashboard's event stream (`/api/v1/events`), as text.
async fn first_dashboard_update(dashboard: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(dashboard).await.unwrap();
    let request = format!("GET /api/v1/events HTTP/1.1\r\nhost: {dashboard}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // An update is one `data:` line ending in a blank line.
    while !String::from_utf8_lossy(&text).contains("}\n\n") {
        assert!(std::time::Instant::now() < deadline, "no dashboard update");
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the dashboard closed the event stream");
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_a_token_refuses_everyone_without_it() {
    let (_s, address) = scheduler(&["--token", "s3cret"]);
    // A worker without the token is turned away and exits with the reason.
    let mut stranger = worker(&address, "stranger", &[]);
    assert!(stranger.exits_within(Duration::from_secs(10)));
    assert!(!stranger.child.wait().unwrap().success());
    let _w = worker(&address, "member", &["--token", "s3cret"]);

    // A client without it is refused with a clear status.
    let anonymous = connect(&address).await;
    match anonymous.cluster_info().await {
        Err(ClientError::Rpc(status)) => {
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert!(status.message().contains("token"), "{}", status.message());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let member =
        kaon_client::Client::connect_with_token(&address, Some("s3cret"), Duration::from_secs(10))
            .await
            .unwrap();
    wait_for_workers(&member, 1).await;
    let info = member.cluster_info().await.unwrap();
    assert_eq!(info.workers[0].name, "member");

    // The worker's Data service refuses chunk requests without the token too.
    let x = Array::ones(&[10], &[5]).unwrap();
    let (graph, _) = kaon_client::lower(&[&x]).unwrap();
    let handle = member.submit(&graph).await.unwrap();
    member.wait(handle, |_| {}).await.unwrap();
    let task = kaon_proto::TaskRef {
        graph: handle.id,
        layer: 0,
        chunk: 0,
    };
    let anonymous_data = kaon_proto::data::DataClients::default();
    match anonymous_data
        .fetch(&info.workers[0].data_address, vec![task])
        .await
    {
        Err(kaon_proto::data::FetchError::Status { status, .. }) => {
            assert_eq!(status.code(), tonic::Code::Unauthenticated)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(member.fetch_outputs(handle).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_that_ended_before_anyone_watched_reports_how_it_ended() {
    let (_s, address) = scheduler(&[]);
    let _w = worker(&address, "w", &[]);
    let client = connect(&address).await;
    wait_for_workers(&client, 1).await;
    let ok = client
        .submit(
            &kaon_client::lower(&[&Array::ones(&[4], &[4]).unwrap()])
                .unwrap()
                .0,
        )
        .await
        .unwrap();
    let bad = client
        .submit(&fault_graph(Fault::Error("late".into()), "late"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.wait(ok, |_| {}).await.unwrap();
    match client.wait(bad, |_| {}).await {
        Err(ClientError::TaskFailed { key, .. }) => assert_eq!(key, "('late', 0)"),
        other => panic!("expected the failure, got {other:?}"),
    }
}

/// The gateway's part in `scheduler_asks_its_scaler_url_for_workers_and_replaces_lost_ones`:
/// answers each `{"n": N}` POST by starting N workers, and records the requests.
async fn serve_scaler(
    listener: tokio::net::TcpListener,
    address: std::sync::Arc<std::sync::OnceLock<String>>,
    workers: std::sync::Arc<std::sync::Mutex<Vec<Proc>>>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        // Read until the whole body (its length is in the headers) has arrived.
        let request = loop {
            let n = stream.read(&mut buf[len..]).await.unwrap_or(0);
            len += n;
            let text = String::from_utf8_lossy(&buf[..len]).to_string();
            if n == 0 || text.contains("\r\n\r\n{") && text.ends_with('}') {
                break text;
            }
        };
        let n: usize = request
            .rsplit_once("\"n\":")
            .and_then(|(_, rest)| rest.trim_end_matches('}').trim().parse().ok())
            .unwrap_or(0);
        let address = address.get().cloned().unwrap_or_default();
        {
            let mut workers = workers.lock().unwrap();
            for _ in 0..n {
                let name = format!("job-{}", workers.len());
                workers.push(worker(&address, &name, &["--token", "t0k"]));
            }
        }
        requests.lock().unwrap().push(request);
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_asks_its_scaler_url_for_workers_and_replaces_lost_ones() {
    use std::sync::{Arc, Mutex, OnceLock};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v1/internal/clusters/c1/workers",
        listener.local_addr().unwrap()
    );
    let address = Arc::new(OnceLock::new());
    let workers = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve_scaler(
        listener,
        address.clone(),
        workers.clone(),
        requests.clone(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("address.json");
    let (_s, printed) = scheduler(&[
        "--token",
        "t0k",
        "--scaler-url",
        &url,
        "--address-file",
        file.to_str().unwrap(),
    ]);
    // The address file says where the scheduler listens, as it printed.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["address"], printed.as_str());
    assert!(written["dashboard"].as_str().unwrap().contains(':'));
    address.set(printed.clone()).unwrap();

    let client =
        kaon_client::Client::connect_with_token(&printed, Some("t0k"), Duration::from_secs(10))
            .await
            .unwrap();
    let reply = client.scale(2).await.unwrap();
    assert_eq!(reply.desired, 2);
    wait_for_workers(&client, 2).await;
    {
        let requests = requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        assert!(
            requests[0]
                .to_ascii_lowercase()
                .contains("authorization: bearer t0k")
        );
        assert!(requests[0].ends_with("{\"n\":2}"), "{}", requests[0]);
    }
    let info = client.cluster_info().await.unwrap();
    assert_eq!(info.desired_workers, 2);

    // A worker killed from outside (a cancelled batch job) is replaced.
    let mut victim = workers.lock().unwrap().remove(0);
    victim.signal(libc::SIGKILL);
    assert!(victim.exits_within(Duration::from_secs(5)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = client.cluster_info().await.unwrap();
        if info.workers.len() == 2 && requests.lock().unwrap().len() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lost worker was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(requests.lock().unwrap()[1].ends_with("{\"n\":1}"));

    // The cluster still computes, and reports how long it has been idle.
    let z = Array::ones(&[100], &[10]).unwrap().sum(None).unwrap();
    let got = client.compute(&[&z], |_| {}).await.unwrap();
    assert_eq!(got[0].iter().next().copied(), Some(100.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = client.cluster_info().await.unwrap().idle_seconds;
    assert!(idle > 0.1 && idle < 30.0, "idle for {idle} s");
}
