//! Chunk grids: how an n-dimensional array is cut into chunks (dask's `chunks`).

use crate::GraphError;

/// The chunking of an n-dimensional array: for each axis, the sizes of its chunks.
///
/// Chunks are numbered in C order over the block grid, so a chunk's *linear index*
/// and its *block index* (one coordinate per axis) convert both ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkGrid {
    chunks: Vec<Vec<u64>>,
    /// Start of each chunk along each axis, with the axis length appended.
    starts: Vec<Vec<u64>>,
}

/// Most axes an array may have (NumPy's limit is 64; physics arrays have few).
pub const MAX_NDIM: usize = 32;

impl ChunkGrid {
    /// A grid from per-axis chunk sizes. Every chunk must be non-empty, except that an
    /// axis of length zero is one chunk of size zero.
    pub fn new(chunks: Vec<Vec<u64>>) -> Result<Self, GraphError> {
        if chunks.len() > MAX_NDIM {
            return Err(GraphError::grid(format!(
                "{} axes, more than the {MAX_NDIM} supported",
                chunks.len()
            )));
        }
        let mut starts = Vec::with_capacity(chunks.len());
        let mut total_chunks: u64 = 1;
        let mut total_elements: u64 = 1;
        for (axis, sizes) in chunks.iter().enumerate() {
            if sizes.is_empty() {
                return Err(GraphError::grid(format!("axis {axis} has no chunks")));
            }
            let zero_len_axis = sizes.len() == 1 && sizes[0] == 0;
            if !zero_len_axis && sizes.contains(&0) {
                return Err(GraphError::grid(format!(
                    "axis {axis} has an empty chunk: {sizes:?}"
                )));
            }
            let mut axis_starts = Vec::with_capacity(sizes.len() + 1);
            let mut at: u64 = 0;
            for &s in sizes {
                axis_starts.push(at);
                at = at
                    .checked_add(s)
                    .ok_or_else(|| GraphError::grid(format!("axis {axis} is too long")))?;
            }
            axis_starts.push(at);
            total_chunks = total_chunks
                .checked_mul(sizes.len() as u64)
                .ok_or_else(|| GraphError::grid("too many chunks".to_string()))?;
            total_elements = total_elements
                .checked_mul(at)
                .ok_or_else(|| GraphError::grid("too many elements".to_string()))?;
            starts.push(axis_starts);
        }
        Ok(Self { chunks, starts })
    }

    /// A grid of equal chunks of `chunk_shape` (the last one along an axis may be smaller).
    pub fn regular(shape: &[u64], chunk_shape: &[u64]) -> Result<Self, GraphError> {
        if shape.len() != chunk_shape.len() {
            return Err(GraphError::grid(format!(
                "shape {shape:?} and chunk shape {chunk_shape:?} differ in length"
            )));
        }
        let mut chunks = Vec::with_capacity(shape.len());
        for (axis, (&n, &c)) in shape.iter().zip(chunk_shape).enumerate() {
            if n == 0 {
                chunks.push(vec![0]);
                continue;
            }
            if c == 0 {
                return Err(GraphError::grid(format!("chunk size 0 on axis {axis}")));
            }
            let full = n / c;
            if full > u32::MAX as u64 {
                return Err(GraphError::grid(format!("too many chunks on axis {axis}")));
            }
            let mut sizes = vec![c; full as usize];
            if n % c != 0 {
                sizes.push(n % c);
            }
            chunks.push(sizes);
        }
        Self::new(chunks)
    }

    pub fn ndim(&self) -> usize {
        self.chunks.len()
    }

    /// Chunk sizes per axis.
    pub fn chunks(&self) -> &[Vec<u64>] {
        &self.chunks
    }

    /// The array's shape.
    pub fn shape(&self) -> Vec<u64> {
        (0..self.ndim()).map(|a| self.axis_len(a)).collect()
    }

    /// The array's length along one axis (without building the whole shape).
    pub fn axis_len(&self, axis: usize) -> u64 {
        *self.starts[axis].last().expect("every axis has a start")
    }

    /// Number of chunks along each axis.
    pub fn numblocks(&self) -> Vec<u64> {
        self.chunks.iter().map(|c| c.len() as u64).collect()
    }

