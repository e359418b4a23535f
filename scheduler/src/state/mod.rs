//! The scheduler's pure state machine: task and worker states driven by batches of events, answering with batches of commands (no I/O, no async).
//!
//! [`SchedulerState::handle`] applies a batch of [`Event`]s and appends the resulting
//! [`Command`]s. Tasks live in dense per-graph arrays indexed by
//! [`kaon_graph::Graph::task_index`]; inputs and dependents are recomputed from the graph's
//! layers when needed instead of being stored as edge lists.
//!
//! Modules, one job each:
//! - `tasks`: per-graph task tables, task states, transitions and progress counters;
//! - `workers`: the worker table, in-flight limits and per-worker command buffers;
//! - `lifecycle`: completion, release of results, failure, cancellation;
//! - `recovery`: worker loss, lineage recomputation, `InputMissing`;
//! - `placement`: the root-task queue and locality-first placement;
//! - `stealing`: work stealing with a retract handshake;
//! - `retirement`: graceful retirement (results moved first, nothing recomputed);
//! - `stored`: tasks reading another graph's kept results (persisted arrays);
//! - [`sim`]: a simulated cluster that drives the state machine in tests and benchmarks.
//!
//! For scaling, [`SchedulerState::load`] summarizes the work ([`ClusterLoad`], the input of
//! [`crate::adaptive`]), [`SchedulerState::retire_candidates`] names the workers cheapest to
//! retire, and [`Event::RetireWorkers`] retires them gracefully.

mod lifecycle;
mod placement;
mod recovery;
mod retirement;
pub mod sim;
mod stealing;
mod stored;
mod tasks;
mod workers;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kaon_graph::{Graph, TaskId};

use tasks::{GraphState, TaskState};
use workers::Workers;

/// A worker's id, chosen by the service layer (unique per connection).
pub type WorkerId = u64;
/// A graph's id, chosen by the service layer (unique while the graph is known).
pub type GraphId = u64;

/// One task of one graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskRef {
    pub graph: GraphId,
    pub task: TaskId,
}

/// Policy knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// A task that was processing on this many workers that died fails its graph (it
    /// probably crashes them).
    pub max_worker_deaths: u32,
    /// Per-thread queued work, in microseconds, the scheduler aims to keep on a worker:
    /// it sets how many root tasks a worker gets in flight.
    pub saturation_target_us: u64,
    /// Upper bound of root tasks in flight per worker thread (before the +1 of headroom).
    pub max_in_flight_per_thread: u32,
    /// Whether idle workers steal queued tasks from busy ones.
    pub work_stealing: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_worker_deaths: 3,
            saturation_target_us: 5_000,
            max_in_flight_per_thread: 64,
            work_stealing: true,
        }
    }
}

/// A task a worker finished: its result is now held there.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub task: TaskRef,
    /// Size of the result, used for placement (transfer cost) and memory accounting.
    pub nbytes: u64,
    /// How long the kernel ran, used to size in-flight limits and queue-wait estimates.
    pub duration_us: u64,
}

