//! Tasks that read another graph's kept results (persisted arrays, [`kaon_graph::Stored`]):
//! the reference checked when the graph arrives, the wait for the source result, and the
//! readers failed when their source graph fails or is forgotten.
//!
//! A reading task starts waiting with one missing input. Deciding whether it can run needs
//! both graphs, so transitions that make it runnable only queue it in
//! [`Ctx::stored_pending`]; [`settle`] places it where it starts soonest counting the
//! fetch of the source (so usually on a worker holding it), or registers it in
//! [`Ctx::stored_waiters`] until the source enters memory.

use std::collections::HashMap;

use kaon_graph::LayerOp;
use smallvec::SmallVec;

use super::lifecycle::{drop_holders, fail_graph};
use super::placement::{assign_task, choose_worker_with, detach, place_now};
use super::recovery::{mark_lost, needed, rerun};
use super::tasks::{GraphState, NO_WORKER, TaskState};
use super::{Ctx, GraphId, GraphStatus, TaskFailure, TaskKey, TaskRef};

/// The graph's layers that read another graph's results, by layer id.
fn stored_layers(g: &GraphState) -> impl Iterator<Item = (u32, &kaon_graph::Stored)> {
    g.def
        .layers()
        .iter()
        .enumerate()
        .filter_map(|(l, layer)| match &layer.op {
            LayerOp::Stored(st) => Some((l as u32, st)),
            _ => None,
        })
}

/// A graph failure blamed on a reading layer (named by its first task's key).
fn layer_failure(g: &GraphState, layer: u32, message: String) -> TaskFailure {
    TaskFailure {
        key: g.def.task_key(kaon_graph::TaskId { layer, chunk: 0 }),
        message,
        worker: None,
    }
}

/// Checks a new graph's references to other graphs' results; a bad one fails the graph
/// with a message naming the graph and layer it names.
pub(crate) fn check_sources(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>, id: GraphId) {
    let Some(n) = graphs.get(&id) else { return };
    let mut failure = None;
    for (l, st) in stored_layers(n) {
        let problem = if st.graph == id {
            Some("it names its own graph".to_string())
        } else {
            match graphs.get(&st.graph) {
                None => Some(format!(
                    "graph {} is not known to the scheduler (never submitted, or released)",
                    st.graph
                )),
                Some(g) => source_problem(g, st),
            }
        };
        if let Some(message) = problem {
            let message = format!(
                "layer {l} reads layer {} of graph {}, but {message}",
                st.layer, st.graph
            );
            failure = Some(layer_failure(n, l, message));
            break;
        }
    }
    if let Some(failure) = failure {
        let n = graphs.get_mut(&id).expect("checked above");
        fail_graph(ctx, n, failure);
    }
}

/// Why `g` cannot serve as the source of `st`, if it cannot.
fn source_problem(g: &GraphState, st: &kaon_graph::Stored) -> Option<String> {
    if let GraphStatus::Failed(f) = &g.status {
        return Some(format!("that graph failed (task {}: {})", f.key, f.message));
    }
    let layers = g.def.layers().len();
    if st.layer as usize >= layers {
        return Some(format!("that graph has {layers} layers"));
    }
    if !g.def.is_output(st.layer) {
        return Some(format!(
            "'{}' is not one of that graph's outputs, so its results are not kept",
            g.def.layer(st.layer).name
        ));
    }
    let grid = g.def.grid(st.layer);
    if *grid != st.grid {
        return Some(format!(
            "its chunks are {:?}, not {:?}",
            grid.chunks(),
            st.grid.chunks()
        ));
    }
    None
}

/// Queues a reading task (waiting, or released or ready and to run again) to be placed
/// by [`settle`].
pub(crate) fn defer(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    wait_for_source(ctx, g, idx);
    ctx.stored_pending.push(g.key(idx));
}

/// Makes a reading task wait for its one input, the source.
fn wait_for_source(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    if g.tasks[idx as usize].state != TaskState::Waiting {
        g.set_state(idx, TaskState::Waiting, &mut ctx.transitions);
    }
    g.tasks[idx as usize].missing = 1;
}

/// A result entered memory: readers waiting for it are queued for [`settle`].
pub(crate) fn source_ready(ctx: &mut Ctx, source: TaskRef) {
    if let Some(readers) = ctx.stored_waiters.remove(&source) {
        ctx.stored_pending.extend(readers);
    }
}

/// Notes a graph that failed or was forgotten: [`settle`] fails the graphs still reading it.
pub(crate) fn source_gone(ctx: &mut Ctx, graph: GraphId) {
    ctx.stored_gone.push(graph);
}

/// Applies what the batch's events left queued: graphs reading a failed or forgotten graph
/// fail, and queued readers run or wait for their source.
pub(crate) fn settle(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>) {
    loop {
        let gone = std::mem::take(&mut ctx.stored_gone);
        let pending = std::mem::take(&mut ctx.stored_pending);
        if gone.is_empty() && pending.is_empty() {
            return;
        }
        for id in gone {
            fail_readers(ctx, graphs, id);
        }
        for key in pending {
            place_or_wait(ctx, graphs, key);
        }
    }
}

