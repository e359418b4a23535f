//! Lazy chunked arrays and their lowering to a fused layer graph.
//!
//! An [`Array`] is an expression over chunked arrays; nothing runs until it is
//! computed. [`lower`] turns expressions into a [`Graph`]: every chain of elementwise
//! operations, together with the per-chunk step of a reduction that consumes it,
//! becomes one [`Program`] per chunk, so no intermediate array is ever materialized.
//! Only reductions (their tree of combine steps) and outputs become layers.

use kaon_graph::{
    AxisMap, BinaryOp, Blockwise, ChunkGrid, ChunkHistogram, ChunkReduce, Compress, DType,
    Distribution, Fault, Graph, GraphError, Instr, Layer, LayerId, LayerOp, Literal, LiteralValues,
    MatMul, Program, Rearrange, ReduceOp, Reshape, Scan, Stored, UnaryOp, ValueId, dtype::Scalar,
    push_tree_reduction,
};
use std::collections::HashMap;
use std::sync::Arc;

mod layout;
mod ufunc;
pub use layout::{Index, reshape_chunks};
pub use ufunc::{Operand, UFUNCS, Ufunc};

/// Default fan-in of tree reductions (dask uses 4 for multi-axis, up to 32).
pub const DEFAULT_SPLIT_EVERY: u32 = 8;

#[derive(Debug)]
enum Node {
    Random {
        seed: u64,
    },
    Full {
        value: Scalar,
    },
    /// Each element's index along an axis.
    Iota {
        axis: u32,
    },
    Unary(UnaryOp, Array),
    Binary(BinaryOp, Array, Array),
    /// `where(cond, a, b)`.
    Select(Array, Array, Array),
    /// `input` broadcast to this array's shape and chunks: input data axis `k` is axis
    /// `axes[k]` (-1: a dropped axis of length 1).
    View {
        input: Array,
        axes: Vec<i32>,
    },
    Scalar {
        op: BinaryOp,
        array: Array,
        scalar: Scalar,
        scalar_first: bool,
    },
    Reduce {
        op: ReduceOp,
        input: Array,
        axes: Vec<usize>,
        split_every: u32,
    },
    /// `input` with some of its reduced data axes shown again, with length 1
    /// (a reduction's `keepdims`); no computation of its own.
    KeepDims {
        input: Array,
        axes: Vec<usize>,
    },
    /// A deliberate failure in every chunk (tests of error handling and recovery).
    Fault(Fault),
    /// Elements of `inputs` moved without computing ([`kaon_graph::Rearrange`]; axes
    /// are the inputs' data axes). No axes are dropped from its data.
    Rearrange {
        inputs: Vec<Array>,
        concat_axis: u32,
        axes: Vec<AxisMap>,
        fixed: Vec<(u32, u64)>,
        name: &'static str,
    },
    /// `input` (rechunked to fit) in the array's shape, chunk by chunk.
    Reshape {
        input: Array,
    },
    /// Values given as data, in C order.
    Literal {
        values: LiteralValues,
    },
    /// The kept results of an output layer of a graph the cluster already ran (a
    /// persisted array); `dropped` are the data axes the user's shape leaves out.
    Stored {
        graph: u64,
        layer: LayerId,
        dropped: Vec<usize>,
        /// Held, never read: it keeps the results alive.
        _keep: Keep,
    },
    MatMul {
        a: Array,
        b: Array,
    },
    /// `input` reduced inside each chunk over all axes, with no combine steps: one
    /// value per chunk.
    PerChunk {
        input: Array,
        op: ReduceOp,
    },
    /// The elements of `data` where `mask` is not 0, from chunks `sources` in order.
    Compress {
        data: Array,
        mask: Array,
        sources: Vec<u64>,
    },
    /// A cumulative sum or product of `input` along data axis `axis`.
    Scan {
        input: Array,
        axis: usize,
        op: ReduceOp,
    },
    /// A histogram of all of `input`'s elements: its data keeps every input axis with
    /// length 1, then the bins.
    Histogram {
        input: Array,
        weights: Option<Array>,
        bins: u32,
        lo: f64,
        hi: f64,
        split_every: u32,
    },
}

/// Whatever must live as long as an array reads a persisted graph's results (the handle
/// whose drop releases them), shared by every expression built on the array.
#[derive(Clone)]
pub struct Keep(pub Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keep")
    }
}

/// A lazy, chunked, n-dimensional array of one of NumPy's dtypes ([`DType`]).
///
/// Kernels hold float values as float64 and integer and bool values as int64 (exact,
/// wrapping on overflow); operations keep the values inside their dtype's value set by
/// casts the ufuncs ([`Ufunc`]) insert.
#[derive(Clone, Debug)]
pub struct Array {
    node: Arc<Node>,
    dtype: DType,
    /// The chunk grid of the array's data (reduced axes kept with size 1).
    grid: ChunkGrid,
    /// The shape users see (reduced axes dropped unless keepdims).
    shape: Vec<u64>,
}

/// An operation that cannot be built, with what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArrayError {
    #[error("operand shapes {0:?} and {1:?} differ")]
    ShapeMismatch(Vec<u64>, Vec<u64>),
    #[error("operands have shape {shape:?} but different chunks, {a:?} and {b:?}")]
    ChunkMismatch {
        shape: Vec<u64>,
        a: Vec<Vec<u64>>,
        b: Vec<Vec<u64>>,
    },
    /// Shapes that do not broadcast together (NumPy's ValueError).
    #[error("{0}")]
    Broadcast(String),
    #[error("axis {axis} is out of bounds for an array of dimension {ndim}")]
    AxisOutOfBounds { axis: i64, ndim: usize },
    #[error("duplicate axis {0} in a reduction")]
    DuplicateAxis(usize),
    #[error("bad chunks: {0}")]
    Grid(#[from] GraphError),
    /// An operation the operands' dtypes do not support (NumPy's TypeError).
    #[error("{0}")]
    Type(String),
    /// A Python integer that the operation's dtype cannot hold (NumPy's OverflowError).
    #[error("{0}")]
    Overflow(String),
    /// An index out of range, or too many indices (NumPy's IndexError).
    #[error("{0}")]
    Index(String),
}

