//! A simulated cluster that drives a [`SchedulerState`] without sockets: workers queue
//! the tasks they are assigned, run them in priority order on their threads (instantly,
//! or for given durations on a simulated clock), fetch inputs from each other's stores,
//! answer steals, copy results on request (Replicate), stop when retired, die on request,
//! and report back in batches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kaon_graph::Graph;

use super::{
    Command, Config, Event, Finished, GraphId, SchedulerState, TaskFailure, TaskRef, WorkerId,
};

/// One task run: on which worker, from when to when (simulated microseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub worker: WorkerId,
    pub task: TaskRef,
    pub start_us: u64,
    pub end_us: u64,
}

/// What the simulated workers saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Calls of [`SimCluster::step`].
    pub steps: u64,
    /// Calls of [`SchedulerState::handle`].
    pub batches: u64,
    pub assigned: u64,
    pub tasks_run: u64,
    pub steals_asked: u64,
    pub steals_granted: u64,
    pub steals_refused: u64,
    pub released: u64,
    pub inputs_missing: u64,
    /// Results copied on a Replicate, and copies that failed.
    pub replicated: u64,
    pub replicate_failed: u64,
    /// Workers stopped by a Retire.
    pub retired: u64,
}

type Inputs = Vec<(TaskRef, Vec<WorkerId>)>;

struct SimWorker {
    nthreads: u32,
    /// Assigned, not started, by priority.
    queue: BTreeMap<(u64, TaskRef), Inputs>,
    /// Priority of each queued task, to retract it.
    queued: HashMap<TaskRef, u64>,
    /// Started: (end time, task).
    running: Vec<(u64, TaskRef)>,
    /// Results it holds, with their sizes.
    store: HashMap<TaskRef, u64>,
}

type TaskFn = Box<dyn Fn(TaskRef) -> u64>;

/// A cluster of simulated workers around a [`SchedulerState`].
pub struct SimCluster {
    state: SchedulerState,
    workers: BTreeMap<WorkerId, SimWorker>,
    events: Vec<Event>,
    commands: Vec<Command>,
    now_us: u64,
    duration: TaskFn,
    nbytes: TaskFn,
    failing: HashMap<TaskRef, String>,
    crashing: HashMap<TaskRef, u32>,
    refuse_steals: bool,
    /// Workers that fail every copy they are asked for.
    refuse_copies: Vec<WorkerId>,
    retired: Vec<WorkerId>,
    finished: Vec<GraphId>,
    failed: Vec<(GraphId, TaskFailure)>,
    runs: Option<Vec<Run>>,
    stats: SimStats,
    #[cfg(test)]
    check: bool,
}

impl SimCluster {
    /// An empty cluster whose tasks finish instantly with 8-byte results.
    pub fn new(config: Config) -> Self {
        Self {
            state: SchedulerState::new(config),
            workers: BTreeMap::new(),
            events: Vec::new(),
            commands: Vec::new(),
            now_us: 0,
            duration: Box::new(|_| 0),
            nbytes: Box::new(|_| 8),
            failing: HashMap::new(),
            crashing: HashMap::new(),
            refuse_steals: false,
            refuse_copies: Vec::new(),
            retired: Vec::new(),
            finished: Vec::new(),
            failed: Vec::new(),
            runs: None,
            stats: SimStats::default(),
            #[cfg(test)]
            check: true,
        }
    }

    /// How long each task runs, in simulated microseconds (default: 0, instant).
    pub fn set_durations(&mut self, f: impl Fn(TaskRef) -> u64 + 'static) {
        self.duration = Box::new(f);
    }

    /// The size of each task's result (default: 8 bytes).
    pub fn set_nbytes(&mut self, f: impl Fn(TaskRef) -> u64 + 'static) {
        self.nbytes = Box::new(f);
    }

    /// Makes a task fail with a kernel error whenever it runs.
    pub fn fail_task(&mut self, task: TaskRef, message: &str) {
        self.failing.insert(task, message.to_string());
    }

