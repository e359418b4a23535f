//! Lazy chunked arrays and their lowering to a fused layer graph.
//!
//! An [`Array`] is an expression over chunked arrays; nothing runs until it is
//! computed. [`lower`] turns expressions into a [`Graph`]: every chain of elementwise
//! operations, together with the per-chunk step of a reduction that consumes it,
//! becomes one [`Program`] per chunk, so no intermediate array is ever materialized.
//! Only reductions (their tree of combine steps) and outputs become layers.

use kaon_graph::{
    BinaryOp, Blockwise, ChunkGrid, ChunkReduce, Distribution, Fault, Graph, GraphError, Instr,
    Layer, LayerId, LayerOp, Program, ReduceOp, UnaryOp, ValueId, push_tree_reduction,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Default fan-in of tree reductions (dask uses 4 for multi-axis, up to 32).
pub const DEFAULT_SPLIT_EVERY: u32 = 8;

#[derive(Debug)]
enum Node {
    Random {
        seed: u64,
    },
    Full {
        value: f64,
    },
    Unary(UnaryOp, Array),
    Binary(BinaryOp, Array, Array),
    Scalar {
        op: BinaryOp,
        array: Array,
        scalar: f64,
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
}

/// A lazy, chunked, n-dimensional float64 array.
#[derive(Clone, Debug)]
pub struct Array {
    node: Arc<Node>,
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
    #[error("axis {axis} is out of bounds for an array of dimension {ndim}")]
    AxisOutOfBounds { axis: i64, ndim: usize },
    #[error("duplicate axis {0} in a reduction")]
    DuplicateAxis(usize),
    #[error("bad chunks: {0}")]
    Grid(#[from] GraphError),
}

impl Array {
    fn new(node: Node, grid: ChunkGrid, shape: Vec<u64>) -> Self {
        Self {
            node: Arc::new(node),
            grid,
            shape,
        }
    }

    /// Uniform random numbers in [0, 1); each chunk is a pure function of (seed, chunk index).
    pub fn random(shape: &[u64], chunks: &[u64], seed: u64) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::regular(shape, chunks)?;
        Ok(Self::new(Node::Random { seed }, grid, shape.to_vec()))
    }

    /// An array filled with `value`.
    pub fn full(shape: &[u64], chunks: &[u64], value: f64) -> Result<Self, ArrayError> {
        let grid = ChunkGrid::regular(shape, chunks)?;
        Ok(Self::new(Node::Full { value }, grid, shape.to_vec()))
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
        let grid = ChunkGrid::new(chunks)?;
        let shape = grid.shape();
        Ok(Self::new(Node::Full { value }, grid, shape))
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

    pub fn binary(&self, op: BinaryOp, other: &Array) -> Result<Array, ArrayError> {
        if self.shape != other.shape {
            return Err(ArrayError::ShapeMismatch(
                self.shape.clone(),
                other.shape.clone(),
            ));
        }
        if self.grid != other.grid {
            return Err(ArrayError::ChunkMismatch {
                shape: self.shape.clone(),
                a: self.grid.chunks().to_vec(),
                b: other.grid.chunks().to_vec(),
            });
        }
        Ok(Self::new(
            Node::Binary(op, self.clone(), other.clone()),
            self.grid.clone(),
            self.shape.clone(),
        ))
    }

    /// `self op scalar` (or `scalar op self` with `scalar_first`).
    pub fn scalar(&self, op: BinaryOp, scalar: f64, scalar_first: bool) -> Array {
        Self::new(
            Node::Scalar {
                op,
                array: self.clone(),
                scalar,
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
        Ok(Self::new(
            Node::Reduce {
                op,
                input: self.clone(),
                axes: reduce_axes,
                split_every,
            },
            grid,
            shape,
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
        Ok(Self::new(
            Node::KeepDims {
                input: reduced,
                axes: data_axes,
            },
            grid,
            shape,
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
            Node::Unary(_, a) | Node::Scalar { array: a, .. } | Node::Binary(_, a, _) => {
                a.dropped_axes()
            }
            Node::KeepDims { input, axes } => {
                let mut d = input.dropped_axes();
                d.retain(|a| !axes.contains(a));
                d
            }
            Node::Random { .. } | Node::Full { .. } | Node::Fault(_) => vec![],
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
    values: HashMap<*const Node, ValueId>,
    names: Vec<&'static str>,
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
                let name = layer_name(&b.names);
                self.layers.push(Layer {
                    name: name.clone(),
                    op: LayerOp::Blockwise(Blockwise {
                        domain: input.grid().clone(),
                        inputs: b.inputs,
                        program: b.program,
                        reduce: Some(ChunkReduce {
                            op: *op,
                            axes: axes.clone(),
                        }),
                    }),
                });
                let partial = (self.layers.len() - 1) as LayerId;
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
            _ => {
                let mut b = ProgramBuilder::default();
                self.emit(a, &mut b);
                self.layers.push(Layer {
                    name: layer_name(&b.names),
                    op: LayerOp::Blockwise(Blockwise {
                        domain: a.grid().clone(),
                        inputs: b.inputs,
                        program: b.program,
                        reduce: None,
                    }),
                });
                (self.layers.len() - 1) as LayerId
            }
        };
        self.done.insert(key, id);
        id
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
                b.program.push(Instr::Random {
                    seed: *seed,
                    distribution: Distribution::Uniform,
                })
            }
            Node::Full { value } => {
                b.names.push("full");
                b.program.push(Instr::Const(*value))
            }
            Node::Fault(fault) => {
                b.names.push("fault");
                b.program.push(Instr::Fault(fault.clone()))
            }
            Node::KeepDims { input, .. } => self.emit(input, b),
            Node::Unary(op, x) => {
                let x = self.emit(x, b);
                b.names.push(unary_name(*op));
                b.program.push(Instr::Unary(*op, x))
            }
            Node::Binary(op, x, y) => {
                let x = self.emit(x, b);
                let y = self.emit(y, b);
                b.names.push(binary_name(*op));
                b.program.push(Instr::Binary(*op, x, y))
            }
            Node::Scalar {
                op,
                array,
                scalar,
                scalar_first,
            } => {
                let x = self.emit(array, b);
                let c = b.program.push(Instr::Const(*scalar));
                b.names.push(binary_name(*op));
                let (l, r) = if *scalar_first { (c, x) } else { (x, c) };
                b.program.push(Instr::Binary(*op, l, r))
            }
            Node::Reduce { .. } => {
                let layer = self.materialize(a);
                let slot = match b.inputs.iter().position(|&l| l == layer) {
                    Some(s) => s,
                    None => {
                        b.inputs.push(layer);
                        b.inputs.len() - 1
                    }
                };
                b.program.push(Instr::Input(slot as u32))
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
        assert!(err.contains("[4, 4]") && err.contains("[4, 5]"), "{err}");
        let y = Array::random(&[4, 4], &[4, 4], 2).unwrap();
        assert!(matches!(x.add(&y), Err(ArrayError::ChunkMismatch { .. })));
        assert!(matches!(
            x.sum(Some(&[2])),
            Err(ArrayError::AxisOutOfBounds { axis: 2, ndim: 2 })
        ));
        assert!(x.sum(Some(&[-1])).is_ok());
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
