//! Matrix products of chunked 2-D arrays: which chunks each product chunk reads.

use crate::{ChunkGrid, LayerId};

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
