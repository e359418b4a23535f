//! Lowered layout, linear-algebra, scan, mask and histogram graphs: expansion is
//! consistent both ways, and running every task through the worker's kernels (no
//! cluster, no sockets) gives the values a direct computation gives.

use kaon_client::array::{Array, Index, lower};
use kaon_graph::dtype::Scalar;
use kaon_graph::{BinaryOp, DType, Graph, LiteralValues, ReduceOp, TaskId};
use kaon_kernels::{Chunk, KernelOptions, run_task};
use std::collections::HashMap;

/// Checks that `inputs_of` and `dependents_of` are inverses over the whole graph.
fn assert_consistent(g: &Graph) {
    let (mut inputs, mut deps) = (Vec::new(), Vec::new());
    for i in 0..g.num_tasks() {
        let t = g.task_at(i);
        inputs.clear();
        g.inputs_of(t, &mut inputs);
        for &input in &inputs {
            deps.clear();
            g.dependents_of(input, &mut deps);
            assert!(
                deps.contains(&t),
                "{t:?} reads {input:?}, which does not list it"
            );
        }
        deps.clear();
        g.dependents_of(t, &mut deps);
        for &d in &deps {
            inputs.clear();
            g.inputs_of(d, &mut inputs);
            assert!(
                inputs.contains(&t),
                "{d:?} is listed as reading {t:?}, but does not"
            );
        }
    }
}

/// Runs every task in index order (layers are in dependency order) and assembles the
/// outputs into dense arrays in C order.
fn run(arrays: &[&Array]) -> Vec<Vec<f64>> {
    let (g, outputs) = lower(arrays).unwrap();
    assert_consistent(&g);
    let mut done: HashMap<TaskId, Chunk> = HashMap::new();
    let opts = KernelOptions::default();
    let mut deps = Vec::new();
    for i in 0..g.num_tasks() {
        let t = g.task_at(i);
        deps.clear();
        g.inputs_of(t, &mut deps);
        let inputs: Vec<&Chunk> = deps.iter().map(|d| &done[d]).collect();
        let out = run_task(&g, t, &inputs, &opts).unwrap_or_else(|e| panic!("{e}"));
        done.insert(t, out);
    }
    outputs
        .iter()
        .map(|o| {
            let grid = g.grid(o.layer);
            let shape = grid.shape();
            let n: u64 = shape.iter().product();
            let mut dense = vec![f64::NAN; n as usize];
            for c in 0..grid.num_chunks() {
                let idx = grid.block_index(c);
                let off = grid.chunk_offset(&idx);
                let cs = grid.chunk_shape(&idx);
                let task = TaskId {
                    layer: o.layer,
                    chunk: c,
                };
                for (e, &v) in done[&task].to_f64().unwrap().iter().enumerate() {
                    let mut rem = e as u64;
                    let mut pos = vec![0; cs.len()];
                    for k in (0..cs.len()).rev() {
                        pos[k] = rem % cs[k];
                        rem /= cs[k];
                    }
                    let flat = (0..cs.len()).fold(0, |f, k| f * shape[k] + off[k] + pos[k]);
                    dense[flat as usize] = v;
                }
            }
            dense
        })
        .collect()
}

/// A 7x5 array of 0..35 in uneven chunks.
fn x() -> Array {
    let values: Vec<f64> = (0..35).map(f64::from).collect();
    Array::from_values(
        LiteralValues::F64(values.into()),
        vec![vec![3, 3, 1], vec![2, 2, 1]],
        DType::F64,
    )
    .unwrap()
}

fn at(i: u64, j: u64) -> f64 {
    (i * 5 + j) as f64
}

