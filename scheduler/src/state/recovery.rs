//! Recovery: lost workers (their tasks re-queued, their only copies recomputed from
//! lineage, tasks that keep killing workers failed) and inputs a worker could not fetch.

use std::collections::HashMap;

use super::lifecycle::{drop_holders, fail_graph};
use super::placement::{detach, place_now};
use super::stored;
use super::tasks::{GraphState, NO_WORKER, TaskState};
use super::{Ctx, GraphId, TaskFailure, TaskKey, TaskRef, WorkerId};

/// A result in memory lost its last holder: it is released (not in memory), waiting
/// dependents count it as missing again, and unplaced ready ones go back to waiting.
/// Whether it is recomputed is up to the caller ([`needed`], [`rerun`]).
pub(crate) fn mark_lost(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    debug_assert!(g.tasks[idx as usize].holders.is_empty());
    if g.is_output(idx) {
        g.outputs_in_memory -= 1;
    }
    g.set_state(idx, TaskState::Released, &mut ctx.transitions);
    let mut deps = ctx.take_buf();
    g.def.dependents_of(g.task_id(idx), &mut deps);
    for &d in &deps {
        let di = g.def.task_index(d) as u32;
        match g.tasks[di as usize].state {
            TaskState::Waiting => g.tasks[di as usize].missing += 1,
            TaskState::Ready => {
                // An unplaced task with inputs (root tasks have no inputs).
                let missing = count_missing(ctx, g, di);
                g.tasks[di as usize].missing = missing;
                g.set_state(di, TaskState::Waiting, &mut ctx.transitions);
            }
            _ => {}
        }
    }
    ctx.put_buf(deps);
}

/// Inputs of a task that are not in memory.
fn count_missing(ctx: &mut Ctx, g: &GraphState, idx: u32) -> u32 {
    let mut inputs = ctx.take_buf();
    g.def.inputs_of(g.task_id(idx), &mut inputs);
    let n = inputs
        .iter()
        .filter(|&&i| g.tasks[g.def.task_index(i) as usize].state != TaskState::Memory)
        .count() as u32;
    ctx.put_buf(inputs);
    n
}

/// Whether a result that is not in memory must be computed (again): it is an output, or
/// some dependent has not produced its own result yet.
pub(crate) fn needed(ctx: &mut Ctx, g: &GraphState, idx: u32) -> bool {
    if g.is_output(idx) {
        return true;
    }
    let mut deps = ctx.take_buf();
    g.def.dependents_of(g.task_id(idx), &mut deps);
    let needed = deps.iter().any(|&d| {
        matches!(
            g.tasks[g.def.task_index(d) as usize].state,
            TaskState::Waiting | TaskState::Ready | TaskState::Processing
        )
    });
    ctx.put_buf(deps);
    needed
}

/// Makes a task that must run (again) wait for its inputs or go on to run, recomputing
/// released inputs recursively from lineage. `start` is ready (detached from a worker),
/// waiting, or released.
pub(crate) fn rerun(ctx: &mut Ctx, g: &mut GraphState, start: u32) {
    let mut stack = vec![start];
    let mut inputs = ctx.take_buf();
    while let Some(x) = stack.pop() {
        let state = g.tasks[x as usize].state;
        if x != start && state != TaskState::Released {
            continue; // already on its way (reached twice through a diamond)
        }
        if g.def.stored_source(g.task_id(x)).is_some() {
            // Its input is another graph's: looked at once the batch is applied.
            stored::defer(ctx, g, x);
            continue;
        }
        if g.is_root(x) {
            place_now(ctx, g, x);
            continue;
        }
        inputs.clear();
        g.def.inputs_of(g.task_id(x), &mut inputs);
        let mut missing = 0;
        for &i in &inputs {
            let ii = g.def.task_index(i) as u32;
            match g.tasks[ii as usize].state {
                TaskState::Memory => {}
                TaskState::Released => {
                    missing += 1;
                    stack.push(ii);
                }
                _ => missing += 1,
            }
        }
        if missing == 0 {
            place_now(ctx, g, x);
        } else {
            g.tasks[x as usize].missing = missing;
            if state != TaskState::Waiting {
                g.set_state(x, TaskState::Waiting, &mut ctx.transitions);
            }
        }
    }
    ctx.put_buf(inputs);
}