impl Array {
    fn new(node: Node, grid: ChunkGrid, shape: Vec<u64>) -> Self {
        Self::typed(node, grid, shape, DType::F64)
    }

    fn typed(node: Node, grid: ChunkGrid, shape: Vec<u64>, dtype: DType) -> Self {
        Self {
            node: Arc::new(node),
            dtype,
            grid,
            shape,
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// This array as the results the cluster keeps of it: `layer` of graph `graph` is
    /// where [`lower`] put it (its [`Output`]) when that graph was submitted. Expressions
    /// on the returned array read those results instead of computing them again; `keep`
    /// lives as long as any of them.
    pub fn stored(&self, graph: u64, layer: LayerId, keep: Keep) -> Array {
        let node = Node::Stored {
            graph,
            layer,
            dropped: self.dropped_axes(),
            _keep: keep,
        };
        Self::typed(node, self.grid.clone(), self.shape.clone(), self.dtype)
    }

    /// The same values seen as another dtype (no computation: the caller knows the
    /// values are inside that dtype's value set).
    fn relabel(&self, dtype: DType) -> Array {
        let mut a = self.clone();
        a.dtype = dtype;
        a
    }

    /// `op(self)`, an array of `dtype`.
    pub fn unary_typed(&self, op: UnaryOp, dtype: DType) -> Array {
        Self::typed(
            Node::Unary(op, self.clone()),
            self.grid.clone(),
            self.shape.clone(),
            dtype,
        )
    }

    /// `op(self, other)`, an array of `dtype`; shapes and chunks must match.
    pub fn binary_typed(
        &self,
        op: BinaryOp,
        other: &Array,
        dtype: DType,
    ) -> Result<Array, ArrayError> {
        let mut ops = broadcast_arrays(&[self, other])?;
        let b = ops.pop().expect("two operands");
        let a = ops.pop().expect("two operands");
        let (grid, shape) = (a.grid.clone(), a.shape.clone());
        Ok(Self::typed(Node::Binary(op, a, b), grid, shape, dtype))
    }

    /// `where(self, a, b)` (self is the condition, as any dtype), an array of `dtype`.
    pub fn select(&self, a: &Array, b: &Array, dtype: DType) -> Result<Array, ArrayError> {
        let mut ops = broadcast_arrays(&[self, a, b])?;
        let b = ops.pop().expect("three operands");
        let a = ops.pop().expect("three operands");
        let c = ops.pop().expect("three operands");
        let (grid, shape) = (c.grid.clone(), c.shape.clone());
        Ok(Self::typed(Node::Select(c, a, b), grid, shape, dtype))
    }

    /// The array broadcast to `shape` (NumPy's rules), with `chunks` along the axes
    /// it is repeated on (default: one chunk each) and its own chunks elsewhere.
    pub fn broadcast_to(
        &self,
        shape: &[u64],
        chunks: Option<Vec<Vec<u64>>>,
    ) -> Result<Array, ArrayError> {
        let n = shape.len();
        if n < self.ndim() {
            return Err(ArrayError::Broadcast(format!(
                "cannot broadcast an array of shape {} to the shape {}, which has fewer \
                 dimensions",
                py_shape(&self.shape),
                py_shape(shape)
            )));
        }
        let offset = n - self.ndim();
        let own = self.logical_chunks();
        let mut target = Vec::with_capacity(n);
        for (t, &len) in shape.iter().enumerate() {
            let mine = t.checked_sub(offset).map(|j| (self.shape[j], &own[j]));
            let c = match (mine, &chunks) {
                (Some((l, c)), _) if l == len => c.clone(),
                (Some((1, _)), Some(given)) | (None, Some(given)) => given[t].clone(),
                (Some((1, _)), None) | (None, None) => vec![len],
                (Some(_), _) => {
                    return Err(ArrayError::Broadcast(format!(
                        "cannot broadcast an array of shape {} to the shape {}",
                        py_shape(&self.shape),
                        py_shape(shape)
                    )));
                }
            };
            target.push(if len == 0 { vec![0] } else { c });
        }
        if let Some(given) = &chunks
            && (given.len() != n || given.iter().zip(&target).any(|(g, t)| g != t))
        {
            return Err(ArrayError::Broadcast(format!(
                "chunks {given:?} do not fit the broadcast of an array of shape {:?} and \
                 chunks {own:?} to {shape:?}",
                self.shape
            )));
        }
        let grid = ChunkGrid::new(target)?;
        Ok(self.view(grid, shape.to_vec()))
    }

    /// This array seen as one of `shape` and `grid` (a broadcast of it).
    fn view(&self, grid: ChunkGrid, shape: Vec<u64>) -> Array {
        if shape == self.shape && grid == self.grid && self.grid.ndim() == self.ndim() {
            return self.clone();
        }
        let offset = (shape.len() - self.ndim()) as i32;
        let dropped = self.dropped_axes();
        let mut logical = 0;
        let axes = (0..self.grid.ndim())
            .map(|k| {
                if dropped.contains(&k) {
                    -1
                } else {
                    logical += 1;
                    logical - 1 + offset
                }
            })
            .collect();
        Self::typed(
            Node::View {
                input: self.clone(),
                axes,
            },
            grid,
            shape,
            self.dtype,
        )
    }

    /// A constant array with the grid of `self`.
    pub fn constant_like(&self, value: Scalar, dtype: DType) -> Array {
        Self::typed(
            Node::Full {
                value: value.cast(dtype),
            },
            self.grid.clone(),
            self.shape.clone(),
            dtype,
        )
    }

    /// The array converted to `dtype` as NumPy's `astype` does (floats to integers
    /// truncate toward zero and wrap; anything to bool is `!= 0`).
    pub fn astype(&self, dtype: DType) -> Result<Array, ArrayError> {
        use DType::*;
        if dtype == Table || self.dtype == Table {
            return Err(ArrayError::Type("arrays cannot hold tables".into()));
        }
        let from = self.dtype;
        if from == dtype {
            return Ok(self.clone());
        }
        // Integers become floats by a conversion (kernels hold them as int64); values
        // already in the target's value set are relabelled.
        let op = match dtype {
            F64 => (!from.is_float()).then_some(UnaryOp::CastF64),
            F32 => Some(UnaryOp::CastF32),
            I64 => from.is_float().then_some(UnaryOp::CastI64),
            I32 => matches!(from, F64 | F32 | I64).then_some(UnaryOp::CastI32),
            U8 => (!matches!(from, Bool)).then_some(UnaryOp::CastU8),
            Bool => Some(UnaryOp::CastBool),
            Table => None,
        };
        Ok(match op {
            Some(op) => self.unary_typed(op, dtype),
            None => self.relabel(dtype),
        })
    }

    /// Uniform random numbers in [0, 1); each chunk is a pure function of (seed, chunk index).
    pub fn random(shape: &[u64], chunks: &[u64], seed: u64) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::regular(shape, chunks)?;
        Ok(Self::new(Node::Random { seed }, grid, shape.to_vec()))
    }

    /// An array filled with `value`.
    pub fn full(shape: &[u64], chunks: &[u64], value: f64) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::regular(shape, chunks)?;
        Ok(Self::new(
            Node::Full {
                value: Scalar::Float(value),
            },
            grid,
            shape.to_vec(),
        ))
    }

