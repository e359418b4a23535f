//! Tests of the public API against straightforward scalar references.

use std::collections::HashMap;

use kaon_graph::testing::{seed_expression_graph, sum_tree_graph};
use kaon_graph::{
    BinaryOp, Blockwise, ChunkGrid, ChunkReduce, Combine, DType, Distribution, Fault, Graph, Instr,
    Layer, LayerOp, Program, ReduceOp, TaskId, UnaryOp, push_tree_reduction,
};
use kaon_kernels::{Chunk, KernelError, KernelOptions, run_task, uniform};

fn opts() -> KernelOptions {
    KernelOptions::default()
}

fn blockwise(
    name: &str,
    domain: ChunkGrid,
    inputs: Vec<u32>,
    program: Program,
    reduce: Option<ChunkReduce>,
) -> Layer {
    Layer {
        name: name.into(),
        op: LayerOp::Blockwise(Blockwise {
            domain,
            inputs,
            program,
            histogram: None,
            reduce,
        }),
    }
}

fn random_program(seed: u64) -> Program {
    let mut p = Program::default();
    p.push(Instr::Random {
        seed,
        distribution: Distribution::Uniform,
    });
    p
}

fn source_program(values: f64) -> Program {
    let mut p = Program::default();
    p.push(Instr::Const(values));
    p
}

/// One blockwise layer reading the "data" chunks given, as inputs of layer 0 (a
/// constant placeholder whose results the test supplies itself).
fn one_input_graph(shape: &[u64], chunks: &[u64], ninputs: usize, program: Program) -> Graph {
    let grid = ChunkGrid::regular(shape, chunks).unwrap();
    let mut layers = Vec::new();
    for i in 0..ninputs {
        layers.push(blockwise(
            &format!("x{i}"),
            grid.clone(),
            vec![],
            source_program(0.0),
            None,
        ));
    }
    layers.push(blockwise(
        "f",
        grid,
        (0..ninputs as u32).collect(),
        program,
        None,
    ));
    Graph::new(layers, vec![ninputs as u32]).unwrap()
}

fn values() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.5,
        -3.75,
        1e-300,
        -1e-310,
        1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.999_999_999,
        -0.999_999_999,
        std::f64::consts::PI,
    ];
    for i in 0..1000 {
        v.push(uniform(9, 0, i) * 4.0 - 2.0);
    }
    v
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 { i64::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

type Unary = fn(f64) -> f64;
type Binary = fn(f64, f64) -> f64;

#[test]
fn unary_ops_match_std() {
    let vals = values();
    let n = vals.len() as u64;
    let ops: [(UnaryOp, Unary); 11] = [
        (UnaryOp::Neg, |x| -x),
        (UnaryOp::Abs, f64::abs),
        (UnaryOp::Sqrt, f64::sqrt),
        (UnaryOp::Exp, f64::exp),
        (UnaryOp::Log, f64::ln),
        (UnaryOp::Sin, f64::sin),
        (UnaryOp::Cos, f64::cos),
        (UnaryOp::Tan, f64::tan),
        (UnaryOp::Arcsin, f64::asin),
        (UnaryOp::Arccos, f64::acos),
        (UnaryOp::Arctan, f64::atan),
    ];
    for (op, reference) in ops {
        let mut p = Program::default();
        let x = p.push(Instr::Input(0));
        p.push(Instr::Unary(op, x));
        let g = one_input_graph(&[n], &[n], 1, p);
        let input = Chunk::f64(vec![n], vals.clone());
        let out = run_task(&g, TaskId { layer: 1, chunk: 0 }, &[&input], &opts()).unwrap();
        assert_eq!(out.shape, vec![n]);
        let got = out.as_f64().unwrap();
        for (&x, &y) in vals.iter().zip(got) {
            let want = reference(x);
            // The vectorized kernels are within 1 ulp of the standard library's, arcsin
            // within 3.
            let vectorized = [UnaryOp::Arccos, UnaryOp::Log, UnaryOp::Sin, UnaryOp::Cos];
            let tolerance = match op {
                UnaryOp::Arcsin => 3,
                op if vectorized.contains(&op) => 1,
                _ => 0,
            };
            assert!(
                same(y, want) || ulps(y, want) <= tolerance,
                "{op:?}({x:e}) = {y:e}, want {want:e}"
            );
        }
    }
}

#[test]
fn binary_ops_match_numpy_semantics() {
    let a = values();
    let b: Vec<f64> = a.iter().rev().copied().collect();
    let n = a.len() as u64;
    let ops: [(BinaryOp, Binary); 7] = [
        (BinaryOp::Add, |x, y| x + y),
        (BinaryOp::Sub, |x, y| x - y),
        (BinaryOp::Mul, |x, y| x * y),
        (BinaryOp::Div, |x, y| x / y),
        (BinaryOp::Pow, f64::powf),
        (BinaryOp::Max, |x, y| {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.max(y)
            }
        }),
        (BinaryOp::Min, |x, y| {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.min(y)
            }
        }),
    ];
    for (op, reference) in ops {
        // vector-vector, vector-constant and constant-vector forms
        for form in 0..3 {
            let mut p = Program::default();
            let x = p.push(Instr::Input(0));
            let y = p.push(Instr::Input(1));
            let c = p.push(Instr::Const(1.5));
            match form {
                0 => p.push(Instr::Binary(op, x, y)),
                1 => p.push(Instr::Binary(op, x, c)),
                _ => p.push(Instr::Binary(op, c, y)),
            };
            let g = one_input_graph(&[n], &[n], 2, p);
            let ia = Chunk::f64(vec![n], a.clone());
            let ib = Chunk::f64(vec![n], b.clone());
            let out = run_task(&g, TaskId { layer: 2, chunk: 0 }, &[&ia, &ib], &opts()).unwrap();
            for (i, &got) in out.as_f64().unwrap().iter().enumerate() {
                let want = match form {
                    0 => reference(a[i], b[i]),
                    1 => reference(a[i], 1.5),
                    _ => reference(1.5, b[i]),
                };
                assert!(
                    same(got, want),
                    "{op:?} form {form} at {i}: {got} vs {want} ({}, {})",
                    a[i],
                    b[i]
                );
            }
        }
    }
}