/// What the service layer tells the state machine. (Not `PartialEq`: graphs are not.)
#[derive(Clone, Debug)]
pub enum Event {
    WorkerJoined {
        worker: WorkerId,
        nthreads: u32,
        memory_limit: u64,
    },
    /// The worker died, missed heartbeats, or disconnected.
    WorkerLost { worker: WorkerId },
    /// Paused workers get no new tasks.
    WorkerPaused { worker: WorkerId, paused: bool },
    /// A new graph, already validated.
    GraphSubmitted { graph: GraphId, def: Arc<Graph> },
    /// The client cancelled the graph or fetched its results: forget it everywhere.
    GraphReleased { graph: GraphId },
    TasksFinished {
        worker: WorkerId,
        tasks: Vec<Finished>,
    },
    /// A kernel error: fails the task's graph.
    TaskFailed {
        worker: WorkerId,
        task: TaskRef,
        message: String,
    },
    /// The worker could fetch `input` from no holder: the input is recomputed and the task
    /// runs again later. Not an error.
    InputMissing {
        worker: WorkerId,
        task: TaskRef,
        input: TaskRef,
    },
    /// Answer to [`Command::Steal`]: whether the worker retracted the task.
    StealReplied {
        worker: WorkerId,
        task: TaskRef,
        stolen: bool,
    },
    /// Graceful retirement (scale-down). The workers get no new tasks: their tasks not
    /// started yet are taken back with the steal handshake and placed elsewhere; tasks
    /// already running finish there. Every result they hold that is still needed and held
    /// by no other live, non-retiring worker is copied to one ([`Command::Replicate`], to
    /// the open worker holding the fewest bytes). Once a retiring worker runs nothing,
    /// holds nothing needed that is not also elsewhere, and no task elsewhere may still be
    /// fetching an input from it alone, the state emits [`Command::Retire`] once and forgets
    /// it: like a loss, but nothing is recomputed and no death is counted.
    ///
    /// If no other open worker exists, its results cannot move: it stays (retiring) until
    /// one joins or unpauses. A retiring worker that holds nothing needed and runs nothing
    /// goes at once, even if it is the last. Unknown or already retiring ids are ignored;
    /// a retiring worker that is lost meanwhile is a plain loss.
    RetireWorkers { workers: Vec<WorkerId> },
    /// Answer to [`Command::Replicate`]: the worker now also holds these (`nbytes` as in
    /// [`Finished`]; the size already known is kept; `duration_us` is ignored). Copies of
    /// results no longer in memory, or sent by a retiring worker, are released.
    Replicated {
        worker: WorkerId,
        tasks: Vec<Finished>,
    },
    /// Answer to [`Command::Replicate`]: the worker could not copy `task`. Another target
    /// is picked (or the same again later if none other exists); the result stays where
    /// it is and is never lost for this.
    ReplicateFailed { worker: WorkerId, task: TaskRef },
}

/// One task sent to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub task: TaskRef,
    /// Lower runs first; ordered across graphs by submission (older graph first).
    pub priority: u64,
    /// The task's inputs in [`Graph::inputs_of`] order, with the workers holding each.
    pub inputs: Vec<(TaskRef, Vec<WorkerId>)>,
}

/// Why a graph failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    /// The failing task's key, from [`Graph::task_key`].
    pub key: String,
    pub message: String,
    /// The worker it failed (or last died) on.
    pub worker: Option<WorkerId>,
}

/// What the state machine asks the service layer to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Assign {
        worker: WorkerId,
        tasks: Vec<Assignment>,
    },
    /// Ask the worker to retract these tasks if it has not started them; it answers each
    /// with [`Event::StealReplied`].
    Steal {
        worker: WorkerId,
        tasks: Vec<TaskRef>,
    },
    /// The worker may drop these results.
    Release {
        worker: WorkerId,
        tasks: Vec<TaskRef>,
    },
    /// All the graph's outputs are in memory (sent once per graph).
    GraphFinished {
        graph: GraphId,
    },
    GraphFailed {
        graph: GraphId,
        error: TaskFailure,
    },
    /// The worker should fetch these results from the listed holders and keep them; it
    /// answers with [`Event::Replicated`] / [`Event::ReplicateFailed`]. Sent to move results
    /// off retiring workers.
    Replicate {
        worker: WorkerId,
        tasks: Vec<(TaskRef, Vec<WorkerId>)>,
    },
    /// Stop this (retiring) worker now: it runs nothing and holds nothing needed only
    /// there. The state has already forgotten it. Sent once, after the batch's Release,
    /// Assign, Steal and Replicate commands.
    Retire {
        worker: WorkerId,
    },
}

/// Where a graph stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphStatus {
    Running,
    /// Every output is in memory; results stay until [`Event::GraphReleased`].
    Finished,
    Failed(TaskFailure),
}

/// A graph's status and per-layer task counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphProgress {
    pub status: GraphStatus,
    pub layers: Vec<LayerProgress>,
}

/// Task counts of one layer. `done` counts tasks whose result was computed (held or
/// already released); `waiting` counts tasks waiting for inputs or queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProgress {
    pub layer: u32,
    pub name: String,
    pub total: u64,
    pub done: u64,
    pub running: u64,
    pub waiting: u64,
    pub erred: u64,
}

