//! Where tasks run: root tasks leave the scheduler-side queue only as workers have free
//! in-flight slots; tasks with inputs go at once to the worker where they would start
//! soonest, counting the time to fetch the inputs it lacks (locality first).

use std::collections::{BTreeMap, HashMap};

use smallvec::SmallVec;

use super::tasks::{GraphState, NO_WORKER, TaskState};
use super::workers::in_flight_per_thread;
use super::{Ctx, GraphId};

/// Assumed task duration before any has been observed.
pub(crate) const DEFAULT_DURATION_US: f64 = 1_000.0;
/// Assumed transfer bandwidth between workers: 500 MB/s, in bytes per microsecond.
pub(crate) const BYTES_PER_US: f64 = 500.0;

/// Mean duration of a layer's tasks, or of all tasks, or the default.
pub(crate) fn mean_duration(ctx: &Ctx, g: &GraphState, layer: u32) -> f64 {
    g.layers[layer as usize]
        .durations
        .mean()
        .or_else(|| ctx.overall.mean())
        .unwrap_or(DEFAULT_DURATION_US)
}

/// Marks a task processing on a worker and queues its Assign.
pub(crate) fn assign_task(ctx: &mut Ctx, g: &mut GraphState, idx: u32, slot: u32) {
    g.set_state(idx, TaskState::Processing, &mut ctx.transitions);
    g.tasks[idx as usize].worker = slot;
    ctx.workers.assign(slot, g.key(idx));
}

/// Takes a processing task off its worker (the worker gave it up or is gone) and makes it
/// ready again; the caller then runs [`super::recovery::rerun`] on it.
pub(crate) fn detach(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    let (slot, stealing) = g.tasks[idx as usize].leave_worker();
    if slot != NO_WORKER {
        ctx.workers.unassign(slot, stealing);
    }
    g.set_state(idx, TaskState::Ready, &mut ctx.transitions);
}

/// Places a task whose inputs are all in memory: a root task joins the root queue; any
/// other goes to the best worker now, or waits (ready) until a worker can take it.
pub(crate) fn place_now(ctx: &mut Ctx, g: &mut GraphState, idx: u32) {
    if g.is_root(idx) {
        if g.tasks[idx as usize].state != TaskState::Ready {
            g.set_state(idx, TaskState::Ready, &mut ctx.transitions);
        }
        g.requeue_root(idx);
        return;
    }
    match choose_worker(ctx, g, idx) {
        Some(slot) => assign_task(ctx, g, idx, slot),
        None => {
            if g.tasks[idx as usize].state != TaskState::Ready {
                g.set_state(idx, TaskState::Ready, &mut ctx.transitions);
            }
            ctx.unplaced.push(g.key(idx));
        }
    }
}

/// The open (unpaused, not retiring) worker minimizing estimated queue wait plus the time
/// to fetch the input bytes it does not hold; ties go to the worker holding the most input
/// bytes, then the least loaded, then the lowest slot.
pub(crate) fn choose_worker(ctx: &mut Ctx, g: &GraphState, idx: u32) -> Option<u32> {
    choose_worker_with(ctx, g, idx, None)
}

/// [`choose_worker`] for a task that also reads a result of another graph (`elsewhere`:
/// its holders and size), which its own graph's inputs do not show.
pub(crate) fn choose_worker_with(
    ctx: &mut Ctx,
    g: &GraphState,
    idx: u32,
    elsewhere: Option<(&[u32], u64)>,
) -> Option<u32> {
    let mut inputs = ctx.take_buf();
    g.def.inputs_of(g.task_id(idx), &mut inputs);
    let mut total: u64 = 0;
    let mut held: SmallVec<[(u32, u64); 8]> = SmallVec::new();
    let here = inputs.iter().filter_map(|&i| {
        let t = &g.tasks[g.def.task_index(i) as usize];
        (t.state == TaskState::Memory).then_some((&t.holders[..], t.nbytes))
    });
    for (holders, nbytes) in here.chain(elsewhere) {
        total += nbytes;
        for &h in holders {
            match held.iter_mut().find(|e| e.0 == h) {
                Some(e) => e.1 += nbytes,
                None => held.push((h, nbytes)),
            }
        }
    }
    ctx.put_buf(inputs);
    let mean = mean_duration(ctx, g, g.tasks[idx as usize].layer);
    let mut best: Option<(f64, u64, u32, u32)> = None;
    for (slot, w) in ctx.workers.iter() {
        if !w.open() {
            continue;
        }
        let bytes = held.iter().find(|e| e.0 == slot).map_or(0, |e| e.1);
        let cost = w.occupancy() * mean + (total - bytes) as f64 / BYTES_PER_US;
        let better = match best {
            None => true,
            Some((c, b, p, _)) => {
                cost < c || (cost == c && (bytes > b || (bytes == b && w.processing < p)))
            }
        };
        if better {
            best = Some((cost, bytes, w.processing, slot));
        }
    }
    best.map(|b| b.3)
}

