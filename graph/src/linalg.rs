//! Layers whose chunks read whole rows or columns of other chunks: matrix products of
//! 2-D arrays ([`MatMul`]) and cumulative sums and products along an axis ([`Scan`]).

use crate::{ChunkGrid, LayerId, ReduceOp};

/// The matrix product `a @ b` of two 2-D layers whose chunks agree along the contracted
/// axis: chunk `(i, j)` reads chunks `(i, k)` of `a` and `(k, j)` of `b` for every `k`
/// and sums their products in one task (dask's blockwise product with a contraction).
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {
    pub a: LayerId,
    pub b: LayerId,
}

impl MatMul {
    /// The product's grid, or what is wrong with the operands.
    pub fn grid(a: &ChunkGrid, b: &ChunkGrid) -> Result<ChunkGrid, String> {
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(format!(
                "multiplies arrays of shapes {:?} and {:?}; both must be 2-dimensional",
                a.shape(),
                b.shape()
            ));
        }
        if a.chunks()[1] != b.chunks()[0] {
            return Err(format!(
                "multiplies shapes {:?} and {:?} whose chunks along the contracted axis \
                 differ: {:?} and {:?}",
                a.shape(),
                b.shape(),
                a.chunks()[1],
                b.chunks()[0]
            ));
        }
        ChunkGrid::new(vec![a.chunks()[0].clone(), b.chunks()[1].clone()])
            .map_err(|e| e.to_string())
    }

    /// Block indices read by product chunk `(i, j)`: `a`'s `(i, k)` then `b`'s `(k, j)`,
    /// for each `k` in order.
    pub fn operands(a: &ChunkGrid, i: u64, j: u64) -> impl Iterator<Item = ([u64; 2], [u64; 2])> {
        (0..a.numblocks()[1]).map(move |k| ([i, k], [k, j]))
    }
}

/// A cumulative sum or product along `axis` (NumPy's `cumsum`, `cumprod`): chunk `j`
/// along the axis reads its own input chunk, scans it, and starts from the combined
/// totals of chunks `0..j` (`totals` is the input reduced over `axis` inside each chunk),
/// so no chunk waits on the scans before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub input: LayerId,
    pub totals: LayerId,
    pub axis: u32,
    pub op: ReduceOp,
}

impl Scan {
    /// Checks the layer against its inputs' grids.
    pub fn validate(&self, input: &ChunkGrid, totals: &ChunkGrid) -> Result<(), String> {
        let axis = self.axis as usize;
        if axis >= input.ndim() {
            return Err(format!(
                "scans axis {axis} of a {}-dimensional array",
                input.ndim()
            ));
        }
        if !matches!(self.op, ReduceOp::Sum | ReduceOp::Prod) {
            return Err(format!("scans with {}, not sum or prod", self.op.name()));
        }
        if totals != &input.reduced_per_chunk(&[axis]) {
            return Err(format!(
                "reads totals of chunks {:?}, which are not its input's chunks {:?} reduced \
                 over axis {axis}",
                totals.chunks(),
                input.chunks()
            ));
        }
        Ok(())
    }
}
