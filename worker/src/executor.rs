//! The executor: turns task assignments into kernel runs on the rayon pool.
//!
//! One tokio task owns all executor state, so no locks guard it: assignments,
//! fetched inputs and finished kernels arrive as messages, and every drained batch of
//! messages ends with one [`WorkerBatch`] of reports to the scheduler. Inputs held by
//! other workers are fetched concurrently before a task is queued to run; at most
//! `nthreads` kernels run at once, lowest priority number first.
//!
//! While every kernel thread is busy, one more batch waits in a hand-off queue: a
//! thread that finishes takes it before it reports, so it never idles while its
//! result goes through this task and the next assignment comes back.

use crate::store::{ChunkKey, ChunkStore, key_of};
use kaon_graph::{Graph, TaskId};
use kaon_kernels::{Chunk, KernelOptions};
use kaon_proto::data::DataClients;
use kaon_proto::{
    SchedulerBatch, StealReply, TaskAssignment, TaskFailed, TaskFinished, TaskRef, Transfer,
    WorkerBatch, WorkerMessage, worker_message,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Inputs fetched from peers, or the input that could not be fetched and why.
type Fetched = Result<Vec<(ChunkKey, Arc<Chunk>)>, (TaskRef, String)>;

/// Messages the executor reacts to.
pub(crate) enum ExecMsg {
    Batch(SchedulerBatch),
    InputsFetched {
        key: ChunkKey,
        result: Fetched,
    },
    /// A batch of one or more tasks finished on the kernel pool; `took_next`: its
    /// thread went on with the batch waiting in the hand-off queue (else it is free).
    KernelsDone {
        runs: Vec<Ran>,
        took_next: bool,
    },
    /// Copies asked for by the scheduler (to retire another worker) arrived, or not.
    Replicated {
        tasks: Vec<TaskRef>,
        result: Fetched,
    },
}

/// One task's run on the kernel pool.
pub(crate) struct Ran {
    task: TaskRef,
    result: Result<Arc<Chunk>, String>,
    duration: Duration,
    start_unix_us: u64,
    thread: u32,
}

/// Batches ready for the next kernel thread to finish (at most one waits).
type HandOff = Arc<Mutex<VecDeque<Vec<Job>>>>;

/// A task ready to run, with its inputs gathered.
struct Job {
    task: TaskRef,
    graph: Arc<Graph>,
    id: TaskId,
    inputs: Vec<Arc<Chunk>>,
}

/// Tasks of layers whose mean run time is below this are run many per pool job, so
/// a tiny task costs no thread wake-up of its own.
const TINY_TASK: Duration = Duration::from_micros(200);

/// Most tasks in one pool job.
const MAX_JOB_TASKS: usize = 256;

/// Counters the heartbeat reads.
#[derive(Default)]
pub(crate) struct ExecStatus {
    pub executing: AtomicU32,
    pub ready: AtomicU32,
    pub paused: AtomicBool,
    pub transfer_bytes: AtomicU64,
    /// Fetches from peers since the last report, for the task stream.
    pub transfers: Mutex<Vec<Transfer>>,
}

/// Microseconds since the Unix epoch.
pub(crate) fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

struct Pending {
    task: TaskRef,
    priority: u64,
    /// Inputs fetched from other workers, held until the task runs.
    fetched: Vec<(ChunkKey, Arc<Chunk>)>,
    /// Still waiting for inputs from other workers.
    fetching: bool,
}

pub(crate) struct Executor {
    rx: mpsc::UnboundedReceiver<ExecMsg>,
    tx: mpsc::UnboundedSender<ExecMsg>,
    out: mpsc::UnboundedSender<WorkerMessage>,
    store: Arc<Mutex<ChunkStore>>,
    pool: Arc<rayon::ThreadPool>,
    options: Arc<KernelOptions>,
    status: Arc<ExecStatus>,
    nthreads: usize,
    pause_bytes: u64,
    peers: DataClients,
    graphs: HashMap<u64, Arc<Graph>>,
    pending: HashMap<ChunkKey, Pending>,
    ready: BinaryHeap<Reverse<(u64, ChunkKey)>>,
    /// Kernel threads busy with a batch (at most `nthreads`).
    running_jobs: usize,
    /// The batch waiting for the next of them to finish, and whether there is one
    /// (as far as this task has heard).
    hand_off: HandOff,
    handed: bool,
    /// Tasks in those batches.
    running_tasks: usize,
    /// Mean run time per (graph, layer), to decide which tasks are tiny.
    layer_us: HashMap<(u64, u32), f64>,
    report: WorkerBatch,
    last_memory_check: Instant,
}

impl Executor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<ExecMsg>,
        tx: mpsc::UnboundedSender<ExecMsg>,
        out: mpsc::UnboundedSender<WorkerMessage>,
        store: Arc<Mutex<ChunkStore>>,
        pool: Arc<rayon::ThreadPool>,
        options: KernelOptions,
        status: Arc<ExecStatus>,
        peers: DataClients,
        nthreads: usize,
        pause_bytes: u64,
    ) -> Self {
        Self {
            rx,
            tx,
            out,
            store,
            pool,
            options: Arc::new(options),
            status,
            nthreads,
            pause_bytes,
            peers,
            graphs: HashMap::new(),
            pending: HashMap::new(),
            ready: BinaryHeap::new(),
            running_jobs: 0,
            hand_off: HandOff::default(),
            handed: false,
            running_tasks: 0,
            layer_us: HashMap::new(),
            report: WorkerBatch::default(),
            last_memory_check: Instant::now(),
        }
    }

    /// Runs until the link closes the message channel.
    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                msg = self.rx.recv() => {
                    let Some(msg) = msg else { return };
                    self.handle(msg);
                    while let Ok(msg) = self.rx.try_recv() {
                        self.handle(msg);
                    }
                }
                _ = tick.tick() => {}
            }
            self.check_memory();
            self.start_tasks();
            self.flush();
        }
    }

    fn handle(&mut self, msg: ExecMsg) {
        match msg {
            ExecMsg::Batch(batch) => self.on_batch(batch),
            ExecMsg::InputsFetched { key, result } => self.on_inputs_fetched(key, result),
            ExecMsg::KernelsDone { runs, took_next } => self.on_kernels_done(runs, took_next),
            ExecMsg::Replicated { tasks, result } => self.on_replicated(tasks, result),
        }
    }

    fn on_batch(&mut self, batch: SchedulerBatch) {
        for def in batch.graphs {
            let Some(graph) = def.graph_def else { continue };
            match Graph::from_proto(&graph) {
                Ok(g) => {
                    self.graphs.insert(def.graph, Arc::new(g));
                }
                Err(e) => tracing::error!(graph = def.graph, "refusing graph definition: {e}"),
            }
        }
        for a in batch.assign {
            self.on_assign(a);
        }
        for t in batch.steal {
            let key = key_of(&t);
            // Only a task that has not started can be retracted: one still queued
            // here, or in the batch no thread has taken from the hand-off queue yet.
            let stolen = self.pending.remove(&key).is_some() || self.retract_handed(key);
            self.report.steal_replies.push(StealReply {
                task: Some(t),
                stolen,
            });
        }
        if !batch.release.is_empty() {
            let mut store = self.store.lock().unwrap();
            for t in &batch.release {
                store.remove(&key_of(t));
            }
        }
        if !batch.replicate.is_empty() {
            let wanted: Vec<(TaskRef, Vec<String>)> = batch
                .replicate
                .into_iter()
                .filter_map(|l| Some((l.task?, l.holders)))
                .collect();
            let tasks = wanted.iter().map(|(t, _)| *t).collect();
            let tx = self.tx.clone();
            let peers = self.peers.clone();
            let status = self.status.clone();
            tokio::spawn(async move {
                let result = fetch_inputs(&peers, &status, wanted).await;
                let _ = tx.send(ExecMsg::Replicated { tasks, result });
            });
        }
        for g in batch.forget_graphs {
            self.graphs.remove(&g);
            self.pending.retain(|k, _| k.0 != g);
            self.store.lock().unwrap().remove_graph(g);
        }
    }

    fn on_assign(&mut self, a: TaskAssignment) {
        let Some(task) = a.task else { return };
        let key = key_of(&task);
        if !self.graphs.contains_key(&task.graph) {
            self.fail(
                task,
                format!("graph {} is unknown to this worker", task.graph),
            );
            return;
        }
        // Inputs held elsewhere are fetched now, so the task is ready when a thread frees.
        let mut remote: Vec<(TaskRef, Vec<String>)> = Vec::new();
        {
            let store = self.store.lock().unwrap();
            for input in a.inputs {
                let Some(t) = input.task else { continue };
                if !store.contains(&key_of(&t)) {
                    remote.push((t, input.holders));
                }
            }
        }
        let fetching = !remote.is_empty();
        self.pending.insert(
            key,
            Pending {
                task,
                priority: a.priority,
                fetched: Vec::new(),
                fetching,
            },
        );
        if fetching {
            let tx = self.tx.clone();
            let peers = self.peers.clone();
            let status = self.status.clone();
            tokio::spawn(async move {
                let result = fetch_inputs(&peers, &status, remote).await;
                let _ = tx.send(ExecMsg::InputsFetched { key, result });
            });
        } else {
            self.ready.push(Reverse((a.priority, key)));
        }
    }

    fn on_inputs_fetched(&mut self, key: ChunkKey, result: Fetched) {
        // A task stolen or forgotten while its inputs were in flight is gone.
        let Some(p) = self.pending.get_mut(&key) else {
            return;
        };
        match result {
            Ok(chunks) => {
                p.fetched = chunks;
                p.fetching = false;
                self.ready.push(Reverse((p.priority, key)));
            }
            Err((input, message)) => {
                let task = p.task;
                self.pending.remove(&key);
                tracing::warn!("task {key:?}: {message}");
                self.report.failed.push(TaskFailed {
                    task: Some(task),
                    message,
                    missing_input: Some(input),
                });
            }
        }
    }

    fn on_kernels_done(&mut self, runs: Vec<Ran>, took_next: bool) {
        if took_next {
            self.handed = false;
        } else {
            self.running_jobs -= 1;
        }
        self.running_tasks -= runs.len();
        self.status
            .executing
            .store(self.running_tasks as u32, Ordering::Relaxed);
        let mut store = self.store.lock().unwrap();
        for Ran {
            task,
            result,
            duration,
            start_unix_us,
            thread,
        } in runs
        {
            let us = duration.as_secs_f64() * 1e6;
            let mean = self.layer_us.entry((task.graph, task.layer)).or_insert(us);
            *mean = 0.9 * *mean + 0.1 * us;
            match result {
                Ok(chunk) => {
                    let nbytes = chunk.nbytes() as u64;
                    // A graph forgotten while its task ran keeps nothing.
                    let stored = if self.graphs.contains_key(&task.graph) {
                        store.insert(key_of(&task), chunk)
                    } else {
                        Ok(())
                    };
                    match stored {
                        Ok(()) => self.report.finished.push(TaskFinished {
                            task: Some(task),
                            nbytes,
                            duration_us: duration.as_micros() as u64,
                            start_unix_us,
                            thread,
                        }),
                        Err(e) => self.report.failed.push(TaskFailed {
                            task: Some(task),
                            message: format!("cannot spill to disk: {e}"),
                            missing_input: None,
                        }),
                    }
                }
                Err(message) => self.report.failed.push(TaskFailed {
                    task: Some(task),
                    message,
                    missing_input: None,
                }),
            }
        }
    }

    fn on_replicated(&mut self, tasks: Vec<TaskRef>, result: Fetched) {
        match result {
            Ok(chunks) => {
                let mut store = self.store.lock().unwrap();
                for (key, chunk) in chunks {
                    let nbytes = chunk.nbytes() as u64;
                    let task = TaskRef {
                        graph: key.0,
                        layer: key.1,
                        chunk: key.2,
                    };
                    match store.insert(key, chunk) {
                        Ok(()) => self.report.replicated.push(TaskFinished {
                            task: Some(task),
                            nbytes,
                            ..Default::default()
                        }),
                        Err(_) => self.report.replicate_failed.push(task),
                    }
                }
            }
            Err((_, message)) => {
                tracing::warn!("cannot copy results for a retiring worker: {message}");
                self.report.replicate_failed.extend(tasks);
            }
        }
    }

    fn fail(&mut self, task: TaskRef, message: String) {
        self.report.failed.push(TaskFailed {
            task: Some(task),
            message,
            missing_input: None,
        });
    }

    /// Above the pause mark (process memory) the store spills everything it can; if
    /// memory is still above it, no new task starts until running ones finish. A
    /// worker with nothing running never pauses: waiting could not free anything.
    fn check_memory(&mut self) {
        if self.last_memory_check.elapsed() < Duration::from_millis(50) {
            return;
        }
        self.last_memory_check = Instant::now();
        let mut over = crate::memory::process_rss_bytes() > self.pause_bytes;
        if over {
            if let Err(e) = self.store.lock().unwrap().spill_all() {
                tracing::error!("cannot spill to disk: {e}");
            }
            over = crate::memory::process_rss_bytes() > self.pause_bytes;
        }
        let paused = over && self.running_tasks > 0;
        if paused != self.status.paused.swap(paused, Ordering::Relaxed) {
            tracing::warn!(
                paused,
                "worker memory above the pause mark: paused {paused}"
            );
        }
    }

    fn start_tasks(&mut self) {
        let paused = self.status.paused.load(Ordering::Relaxed);
        while self.running_jobs < self.nthreads {
            // A batch left in the hand-off queue (a thread found it empty just before
            // it was filled) goes first, paused or not: it was chosen and counted as
            // running already.
            let waiting = self.hand_off.lock().unwrap().pop_front();
            let batch = match waiting {
                Some(b) => {
                    self.handed = false;
                    b
                }
                None if paused => return,
                None => match self.next_batch() {
                    Some(b) => b,
                    None => return,
                },
            };
            self.running_jobs += 1;
            self.spawn(batch);
        }
        if !paused
            && !self.handed
            && let Some(batch) = self.next_batch()
        {
            self.hand_off.lock().unwrap().push_back(batch);
            self.handed = true;
        }
    }

    /// Takes the task `key` out of the batch waiting in the hand-off queue, if it is
    /// there (no thread has taken the batch yet).
    fn retract_handed(&mut self, key: ChunkKey) -> bool {
        let mut queue = self.hand_off.lock().unwrap();
        let Some((b, j)) = queue.iter().enumerate().find_map(|(b, jobs)| {
            let j = jobs.iter().position(|job| key_of(&job.task) == key)?;
            Some((b, j))
        }) else {
            return false;
        };
        queue[b].remove(j);
        if queue[b].is_empty() {
            queue.remove(b);
            self.handed = false;
        }
        drop(queue);
        self.running_tasks -= 1;
        self.status
            .executing
            .store(self.running_tasks as u32, Ordering::Relaxed);
        true
    }

    /// The next batch to run: the highest-priority ready task, with more of the queue
    /// when its layer's tasks are tiny (a share of the queue per kernel thread).
    fn next_batch(&mut self) -> Option<Vec<Job>> {
        let first = self.next_ready()?;
        let mut jobs = vec![first];
        if self.is_tiny(jobs[0].task.graph, jobs[0].task.layer) {
            let free = self.nthreads.saturating_sub(self.running_jobs).max(1);
            let share = (self.ready.len() / free).clamp(0, MAX_JOB_TASKS - 1);
            while jobs.len() <= share {
                match self.ready.peek() {
                    Some(Reverse((_, key))) if self.is_tiny(key.0, key.1) => {}
                    _ => break,
                }
                match self.next_ready() {
                    Some(job) => jobs.push(job),
                    None => break,
                }
            }
        }
        self.running_tasks += jobs.len();
        self.status
            .executing
            .store(self.running_tasks as u32, Ordering::Relaxed);
        Some(jobs)
    }

    /// Runs `batch` on a kernel thread, then whatever waits in the hand-off queue.
    fn spawn(&self, batch: Vec<Job>) {
        let tx = self.tx.clone();
        let options = self.options.clone();
        let hand_off = self.hand_off.clone();
        self.pool.spawn(move || {
            let mut next = Some(batch);
            while let Some(jobs) = next.take() {
                let runs = jobs.into_iter().map(|job| run_job(job, &options)).collect();
                // Taken before reporting, so the thread goes straight on.
                next = hand_off.lock().unwrap().pop_front();
                let took_next = next.is_some();
                let _ = tx.send(ExecMsg::KernelsDone { runs, took_next });
            }
        });
    }

    /// Whether tasks of this layer run so briefly that they go to the pool in batches.
    fn is_tiny(&self, graph: u64, layer: u32) -> bool {
        self.layer_us
            .get(&(graph, layer))
            .is_some_and(|&us| us < TINY_TASK.as_secs_f64() * 1e6)
    }

    /// Pops the highest-priority task that can run now, with its inputs; tasks that
    /// cannot (stolen, forgotten, an input gone) are dropped or reported on the way.
    fn next_ready(&mut self) -> Option<Job> {
        loop {
            let Reverse((_, key)) = self.ready.pop()?;
            match self.pending.get(&key) {
                Some(p) if !p.fetching => {}
                _ => continue,
            }
            let p = self.pending.remove(&key).unwrap();
            let Some(graph) = self.graphs.get(&p.task.graph).cloned() else {
                continue;
            };
            let id = TaskId {
                layer: p.task.layer,
                chunk: p.task.chunk,
            };
            if !graph.contains(id) {
                self.fail(
                    p.task,
                    format!("task {id:?} is not in graph {}", p.task.graph),
                );
                continue;
            }
            match self.gather_inputs(&graph, &p) {
                Ok(inputs) => {
                    return Some(Job {
                        task: p.task,
                        graph,
                        id,
                        inputs,
                    });
                }
                Err((input, message)) => self.report.failed.push(TaskFailed {
                    task: Some(p.task),
                    message,
                    missing_input: Some(input),
                }),
            }
        }
    }

    /// The task's inputs in `inputs_of` order, from the store or from the fetched set.
    fn gather_inputs(
        &self,
        graph: &Graph,
        p: &Pending,
    ) -> Result<Vec<Arc<Chunk>>, (TaskRef, String)> {
        let task = TaskId {
            layer: p.task.layer,
            chunk: p.task.chunk,
        };
        // A persisted array's chunk reads one result of another graph.
        let ids: Vec<(u64, TaskId)> = match graph.stored_source(task) {
            Some(source) => vec![source],
            None => {
                let mut ids = Vec::new();
                graph.inputs_of(task, &mut ids);
                ids.into_iter().map(|id| (p.task.graph, id)).collect()
            }
        };
        let mut store = self.store.lock().unwrap();
        ids.iter()
            .map(|&(g, id)| {
                let key = (g, id.layer, id.chunk);
                let input = TaskRef {
                    graph: g,
                    layer: id.layer,
                    chunk: id.chunk,
                };
                if let Some((_, c)) = p.fetched.iter().find(|(k, _)| *k == key) {
                    return Ok(c.clone());
                }
                match store.get(&key) {
                    Ok(Some(c)) => Ok(c),
                    Ok(None) => Err((
                        input,
                        if g == p.task.graph {
                            format!("input {} is not held here", graph.task_key(id))
                        } else {
                            format!(
                                "input (chunk {} of layer {} of graph {g}) is not held here",
                                id.chunk, id.layer
                            )
                        },
                    )),
                    Err(e) => Err((input, format!("cannot read spilled input: {e}"))),
                }
            })
            .collect()
    }

    fn flush(&mut self) {
        self.status
            .ready
            .store(self.pending.len() as u32, Ordering::Relaxed);
        self.report
            .transfers
            .append(&mut self.status.transfers.lock().unwrap());
        self.report
            .disk
            .append(&mut self.store.lock().unwrap().take_disk_io());
        let r = &self.report;
        if r.finished.is_empty()
            && r.failed.is_empty()
            && r.steal_replies.is_empty()
            && r.replicated.is_empty()
            && r.replicate_failed.is_empty()
            && r.transfers.is_empty()
            && r.disk.is_empty()
        {
            return;
        }
        let batch = std::mem::take(&mut self.report);
        let _ = self.out.send(WorkerMessage {
            kind: Some(worker_message::Kind::Batch(batch)),
        });
    }
}

