//! Graceful retirement ([`Event::RetireWorkers`](super::Event::RetireWorkers)): a retiring
//! worker takes no new tasks, gives back the tasks it has not started (steal handshake),
//! has every result it holds that is still needed and held by no other non-retiring worker
//! copied elsewhere (`Command::Replicate`), and goes (`Command::Retire`) once it runs
//! nothing, holds nothing needed only by retiring workers, and no task elsewhere may still
//! fetch an input from it alone. Nothing is recomputed and no death is counted.
//!
//! Costs nothing while no worker is retiring: the pass runs only when some worker retires
//! and something relevant changed (`Ctx::retire_dirty`).

use std::collections::HashMap;

use smallvec::SmallVec;

use super::lifecycle::maybe_release;
use super::placement::detach;
use super::recovery::{mark_lost, needed, rerun};
use super::stored;
use super::tasks::{GraphState, TaskState};
use super::{Command, Ctx, Finished, GraphId, TaskKey, TaskRef, WorkerId};

/// An outstanding copy of a result held only by retiring workers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pending {
    /// The worker asked to copy it, if any is asked now.
    pub target: Option<WorkerId>,
    /// Workers that could not copy it (tried others first).
    pub tried: SmallVec<[WorkerId; 2]>,
    /// The last pass that found the copy still needed (stale entries are dropped).
    pub pass: u64,
}