    pub fn ones(shape: &[u64], chunks: &[u64]) -> Result<Self, ArrayError> {
        Self::full(shape, chunks, 1.0)
    }

    /// Like [`Array::random`], with explicit (possibly irregular) chunk sizes per axis,
    /// dask's normalized `chunks` form.
    pub fn random_chunks(chunks: Vec<Vec<u64>>, seed: u64) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::new(chunks)?;
        let shape = grid.shape();
        Ok(Self::new(Node::Random { seed }, grid, shape))
    }

    /// Like [`Array::full`], with explicit (possibly irregular) chunk sizes per axis.
    pub fn full_chunks(chunks: Vec<Vec<u64>>, value: f64) -> Result<Self, ArrayError> {
        Self::full_typed(chunks, Scalar::Float(value), DType::F64)
    }

    /// An array of `dtype` filled with `value` (converted to the dtype as `astype`
    /// converts), with explicit chunk sizes per axis.
    pub fn full_typed(
        chunks: Vec<Vec<u64>>,
        value: Scalar,
        dtype: DType,
    ) -> Result<Self, ArrayError> {
        if dtype == DType::Table {
            return Err(ArrayError::Type("arrays cannot hold tables".into()));
        }
        let grid = ChunkGrid::new(chunks)?;
        let shape = grid.shape();
        Ok(Self::typed(
            Node::Full {
                value: value.cast(dtype),
            },
            grid,
            shape,
            dtype,
        ))
    }

    /// An int64 array whose every element is its index along `axis` (the base of
    /// `arange`, `linspace` and `eye`), with explicit chunk sizes per axis.
    pub fn iota(chunks: Vec<Vec<u64>>, axis: usize) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::new(chunks)?;
        let shape = grid.shape();
        if axis >= shape.len() {
            return Err(ArrayError::AxisOutOfBounds {
                axis: axis as i64,
                ndim: shape.len(),
            });
        }
        Ok(Self::typed(
            Node::Iota { axis: axis as u32 },
            grid,
            shape,
            DType::I64,
        ))
    }

    /// An array whose every chunk fails with `fault`: for tests of error handling and
    /// recovery (workers run `Fault::ExitWorker` only where fault injection is allowed).
    pub fn fault(chunks: Vec<Vec<u64>>, fault: Fault) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::new(chunks)?;
        let shape = grid.shape();
        Ok(Self::new(Node::Fault(fault), grid, shape))
    }

    /// Number of elements.
    pub fn size(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Chunk sizes per axis of the shape users see (reduced axes dropped, or of size 1
    /// where kept), dask's `chunks`.
    pub fn logical_chunks(&self) -> Vec<Vec<u64>> {
        self.logical_to_data_axes()
            .into_iter()
            .map(|a| self.grid.chunks()[a].clone())
            .collect()
    }

    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Chunk sizes per axis of the data (reduced axes appear as chunks of size 1).
    pub fn chunks(&self) -> &[Vec<u64>] {
        self.grid.chunks()
    }

    pub fn unary(&self, op: UnaryOp) -> Array {
        Self::new(
            Node::Unary(op, self.clone()),
            self.grid.clone(),
            self.shape.clone(),
        )
    }

    pub fn arcsin(&self) -> Array {
        self.unary(UnaryOp::Arcsin)
    }

    pub fn arccos(&self) -> Array {
        self.unary(UnaryOp::Arccos)
    }

    /// `op(self, other)` on float64 arrays (see [`Ufunc`] for NumPy's dtype rules).
    pub fn binary(&self, op: BinaryOp, other: &Array) -> Result<Array, ArrayError> {
        self.binary_typed(op, other, DType::F64)
    }

    /// `self op scalar` (or `scalar op self` with `scalar_first`).
    pub fn scalar(&self, op: BinaryOp, scalar: f64, scalar_first: bool) -> Array {
        Self::new(
            Node::Scalar {
                op,
                array: self.clone(),
                scalar: Scalar::Float(scalar),
                scalar_first,
            },
            self.grid.clone(),
            self.shape.clone(),
        )
    }

    pub fn add(&self, other: &Array) -> Result<Array, ArrayError> {
        self.binary(BinaryOp::Add, other)
    }

    /// Reduces over `axes` (None: all; negative axes count from the end) by a tree of
    /// `split_every`-way combine steps.
    pub fn reduce(
        &self,
        op: ReduceOp,
        axes: Option<&[i64]>,
        split_every: Option<u32>,
    ) -> Result<Array, ArrayError> {
        let ndim = self.ndim();
        let mut norm = Vec::new();
        match axes {
            None => norm.extend(0..ndim),
            Some(axes) => {
                for &a in axes {
                    let n = if a < 0 { a + ndim as i64 } else { a };
                    if n < 0 || n >= ndim as i64 {
                        return Err(ArrayError::AxisOutOfBounds { axis: a, ndim });
                    }
                    if norm.contains(&(n as usize)) {
                        return Err(ArrayError::DuplicateAxis(n as usize));
                    }
                    norm.push(n as usize);
                }
            }
        }
        norm.sort_unstable();
        // This array's data axes are its logical axes plus any kept from earlier
        // reductions; map logical axes to data axes.
        let data_axes = self.logical_to_data_axes();
        let reduce_axes: Vec<usize> = norm.iter().map(|&a| data_axes[a]).collect();
        let split_every = split_every.unwrap_or(DEFAULT_SPLIT_EVERY).max(2);
        let mut grid = self.grid.reduced_per_chunk(&reduce_axes);
        while reduce_axes.iter().any(|&a| grid.chunks()[a].len() > 1) {
            grid = grid.combined(&reduce_axes, split_every as u64);
        }
        let shape = self
            .shape
            .iter()
            .enumerate()
            .filter(|(a, _)| !norm.contains(a))
            .map(|(_, &s)| s)
            .collect();
        let dtype = match op {
            ReduceOp::Sum | ReduceOp::Prod => kaon_graph::dtype::sum_of(self.dtype),
            ReduceOp::Min | ReduceOp::Max => self.dtype,
        };
        Ok(Self::typed(
            Node::Reduce {
                op,
                input: self.clone(),
                axes: reduce_axes,
                split_every,
            },
            grid,
            shape,
            dtype,
        ))
    }

    /// Like [`Array::reduce`], but the reduced axes stay in the shape with length 1
    /// (NumPy's `keepdims=True`).
    pub fn reduce_keepdims(
        &self,
        op: ReduceOp,
        axes: Option<&[i64]>,
        split_every: Option<u32>,
    ) -> Result<Array, ArrayError> {
        let reduced = self.reduce(op, axes, split_every)?;
        let Node::Reduce {
            axes: data_axes, ..
        } = &*reduced.node
        else {
            unreachable!("reduce builds a reduction")
        };
        let data_axes = data_axes.clone();
        let logical = self.logical_to_data_axes();
        let shape = self
            .shape
            .iter()
            .zip(&logical)
            .map(|(&s, a)| if data_axes.contains(a) { 1 } else { s })
            .collect();
        let grid = reduced.grid.clone();
        let dtype = reduced.dtype;
        Ok(Self::typed(
            Node::KeepDims {
                input: reduced,
                axes: data_axes,
            },
            grid,
            shape,
            dtype,
        ))
    }

    pub fn sum(&self, axes: Option<&[i64]>) -> Result<Array, ArrayError> {
        self.reduce(ReduceOp::Sum, axes, None)
    }

    /// For each logical axis, the data axis it lives on (data keeps reduced axes as 1).
    fn logical_to_data_axes(&self) -> Vec<usize> {
        let removed = self.grid.ndim() - self.shape.len();
        if removed == 0 {
            return (0..self.shape.len()).collect();
        }
        // Reduced axes are the data axes whose every chunk is 1 and that were dropped;
        // walk the reduction chain to find them.
        let dropped = self.dropped_axes();
        (0..self.grid.ndim())
            .filter(|a| !dropped.contains(a))
            .collect()
    }

    fn dropped_axes(&self) -> Vec<usize> {
        match &*self.node {
            Node::Reduce { input, axes, .. } => {
                let mut d = input.dropped_axes();
                d.extend(axes.iter().copied());
                d
            }
            Node::Unary(_, a)
            | Node::Scalar { array: a, .. }
            | Node::Binary(_, a, _)
            | Node::Select(a, _, _) => a.dropped_axes(),
            Node::View { .. } => vec![],
            Node::Stored { dropped, .. } => dropped.clone(),
            Node::KeepDims { input, axes } => {
                let mut d = input.dropped_axes();
                d.retain(|a| !axes.contains(a));
                d
            }
            Node::Random { .. }
            | Node::Full { .. }
            | Node::Iota { .. }
            | Node::Fault(_)
            | Node::Rearrange { .. }
            | Node::Reshape { .. }
            | Node::Literal { .. }
            | Node::MatMul { .. }
            | Node::PerChunk { .. }
            | Node::Compress { .. }
            | Node::Scan { .. } => vec![],
            Node::Histogram { input, .. } => (0..input.grid.ndim()).collect(),
        }
    }

    fn grid(&self) -> &ChunkGrid {
        &self.grid
    }
}

/// Where an output of a lowered graph is, and the shape the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub layer: LayerId,
    pub shape: Vec<u64>,
}