#[test]
fn a_repeated_input_is_read_through_one_chunk() {
    // Layer 1 reads x twice and y once: inputs [x, y, x]; inputs_of lists x, y.
    let grid = ChunkGrid::regular(&[10], &[4]).unwrap();
    let mut p = Program::default();
    let a = p.push(Instr::Input(0));
    let b = p.push(Instr::Input(1));
    let c = p.push(Instr::Input(2));
    let s = p.push(Instr::Binary(BinaryOp::Add, a, c));
    p.push(Instr::Binary(BinaryOp::Sub, s, b));
    let g = Graph::new(
        vec![
            blockwise("x", grid.clone(), vec![], random_program(1), None),
            blockwise("y", grid.clone(), vec![], random_program(2), None),
            blockwise("f", grid, vec![0, 1, 0], p, None),
        ],
        vec![2],
    )
    .unwrap();
    let task = TaskId { layer: 2, chunk: 2 };
    let mut deps = Vec::new();
    g.inputs_of(task, &mut deps);
    assert_eq!(deps.len(), 2);
    let x = run_task(&g, deps[0], &[], &opts()).unwrap();
    let y = run_task(&g, deps[1], &[], &opts()).unwrap();
    assert_eq!(x.shape, vec![2]);
    let out = run_task(&g, task, &[&x, &y], &opts()).unwrap();
    let (xv, yv) = (x.as_f64().unwrap(), y.as_f64().unwrap());
    for (i, &v) in out.as_f64().unwrap().iter().enumerate() {
        assert_eq!(v, xv[i] + xv[i] - yv[i]);
        assert_eq!(xv[i], uniform(1, 2, i as u64));
    }

    // x + x with a single deduplicated input.
    let grid = ChunkGrid::regular(&[5], &[5]).unwrap();
    let mut p = Program::default();
    let a = p.push(Instr::Input(0));
    let b = p.push(Instr::Input(1));
    p.push(Instr::Binary(BinaryOp::Add, a, b));
    let g = Graph::new(
        vec![
            blockwise("x", grid.clone(), vec![], random_program(1), None),
            blockwise("f", grid, vec![0, 0], p, None),
        ],
        vec![1],
    )
    .unwrap();
    let x = run_task(&g, TaskId { layer: 0, chunk: 0 }, &[], &opts()).unwrap();
    let out = run_task(&g, TaskId { layer: 1, chunk: 0 }, &[&x], &opts()).unwrap();
    for (o, v) in out.as_f64().unwrap().iter().zip(x.as_f64().unwrap()) {
        assert_eq!(*o, 2.0 * v);
    }
    let err = run_task(&g, TaskId { layer: 1, chunk: 0 }, &[&x, &x], &opts()).unwrap_err();
    assert!(
        err.to_string()
            .contains("reads 1 input chunks, but 2 were given"),
        "{err}"
    );
}

