//! The worker table: capacity, load, held results, in-flight limits, and the per-worker
//! command buffers that coalesce a batch's commands into one Release, Assign, Steal and
//! Replicate.

use std::collections::HashMap;

use kaon_graph::TaskId;

use super::tasks::{GraphState, TaskState};
use super::{Assignment, Command, Config, GraphId, TaskKey, TaskRef, WorkerId};

/// One live worker.
#[derive(Debug)]
pub(crate) struct Worker {
    pub id: WorkerId,
    pub nthreads: u32,
    pub memory_limit: u64,
    pub paused: bool,
    /// Being retired gracefully (see `retirement`): it takes no new tasks and its results
    /// move elsewhere before it goes.
    pub retiring: bool,
    /// Tasks processing on it (exact).
    pub processing: u32,
    /// Of those, tasks with an outstanding Steal.
    pub stealing: u32,
    /// Tasks processing on it: a superset (stale entries are dropped lazily), each checked
    /// against the task table before use.
    pub processing_list: Vec<TaskKey>,
    /// Results it holds: a superset, like `processing_list`.
    pub held_list: Vec<TaskKey>,
    pub held_bytes: u64,
    pub held_tasks: u64,
    pub out_assign: Vec<TaskKey>,
    pub out_steal: Vec<TaskRef>,
    pub out_release: Vec<TaskRef>,
    /// Results it is asked to copy from their holders (to be checked when flushed).
    pub out_replicate: Vec<TaskKey>,
    /// While retiring: tasks processing elsewhere (with their slot) that may have been told
    /// to fetch an input from this worker only; it stays until they leave that worker.
    pub waits: Vec<(TaskKey, u32)>,
}

impl Worker {
    fn new(id: WorkerId, nthreads: u32, memory_limit: u64) -> Self {
        Self {
            id,
            nthreads: nthreads.max(1),
            memory_limit,
            paused: false,
            retiring: false,
            processing: 0,
            stealing: 0,
            processing_list: Vec::new(),
            held_list: Vec::new(),
            held_bytes: 0,
            held_tasks: 0,
            out_assign: Vec::new(),
            out_steal: Vec::new(),
            out_release: Vec::new(),
            out_replicate: Vec::new(),
            waits: Vec::new(),
        }
    }

    /// Whether it takes new tasks (and copies of results): not paused, not retiring.
    #[inline]
    pub fn open(&self) -> bool {
        !self.paused && !self.retiring
    }

    /// Tasks in flight per thread.
    #[inline]
    pub fn occupancy(&self) -> f64 {
        self.processing as f64 / self.nthreads as f64
    }

    /// In-flight limit for tasks of a layer with `per_thread` from [`in_flight_per_thread`].
    #[inline]
    pub fn limit(&self, per_thread: u32) -> u32 {
        self.nthreads.saturating_mul(per_thread)
    }
}

/// In-flight tasks per thread for tasks of mean duration `mean_us`:
/// `clamp(ceil(target / mean), 1, max) + 1`, so slow tasks keep about two per thread in
/// flight and tiny ones many (batching).
pub(crate) fn in_flight_per_thread(config: &Config, mean_us: f64) -> u32 {
    let max = config.max_in_flight_per_thread.max(1);
    let per = if mean_us <= 0.0 {
        max
    } else {
        let s = (config.saturation_target_us as f64 / mean_us).ceil();
        s.clamp(1.0, max as f64) as u32
    };
    per + 1
}

/// Live workers in slots; slots of lost workers are reused.
#[derive(Debug, Default)]
pub(crate) struct Workers {
    slots: Vec<Option<Worker>>,
    index: HashMap<WorkerId, u32>,
    free: Vec<u32>,
    /// Live workers with `retiring` set.
    retiring: u32,
}

impl Workers {
    /// Adds a worker, or updates the capacity of a known one (a reconnect).
    pub fn join(&mut self, id: WorkerId, nthreads: u32, memory_limit: u64) {
        if let Some(w) = self.get_mut_by_id(id) {
            w.nthreads = nthreads.max(1);
            w.memory_limit = memory_limit;
            return;
        }
        let w = Worker::new(id, nthreads, memory_limit);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(w);
                s
            }
            None => {
                self.slots.push(Some(w));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(id, slot);
    }