/// Lowers arrays to one graph, fusing elementwise chains into per-chunk programs.
pub fn lower(arrays: &[&Array]) -> Result<(Graph, Vec<Output>), GraphError> {
    let mut lowering = Lowering::default();
    let outputs: Vec<Output> = arrays
        .iter()
        .map(|a| Output {
            layer: lowering.materialize(a),
            shape: a.shape.clone(),
        })
        .collect();
    let mut layer_ids: Vec<LayerId> = outputs.iter().map(|o| o.layer).collect();
    layer_ids.dedup();
    let graph = Graph::new(lowering.layers, layer_ids)?;
    Ok((graph, outputs))
}

#[derive(Default)]
struct Lowering {
    layers: Vec<Layer>,
    /// Nodes already turned into layers, by identity.
    done: HashMap<*const Node, LayerId>,
}

/// A program being built for one blockwise layer.
#[derive(Default)]
struct ProgramBuilder {
    program: Program,
    inputs: Vec<LayerId>,
    /// How each input slot is read (None: as is).
    maps: Vec<Option<Vec<i32>>>,
    values: HashMap<*const Node, ValueId>,
    names: Vec<&'static str>,
}

impl ProgramBuilder {
    /// The input slot reading `layer` with `map`, added if new.
    fn slot(&mut self, layer: LayerId, map: Option<Vec<i32>>) -> u32 {
        let found = self
            .inputs
            .iter()
            .zip(&self.maps)
            .position(|(&l, m)| l == layer && *m == map);
        match found {
            Some(s) => s as u32,
            None => {
                self.inputs.push(layer);
                self.maps.push(map);
                (self.inputs.len() - 1) as u32
            }
        }
    }
}