    /// Makes the next `times` workers that start `task` die on the spot.
    pub fn crash_on(&mut self, task: TaskRef, times: u32) {
        self.crashing.insert(task, times);
    }

    /// Workers answer every steal with "already started" (stolen = false).
    pub fn refuse_steals(&mut self, refuse: bool) {
        self.refuse_steals = refuse;
    }

    /// Makes a worker answer every Replicate with ReplicateFailed (or stop doing so).
    pub fn refuse_copies(&mut self, worker: WorkerId, refuse: bool) {
        self.refuse_copies.retain(|&w| w != worker);
        if refuse {
            self.refuse_copies.push(worker);
        }
    }

    /// Asks the scheduler to retire workers gracefully (at the next step).
    pub fn retire_workers(&mut self, workers: &[WorkerId]) {
        self.events.push(Event::RetireWorkers {
            workers: workers.to_vec(),
        });
    }

    /// Workers the scheduler retired (and that stopped), in order.
    pub fn retired(&self) -> &[WorkerId] {
        &self.retired
    }

    /// Whether every batch is followed by a full invariant check (tests only; on by
    /// default).
    #[cfg(test)]
    pub(crate) fn check_invariants(&mut self, check: bool) {
        self.check = check;
    }

    /// Every worker id, alive.
    pub fn worker_ids(&self) -> Vec<WorkerId> {
        self.workers.keys().copied().collect()
    }

    /// Records every task run (see [`SimCluster::runs`]).
    pub fn record_runs(&mut self) {
        self.runs.get_or_insert_with(Vec::new);
    }

    /// Starts a worker (it joins at the next step).
    pub fn add_worker(&mut self, id: WorkerId, nthreads: u32) {
        self.workers.insert(
            id,
            SimWorker {
                nthreads: nthreads.max(1),
                queue: BTreeMap::new(),
                queued: HashMap::new(),
                running: Vec::new(),
                store: HashMap::new(),
            },
        );
        self.events.push(Event::WorkerJoined {
            worker: id,
            nthreads,
            memory_limit: 16 << 30,
        });
    }

    /// Kills a worker: its queue, running tasks and results vanish, and the scheduler
    /// hears that it was lost.
    pub fn kill_worker(&mut self, id: WorkerId) {
        if self.workers.remove(&id).is_some() {
            self.events.push(Event::WorkerLost { worker: id });
        }
    }

    /// Tells the scheduler a worker paused or resumed (the worker keeps running its queue).
    pub fn pause_worker(&mut self, id: WorkerId, paused: bool) {
        self.events.push(Event::WorkerPaused { worker: id, paused });
    }

    pub fn submit(&mut self, graph: GraphId, def: Arc<Graph>) {
        self.events.push(Event::GraphSubmitted { graph, def });
    }

    /// The client is done with a graph.
    pub fn release_graph(&mut self, graph: GraphId) {
        self.events.push(Event::GraphReleased { graph });
    }

    /// Queues any event for the next step.
    pub fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// One round. If events are pending, the scheduler handles them and the workers apply
    /// its commands and start what they can; otherwise the clock moves to the next
    /// completion and every worker reports (in one batch each) what finished by then,
    /// having started queued tasks on the threads that freed up. Returns whether anything
    /// happened.
    pub fn step(&mut self) -> bool {
        self.stats.steps += 1;
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        if !self.events.is_empty() {
            let events = std::mem::take(&mut self.events);
            self.stats.batches += 1;
            self.state.handle(events, &mut self.commands);
            #[cfg(test)]
            if self.check {
                self.state.check_invariants();
            }
            self.apply_commands();
            for id in ids {
                self.start_tasks(id);
            }
            return true;
        }
        let Some(next) = self
            .workers
            .values()
            .flat_map(|w| w.running.iter().map(|r| r.0))
            .min()
        else {
            return false;
        };
        self.now_us = self.now_us.max(next);
        for id in ids {
            self.complete_due(id);
        }
        true
    }

    /// Steps until nothing happens any more; false if `max_steps` ran out first.
    pub fn run(&mut self, max_steps: u64) -> bool {
        for _ in 0..max_steps {
            if !self.step() {
                return true;
            }
        }
        false
    }