/// Runs one task on the calling kernel thread.
fn run_job(job: Job, options: &KernelOptions) -> Ran {
    let start_unix_us = unix_us();
    let start = Instant::now();
    let refs: Vec<&Chunk> = job.inputs.iter().map(|c| &**c).collect();
    let result = if job.graph.stored_source(job.id).is_some() {
        // A persisted array's chunk: the same bytes under a second key.
        Ok(job.inputs[0].clone())
    } else {
        kaon_kernels::run_task(&job.graph, job.id, &refs, options)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    };
    Ran {
        task: job.task,
        result,
        duration: start.elapsed(),
        start_unix_us,
        thread: rayon::current_thread_index().unwrap_or(0) as u32,
    }
}

/// Fetches inputs from their holders, one request per holder, trying the next holder
/// of a chunk when one fails.
async fn fetch_inputs(
    peers: &DataClients,
    status: &ExecStatus,
    remote: Vec<(TaskRef, Vec<String>)>,
) -> Fetched {
    let mut fetched = Vec::with_capacity(remote.len());
    let mut by_holder: HashMap<String, Vec<(TaskRef, Vec<String>)>> = HashMap::new();
    for (task, holders) in remote {
        match holders.first() {
            Some(h) => by_holder
                .entry(h.clone())
                .or_default()
                .push((task, holders)),
            None => return Err((task, "an input has no holder".to_string())),
        }
    }
    for (first, wanted) in by_holder {
        let tasks: Vec<TaskRef> = wanted.iter().map(|(t, _)| *t).collect();
        match fetch_from(peers, status, &first, tasks).await {
            Ok(chunks) => fetched.extend(chunks),
            Err(first_error) => {
                // Try each chunk's other holders, one by one.
                for (task, holders) in wanted {
                    let mut last_error = first_error.clone();
                    let mut got = None;
                    for h in holders.iter().skip(1) {
                        match fetch_from(peers, status, h, vec![task]).await {
                            Ok(mut c) => {
                                got = c.pop();
                                break;
                            }
                            Err(e) => last_error = e,
                        }
                    }
                    match got {
                        Some(c) => fetched.push(c),
                        None => return Err((task, last_error)),
                    }
                }
            }
        }
    }
    Ok(fetched)
}