#[test]
fn movements_give_numpys_values() {
    let x = x();
    let t = x.transpose(None).unwrap();
    // x[6::-2, 1]
    let s = x
        .index(&[
            Index::Slice {
                start: 6,
                step: -2,
                len: 4,
            },
            Index::Int(1),
        ])
        .unwrap();
    // concatenate([x, x[::-1]]).T.rechunk(...), fused into one layer.
    let rev = x
        .index(&[Index::Slice {
            start: 6,
            step: -1,
            len: 7,
        }])
        .unwrap();
    let c = Array::concatenate(&[&x, &rev], 0).unwrap();
    let ct = c
        .transpose(None)
        .unwrap()
        .rechunk(vec![vec![5], vec![4, 4, 6]])
        .unwrap();
    let r = x.reshape(&[5, 7]).unwrap();
    let st = Array::stack(&[&x, &x], 1).unwrap();
    let (g, _) = lower(&[&ct]).unwrap();
    // x, x[::-1], and one layer for the concatenation, transpose and rechunk.
    assert_eq!(
        g.layers().len(),
        3,
        "the movements after the concatenation fuse"
    );
    let out = run(&[&t, &s, &ct, &r, &st]);
    let t_want: Vec<f64> = (0..5).flat_map(|j| (0..7).map(move |i| at(i, j))).collect();
    assert_eq!(out[0], t_want);
    assert_eq!(out[1], vec![at(6, 1), at(4, 1), at(2, 1), at(0, 1)]);
    let ct_want: Vec<f64> = (0..5)
        .flat_map(|j| (0..14).map(move |i| if i < 7 { at(i, j) } else { at(13 - i, j) }))
        .collect();
    assert_eq!(out[2], ct_want);
    assert_eq!(out[3], (0..35).map(f64::from).collect::<Vec<_>>());
    let st_want: Vec<f64> = (0..7)
        .flat_map(|i| (0..2).flat_map(move |_| (0..5).map(move |j| at(i, j))))
        .collect();
    assert_eq!(out[4], st_want);
}

#[test]
fn products_scans_masks_and_histograms_give_numpys_values() {
    let x = x();
    let m = Array::matmul(&x, &x.transpose(None).unwrap()).unwrap();
    let cs = x.cumulative(ReduceOp::Sum, 0).unwrap();
    let h = x.histogram(4, 0.0, 34.0, None, Some(2)).unwrap();
    let mask = x
        .binary_typed(
            BinaryOp::Gt,
            &x.constant_like(Scalar::Float(20.0), DType::F64),
            DType::Bool,
        )
        .unwrap();
    let counts_array = x.mask_counts(&mask).unwrap();
    let counts: Vec<u64> = run(&[&counts_array])[0].iter().map(|&c| c as u64).collect();
    let kept = x.compress(&mask, &counts).unwrap();
    let out = run(&[&m, &cs, &h, &kept]);
    let m_want: Vec<f64> = (0..7)
        .flat_map(|i| (0..7).map(move |k| (0..5).map(|j| at(i, j) * at(k, j)).sum()))
        .collect();
    assert_eq!(out[0], m_want);
    let cs_want: Vec<f64> = (0..7)
        .flat_map(|i| (0..5).map(move |j| (0..=i).map(|r| at(r, j)).sum()))
        .collect();
    assert_eq!(out[1], cs_want);
    // Bins [0, 8.5), [8.5, 17), [17, 25.5), [25.5, 34]: 34 falls in the last.
    assert_eq!(out[2], vec![9.0, 8.0, 9.0, 9.0]);
    assert_eq!(out[3], (21..35).map(f64::from).collect::<Vec<_>>());
}

#[test]
fn bad_layouts_are_refused_with_the_shapes() {
    let x = x();
    let err = x.reshape(&[6, 6]).unwrap_err().to_string();
    assert!(err.contains("size 35") && err.contains("(6, 6)"), "{err}");
    let y = Array::from_values(
        LiteralValues::F64(vec![0.0; 6].into()),
        vec![vec![2], vec![3]],
        DType::F64,
    )
    .unwrap();
    let err = Array::matmul(&x, &y).unwrap_err().to_string();
    assert!(err.contains("(7, 5)") && err.contains("(2, 3)"), "{err}");
    let err = Array::concatenate(&[&x, &y], 0).unwrap_err().to_string();
    assert!(err.contains("(7, 5) and (2, 3)"), "{err}");
    let err = x.index(&[Index::Int(7)]).unwrap_err().to_string();
    assert!(
        err.contains("index 7 is out of bounds for axis 0 with size 7"),
        "{err}"
    );
}
