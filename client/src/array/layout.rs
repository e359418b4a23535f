//! Operations that move elements instead of computing them: transposes, basic
//! indexing, rechunks, concatenation, stacking, reshapes and arrays given as data; and
//! the two that are not elementwise: matrix products and histograms.
//!
//! Every movement is one [`kaon_graph::Rearrange`] layer, and a movement of a movement
//! fuses into one (`x[::2].T.rechunk(...)` copies each element once).

use super::{Array, ArrayError, Node, py_shape};
use kaon_graph::dtype::{promote, sum_of};
use kaon_graph::{AxisMap, ChunkGrid, DType, LiteralValues, ReduceOp, sliced_chunks};

/// One item of a NumPy basic index, normalized against the axis it applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    /// A position (already non-negative); drops the axis.
    Int(u64),
    /// `len` positions `start, start + step, ...` (Python's `slice.indices`).
    Slice { start: u64, step: i64, len: u64 },
    /// A new axis of length 1 (`None` / `np.newaxis`).
    NewAxis,
}

/// One output axis of a movement, in the input's logical axes.
struct OutAxis {
    source: Option<usize>,
    start: u64,
    step: i64,
    chunks: Vec<u64>,
}

impl OutAxis {
    fn identity(axis: usize, chunks: Vec<u64>) -> Self {
        Self {
            source: Some(axis),
            start: 0,
            step: 1,
            chunks,
        }
    }

    fn new_axis() -> Self {
        Self {
            source: None,
            start: 0,
            step: 0,
            chunks: vec![1],
        }
    }
}

fn index_error(m: String) -> ArrayError {
    ArrayError::Index(m)
}

impl Array {
    /// `inputs` (of one dtype, concatenated along logical axis `concat`) moved as `outs`
    /// say, with input axes `fixed` at one position each.
    fn moved(
        inputs: &[&Array],
        concat: usize,
        outs: Vec<OutAxis>,
        fixed: Vec<(usize, u64)>,
        name: &'static str,
    ) -> Result<Array, ArrayError> {
        let grid = ChunkGrid::new(outs.iter().map(|o| o.chunks.clone()).collect())?;
        let shape = grid.shape();
        let map = |o: &OutAxis, data: &[usize], len: u64| match o.source {
            Some(a) if len > 0 => AxisMap {
                source: Some(data[a] as u32),
                start: o.start,
                step: o.step,
            },
            Some(a) => AxisMap::identity(data[a] as u32),
            None => AxisMap::new_axis(),
        };
        let dtype = inputs[0].dtype;
        if inputs.len() == 1 {
            let x = inputs[0];
            let data = x.logical_to_data_axes();
            let axes: Vec<AxisMap> = outs
                .iter()
                .zip(&shape)
                .map(|(o, &len)| map(o, &data, len))
                .collect();
            let mut fixed: Vec<(u32, u64)> =
                fixed.iter().map(|&(a, p)| (data[a] as u32, p)).collect();
            fixed.extend(x.dropped_axes().iter().map(|&a| (a as u32, 0)));
            let node = match &*x.node {
                Node::Rearrange {
                    inputs,
                    concat_axis,
                    axes: inner,
                    fixed: inner_fixed,
                    ..
                } => compose(
                    inputs,
                    *concat_axis,
                    inner,
                    inner_fixed,
                    &axes,
                    &fixed,
                    &shape,
                    name,
                ),
                _ => Node::Rearrange {
                    inputs: vec![x.clone()],
                    concat_axis: 0,
                    axes,
                    fixed,
                    name,
                },
            };
            return Ok(Array::typed(node, grid, shape, dtype));
        }
        let dense: Vec<Array> = inputs.iter().map(|x| x.dense()).collect::<Result<_, _>>()?;
        let identity: Vec<usize> = (0..dense[0].ndim()).collect();
        let axes = outs
            .iter()
            .zip(&shape)
            .map(|(o, &len)| map(o, &identity, len))
            .collect();
        let node = Node::Rearrange {
            inputs: dense,
            concat_axis: concat as u32,
            axes,
            fixed: fixed.iter().map(|&(a, p)| (a as u32, p)).collect(),
            name,
        };
        Ok(Array::typed(node, grid, shape, dtype))
    }

