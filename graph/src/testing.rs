//! Small graphs that the tests of every crate share.

use crate::graph::{Blockwise, ChunkReduce, Layer, LayerOp};
use crate::ntuple::{
    BranchDecl, BranchKind, HistAxis, HistSpec, NtupleOutput, NtupleScan, Partition, Prim, Reducer,
    Step,
};
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
            histogram: None,
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
            histogram: None,
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

/// A dilepton-style ntuple scan over `files` cut into `parts` partitions of `per` entries
/// each (no file is read to build it): a filter, a define, and a 1-D histogram plus a
/// count, merged by a tree of combine steps.
pub fn ntuple_histogram_graph(files: &[&str], parts: u64, per: u64, split_every: u32) -> Graph {
    let partitions = (0..parts)
        .map(|i| Partition {
            file: (i % files.len() as u64) as u32,
            start: (i / files.len() as u64) * per,
            stop: (i / files.len() as u64 + 1) * per,
        })
        .collect();
    let branch = |name: &str, kind: BranchKind| BranchDecl {
        name: name.into(),
        kind,
    };
    let scan = NtupleScan {
        tree: "nominal".into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        partitions,
        branches: vec![
            branch("lep_n", BranchKind::Scalar(Prim::I32)),
            branch("lep_pt", BranchKind::List(Prim::F32)),
            branch("lep_eta", BranchKind::List(Prim::F32)),
            branch("lep_phi", BranchKind::List(Prim::F32)),
            branch("lep_E", BranchKind::List(Prim::F32)),
        ],
        steps: vec![
            Step::Filter("lep_n == 2 && lep_pt[0] > 25".into()),
            Step::Define {
                name: "mll".into(),
                expr: "mass(lep_pt, lep_eta, lep_phi, lep_E)".into(),
            },
        ],
        output: NtupleOutput::Reduce(vec![
            Reducer::Histogram(HistSpec {
                axes: vec![HistAxis {
                    expr: "mll".into(),
                    bins: 50,
                    low: 0.0,
                    high: 250.0,
                }],
                weight: None,
            }),
            Reducer::Count,
        ]),
    };
    let grid = scan.grid().expect("a valid scan");
    let mut layers = vec![Layer {
        name: "dilepton".into(),
        op: LayerOp::Ntuple(scan),
    }];
    let (out, _) = push_tree_reduction(
        &mut layers,
        0,
        &grid,
        ReduceOp::Sum,
        &[0],
        split_every,
        "dilepton-combine",
    );
    Graph::new(layers, vec![out]).unwrap()
}