/// Starts retiring workers: each stops taking tasks and is asked to give back the tasks it
/// has not started; tasks assigned to it in this very batch (not sent yet) are taken back
/// at once. Unknown and already retiring workers are ignored.
pub(crate) fn retire_workers(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    workers: Vec<WorkerId>,
) {
    for id in workers {
        let Some(slot) = ctx.workers.slot_of(id) else {
            continue;
        };
        if !ctx.workers.set_retiring(slot) {
            continue;
        }
        ctx.retire_dirty = true;
        let w = ctx.workers.get(slot);
        let mut unsent = w.out_assign.clone();
        unsent.sort_unstable();
        let mut keys = w.processing_list.clone();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let Some(g) = graphs.get_mut(&key.graph) else {
                continue;
            };
            if !g.is_processing_on(key.idx, slot) {
                continue;
            }
            let t = &mut g.tasks[key.idx as usize];
            if t.stealing || t.started {
                continue; // a steal is outstanding, or it runs there and finishes there
            }
            if unsent.binary_search(&key).is_ok() {
                detach(ctx, g, key.idx);
                rerun(ctx, g, key.idx);
            } else {
                t.stealing = true;
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
}

/// A worker copied results. A copy of a result in memory makes the worker one more holder
/// (unless it is retiring itself); any other copy is released. Tasks that may have been
/// told to fetch such a result from retiring holders only keep those holders until they
/// leave their worker.
pub(crate) fn replicated(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    worker: WorkerId,
    tasks: Vec<Finished>,
) {
    let Some(slot) = ctx.workers.slot_of(worker) else {
        return; // gone: nothing to tell it
    };
    ctx.retire_dirty = true;
    let mut deps = ctx.take_buf();
    for f in tasks {
        let Some(g) = graphs.get_mut(&f.task.graph) else {
            ctx.workers.get_mut(slot).out_release.push(f.task);
            continue;
        };
        let Some(idx) = g.index_of(f.task.task) else {
            continue; // names no task of the graph: malformed, ignore
        };
        let key = g.key(idx);
        if ctx
            .replicating
            .get(&key)
            .is_some_and(|p| p.target == Some(worker))
        {
            ctx.replicating.remove(&key);
        }
        let t = &mut g.tasks[idx as usize];
        if t.holders.contains(&slot) {
            continue; // already a holder
        }
        if t.state != TaskState::Memory || ctx.workers.get(slot).retiring {
            ctx.workers.get_mut(slot).out_release.push(f.task);
            continue;
        }
        t.holders.push(slot);
        let nbytes = t.nbytes;
        let w = ctx.workers.get_mut(slot);
        w.held_bytes += nbytes;
        w.held_tasks += 1;
        w.held_list.push(key);
        // Dependents processing now were assigned before this copy existed.
        let retiring_holders: SmallVec<[u32; 4]> = g.tasks[idx as usize]
            .holders
            .iter()
            .copied()
            .filter(|&h| ctx.workers.get(h).retiring)
            .collect();
        if retiring_holders.is_empty() {
            continue;
        }
        deps.clear();
        g.def.dependents_of(f.task.task, &mut deps);
        for &d in &deps {
            let di = g.def.task_index(d) as u32;
            let dt = &g.tasks[di as usize];
            if dt.state != TaskState::Processing || dt.worker == slot {
                continue; // not running, or running where the copy now is
            }
            for &h in &retiring_holders {
                if dt.worker != h {
                    ctx.workers.get_mut(h).waits.push((g.key(di), dt.worker));
                    ctx.retire_waits = true;
                }
            }
        }
        // So were tasks of other graphs reading it (persisted arrays).
        for (reader, worker) in stored::processing_readers(graphs, f.task) {
            for &h in &retiring_holders {
                if worker != slot && worker != h {
                    ctx.workers.get_mut(h).waits.push((reader, worker));
                    ctx.retire_waits = true;
                }
            }
        }
    }
    ctx.put_buf(deps);
}

/// A worker could not copy a result: another target is picked (or, if none is left, the
/// same again) at the next pass. The result stays where it is.
pub(crate) fn replicate_failed(
    ctx: &mut Ctx,
    graphs: &HashMap<GraphId, GraphState>,
    worker: WorkerId,
    task: TaskRef,
) {
    let Some(g) = graphs.get(&task.graph) else {
        return;
    };
    let Some(idx) = g.index_of(task.task) else {
        return;
    };
    if let Some(p) = ctx.replicating.get_mut(&g.key(idx))
        && p.target == Some(worker)
    {
        p.target = None;
        if !p.tried.contains(&worker) {
            p.tried.push(worker);
        }
        ctx.retire_dirty = true;
    }
}

/// The retirement pass: asks for copies of results held only by retiring workers, and
/// returns the retiring workers that may go now (see [`retire`]).
pub(crate) fn progress(ctx: &mut Ctx, graphs: &mut HashMap<GraphId, GraphState>) -> Vec<WorkerId> {
    ctx.retire_pass += 1;
    let pass = ctx.retire_pass;
    // Copy targets: (held bytes, including copies asked for in this pass; slot; id).
    let mut targets: Vec<(u64, u32, WorkerId)> = ctx
        .workers
        .iter()
        .filter(|(_, w)| w.open())
        .map(|(s, w)| (w.held_bytes, s, w.id))
        .collect();
    let retiring: Vec<u32> = ctx
        .workers
        .iter()
        .filter(|(_, w)| w.retiring)
        .map(|(s, _)| s)
        .collect();
    let mut ready = Vec::new();
    let mut waiting = false;
    for r in retiring {
        let keys = std::mem::take(&mut ctx.workers.get_mut(r).held_list);
        let mut only_here = false;
        for &key in &keys {
            let Some(g) = graphs.get_mut(&key.graph) else {
                continue;
            };
            let t = &g.tasks[key.idx as usize];
            if t.state != TaskState::Memory || !t.holders.contains(&r) {
                continue; // stale entry
            }
            if t.holders.iter().any(|&h| !ctx.workers.get(h).retiring) {
                continue; // safe elsewhere
            }
            maybe_release(ctx, g, key.idx);
            if g.tasks[key.idx as usize].state != TaskState::Memory {
                continue; // no longer needed
            }
            only_here = true;
            request_copy(ctx, g, key, pass, &mut targets);
        }
        let w = ctx.workers.get_mut(r);
        let mut keys = keys;
        keys.append(&mut w.held_list);
        w.held_list = keys;
        w.waits.retain(|(k, s)| {
            graphs
                .get(&k.graph)
                .is_some_and(|g| g.is_processing_on(k.idx, *s))
        });
        waiting |= !w.waits.is_empty();
        if !only_here && w.processing == 0 && w.waits.is_empty() {
            ready.push(w.id);
        }
    }
    ctx.replicating.retain(|_, p| p.pass == pass);
    ctx.retire_waits = waiting;
    ctx.retire_dirty = false;
    ready
}

/// Makes sure a copy of a result held only by retiring workers is asked for: keeps an
/// outstanding request to a worker that can still take it, else asks the open worker with
/// the fewest held bytes, preferring workers that did not fail to copy it.
fn request_copy(
    ctx: &mut Ctx,
    g: &GraphState,
    key: TaskKey,
    pass: u64,
    targets: &mut [(u64, u32, WorkerId)],
) {
    let nbytes = g.tasks[key.idx as usize].nbytes;
    let workers = &ctx.workers;
    let p = ctx.replicating.entry(key).or_default();
    p.pass = pass;
    if let Some(t) = p.target {
        if workers.slot_of(t).is_some_and(|s| !workers.get(s).retiring) {
            return; // in flight
        }
        p.target = None;
    }
    let pick = |tried: &[WorkerId]| {
        targets
            .iter()
            .enumerate()
            .filter(|(_, c)| !tried.contains(&c.2))
            .min_by_key(|(_, c)| (c.0, c.1))
            .map(|(i, _)| i)
    };
    let i = match pick(&p.tried) {
        Some(i) => i,
        None => {
            p.tried.clear(); // every target failed once: try them again
            match pick(&[]) {
                Some(i) => i,
                None => return, // no open worker: wait for one
            }
        }
    };
    targets[i].0 += nbytes;
    p.target = Some(targets[i].2);
    ctx.workers.get_mut(targets[i].1).out_replicate.push(key);
}

/// Retires the workers [`progress`] found ready, after the batch's other commands for them
/// were flushed: one `Command::Retire` each, and the state forgets them. Every result they
/// held is held elsewhere, so nothing is lost.
pub(crate) fn retire(
    ctx: &mut Ctx,
    graphs: &mut HashMap<GraphId, GraphState>,
    ready: Vec<WorkerId>,
    out: &mut Vec<Command>,
) {
    for id in ready {
        let Some((slot, w)) = ctx.workers.remove(id) else {
            continue;
        };
        debug_assert_eq!(w.processing, 0, "retired worker {id} still processing");
        out.push(Command::Retire { worker: id });
        for key in &w.held_list {
            let Some(g) = graphs.get_mut(&key.graph) else {
                continue;
            };
            let t = &mut g.tasks[key.idx as usize];
            if t.state != TaskState::Memory || !t.holders.contains(&slot) {
                continue;
            }
            t.holders.retain(|h| *h != slot);
            debug_assert!(!t.holders.is_empty(), "retired the last holder of {key:?}");
            if t.holders.is_empty() {
                // Not reached (the pass saw a copy elsewhere); recover as after a loss.
                mark_lost(ctx, g, key.idx);
                if g.live() && needed(ctx, g, key.idx) {
                    rerun(ctx, g, key.idx);
                }
            }
        }
    }
}