/// A worker as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerView {
    pub id: WorkerId,
    pub nthreads: u32,
    /// Tasks assigned to it and not yet finished.
    pub processing: u64,
    pub held_bytes: u64,
    pub held_tasks: u64,
    pub paused: bool,
}

/// The work in the cluster, for scaling decisions ([`crate::adaptive`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterLoad {
    /// Live workers, not retiring (paused ones included).
    pub workers: usize,
    /// Their threads.
    pub threads: u64,
    /// Tasks of live (not failed) graphs not processing yet: waiting for inputs or queued
    /// in the scheduler.
    pub queued_tasks: u64,
    /// Tasks assigned to workers and not finished.
    pub processing: u64,
    /// Sum over queued and processing tasks of the mean observed duration of their layer
    /// (or of all tasks, or 1 ms before any observation), in microseconds.
    pub expected_work_us: f64,
}

/// A task inside the state machine: its graph and its dense index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TaskKey {
    pub graph: GraphId,
    pub idx: u32,
}

/// Running mean of observed task durations.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DurationStat {
    pub sum_us: u64,
    pub count: u64,
}

impl DurationStat {
    pub fn add(&mut self, us: u64) {
        self.sum_us = self.sum_us.saturating_add(us);
        self.count += 1;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_us as f64 / self.count as f64)
    }
}

/// Everything but the graphs: what task transitions touch besides their own graph.
pub(crate) struct Ctx {
    pub config: Config,
    pub workers: Workers,
    pub transitions: u64,
    /// Graph-level commands (finished, failed), emitted after the per-worker ones.
    pub notices: Vec<Command>,
    /// Ready tasks with inputs that found no worker (none joined, or all paused).
    pub unplaced: Vec<TaskKey>,
    /// Mean duration over every layer of every graph.
    pub overall: DurationStat,
    /// Outstanding copies off retiring workers (empty while none retires).
    pub replicating: HashMap<TaskKey, retirement::Pending>,
    /// Something a retirement may wait for changed: run the retirement pass.
    pub retire_dirty: bool,
    /// Some retiring worker waits for tasks elsewhere to leave their worker.
    pub retire_waits: bool,
    /// Retirement passes so far (to drop stale `replicating` entries).
    pub retire_pass: u64,
    /// Tasks reading another graph's result, to run or to register as waiting
    /// (`stored::settle`).
    pub stored_pending: Vec<TaskKey>,
    /// Reading tasks waiting for their source result, by source.
    pub stored_waiters: HashMap<TaskRef, Vec<TaskKey>>,
    /// Graphs failed or forgotten in this batch: graphs reading them fail.
    pub stored_gone: Vec<GraphId>,
    bufs: Vec<Vec<TaskId>>,
}

impl Ctx {
    /// A cleared scratch vector of task ids; give it back with [`Ctx::put_buf`].
    pub fn take_buf(&mut self) -> Vec<TaskId> {
        let mut v = self.bufs.pop().unwrap_or_default();
        v.clear();
        v
    }

    pub fn put_buf(&mut self, v: Vec<TaskId>) {
        self.bufs.push(v);
    }
}

/// The scheduler's state: graphs, tasks and workers. See the module documentation.
pub struct SchedulerState {
    ctx: Ctx,
    graphs: HashMap<GraphId, GraphState>,
    /// Graphs by submission order (the key), for root-queue order across graphs.
    order: BTreeMap<u64, GraphId>,
    next_seq: u64,
}

