//! The scheduler core: one tokio task that owns the [`SchedulerState`] and turns
//! RPCs, worker messages and timers into event batches, and commands into messages.
//!
//! Every message waiting in the queue is drained into one batch before the state
//! machine runs, so a burst of completions costs one `handle` call and one outgoing
//! batch per worker.

use super::monitor::{ErrorRecord, Monitor, StreamRecord, now_ms};
use super::scaling::{Scaler, Starting};
use crate::adaptive::{Adaptive, AdaptiveConfig, Decision};
use crate::state::{
    Command, Event, Finished, GraphId, GraphStatus, SchedulerState, TaskRef, WorkerId,
};
use kaon_graph::{Graph, TaskId};
use kaon_proto as pb;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

pub(crate) type WorkerSender = mpsc::UnboundedSender<Result<pb::SchedulerMessage, Status>>;

/// Requests to the core.
pub(crate) enum CoreMsg {
    WorkerJoined {
        register: pb::Register,
        sender: WorkerSender,
        reply: oneshot::Sender<WorkerId>,
    },
    WorkerMessage {
        worker: WorkerId,
        message: pb::WorkerMessage,
    },
    WorkerGone {
        worker: WorkerId,
        /// The worker closed its stream (shut down) rather than vanishing.
        graceful: bool,
    },
    Submit {
        graph: Arc<Graph>,
        reply: oneshot::Sender<GraphId>,
    },
    Watch {
        graph: GraphId,
        reply: oneshot::Sender<Option<watch::Receiver<pb::GraphProgress>>>,
    },
    Locate {
        graph: GraphId,
        reply: oneshot::Sender<Result<Vec<pb::ChunkLocation>, Status>>,
    },
    Release {
        graph: GraphId,
    },
    Info {
        reply: oneshot::Sender<pb::ClusterInfoReply>,
    },
    Scale {
        n: usize,
        reply: oneshot::Sender<Result<pb::ScaleReply, Status>>,
    },
    /// Adaptive scaling between minimum and maximum, or off with `None`.
    Adapt {
        range: Option<(usize, usize)>,
        reply: oneshot::Sender<Result<pb::ScaleReply, Status>>,
    },
    StartFailed {
        n: usize,
        message: String,
    },
    /// The dashboard's view, with task-stream records newer than `since`.
    Snapshot {
        since: Option<u64>,
        reply: oneshot::Sender<serde_json::Value>,
    },
    Metrics {
        reply: oneshot::Sender<String>,
    },
    LayerTasks {
        graph: GraphId,
        layer: u32,
        reply: oneshot::Sender<Option<serde_json::Value>>,
    },
}

/// Timing knobs of the core.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// How often workers send heartbeats.
    pub heartbeat: Duration,
    /// A worker silent for this long is removed, and its work redone elsewhere.
    pub worker_ttl: Duration,
    /// Progress updates per graph are sent at most this often.
    pub progress_interval: Duration,
    /// Shown in cluster info.
    pub dashboard: String,
    pub state: crate::state::Config,
    /// How often adaptive scaling decides.
    pub adapt_interval: Duration,
}

pub(super) struct WorkerEntry {
    pub register: pb::Register,
    sender: WorkerSender,
    last_seen: Instant,
    pub heartbeat: pb::Heartbeat,
    /// Graph definitions this worker has been sent.
    graphs: HashSet<GraphId>,
    /// Being retired: gets no work, leaves once its results are elsewhere.
    pub retiring: bool,
}

pub(super) struct GraphEntry {
    pub graph: Arc<Graph>,
    progress: watch::Sender<pb::GraphProgress>,
    last_published: Instant,
    ended: bool,
}