/// Places ready tasks that found no worker earlier, once some worker can take them.
pub(crate) fn place_unplaced(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>) {
    if ctx.unplaced.is_empty() || !ctx.workers.iter().any(|(_, w)| w.open()) {
        return;
    }
    let keys = std::mem::take(&mut ctx.unplaced);
    for k in keys {
        let Some(g) = graphs.get_mut(&k.graph) else {
            continue;
        };
        let t = &g.tasks[k.idx as usize];
        if t.state == TaskState::Ready && t.worker == NO_WORKER && !g.is_root(k.idx) {
            place_now(ctx, g, k.idx);
        }
    }
}

/// In-flight tasks per thread for a root task of `layer`.
fn per_thread(ctx: &Ctx, g: &GraphState, idx: u32) -> u32 {
    let mean = mean_duration(ctx, g, g.tasks[idx as usize].layer);
    in_flight_per_thread(&ctx.config, mean)
}

/// The graph (by position in `gids`) holding the next queued root task, and that task.
fn next_head(
    graphs: &mut HashMap<GraphId, GraphState>,
    gids: &[GraphId],
    gi: &mut usize,
) -> Option<u32> {
    while *gi < gids.len() {
        let g = graphs.get_mut(&gids[*gi]).expect("graph with queued roots");
        if let Some(head) = g.peek_root() {
            return Some(head);
        }
        *gi += 1;
    }
    None
}

/// Hands queued root tasks, oldest graph first and in priority order, to workers with
/// free in-flight slots. Each pick goes to the least occupied worker with room and
/// takes a contiguous block (neighbouring roots usually feed the same reduction), no
/// larger than an even share of what is queued, so a short queue still spreads.
pub(crate) fn fill_roots(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    order: &BTreeMap<u64, GraphId>,
) {
    if ctx.workers.len() == 0 {
        return;
    }
    let gids: Vec<GraphId> = order
        .values()
        .copied()
        .filter(|id| graphs.get(id).is_some_and(|g| g.queued_roots() > 0))
        .collect();
    if gids.is_empty() {
        return;
    }
    let mut queued: usize = gids.iter().map(|id| graphs[id].queued_roots()).sum();
    let mut gi = 0;
    loop {
        let Some(head) = next_head(graphs, &gids, &mut gi) else {
            return;
        };
        let per = per_thread(ctx, &graphs[&gids[gi]], head);
        let mut best: Option<(f64, u32)> = None;
        let mut eligible = 0usize;
        for (slot, w) in ctx.workers.iter() {
            if !w.open() || w.processing >= w.limit(per) {
                continue;
            }
            eligible += 1;
            if best.is_none_or(|(occ, _)| w.occupancy() < occ) {
                best = Some((w.occupancy(), slot));
            }
        }
        let Some((_, slot)) = best else {
            return;
        };
        let free = (ctx.workers.get(slot).limit(per) - ctx.workers.get(slot).processing) as usize;
        let block = free.min(queued.div_ceil(eligible).max(1));
        for _ in 0..block {
            let Some(head) = next_head(graphs, &gids, &mut gi) else {
                return;
            };
            let g = graphs.get_mut(&gids[gi]).expect("graph with queued roots");
            let per = per_thread(ctx, g, head);
            let w = ctx.workers.get(slot);
            if w.processing >= w.limit(per) {
                break;
            }
            g.pop_root(head);
            assign_task(ctx, g, head, slot);
            queued = queued.saturating_sub(1);
        }
    }
}