    /// The array with its data in the shape users see (no axes kept from reductions).
    fn dense(&self) -> Result<Array, ArrayError> {
        if self.grid.ndim() == self.ndim() {
            return Ok(self.clone());
        }
        let outs = self
            .logical_chunks()
            .into_iter()
            .enumerate()
            .map(|(a, c)| OutAxis::identity(a, c))
            .collect();
        Array::moved(&[self], 0, outs, vec![], "rechunk")
    }

    /// The axes permuted (None: reversed), NumPy's `transpose`.
    pub fn transpose(&self, axes: Option<&[i64]>) -> Result<Array, ArrayError> {
        let n = self.ndim();
        let perm: Vec<usize> = match axes {
            None => (0..n).rev().collect(),
            Some(axes) => {
                if axes.len() != n {
                    return Err(ArrayError::Broadcast("axes don't match array".into()));
                }
                let mut perm = Vec::with_capacity(n);
                for &a in axes {
                    let k = if a < 0 { a + n as i64 } else { a };
                    if k < 0 || k >= n as i64 {
                        return Err(ArrayError::AxisOutOfBounds { axis: a, ndim: n });
                    }
                    if perm.contains(&(k as usize)) {
                        return Err(ArrayError::Broadcast("repeated axis in transpose".into()));
                    }
                    perm.push(k as usize);
                }
                perm
            }
        };
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let chunks = self.logical_chunks();
        let outs = perm
            .iter()
            .map(|&a| OutAxis::identity(a, chunks[a].clone()))
            .collect();
        Array::moved(&[self], 0, outs, vec![], "transpose")
    }

    /// NumPy's basic indexing; `items` apply to the leading axes (the rest are kept
    /// whole). Chunks follow dask: a slice keeps the chunk boundaries it crosses.
    pub fn index(&self, items: &[Index]) -> Result<Array, ArrayError> {
        let shape = self.shape.clone();
        let chunks = self.logical_chunks();
        let mut outs = Vec::new();
        let mut fixed = Vec::new();
        let mut axis = 0;
        for item in items {
            if !matches!(item, Index::NewAxis) && axis >= shape.len() {
                return Err(index_error(format!(
                    "too many indices for array: array is {}-dimensional, but more were indexed",
                    shape.len()
                )));
            }
            match *item {
                Index::NewAxis => outs.push(OutAxis::new_axis()),
                Index::Int(i) => {
                    if i >= shape[axis] {
                        return Err(index_error(format!(
                            "index {i} is out of bounds for axis {axis} with size {}",
                            shape[axis]
                        )));
                    }
                    fixed.push((axis, i));
                    axis += 1;
                }
                Index::Slice { start, step, len } => {
                    let n = shape[axis] as i128;
                    let last = start as i128 + (len as i128 - 1) * step as i128;
                    if len > 0 && (step == 0 || start as i128 >= n || last < 0 || last >= n) {
                        return Err(index_error(format!(
                            "slice of {len} positions from {start} by {step} is out of bounds \
                             for axis {axis} with size {n}"
                        )));
                    }
                    outs.push(OutAxis {
                        source: Some(axis),
                        start,
                        step,
                        chunks: sliced_chunks(&chunks[axis], start, step, len),
                    });
                    axis += 1;
                }
            }
        }
        for (a, c) in chunks.iter().enumerate().skip(axis) {
            outs.push(OutAxis::identity(a, c.clone()));
        }
        Array::moved(&[self], 0, outs, fixed, "getitem")
    }

