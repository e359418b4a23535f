//! Per-graph task tables: task states in dense arrays, transitions, progress counters
//! and the graph's queue of ready root tasks.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use kaon_graph::{Graph, TaskId, depth_first_priorities, layer_inputs};
use smallvec::SmallVec;

use super::{Ctx, DurationStat, GraphId, GraphStatus, TaskKey};

/// No worker (a task not processing anywhere).
pub(crate) const NO_WORKER: u32 = u32::MAX;

/// A task's state. The discriminant indexes [`LayerInfo::counts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TaskState {
    /// Some input is not in memory.
    Waiting = 0,
    /// Runnable and queued in the scheduler: a root task in its graph's queue, or a task
    /// with inputs that found no worker.
    Ready = 1,
    /// Assigned to a worker (queued or running there).
    Processing = 2,
    /// The result is held by at least one worker.
    Memory = 3,
    /// The result was dropped (every dependent finished) or lost; it may be recomputed.
    Released = 4,
    /// The graph failed before the task ran, or the task itself failed.
    Erred = 5,
}

pub(crate) const NUM_STATES: usize = 6;

impl TaskState {
    /// Lower-case name, as the dashboard shows it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Ready => "ready",
            TaskState::Processing => "processing",
            TaskState::Memory => "memory",
            TaskState::Released => "released",
            TaskState::Erred => "erred",
        }
    }
}

/// One task. Inputs and dependents come from the graph, not from here.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    /// Worker slots holding the result (state Memory).
    pub holders: SmallVec<[u32; 2]>,
    /// Size of the result while held.
    pub nbytes: u64,
    /// While Waiting: how many inputs are not in memory.
    pub missing: u32,
    /// While Processing: the worker slot, or [`NO_WORKER`] while being moved.
    pub worker: u32,
    pub layer: u32,
    pub state: TaskState,
    /// Workers that died while it was processing on them.
    pub deaths: u8,
    /// A `Steal` for it is outstanding.
    pub stealing: bool,
    /// Its worker refused a `Steal` (it started the task): not asked again.
    pub started: bool,
}

impl Task {
    /// Takes the task off its worker: returns the worker slot (or [`NO_WORKER`]) and
    /// whether a steal was outstanding. The state is the caller's to change.
    #[inline]
    pub fn leave_worker(&mut self) -> (u32, bool) {
        self.started = false;
        (
            std::mem::replace(&mut self.worker, NO_WORKER),
            std::mem::replace(&mut self.stealing, false),
        )
    }
}

/// Static facts and live counters of one layer.
#[derive(Clone, Debug)]
pub(crate) struct LayerInfo {
    pub name: String,
    /// Dense index of the layer's first task.
    pub offset: u64,
    /// Tasks of this layer read nothing.
    pub root: bool,
    pub output: bool,
    /// Tasks per [`TaskState`].
    pub counts: [u64; NUM_STATES],
    pub durations: DurationStat,
}

/// One graph: its definition, task table and root queue.
pub(crate) struct GraphState {
    pub id: GraphId,
    /// Submission order: older graphs' tasks run first.
    pub seq: u64,
    pub def: Arc<Graph>,
    /// Depth-first priority of each task (lower first), by dense index.
    pub prio: Vec<u64>,
    pub tasks: Vec<Task>,
    pub layers: Vec<LayerInfo>,
    /// Root tasks in priority order; `roots[root_cursor..]` are still queued.
    pub roots: Vec<u32>,
    pub root_cursor: usize,
    /// Root tasks queued again (worker lost, stolen, recomputed), by priority.
    pub requeued: BinaryHeap<Reverse<(u64, u32)>>,
    pub outputs_total: u64,
    pub outputs_in_memory: u64,
    pub status: GraphStatus,
}

