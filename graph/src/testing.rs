//! Small graphs that the tests of every crate share.

use crate::graph::{Blockwise, ChunkReduce, Layer, LayerOp};
use crate::program::{BinaryOp, Distribution, Instr, Program, ReduceOp, UnaryOp};
use crate::{ChunkGrid, Graph, push_tree_reduction};

/// `ones((n,), chunks=1).sum(split_every=split)`: n one-element tasks and their tree.
pub fn sum_tree_graph(n: u64, split_every: u32) -> Graph {
    let domain = ChunkGrid::regular(&[n], &[1]).unwrap();
    let mut program = Program::default();
    program.push(Instr::Const(1.0));
    ones_sum_graph(domain, program, split_every)
}

/// `(arcsin(random(seed 1)) + arccos(random(seed 2))).sum(axis=(1, 2))` over a 3-D grid.
pub fn seed_expression_graph(shape: [u64; 3], chunks: [u64; 3], split_every: u32) -> Graph {
    let domain = ChunkGrid::regular(&shape, &chunks).unwrap();
    let mut p = Program::default();
    let x = p.push(Instr::Random {
        seed: 1,
        distribution: Distribution::Uniform,
    });
    let y = p.push(Instr::Random {
        seed: 2,
        distribution: Distribution::Uniform,
    });
    let ax = p.push(Instr::Unary(UnaryOp::Arcsin, x));
    let ay = p.push(Instr::Unary(UnaryOp::Arccos, y));
    p.push(Instr::Binary(BinaryOp::Add, ax, ay));
    let partial_grid = domain.reduced_per_chunk(&[1, 2]);
    let mut layers = vec![Layer {
        name: "sum-partial".into(),
        op: LayerOp::Blockwise(Blockwise {
            domain,
            inputs: vec![],
            program: p,
            reduce: Some(ChunkReduce {
                op: ReduceOp::Sum,
                axes: vec![1, 2],
            }),
        }),
    }];
    let (out, _) = push_tree_reduction(
        &mut layers,
        0,
        &partial_grid,
        ReduceOp::Sum,
        &[1, 2],
        split_every,
        "sum-combine",
    );
    Graph::new(layers, vec![out]).unwrap()
}

/// A program over `domain`, summed over every axis by a tree.
pub fn ones_sum_graph(domain: ChunkGrid, program: Program, split_every: u32) -> Graph {
    let axes: Vec<usize> = (0..domain.ndim()).collect();
    let partial_grid = domain.reduced_per_chunk(&axes);
    let mut layers = vec![Layer {
        name: "sum-partial".into(),
        op: LayerOp::Blockwise(Blockwise {
            domain,
            inputs: vec![],
            program,
            reduce: Some(ChunkReduce {
                op: ReduceOp::Sum,
                axes: axes.clone(),
            }),
        }),
    }];
    let (out, _) = push_tree_reduction(
        &mut layers,
        0,
        &partial_grid,
        ReduceOp::Sum,
        &axes,
        split_every,
        "sum-combine",
    );
    Graph::new(layers, vec![out]).unwrap()
}