    /// The same array cut into other chunks (per-axis sizes summing to the shape).
    pub fn rechunk(&self, chunks: Vec<Vec<u64>>) -> Result<Array, ArrayError> {
        let target = ChunkGrid::new(chunks.clone())?;
        if target.shape() != self.shape {
            return Err(ArrayError::Broadcast(format!(
                "chunks {chunks:?} do not add up to the shape {}",
                py_shape(&self.shape)
            )));
        }
        if chunks == self.logical_chunks() {
            return self.dense();
        }
        let outs = chunks
            .into_iter()
            .enumerate()
            .map(|(a, c)| OutAxis::identity(a, c))
            .collect();
        Array::moved(&[self], 0, outs, vec![], "rechunk")
    }

    /// NumPy's `concatenate` along `axis`, in the promoted dtype.
    pub fn concatenate(arrays: &[&Array], axis: i64) -> Result<Array, ArrayError> {
        let Some(first) = arrays.first() else {
            return Err(ArrayError::Broadcast(
                "need at least one array to concatenate".into(),
            ));
        };
        let n = first.ndim();
        if n == 0 {
            return Err(ArrayError::Broadcast(
                "zero-dimensional arrays cannot be concatenated".into(),
            ));
        }
        let ax = normalize_axis(axis, n)?;
        let mut dtype = first.dtype;
        for (i, a) in arrays.iter().enumerate() {
            if a.ndim() != n {
                return Err(ArrayError::Broadcast(format!(
                    "all the input array dimensions except for the concatenation axis must \
                     match exactly, but the array at index 0 has {n} dimension(s) and the \
                     array at index {i} has {} dimension(s)",
                    a.ndim()
                )));
            }
            for d in (0..n).filter(|&d| d != ax) {
                if a.shape[d] != first.shape[d] {
                    return Err(ArrayError::Broadcast(format!(
                        "all the input array dimensions except for the concatenation axis \
                         must match exactly, but along dimension {d}, the array at index 0 \
                         has size {} and the array at index {i} has size {} (shapes {} and {})",
                        first.shape[d],
                        a.shape[d],
                        py_shape(&first.shape),
                        py_shape(&a.shape)
                    )));
                }
            }
            dtype = promote(dtype, a.dtype);
        }
        let typed: Vec<Array> = arrays
            .iter()
            .map(|a| a.astype(dtype))
            .collect::<Result<_, _>>()?;
        if typed.len() == 1 {
            return Ok(typed[0].clone());
        }
        let chunks = first.logical_chunks();
        let mut along: Vec<u64> = typed
            .iter()
            .flat_map(|a| a.logical_chunks()[ax].clone())
            .filter(|&c| c > 0)
            .collect();
        if along.is_empty() {
            along.push(0);
        }
        let outs = (0..n)
            .map(|a| {
                OutAxis::identity(
                    a,
                    if a == ax {
                        along.clone()
                    } else {
                        chunks[a].clone()
                    },
                )
            })
            .collect();
        let refs: Vec<&Array> = typed.iter().collect();
        Array::moved(&refs, ax, outs, vec![], "concatenate")
    }

    /// NumPy's `stack`: the arrays (of one shape) along a new axis.
    pub fn stack(arrays: &[&Array], axis: i64) -> Result<Array, ArrayError> {
        let Some(first) = arrays.first() else {
            return Err(ArrayError::Broadcast(
                "need at least one array to stack".into(),
            ));
        };
        for a in arrays {
            if a.shape != first.shape {
                return Err(ArrayError::Broadcast(format!(
                    "all input arrays must have the same shape, not {} and {}",
                    py_shape(&first.shape),
                    py_shape(&a.shape)
                )));
            }
        }
        let ax = normalize_axis(axis, first.ndim() + 1)?;
        let mut items: Vec<Index> = (0..ax)
            .map(|a| Index::Slice {
                start: 0,
                step: 1,
                len: first.shape[a],
            })
            .collect();
        items.push(Index::NewAxis);
        let expanded: Vec<Array> = arrays
            .iter()
            .map(|a| a.index(&items))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&Array> = expanded.iter().collect();
        Array::concatenate(&refs, ax as i64)
    }

