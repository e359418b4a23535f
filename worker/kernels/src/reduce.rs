//! Streaming evaluation and reduction of a chunk, in parallel, deterministically.
//!
//! The values come from a [`Source`]: a program evaluated tile by tile (nothing the size
//! of the chunk is ever materialized) or a chunk in memory. The chunk's axes are merged
//! into alternating groups of kept and reduced axes; the work is cut into pieces whose
//! boundaries depend on the shape only, each piece reduces its tiles with pairwise trees,
//! and pieces are combined in a fixed order, so results do not depend on the number of
//! threads. Rayon runs the pieces in the pool the caller runs in.
//!
//! Shapes after merging (K kept, R reduced):
//! - `[K, R]`, `[R]` (trailing axes, all axes): each output element is one contiguous
//!   run, reduced tile by tile (pairwise within a tile, pairwise over tiles); long runs
//!   are cut into pieces of `GRANULE` elements reduced in parallel.
//! - `[..., R, K]` (leading or middle axes): rows of the kept inner group are combined
//!   element-wise over the reduced coordinates with a pairwise tree of row vectors, in
//!   column tiles, with the reduced range cut into blocks when there are few outputs.
//! - `[..., R, K, R]` (trailing and other axes): the trailing runs are reduced first
//!   into an array of `1/run` of the chunk, which is then reduced like `[..., R, K]`.

use kaon_graph::ReduceOp;
use rayon::prelude::*;

use crate::Repr;
use crate::eval::{int_of, slot_of};
use crate::intmath;

use crate::eval::{Plan, TILE, eval_tile, reduce_slice};
use crate::math;

/// A reduction of values held as `repr`: float64 (NaN-propagating min and max) or
/// integer slots (wrapping int64 sums and products).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reducer {
    pub op: ReduceOp,
    pub repr: Repr,
}

impl Reducer {
    pub fn new(op: ReduceOp, repr: Repr) -> Reducer {
        Reducer { op, repr }
    }

    #[cfg(test)]
    pub fn float(op: ReduceOp) -> Reducer {
        Reducer::new(op, Repr::F64)
    }

    /// The slot an empty reduction gives.
    pub fn identity(self) -> f64 {
        match self.repr {
            Repr::F64 => self.op.identity(),
            Repr::I64 => slot_of(intmath::identity(self.op)),
        }
    }

    #[inline(always)]
    pub fn combine(self, a: f64, b: f64) -> f64 {
        match self.repr {
            Repr::F64 => math::combine(self.op, a, b),
            Repr::I64 => slot_of(intmath::combine(self.op, int_of(a), int_of(b))),
        }
    }
}

/// Elements one parallel piece of work evaluates, at least (when there are that many).
const GRANULE: usize = 32 * TILE;
/// Pieces a reduction is cut into, at least, when the work allows it.
const MIN_PIECES: usize = 64;

/// Where a chunk's values come from.
pub enum Source<'a> {
    Program {
        plan: &'a Plan,
        inputs: Vec<&'a [f64]>,
    },
    Memory(&'a [f64]),
}

/// Per-thread scratch space of a source.
pub struct Scratch(Vec<Vec<f64>>);

impl Source<'_> {
    pub(crate) fn scratch(&self) -> Scratch {
        match self {
            Source::Program { plan, .. } => Scratch(plan.scratch()),
            Source::Memory(_) => Scratch(Vec::new()),
        }
    }

    /// Values of elements `start..start + len`.
    #[inline]
    pub(crate) fn values<'s>(
        &'s self,
        scratch: &'s mut Scratch,
        start: usize,
        len: usize,
    ) -> &'s [f64] {
        match self {
            Source::Program { plan, inputs } => eval_tile(plan, inputs, &mut scratch.0, start, len),
            Source::Memory(m) => &m[start..start + len],
        }
    }
}

/// Evaluates every element into `out` (whose length is the element count).
pub fn evaluate(source: &Source, out: &mut [f64]) {
    out.par_chunks_mut(TILE).enumerate().for_each_init(
        || source.scratch(),
        |scratch, (i, dst)| {
            let vals = source.values(scratch, i * TILE, dst.len());
            dst.copy_from_slice(vals);
        },
    );
}