impl SchedulerState {
    pub fn new(config: Config) -> Self {
        Self {
            ctx: Ctx {
                config,
                workers: Workers::default(),
                transitions: 0,
                notices: Vec::new(),
                unplaced: Vec::new(),
                overall: DurationStat::default(),
                replicating: HashMap::new(),
                retire_dirty: false,
                retire_waits: false,
                retire_pass: 0,
                stored_pending: Vec::new(),
                stored_waiters: HashMap::new(),
                stored_gone: Vec::new(),
                bufs: Vec::new(),
            },
            graphs: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Applies a batch of events; appends the resulting commands. At most one Release,
    /// one Assign, one Steal and one Replicate per worker per call (coalesced, in that
    /// order, worker by worker), then Retire commands, then graph notices.
    pub fn handle(&mut self, events: impl IntoIterator<Item = Event>, out: &mut Vec<Command>) {
        for event in events {
            self.apply(event);
        }
        stored::settle(&mut self.ctx, &mut self.graphs);
        placement::place_unplaced(&mut self.ctx, &mut self.graphs);
        placement::fill_roots(&mut self.ctx, &mut self.graphs, &self.order);
        if self.ctx.config.work_stealing {
            stealing::balance(&mut self.ctx, &mut self.graphs);
        }
        let retire = if self.ctx.workers.retiring() > 0 && self.ctx.retire_dirty {
            retirement::progress(&mut self.ctx, &mut self.graphs)
        } else {
            Vec::new()
        };
        self.ctx.workers.compact(&self.graphs);
        self.ctx.workers.flush(&self.graphs, out);
        if !retire.is_empty() {
            retirement::retire(&mut self.ctx, &mut self.graphs, retire, out);
        }
        if self.ctx.workers.retiring() == 0 && !self.ctx.replicating.is_empty() {
            self.ctx.replicating.clear();
            self.ctx.retire_waits = false;
        }
        out.append(&mut self.ctx.notices);
    }

    fn apply(&mut self, event: Event) {
        if self.ctx.workers.retiring() > 0 {
            // Finished tasks matter to a retirement only if they ran on a retiring worker
            // or one waits for tasks elsewhere (releases are noticed where they happen).
            self.ctx.retire_dirty |= match &event {
                Event::TasksFinished { worker, .. } => {
                    self.ctx.retire_waits
                        || self
                            .ctx
                            .workers
                            .slot_of(*worker)
                            .is_some_and(|s| self.ctx.workers.get(s).retiring)
                }
                _ => true,
            };
        }
        match event {
            Event::WorkerJoined {
                worker,
                nthreads,
                memory_limit,
            } => self.ctx.workers.join(worker, nthreads, memory_limit),
            Event::WorkerLost { worker } => {
                recovery::worker_lost(&mut self.ctx, &mut self.graphs, worker)
            }
            Event::WorkerPaused { worker, paused } => {
                if let Some(w) = self.ctx.workers.get_mut_by_id(worker) {
                    w.paused = paused;
                }
            }
            Event::GraphSubmitted { graph, def } => {
                if self.graphs.contains_key(&graph) {
                    return; // ids are unique while known; a duplicate is a caller bug
                }
                let seq = self.next_seq;
                self.next_seq += 1;
                let g = GraphState::new(graph, seq, def, &mut self.ctx);
                self.graphs.insert(graph, g);
                self.order.insert(seq, graph);
                stored::check_sources(&mut self.ctx, &mut self.graphs, graph);
            }
            Event::GraphReleased { graph } => {
                if let Some(mut g) = self.graphs.remove(&graph) {
                    self.order.remove(&g.seq);
                    lifecycle::forget_graph(&mut self.ctx, &mut g);
                }
            }
            Event::TasksFinished { worker, tasks } => {
                let Some(slot) = self.ctx.workers.slot_of(worker) else {
                    return; // a lost worker's late report: it is gone, nothing to tell it
                };
                lifecycle::tasks_finished(&mut self.ctx, &mut self.graphs, slot, tasks);
            }
            Event::TaskFailed {
                worker,
                task,
                message,
            } => {
                let Some(slot) = self.ctx.workers.slot_of(worker) else {
                    return;
                };
                let Some(g) = self.graphs.get_mut(&task.graph) else {
                    return;
                };
                let Some(idx) = g.index_of(task.task) else {
                    return;
                };
                if !g.is_processing_on(idx, slot) {
                    return; // stale
                }
                let failure = TaskFailure {
                    key: g.def.task_key(task.task),
                    message,
                    worker: Some(worker),
                };
                lifecycle::fail_graph(&mut self.ctx, g, failure);
            }
            Event::InputMissing {
                worker,
                task,
                input,
            } => recovery::input_missing(&mut self.ctx, &mut self.graphs, worker, task, input),
            Event::StealReplied {
                worker,
                task,
                stolen,
            } => stealing::replied(&mut self.ctx, &mut self.graphs, worker, task, stolen),
            Event::RetireWorkers { workers } => {
                retirement::retire_workers(&mut self.ctx, &mut self.graphs, workers)
            }
            Event::Replicated { worker, tasks } => {
                retirement::replicated(&mut self.ctx, &mut self.graphs, worker, tasks)
            }
            Event::ReplicateFailed { worker, task } => {
                retirement::replicate_failed(&mut self.ctx, &self.graphs, worker, task)
            }
        }
    }

    /// A graph's status and per-layer counts; `None` for an unknown (or released) graph.
    pub fn graph_progress(&self, graph: GraphId) -> Option<GraphProgress> {
        let g = self.graphs.get(&graph)?;
        let layers = g
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let c = |s: TaskState| l.counts[s as usize];
                LayerProgress {
                    layer: i as u32,
                    name: l.name.clone(),
                    total: l.counts.iter().sum(),
                    done: c(TaskState::Memory) + c(TaskState::Released),
                    running: c(TaskState::Processing),
                    waiting: c(TaskState::Waiting) + c(TaskState::Ready),
                    erred: c(TaskState::Erred),
                }
            })
            .collect();
        Some(GraphProgress {
            status: g.status.clone(),
            layers,
        })
    }

