//! Kernels that read rows or columns of chunks: matrix products (the sum over the
//! contracted axis of products of input chunks, with `matrixmultiply`'s blocked,
//! vectorized dgemm) and cumulative sums and products along an axis.

use kaon_graph::{Graph, MatMul, ReduceOp, Scan, TaskId};

use crate::{Chunk, KernelError, alloc, check_inputs, input_values};

pub fn run_matmul(
    graph: &Graph,
    task: TaskId,
    m: &MatMul,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (deps, values) = check_inputs(graph, task, inputs)?;
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
    Ok(Chunk::f64(shape, out))
}

/// One chunk of a cumulative sum or product: the chunk scanned along the axis, starting
/// from the totals of the chunks before it (combined in order).
pub fn run_scan(
    graph: &Graph,
    task: TaskId,
    sc: &Scan,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (_, values) = check_inputs(graph, task, inputs)?;
    let grid = graph.grid(task.layer);
    let shape = grid.chunk_shape(&grid.block_index(task.chunk));
    let axis = sc.axis as usize;
    let outer: usize = shape[..axis].iter().map(|&d| d as usize).product();
    let n = shape[axis] as usize;
    let inner: usize = shape[axis + 1..].iter().map(|&d| d as usize).product();
    let combine = |a: f64, b: f64| match sc.op {
        ReduceOp::Prod => a * b,
        _ => a + b,
    };
    let identity = if sc.op == ReduceOp::Prod { 1.0 } else { 0.0 };
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
    Ok(Chunk::f64(shape, out))
}