pub(crate) struct Core {
    config: CoreConfig,
    pub(super) state: SchedulerState,
    pub(super) workers: HashMap<WorkerId, WorkerEntry>,
    pub(super) graphs: HashMap<GraphId, GraphEntry>,
    next_worker: WorkerId,
    next_graph: GraphId,
    events: Vec<Event>,
    commands: Vec<Command>,
    pub(super) monitor: Monitor,
    scaler: Option<Arc<dyn Scaler>>,
    pub(super) starting: Starting,
    pub(super) adaptive: Option<Adaptive>,
    pub(super) desired: Option<usize>,
    /// When a graph last ran (for a gateway's idle timeout).
    last_busy: Instant,
    /// To post messages to itself from spawned work (a failed worker start).
    myself: mpsc::UnboundedSender<CoreMsg>,
}

impl Core {
    pub(crate) fn new(
        config: CoreConfig,
        scaler: Option<Arc<dyn Scaler>>,
        myself: mpsc::UnboundedSender<CoreMsg>,
    ) -> Self {
        let state = SchedulerState::new(config.state.clone());
        Self {
            config,
            state,
            workers: HashMap::new(),
            graphs: HashMap::new(),
            next_worker: 1,
            next_graph: 1,
            events: Vec::new(),
            commands: Vec::new(),
            monitor: Monitor::default(),
            scaler,
            starting: Starting::default(),
            adaptive: None,
            desired: None,
            last_busy: Instant::now(),
            myself,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<CoreMsg>) {
        let mut tick =
            tokio::time::interval(self.config.progress_interval.min(self.config.heartbeat));
        let mut adapt = tokio::time::interval(self.config.adapt_interval);
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { return };
                    self.on_message(msg);
                    while let Ok(msg) = rx.try_recv() {
                        self.on_message(msg);
                    }
                }
                _ = tick.tick() => {
                    self.check_heartbeats();
                    self.take_sample();
                }
                _ = adapt.tick() => {
                    self.adapt();
                    self.replace_lost_workers();
                }
            }
            self.flush_events();
            self.publish_progress(false);
        }
    }

    /// Workers that count for scaling: joined and not retiring.
    pub(super) fn live_workers(&self) -> usize {
        self.workers.values().filter(|w| !w.retiring).count()
    }

    /// After a manual scale, keeps the cluster at its size: a worker that died (a job
    /// killed by its batch system, a crashed process) is replaced through the scaler.
    /// Adaptive scaling does the same by itself, from its own target.
    fn replace_lost_workers(&mut self) {
        let (Some(n), None, Some(_)) = (self.desired, &self.adaptive, &self.scaler) else {
            return;
        };
        let have = self.live_workers() + self.starting.count();
        if have < n {
            tracing::info!(lost = n - have, "replacing lost workers");
            if let Err(e) = self.scale_to(n) {
                tracing::error!("replacing lost workers: {}", e.message());
            }
        }
    }

    fn take_sample(&mut self) {
        if self.state.graphs_running() > 0 {
            self.last_busy = Instant::now();
        }
        let (memory, spilled) = self.workers.values().fold((0, 0), |(m, s), w| {
            (m + w.heartbeat.memory, s + w.heartbeat.spilled)
        });
        let n = self.workers.len();
        self.monitor.sample(memory, spilled, n);
    }

    /// Moves the cluster towards `n` workers: asks the scaler for more, or retires the
    /// workers holding least (after their results are copied elsewhere).
    fn scale_to(&mut self, n: usize) -> Result<pb::ScaleReply, Status> {
        let live = self.live_workers();
        let starting = self.starting.count();
        if n > live + starting {
            let scaler = self.scaler.clone().ok_or_else(|| {
                Status::failed_precondition(
                    "this scheduler cannot start workers: it runs without a cluster manager \
                     (kaon local or a gateway); start `kaon worker` processes instead",
                )
            })?;
            let more = n - live - starting;
            self.starting.add(more);
            let myself = self.myself.clone();
            tokio::spawn(async move {
                if let Err(message) = scaler.start_workers(more).await {
                    let _ = myself.send(CoreMsg::StartFailed { n: more, message });
                }
            });
            tracing::info!(more, "starting workers");
        } else if n < live {
            let retire = self.state.retire_candidates(live - n);
            for id in &retire {
                if let Some(w) = self.workers.get_mut(id) {
                    w.retiring = true;
                }
            }
            tracing::info!(?retire, "retiring workers");
            self.events.push(Event::RetireWorkers { workers: retire });
        }
        self.desired = Some(n);
        Ok(self.scale_reply(String::new()))
    }

    fn scale_reply(&mut self, message: String) -> pb::ScaleReply {
        pb::ScaleReply {
            workers: self.live_workers() as u32,
            desired: self.desired.unwrap_or(self.live_workers()) as u32,
            message,
        }
    }

    fn adapt(&mut self) {
        let current = self.live_workers() + self.starting.count();
        let load = self.state.load();
        let Some(adaptive) = &mut self.adaptive else {
            return;
        };
        match adaptive.tick(&load, current) {
            Decision::Hold => {}
            Decision::ScaleUp { to } | Decision::ScaleDown { to } => {
                if let Err(e) = self.scale_to(to) {
                    tracing::error!("adaptive scaling: {}", e.message());
                }
            }
        }
    }

    fn on_message(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::WorkerJoined {
                register,
                sender,
                reply,
            } => {
                let id = self.next_worker;
                self.next_worker += 1;
                let welcome = pb::SchedulerMessage {
                    kind: Some(pb::scheduler_message::Kind::Welcome(pb::Welcome {
                        worker_id: id,
                        heartbeat_ms: self.config.heartbeat.as_millis() as u32,
                    })),
                };
                let _ = sender.send(Ok(welcome));
                tracing::info!(worker = id, name = %register.name, data = %register.data_address, "worker joined");
                self.events.push(Event::WorkerJoined {
                    worker: id,
                    nthreads: register.nthreads.max(1),
                    memory_limit: register.memory_limit,
                });
                self.starting.joined();
                self.workers.insert(
                    id,
                    WorkerEntry {
                        register,
                        sender,
                        last_seen: Instant::now(),
                        heartbeat: pb::Heartbeat::default(),
                        graphs: HashSet::new(),
                        retiring: false,
                    },
                );
                let _ = reply.send(id);
            }
            CoreMsg::WorkerMessage { worker, message } => self.on_worker_message(worker, message),
            CoreMsg::WorkerGone { worker, graceful } => {
                if graceful {
                    tracing::info!(worker, "worker shut down");
                }
                self.remove_worker(
                    worker,
                    if graceful {
                        "shut down"
                    } else {
                        "connection lost"
                    },
                );
            }
            CoreMsg::Submit { graph, reply } => {
                let id = self.next_graph;
                self.next_graph += 1;
                let (progress, _) = watch::channel(progress_of(id, &graph, None, &self.workers));
                self.graphs.insert(
                    id,
                    GraphEntry {
                        graph: graph.clone(),
                        progress,
                        last_published: Instant::now(),
                        ended: false,
                    },
                );
                self.events.push(Event::GraphSubmitted {
                    graph: id,
                    def: graph,
                });
                let _ = reply.send(id);
            }
            CoreMsg::Watch { graph, reply } => {
                self.flush_events();
                self.publish_progress(true);
                let _ = reply.send(self.graphs.get(&graph).map(|g| g.progress.subscribe()));
            }
            CoreMsg::Locate { graph, reply } => {
                self.flush_events();
                let _ = reply.send(self.locate(graph));
            }
            CoreMsg::Release { graph } => {
                if let Some(g) = self.graphs.remove(&graph) {
                    let mut p = g.progress.borrow().clone();
                    if !g.ended {
                        p.state = pb::GraphState::Released as i32;
                        g.progress.send_replace(p);
                    }
                    self.events.push(Event::GraphReleased { graph });
                }
            }
            CoreMsg::Info { reply } => {
                self.flush_events();
                let _ = reply.send(self.info());
            }
            CoreMsg::Scale { n, reply } => {
                self.flush_events();
                // Setting a size by hand ends adaptive scaling, as in dask.
                self.adaptive = None;
                let _ = reply.send(self.scale_to(n));
            }
            CoreMsg::Adapt { range, reply } => {
                let result = match range {
                    None => {
                        self.adaptive = None;
                        Ok(self.scale_reply("adaptive scaling off".into()))
                    }
                    Some(_) if self.scaler.is_none() => Err(Status::failed_precondition(
                        "this scheduler cannot start workers, so it cannot adapt: it runs \
                         without a cluster manager (kaon local or a gateway)",
                    )),
                    Some((minimum, maximum)) => Adaptive::new(AdaptiveConfig {
                        minimum,
                        maximum,
                        ..AdaptiveConfig::default()
                    })
                    .map_err(Status::invalid_argument)
                    .map(|a| {
                        self.adaptive = Some(a);
                        self.scale_reply(format!("adapting between {minimum} and {maximum}"))
                    }),
                };
                if result.is_ok() {
                    self.adapt();
                }
                let _ = reply.send(result);
            }
            CoreMsg::StartFailed { n, message } => {
                tracing::error!("could not start {n} workers: {message}");
                self.starting.failed(n);
                self.monitor.error(ErrorRecord {
                    time_ms: now_ms(),
                    graph: 0,
                    key: "scaling".into(),
                    message: format!("could not start {n} workers: {message}"),
                    worker: String::new(),
                });
            }
            CoreMsg::Snapshot { since, reply } => {
                self.flush_events();
                let _ = reply.send(self.snapshot(since));
            }
            CoreMsg::Metrics { reply } => {
                self.flush_events();
                let _ = reply.send(self.metrics());
            }
            CoreMsg::LayerTasks {
                graph,
                layer,
                reply,
            } => {
                self.flush_events();
                let _ = reply.send(self.layer_tasks(graph, layer));
            }
        }
    }

    fn on_worker_message(&mut self, worker: WorkerId, message: pb::WorkerMessage) {
        let Some(entry) = self.workers.get_mut(&worker) else {
            return;
        };
        entry.last_seen = Instant::now();
        match message.kind {
            Some(pb::worker_message::Kind::Heartbeat(hb)) => {
                if hb.paused != entry.heartbeat.paused {
                    self.events.push(Event::WorkerPaused {
                        worker,
                        paused: hb.paused,
                    });
                }
                entry.heartbeat = hb;
            }
            Some(pb::worker_message::Kind::Batch(batch)) => {
                let name = entry.register.name.clone();
                let mut finished = Vec::with_capacity(batch.finished.len());
                for f in batch.finished {
                    if let Some(task) = self.task_ref(f.task) {
                        let layer = self.graphs[&task.graph].graph.layer(task.task.layer);
                        self.monitor.record(StreamRecord {
                            seq: 0,
                            kind: "compute",
                            worker: name.clone(),
                            thread: f.thread,
                            name: layer.name.clone(),
                            start_ms: f.start_unix_us as f64 / 1e3,
                            duration_ms: f.duration_us as f64 / 1e3,
                            bytes: f.nbytes,
                        });
                        finished.push(Finished {
                            task,
                            nbytes: f.nbytes,
                            duration_us: f.duration_us,
                        });
                    }
                }
                for d in batch.disk {
                    self.monitor.record(StreamRecord {
                        seq: 0,
                        kind: if d.write { "spill" } else { "read-back" },
                        worker: name.clone(),
                        thread: 0,
                        name: "disk".into(),
                        start_ms: d.start_unix_us as f64 / 1e3,
                        duration_ms: d.duration_us as f64 / 1e3,
                        bytes: d.bytes,
                    });
                }
                for t in batch.transfers {
                    self.monitor.record(StreamRecord {
                        seq: 0,
                        kind: "transfer",
                        worker: name.clone(),
                        thread: 0,
                        name: t.from,
                        start_ms: t.start_unix_us as f64 / 1e3,
                        duration_ms: t.duration_us as f64 / 1e3,
                        bytes: t.bytes,
                    });
                }
                let replicated: Vec<Finished> = batch
                    .replicated
                    .into_iter()
                    .filter_map(|f| {
                        Some(Finished {
                            task: self.task_ref(f.task)?,
                            nbytes: f.nbytes,
                            duration_us: 0,
                        })
                    })
                    .collect();
                if !replicated.is_empty() {
                    self.events.push(Event::Replicated {
                        worker,
                        tasks: replicated,
                    });
                }
                for t in batch.replicate_failed {
                    if let Some(task) = self.task_ref(Some(t)) {
                        self.events.push(Event::ReplicateFailed { worker, task });
                    }
                }
                if !finished.is_empty() {
                    self.events.push(Event::TasksFinished {
                        worker,
                        tasks: finished,
                    });
                }
                for f in batch.failed {
                    let Some(task) = self.task_ref(f.task) else {
                        continue;
                    };
                    match f.missing_input.and_then(|i| self.task_ref(Some(i))) {
                        Some(input) => self.events.push(Event::InputMissing {
                            worker,
                            task,
                            input,
                        }),
                        None => self.events.push(Event::TaskFailed {
                            worker,
                            task,
                            message: f.message,
                        }),
                    }
                }
                for s in batch.steal_replies {
                    if let Some(task) = self.task_ref(s.task) {
                        self.events.push(Event::StealReplied {
                            worker,
                            task,
                            stolen: s.stolen,
                        });
                    }
                }
            }
            Some(pb::worker_message::Kind::Register(_)) | None => {
                tracing::warn!(worker, "ignoring a repeated or empty worker message");
            }
        }
    }

    /// A task reference from the network, if it names a task of a live graph.
    fn task_ref(&self, t: Option<pb::TaskRef>) -> Option<TaskRef> {
        let t = t?;
        let task = TaskId {
            layer: t.layer,
            chunk: t.chunk,
        };
        let g = self.graphs.get(&t.graph)?;
        g.graph.contains(task).then_some(TaskRef {
            graph: t.graph,
            task,
        })
    }

    fn remove_worker(&mut self, worker: WorkerId, why: &str) {
        if let Some(w) = self.workers.remove(&worker) {
            if w.retiring {
                tracing::info!(worker, name = %w.register.name, "worker retired");
            }
            if why != "shut down" && !w.retiring {
                tracing::warn!(worker, name = %w.register.name, "worker removed: {why}");
            }
            self.events.push(Event::WorkerLost { worker });
        }
    }

    fn check_heartbeats(&mut self) {
        let ttl = self.config.worker_ttl;
        let silent: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| w.last_seen.elapsed() > ttl)
            .map(|(&id, _)| id)
            .collect();
        for id in silent {
            // Dropping its sender ends the worker's stream, so a worker that was only
            // slow learns it was removed and exits instead of working for nobody.
            self.remove_worker(id, &format!("no heartbeat for {ttl:?}"));
        }
    }

    /// Runs the state machine over the queued events and sends what it decided.
    fn flush_events(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        let mut commands = std::mem::take(&mut self.commands);
        self.state.handle(events, &mut commands);
        let mut batches: HashMap<WorkerId, pb::SchedulerBatch> = HashMap::new();
        for command in commands.drain(..) {
            match command {
                Command::Assign { worker, tasks } => {
                    if !self.workers.contains_key(&worker) {
                        continue;
                    }
                    let batch = batches.entry(worker).or_default();
                    for a in tasks {
                        let first_of_graph = self
                            .workers
                            .get_mut(&worker)
                            .is_some_and(|w| w.graphs.insert(a.task.graph));
                        if first_of_graph && let Some(g) = self.graphs.get(&a.task.graph) {
                            batch.graphs.push(pb::GraphDefinition {
                                graph: a.task.graph,
                                graph_def: Some(g.graph.to_proto()),
                            });
                        }
                        let inputs = a
                            .inputs
                            .iter()
                            .map(|(t, holders)| pb::InputLocation {
                                task: Some(wire(*t)),
                                holders: holders
                                    .iter()
                                    .filter_map(|h| self_address(&self.workers, *h))
                                    .collect(),
                            })
                            .collect();
                        batch.assign.push(pb::TaskAssignment {
                            task: Some(wire(a.task)),
                            priority: a.priority,
                            inputs,
                        });
                    }
                }
                Command::Steal { worker, tasks } => batches
                    .entry(worker)
                    .or_default()
                    .steal
                    .extend(tasks.into_iter().map(wire)),
                Command::Release { worker, tasks } => batches
                    .entry(worker)
                    .or_default()
                    .release
                    .extend(tasks.into_iter().map(wire)),
                Command::Replicate { worker, tasks } => {
                    let replicate = tasks
                        .iter()
                        .map(|(t, holders)| pb::InputLocation {
                            task: Some(wire(*t)),
                            holders: holders
                                .iter()
                                .filter_map(|h| self_address(&self.workers, *h))
                                .collect(),
                        })
                        .collect::<Vec<_>>();
                    batches
                        .entry(worker)
                        .or_default()
                        .replicate
                        .extend(replicate);
                }
                Command::Retire { worker } => {
                    if let Some(w) = self.workers.get_mut(&worker) {
                        w.retiring = true;
                    }
                    batches.entry(worker).or_default().retire = true;
                }
                Command::GraphFinished { graph } => {
                    if let Some(g) = self.graphs.get_mut(&graph) {
                        g.ended = true;
                    }
                    self.publish_one(graph);
                }
                Command::GraphFailed { graph, error } => {
                    if let Some(g) = self.graphs.get_mut(&graph) {
                        g.ended = true;
                    }
                    self.monitor.error(ErrorRecord {
                        time_ms: now_ms(),
                        graph,
                        key: error.key.clone(),
                        message: error.message.clone(),
                        worker: error
                            .worker
                            .map(|w| worker_label(&self.workers, w))
                            .unwrap_or_default(),
                    });
                    self.publish_one(graph);
                }
            }
        }
        self.commands = commands;
        // Workers forget definitions of graphs that are gone.
        for (&id, w) in self.workers.iter_mut() {
            let gone: Vec<GraphId> = w
                .graphs
                .iter()
                .filter(|g| !self.graphs.contains_key(g))
                .copied()
                .collect();
            if !gone.is_empty() {
                for g in &gone {
                    w.graphs.remove(g);
                }
                batches.entry(id).or_default().forget_graphs.extend(gone);
            }
        }
        for (worker, batch) in batches {
            if let Some(w) = self.workers.get(&worker) {
                let _ = w.sender.send(Ok(pb::SchedulerMessage {
                    kind: Some(pb::scheduler_message::Kind::Batch(batch)),
                }));
            }
        }
    }

    fn publish_one(&mut self, id: GraphId) {
        let Some(g) = self.graphs.get_mut(&id) else {
            return;
        };
        let p = self.state.graph_progress(id);
        // send_replace stores the update even when nobody watches yet: a client that
        // starts watching after the graph ended must still see how it ended.
        g.progress
            .send_replace(progress_of(id, &g.graph, p.as_ref(), &self.workers));
        g.last_published = Instant::now();
    }

    fn publish_progress(&mut self, force: bool) {
        let due: Vec<GraphId> = self
            .graphs
            .iter()
            .filter(|(_, g)| {
                !g.ended && (force || g.last_published.elapsed() >= self.config.progress_interval)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            self.publish_one(id);
        }
    }

    fn locate(&self, graph: GraphId) -> Result<Vec<pb::ChunkLocation>, Status> {
        let g = self
            .graphs
            .get(&graph)
            .ok_or_else(|| Status::not_found(format!("graph {graph} is unknown or released")))?;
        let holders = self.state.result_holders(graph).ok_or_else(|| {
            Status::failed_precondition(format!("graph {graph} has not finished"))
        })?;
        let _ = g;
        Ok(holders
            .into_iter()
            .map(|(t, ws)| pb::ChunkLocation {
                task: Some(wire(t)),
                holders: ws
                    .iter()
                    .filter_map(|w| self_address(&self.workers, *w))
                    .collect(),
            })
            .collect())
    }

    pub(super) fn info(&self) -> pb::ClusterInfoReply {
        let held: HashMap<WorkerId, crate::state::WorkerView> = self
            .state
            .workers()
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let mut workers: Vec<pb::WorkerInfo> = self
            .workers
            .iter()
            .map(|(&id, w)| pb::WorkerInfo {
                id,
                name: w.register.name.clone(),
                data_address: w.register.data_address.clone(),
                nthreads: w.register.nthreads,
                memory_limit: w.register.memory_limit,
                memory: w.heartbeat.memory,
                spilled: w.heartbeat.spilled,
                executing: w.heartbeat.executing,
                pid: w.register.pid,
                paused: w.heartbeat.paused,
                cpu_percent: w.heartbeat.cpu_percent,
                ready: w.heartbeat.ready,
                held_tasks: held.get(&id).map_or(0, |v| v.held_tasks),
                transfer_bytes: w.heartbeat.transfer_bytes,
                retiring: w.retiring,
            })
            .collect();
        workers.sort_by_key(|w| w.id);
        pb::ClusterInfoReply {
            workers,
            graphs_running: self.state.graphs_running() as u64,
            dashboard: self.config.dashboard.clone(),
            desired_workers: self.desired.unwrap_or(self.workers.len()) as u32,
            idle_seconds: if self.state.graphs_running() > 0 {
                0.0
            } else {
                self.last_busy.elapsed().as_secs_f64()
            },
        }
    }
}

