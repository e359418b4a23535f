//! Layers that move elements without computing them: [`Rearrange`] (transposes, slices
//! with steps, rechunks, concatenations, new axes), [`Reshape`], [`Compress`] (boolean
//! masks) and [`Literal`] (an array given as data), and which input chunks each output
//! chunk is cut from.
//!
//! The piece lists are pure functions of the layer and the grids, so the graph's
//! expansion ([`crate::Graph::inputs_of`]) and the worker's copy kernel use the same
//! ones.

use crate::ChunkGrid;
use crate::LayerId;
use std::sync::Arc;

/// Where the elements along one output axis come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisMap {
    /// The axis of the (concatenated) input it reads; `None`: a new axis of length 1.
    pub source: Option<u32>,
    /// Position along the source axis of the output's element 0.
    pub start: u64,
    /// Source positions between consecutive output elements (negative: reversed).
    pub step: i64,
}

impl AxisMap {
    /// Output axis reading source axis `axis` as is.
    pub fn identity(axis: u32) -> Self {
        Self {
            source: Some(axis),
            start: 0,
            step: 1,
        }
    }

    /// A new output axis of length 1, reading no input axis.
    pub fn new_axis() -> Self {
        Self {
            source: None,
            start: 0,
            step: 0,
        }
    }
}

/// Elements of `inputs` (concatenated along `concat_axis`) moved into a new chunk grid:
/// output element `o` reads, along each output axis `k`, position
/// `axes[k].start + o[k] * axes[k].step` of the source axis `axes[k].source`, and along
/// each input axis no output axis reads, the position `fixed` gives it (an integer
/// index, which drops the axis).
#[derive(Clone, Debug, PartialEq)]
pub struct Rearrange {
    pub inputs: Vec<LayerId>,
    pub concat_axis: u32,
    pub axes: Vec<AxisMap>,
    /// `(input axis, position)` for each input axis that no output axis reads.
    pub fixed: Vec<(u32, u64)>,
    pub grid: ChunkGrid,
}

/// The input's elements in C order, in another shape: chunk `i` of `grid` holds chunk
/// `i` of the input (the client rechunks first so that this is the true reshape).
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    pub input: LayerId,
    pub grid: ChunkGrid,
}

/// The elements of `data` where `mask` (of the same grid) is not 0, in C order within
/// each chunk and chunk after chunk (NumPy's `x[mask]`): output chunk `i` holds those
/// of input chunk `sources[i]`, so `grid` (one axis) gives each chunk's count.
#[derive(Clone, Debug, PartialEq)]
pub struct Compress {
    pub data: LayerId,
    pub mask: LayerId,
    pub sources: Vec<u64>,
    pub grid: ChunkGrid,
}

impl Compress {
    pub fn validate(&self, data: &ChunkGrid, mask: &ChunkGrid) -> Result<(), String> {
        if data != mask {
            return Err(format!(
                "masks data of shape {:?} and chunks {:?} with a mask of shape {:?} and \
                 chunks {:?}",
                data.shape(),
                data.chunks(),
                mask.shape(),
                mask.chunks()
            ));
        }
        if self.grid.ndim() != 1 {
            return Err("has a result of more than one axis".into());
        }
        let empty = self.grid.chunks()[0] == [0];
        let n = if empty {
            0
        } else {
            self.grid.chunks()[0].len()
        };
        if self.sources.len() != n {
            return Err(format!(
                "has {} chunks but {} source chunks",
                n,
                self.sources.len()
            ));
        }
        if self.sources.windows(2).any(|w| w[0] >= w[1])
            || self.sources.iter().any(|&c| c >= data.num_chunks())
        {
            return Err("has source chunks out of order or out of range".into());
        }
        Ok(())
    }
}

/// An array given as data: all its values in C order, cut into the chunks of `grid`.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub grid: ChunkGrid,
    pub values: LiteralValues,
}

/// The values of a literal array in C order: floats, or integers (exact int64; what
/// kernels hold integer and bool arrays as).
#[derive(Clone, Debug, PartialEq)]
pub enum LiteralValues {
    F64(Arc<[f64]>),
    I64(Arc<[i64]>),
}