impl GraphState {
    /// Expands a submitted graph: roots queued, every other task waiting on its inputs.
    pub fn new(id: GraphId, seq: u64, def: Arc<Graph>, ctx: &mut Ctx) -> Self {
        let n = def.num_tasks() as usize;
        let prio = depth_first_priorities(&def);
        let mut tasks = Vec::with_capacity(n);
        let mut layers = Vec::with_capacity(def.layers().len());
        let mut roots = Vec::new();
        let mut outputs_total = 0;
        let mut inputs = ctx.take_buf();
        for (l, layer) in def.layers().iter().enumerate() {
            let lid = l as u32;
            // Tasks reading another graph's results wait for them (`stored`).
            let stored = matches!(layer.op, kaon_graph::LayerOp::Stored(_));
            let root = !stored && layer_inputs(&layer.op).is_empty();
            let output = def.is_output(lid);
            let count = def.layer_tasks(lid);
            let offset = def.task_index(TaskId {
                layer: lid,
                chunk: 0,
            });
            if output {
                outputs_total += count;
            }
            let mut counts = [0; NUM_STATES];
            let state = if root {
                TaskState::Ready
            } else {
                TaskState::Waiting
            };
            counts[state as usize] = count;
            // Blockwise layers read the same number of inputs for every chunk; combine
            // groups shrink at the edges, so count those per task.
            let uniform = matches!(layer.op, kaon_graph::LayerOp::Blockwise(_));
            let mut missing = 0;
            if !root && uniform {
                inputs.clear();
                def.inputs_of(
                    TaskId {
                        layer: lid,
                        chunk: 0,
                    },
                    &mut inputs,
                );
                missing = inputs.len() as u32;
            }
            for chunk in 0..count {
                if !root && !uniform {
                    inputs.clear();
                    def.inputs_of(TaskId { layer: lid, chunk }, &mut inputs);
                    missing = inputs.len() as u32;
                }
                if stored {
                    missing = 1;
                    ctx.stored_pending.push(TaskKey {
                        graph: id,
                        idx: (offset + chunk) as u32,
                    });
                }
                // A chunk that reads nothing (an empty slice of an array) starts ready.
                let ready = root || missing == 0;
                let state = if ready { TaskState::Ready } else { state };
                if ready && !root {
                    counts[TaskState::Waiting as usize] -= 1;
                    counts[TaskState::Ready as usize] += 1;
                }
                if ready {
                    roots.push((offset + chunk) as u32);
                }
                tasks.push(Task {
                    holders: SmallVec::new(),
                    nbytes: 0,
                    missing,
                    worker: NO_WORKER,
                    layer: lid,
                    state,
                    deaths: 0,
                    stealing: false,
                    started: false,
                });
            }
            layers.push(LayerInfo {
                name: layer.name.clone(),
                offset,
                root,
                output,
                counts,
                durations: DurationStat::default(),
            });
        }
        ctx.put_buf(inputs);
        ctx.transitions += n as u64;
        roots.sort_by_key(|&r| prio[r as usize]);
        let status = if outputs_total == 0 {
            GraphStatus::Finished
        } else {
            GraphStatus::Running
        };
        if status == GraphStatus::Finished {
            ctx.notices
                .push(super::Command::GraphFinished { graph: id });
        }
        Self {
            id,
            seq,
            def,
            prio,
            tasks,
            layers,
            roots,
            root_cursor: 0,
            requeued: BinaryHeap::new(),
            outputs_total,
            outputs_in_memory: 0,
            status,
        }
    }

    /// Dense index of a task id, or `None` if it names no task of this graph.
    pub fn index_of(&self, task: TaskId) -> Option<u32> {
        self.def
            .contains(task)
            .then(|| self.def.task_index(task) as u32)
    }

    /// The task id at a dense index.
    #[inline]
    pub fn task_id(&self, idx: u32) -> TaskId {
        let layer = self.tasks[idx as usize].layer;
        TaskId {
            layer,
            chunk: idx as u64 - self.layers[layer as usize].offset,
        }
    }

    #[inline]
    pub fn key(&self, idx: u32) -> TaskKey {
        TaskKey {
            graph: self.id,
            idx,
        }
    }

    /// Priority sent to workers: submission order first, then depth-first order.
    #[inline]
    pub fn global_prio(&self, idx: u32) -> u64 {
        (self.seq << 32) | self.prio[idx as usize]
    }

    #[inline]
    pub fn is_root(&self, idx: u32) -> bool {
        self.layers[self.tasks[idx as usize].layer as usize].root
    }

    #[inline]
    pub fn is_output(&self, idx: u32) -> bool {
        self.layers[self.tasks[idx as usize].layer as usize].output
    }

    #[inline]
    pub fn is_processing_on(&self, idx: u32, slot: u32) -> bool {
        let t = &self.tasks[idx as usize];
        t.state == TaskState::Processing && t.worker == slot
    }

    /// Whether the graph still computes (not failed).
    #[inline]
    pub fn live(&self) -> bool {
        !matches!(self.status, GraphStatus::Failed(_))
    }

