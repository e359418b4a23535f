//! The worker's main loop: serve `Data`, hold the `WorkerLink` stream, heartbeat.

use crate::WorkerConfig;
use crate::data_service::DataService;
use crate::executor::{ExecMsg, ExecStatus, Executor};
use crate::store::ChunkStore;
use kaon_kernels::KernelOptions;
use kaon_proto::auth::{AddToken, Authed, CheckToken};
use kaon_proto::data::DataClients;
use kaon_proto::net::no_delay;
use kaon_proto::{
    Heartbeat, Register, WorkerMessage, data_server::DataServer, scheduler_message,
    worker_link_client::WorkerLinkClient, worker_message,
};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Runs a worker until `shutdown` resolves (Ok) or the scheduler goes away (Err).
pub async fn run_worker(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let spill_dir = match &config.spill_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| format!("spill directory {d:?}: {e}"))?;
            tempfile::Builder::new().prefix("kaon-spill-").tempdir_in(d)
        }
        None => tempfile::Builder::new().prefix("kaon-spill-").tempdir(),
    }
    .map_err(|e| format!("cannot create a spill directory: {e}"))?;
    let target = (config.memory_limit as f64 * config.spill_fraction) as u64;
    let store = Arc::new(Mutex::new(ChunkStore::new(spill_dir.path(), target)));

    // The Data service, on its own port, serving this worker's chunks.
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.data_port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.data_port))?;
    let data_address = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let data = DataServer::new(DataService {
        store: store.clone(),
    })
    .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES);
    let data = tonic::service::interceptor::InterceptedService::new(
        data,
        CheckToken::new(config.token.as_deref()),
    );
    let add_token = AddToken::new(config.token.as_deref())?;
    let data_server = tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(data)
            .serve_with_incoming(no_delay(listener)),
    );

    let mut link =
        connect_with_retry(&config.scheduler, config.connect_timeout, add_token.clone()).await?;
    let (out_tx, out_rx) = mpsc::unbounded_channel::<WorkerMessage>();
    out_tx
        .send(WorkerMessage {
            kind: Some(worker_message::Kind::Register(Register {
                name: config.name.clone(),
                nthreads: config.nthreads as u32,
                memory_limit: config.memory_limit,
                data_address: data_address.clone(),
                pid: std::process::id(),
            })),
        })
        .ok();
    let mut inbound = link
        .link(UnboundedReceiverStream::new(out_rx))
        .await
        .map_err(|s| {
            format!(
                "the scheduler at {} refused this worker: {}",
                config.scheduler,
                s.message()
            )
        })?
        .into_inner();
    let heartbeat = match inbound.message().await {
        Ok(Some(kaon_proto::SchedulerMessage {
            kind: Some(scheduler_message::Kind::Welcome(w)),
        })) => Duration::from_millis(w.heartbeat_ms.clamp(10, 60_000) as u64),
        other => {
            return Err(format!(
                "the scheduler did not welcome this worker: {other:?}"
            ));
        }
    };
    tracing::info!(name = %config.name, data = %data_address, "worker connected to {}", config.scheduler);

    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.nthreads)
            .thread_name(|i| format!("kaon-kernel-{i}"))
            .build()
            .map_err(|e| format!("cannot start {} kernel threads: {e}", config.nthreads))?,
    );
    let status = Arc::new(ExecStatus::default());
    let (exec_tx, exec_rx) = mpsc::unbounded_channel();
    let executor = Executor::new(
        exec_rx,
        exec_tx.clone(),
        out_tx.clone(),
        store.clone(),
        pool,
        KernelOptions {
            allow_fault_injection: config.allow_fault_injection,
        },
        status.clone(),
        DataClients::with_token(add_token),
        config.nthreads,
        (config.memory_limit as f64 * config.pause_fraction) as u64,
    );
    let executor = tokio::spawn(executor.run());
    let beats = tokio::spawn(heartbeats(out_tx, store, status, heartbeat));

    let receive = async {
        loop {
            match inbound.message().await {
                Ok(Some(msg)) => {
                    if let Some(scheduler_message::Kind::Batch(b)) = msg.kind {
                        let retire = b.retire;
                        let _ = exec_tx.send(ExecMsg::Batch(b));
                        if retire {
                            tracing::info!("retired by the scheduler");
                            return Ok(());
                        }
                    }
                }
                Ok(None) => return Err("the scheduler closed the connection".to_string()),
                Err(s) => return Err(format!("lost the scheduler: {}", s.message())),
            }
        }
    };
    let result = tokio::select! {
        r = receive => r,
        _ = shutdown => Ok(()),
    };
    beats.abort();
    executor.abort();
    if result.is_ok() {
        // With every sender gone the stream to the scheduler ends cleanly, so it
        // records a shutdown rather than a lost worker; wait briefly for its goodbye.
        let _ = beats.await;
        let _ = executor.await;
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(Some(_)) = inbound.message().await {}
        })
        .await;
    }
    data_server.abort();
    drop(spill_dir);
    result
}

async fn connect_with_retry(
    address: &str,
    timeout: Duration,
    token: AddToken,
) -> Result<WorkerLinkClient<Authed>, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| format!("bad scheduler address {address:?}: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + timeout;
    loop {
        match endpoint.connect().await {
            Ok(channel) => {
                return Ok(WorkerLinkClient::with_interceptor(channel, token)
                    .max_decoding_message_size(kaon_proto::MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(kaon_proto::MAX_MESSAGE_BYTES));
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("cannot reach the scheduler at {address}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn heartbeats(
    out: mpsc::UnboundedSender<WorkerMessage>,
    store: Arc<Mutex<ChunkStore>>,
    status: Arc<ExecStatus>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    let mut last = (Instant::now(), crate::memory::process_cpu_seconds());
    loop {
        tick.tick().await;
        let stats = store.lock().unwrap().stats();
        let now = (Instant::now(), crate::memory::process_cpu_seconds());
        let wall = now.0.duration_since(last.0).as_secs_f64();
        let cpu_percent = if wall > 0.0 {
            ((now.1 - last.1) / wall * 100.0) as f32
        } else {
            0.0
        };
        last = now;
        let beat = Heartbeat {
            memory: crate::memory::process_rss_bytes(),
            spilled: stats.spilled_bytes,
            executing: status.executing.load(Ordering::Relaxed),
            paused: status.paused.load(Ordering::Relaxed),
            cpu_percent,
            ready: status.ready.load(Ordering::Relaxed),
            transfer_bytes: status.transfer_bytes.load(Ordering::Relaxed),
        };
        if out
            .send(WorkerMessage {
                kind: Some(worker_message::Kind::Heartbeat(beat)),
            })
            .is_err()
        {
            return;
        }
    }
}