    /// NumPy's `reshape` (one length may be -1). The array is rechunked first where
    /// its chunks do not map onto chunks of the new shape (as dask does).
    pub fn reshape(&self, shape: &[i64]) -> Result<Array, ArrayError> {
        let total = self.size();
        let new = infer_shape(shape, total)?;
        if new == self.shape {
            return Ok(self.clone());
        }
        let (need, out) = reshape_chunks(&self.shape, &self.logical_chunks(), &new);
        let input = self.rechunk(need)?;
        let grid = ChunkGrid::new(out)?;
        Ok(Array::typed(
            Node::Reshape {
                input: input.clone(),
            },
            grid,
            new,
            self.dtype,
        ))
    }

    /// An array given as data (`values` in C order, already in `dtype`'s value set:
    /// integers for integer and bool dtypes, floats for float dtypes).
    pub fn from_values(
        values: LiteralValues,
        chunks: Vec<Vec<u64>>,
        dtype: DType,
    ) -> Result<Array, ArrayError> {
        let ints = matches!(values, LiteralValues::I64(_));
        if ints == dtype.is_float() || dtype == DType::Table {
            return Err(ArrayError::Type(format!(
                "{} values cannot be an array of dtype {}",
                if ints { "integer" } else { "float" },
                dtype.name()
            )));
        }
        let grid = ChunkGrid::new(chunks)?;
        if grid.num_elements() != values.len() as u64 {
            return Err(ArrayError::Broadcast(format!(
                "{} values do not fill the shape {}",
                values.len(),
                py_shape(&grid.shape())
            )));
        }
        let shape = grid.shape();
        Ok(Array::typed(Node::Literal { values }, grid, shape, dtype))
    }