impl LiteralValues {
    pub fn len(&self) -> usize {
        match self {
            LiteralValues::F64(v) => v.len(),
            LiteralValues::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One stretch of an output axis read from one input chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First output element, relative to the output chunk.
    pub out_start: u64,
    pub len: u64,
    /// Its position in the input chunk along the source axis (0 for a new axis).
    pub in_start: u64,
    /// Step along the source axis (0 for a new axis).
    pub step: i64,
}

/// The part of an output chunk cut from one input chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// Index into [`Rearrange::inputs`].
    pub slot: usize,
    /// The input chunk's block index in its layer's grid.
    pub block: Vec<u64>,
    /// One per output axis.
    pub segments: Vec<Segment>,
    /// `(input axis, position in the input chunk)` for each fixed axis.
    pub fixed: Vec<(usize, u64)>,
}

impl Rearrange {
    /// Checks the layer against its inputs' grids; Err says what is wrong.
    pub fn validate(&self, input_grids: &[&ChunkGrid]) -> Result<(), String> {
        let Some(first) = input_grids.first() else {
            return Err("rearranges no input".into());
        };
        let ndim = first.ndim();
        let concat = self.concat_axis as usize;
        if ndim > 0 && concat >= ndim {
            return Err(format!(
                "concatenates along axis {concat} of {ndim}-dimensional inputs"
            ));
        }
        if ndim == 0 && input_grids.len() > 1 {
            return Err("concatenates zero-dimensional inputs".into());
        }
        let shape = first.shape();
        for (slot, g) in input_grids.iter().enumerate() {
            let s = g.shape();
            let same = s.len() == ndim
                && s.iter()
                    .zip(&shape)
                    .enumerate()
                    .all(|(a, (x, y))| a == concat || x == y);
            if !same {
                return Err(format!(
                    "input {slot} has shape {s:?}, which cannot be concatenated with shape \
                     {shape:?} along axis {concat}"
                ));
            }
        }
        if self.axes.len() != self.grid.ndim() {
            return Err(format!(
                "maps {} axes onto a {}-dimensional grid",
                self.axes.len(),
                self.grid.ndim()
            ));
        }
        let v_shape = self.virtual_shape(input_grids);
        let mut seen = vec![false; ndim];
        let out_shape = self.grid.shape();
        for (k, m) in self.axes.iter().enumerate() {
            let len = out_shape[k];
            let Some(a) = m.source else {
                // Length 0 when an empty slice of a new axis.
                if len > 1 {
                    return Err(format!("new axis {k} has length {len}, not 1"));
                }
                continue;
            };
            let a = a as usize;
            if a >= ndim || seen[a] {
                return Err(format!(
                    "output axis {k} reads axis {a}, which is out of range or read twice"
                ));
            }
            seen[a] = true;
            if len == 0 {
                continue;
            }
            if m.step == 0 {
                return Err(format!("output axis {k} has step 0"));
            }
            let last = m.start as i128 + (len as i128 - 1) * m.step as i128;
            let n = v_shape[a] as i128;
            if (m.start as i128) >= n || last < 0 || last >= n {
                return Err(format!(
                    "output axis {k} reads positions {}..={last} of an axis of length {n}",
                    m.start
                ));
            }
        }
        for &(a, pos) in &self.fixed {
            let a = a as usize;
            if a >= ndim || seen[a] {
                return Err(format!(
                    "fixes axis {a}, which is out of range, read or fixed twice"
                ));
            }
            seen[a] = true;
            if pos >= v_shape[a] {
                return Err(format!(
                    "fixes axis {a} at position {pos}, but its length is {}",
                    v_shape[a]
                ));
            }
        }
        if let Some(a) = seen.iter().position(|s| !s) {
            return Err(format!("neither reads nor fixes input axis {a}"));
        }
        Ok(())
    }

    /// Shape of the concatenated input.
    fn virtual_shape(&self, input_grids: &[&ChunkGrid]) -> Vec<u64> {
        let mut shape = input_grids[0].shape();
        if !shape.is_empty() {
            let c = self.concat_axis as usize;
            shape[c] = input_grids.iter().map(|g| g.axis_len(c)).sum();
        }
        shape
    }

    /// Where each input starts along the concatenation axis.
    fn offsets(&self, input_grids: &[&ChunkGrid]) -> Vec<u64> {
        let c = self.concat_axis as usize;
        let mut at = 0;
        input_grids
            .iter()
            .map(|g| {
                let o = at;
                at += if c < g.ndim() { g.axis_len(c) } else { 0 };
                o
            })
            .collect()
    }

