//! Tree reductions: the combine steps that follow a per-chunk reduction.

use crate::graph::{Combine, Layer, LayerOp};
use crate::{ChunkGrid, LayerId, ReduceOp};

/// Appends combine layers after `input` until each of `axes` has one block, combining
/// `split_every` chunks per step. Returns the last layer (or `input` if nothing was
/// needed) and its grid.
pub fn push_tree_reduction(
    layers: &mut Vec<Layer>,
    input: LayerId,
    input_grid: &ChunkGrid,
    op: ReduceOp,
    axes: &[usize],
    split_every: u32,
    name: &str,
) -> (LayerId, ChunkGrid) {
    let split_every = split_every.max(2);
    let mut last = input;
    let mut grid = input_grid.clone();
    while axes.iter().any(|&a| grid.chunks()[a].len() > 1) {
        layers.push(Layer {
            name: name.to_string(),
            op: LayerOp::Combine(Combine {
                input: last,
                op,
                axes: axes.to_vec(),
                split_every,
            }),
        });
        last = (layers.len() - 1) as LayerId;
        grid = grid.combined(axes, split_every as u64);
    }
    (last, grid)
}