    /// For a finished graph: each output task with the workers holding it (in memory
    /// order). `None` unless the graph is known and finished. A holder list may be empty
    /// for a while if a worker holding an output died and the output is being recomputed.
    pub fn result_holders(&self, graph: GraphId) -> Option<Vec<(TaskRef, Vec<WorkerId>)>> {
        let g = self.graphs.get(&graph)?;
        if g.status != GraphStatus::Finished {
            return None;
        }
        let mut out = Vec::with_capacity(g.outputs_total as usize);
        for &layer in g.def.outputs() {
            for chunk in 0..g.def.layer_tasks(layer) {
                let task = TaskId { layer, chunk };
                let t = &g.tasks[g.def.task_index(task) as usize];
                let holders = t
                    .holders
                    .iter()
                    .map(|&s| self.ctx.workers.id_of(s))
                    .collect();
                out.push((TaskRef { graph, task }, holders));
            }
        }
        Some(out)
    }

    /// Each task of one layer of a graph, in chunk order: its state (`"waiting"`, `"ready"`,
    /// `"processing"`, `"memory"`, `"released"` or `"erred"`) and its workers (the holders
    /// of a result in memory, the worker a processing task runs on, else none). `None` for
    /// an unknown graph or layer. Walks the layer's tasks.
    pub fn task_states(
        &self,
        graph: GraphId,
        layer: u32,
    ) -> Option<Vec<(&'static str, Vec<WorkerId>)>> {
        let g = self.graphs.get(&graph)?;
        let info = g.layers.get(layer as usize)?;
        let count = g.def.layer_tasks(layer) as usize;
        let start = info.offset as usize;
        let ws = &self.ctx.workers;
        let states = g.tasks[start..start + count]
            .iter()
            .map(|t| {
                let workers = match t.state {
                    TaskState::Memory => t.holders.iter().map(|&s| ws.id_of(s)).collect(),
                    TaskState::Processing if t.worker != tasks::NO_WORKER => {
                        vec![ws.id_of(t.worker)]
                    }
                    _ => Vec::new(),
                };
                (t.state.name(), workers)
            })
            .collect();
        Some(states)
    }

    /// Every live worker, by id.
    pub fn workers(&self) -> Vec<WorkerView> {
        let mut v: Vec<WorkerView> = self
            .ctx
            .workers
            .iter()
            .map(|(_, w)| WorkerView {
                id: w.id,
                nthreads: w.nthreads,
                processing: w.processing as u64,
                held_bytes: w.held_bytes,
                held_tasks: w.held_tasks,
                paused: w.paused,
            })
            .collect();
        v.sort_by_key(|w| w.id);
        v
    }