    /// The matrix product of two 2-D arrays (NumPy's `matmul` on matrices); `b` is
    /// rechunked along its first axis to `a`'s chunks along its second where they differ.
    pub fn matmul(a: &Array, b: &Array) -> Result<Array, ArrayError> {
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(ArrayError::Broadcast(format!(
                "matmul: operands of shapes {} and {} are not both 2-dimensional",
                py_shape(&a.shape),
                py_shape(&b.shape)
            )));
        }
        if a.shape[1] != b.shape[0] {
            return Err(ArrayError::Broadcast(format!(
                "matmul: shapes {} and {} not aligned: {} (dim 1) != {} (dim 0)",
                py_shape(&a.shape),
                py_shape(&b.shape),
                a.shape[1],
                b.shape[0]
            )));
        }
        let dtype = promote(a.dtype, b.dtype);
        let ad = a.dense()?;
        let inner = ad.logical_chunks()[1].clone();
        let bc = b.logical_chunks();
        let bd = b.rechunk(vec![inner, bc[1].clone()])?;
        let grid = ChunkGrid::new(vec![ad.logical_chunks()[0].clone(), bc[1].clone()])?;
        let shape = grid.shape();
        // Computed in int64 (exact, wrapping) for integer and bool operands, else in
        // float64; then in NumPy's result dtype: narrower integers wrap as NumPy's do,
        // bool is "any product is true".
        let kind = if dtype.is_float() {
            DType::F64
        } else {
            DType::I64
        };
        let product = Array::typed(Node::MatMul { a: ad, b: bd }, grid, shape, kind);
        product.astype(dtype)
    }

    /// `self` and `mask` (a boolean array of the same shape) chunked alike, and the
    /// number of elements the mask keeps in each chunk, as an array of the chunk grid's
    /// shape (compute it, then call [`Array::compress`]).
    pub fn mask_counts(&self, mask: &Array) -> Result<Array, ArrayError> {
        let (_, mask) = self.masked_pair(mask)?;
        let grid = ChunkGrid::new(
            mask.grid
                .chunks()
                .iter()
                .map(|c| vec![1; c.len()])
                .collect(),
        )?;
        let shape = grid.shape();
        Ok(Array::typed(
            Node::PerChunk {
                input: mask.astype(DType::Bool)?,
                op: ReduceOp::Sum,
            },
            grid,
            shape,
            DType::I64,
        ))
    }

    fn masked_pair(&self, mask: &Array) -> Result<(Array, Array), ArrayError> {
        if mask.shape != self.shape {
            return Err(ArrayError::Index(format!(
                "boolean index did not match indexed array: shapes {} and {}",
                py_shape(&mask.shape),
                py_shape(&self.shape)
            )));
        }
        let mut pair = super::broadcast_arrays(&[self, mask])?;
        let m = pair.pop().expect("two operands");
        let d = pair.pop().expect("two operands");
        // Flat first, so that chunk after chunk is C order (NumPy's order).
        Ok((d.reshape(&[-1])?.dense()?, m.reshape(&[-1])?.dense()?))
    }

    /// NumPy's `x[mask]`: the elements where `mask` is true, in C order, as a 1-D
    /// array; `counts` are the computed [`Array::mask_counts`] (chunks in C order).
    pub fn compress(&self, mask: &Array, counts: &[u64]) -> Result<Array, ArrayError> {
        let (data, mask) = self.masked_pair(mask)?;
        if counts.len() as u64 != data.grid.num_chunks() {
            return Err(ArrayError::Broadcast(format!(
                "{} counts for {} chunks",
                counts.len(),
                data.grid.num_chunks()
            )));
        }
        let sources: Vec<u64> = (0..counts.len() as u64)
            .filter(|&i| counts[i as usize] > 0)
            .collect();
        let mut sizes: Vec<u64> = counts.iter().copied().filter(|&c| c > 0).collect();
        if sizes.is_empty() {
            sizes.push(0);
        }
        let grid = ChunkGrid::new(vec![sizes])?;
        let shape = grid.shape();
        let dtype = data.dtype;
        let mask = mask.astype(DType::Bool)?;
        Ok(Array::typed(
            Node::Compress {
                data,
                mask,
                sources,
            },
            grid,
            shape,
            dtype,
        ))
    }

    /// The cumulative sum (or product, with [`ReduceOp::Prod`]) along `axis`, NumPy's
    /// `cumsum`/`cumprod`, in the sum dtype.
    pub fn cumulative(&self, op: ReduceOp, axis: i64) -> Result<Array, ArrayError> {
        if !matches!(op, ReduceOp::Sum | ReduceOp::Prod) {
            return Err(ArrayError::Type(format!(
                "cumulative {} is not supported",
                op.name()
            )));
        }
        let ax = normalize_axis(axis, self.ndim())?;
        let x = self.dense()?.astype(sum_of(self.dtype))?;
        let (grid, shape, dtype) = (x.grid.clone(), x.shape.clone(), x.dtype);
        Ok(Array::typed(
            Node::Scan {
                input: x,
                axis: ax,
                op,
            },
            grid,
            shape,
            dtype,
        ))
    }

    /// NumPy's `histogram(a, bins, range=(lo, hi), weights)` of all elements: a lazy
    /// array of `bins` counts (int64; the weights' sum dtype with weights).
    pub fn histogram(
        &self,
        bins: u32,
        lo: f64,
        hi: f64,
        weights: Option<&Array>,
        split_every: Option<u32>,
    ) -> Result<Array, ArrayError> {
        if bins == 0 {
            return Err(ArrayError::Broadcast("`bins` must be positive".into()));
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(ArrayError::Broadcast(format!(
                "supplied range of [{lo}, {hi}] is not finite"
            )));
        }
        if lo > hi {
            return Err(ArrayError::Broadcast(
                "max must be larger than min in range parameter.".into(),
            ));
        }
        // NumPy widens an empty range by 0.5 on each side.
        let (lo, hi) = if lo == hi {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        };
        let (input, weights, dtype) = match weights {
            None => (self.clone(), None, DType::I64),
            Some(w) => {
                if w.shape != self.shape {
                    return Err(ArrayError::Broadcast(format!(
                        "weights should have the same shape as a: {} and {}",
                        py_shape(&w.shape),
                        py_shape(&self.shape)
                    )));
                }
                let mut pair = super::broadcast_arrays(&[self, w])?;
                let w = pair.pop().expect("two operands");
                let dtype = sum_of(w.dtype);
                (pair.pop().expect("two operands"), Some(w), dtype)
            }
        };
        let split_every = split_every.unwrap_or(super::DEFAULT_SPLIT_EVERY).max(2);
        let mut chunks: Vec<Vec<u64>> = vec![vec![1]; input.grid.ndim()];
        chunks.push(vec![bins as u64]);
        let grid = ChunkGrid::new(chunks)?;
        Ok(Array::typed(
            Node::Histogram {
                input,
                weights,
                bins,
                lo,
                hi,
                split_every,
            },
            grid,
            vec![bins as u64],
            dtype,
        ))
    }
}

