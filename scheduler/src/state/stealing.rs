//! Work stealing with a retract handshake. When workers have free slots and no root task
//! is queued, busy workers are asked (Command::Steal) to give back their last-to-run
//! tasks that are cheap to move; a task is moved only once its worker confirms it had
//! not started it (Event::StealReplied). A task is never asked for twice at once, and a
//! task its worker kept (already started), or that was placed right back on it, is not
//! asked for again while it stays there.

use std::collections::HashMap;

use super::placement::{BYTES_PER_US, DEFAULT_DURATION_US, detach, mean_duration};
use super::recovery::rerun;
use super::stored;
use super::tasks::{GraphState, TaskState};
use super::workers::in_flight_per_thread;
use super::{Ctx, GraphId, TaskKey, TaskRef, WorkerId};

/// Asks busy workers to give back tasks if other workers have free slots. At most half
/// of a victim's excess over its thread count is asked for, and no more in all than the
/// free slots not already covered by outstanding steals.
pub(crate) fn balance(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>) {
    if ctx.workers.len() < 2 || graphs.values_mut().any(|g| g.peek_root().is_some()) {
        return;
    }
    let per = in_flight_per_thread(
        &ctx.config,
        ctx.overall.mean().unwrap_or(DEFAULT_DURATION_US),
    );
    let mut capacity: i64 = 0;
    let mut outstanding: i64 = 0;
    let mut min_occupancy = f64::INFINITY;
    let mut victims: Vec<(f64, u32)> = Vec::new();
    for (slot, w) in ctx.workers.iter() {
        outstanding += w.stealing as i64;
        if w.open() && w.processing < w.limit(per) {
            capacity += (w.limit(per) - w.processing) as i64;
            min_occupancy = min_occupancy.min(w.occupancy());
        }
        // A retiring worker's tasks are all being taken back or already started.
        if !w.retiring && w.processing - w.stealing > w.nthreads {
            victims.push((w.occupancy(), slot));
        }
    }
    capacity -= outstanding;
    if capacity <= 0 || victims.is_empty() {
        return;
    }
    victims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (occupancy, slot) in victims {
        if capacity <= 0 {
            break;
        }
        let w = ctx.workers.get(slot);
        let excess = (w.processing - w.stealing - w.nthreads) as i64;
        // Half the excess, rounded up (a victim with one queued task behind its running
        // one gives it to an idle thief: the tail of a graph otherwise waits for one
        // task on one worker while another idles), and no more than halves the gap to
        // the least busy thief, so a steal never makes the thief the busier one (no
        // ping-pong).
        let gap = ((occupancy - min_occupancy) * w.nthreads as f64 / 2.0).floor() as i64;
        // Negative when the victim is less busy than every thief (it may be paused).
        let want = ((excess + 1) / 2).min(gap).min(capacity);
        if want <= 0 {
            continue;
        }
        let want = want as usize;
        let chosen = pick(ctx, graphs, slot, occupancy, want);
        capacity -= chosen.len() as i64;
        for key in chosen {
            let g = graphs
                .get_mut(&key.graph)
                .expect("picked from a live graph");
            g.tasks[key.idx as usize].stealing = true;
            let task = TaskRef {
                graph: key.graph,
                task: g.task_id(key.idx),
            };
            let w = ctx.workers.get_mut(slot);
            w.stealing += 1;
            w.out_steal.push(task);
        }
    }
}

/// Up to `want` tasks of a victim to steal: among its last-to-run tasks (highest
/// priority numbers), those whose inputs are cheapest to move, and only tasks whose
/// transfer would take less than their estimated wait on the victim.
fn pick(
    ctx: &mut Ctx,
    graphs: &HashMap<GraphId, GraphState>,
    slot: u32,
    occupancy: f64,
    want: usize,
) -> Vec<TaskKey> {
    let w = ctx.workers.get(slot);
    // Tasks assigned in this very batch are not sent yet: they stay where they are.
    let mut pending = w.out_assign.clone();
    pending.sort_unstable();
    let mut cands: Vec<(u64, TaskKey)> = w
        .processing_list
        .iter()
        .filter_map(|k| {
            let g = graphs.get(&k.graph)?;
            let t = &g.tasks[k.idx as usize];
            let eligible = g.is_processing_on(k.idx, slot)
                && !t.stealing
                && !t.started
                && pending.binary_search(k).is_err();
            eligible.then(|| (g.global_prio(k.idx), *k))
        })
        .collect();
    let window = (4 * want).min(cands.len());
    if window == 0 {
        return Vec::new();
    }
    // The `window` last-to-run tasks, last first.
    if window < cands.len() {
        cands.select_nth_unstable_by(window - 1, |a, b| b.cmp(a));
        cands.truncate(window);
    }
    cands.sort_unstable_by(|a, b| b.cmp(a));
    cands.dedup();
    let mut scored: Vec<(u64, u64, TaskKey)> = Vec::with_capacity(cands.len());
    let mut inputs = ctx.take_buf();
    for (prio, k) in cands {
        let g = &graphs[&k.graph];
        inputs.clear();
        g.def.inputs_of(g.task_id(k.idx), &mut inputs);
        let bytes: u64 = inputs
            .iter()
            .map(|&i| &g.tasks[g.def.task_index(i) as usize])
            .filter(|t| t.state == TaskState::Memory)
            .map(|t| t.nbytes)
            .sum();
        let wait_us = occupancy * mean_duration(ctx, g, g.tasks[k.idx as usize].layer);
        if (bytes as f64 / BYTES_PER_US) < wait_us {
            scored.push((bytes, u64::MAX - prio, k));
        }
    }
    ctx.put_buf(inputs);
    scored.sort_unstable();
    scored.truncate(want);
    scored.into_iter().map(|s| s.2).collect()
}

/// A worker answered a Steal: a retracted task is placed again as usual; one it kept
/// stays with it (its completion will come).
pub(crate) fn replied(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    worker: WorkerId,
    task: TaskRef,
    stolen: bool,
) {
    let Some(slot) = ctx.workers.slot_of(worker) else {
        return;
    };
    let Some(g) = graphs.get_mut(&task.graph) else {
        return;
    };
    let Some(idx) = g.index_of(task.task) else {
        return;
    };
    if !g.is_processing_on(idx, slot) || !g.tasks[idx as usize].stealing {
        return; // it finished meanwhile, or the reply is stale
    }
    if stolen {
        if g.def.stored_source(task.task).is_some() {
            let key = g.key(idx);
            stored::stolen(ctx, graphs, key, slot);
            return;
        }
        detach(ctx, g, idx);
        rerun(ctx, g, idx);
        // Placed right back (its inputs are there): not asked for again while it stays,
        // or the same steal would repeat for ever.
        if g.is_processing_on(idx, slot) {
            g.tasks[idx as usize].started = true;
        }
    } else {
        let t = &mut g.tasks[idx as usize];
        t.stealing = false;
        t.started = true;
        ctx.workers.get_mut(slot).stealing -= 1;
    }
}