    /// Retiring workers (still live), by id.
    pub fn retiring(&self) -> Vec<WorkerId> {
        let mut v: Vec<WorkerId> = self
            .ctx
            .workers
            .iter()
            .filter(|(_, w)| w.retiring)
            .map(|(_, w)| w.id)
            .collect();
        v.sort_unstable();
        v
    }

    /// Workers best to retire first: fewest held bytes (then fewest processing tasks, then
    /// lowest id), excluding retiring ones. At most `n`.
    pub fn retire_candidates(&self, n: usize) -> Vec<WorkerId> {
        let mut v: Vec<(u64, u32, WorkerId)> = self
            .ctx
            .workers
            .iter()
            .filter(|(_, w)| !w.retiring)
            .map(|(_, w)| (w.held_bytes, w.processing, w.id))
            .collect();
        v.sort_unstable();
        v.into_iter().take(n).map(|c| c.2).collect()
    }

    /// The cluster's work, for scaling (see [`ClusterLoad`]). Walks layers, not tasks.
    pub fn load(&self) -> ClusterLoad {
        let mut load = ClusterLoad::default();
        for (_, w) in self.ctx.workers.iter() {
            if !w.retiring {
                load.workers += 1;
                load.threads += w.nthreads as u64;
            }
        }
        for g in self.graphs.values() {
            if !g.live() {
                continue;
            }
            for (l, layer) in g.layers.iter().enumerate() {
                let c = |s: TaskState| layer.counts[s as usize];
                let queued = c(TaskState::Waiting) + c(TaskState::Ready);
                let processing = c(TaskState::Processing);
                if queued + processing == 0 {
                    continue;
                }
                load.queued_tasks += queued;
                load.processing += processing;
                load.expected_work_us +=
                    (queued + processing) as f64 * placement::mean_duration(&self.ctx, g, l as u32);
            }
        }
        load
    }

    /// Total task state transitions so far.
    pub fn transitions(&self) -> u64 {
        self.ctx.transitions
    }

    /// Graphs that are known and neither finished nor failed.
    pub fn graphs_running(&self) -> usize {
        self.graphs
            .values()
            .filter(|g| g.status == GraphStatus::Running)
            .count()
    }