/// A worker as users know it: its name and address.
pub(super) fn worker_label(workers: &HashMap<WorkerId, WorkerEntry>, id: WorkerId) -> String {
    match workers.get(&id) {
        Some(w) => format!("{} ({})", w.register.name, w.register.data_address),
        None => format!("#{id} (gone)"),
    }
}

fn self_address(workers: &HashMap<WorkerId, WorkerEntry>, id: WorkerId) -> Option<String> {
    workers.get(&id).map(|w| w.register.data_address.clone())
}

fn wire(t: TaskRef) -> pb::TaskRef {
    pb::TaskRef {
        graph: t.graph,
        layer: t.task.layer,
        chunk: t.task.chunk,
    }
}

/// The wire form of a graph's progress.
fn progress_of(
    id: GraphId,
    graph: &Graph,
    p: Option<&crate::state::GraphProgress>,
    workers: &HashMap<WorkerId, WorkerEntry>,
) -> pb::GraphProgress {
    let Some(p) = p else {
        return pb::GraphProgress {
            graph: id,
            state: pb::GraphState::Running as i32,
            layers: graph
                .layers()
                .iter()
                .enumerate()
                .map(|(i, l)| pb::LayerProgress {
                    layer: i as u32,
                    name: l.name.clone(),
                    total: graph.layer_tasks(i as u32),
                    waiting: graph.layer_tasks(i as u32),
                    ..Default::default()
                })
                .collect(),
            error: None,
        };
    };
    let (state, error) = match &p.status {
        GraphStatus::Running => (pb::GraphState::Running, None),
        GraphStatus::Finished => (pb::GraphState::Finished, None),
        GraphStatus::Failed(f) => (
            pb::GraphState::Failed,
            Some(pb::TaskError {
                key: f.key.clone(),
                message: f.message.clone(),
                worker: f
                    .worker
                    .map(|w| worker_label(workers, w))
                    .unwrap_or_default(),
            }),
        ),
    };
    pb::GraphProgress {
        graph: id,
        state: state as i32,
        layers: p
            .layers
            .iter()
            .map(|l| pb::LayerProgress {
                layer: l.layer,
                name: l.name.clone(),
                total: l.total,
                done: l.done,
                running: l.running,
                waiting: l.waiting,
                erred: l.erred,
            })
            .collect(),
        error,
    }
}