/// A movement of a movement, as one movement of the inner one's inputs.
#[allow(clippy::too_many_arguments)]
fn compose(
    inputs: &[Array],
    concat_axis: u32,
    inner: &[AxisMap],
    inner_fixed: &[(u32, u64)],
    outer: &[AxisMap],
    outer_fixed: &[(u32, u64)],
    shape: &[u64],
    name: &'static str,
) -> Node {
    let at = |m: &AxisMap, pos: u64| (m.start as i128 + pos as i128 * m.step as i128) as u64;
    let axes = outer
        .iter()
        .zip(shape)
        .map(|(o, &len)| match o.source {
            None => *o,
            Some(j) => {
                let m = &inner[j as usize];
                match m.source {
                    None => AxisMap::new_axis(),
                    // An empty axis: any in-range map will do.
                    Some(a) if len == 0 => AxisMap::identity(a),
                    Some(a) => AxisMap {
                        source: Some(a),
                        start: at(m, o.start),
                        step: o.step * m.step,
                    },
                }
            }
        })
        .collect();
    let mut fixed: Vec<(u32, u64)> = inner_fixed.to_vec();
    for &(j, pos) in outer_fixed {
        let m = &inner[j as usize];
        if let Some(a) = m.source {
            fixed.push((a, at(m, pos)));
        }
    }
    Node::Rearrange {
        inputs: inputs.to_vec(),
        concat_axis,
        axes,
        fixed,
        name,
    }
}

fn normalize_axis(axis: i64, ndim: usize) -> Result<usize, ArrayError> {
    let k = if axis < 0 { axis + ndim as i64 } else { axis };
    if k < 0 || k >= ndim as i64 {
        return Err(ArrayError::AxisOutOfBounds { axis, ndim });
    }
    Ok(k as usize)
}

/// The shape `shape` asks for, with a -1 length inferred (NumPy's rules and message).
fn infer_shape(shape: &[i64], total: u64) -> Result<Vec<u64>, ArrayError> {
    let bad = || {
        ArrayError::Broadcast(format!(
            "cannot reshape array of size {total} into shape {}",
            py_shape(shape)
        ))
    };
    let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
    if unknown.len() > 1 {
        return Err(ArrayError::Broadcast(
            "can only specify one unknown dimension".into(),
        ));
    }
    if shape.iter().any(|&d| d < -1) {
        return Err(ArrayError::Broadcast(format!(
            "negative dimensions not allowed in shape {}",
            py_shape(shape)
        )));
    }
    let known: u64 = shape
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as u64)
        .product();
    let mut new: Vec<u64> = shape.iter().map(|&d| d.max(0) as u64).collect();
    if let Some(&u) = unknown.first() {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(bad());
        }
        new[u] = total / known;
    }
    if new.iter().product::<u64>() != total {
        return Err(bad());
    }
    Ok(new)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The chunks an array of `shape` must have so that each chunk is, in C order, one