    /// Checks every derived count against the task tables; panics with the first
    /// mismatch. For tests (it walks every task).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        use std::collections::HashMap as Map;
        let mut processing: Map<u32, (u32, u32)> = Map::new();
        let mut held: Map<u32, (u64, u64)> = Map::new();
        let mut inputs = Vec::new();
        for g in self.graphs.values() {
            let mut counts = vec![[0u64; tasks::NUM_STATES]; g.layers.len()];
            let mut outputs = 0;
            for idx in 0..g.tasks.len() as u32 {
                let t = &g.tasks[idx as usize];
                counts[t.layer as usize][t.state as usize] += 1;
                let id = g.task_id(idx);
                match t.state {
                    TaskState::Processing => {
                        assert_ne!(t.worker, tasks::NO_WORKER, "{id:?} processing nowhere");
                        let e = processing.entry(t.worker).or_default();
                        e.0 += 1;
                        e.1 += t.stealing as u32;
                    }
                    TaskState::Memory => {
                        assert!(!t.holders.is_empty(), "{id:?} in memory nowhere");
                        outputs += g.is_output(idx) as u64;
                        for &h in &t.holders {
                            let e = held.entry(h).or_default();
                            e.0 += t.nbytes;
                            e.1 += 1;
                        }
                    }
                    TaskState::Waiting if g.def.stored_source(id).is_some() => {
                        let (graph, task) = g.def.stored_source(id).unwrap();
                        let source = TaskRef { graph, task };
                        assert_eq!(t.missing, 1, "{id:?} of graph {}", g.id);
                        assert!(
                            stored::is_waiting_for(&self.ctx, source, g.key(idx)),
                            "{id:?} of graph {} waits for {source:?} unregistered",
                            g.id
                        );
                        assert_ne!(
                            self.task_state(source),
                            Some(TaskState::Memory),
                            "{id:?} of graph {} waits for a source in memory",
                            g.id
                        );
                    }
                    TaskState::Waiting => {
                        inputs.clear();
                        g.def.inputs_of(id, &mut inputs);
                        let missing = inputs
                            .iter()
                            .filter(|&&i| {
                                g.tasks[g.def.task_index(i) as usize].state != TaskState::Memory
                            })
                            .count() as u32;
                        assert_eq!(t.missing, missing, "{id:?} of graph {}", g.id);
                        assert!(missing > 0, "{id:?} waits for nothing");
                    }
                    _ => {}
                }
                if t.state != TaskState::Memory {
                    assert!(t.holders.is_empty(), "{id:?} {:?} has holders", t.state);
                }
                if t.state != TaskState::Processing {
                    assert_eq!(t.worker, tasks::NO_WORKER, "{id:?}");
                    assert!(!t.stealing, "{id:?}");
                }
            }
            for (l, c) in counts.iter().enumerate() {
                assert_eq!(*c, g.layers[l].counts, "graph {} layer {l}", g.id);
            }
            assert_eq!(outputs, g.outputs_in_memory, "graph {}", g.id);
        }
        let mut retiring = 0;
        for (slot, w) in self.ctx.workers.iter() {
            let p = processing.get(&slot).copied().unwrap_or_default();
            assert_eq!((w.processing, w.stealing), p, "worker {}", w.id);
            let h = held.get(&slot).copied().unwrap_or_default();
            assert_eq!((w.held_bytes, w.held_tasks), h, "worker {}", w.id);
            assert!(
                w.out_assign.is_empty()
                    && w.out_steal.is_empty()
                    && w.out_release.is_empty()
                    && w.out_replicate.is_empty(),
                "worker {} has unsent commands",
                w.id
            );
            retiring += w.retiring as u32;
            if !w.retiring {
                assert!(
                    w.waits.is_empty(),
                    "worker {} waits but is not retiring",
                    w.id
                );
            }
        }
        assert_eq!(retiring, self.ctx.workers.retiring(), "retiring count");
        if retiring == 0 {
            assert!(
                self.ctx.replicating.is_empty(),
                "copies pending, none retiring"
            );
        }
        // A retiring worker got no new task: each left on it was asked back or started.
        for g in self.graphs.values() {
            for (idx, t) in g.tasks.iter().enumerate() {
                if t.state == TaskState::Processing && self.ctx.workers.get(t.worker).retiring {
                    assert!(
                        t.stealing || t.started,
                        "{:?} of graph {} given to retiring worker {}",
                        g.task_id(idx as u32),
                        g.id,
                        self.ctx.workers.id_of(t.worker)
                    );
                }
            }
        }
        // Copies are asked of workers that are not retiring.
        for (k, p) in &self.ctx.replicating {
            if let Some(s) = p.target.and_then(|t| self.ctx.workers.slot_of(t)) {
                assert!(
                    !self.ctx.workers.get(s).retiring,
                    "copy of {k:?} asked of a retiring worker"
                );
            }
        }
        assert_eq!(
            processing
                .keys()
                .chain(held.keys())
                .filter(|s| { self.ctx.workers.iter().all(|(slot, _)| slot != **s) })
                .count(),
            0,
            "a task refers to a dead worker slot"
        );
    }

    /// A task's state, for tests.
    #[cfg(test)]
    pub(crate) fn task_state(&self, task: TaskRef) -> Option<TaskState> {
        let g = self.graphs.get(&task.graph)?;
        let idx = g.index_of(task.task)?;
        Some(g.tasks[idx as usize].state)
    }

    /// The workers holding a task's result, for tests.
    #[cfg(test)]
    pub(crate) fn holders(&self, task: TaskRef) -> Vec<WorkerId> {
        let Some(g) = self.graphs.get(&task.graph) else {
            return Vec::new();
        };
        let Some(idx) = g.index_of(task.task) else {
            return Vec::new();
        };
        g.tasks[idx as usize]
            .holders
            .iter()
            .map(|&s| self.ctx.workers.id_of(s))
            .collect()
    }
}
