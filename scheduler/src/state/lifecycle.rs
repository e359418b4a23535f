//! The normal life of results: tasks finishing, dependents becoming ready, results
//! released once every dependent has its own result, graphs finishing, failing, and
//! being forgotten.

use std::collections::HashMap;

use super::tasks::{GraphState, NO_WORKER, TaskState};
use super::{Command, Ctx, Finished, GraphId, GraphStatus, TaskFailure, TaskRef};
use super::{placement, stored};

/// Applies a worker's finished reports.
pub(crate) fn tasks_finished(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    slot: u32,
    tasks: Vec<Finished>,
) {
    for f in tasks {
        let Some(g) = graphs.get_mut(&f.task.graph) else {
            // The graph is gone: the worker holds a result nobody will ask for.
            ctx.workers.get_mut(slot).out_release.push(f.task);
            continue;
        };
        let Some(idx) = g.index_of(f.task.task) else {
            continue; // names no task of the graph: malformed, ignore
        };
        if !g.is_processing_on(idx, slot) {
            // Stale (a duplicate, or a task moved away or cancelled). If the worker holds
            // a result we do not track, tell it to drop it; never drop a tracked copy.
            let t = &g.tasks[idx as usize];
            let tracked = t.state == TaskState::Memory && t.holders.contains(&slot);
            if !tracked {
                ctx.workers.get_mut(slot).out_release.push(f.task);
            }
            continue;
        }
        finish(ctx, g, idx, slot, f.nbytes, f.duration_us);
    }
}

/// A task processing on `slot` finished there: its result is in memory.
pub(crate) fn finish(
    ctx: &mut Ctx,
    g: &mut GraphState,
    idx: u32,
    slot: u32,
    nbytes: u64,
    duration_us: u64,
) {
    let key = g.key(idx);
    let t = &mut g.tasks[idx as usize];
    let (_, was_stealing) = t.leave_worker();
    t.nbytes = nbytes;
    t.holders.clear();
    t.holders.push(slot);
    let layer = t.layer as usize;
    ctx.workers.unassign(slot, was_stealing);
    let w = ctx.workers.get_mut(slot);
    w.held_bytes += nbytes;
    w.held_tasks += 1;
    w.held_list.push(key);
    g.layers[layer].durations.add(duration_us);
    ctx.overall.add(duration_us);
    g.set_state(idx, TaskState::Memory, &mut ctx.transitions);
    entered_memory(ctx, g, idx);
}

/// Consequences of a result entering memory: the graph may finish, dependents may become
/// ready, and inputs (or the result itself) may no longer be needed.
fn entered_memory(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    if !ctx.stored_waiters.is_empty() {
        let task = g.task_id(idx);
        stored::source_ready(ctx, TaskRef { graph: g.id, task });
    }
    if g.is_output(idx) {
        g.outputs_in_memory += 1;
        if g.status == GraphStatus::Running && g.outputs_in_memory == g.outputs_total {
            g.status = GraphStatus::Finished;
            ctx.notices.push(Command::GraphFinished { graph: g.id });
        }
    }
    let task = g.task_id(idx);
    let mut deps = ctx.take_buf();
    g.def.dependents_of(task, &mut deps);
    for &d in &deps {
        let di = g.def.task_index(d) as u32;
        let t = &mut g.tasks[di as usize];
        if t.state == TaskState::Waiting {
            t.missing -= 1;
            if t.missing == 0 {
                placement::place_now(ctx, g, di);
            }
        }
    }
    ctx.put_buf(deps);
    let mut inputs = ctx.take_buf();
    g.def.inputs_of(task, &mut inputs);
    for &i in &inputs {
        maybe_release(ctx, g, g.def.task_index(i) as u32);
    }
    ctx.put_buf(inputs);
    maybe_release(ctx, g, idx);
}

/// Releases a result held in memory if it is not an output and every dependent has its
/// own result (in memory or already released).
pub(crate) fn maybe_release(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    if g.tasks[idx as usize].state != TaskState::Memory || g.is_output(idx) {
        return;
    }
    let mut deps = ctx.take_buf();
    g.def.dependents_of(g.task_id(idx), &mut deps);
    let done = deps.iter().all(|&d| {
        matches!(
            g.tasks[g.def.task_index(d) as usize].state,
            TaskState::Memory | TaskState::Released
        )
    });
    ctx.put_buf(deps);
    if done {
        release_result(ctx, g, idx);
    }
}

/// Tells every holder to drop a result in memory; the task becomes released.
pub(crate) fn release_result(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    debug_assert_eq!(g.tasks[idx as usize].state, TaskState::Memory);
    drop_holders(ctx, g, idx);
    if g.is_output(idx) {
        g.outputs_in_memory -= 1;
    }
    g.set_state(idx, TaskState::Released, &mut ctx.transitions);
}

/// Tells every holder of a result to drop it and forgets them (the state is unchanged).
pub(crate) fn drop_holders(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    let task = TaskRef {
        graph: g.id,
        task: g.task_id(idx),
    };
    let t = &mut g.tasks[idx as usize];
    for &h in &t.holders {
        let w = ctx.workers.get_mut(h);
        w.out_release.push(task);
        w.held_bytes -= t.nbytes;
        w.held_tasks -= 1;
        if w.retiring {
            ctx.retire_dirty = true; // it may be free to go now
        }
    }
    t.holders.clear();
}

/// Fails a graph: reports the failure once, releases its results on every worker, drops
/// its queued tasks, and marks every unfinished task erred. Progress stays queryable.
pub(crate) fn fail_graph(ctx: &mut Ctx, g: &mut GraphState, failure: TaskFailure) {
    if !g.live() {
        return;
    }
    stored::source_gone(ctx, g.id);
    ctx.notices.push(Command::GraphFailed {
        graph: g.id,
        error: failure.clone(),
    });
    g.status = GraphStatus::Failed(failure);
    g.clear_roots();
    for idx in 0..g.tasks.len() as u32 {
        match g.tasks[idx as usize].state {
            TaskState::Memory => release_result(ctx, g, idx),
            TaskState::Processing => {
                detach_quietly(ctx, g, idx);
                g.set_state(idx, TaskState::Erred, &mut ctx.transitions);
            }
            TaskState::Waiting | TaskState::Ready => {
                g.set_state(idx, TaskState::Erred, &mut ctx.transitions);
            }
            TaskState::Released | TaskState::Erred => {}
        }
    }
}

/// Forgets a released (or cancelled) graph: its results are dropped on every worker and
/// its processing tasks no longer count as load. Later reports about it are answered
/// with a Release.
pub(crate) fn forget_graph(ctx: &mut Ctx, g: &mut GraphState) {
    stored::source_gone(ctx, g.id);
    for idx in 0..g.tasks.len() as u32 {
        match g.tasks[idx as usize].state {
            TaskState::Memory => release_result(ctx, g, idx),
            TaskState::Processing => {
                detach_quietly(ctx, g, idx);
                g.set_state(idx, TaskState::Released, &mut ctx.transitions);
            }
            TaskState::Waiting | TaskState::Ready => {
                g.set_state(idx, TaskState::Released, &mut ctx.transitions)
            }
            TaskState::Released | TaskState::Erred => {}
        }
    }
}

/// Takes a processing task off its worker's load without telling the worker (it will
/// report the task later, and get a Release then).
fn detach_quietly(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    let (slot, stealing) = g.tasks[idx as usize].leave_worker();
    if slot != NO_WORKER {
        ctx.workers.unassign(slot, stealing);
    }
}