/// Reduces the chunk of `shape` over `axes` with keepdims into `out` (whose length is
/// the element count of the reduced shape).
pub fn reduce(source: &Source, shape: &[usize], axes: &[usize], op: Reducer, out: &mut [f64]) {
    if shape.contains(&0) {
        // No elements: every output element (if any) is the identity.
        out.fill(op.identity());
        return;
    }
    // Merge axes into alternating groups (length, reduced), dropping length-1 axes.
    let mut groups: Vec<(usize, bool)> = Vec::new();
    for (axis, &len) in shape.iter().enumerate() {
        if len == 1 {
            continue;
        }
        let reduced = axes.contains(&axis);
        match groups.last_mut() {
            Some((l, r)) if *r == reduced => *l *= len,
            _ => groups.push((len, reduced)),
        }
    }
    match groups.last() {
        None => evaluate(source, out),
        Some(&(_, false)) if groups.len() == 1 => evaluate(source, out),
        Some(&(a, false)) => reduce_kept_inner(source, &groups[..groups.len() - 1], a, op, out),
        Some(&(u, true)) => {
            let m = groups.len();
            if m <= 2 {
                // [rows, u] or [u]: each output element is one contiguous run.
                reduce_rows(source, u, op, out);
            } else {
                // [..., R, K, R]: reduce the runs first, then the rest in memory.
                let rows = out.len()
                    * groups[..m - 1]
                        .iter()
                        .filter(|g| g.1)
                        .map(|g| g.0)
                        .product::<usize>();
                let mut runs = vec![0.0; rows];
                reduce_rows(source, u, op, &mut runs);
                let a = groups[m - 2].0;
                reduce_kept_inner(&Source::Memory(&runs), &groups[..m - 2], a, op, out);
            }
        }
    }
}

/// `out[r]` = reduction of the contiguous run of elements `r*u .. (r+1)*u`.
fn reduce_rows(source: &Source, u: usize, op: Reducer, out: &mut [f64]) {
    if u <= GRANULE {
        let rows_per_piece = (GRANULE / u).max(1);
        out.par_chunks_mut(rows_per_piece)
            .enumerate()
            .for_each_init(
                || source.scratch(),
                |scratch, (piece, outs)| {
                    let row0 = piece * rows_per_piece;
                    if u <= TILE {
                        let k = TILE / u;
                        for (ci, o) in outs.chunks_mut(k).enumerate() {
                            let r = row0 + ci * k;
                            let vals = source.values(scratch, r * u, o.len() * u);
                            for (oj, run) in o.iter_mut().zip(vals.chunks_exact(u)) {
                                *oj = reduce_slice(op, run);
                            }
                        }
                    } else {
                        for (j, oj) in outs.iter_mut().enumerate() {
                            *oj = reduce_span(source, scratch, (row0 + j) * u, u, op);
                        }
                    }
                },
            );
    } else {
        // Long runs are cut into pieces of GRANULE elements (a multiple of TILE, so the
        // tiles are those of an uncut run).
        let pieces = u.div_ceil(GRANULE);
        let partials: Vec<f64> = (0..out.len() * pieces)
            .into_par_iter()
            .map_init(
                || source.scratch(),
                |scratch, i| {
                    let (row, piece) = (i / pieces, i % pieces);
                    let start = piece * GRANULE;
                    let len = GRANULE.min(u - start);
                    reduce_span(source, scratch, row * u + start, len, op)
                },
            )
            .collect();
        for (o, p) in out.iter_mut().zip(partials.chunks_exact(pieces)) {
            let mut stack = ScalarStack::new(op);
            for &v in p {
                stack.push(v);
            }
            *o = stack.finish();
        }
    }
}

/// Reduction of the contiguous elements `start..start + len`, tile by tile.
fn reduce_span(
    source: &Source,
    scratch: &mut Scratch,
    start: usize,
    len: usize,
    op: Reducer,
) -> f64 {
    let mut stack = ScalarStack::new(op);
    let mut at = 0;
    while at < len {
        let n = TILE.min(len - at);
        let vals = source.values(scratch, start + at, n);
        stack.push(reduce_slice(op, vals));
        at += n;
    }
    stack.finish()
}