impl Lowering {
    fn materialize(&mut self, a: &Array) -> LayerId {
        let key = Arc::as_ptr(&a.node);
        if let Some(&id) = self.done.get(&key) {
            return id;
        }
        let id = match &*a.node {
            Node::KeepDims { input, .. } => self.materialize(input),
            Node::Reduce {
                op,
                input,
                axes,
                split_every,
            } => {
                let mut b = ProgramBuilder::default();
                self.emit(input, &mut b);
                b.names.push(op.name());
                let reduce = ChunkReduce {
                    op: *op,
                    axes: axes.clone(),
                };
                let partial = self.push_program(b, input.grid(), Some(reduce), None);
                let partial_grid = input.grid().reduced_per_chunk(axes);
                push_tree_reduction(
                    &mut self.layers,
                    partial,
                    &partial_grid,
                    *op,
                    axes,
                    *split_every,
                    &format!("{}-aggregate", op.name()),
                )
                .0
            }
            Node::Rearrange {
                inputs,
                concat_axis,
                axes,
                fixed,
                name,
            } => {
                let inputs = inputs.iter().map(|x| self.materialize(x)).collect();
                self.push(
                    name,
                    LayerOp::Rearrange(Rearrange {
                        inputs,
                        concat_axis: *concat_axis,
                        axes: axes.clone(),
                        fixed: fixed.clone(),
                        grid: a.grid.clone(),
                    }),
                )
            }
            Node::Reshape { input } => {
                let input = self.materialize(input);
                self.push(
                    "reshape",
                    LayerOp::Reshape(Reshape {
                        input,
                        grid: a.grid.clone(),
                    }),
                )
            }
            Node::Stored { graph, layer, .. } => self.push(
                "persisted",
                LayerOp::Stored(Stored {
                    graph: *graph,
                    layer: *layer,
                    grid: a.grid.clone(),
                }),
            ),
            Node::Literal { values } => self.push(
                "array",
                LayerOp::Literal(Literal {
                    grid: a.grid.clone(),
                    values: values.clone(),
                }),
            ),
            Node::MatMul { a: x, b: y } => {
                let (x, y) = (self.materialize(x), self.materialize(y));
                self.push("matmul", LayerOp::MatMul(MatMul { a: x, b: y }))
            }
            Node::PerChunk { input, op } => {
                let mut b = ProgramBuilder::default();
                self.emit(input, &mut b);
                b.names.push(op.name());
                let reduce = ChunkReduce {
                    op: *op,
                    axes: (0..input.grid.ndim()).collect(),
                };
                self.push_program(b, input.grid(), Some(reduce), None)
            }
            Node::Compress {
                data,
                mask,
                sources,
            } => {
                let (d, m) = (self.materialize(data), self.materialize(mask));
                self.push(
                    "getitem-mask",
                    LayerOp::Compress(Compress {
                        data: d,
                        mask: m,
                        sources: sources.clone(),
                        grid: a.grid.clone(),
                    }),
                )
            }
            Node::Scan { input, axis, op } => {
                let x = self.materialize(input);
                let mut program = Program::default();
                program.push_typed(Instr::Input(0), input.dtype);
                let name = format!("{}-totals", op.name());
                let totals = self.push(
                    &name,
                    LayerOp::Blockwise(Blockwise {
                        domain: input.grid.clone(),
                        inputs: vec![x],
                        program,
                        reduce: Some(ChunkReduce {
                            op: *op,
                            axes: vec![*axis],
                        }),
                        histogram: None,
                    }),
                );
                let name = if *op == ReduceOp::Prod {
                    "cumprod"
                } else {
                    "cumsum"
                };
                self.push(
                    name,
                    LayerOp::Scan(Scan {
                        input: x,
                        totals,
                        axis: *axis as u32,
                        op: *op,
                    }),
                )
            }
            Node::Histogram {
                input,
                weights,
                bins,
                lo,
                hi,
                split_every,
            } => {
                let mut b = ProgramBuilder::default();
                let weight = weights.as_ref().map(|w| self.emit(w, &mut b));
                let value = self.emit(input, &mut b);
                if Some(value) == weight || value as usize + 1 != b.program.instrs.len() {
                    // The histogrammed value must be the program's last: copy it there
                    // (adding 0 changes only -0.0, which bins as 0.0).
                    let zero = b.program.push(Instr::Const(0.0));
                    b.program.push(Instr::Binary(BinaryOp::Add, value, zero));
                }
                b.names.push("histogram");
                let ndim = input.grid.ndim();
                let histogram = ChunkHistogram {
                    bins: *bins,
                    lo: *lo,
                    hi: *hi,
                    weight,
                    float32: input.dtype == DType::F32,
                };
                let partial_grid = histogram.grid(input.grid());
                let partial = self.push_program(b, input.grid(), None, Some(histogram));
                let axes: Vec<usize> = (0..ndim).collect();
                push_tree_reduction(
                    &mut self.layers,
                    partial,
                    &partial_grid,
                    ReduceOp::Sum,
                    &axes,
                    *split_every,
                    "histogram-aggregate",
                )
                .0
            }
            _ => {
                let mut b = ProgramBuilder::default();
                self.emit(a, &mut b);
                self.push_program(b, a.grid(), None, None)
            }
        };
        self.done.insert(key, id);
        id
    }