    /// The pieces output chunk `out_block` is made of, input by input, each input's
    /// chunks in C order. `input_grids` are the grids of [`Rearrange::inputs`].
    pub fn pieces(&self, input_grids: &[&ChunkGrid], out_block: &[u64]) -> Vec<Piece> {
        let offsets = self.offsets(input_grids);
        let out_start = self.grid.chunk_offset(out_block);
        let out_shape = self.grid.chunk_shape(out_block);
        let mut pieces = Vec::new();
        for (slot, grid) in input_grids.iter().enumerate() {
            // Per output axis: (input block coordinate, segment) choices.
            let mut choices: Vec<Vec<(u64, Segment)>> = Vec::with_capacity(self.axes.len());
            for (k, m) in self.axes.iter().enumerate() {
                let (o0, o1) = (out_start[k], out_start[k] + out_shape[k]);
                let Some(a) = m.source else {
                    let empty = o0 == o1;
                    choices.push(if empty {
                        vec![]
                    } else {
                        vec![(0, new_axis_segment())]
                    });
                    continue;
                };
                let a = a as usize;
                let shift = if a == self.concat_axis as usize {
                    offsets[slot]
                } else {
                    0
                };
                choices.push(axis_segments(m, o0, o1, grid, a, shift));
            }
            // Fixed axes: the chunk holding the position, or no piece from this input.
            let mut base = vec![0; grid.ndim()];
            let mut fixed = Vec::with_capacity(self.fixed.len());
            let mut holds = true;
            for &(a, pos) in &self.fixed {
                let a = a as usize;
                let shift = if a == self.concat_axis as usize {
                    offsets[slot]
                } else {
                    0
                };
                if pos < shift || pos >= shift + grid.axis_len(a) {
                    holds = false;
                    break;
                }
                let c = grid.chunk_at(a, pos - shift);
                base[a] = c;
                fixed.push((a, pos - shift - grid.chunk_start(a, c)));
            }
            if !holds {
                continue;
            }
            let source_of: Vec<Option<usize>> = self
                .axes
                .iter()
                .map(|m| m.source.map(|a| a as usize))
                .collect();
            for_each_choice(&choices, |picked| {
                let mut block = base.clone();
                for (k, (b, _)) in picked.iter().enumerate() {
                    if let Some(a) = source_of[k] {
                        block[a] = *b;
                    }
                }
                pieces.push(Piece {
                    slot,
                    block,
                    segments: picked.iter().map(|(_, s)| *s).collect(),
                    fixed: fixed.clone(),
                });
            });
        }
        pieces
    }

