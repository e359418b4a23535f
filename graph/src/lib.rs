//! Kaon's task-graph model, shared by client, scheduler and worker.
//!
//! A [`Graph`] is a list of [`Layer`]s; each layer is one operation over a
//! [`ChunkGrid`]: a fused per-chunk [`Program`] (optionally reduced inside each chunk)
//! or one step of a tree reduction. Its size does not grow with the number of chunks.
//! A task is one chunk of one layer ([`TaskId`]); expansion to tasks
//! ([`Graph::inputs_of`], [`Graph::dependents_of`]) and depth-first priorities
//! ([`depth_first_priorities`]) are pure functions of the graph, so every process can
//! compute them instead of shipping task lists. [`Graph::from_proto`] validates graphs
//! received from the network.
//!
//! Arrays have NumPy's dtypes and promotion rules ([`dtype`]); kernels hold their values
//! as float64 inside each dtype's value set.
//!
//! [`layout`] layers move elements between chunks without computing them (transposes,
//! slices, rechunks, concatenations, reshapes) or hold an array given as data;
//! [`MatMul`] layers multiply 2-D arrays.
//!
//! [`ntuple`] layers read partitions of ROOT trees and run an event program written in
//! the expression language of [`expr`] (parsed and type-checked here, evaluated by the
//! worker's kernels).

mod convert;
pub mod dtype;
pub mod expr;
mod graph;
mod grid;
pub mod layout;
mod linalg;
pub mod ntuple;
mod order;
mod program;
mod reduction;
pub mod testing;

pub use convert::{grid_from_proto, grid_to_proto};
pub use graph::{
    Blockwise, ChunkHistogram, ChunkReduce, Combine, Graph, Layer, LayerOp, MAX_TASKS, Stored,
    layer_inputs,
};
pub use grid::{ChunkGrid, MAX_NDIM};
pub use layout::{AxisMap, Compress, Literal, LiteralValues, Rearrange, Reshape, sliced_chunks};
pub use linalg::{MatMul, Scan};
pub use ntuple::{
    BranchDecl, BranchKind, HistAxis, HistSpec, NtupleOutput, NtupleScan, Partition, Prim, Reducer,
    Step, plan_partitions,
};
pub use order::depth_first_priorities;
pub use program::{
    BinaryOp, DType, Distribution, Fault, Instr, Program, ReduceOp, UnaryOp, ValueId,
};
pub use reduction::push_tree_reduction;

/// Index of a layer in its graph.
pub type LayerId = u32;

/// One task of a graph: a chunk (linear index in the layer's grid) of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub layer: LayerId,
    pub chunk: u64,
}

/// Why a graph was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    #[error("invalid graph: {0}")]
    Invalid(String),
    #[error("invalid graph: layer {layer} ('{name}') {message}")]
    Layer {
        layer: LayerId,
        name: String,
        message: String,
    },
    #[error("invalid chunk grid: {0}")]
    Grid(String),
}

impl GraphError {
    pub(crate) fn grid(message: String) -> Self {
        GraphError::Grid(message)
    }
}