    /// Appends a blockwise layer running `b`'s program over `domain`, named after the
    /// operations it fuses.
    fn push_program(
        &mut self,
        b: ProgramBuilder,
        domain: &ChunkGrid,
        reduce: Option<ChunkReduce>,
        histogram: Option<ChunkHistogram>,
    ) -> LayerId {
        let name = layer_name(&b.names);
        let op = LayerOp::Blockwise(Blockwise {
            domain: domain.clone(),
            inputs: b.inputs,
            program: b.program,
            reduce,
            histogram,
        });
        self.push(&name, op)
    }

    /// Appends a layer, returning its id.
    fn push(&mut self, name: &str, op: LayerOp) -> LayerId {
        self.layers.push(Layer {
            name: name.to_string(),
            op,
        });
        (self.layers.len() - 1) as LayerId
    }

    /// Emits the instructions computing `a` into `b`; reductions become inputs.
    fn emit(&mut self, a: &Array, b: &mut ProgramBuilder) -> ValueId {
        let key = Arc::as_ptr(&a.node);
        if let Some(&v) = b.values.get(&key) {
            return v;
        }
        let v = match &*a.node {
            Node::Random { seed } => {
                b.names.push("random_sample");
                b.program.push_typed(
                    Instr::Random {
                        seed: *seed,
                        distribution: Distribution::Uniform,
                    },
                    a.dtype,
                )
            }
            Node::Full { value } => {
                b.names.push("full");
                b.program.push_typed(value.instr(), a.dtype)
            }
            Node::Iota { axis } => {
                b.names.push("arange");
                b.program.push_typed(Instr::Iota { axis: *axis }, a.dtype)
            }
            Node::Fault(fault) => {
                b.names.push("fault");
                b.program.push_typed(Instr::Fault(fault.clone()), a.dtype)
            }
            Node::KeepDims { input, .. } => self.emit(input, b),
            Node::Unary(op, x) => {
                let x = self.emit(x, b);
                b.names.push(unary_name(*op));
                b.program.push_typed(Instr::Unary(*op, x), a.dtype)
            }
            Node::Binary(op, x, y) => {
                let x = self.emit(x, b);
                let y = self.emit(y, b);
                b.names.push(binary_name(*op));
                b.program.push_typed(Instr::Binary(*op, x, y), a.dtype)
            }
            Node::Select(c, x, y) => {
                let c = self.emit(c, b);
                let x = self.emit(x, b);
                let y = self.emit(y, b);
                b.names.push("where");
                b.program.push_typed(Instr::Select(c, x, y), a.dtype)
            }
            Node::Scalar {
                op,
                array,
                scalar,
                scalar_first,
            } => {
                let x = self.emit(array, b);
                let kind = match scalar {
                    Scalar::Int(_) => DType::I64,
                    Scalar::Float(_) => DType::F64,
                };
                let c = b.program.push_typed(scalar.instr(), kind);
                b.names.push(binary_name(*op));
                let (l, r) = if *scalar_first { (c, x) } else { (x, c) };
                b.program.push_typed(Instr::Binary(*op, l, r), a.dtype)
            }
            Node::Reduce { .. }
            | Node::Rearrange { .. }
            | Node::Reshape { .. }
            | Node::Literal { .. }
            | Node::Stored { .. }
            | Node::MatMul { .. }
            | Node::Scan { .. }
            | Node::PerChunk { .. }
            | Node::Compress { .. }
            | Node::Histogram { .. } => {
                let layer = self.materialize(a);
                let slot = b.slot(layer, None);
                b.program.push_typed(Instr::Input(slot), a.dtype)
            }
            Node::View { input, axes } => {
                if let Node::Full { value } = &*input.node {
                    // A constant is the same everywhere: no input needed.
                    b.names.push("full");
                    b.program.push_typed(value.instr(), a.dtype)
                } else {
                    let layer = self.materialize(input);
                    b.names.push("broadcast");
                    let slot = b.slot(layer, Some(axes.clone()));
                    b.program.push_typed(
                        Instr::InputBroadcast {
                            slot,
                            axes: axes.clone(),
                        },
                        a.dtype,
                    )
                }
            }
        };
        b.values.insert(key, v);
        v
    }
}

/// A dask-like layer name from the fused operations, e.g. `random_sample-arcsin-add-sum`.
fn layer_name(parts: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for p in parts {
        if !unique.contains(p) {
            unique.push(p);
        }
    }
    if unique.len() > 6 {
        let last = unique[unique.len() - 1];
        unique.truncate(5);
        unique.push(last);
    }
    unique.join("-")
}

fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "negative",
        UnaryOp::Abs => "absolute",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Exp => "exp",
        UnaryOp::Log => "log",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Tan => "tan",
        UnaryOp::Arcsin => "arcsin",
        UnaryOp::Arccos => "arccos",
        UnaryOp::Arctan => "arctan",
        UnaryOp::Sign => "sign",
        UnaryOp::Cbrt => "cbrt",
        UnaryOp::Square => "square",
        UnaryOp::Expm1 => "expm1",
        UnaryOp::Log1p => "log1p",
        UnaryOp::Log10 => "log10",
        UnaryOp::Log2 => "log2",
        UnaryOp::Sinh => "sinh",
        UnaryOp::Cosh => "cosh",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Arcsinh => "arcsinh",
        UnaryOp::Arccosh => "arccosh",
        UnaryOp::Arctanh => "arctanh",
        UnaryOp::Floor => "floor",
        UnaryOp::Ceil => "ceil",
        UnaryOp::Rint => "rint",
        UnaryOp::Trunc => "trunc",
        UnaryOp::IsNan => "isnan",
        UnaryOp::IsInf => "isinf",
        UnaryOp::IsFinite => "isfinite",
        UnaryOp::LogicalNot => "logical_not",
        UnaryOp::Invert => "invert",
        UnaryOp::CastF32 | UnaryOp::CastI64 | UnaryOp::CastI32 | UnaryOp::CastU8 => "astype",
        UnaryOp::CastBool | UnaryOp::CastF64 => "astype",
    }
}

fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "subtract",
        BinaryOp::Mul => "multiply",
        BinaryOp::Div => "divide",
        BinaryOp::Pow => "power",
        BinaryOp::Max => "maximum",
        BinaryOp::Min => "minimum",
        BinaryOp::FloorDiv | BinaryOp::IntFloorDiv => "floordiv",
        BinaryOp::Mod | BinaryOp::IntMod => "mod",
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::Lt => "lt",
        BinaryOp::Le => "le",
        BinaryOp::Gt => "gt",
        BinaryOp::Ge => "ge",
        BinaryOp::LogicalAnd => "logical_and",
        BinaryOp::LogicalOr => "logical_or",
        BinaryOp::LogicalXor => "logical_xor",
        BinaryOp::BitAnd => "and",
        BinaryOp::BitOr => "or",
        BinaryOp::BitXor => "xor",
        BinaryOp::Shl => "lshift",
        BinaryOp::Shr => "rshift",
        BinaryOp::Arctan2 => "arctan2",
        BinaryOp::Hypot => "hypot",
    }
}

/// The arrays broadcast against each other (NumPy's rules on the shapes users see):
/// unchanged where shapes and chunks already agree, else views of the common shape
/// and chunks. Along an axis where several arrays have a length other than 1 their
/// chunks must agree.
pub fn broadcast_arrays(arrays: &[&Array]) -> Result<Vec<Array>, ArrayError> {
    let first = arrays[0];
    if arrays
        .iter()
        .all(|a| a.shape == first.shape && a.grid == first.grid)
    {
        return Ok(arrays.iter().map(|&a| a.clone()).collect());
    }
    let n = arrays.iter().map(|a| a.ndim()).max().unwrap_or(0);
    let mut shape = vec![1u64; n];
    let mut chunks: Vec<Option<Vec<u64>>> = vec![None; n];
    let shapes = || {
        arrays
            .iter()
            .map(|a| py_shape(&a.shape))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for a in arrays {
        let own = a.logical_chunks();
        let offset = n - a.ndim();
        for (j, &len) in a.shape.iter().enumerate() {
            let t = j + offset;
            if len == 1 && shape[t] != 1 {
                continue;
            }
            if shape[t] != 1 && shape[t] != len {
                return Err(ArrayError::Broadcast(format!(
                    "operands could not be broadcast together with shapes {}",
                    shapes()
                )));
            }
            if len != 1 {
                // Operands chunked differently meet at every boundary of either
                // (dask's unify_chunks); they are rechunked below.
                chunks[t] = Some(match &chunks[t] {
                    Some(c) if c != &own[j] => common_chunks(c, &own[j]),
                    _ => own[j].clone(),
                });
            }
            shape[t] = len;
        }
    }
    let target: Vec<Vec<u64>> = chunks
        .into_iter()
        .zip(&shape)
        .map(|(c, &len)| c.unwrap_or(vec![len]))
        .collect();
    let grid = ChunkGrid::new(target.clone())?;
    arrays
        .iter()
        .map(|a| {
            let own = a.logical_chunks();
            let offset = n - a.ndim();
            let want: Vec<Vec<u64>> = (0..a.ndim())
                .map(|j| {
                    if a.shape[j] == 1 {
                        own[j].clone()
                    } else {
                        target[j + offset].clone()
                    }
                })
                .collect();
            let a = if want != own {
                a.rechunk(want)?
            } else {
                (*a).clone()
            };
            Ok(a.view(grid.clone(), shape.clone()))
        })
        .collect()
}

/// The chunks that cut an axis at every boundary of either chunking.
fn common_chunks(a: &[u64], b: &[u64]) -> Vec<u64> {
    let ends = |c: &[u64]| {
        c.iter()
            .scan(0u64, |at, &s| {
                *at += s;
                Some(*at)
            })
            .collect::<Vec<_>>()
    };
    let mut cuts = ends(a);
    cuts.extend(ends(b));
    cuts.sort_unstable();
    cuts.dedup();
    let mut prev = 0;
    cuts.into_iter()
        .filter(|&c| c > 0)
        .map(|c| {
            let s = c - prev;
            prev = c;
            s
        })
        .collect()
}

/// A shape as Python writes it: `(4, 6)`, `(4,)`, `()`.
pub fn py_shape<T: std::fmt::Display>(shape: &[T]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The seed expression `(arcsin(x) + arccos(y)).sum(axis=(1, 2))` with x, y uniform
/// random of `shape`/`chunks` and seeds 1 and 2: the demo and benchmarks run it.
pub fn seed_expression(shape: &[u64], chunks: &[u64]) -> Result<Array, ArrayError> {
    let x = Array::random(shape, chunks, 1)?;
    let y = Array::random(shape, chunks, 2)?;
    x.arcsin().add(&y.arccos())?.sum(Some(&[1, 2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementwise_chains_and_the_reduction_step_fuse_into_one_layer() {
        let z = seed_expression(&[8, 6, 4], &[4, 3, 4]).unwrap();
        assert_eq!(z.shape(), &[8]);
        let (g, outs) = lower(&[&z]).unwrap();
        // One fused layer (random, random, arcsin, arccos, add, per-chunk sum) plus
        // one combine over the 2 blocks of axis 1.
        assert_eq!(g.layers().len(), 2);
        assert_eq!(g.layer(0).name, "random_sample-arcsin-arccos-add-sum");
        let LayerOp::Blockwise(b) = &g.layer(0).op else {
            panic!("not blockwise")
        };
        assert_eq!(b.program.instrs.len(), 5);
        assert!(b.inputs.is_empty());
        assert_eq!(b.reduce.as_ref().unwrap().axes, vec![1, 2]);
        assert_eq!(outs[0].shape, vec![8]);
        assert_eq!(g.grid(outs[0].layer).shape(), vec![8, 1, 1]);
    }

    #[test]
    fn shared_subexpressions_are_emitted_once() {
        let x = Array::random(&[4], &[2], 7).unwrap();
        let s = x.arcsin();
        let z = s.add(&s).unwrap();
        let (g, _) = lower(&[&z]).unwrap();
        let LayerOp::Blockwise(b) = &g.layer(0).op else {
            panic!()
        };
        assert_eq!(b.program.instrs.len(), 3);
    }

    #[test]
    fn results_of_reductions_feed_later_programs() {
        let x = Array::random(&[6, 4], &[2, 2], 1).unwrap();
        let s = x.sum(Some(&[1])).unwrap(); // shape (6,), data (6, 1)
        let t = s.add(&s.arcsin()).unwrap().sum(None).unwrap();
        assert_eq!(t.shape(), &[] as &[u64]);
        let (g, outs) = lower(&[&t]).unwrap();
        // partial+combine for s, then fused (s + arcsin(s)) with its per-chunk sum and
        // a combine over axis 0.
        assert_eq!(g.grid(outs[0].layer).shape(), vec![1, 1]);
        let fused = g
            .layers()
            .iter()
            .find(|l| l.name == "add-arcsin-sum" || l.name.starts_with("arcsin"))
            .or_else(|| g.layers().iter().find(|l| l.name.contains("arcsin")))
            .unwrap();
        let LayerOp::Blockwise(b) = &fused.op else {
            panic!()
        };
        assert_eq!(b.inputs.len(), 1);
    }

    #[test]
    fn mismatched_operands_are_named() {
        let x = Array::random(&[4, 4], &[2, 2], 1).unwrap();
        let y = Array::random(&[4, 5], &[2, 2], 2).unwrap();
        let err = x.add(&y).unwrap_err().to_string();
        assert!(err.contains("(4, 4) (4, 5)"), "{err}");
        // Different chunks are unified at every boundary of either (dask's rule).
        let y = Array::random(&[4, 4], &[3, 4], 2).unwrap();
        assert_eq!(x.add(&y).unwrap().chunks(), &[vec![2, 1, 1], vec![2, 2]]);
        assert!(matches!(
            x.sum(Some(&[2])),
            Err(ArrayError::AxisOutOfBounds { axis: 2, ndim: 2 })
        ));
        assert!(x.sum(Some(&[-1])).is_ok());
    }

    #[test]
    fn broadcasting_reads_inputs_through_views() {
        let x = Array::random(&[6, 4], &[2, 2], 1).unwrap();
        // x - x.mean(axis=0): the mean's layer is read broadcast over x's chunks.
        let m = x.sum(Some(&[0])).unwrap(); // shape (4,), data (1, 4)
        let d = x.binary(BinaryOp::Sub, &m).unwrap();
        assert_eq!(d.shape(), &[6, 4]);
        let (g, _) = lower(&[&d]).unwrap();
        let last = g.layers().last().unwrap();
        let LayerOp::Blockwise(b) = &last.op else {
            panic!()
        };
        assert!(
            b.program
                .instrs
                .iter()
                .any(|i| matches!(i, Instr::InputBroadcast { axes, .. } if axes == &vec![-1, 1]))
        );
        // A row and a column broadcast to a matrix; constants need no input.
        let row = Array::random(&[1, 4], &[1, 2], 2).unwrap();
        let col = Array::ones(&[6, 1], &[2, 1]).unwrap();
        let p = row.binary(BinaryOp::Mul, &col).unwrap();
        assert_eq!(p.shape(), &[6, 4]);
        assert_eq!(p.chunks(), &[vec![2, 2, 2], vec![2, 2]]);
        let (g, _) = lower(&[&p]).unwrap();
        assert_eq!(g.layers().len(), 2); // the row's layer, then the product
        let v = Array::random(&[4], &[2], 3).unwrap();
        assert_eq!(x.binary(BinaryOp::Add, &v).unwrap().shape(), &[6, 4]);
        // A broadcast operand chunked differently is rechunked to the others' chunks.
        let w = Array::random(&[4], &[4], 3).unwrap();
        assert_eq!(
            x.binary(BinaryOp::Add, &w).unwrap().chunks(),
            &[vec![2, 2, 2], vec![2, 2]]
        );
        let b = v
            .broadcast_to(&[3, 4], Some(vec![vec![2, 1], vec![2, 2]]))
            .unwrap();
        assert_eq!(b.chunks(), &[vec![2, 1], vec![2, 2]]);
        assert!(v.broadcast_to(&[5], None).is_err());
        let (g, _) = lower(&[&b]).unwrap();
        assert_eq!(g.num_tasks(), 2 + 4);
    }

    #[test]
    fn irregular_chunks_and_keepdims() {
        let x = Array::random_chunks(vec![vec![3, 1], vec![2, 2, 1]], 1).unwrap();
        assert_eq!(x.shape(), &[4, 5]);
        assert_eq!(x.logical_chunks(), vec![vec![3, 1], vec![2, 2, 1]]);
        let s = x
            .reduce_keepdims(ReduceOp::Sum, Some(&[1]), Some(2))
            .unwrap();
        assert_eq!(s.shape(), &[4, 1]);
        assert_eq!(s.logical_chunks(), vec![vec![3, 1], vec![1]]);
        // Reducing a keepdims result again counts axes as the user sees them.
        let t = s.sum(Some(&[1])).unwrap();
        assert_eq!(t.shape(), &[4]);
        assert_eq!(t.logical_chunks(), vec![vec![3, 1]]);
        let (g, outs) = lower(&[&s, &t]).unwrap();
        assert_eq!(outs[0].shape, vec![4, 1]);
        assert_eq!(g.grid(outs[0].layer).shape(), vec![4, 1]);
        let d = x.sum(Some(&[0])).unwrap();
        assert_eq!(d.logical_chunks(), vec![vec![2, 2, 1]]);
        let f = Array::fault(vec![vec![2]], Fault::Error("boom".into())).unwrap();
        let (g, _) = lower(&[&f]).unwrap();
        assert_eq!(g.layer(0).name, "fault");
    }
}