/// The innermost group of `a` elements is kept; `outer` (ending with a reduced group)
/// are the groups before it. Rows of `a` elements are summed element-wise over the
/// reduced groups' coordinates.
fn reduce_kept_inner(
    source: &Source,
    outer: &[(usize, bool)],
    a: usize,
    op: Reducer,
    out: &mut [f64],
) {
    let kept: usize = outer.iter().filter(|g| !g.1).map(|g| g.0).product();
    let q_total: usize = outer.iter().filter(|g| g.1).map(|g| g.0).product();
    let run_len = outer.last().map_or(1, |g| g.0); // the reduced group next to `a`
    let row_of = |mut ko: usize, mut q: usize| -> usize {
        let mut row = 0;
        let mut stride = 1;
        for &(len, reduced) in outer.iter().rev() {
            let d = if reduced {
                let d = q % len;
                q /= len;
                d
            } else {
                let d = ko % len;
                ko /= len;
                d
            };
            row += d * stride;
            stride *= len;
        }
        row
    };
    let cw = a.min(TILE);
    let ncol = a.div_ceil(cw);
    let base = kept * ncol;
    let by_work = (q_total * cw / GRANULE).max(1);
    let nq = MIN_PIECES.div_ceil(base).min(by_work).clamp(1, q_total);
    let q_block = q_total.div_ceil(nq);
    let nq = q_total.div_ceil(q_block);

    let pieces: Vec<Vec<f64>> = (0..base * nq)
        .into_par_iter()
        .map_init(
            || source.scratch(),
            |scratch, i| {
                let (ko, col, qb) = (i / (ncol * nq), (i / nq) % ncol, i % nq);
                let c0 = col * cw;
                let width = cw.min(a - c0);
                let (q0, q1) = (qb * q_block, ((qb + 1) * q_block).min(q_total));
                let mut stack = VecStack::new(op, width);
                let mut q = q0;
                while q < q1 {
                    let row = row_of(ko, q);
                    if width == a {
                        // Whole rows: take consecutive rows (contiguous) in one tile.
                        let run = (q1 - q).min(run_len - q % run_len).min((TILE / a).max(1));
                        let vals = source.values(scratch, row * a, run * a);
                        for r in vals.chunks_exact(a) {
                            stack.push(r);
                        }
                        q += run;
                    } else {
                        let vals = source.values(scratch, row * a + c0, width);
                        stack.push(vals);
                        q += 1;
                    }
                }
                stack.finish()
            },
        )
        .collect();
    for (j, group) in pieces.chunks_exact(nq).enumerate() {
        let (ko, col) = (j / ncol, j % ncol);
        let c0 = col * cw;
        let dst = &mut out[ko * a + c0..ko * a + c0 + group[0].len()];
        if nq == 1 {
            dst.copy_from_slice(&group[0]);
        } else {
            let mut stack = VecStack::new(op, dst.len());
            for p in group {
                stack.push(p);
            }
            dst.copy_from_slice(&stack.finish());
        }
    }
}

/// Combines equally long vectors element-wise with `op`, in a pairwise tree.
pub fn combine_vectors(op: Reducer, parts: &[&[f64]], out: &mut [f64]) {
    let mut stack = VecStack::new(op, out.len());
    for p in parts {
        stack.push(p);
    }
    out.copy_from_slice(&stack.finish());
}

/// Pairwise combination of a stream of scalars: a binary counter of partial results,
/// so the tree is fixed by the number of values.
struct ScalarStack {
    op: Reducer,
    levels: Vec<(u64, f64)>,
}

impl ScalarStack {
    fn new(op: Reducer) -> Self {
        ScalarStack {
            op,
            levels: Vec::with_capacity(64),
        }
    }

    fn push(&mut self, v: f64) {
        let mut cur = (1u64, v);
        while let Some(&(n, x)) = self.levels.last() {
            if n != cur.0 {
                break;
            }
            self.levels.pop();
            cur = (n + cur.0, self.op.combine(x, cur.1));
        }
        self.levels.push(cur);
    }

    fn finish(self) -> f64 {
        let mut it = self.levels.into_iter().rev();
        let Some((_, mut acc)) = it.next() else {
            return self.op.identity();
        };
        for (_, x) in it {
            acc = self.op.combine(x, acc);
        }
        acc
    }
}

/// Pairwise element-wise combination of a stream of vectors (see [`ScalarStack`]).
struct VecStack {
    op: Reducer,
    width: usize,
    levels: Vec<(u64, Vec<f64>)>,
    free: Vec<Vec<f64>>,
}

impl VecStack {
    fn new(op: Reducer, width: usize) -> Self {
        VecStack {
            op,
            width,
            levels: Vec::new(),
            free: Vec::new(),
        }
    }

    fn push(&mut self, v: &[f64]) {
        let mut buf = self.free.pop().unwrap_or_else(|| vec![0.0; self.width]);
        buf.copy_from_slice(v);
        let mut cur = (1u64, buf);
        while self.levels.last().is_some_and(|l| l.0 == cur.0) {
            let Some((n, mut x)) = self.levels.pop() else {
                break;
            };
            combine_into(self.op, &mut x, &cur.1);
            self.free.push(cur.1);
            cur = (n * 2, x);
        }
        self.levels.push(cur);
    }

    fn finish(mut self) -> Vec<f64> {
        let Some((_, mut acc)) = self.levels.pop() else {
            return vec![self.op.identity(); self.width];
        };
        while let Some((_, mut x)) = self.levels.pop() {
            combine_into(self.op, &mut x, &acc);
            acc = x;
        }
        acc
    }
}

/// `acc[i] = op(acc[i], x[i])`.
fn combine_into(op: Reducer, acc: &mut [f64], x: &[f64]) {
    let rows = acc.iter_mut().zip(x);
    match (op.repr, op.op) {
        (Repr::F64, ReduceOp::Sum) => rows.for_each(|(a, &b)| *a += b),
        (Repr::F64, ReduceOp::Prod) => rows.for_each(|(a, &b)| *a *= b),
        (Repr::F64, ReduceOp::Min) => rows.for_each(|(a, &b)| *a = math::minimum(*a, b)),
        (Repr::F64, ReduceOp::Max) => rows.for_each(|(a, &b)| *a = math::maximum(*a, b)),
        (Repr::I64, _) => rows.for_each(|(a, &b)| *a = op.combine(*a, b)),
    }
}
