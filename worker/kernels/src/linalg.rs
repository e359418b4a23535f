//! Kernels that read rows or columns of chunks: matrix products (the sum over the
//! contracted axis of products of input chunks, with `matrixmultiply`'s blocked,
//! vectorized dgemm; integer matrices in exact, wrapping int64 arithmetic) and
//! cumulative sums and products along an axis.

use std::borrow::Cow;

use kaon_graph::{Graph, MatMul, Scan, TaskId};

use crate::eval::{int_of, slot_of};
use crate::reduce::Reducer;
use crate::{Chunk, KernelError, Repr, alloc, check_inputs, common_repr, input_values};

pub fn run_matmul(
    graph: &Graph,
    task: TaskId,
    m: &MatMul,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (deps, values, reprs) = check_inputs(graph, task, inputs)?;
    // Integer matrices multiply exactly; a float operand makes both float (NumPy's
    // promotion; the client casts, this is the fallback).
    let int = reprs.iter().all(|&r| r == Repr::I64);
    let values: Vec<Cow<[f64]>> = values
        .iter()
        .zip(&reprs)
        .map(|(&v, &r)| match r {
            Repr::I64 if !int => Cow::Owned(v.iter().map(|&x| int_of(x) as f64).collect()),
            _ => Cow::Borrowed(v),
        })
        .collect();
    let values: Vec<&[f64]> = values.iter().map(|v| &v[..]).collect();
    let grid = graph.grid(task.layer);
    let idx = grid.block_index(task.chunk);
    let shape = grid.chunk_shape(&idx);
    let mut out = alloc(graph, task, &shape)?;
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    let (ga, gb) = (graph.grid(m.a), graph.grid(m.b));
    for (ab, bb) in MatMul::operands(ga, idx[0], idx[1]) {
        let a_dep = TaskId {
            layer: m.a,
            chunk: ga.linear_index(&ab),
        };
        let b_dep = TaskId {
            layer: m.b,
            chunk: gb.linear_index(&bb),
        };
        let a = input_values(graph, task, &deps, &values, a_dep)?;
        let b = input_values(graph, task, &deps, &values, b_dep)?;
        let inner = ga.chunk_shape(&ab)[1] as usize;
        if rows == 0 || cols == 0 || inner == 0 {
            continue;
        }
        // check_inputs verified each operand's length against its chunk shape:
        // a is rows x inner, b is inner x cols, out is rows x cols.
        debug_assert!(a.len() == rows * inner && b.len() == inner * cols);
        if int {
            int_matmul(a, b, &mut out, rows, inner, cols);
            continue;
        }
        // SAFETY: the pointers cover rows*inner, inner*cols and rows*cols values with the
        // row-major strides given, as checked above; `out` does not alias the inputs.
        unsafe {
            matrixmultiply::dgemm(
                rows,
                inner,
                cols,
                1.0,
                a.as_ptr(),
                inner as isize,
                1,
                b.as_ptr(),
                cols as isize,
                1,
                1.0,
                out.as_mut_ptr(),
                cols as isize,
                1,
            );
        }
    }
    Ok(Chunk::from_lanes(
        shape,
        out,
        if int { Repr::I64 } else { Repr::F64 },
    ))
}

/// `out += a @ b` for integer slots (rows x inner times inner x cols), wrapping.
fn int_matmul(a: &[f64], b: &[f64], out: &mut [f64], rows: usize, inner: usize, cols: usize) {
    let mut acc = vec![0i64; cols];
    for r in 0..rows {
        let o = &mut out[r * cols..(r + 1) * cols];
        for (x, &slot) in acc.iter_mut().zip(o.iter()) {
            *x = int_of(slot);
        }
        for k in 0..inner {
            let av = int_of(a[r * inner + k]);
            for (x, &bv) in acc.iter_mut().zip(&b[k * cols..(k + 1) * cols]) {
                *x = x.wrapping_add(av.wrapping_mul(int_of(bv)));
            }
        }
        for (slot, &x) in o.iter_mut().zip(&acc) {
            *slot = slot_of(x);
        }
    }
}

/// One chunk of a cumulative sum or product: the chunk scanned along the axis, starting
/// from the totals of the chunks before it (combined in order).
pub fn run_scan(
    graph: &Graph,
    task: TaskId,
    sc: &Scan,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (_, values, reprs) = check_inputs(graph, task, inputs)?;
    let repr = common_repr(graph, task, &reprs)?;
    let grid = graph.grid(task.layer);
    let shape = grid.chunk_shape(&grid.block_index(task.chunk));
    let axis = sc.axis as usize;
    let outer: usize = shape[..axis].iter().map(|&d| d as usize).product();
    let n = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    let op = Reducer::new(sc.op, repr);
    let combine = |a: f64, b: f64| op.combine(a, b);
    let identity = op.identity();
    // The running value where this chunk starts, for each (outer, inner) line.
    let mut start = vec![identity; outer * inner];
    for totals in &values[1..] {
        for (s, &t) in start.iter_mut().zip(totals.iter()) {
            *s = combine(*s, t);
        }
    }
    let x = values[0];
    let mut out = alloc(graph, task, &shape)?;
    for o in 0..outer {
        let mut acc = start[o * inner..(o + 1) * inner].to_vec();
        for i in 0..n {
            let at = (o * n + i) * inner;
            for (k, a) in acc.iter_mut().enumerate() {
                *a = combine(*a, x[at + k]);
                out[at + k] = *a;
            }
        }
    }
    Ok(Chunk::from_lanes(shape, out, repr))
}