async fn fetch_from(
    peers: &DataClients,
    status: &ExecStatus,
    address: &str,
    tasks: Vec<TaskRef>,
) -> Result<Vec<(ChunkKey, Arc<Chunk>)>, String> {
    let start_unix_us = unix_us();
    let start = Instant::now();
    let raw = peers
        .fetch(address, tasks)
        .await
        .map_err(|e| e.to_string())?;
    let bytes: u64 = raw.iter().map(|r| r.bytes.len() as u64).sum();
    status.transfer_bytes.fetch_add(bytes, Ordering::Relaxed);
    status.transfers.lock().unwrap().push(Transfer {
        from: address.to_string(),
        bytes,
        start_unix_us,
        duration_us: start.elapsed().as_micros() as u64,
    });
    raw.into_iter()
        .map(|r| {
            let dtype = kaon_graph::DType::from_proto(r.dtype as i32)
                .ok_or_else(|| format!("{address} sent an unknown dtype"))?;
            let chunk = Chunk::from_le_bytes(dtype, r.shape, &r.bytes)
                .map_err(|e| format!("{address} sent a bad chunk: {e}"))?;
            Ok((key_of(&r.task), Arc::new(chunk)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChunkStore;
    use kaon_proto::GraphDefinition;
    use kaon_proto::auth::AddToken;

    /// An executor with `threads` kernel threads on a fresh store; its message sender,
    /// its reports, its status and its kernel pool.
    struct Harness {
        tx: mpsc::UnboundedSender<ExecMsg>,
        out: mpsc::UnboundedReceiver<WorkerMessage>,
        status: Arc<ExecStatus>,
        pool: Arc<rayon::ThreadPool>,
        running: tokio::task::JoinHandle<()>,
        _spill: tempfile::TempDir,
    }

    fn start(threads: usize) -> Harness {
        let spill = tempfile::tempdir().unwrap();
        let store = Arc::new(Mutex::new(ChunkStore::new(spill.path(), 1 << 30)));
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        );
        let status = Arc::new(ExecStatus::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let (out_tx, out) = mpsc::unbounded_channel();
        let executor = Executor::new(
            rx,
            tx.clone(),
            out_tx,
            store,
            pool.clone(),
            KernelOptions::default(),
            status.clone(),
            DataClients::with_token(AddToken::new(None).unwrap()),
            threads,
            u64::MAX,
        );
        Harness {
            tx,
            out,
            status,
            pool,
            running: tokio::spawn(executor.run()),
            _spill: spill,
        }
    }

    impl Harness {
        /// Assigns the first `n` leaf tasks of `ones((n,), chunks=1).sum()`, in order.
        fn assign_leaves(&self, n: u64) {
            let graph = kaon_graph::testing::sum_tree_graph(n, 4);
            let assign = (0..n)
                .map(|chunk| TaskAssignment {
                    task: Some(leaf(chunk)),
                    priority: chunk,
                    inputs: Vec::new(),
                })
                .collect();
            self.tx
                .send(ExecMsg::Batch(SchedulerBatch {
                    graphs: vec![GraphDefinition {
                        graph: 7,
                        graph_def: Some(graph.to_proto()),
                    }],
                    assign,
                    ..Default::default()
                }))
                .unwrap();
        }

        /// The next report batch.
        async fn report(&mut self) -> WorkerBatch {
            loop {
                let msg = tokio::time::timeout(Duration::from_secs(20), self.out.recv())
                    .await
                    .expect("the executor stopped reporting")
                    .unwrap();
                if let Some(worker_message::Kind::Batch(b)) = msg.kind {
                    assert!(b.failed.is_empty(), "{:?}", b.failed);
                    return b;
                }
            }
        }
    }

    fn leaf(chunk: u64) -> TaskRef {
        TaskRef {
            graph: 7,
            layer: 0,
            chunk,
        }
    }

    /// Runs the `n` leaf tasks on `threads` kernel threads; returns what was reported
    /// finished, and the count of tasks still called executing afterwards.
    async fn run_leaves(threads: usize, n: u64) -> (Vec<TaskFinished>, u32) {
        let mut h = start(threads);
        h.assign_leaves(n);
        let mut finished = Vec::new();
        while (finished.len() as u64) < n {
            finished.extend(h.report().await.finished);
        }
        // The last report is sent after the last batch's accounting.
        let executing = h.status.executing.load(Ordering::Relaxed);
        h.running.abort();
        (finished, executing)
    }

    /// Every task runs once and is reported once, whether a thread started it or took
    /// it from the hand-off queue, and nothing is left counted as executing.
    #[tokio::test]
    async fn every_task_runs_once_through_the_hand_off_queue() {
        for threads in [1, 2, 3] {
            for n in [1, 2, 5, 64] {
                let (finished, executing) = run_leaves(threads, n).await;
                let mut chunks: Vec<u64> = finished.iter().map(|f| f.task.unwrap().chunk).collect();
                chunks.sort_unstable();
                assert_eq!(
                    chunks,
                    (0..n).collect::<Vec<_>>(),
                    "{threads} threads, {n} tasks"
                );
                assert_eq!(executing, 0, "{threads} threads, {n} tasks");
                assert!(finished.iter().all(|f| (f.thread as usize) < threads));
            }
        }
    }

    /// The batch in the hand-off queue has not started, so the scheduler can take it
    /// back (to give it to an idle worker); a batch on a thread it cannot.
    #[tokio::test]
    async fn a_batch_waiting_in_the_hand_off_queue_can_be_stolen() {
        let mut h = start(1);
        // Keep the one kernel thread busy, so the executor's first batch waits in
        // rayon's queue and its second in the hand-off queue.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        h.pool.spawn(move || {
            let _ = blocked.recv();
        });
        h.assign_leaves(2);
        // Both started: the first in rayon's queue, the second in the hand-off queue.
        let t0 = Instant::now();
        while h.status.executing.load(Ordering::Relaxed) < 2 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the tasks never started"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let steal = |t| {
            ExecMsg::Batch(SchedulerBatch {
                steal: vec![t],
                ..Default::default()
            })
        };
        h.tx.send(steal(leaf(1))).unwrap();
        h.tx.send(steal(leaf(0))).unwrap();
        let mut replies = Vec::new();
        while replies.len() < 2 {
            replies.extend(h.report().await.steal_replies);
        }
        let stolen: Vec<(u64, bool)> = replies
            .iter()
            .map(|r| (r.task.unwrap().chunk, r.stolen))
            .collect();
        assert_eq!(stolen, [(1, true), (0, false)]);
        assert_eq!(h.status.executing.load(Ordering::Relaxed), 1);
        release.send(()).unwrap();
        let done = h.report().await;
        let chunks: Vec<u64> = done
            .finished
            .iter()
            .map(|f| f.task.unwrap().chunk)
            .collect();
        assert_eq!(chunks, [0]);
        assert_eq!(h.status.executing.load(Ordering::Relaxed), 0);
        h.running.abort();
    }
}