    /// Removes a worker and returns it (with its lists) for recovery.
    pub fn remove(&mut self, id: WorkerId) -> Option<(u32, Worker)> {
        let slot = self.index.remove(&id)?;
        let w = self.slots[slot as usize].take()?;
        self.free.push(slot);
        if w.retiring {
            self.retiring -= 1;
        }
        Some((slot, w))
    }

    /// Marks a live worker retiring; false if it already was.
    pub fn set_retiring(&mut self, slot: u32) -> bool {
        let w = self.get_mut(slot);
        if w.retiring {
            return false;
        }
        w.retiring = true;
        self.retiring += 1;
        true
    }

    /// How many live workers are retiring.
    #[inline]
    pub fn retiring(&self) -> u32 {
        self.retiring
    }

    #[inline]
    pub fn slot_of(&self, id: WorkerId) -> Option<u32> {
        self.index.get(&id).copied()
    }

    /// The id of a live worker's slot.
    #[inline]
    pub fn id_of(&self, slot: u32) -> WorkerId {
        self.slots[slot as usize].as_ref().map_or(0, |w| w.id)
    }

    #[inline]
    pub fn get(&self, slot: u32) -> &Worker {
        self.slots[slot as usize]
            .as_ref()
            .expect("live worker slot")
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> &mut Worker {
        self.slots[slot as usize]
            .as_mut()
            .expect("live worker slot")
    }

    pub fn get_mut_by_id(&mut self, id: WorkerId) -> Option<&mut Worker> {
        let slot = self.slot_of(id)?;
        self.slots[slot as usize].as_mut()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Live workers with their slots, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Worker)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(s, w)| w.as_ref().map(|w| (s as u32, w)))
    }

    /// Records a task assigned to a worker: its load and the Assign to send.
    pub fn assign(&mut self, slot: u32, key: TaskKey) {
        let w = self.get_mut(slot);
        w.processing += 1;
        w.processing_list.push(key);
        w.out_assign.push(key);
    }

    /// Records a task leaving a worker's processing set (finished, moved, cancelled).
    pub fn unassign(&mut self, slot: u32, was_stealing: bool) {
        let w = self.get_mut(slot);
        w.processing -= 1;
        if was_stealing {
            w.stealing -= 1;
        }
    }

    /// Drops stale entries from lists that grew well past their live size.
    pub fn compact(&mut self, graphs: &HashMap<GraphId, GraphState>) {
        for (slot, w) in self.slots.iter_mut().enumerate() {
            let Some(w) = w else { continue };
            let slot = slot as u32;
            if w.processing_list.len() > 2 * w.processing as usize + 64 {
                w.processing_list.retain(|k| {
                    graphs
                        .get(&k.graph)
                        .is_some_and(|g| g.is_processing_on(k.idx, slot))
                });
                w.processing_list.sort_unstable();
                w.processing_list.dedup();
            }
            if w.held_list.len() > 2 * w.held_tasks as usize + 64 {
                w.held_list.retain(|k| {
                    graphs.get(&k.graph).is_some_and(|g| {
                        let t = &g.tasks[k.idx as usize];
                        t.state == TaskState::Memory && t.holders.contains(&slot)
                    })
                });
                w.held_list.sort_unstable();
                w.held_list.dedup();
            }
        }
    }

    /// Emits the batch's coalesced commands, worker by worker in slot order: Release,
    /// then Assign, then Steal (so a task is always assigned before it is stolen), then
    /// Replicate.
    pub fn flush(&mut self, graphs: &HashMap<GraphId, GraphState>, out: &mut Vec<Command>) {
        let ids: Vec<WorkerId> = self
            .slots
            .iter()
            .map(|w| w.as_ref().map_or(0, |w| w.id))
            .collect();
        for (slot, w) in self.slots.iter_mut().enumerate() {
            let Some(w) = w else { continue };
            if !w.out_release.is_empty() {
                out.push(Command::Release {
                    worker: w.id,
                    tasks: std::mem::take(&mut w.out_release),
                });
            }
            if !w.out_assign.is_empty() {
                let mut keys = std::mem::take(&mut w.out_assign);
                keys.sort_unstable();
                keys.dedup();
                let mut tasks = Vec::with_capacity(keys.len());
                let mut inputs_buf = Vec::new();
                for k in &keys {
                    let Some(g) = graphs.get(&k.graph) else {
                        continue;
                    };
                    if !g.is_processing_on(k.idx, slot as u32) {
                        continue; // moved or cancelled within the batch
                    }
                    let task = g.task_id(k.idx);
                    let held_by = |g: &GraphState, i: TaskId| -> Vec<WorkerId> {
                        let t = &g.tasks[g.def.task_index(i) as usize];
                        if t.state == TaskState::Memory {
                            t.holders.iter().map(|&s| ids[s as usize]).collect()
                        } else {
                            Vec::new()
                        }
                    };
                    let inputs = if let Some((graph, source)) = g.def.stored_source(task) {
                        // A persisted array's chunk reads a result of another graph.
                        let holders = graphs
                            .get(&graph)
                            .filter(|s| s.def.contains(source))
                            .map_or_else(Vec::new, |s| held_by(s, source));
                        vec![(
                            TaskRef {
                                graph,
                                task: source,
                            },
                            holders,
                        )]
                    } else {
                        inputs_buf.clear();
                        g.def.inputs_of(task, &mut inputs_buf);
                        inputs_buf
                            .iter()
                            .map(|&i| {
                                let task = TaskRef {
                                    graph: k.graph,
                                    task: i,
                                };
                                (task, held_by(g, i))
                            })
                            .collect()
                    };
                    tasks.push(Assignment {
                        task: TaskRef {
                            graph: k.graph,
                            task,
                        },
                        priority: g.global_prio(k.idx),
                        inputs,
                    });
                }
                keys.clear();
                w.out_assign = keys; // keep the allocation
                if !tasks.is_empty() {
                    tasks.sort_by_key(|a| a.priority);
                    out.push(Command::Assign {
                        worker: w.id,
                        tasks,
                    });
                }
            }
            if !w.out_steal.is_empty() {
                out.push(Command::Steal {
                    worker: w.id,
                    tasks: std::mem::take(&mut w.out_steal),
                });
            }
            if !w.out_replicate.is_empty() {
                let mut keys = std::mem::take(&mut w.out_replicate);
                keys.sort_unstable();
                keys.dedup();
                let slot = slot as u32;
                let tasks: Vec<(TaskRef, Vec<WorkerId>)> = keys
                    .iter()
                    .filter_map(|k| {
                        let g = graphs.get(&k.graph)?;
                        let t = &g.tasks[k.idx as usize];
                        if t.state != TaskState::Memory || t.holders.contains(&slot) {
                            return None; // released or already there meanwhile
                        }
                        let task = TaskRef {
                            graph: k.graph,
                            task: g.task_id(k.idx),
                        };
                        Some((task, t.holders.iter().map(|&s| ids[s as usize]).collect()))
                    })
                    .collect();
                keys.clear();
                w.out_replicate = keys;
                if !tasks.is_empty() {
                    out.push(Command::Replicate {
                        worker: w.id,
                        tasks,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_limits_follow_task_duration() {
        let c = Config::default();
        // Before any observation (1 ms assumed): ceil(5000 / 1000) + 1.
        assert_eq!(in_flight_per_thread(&c, 1_000.0), 6);
        // Slow tasks keep about two per thread in flight, tiny ones many.
        assert_eq!(in_flight_per_thread(&c, 100_000.0), 2);
        assert_eq!(in_flight_per_thread(&c, 3_000.0), 3);
        assert_eq!(in_flight_per_thread(&c, 10.0), 65);
        assert_eq!(in_flight_per_thread(&c, 0.0), 65);
        let w = Worker::new(1, 4, 0);
        assert_eq!(w.limit(in_flight_per_thread(&c, 100_000.0)), 8);
    }

    #[test]
    fn slots_of_lost_workers_are_reused() {
        let mut ws = Workers::default();
        ws.join(10, 2, 0);
        ws.join(11, 2, 0);
        assert_eq!(ws.remove(10).map(|(s, w)| (s, w.id)), Some((0, 10)));
        assert!(ws.remove(10).is_none());
        ws.join(12, 1, 0);
        assert_eq!(ws.slot_of(12), Some(0));
        assert_eq!(ws.id_of(1), 11);
        // A known id joining again only updates its capacity.
        ws.join(11, 8, 0);
        assert_eq!(ws.len(), 2);
        assert_eq!(ws.get(1).nthreads, 8);
    }
}
