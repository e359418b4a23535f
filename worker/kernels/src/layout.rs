//! Copy kernels of the layers that move elements without computing them: rearranges
//! (transposes, slices, rechunks, concatenations), reshapes, boolean masks and arrays
//! given as data. They move 8-byte slots, so float64 and int64 values alike.

use kaon_graph::layout::{Compress, Literal, LiteralValues, Rearrange};
use kaon_graph::{Graph, TaskId};

use crate::eval::int_of;
use crate::{Chunk, KernelError, Repr, alloc, check_inputs, common_repr, input_values};

/// Row-major strides (in elements) of a shape.
fn strides(shape: &[u64]) -> Vec<isize> {
    let mut s = vec![1isize; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1] as isize;
    }
    s
}

/// A box of elements to copy: per axis a count, the output stride and the input stride
/// (negative for reversed reads, 0 for a new axis).
struct BoxCopy {
    counts: Vec<usize>,
    out_strides: Vec<isize>,
    in_strides: Vec<isize>,
}

impl BoxCopy {
    /// Copies the box whose first element is `out[out_at]` and `input[in_at]`. The caller
    /// has checked that every index the box reaches is in range.
    fn run(&self, out: &mut [f64], out_at: isize, input: &[f64], in_at: isize) {
        self.axis(0, out, out_at, input, in_at);
    }

    fn axis(&self, k: usize, out: &mut [f64], out_at: isize, input: &[f64], in_at: isize) {
        if k == self.counts.len() {
            out[out_at as usize] = input[in_at as usize];
            return;
        }
        let n = self.counts[k];
        let (os, is) = (self.out_strides[k], self.in_strides[k]);
        if k + 1 == self.counts.len() {
            if os == 1 && is == 1 {
                let (o, i) = (out_at as usize, in_at as usize);
                out[o..o + n].copy_from_slice(&input[i..i + n]);
            } else {
                for t in 0..n as isize {
                    out[(out_at + t * os) as usize] = input[(in_at + t * is) as usize];
                }
            }
            return;
        }
        for t in 0..n as isize {
            self.axis(k + 1, out, out_at + t * os, input, in_at + t * is);
        }
    }
}

/// One chunk of a rearrange layer, copied piece by piece from its input chunks.
pub fn run_rearrange(
    graph: &Graph,
    task: TaskId,
    r: &Rearrange,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (deps, values, reprs) = check_inputs(graph, task, inputs)?;
    let repr = common_repr(graph, task, &reprs)?;
    let grids = graph.input_grids(r);
    let out_block = r.grid.block_index(task.chunk);
    let shape = r.grid.chunk_shape(&out_block);
    let mut out = alloc(graph, task, &shape)?;
    let out_strides = strides(&shape);
    for piece in r.pieces(&grids, &out_block) {
        let grid = grids[piece.slot];
        let dep = TaskId {
            layer: r.inputs[piece.slot],
            chunk: grid.linear_index(&piece.block),
        };
        let input = input_values(graph, task, &deps, &values, dep)?;
        let in_strides = strides(&grid.chunk_shape(&piece.block));
        let mut copy = BoxCopy {
            counts: Vec::with_capacity(shape.len()),
            out_strides: out_strides.clone(),
            in_strides: Vec::with_capacity(shape.len()),
        };
        let (mut out_at, mut in_at) = (0isize, 0isize);
        for &(a, pos) in &piece.fixed {
            in_at += pos as isize * in_strides[a];
        }
        for (k, (seg, map)) in piece.segments.iter().zip(&r.axes).enumerate() {
            copy.counts.push(seg.len as usize);
            out_at += seg.out_start as isize * out_strides[k];
            match map.source {
                Some(a) => {
                    let s = in_strides[a as usize];
                    in_at += seg.in_start as isize * s;
                    copy.in_strides.push(seg.step as isize * s);
                }
                None => copy.in_strides.push(0),
            }
        }
        copy.run(&mut out, out_at, input, in_at);
    }
    Ok(Chunk::from_lanes(shape, out, repr))
}

/// One chunk of a reshape layer (or of a persisted array: see [`kaon_graph::Stored`]): the
/// input chunk's values with the output's shape.
pub fn run_reshape(graph: &Graph, task: TaskId, inputs: &[&Chunk]) -> Result<Chunk, KernelError> {
    let (_, values, reprs) = check_inputs(graph, task, inputs)?;
    let grid = graph.grid(task.layer);
    let shape = grid.chunk_shape(&grid.block_index(task.chunk));
    Ok(Chunk::from_lanes(shape, values[0].to_vec(), reprs[0]))
}

/// One chunk of an array given as data.
pub fn run_literal(graph: &Graph, task: TaskId, l: &Literal) -> Result<Chunk, KernelError> {
    let block = l.grid.block_index(task.chunk);
    let shape = l.grid.chunk_shape(&block);
    let mut out = alloc(graph, task, &shape)?;
    let (values, repr) = literal_lanes(&l.values);
    let all = strides(&l.grid.shape());
    let in_at: isize = l
        .grid
        .chunk_offset(&block)
        .iter()
        .zip(&all)
        .map(|(&o, &s)| o as isize * s)
        .sum();
    if !out.is_empty() {
        let copy = BoxCopy {
            counts: shape.iter().map(|&n| n as usize).collect(),
            out_strides: strides(&shape),
            in_strides: all,
        };
        copy.run(&mut out, 0, values, in_at);
    }
    Ok(Chunk::from_lanes(shape, out, repr))
}

fn literal_lanes(v: &LiteralValues) -> (&[f64], Repr) {
    match v {
        LiteralValues::F64(v) => (v, Repr::F64),
        LiteralValues::I64(v) => (bytemuck::cast_slice(v), Repr::I64),
    }
}

/// One chunk of a boolean mask's selection: the data where the mask is not 0.
pub fn run_compress(
    graph: &Graph,
    task: TaskId,
    c: &Compress,
    inputs: &[&Chunk],
) -> Result<Chunk, KernelError> {
    let (_, values, reprs) = check_inputs(graph, task, inputs)?;
    let shape = c.grid.chunk_shape(&c.grid.block_index(task.chunk));
    let (Some(&data), Some(&repr)) = (values.first(), reprs.first()) else {
        return Ok(Chunk::f64(shape, Vec::new()));
    };
    let (mask, mask_repr) = match (values.get(1), reprs.get(1)) {
        (Some(&m), Some(&r)) => (m, r),
        _ => (data, repr),
    };
    let keep = |m: f64| match mask_repr {
        Repr::F64 => m != 0.0,
        Repr::I64 => int_of(m) != 0,
    };
    let mut out = Vec::with_capacity(shape[0] as usize);
    out.extend(
        data.iter()
            .zip(mask)
            .filter(|(_, m)| keep(**m))
            .map(|(d, _)| *d),
    );
    if out.len() as u64 != shape[0] {
        return Err(KernelError::InvalidProgram {
            task: graph.task_key(task),
            message: format!(
                "the mask keeps {} elements of its chunk, but the graph planned {}",
                out.len(),
                shape[0]
            ),
        });
    }
    Ok(Chunk::from_lanes(shape, out, repr))
}