/// chunk of the reshaped array, and the reshaped array's chunks (dask's
/// `reshape_rechunk`): axes are matched in groups of equal products; within a group,
/// every axis but the first is one whole chunk, and the first's chunks are rounded to
/// whole rows of the other side.
pub fn reshape_chunks(
    shape: &[u64],
    chunks: &[Vec<u64>],
    new: &[u64],
) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    if shape.contains(&0) || new.contains(&0) {
        let one = |s: &[u64]| s.iter().map(|&n| vec![n]).collect();
        return (one(shape), one(new));
    }
    let mut need: Vec<Vec<u64>> = chunks.to_vec();
    let mut out: Vec<Vec<u64>> = new.iter().map(|&n| vec![n]).collect();
    let (mut i, mut o) = (0, 0);
    while i < shape.len() || o < new.len() {
        if i < shape.len() && shape[i] == 1 {
            need[i] = vec![1];
            i += 1;
            continue;
        }
        if o < new.len() && new[o] == 1 {
            o += 1;
            continue;
        }
        let (i0, o0) = (i, o);
        let (mut pi, mut po) = (shape[i], new[o]);
        i += 1;
        o += 1;
        while pi != po {
            if pi < po {
                pi *= shape[i];
                i += 1;
            } else {
                po *= new[o];
                o += 1;
            }
        }
        let in_rest: u64 = shape[i0 + 1..i].iter().product();
        let out_rest: u64 = new[o0 + 1..o].iter().product();
        let unit = out_rest / gcd(out_rest, in_rest);
        let mut first = Vec::new();
        let mut left = shape[i0];
        for &c in &chunks[i0] {
            if left == 0 {
                break;
            }
            let rounded = (c.div_ceil(unit) * unit).max(unit).min(left);
            first.push(rounded);
            left -= rounded;
        }
        if left > 0 {
            first.push(left);
        }
        for a in i0 + 1..i {
            need[a] = vec![shape[a]];
        }
        out[o0] = first.iter().map(|&c| c * in_rest / out_rest).collect();
        need[i0] = first;
    }
    (need, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_chunks_match_whole_rows() {
        // Merging: trailing axes become whole.
        let (need, out) = reshape_chunks(&[6, 4], &[vec![2, 2, 2], vec![2, 2]], &[24]);
        assert_eq!(need, vec![vec![2, 2, 2], vec![4]]);
        assert_eq!(out, vec![vec![8, 8, 8]]);
        // Splitting: chunks rounded to whole rows of 4.
        let (need, out) = reshape_chunks(&[24], &[vec![5, 5, 5, 5, 4]], &[6, 4]);
        assert_eq!(need, vec![vec![8, 8, 8]]);
        assert_eq!(out, vec![vec![2, 2, 2], vec![4]]);
        // Size-1 axes on either side.
        let (need, out) = reshape_chunks(&[3, 1, 4], &[vec![1, 2], vec![1], vec![4]], &[12, 1]);
        assert_eq!(need, vec![vec![1, 2], vec![1], vec![4]]);
        assert_eq!(out, vec![vec![4, 8], vec![1]]);
    }

    #[test]
    fn reshape_errors_print_the_shape_asked_for() {
        let err = infer_shape(&[10, -1], 24).unwrap_err().to_string();
        assert!(err.contains("into shape (10, -1)"), "{err}");
    }

    #[test]
    fn reshapes_infer_one_length() {
        assert_eq!(infer_shape(&[-1, 4], 24).unwrap(), vec![6, 4]);
        assert!(infer_shape(&[-1, 5], 24).is_err());
        assert!(infer_shape(&[-1, -1], 24).is_err());
    }
}