    /// Steps until `done` holds (checked before each step); false if `max_steps` ran
    /// out or the cluster went idle first.
    pub fn run_until(&mut self, max_steps: u64, mut done: impl FnMut(&SimCluster) -> bool) -> bool {
        for _ in 0..max_steps {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    pub fn state(&self) -> &SchedulerState {
        &self.state
    }

    /// Simulated time, in microseconds.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Task runs in start order, if [`SimCluster::record_runs`] was called.
    pub fn runs(&self) -> &[Run] {
        self.runs.as_deref().unwrap_or(&[])
    }

    /// Whether the scheduler reported the graph finished.
    pub fn finished(&self, graph: GraphId) -> bool {
        self.finished.contains(&graph)
    }

    /// The failure the scheduler reported for a graph.
    pub fn failure(&self, graph: GraphId) -> Option<&TaskFailure> {
        self.failed.iter().find(|f| f.0 == graph).map(|f| &f.1)
    }

    /// Whether a worker holds a task's result.
    pub fn holds(&self, worker: WorkerId, task: TaskRef) -> bool {
        self.workers
            .get(&worker)
            .is_some_and(|w| w.store.contains_key(&task))
    }

    /// Results a worker holds.
    pub fn stored(&self, worker: WorkerId) -> usize {
        self.workers.get(&worker).map_or(0, |w| w.store.len())
    }

    /// Tasks assigned to a worker and not started yet.
    pub fn queued(&self, worker: WorkerId) -> usize {
        self.workers.get(&worker).map_or(0, |w| w.queue.len())
    }

    /// Tasks running on a worker.
    pub fn running(&self, worker: WorkerId) -> Vec<TaskRef> {
        self.workers
            .get(&worker)
            .map_or(Vec::new(), |w| w.running.iter().map(|r| r.1).collect())
    }

    fn apply_commands(&mut self) {
        let commands = std::mem::take(&mut self.commands);
        for command in commands {
            if let Command::Assign { worker, .. }
            | Command::Steal { worker, .. }
            | Command::Release { worker, .. }
            | Command::Replicate { worker, .. }
            | Command::Retire { worker } = &command
            {
                assert!(
                    !self.retired.contains(worker),
                    "{command:?} for worker {worker}, retired earlier"
                );
            }
            match command {
                Command::Assign { worker, tasks } => {
                    let Some(w) = self.workers.get_mut(&worker) else {
                        continue;
                    };
                    for a in tasks {
                        self.stats.assigned += 1;
                        w.queued.insert(a.task, a.priority);
                        w.queue.insert((a.priority, a.task), a.inputs);
                    }
                }
                Command::Steal { worker, tasks } => {
                    let Some(w) = self.workers.get_mut(&worker) else {
                        continue;
                    };
                    for task in tasks {
                        self.stats.steals_asked += 1;
                        let stolen = !self.refuse_steals
                            && match w.queued.remove(&task) {
                                Some(p) => w.queue.remove(&(p, task)).is_some(),
                                None => false,
                            };
                        if stolen {
                            self.stats.steals_granted += 1;
                        } else {
                            self.stats.steals_refused += 1;
                        }
                        self.events.push(Event::StealReplied {
                            worker,
                            task,
                            stolen,
                        });
                    }
                }
                Command::Release { worker, tasks } => {
                    let Some(w) = self.workers.get_mut(&worker) else {
                        continue;
                    };
                    for task in tasks {
                        self.stats.released += 1;
                        w.store.remove(&task);
                    }
                }
                Command::Replicate { worker, tasks } => {
                    if !self.workers.contains_key(&worker) {
                        continue; // died: the scheduler hears of it
                    }
                    let refuse = self.refuse_copies.contains(&worker);
                    let mut copied = Vec::new();
                    for (task, holders) in tasks {
                        let found = holders.iter().find_map(|h| {
                            self.workers
                                .get(h)
                                .and_then(|hw| hw.store.get(&task).copied())
                        });
                        match found.filter(|_| !refuse) {
                            Some(nbytes) => {
                                self.stats.replicated += 1;
                                let w = self.workers.get_mut(&worker).expect("alive");
                                w.store.insert(task, nbytes);
                                copied.push(Finished {
                                    task,
                                    nbytes,
                                    duration_us: 0,
                                });
                            }
                            None => {
                                self.stats.replicate_failed += 1;
                                self.events.push(Event::ReplicateFailed { worker, task });
                            }
                        }
                    }
                    if !copied.is_empty() {
                        self.events.push(Event::Replicated {
                            worker,
                            tasks: copied,
                        });
                    }
                }
                Command::Retire { worker } => {
                    if let Some(w) = self.workers.remove(&worker) {
                        assert!(
                            w.queue.is_empty() && w.running.is_empty(),
                            "worker {worker} retired with {} queued and {} running tasks",
                            w.queue.len(),
                            w.running.len()
                        );
                        self.stats.retired += 1;
                        self.retired.push(worker);
                    }
                }
                Command::GraphFinished { graph } => self.finished.push(graph),
                Command::GraphFailed { graph, error } => self.failed.push((graph, error)),
            }
        }
    }

    /// Starts queued tasks on a worker's free threads, lowest priority number first.
    /// Returns false if the worker died.
    fn start_tasks(&mut self, id: WorkerId) -> bool {
        loop {
            let Some(w) = self.workers.get_mut(&id) else {
                return false;
            };
            if w.running.len() >= w.nthreads as usize {
                return true;
            }
            let Some(((_, task), inputs)) = w.queue.pop_first() else {
                return true;
            };
            w.queued.remove(&task);
            if let Some(left) = self.crashing.get_mut(&task)
                && *left > 0
            {
                *left -= 1;
                self.kill_worker(id);
                return false;
            }
            let missing = inputs.iter().find(|(input, holders)| {
                let w = &self.workers[&id];
                !w.store.contains_key(input)
                    && !holders.iter().any(|h| {
                        self.workers
                            .get(h)
                            .is_some_and(|hw| hw.store.contains_key(input))
                    })
            });
            if let Some((input, _)) = missing {
                self.stats.inputs_missing += 1;
                self.events.push(Event::InputMissing {
                    worker: id,
                    task,
                    input: *input,
                });
                continue;
            }
            let end = self.now_us + (self.duration)(task);
            self.workers
                .get_mut(&id)
                .expect("alive")
                .running
                .push((end, task));
            self.stats.tasks_run += 1;
            if let Some(runs) = &mut self.runs {
                runs.push(Run {
                    worker: id,
                    task,
                    start_us: self.now_us,
                    end_us: end,
                });
            }
        }
    }

    /// Completes a worker's tasks due by now (and any zero-length ones they make room
    /// for), then reports them in one batch.
    fn complete_due(&mut self, id: WorkerId) {
        let mut done = Vec::new();
        loop {
            let Some(w) = self.workers.get_mut(&id) else {
                return; // died starting a task: its unsent reports die with it
            };
            let now = self.now_us;
            let mut completed = 0;
            let mut i = 0;
            while i < w.running.len() {
                if w.running[i].0 <= now {
                    let (_, task) = w.running.swap_remove(i);
                    completed += 1;
                    if let Some(message) = self.failing.get(&task) {
                        self.events.push(Event::TaskFailed {
                            worker: id,
                            task,
                            message: message.clone(),
                        });
                        continue;
                    }
                    let nbytes = (self.nbytes)(task);
                    w.store.insert(task, nbytes);
                    done.push(Finished {
                        task,
                        nbytes,
                        duration_us: (self.duration)(task),
                    });
                } else {
                    i += 1;
                }
            }
            if completed == 0 || !self.start_tasks(id) {
                break;
            }
            if !self.workers[&id].running.iter().any(|r| r.0 <= now) {
                break;
            }
        }
        if !done.is_empty() && self.workers.contains_key(&id) {
            self.events.push(Event::TasksFinished {
                worker: id,
                tasks: done,
            });
        }
    }
}