    /// Total number of chunks (1 for a zero-dimensional array).
    pub fn num_chunks(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).product()
    }

    /// Total number of elements.
    pub fn num_elements(&self) -> u64 {
        self.shape().iter().product()
    }

    /// Block index (one coordinate per axis) of the chunk with `linear` index.
    pub fn block_index(&self, mut linear: u64) -> Vec<u64> {
        let mut idx = vec![0; self.ndim()];
        for axis in (0..self.ndim()).rev() {
            let n = self.chunks[axis].len() as u64;
            idx[axis] = linear % n;
            linear /= n;
        }
        idx
    }

    /// Linear index of the chunk at block index `idx`.
    pub fn linear_index(&self, idx: &[u64]) -> u64 {
        let mut linear = 0;
        for (axis, &i) in idx.iter().enumerate() {
            linear = linear * self.chunks[axis].len() as u64 + i;
        }
        linear
    }

    /// Shape of the chunk at block index `idx`.
    pub fn chunk_shape(&self, idx: &[u64]) -> Vec<u64> {
        idx.iter()
            .enumerate()
            .map(|(axis, &i)| self.chunks[axis][i as usize])
            .collect()
    }

    /// Position of the chunk's first element in the whole array.
    pub fn chunk_offset(&self, idx: &[u64]) -> Vec<u64> {
        idx.iter()
            .enumerate()
            .map(|(axis, &i)| self.starts[axis][i as usize])
            .collect()
    }

    /// The chunk along `axis` that holds position `pos` (which must be in range).
    pub fn chunk_at(&self, axis: usize, pos: u64) -> u64 {
        (self.starts[axis].partition_point(|&s| s <= pos) - 1) as u64
    }

    /// Where chunk `chunk` starts along `axis`.
    pub fn chunk_start(&self, axis: usize, chunk: u64) -> u64 {
        self.starts[axis][chunk as usize]
    }

    /// The grid after reducing each chunk over `axes` with keepdims: every chunk along a
    /// reduced axis becomes size 1.
    pub fn reduced_per_chunk(&self, axes: &[usize]) -> ChunkGrid {
        let chunks = self
            .chunks
            .iter()
            .enumerate()
            .map(|(axis, sizes)| {
                if axes.contains(&axis) {
                    vec![1; sizes.len()]
                } else {
                    sizes.clone()
                }
            })
            .collect();
        ChunkGrid::new(chunks).expect("reducing chunks keeps a grid valid")
    }

    /// The grid after one tree-reduction step that combines groups of `split_every`
    /// chunks along `axes` into one chunk of size 1.
    pub fn combined(&self, axes: &[usize], split_every: u64) -> ChunkGrid {
        let chunks = self
            .chunks
            .iter()
            .enumerate()
            .map(|(axis, sizes)| {
                if axes.contains(&axis) {
                    vec![1; (sizes.len() as u64).div_ceil(split_every) as usize]
                } else {
                    sizes.clone()
                }
            })
            .collect();
        ChunkGrid::new(chunks).expect("combining chunks keeps a grid valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_grid_has_a_smaller_last_chunk() {
        let g = ChunkGrid::regular(&[10, 7], &[4, 7]).unwrap();
        assert_eq!(g.chunks(), &[vec![4, 4, 2], vec![7]]);
        assert_eq!(g.shape(), vec![10, 7]);
        assert_eq!(g.num_chunks(), 3);
        assert_eq!(g.chunk_offset(&[2, 0]), vec![8, 0]);
        assert_eq!(g.chunk_shape(&[2, 0]), vec![2, 7]);
    }

    #[test]
    fn block_and_linear_indices_round_trip() {
        let g = ChunkGrid::regular(&[6, 6, 6], &[2, 3, 6]).unwrap();
        for linear in 0..g.num_chunks() {
            assert_eq!(g.linear_index(&g.block_index(linear)), linear);
        }
        assert_eq!(g.block_index(5), vec![2, 1, 0]);
    }

    #[test]
    fn empty_chunks_are_refused() {
        let err = ChunkGrid::new(vec![vec![2, 0, 2]]).unwrap_err();
        assert!(err.to_string().contains("empty chunk"), "{err}");
        assert!(ChunkGrid::new(vec![vec![0]]).is_ok());
    }

    #[test]
    fn combining_reduces_block_counts() {
        let g = ChunkGrid::regular(&[10, 10], &[1, 1]).unwrap();
        let c = g.combined(&[1], 4);
        assert_eq!(c.numblocks(), vec![10, 3]);
        assert_eq!(c.shape(), vec![10, 3]);
    }
}