    /// Moves a task to a new state, keeping the progress counters and the transition
    /// count. Every task state change goes through here.
    #[inline]
    pub fn set_state(&mut self, idx: u32, new: TaskState, transitions: &mut u64) {
        let t = &mut self.tasks[idx as usize];
        let old = t.state;
        debug_assert_ne!(old, new, "task {idx} already {new:?}");
        t.state = new;
        let counts = &mut self.layers[t.layer as usize].counts;
        counts[old as usize] -= 1;
        counts[new as usize] += 1;
        *transitions += 1;
    }

    /// Queues a root task that became ready again.
    pub fn requeue_root(&mut self, idx: u32) {
        self.requeued.push(Reverse((self.prio[idx as usize], idx)));
    }

    /// The next queued root task by priority, dropping stale entries.
    pub fn peek_root(&mut self) -> Option<u32> {
        loop {
            let a = self.roots.get(self.root_cursor).copied();
            let b = self.requeued.peek().map(|r| r.0.1);
            let (idx, from_list) = match (a, b) {
                (None, None) => return None,
                (Some(a), None) => (a, true),
                (None, Some(b)) => (b, false),
                (Some(a), Some(b)) => {
                    if self.prio[a as usize] <= self.prio[b as usize] {
                        (a, true)
                    } else {
                        (b, false)
                    }
                }
            };
            if self.tasks[idx as usize].state == TaskState::Ready {
                return Some(idx);
            }
            if from_list {
                self.root_cursor += 1;
            } else {
                self.requeued.pop();
            }
        }
    }

    /// Removes the task [`GraphState::peek_root`] returned.
    pub fn pop_root(&mut self, idx: u32) {
        if self.roots.get(self.root_cursor) == Some(&idx) {
            self.root_cursor += 1;
        } else {
            let popped = self.requeued.pop();
            debug_assert_eq!(popped.map(|r| r.0.1), Some(idx));
        }
    }

    /// Queued root tasks (an upper bound: stale entries are dropped lazily).
    pub fn queued_roots(&self) -> usize {
        self.roots.len() - self.root_cursor + self.requeued.len()
    }

    /// Drops the root queue (the graph failed).
    pub fn clear_roots(&mut self) {
        self.root_cursor = self.roots.len();
        self.requeued.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Config, SchedulerState};
    use kaon_graph::testing::sum_tree_graph;

    #[test]
    fn a_new_graph_queues_roots_in_priority_order_and_counts_inputs() {
        let mut s = SchedulerState::new(Config::default());
        let g = GraphState::new(7, 3, Arc::new(sum_tree_graph(10, 4)), &mut s.ctx);
        // 10 roots, 3 combines (4, 4, 2 inputs), 1 final combine (3 inputs).
        assert_eq!(g.tasks.len(), 14);
        assert_eq!(s.ctx.transitions, 14);
        assert_eq!(g.roots.len(), 10);
        let prios: Vec<u64> = g.roots.iter().map(|&r| g.prio[r as usize]).collect();
        assert!(prios.windows(2).all(|w| w[0] < w[1]), "{prios:?}");
        let missing: Vec<u32> = g.tasks[10..].iter().map(|t| t.missing).collect();
        assert_eq!(missing, vec![4, 4, 2, 3]);
        assert_eq!(g.layers[0].counts[TaskState::Ready as usize], 10);
        assert_eq!(g.layers[1].counts[TaskState::Waiting as usize], 3);
        assert_eq!(g.outputs_total, 1);
        assert_eq!(g.global_prio(0), (3 << 32) | g.prio[0]);
        assert_eq!(g.task_id(12), TaskId { layer: 1, chunk: 2 });
    }

    #[test]
    fn requeued_roots_merge_with_the_queue_by_priority() {
        let mut s = SchedulerState::new(Config::default());
        let mut g = GraphState::new(1, 0, Arc::new(sum_tree_graph(8, 2)), &mut s.ctx);
        let mut t = 0;
        // Take roots 0 and 1 out of the queue (as if assigned), then requeue root 1.
        for _ in 0..2 {
            let idx = g.peek_root().unwrap();
            g.pop_root(idx);
            g.set_state(idx, TaskState::Processing, &mut t);
        }
        g.set_state(1, TaskState::Ready, &mut t);
        g.requeue_root(1);
        assert_eq!(g.peek_root(), Some(1));
        g.pop_root(1);
        g.set_state(1, TaskState::Processing, &mut t);
        assert_eq!(g.peek_root(), Some(2));
        assert_eq!(t, 4);
    }
}