/// Reference per-chunk reduction: a plain loop over the elements in C order.
fn reference_reduce(values: &[f64], shape: &[usize], axes: &[usize], op: ReduceOp) -> Vec<f64> {
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(a, &d)| if axes.contains(&a) { 1 } else { d })
        .collect();
    let n_out: usize = out_shape.iter().product();
    let mut out = vec![op.identity(); n_out];
    let mut idx = vec![0usize; shape.len()];
    for &v in values {
        let mut o = 0;
        for (a, &i) in idx.iter().enumerate() {
            o = o * out_shape[a] + if axes.contains(&a) { 0 } else { i };
        }
        out[o] = match op {
            ReduceOp::Sum => out[o] + v,
            ReduceOp::Prod => out[o] * v,
            ReduceOp::Min => out[o].min(v),
            ReduceOp::Max => out[o].max(v),
        };
        for a in (0..shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

fn assert_close(got: &[f64], want: &[f64], rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * w.abs() || same(*g, *w),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// Values of a program `0.5 + u` (so products stay finite) over a whole chunk.
fn offset_random(seed: u64) -> Program {
    let mut p = random_program(seed);
    let half = p.push(Instr::Const(0.5));
    p.push(Instr::Binary(BinaryOp::Add, 0, half));
    p
}

#[test]
fn per_chunk_reductions_match_plain_loops() {
    let shapes: &[(&[u64], &[&[usize]])] = &[
        (
            &[6, 7, 5],
            &[&[0], &[1], &[2], &[0, 1], &[1, 2], &[0, 2], &[0, 1, 2], &[]],
        ),
        (&[3, 1, 4, 2], &[&[1], &[0, 3], &[1, 2], &[0, 1, 2, 3]]),
        (&[2, 3, 4, 5, 6], &[&[0, 2, 4], &[1, 3], &[0, 1, 4]]),
        // Large enough to cut rows and reduced axes into several parallel pieces.
        (&[3, 70_000], &[&[0], &[1], &[0, 1]]),
        (&[50_000, 3], &[&[0], &[1], &[0, 1]]),
        (&[40, 2000, 3], &[&[0, 2], &[1], &[0, 1], &[0, 1, 2]]),
        (&[1500, 1, 2500], &[&[0], &[2], &[0, 1]]),
        (&[7], &[&[0]]),
        (&[], &[&[]]),
        (&[4, 0, 3], &[&[1], &[0], &[0, 1, 2]]),
    ];
    for &(shape, axes_list) in shapes {
        let grid = ChunkGrid::regular(shape, shape).unwrap();
        let ushape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let n: usize = ushape.iter().product();
        let values: Vec<f64> = (0..n as u64).map(|e| 0.5 + uniform(4, 0, e)).collect();
        for &axes in axes_list {
            for op in [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max] {
                if op == ReduceOp::Prod && n > 100_000 {
                    continue;
                }
                let reduce = Some(ChunkReduce {
                    op,
                    axes: axes.to_vec(),
                });
                let g = Graph::new(
                    vec![blockwise(
                        "r",
                        grid.clone(),
                        vec![],
                        offset_random(4),
                        reduce,
                    )],
                    vec![0],
                )
                .unwrap();
                let out = run_task(&g, TaskId { layer: 0, chunk: 0 }, &[], &opts()).unwrap();
                let want_shape: Vec<u64> = shape
                    .iter()
                    .enumerate()
                    .map(|(a, &d)| if axes.contains(&a) { 1 } else { d })
                    .collect();
                assert_eq!(out.shape, want_shape);
                let want = reference_reduce(&values, &ushape, axes, op);
                let rtol = if op == ReduceOp::Sum || op == ReduceOp::Prod {
                    1e-12
                } else {
                    0.0
                };
                assert_close(
                    out.as_f64().unwrap(),
                    &want,
                    rtol,
                    &format!("{op:?} over {axes:?} of {shape:?}"),
                );
            }
        }
    }
}

#[test]
fn min_and_max_reductions_propagate_nan() {
    let grid = ChunkGrid::regular(&[3, 4000], &[3, 4000]).unwrap();
    let mut p = Program::default();
    let x = p.push(Instr::Input(0));
    p.push(Instr::Unary(UnaryOp::Log, x));
    let mut data: Vec<f64> = (0..12_000).map(|i| 1.0 + i as f64).collect();
    data[5000] = -1.0; // log(-1) = NaN in row 1
    let input = Chunk::f64(vec![3, 4000], data);
    for op in [ReduceOp::Min, ReduceOp::Max] {
        for axes in [vec![1], vec![0], vec![0, 1]] {
            let g = Graph::new(
                vec![
                    blockwise("x", grid.clone(), vec![], source_program(0.0), None),
                    blockwise(
                        "r",
                        grid.clone(),
                        vec![0],
                        p.clone(),
                        Some(ChunkReduce {
                            op,
                            axes: axes.clone(),
                        }),
                    ),
                ],
                vec![1],
            )
            .unwrap();
            let out = run_task(&g, TaskId { layer: 1, chunk: 0 }, &[&input], &opts()).unwrap();
            let v = out.as_f64().unwrap();
            let nans = v.iter().filter(|x| x.is_nan()).count();
            assert_eq!(nans, 1, "{op:?} over {axes:?}: {v:?}");
        }
    }
}

/// Runs every task of a graph in order, feeding each its inputs; returns all results.
fn run_graph(g: &Graph) -> HashMap<TaskId, Chunk> {
    let mut results: HashMap<TaskId, Chunk> = HashMap::new();
    let mut deps = Vec::new();
    for i in 0..g.num_tasks() {
        let t = g.task_at(i);
        deps.clear();
        g.inputs_of(t, &mut deps);
        let inputs: Vec<&Chunk> = deps.iter().map(|d| &results[d]).collect();
        let out =
            run_task(g, t, &inputs, &opts()).unwrap_or_else(|e| panic!("{}: {e}", g.task_key(t)));
        let grid = g.grid(t.layer);
        assert_eq!(
            out.shape,
            grid.chunk_shape(&grid.block_index(t.chunk)),
            "{}",
            g.task_key(t)
        );
        results.insert(t, out);
    }
    results
}

/// The output layer's chunks assembled into one C-order array.
fn assemble(g: &Graph, results: &HashMap<TaskId, Chunk>) -> Vec<f64> {
    let layer = g.outputs()[0];
    let grid = g.grid(layer);
    let shape = grid.shape();
    let n: u64 = shape.iter().product();
    let mut out = vec![f64::NAN; n as usize];
    for c in 0..grid.num_chunks() {
        let idx = grid.block_index(c);
        let cs = grid.chunk_shape(&idx);
        let off = grid.chunk_offset(&idx);
        let data = results[&TaskId { layer, chunk: c }].as_f64().unwrap();
        for (e, &v) in data.iter().enumerate() {
            let mut rem = e as u64;
            let mut pos = vec![0u64; cs.len()];
            for a in (0..cs.len()).rev() {
                pos[a] = off[a] + rem % cs[a];
                rem /= cs[a];
            }
            let mut lin = 0u64;
            for a in 0..cs.len() {
                lin = lin * shape[a] + pos[a];
            }
            out[lin as usize] = v;
        }
    }
    out
}

#[test]
fn combine_trees_with_ragged_groups_reduce_everything() {
    // 37 ones in chunks of 1, split_every 4: 37 -> 10 -> 3 -> 1, each level ragged.
    let g = sum_tree_graph(37, 4);
    let results = run_graph(&g);
    assert_eq!(assemble(&g, &results), vec![37.0]);

    // A 2-D array, per-chunk sums over axis 1, combined over axis 1 in groups of 3.
    for op in [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Min, ReduceOp::Max] {
        let domain = ChunkGrid::regular(&[9, 50], &[4, 6]).unwrap(); // 3 x 9 chunks
        let partial = domain.reduced_per_chunk(&[1]);
        let mut layers = vec![blockwise(
            "partial",
            domain,
            vec![],
            offset_random(7),
            Some(ChunkReduce { op, axes: vec![1] }),
        )];
        let (out, grid) = push_tree_reduction(&mut layers, 0, &partial, op, &[1], 3, "combine");
        assert_eq!(grid.numblocks(), vec![3, 1]);
        let g = Graph::new(layers, vec![out]).unwrap();
        let got = assemble(&g, &run_graph(&g));
        // Reference: every element of the whole array, by its chunk's random stream.
        let full = ChunkGrid::regular(&[9, 50], &[4, 6]).unwrap();
        let mut want = vec![op.identity(); 9];
        for c in 0..full.num_chunks() {
            let idx = full.block_index(c);
            let cs = full.chunk_shape(&idx);
            let off = full.chunk_offset(&idx);
            for e in 0..cs[0] * cs[1] {
                let row = (off[0] + e / cs[1]) as usize;
                let v = 0.5 + uniform(7, c, e);
                want[row] = match op {
                    ReduceOp::Sum => want[row] + v,
                    ReduceOp::Prod => want[row] * v,
                    ReduceOp::Min => want[row].min(v),
                    ReduceOp::Max => want[row].max(v),
                };
            }
        }
        assert_close(&got, &want, 1e-12, &format!("{op:?}"));
    }
}

#[test]
fn combine_reduces_inputs_that_are_not_yet_reduced() {
    // A combine step directly over an unreduced 2-D layer: chunks (2, 3), groups of 2
    // along axis 1 (ragged: 3 chunks), so each input chunk is summed over axis 1 first.
    let domain = ChunkGrid::regular(&[4, 8], &[2, 3]).unwrap();
    for op in [ReduceOp::Sum, ReduceOp::Max] {
        let layers = vec![
            blockwise("x", domain.clone(), vec![], random_program(3), None),
            Layer {
                name: "c".into(),
                op: LayerOp::Combine(Combine {
                    input: 0,
                    op,
                    axes: vec![1],
                    split_every: 2,
                }),
            },
        ];
        let g = Graph::new(layers, vec![1]).unwrap();
        assert_eq!(g.grid(1).numblocks(), vec![2, 2]);
        let results = run_graph(&g);
        for c in 0..4 {
            let idx = g.grid(1).block_index(c);
            let out = &results[&TaskId { layer: 1, chunk: c }];
            assert_eq!(out.shape, vec![2, 1]);
            let mut want = [op.identity(); 2];
            for j in [idx[1] * 2, idx[1] * 2 + 1] {
                if j >= 3 {
                    continue;
                }
                let chunk = domain.linear_index(&[idx[0], j]);
                let cols = domain.chunk_shape(&[idx[0], j])[1];
                for e in 0..2 * cols {
                    let v = uniform(3, chunk, e);
                    let r = (e / cols) as usize;
                    want[r] = if op == ReduceOp::Sum {
                        want[r] + v
                    } else {
                        want[r].max(v)
                    };
                }
            }
            assert_close(
                out.as_f64().unwrap(),
                &want,
                1e-14,
                &format!("{op:?} chunk {c}"),
            );
        }
    }
}

#[test]
fn seed_expression_matches_a_plain_loop() {
    let shape = [30, 400, 10];
    let chunks = [16, 400, 10];
    let g = seed_expression_graph(shape, chunks, 4);
    let results = run_graph(&g);
    let got = assemble(&g, &results);
    // Reference: element by element with std's asin/acos, a sequential sum per row.
    let grid = ChunkGrid::regular(&shape, &chunks).unwrap();
    let mut want = vec![0.0f64; shape[0] as usize];
    for c in 0..grid.num_chunks() {
        let idx = grid.block_index(c);
        let cs = grid.chunk_shape(&idx);
        let off = grid.chunk_offset(&idx);
        let per_row = cs[1] * cs[2];
        for r in 0..cs[0] {
            let mut s = 0.0;
            for k in 0..per_row {
                let e = r * per_row + k;
                s += uniform(1, c, e).asin() + uniform(2, c, e).acos();
            }
            want[(off[0] + r) as usize] += s;
        }
    }
    assert_close(&got, &want, 1e-12, "seed expression");
    // The per-chunk result has the documented shape.
    let partial = &results[&TaskId { layer: 0, chunk: 1 }];
    assert_eq!(partial.shape, vec![14, 1, 1]);
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let graphs = [
        seed_expression_graph([100, 1000, 10], [100, 1000, 10], 4),
        {
            // all axes, and the leading axis, of a long chunk
            let domain = ChunkGrid::regular(&[300_000, 7], &[300_000, 7]).unwrap();
            Graph::new(
                vec![blockwise(
                    "r",
                    domain,
                    vec![],
                    offset_random(5),
                    Some(ChunkReduce {
                        op: ReduceOp::Sum,
                        axes: vec![0],
                    }),
                )],
                vec![0],
            )
            .unwrap()
        },
        {
            let domain = ChunkGrid::regular(&[2_000_000], &[2_000_000]).unwrap();
            Graph::new(
                vec![blockwise(
                    "r",
                    domain,
                    vec![],
                    offset_random(6),
                    Some(ChunkReduce {
                        op: ReduceOp::Sum,
                        axes: vec![0],
                    }),
                )],
                vec![0],
            )
            .unwrap()
        },
        {
            let domain = ChunkGrid::regular(&[300, 500], &[300, 500]).unwrap();
            Graph::new(
                vec![blockwise("r", domain, vec![], offset_random(6), None)],
                vec![0],
            )
            .unwrap()
        },
    ];
    for g in &graphs {
        let task = TaskId { layer: 0, chunk: 0 };
        let mut outs = Vec::new();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let out = pool.install(|| run_task(g, task, &[], &opts())).unwrap();
            let bits: Vec<u64> = out.as_f64().unwrap().iter().map(|x| x.to_bits()).collect();
            outs.push(bits);
        }
        assert_eq!(outs[0], outs[1]);
        assert_eq!(outs[0], outs[2]);
    }
}

#[test]
fn uniform_follows_the_documented_formula() {
    // Values computed by a separate Python implementation of the documented formula.
    assert_eq!(uniform(0, 0, 0), 0.07068944743685657);
    assert_eq!(uniform(1, 0, 0), 0.6129597877010399);
    assert_eq!(uniform(1, 0, 1), 0.2222544325155985);
    assert_eq!(uniform(2, 5, 123456), 0.6449946481492552);
    assert_eq!(uniform(1, 99, 9999999), 0.8802410390716722);
    assert_eq!(uniform(u64::MAX, u64::MAX, u64::MAX), 0.38212477978452186);
}

#[test]
fn uniform_is_uniform_and_streams_are_distinct() {
    let n = 1_000_000u64;
    let (mut sum, mut sum2) = (0.0, 0.0);
    for e in 0..n {
        let u = uniform(1, 3, e);
        assert!((0.0..1.0).contains(&u));
        sum += u;
        sum2 += u * u;
    }
    let mean = sum / n as f64;
    let var = sum2 / n as f64 - mean * mean;
    assert!((mean - 0.5).abs() < 0.002, "mean {mean}");
    assert!((var - 1.0 / 12.0).abs() < 0.001, "variance {var}");

    // Different seeds and chunks give different, uncorrelated streams.
    let stream = |seed, chunk| {
        (0..10_000u64)
            .map(move |e| uniform(seed, chunk, e))
            .collect::<Vec<_>>()
    };
    let base = stream(1, 0);
    for other in [stream(2, 0), stream(1, 1), stream(0, 0), stream(1, 2)] {
        assert_ne!(base, other);
        let m = 10_000.0;
        let (ma, mb) = (base.iter().sum::<f64>() / m, other.iter().sum::<f64>() / m);
        let cov: f64 = base
            .iter()
            .zip(&other)
            .map(|(a, b)| (a - ma) * (b - mb))
            .sum::<f64>()
            / m;
        let corr = cov / (1.0 / 12.0);
        assert!(corr.abs() < 0.05, "correlation {corr}");
    }
    // The random chunks the kernels compute are these values.
    let domain = ChunkGrid::regular(&[3000], &[1300]).unwrap();
    let g = Graph::new(
        vec![blockwise("x", domain, vec![], random_program(11), None)],
        vec![0],
    )
    .unwrap();
    for c in 0..3 {
        let out = run_task(&g, TaskId { layer: 0, chunk: c }, &[], &opts()).unwrap();
        for (e, &v) in out.as_f64().unwrap().iter().enumerate() {
            assert_eq!(v.to_bits(), uniform(11, c, e as u64).to_bits());
        }
    }
}

fn fault_graph(fault: Fault) -> Graph {
    let mut p = random_program(1);
    p.push(Instr::Fault(fault));
    let domain = ChunkGrid::regular(&[4], &[2]).unwrap();
    Graph::new(vec![blockwise("boom", domain, vec![], p, None)], vec![0]).unwrap()
}

#[test]
fn faults_fail_the_task() {
    let g = fault_graph(Fault::Error("disk on fire".into()));
    let err = run_task(&g, TaskId { layer: 0, chunk: 1 }, &[], &opts()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("disk on fire") && msg.contains("('boom', 1)"),
        "{msg}"
    );
    assert!(matches!(err, KernelError::Fault { .. }));

    let g = fault_graph(Fault::ExitWorker);
    let err = run_task(&g, TaskId { layer: 0, chunk: 0 }, &[], &opts()).unwrap_err();
    assert!(
        err.to_string().contains("fault injection is not allowed"),
        "{err}"
    );
}

#[test]
fn exit_fault_ends_the_process_when_allowed() {
    if std::env::var_os("KAON_KERNELS_EXIT_CHILD").is_some() {
        let g = fault_graph(Fault::ExitWorker);
        let allowed = KernelOptions {
            allow_fault_injection: true,
        };
        let _ = run_task(&g, TaskId { layer: 0, chunk: 0 }, &[], &allowed);
        panic!("the process should have exited");
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "exit_fault_ends_the_process_when_allowed",
            "--test-threads=1",
        ])
        .env("KAON_KERNELS_EXIT_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(101));
}

#[test]
fn wrong_inputs_are_errors_that_name_the_shapes() {
    let mut p = Program::default();
    let x = p.push(Instr::Input(0));
    p.push(Instr::Unary(UnaryOp::Neg, x));
    let g = one_input_graph(&[10, 6], &[4, 6], 1, p);
    let task = TaskId { layer: 1, chunk: 2 }; // the last chunk: shape (2, 6)
    let ok = Chunk::f64(vec![2, 6], vec![1.0; 12]);
    assert_eq!(
        run_task(&g, task, &[&ok], &opts())
            .unwrap()
            .as_f64()
            .unwrap(),
        &[-1.0; 12]
    );

    let wrong = Chunk::f64(vec![4, 6], vec![1.0; 24]);
    let err = run_task(&g, task, &[&wrong], &opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("[4, 6]") && err.contains("[2, 6]"), "{err}");

    let short = Chunk::f64(vec![2, 6], vec![1.0; 11]);
    let err = run_task(&g, task, &[&short], &opts())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("11") && err.contains("12") && err.contains("[2, 6]"),
        "{err}"
    );

    let err = run_task(&g, task, &[], &opts()).unwrap_err().to_string();
    assert!(
        err.contains("reads 1 input chunks, but 0 were given"),
        "{err}"
    );

    let err = run_task(&g, TaskId { layer: 1, chunk: 3 }, &[&ok], &opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not in the graph"), "{err}");
    let err = run_task(&g, TaskId { layer: 9, chunk: 0 }, &[&ok], &opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not in the graph"), "{err}");

    // Combine inputs are checked too.
    let g = sum_tree_graph(5, 2);
    let one = Chunk::f64(vec![1], vec![1.0]);
    let bad = Chunk::f64(vec![2], vec![1.0, 1.0]);
    let task = TaskId { layer: 1, chunk: 0 };
    assert_eq!(
        run_task(&g, task, &[&one, &one], &opts())
            .unwrap()
            .as_f64()
            .unwrap(),
        &[2.0]
    );
    let err = run_task(&g, task, &[&one, &bad], &opts())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("input 1") && err.contains("[2]") && err.contains("[1]"),
        "{err}"
    );
    let err = run_task(&g, task, &[&one], &opts())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reads 2 input chunks, but 1 were given"),
        "{err}"
    );
}

#[test]
fn chunks_round_trip_through_little_endian_bytes() {
    let c = Chunk::f64(vec![2, 3], vec![1.0, -2.5, f64::INFINITY, 0.0, 1e-310, 7.0]);
    assert_eq!(c.dtype(), DType::F64);
    assert_eq!(c.nbytes(), 48);
    let mut bytes = Vec::new();
    c.write_le_bytes(&mut bytes);
    assert_eq!(bytes.len(), 48);
    assert_eq!(&bytes[8..16], &(-2.5f64).to_le_bytes());
    let back = Chunk::from_le_bytes(DType::F64, vec![2, 3], &bytes).unwrap();
    assert_eq!(back, c);

    let err = Chunk::from_le_bytes(DType::F64, vec![2, 3], &bytes[..47])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("47") && err.contains("48") && err.contains("[2, 3]"),
        "{err}"
    );
    let err = Chunk::from_le_bytes(DType::F64, vec![2, 4], &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("64"), "{err}");
    let err = Chunk::from_le_bytes(DType::I32, vec![2, 3], &bytes[..24])
        .unwrap_err()
        .to_string();
    assert!(err.contains("int32"), "{err}");
    let err = Chunk::from_le_bytes(DType::F64, vec![u64::MAX, 4], &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too large"), "{err}");
    let empty = Chunk::from_le_bytes(DType::F64, vec![0, 5], &[]).unwrap();
    assert_eq!(empty.nbytes(), 0);
}

#[test]
fn integer_values_are_exact_int64_and_convert_where_floats_read_them() {
    // x: int64 input beyond 2**53; y = (x * 3 + 2**60) wraps; z = where(x > 2**53,
    // y, iota); f = sqrt(x as float) + 0.5; the program's last value is the int sum.
    let n = 4096u64;
    let xs: Vec<i64> = (0..n as i64)
        .map(|i| (1i64 << 53) + i * 7919 - 9000 + if i % 5 == 0 { i64::MAX / 3 } else { 0 })
        .collect();
    let mut p = Program::default();
    let x = p.push_typed(Instr::Input(0), DType::I64);
    let three = p.push_typed(Instr::ConstInt(3), DType::I64);
    let big = p.push_typed(Instr::ConstInt(1 << 60), DType::I64);
    let y = p.push_typed(Instr::Binary(BinaryOp::Mul, x, three), DType::I64);
    let y = p.push_typed(Instr::Binary(BinaryOp::Add, y, big), DType::I64);
    let bound = p.push_typed(Instr::ConstInt(1 << 53), DType::I64);
    let c = p.push_typed(Instr::Binary(BinaryOp::Gt, x, bound), DType::Bool);
    let i = p.push_typed(Instr::Iota { axis: 0 }, DType::I64);
    let z = p.push_typed(Instr::Select(c, y, i), DType::I64);
    let xf = p.push_typed(Instr::Unary(UnaryOp::CastF64, x), DType::F64);
    let f = p.push(Instr::Unary(UnaryOp::Sqrt, xf));
    let half = p.push(Instr::Const(0.5));
    let f = p.push(Instr::Binary(BinaryOp::Add, f, half));
    let fi = p.push_typed(Instr::Unary(UnaryOp::CastI64, f), DType::I64);
    p.push_typed(Instr::Binary(BinaryOp::Add, z, fi), DType::I64);
    let want: Vec<i64> = xs
        .iter()
        .enumerate()
        .map(|(e, &x)| {
            let y = x.wrapping_mul(3).wrapping_add(1 << 60);
            let z = if x > 1 << 53 { y } else { e as i64 };
            z.wrapping_add(((x as f64).sqrt() + 0.5) as i64)
        })
        .collect();
    let input = Chunk::i64(vec![n], xs.clone());
    let g = one_input_graph(&[n], &[n], 1, p.clone());
    let out = run_task(&g, TaskId { layer: 1, chunk: 0 }, &[&input], &opts()).unwrap();
    assert_eq!(out.dtype(), DType::I64);
    assert_eq!(out.as_i64().unwrap(), &want[..]);

    // The same program reduced inside the chunk, then combined: wrapping int64 sums.
    let grid = ChunkGrid::regular(&[n], &[n / 4]).unwrap();
    let mut layers = vec![blockwise(
        "x",
        grid.clone(),
        vec![],
        source_program(0.0),
        None,
    )];
    layers.push(blockwise(
        "sum",
        grid.clone(),
        vec![0],
        p,
        Some(ChunkReduce {
            op: ReduceOp::Sum,
            axes: vec![0],
        }),
    ));
    let root = push_tree_reduction(
        &mut layers,
        1,
        &ChunkGrid::regular(&[4], &[1]).unwrap(),
        ReduceOp::Sum,
        &[0],
        4,
        "total",
    )
    .0;
    let g = Graph::new(layers, vec![root]).unwrap();
    let mut partials = Vec::new();
    for c in 0..4u64 {
        let part = Chunk::i64(
            vec![n / 4],
            xs[(c * n / 4) as usize..((c + 1) * n / 4) as usize].to_vec(),
        );
        let out = run_task(&g, TaskId { layer: 1, chunk: c }, &[&part], &opts()).unwrap();
        partials.push(out);
    }
    let refs: Vec<&Chunk> = partials.iter().collect();
    let total = run_task(
        &g,
        TaskId {
            layer: root,
            chunk: 0,
        },
        &refs,
        &opts(),
    )
    .unwrap();
    // Iota counts within the chunk's position in the array, so recompute per chunk.
    let want_total = (0..4usize)
        .flat_map(|c| {
            let lo = c * n as usize / 4;
            xs[lo..lo + n as usize / 4]
                .iter()
                .enumerate()
                .map(move |(e, &x)| {
                    let y = x.wrapping_mul(3).wrapping_add(1 << 60);
                    let z = if x > 1 << 53 { y } else { (lo + e) as i64 };
                    z.wrapping_add(((x as f64).sqrt() + 0.5) as i64)
                })
        })
        .fold(0i64, i64::wrapping_add);
    assert_eq!(total.as_i64().unwrap(), &[want_total]);
    let bytes = {
        let mut b = Vec::new();
        total.write_le_bytes(&mut b);
        b
    };
    assert_eq!(
        Chunk::from_le_bytes(DType::I64, vec![1], &bytes).unwrap(),
        total
    );
}