    /// Block indices of the output chunks that read input `slot`'s chunk `in_block`.
    pub fn readers(
        &self,
        input_grids: &[&ChunkGrid],
        slot: usize,
        in_block: &[u64],
    ) -> Vec<Vec<u64>> {
        let offsets = self.offsets(input_grids);
        let grid = input_grids[slot];
        let in_start = grid.chunk_offset(in_block);
        let in_shape = grid.chunk_shape(in_block);
        let out_shape = self.grid.shape();
        for &(a, pos) in &self.fixed {
            let a = a as usize;
            let shift = if a == self.concat_axis as usize {
                offsets[slot]
            } else {
                0
            };
            let v0 = in_start[a] + shift;
            if pos < v0 || pos >= v0 + in_shape[a] {
                return Vec::new();
            }
        }
        let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(self.axes.len());
        for (k, m) in self.axes.iter().enumerate() {
            let nb = self.grid.chunks()[k].len() as u64;
            let Some(a) = m.source else {
                ranges.push((0, nb));
                continue;
            };
            let a = a as usize;
            let shift = if a == self.concat_axis as usize {
                offsets[slot]
            } else {
                0
            };
            let v0 = in_start[a] + shift;
            let (lo, hi) = outputs_reading(m, 0, out_shape[k], v0, v0 + in_shape[a]);
            if lo >= hi {
                return Vec::new();
            }
            let first = self.grid.chunk_at(k, lo);
            let last = self.grid.chunk_at(k, hi - 1);
            ranges.push((first, last + 1));
        }
        let choices: Vec<Vec<(u64, ())>> = ranges
            .iter()
            .map(|&(a, b)| (a..b).map(|i| (i, ())).collect())
            .collect();
        let mut out = Vec::new();
        for_each_choice(&choices, |picked| {
            out.push(picked.iter().map(|(b, _)| *b).collect());
        });
        out
    }
}

/// The chunks of a slice `start, start + step, ...` (`len` positions) of an axis cut
/// into `chunks`: each input chunk the slice passes through gives one output chunk of
/// the positions it holds (dask's rule), in the slice's order.
pub fn sliced_chunks(chunks: &[u64], start: u64, step: i64, len: u64) -> Vec<u64> {
    if len == 0 {
        return vec![0];
    }
    let m = AxisMap {
        source: Some(0),
        start,
        step,
    };
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes: Vec<(u64, u64)> = chunks
        .iter()
        .map(|&c| {
            let r = (at, at + c);
            at += c;
            r
        })
        .collect();
    if step < 0 {
        sizes.reverse();
    }
    for (c0, c1) in sizes {
        let (lo, hi) = outputs_reading(&m, 0, len, c0, c1);
        if hi > lo {
            out.push(hi - lo);
        }
    }
    out
}

fn new_axis_segment() -> Segment {
    Segment {
        out_start: 0,
        len: 1,
        in_start: 0,
        step: 0,
    }
}

/// The output positions in `o0..o1` whose source position lies in `v0..v1`, as a range.
fn outputs_reading(m: &AxisMap, o0: u64, o1: u64, v0: u64, v1: u64) -> (u64, u64) {
    let (start, step) = (m.start as i128, m.step as i128);
    let (o0, o1, v0, v1) = (o0 as i128, o1 as i128, v0 as i128, v1 as i128);
    // p(o) = start + o * step; find o with v0 <= p(o) < v1.
    let (lo, hi) = if step > 0 {
        (ceil_div(v0 - start, step), ceil_div(v1 - start, step))
    } else {
        let s = -step;
        // p(o) < v1  <=>  o > (start - v1) / s;  p(o) >= v0  <=>  o <= (start - v0) / s.
        (
            (start - v1).div_euclid(s) + 1,
            (start - v0).div_euclid(s) + 1,
        )
    };
    let lo = lo.max(o0);
    let hi = hi.min(o1);
    if lo >= hi {
        (0, 0)
    } else {
        (lo as u64, hi as u64)
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

/// The input chunks (along source axis `a` of `grid`, shifted by `shift` in the
/// concatenation) that output positions `o0..o1` read, with their segments.
fn axis_segments(
    m: &AxisMap,
    o0: u64,
    o1: u64,
    grid: &ChunkGrid,
    a: usize,
    shift: u64,
) -> Vec<(u64, Segment)> {
    let mut out = Vec::new();
    if o0 >= o1 {
        return out;
    }
    let p = |o: u64| (m.start as i128 + o as i128 * m.step as i128) as u64;
    let (pa, pb) = (p(o0), p(o1 - 1));
    let (pmin, pmax) = (pa.min(pb), pa.max(pb));
    let len = grid.axis_len(a);
    // Positions of this input: shift..shift + len.
    if pmax < shift || pmin >= shift + len {
        return out;
    }
    let first = grid.chunk_at(a, pmin.max(shift) - shift);
    let last = grid.chunk_at(a, pmax.min(shift + len - 1) - shift);
    for c in first..=last {
        let c0 = grid.chunk_start(a, c) + shift;
        let c1 = c0 + grid.chunks()[a][c as usize];
        let (lo, hi) = outputs_reading(m, o0, o1, c0, c1);
        if lo < hi {
            out.push((
                c,
                Segment {
                    out_start: lo - o0,
                    len: hi - lo,
                    in_start: p(lo) - c0,
                    step: m.step,
                },
            ));
        }
    }
    out
}

/// Calls `f` with every combination of one choice per axis, in C order.
fn for_each_choice<T: Copy>(choices: &[Vec<(u64, T)>], mut f: impl FnMut(&[(u64, T)])) {
    if choices.iter().any(|c| c.is_empty()) {
        return;
    }
    let mut at = vec![0usize; choices.len()];
    let mut picked: Vec<(u64, T)> = choices.iter().map(|c| c[0]).collect();
    loop {
        f(&picked);
        let mut k = choices.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            at[k] += 1;
            if at[k] < choices[k].len() {
                picked[k] = choices[k][at[k]];
                break;
            }
            at[k] = 0;
            picked[k] = choices[k][0];
        }
    }
}

impl Reshape {
    pub fn validate(&self, input: &ChunkGrid) -> Result<(), String> {
        if input.num_elements() != self.grid.num_elements() {
            return Err(format!(
                "reshapes {} elements (shape {:?}) into shape {:?}",
                input.num_elements(),
                input.shape(),
                self.grid.shape()
            ));
        }
        if input.num_chunks() != self.grid.num_chunks() {
            return Err(format!(
                "has {} chunks, but its input has {}: the reshape needs a rechunk first",
                self.grid.num_chunks(),
                input.num_chunks()
            ));
        }
        for i in 0..input.num_chunks() {
            let a: u64 = input.chunk_shape(&input.block_index(i)).iter().product();
            let b: u64 = self
                .grid
                .chunk_shape(&self.grid.block_index(i))
                .iter()
                .product();
            if a != b {
                return Err(format!(
                    "chunk {i} holds {b} elements, but the input's chunk {i} holds {a}"
                ));
            }
        }
        Ok(())
    }
}

impl Literal {
    pub fn validate(&self) -> Result<(), String> {
        let n = self.grid.num_elements();
        if self.values.len() as u64 != n {
            return Err(format!(
                "holds {} values for an array of shape {:?} ({n} elements)",
                self.values.len(),
                self.grid.shape()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(chunks: &[&[u64]]) -> ChunkGrid {
        ChunkGrid::new(chunks.iter().map(|c| c.to_vec()).collect()).unwrap()
    }

    /// Applies a rearrange to dense inputs by following its pieces.
    fn apply(r: &Rearrange, inputs: &[(&ChunkGrid, Vec<f64>)]) -> Vec<f64> {
        let grids: Vec<&ChunkGrid> = inputs.iter().map(|(g, _)| *g).collect();
        let shape = r.grid.shape();
        let n: u64 = shape.iter().product();
        let mut out = vec![f64::NAN; n as usize];
        for c in 0..r.grid.num_chunks() {
            let ob = r.grid.block_index(c);
            let o_off = r.grid.chunk_offset(&ob);
            for p in r.pieces(&grids, &ob) {
                let g = grids[p.slot];
                let i_off = g.chunk_offset(&p.block);
                let in_shape = g.shape();
                let lens: Vec<u64> = p.segments.iter().map(|s| s.len).collect();
                let mut fixed_idx = vec![0u64; in_shape.len()];
                for &(a, pos) in &p.fixed {
                    fixed_idx[a] = i_off[a] + pos;
                }
                let total: u64 = lens.iter().product();
                for e in 0..total {
                    let mut rem = e;
                    let mut o_idx = vec![0u64; shape.len()];
                    let mut i_idx = fixed_idx.clone();
                    for k in (0..shape.len()).rev() {
                        let t = rem % lens[k];
                        rem /= lens[k];
                        let s = p.segments[k];
                        o_idx[k] = o_off[k] + s.out_start + t;
                        if let Some(a) = r.axes[k].source {
                            let a = a as usize;
                            i_idx[a] =
                                (i_off[a] as i64 + s.in_start as i64 + t as i64 * s.step) as u64;
                        }
                    }
                    let flat = |idx: &[u64], sh: &[u64]| {
                        idx.iter().zip(sh).fold(0u64, |f, (i, n)| f * n + i)
                    };
                    out[flat(&o_idx, &shape) as usize] =
                        inputs[p.slot].1[flat(&i_idx, &in_shape) as usize];
                }
            }
        }
        out
    }

    #[test]
    fn a_reversed_strided_slice_reads_the_right_chunks() {
        // x[::-3] of 0..10 with chunks [4, 4, 2], output chunks [2, 2].
        let g = grid(&[&[4, 4, 2]]);
        let r = Rearrange {
            inputs: vec![0],
            concat_axis: 0,
            axes: vec![AxisMap {
                source: Some(0),
                start: 9,
                step: -3,
            }],
            fixed: vec![],
            grid: grid(&[&[2, 2]]),
        };
        r.validate(&[&g]).unwrap();
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(apply(&r, &[(&g, x)]), vec![9.0, 6.0, 3.0, 0.0]);
        // Chunk 0 holds 9 and 6: input chunks 2 and 1.
        let blocks: Vec<u64> = r.pieces(&[&g], &[0]).iter().map(|p| p.block[0]).collect();
        assert_eq!(blocks, vec![1, 2]);
        assert_eq!(r.readers(&[&g], 0, &[0]), vec![vec![1]]);
        assert_eq!(r.readers(&[&g], 0, &[1]), vec![vec![0]]);
        assert_eq!(r.readers(&[&g], 0, &[2]), vec![vec![0]]);
    }

    #[test]
    fn transpose_of_a_concatenation_with_a_new_axis() {
        // concatenate([a (2x3), b (1x3)], axis=0).T with a new leading axis.
        let ga = grid(&[&[1, 1], &[2, 1]]);
        let gb = grid(&[&[1], &[3]]);
        let r = Rearrange {
            inputs: vec![0, 1],
            concat_axis: 0,
            axes: vec![
                AxisMap::new_axis(),
                AxisMap::identity(1),
                AxisMap::identity(0),
            ],
            fixed: vec![],
            grid: grid(&[&[1], &[3], &[2, 1]]),
        };
        r.validate(&[&ga, &gb]).unwrap();
        let a = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let b = vec![6.0, 7.0, 8.0];
        assert_eq!(
            apply(&r, &[(&ga, a), (&gb, b)]),
            vec![0.0, 3.0, 6.0, 1.0, 4.0, 7.0, 2.0, 5.0, 8.0]
        );
        // Every reader of every input chunk lists that chunk among its pieces.
        for (slot, g) in [&ga, &gb].iter().enumerate() {
            for c in 0..g.num_chunks() {
                let b = g.block_index(c);
                for reader in r.readers(&[&ga, &gb], slot, &b) {
                    let pieces = r.pieces(&[&ga, &gb], &reader);
                    assert!(pieces.iter().any(|p| p.slot == slot && p.block == b));
                }
            }
        }
    }

    #[test]
    fn an_integer_index_fixes_an_axis_of_the_concatenation() {
        // concatenate([a (2x2), b (3x2)])[3, ::-1] = b[1, ::-1].
        let ga = grid(&[&[2], &[1, 1]]);
        let gb = grid(&[&[1, 2], &[2]]);
        let r = Rearrange {
            inputs: vec![0, 1],
            concat_axis: 0,
            axes: vec![AxisMap {
                source: Some(1),
                start: 1,
                step: -1,
            }],
            fixed: vec![(0, 3)],
            grid: grid(&[&[2]]),
        };
        r.validate(&[&ga, &gb]).unwrap();
        let a = vec![0.0, 1.0, 2.0, 3.0];
        let b = vec![4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        assert_eq!(apply(&r, &[(&ga, a), (&gb, b)]), vec![7.0, 6.0]);
        assert!(r.readers(&[&ga, &gb], 0, &[0, 0]).is_empty());
        assert_eq!(r.readers(&[&ga, &gb], 1, &[1, 0]), vec![vec![0]]);
        assert!(r.readers(&[&ga, &gb], 1, &[0, 0]).is_empty());
    }

    #[test]
    fn slices_keep_the_chunk_boundaries_they_cross() {
        assert_eq!(sliced_chunks(&[4, 4, 2], 1, 1, 8), vec![3, 4, 1]);
        assert_eq!(sliced_chunks(&[4, 4, 2], 9, -3, 4), vec![1, 1, 2]);
        assert_eq!(sliced_chunks(&[4, 4, 2], 0, 5, 2), vec![1, 1]);
        assert_eq!(sliced_chunks(&[4, 4, 2], 0, 1, 0), vec![0]);
    }

    #[test]
    fn bad_maps_are_refused() {
        let g = grid(&[&[5]]);
        let r = |start, step, len: u64| Rearrange {
            inputs: vec![0],
            concat_axis: 0,
            axes: vec![AxisMap {
                source: Some(0),
                start,
                step,
            }],
            fixed: vec![],
            grid: grid(&[&[len]]),
        };
        assert!(r(0, 1, 5).validate(&[&g]).is_ok());
        assert!(r(0, 1, 6).validate(&[&g]).unwrap_err().contains("length 5"));
        assert!(r(4, -2, 3).validate(&[&g]).is_ok());
        assert!(r(4, -2, 4).validate(&[&g]).is_err());
        assert!(r(0, 0, 2).validate(&[&g]).unwrap_err().contains("step 0"));
    }
}