/// A worker is gone: results only it held are lost (and recomputed if still needed), and
/// tasks processing on it are re-queued, each counting one death; a task that reaches
/// `max_worker_deaths` fails its graph.
pub(crate) fn worker_lost(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    worker: WorkerId,
) {
    let Some((slot, w)) = ctx.workers.remove(worker) else {
        return;
    };
    // 1. Results it held.
    let mut lost: Vec<TaskKey> = Vec::new();
    for key in &w.held_list {
        let Some(g) = graphs.get_mut(&key.graph) else {
            continue;
        };
        let t = &mut g.tasks[key.idx as usize];
        if t.state != TaskState::Memory || !t.holders.contains(&slot) {
            continue; // stale entry
        }
        t.holders.retain(|h| *h != slot);
        if t.holders.is_empty() {
            mark_lost(ctx, g, key.idx);
            lost.push(*key);
        }
    }
    // 2. Tasks processing on it: take them all off the dead slot first, so that a graph
    // failing below never touches the slot again.
    let mut orphans: Vec<(u64, TaskKey)> = Vec::new();
    for key in &w.processing_list {
        let Some(g) = graphs.get_mut(&key.graph) else {
            continue;
        };
        if !g.is_processing_on(key.idx, slot) {
            continue;
        }
        let t = &mut g.tasks[key.idx as usize];
        t.leave_worker();
        t.deaths = t.deaths.saturating_add(1);
        orphans.push((g.global_prio(key.idx), *key));
    }
    orphans.sort_unstable();
    for (_, key) in orphans {
        let Some(g) = graphs.get_mut(&key.graph) else {
            continue;
        };
        let t = &g.tasks[key.idx as usize];
        if t.state != TaskState::Processing || t.worker != NO_WORKER {
            continue; // its graph failed meanwhile
        }
        // Counted in a byte: limits above 255 act as 255, and 0 acts as 1.
        if t.deaths as u32 >= ctx.config.max_worker_deaths.clamp(1, u8::MAX as u32) {
            let task_key = g.def.task_key(g.task_id(key.idx));
            let message = format!(
                "task {task_key} was running on {} workers that died; it may be crashing them",
                t.deaths
            );
            let failure = TaskFailure {
                key: task_key,
                message,
                worker: Some(worker),
            };
            fail_graph(ctx, g, failure);
            continue;
        }
        g.set_state(key.idx, TaskState::Ready, &mut ctx.transitions);
        rerun(ctx, g, key.idx);
    }
    // 3. Lost results still needed (outputs, inputs of unfinished tasks): recompute.
    for key in lost {
        let Some(g) = graphs.get_mut(&key.graph) else {
            continue;
        };
        if g.live()
            && g.tasks[key.idx as usize].state == TaskState::Released
            && needed(ctx, g, key.idx)
        {
            rerun(ctx, g, key.idx);
        }
    }
}

/// A worker could fetch `input` of `task` from no holder. The holders it was given are
/// not trusted with it any more (they are told to drop it), the input is recomputed if
/// need be, and the task waits for it; no death is counted.
pub(crate) fn input_missing(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    worker: WorkerId,
    task: TaskRef,
    input: TaskRef,
) {
    let Some(slot) = ctx.workers.slot_of(worker) else {
        return;
    };
    if input.graph != task.graph {
        stored::input_missing(ctx, graphs, slot, task, input);
        return;
    }
    let Some(g) = graphs.get_mut(&task.graph) else {
        return;
    };
    let (Some(idx), Some(ii)) = (g.index_of(task.task), g.index_of(input.task)) else {
        return;
    };
    if !g.is_processing_on(idx, slot) {
        return; // stale
    }
    let mut inputs = ctx.take_buf();
    g.def.inputs_of(task.task, &mut inputs);
    let is_input = inputs.contains(&input.task);
    ctx.put_buf(inputs);
    if !is_input {
        return;
    }
    if g.tasks[ii as usize].state == TaskState::Memory {
        drop_holders(ctx, g, ii);
        mark_lost(ctx, g, ii);
    }
    detach(ctx, g, idx);
    rerun(ctx, g, idx);
}
