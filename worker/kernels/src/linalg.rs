//! The matrix-product kernel: one output chunk as the sum over the contracted axis of
//! products of input chunks, with `matrixmultiply`'s blocked, vectorized dgemm.

use kaon_graph::{Graph, MatMul, TaskId};

use crate::{Chunk, KernelError, alloc, check_inputs};

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
    let find = |layer, chunk| {
        deps.iter()
            .position(|d| *d == TaskId { layer, chunk })
            .map(|p| values[p])
    };
    for (ab, bb) in MatMul::operands(ga, idx[0], idx[1]) {
        let (Some(a), Some(b)) = (
            find(m.a, ga.linear_index(&ab)),
            find(m.b, gb.linear_index(&bb)),
        ) else {
            return Err(KernelError::InvalidProgram {
                task: graph.task_key(task),
                message: "an operand chunk is missing".into(),
            });
        };
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