/// Fails every live graph with a reading task of graph `id` that has not produced its
/// result yet.
fn fail_readers(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>, id: GraphId) {
    ctx.stored_waiters.retain(|source, _| source.graph != id);
    let why = match graphs.get(&id).map(|g| &g.status) {
        Some(GraphStatus::Failed(f)) => format!("failed (task {}: {})", f.key, f.message),
        _ => "was released (a persisted array must stay referenced while it is read)".into(),
    };
    let mut readers: Vec<(GraphId, TaskFailure)> = Vec::new();
    for n in graphs.values() {
        if n.id == id || !n.live() {
            continue;
        }
        for (l, st) in stored_layers(n) {
            let c = &n.layers[l as usize].counts;
            let unfinished = c[TaskState::Waiting as usize]
                + c[TaskState::Ready as usize]
                + c[TaskState::Processing as usize];
            if st.graph == id && unfinished > 0 {
                let message = format!("layer {l} reads graph {id}, which {why}");
                readers.push((n.id, layer_failure(n, l, message)));
                break;
            }
        }
    }
    for (n, failure) in readers {
        if let Some(n) = graphs.get_mut(&n) {
            fail_graph(ctx, n, failure);
        }
    }
}

/// A queued reading task: runs where its source is held, or waits for the source.
fn place_or_wait(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>, key: TaskKey) {
    let Some(n) = graphs.get(&key.graph) else {
        return;
    };
    if !n.live() || n.tasks[key.idx as usize].state != TaskState::Waiting {
        return; // failed, or already on its way
    }
    let task = n.task_id(key.idx);
    let Some((graph, source)) = n.def.stored_source(task) else {
        return;
    };
    let source = TaskRef {
        graph,
        task: source,
    };
    let held: Option<(SmallVec<[u32; 2]>, u64)> = match graphs.get(&graph) {
        Some(g) if g.live() => {
            let Some(si) = g.index_of(source.task) else {
                return; // checked on submission
            };
            let s = &g.tasks[si as usize];
            (s.state == TaskState::Memory).then(|| (s.holders.clone(), s.nbytes))
        }
        _ => {
            // Forgotten or failed before this reader needed it again.
            source_gone(ctx, graph);
            return;
        }
    };
    let Some((holders, nbytes)) = held else {
        ctx.stored_waiters.entry(source).or_default().push(key);
        return;
    };
    let n = graphs.get_mut(&key.graph).expect("looked up above");
    // Where it starts soonest, counting the fetch of the source where it is not held.
    match choose_worker_with(ctx, n, key.idx, Some((&holders, nbytes))) {
        Some(slot) => assign_task(ctx, n, key.idx, slot),
        None => place_now(ctx, n, key.idx), // no open worker: waits, ready
    }
}

/// A reading task its worker gave back to a steal: placed again at once (like any
/// stolen task), and not asked for again if it lands on the same worker.
pub(crate) fn stolen(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    key: TaskKey,
    slot: u32,
) {
    let Some(n) = graphs.get_mut(&key.graph) else {
        return;
    };
    detach(ctx, n, key.idx);
    wait_for_source(ctx, n, key.idx);
    place_or_wait(ctx, graphs, key);
    if let Some(n) = graphs.get_mut(&key.graph)
        && n.is_processing_on(key.idx, slot)
    {
        n.tasks[key.idx as usize].started = true;
    }
}

/// A worker could fetch a reading task's source from none of the holders it was given:
/// they are not trusted with it any more, the source graph computes it again (it is an
/// output there), and the reader waits for it. No death is counted.
pub(crate) fn input_missing(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    slot: u32,
    task: TaskRef,
    input: TaskRef,
) {
    let Some(n) = graphs.get(&task.graph) else {
        return;
    };
    let Some(idx) = n.index_of(task.task) else {
        return;
    };
    if !n.is_processing_on(idx, slot)
        || n.def.stored_source(task.task) != Some((input.graph, input.task))
    {
        return; // stale, or not what the task reads
    }
    if let Some(g) = graphs.get_mut(&input.graph)
        && let Some(si) = g.index_of(input.task)
        && g.tasks[si as usize].state == TaskState::Memory
    {
        drop_holders(ctx, g, si);
        mark_lost(ctx, g, si);
        if g.live() && needed(ctx, g, si) {
            rerun(ctx, g, si);
        }
    }
    let n = graphs.get_mut(&task.graph).expect("looked up above");
    detach(ctx, n, idx);
    defer(ctx, n, idx);
}

/// Reading tasks of `source` processing now, with their worker slots.
pub(crate) fn processing_readers(
    graphs: &HashMap<GraphId, GraphState>,
    source: TaskRef,
) -> Vec<(TaskKey, u32)> {
    let mut out = Vec::new();
    for n in graphs.values() {
        for (l, st) in stored_layers(n) {
            if st.graph != source.graph || st.layer != source.task.layer {
                continue;
            }
            let task = kaon_graph::TaskId {
                layer: l,
                chunk: source.task.chunk,
            };
            if let Some(idx) = n.index_of(task) {
                let t = &n.tasks[idx as usize];
                if t.state == TaskState::Processing && t.worker != NO_WORKER {
                    out.push((n.key(idx), t.worker));
                }
            }
        }
    }
    out
}

/// Whether a waiting reading task is registered for its source (invariant checks).
#[cfg(test)]
pub(crate) fn is_waiting_for(ctx: &Ctx, source: TaskRef, reader: TaskKey) -> bool {
    ctx.stored_waiters
        .get(&source)
        .is_some_and(|v| v.contains(&reader))
}
