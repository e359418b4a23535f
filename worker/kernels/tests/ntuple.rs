//! Ntuple kernels on the synthetic dilepton files of kaon-ntuple's test data (written
//! by uproot; `make test-data` fetches and generates them), against a reference
//! computed event by event from the reader's arrays.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type};
use arrow_array::{Array, ArrayRef};
use kaon_graph::{
    BranchDecl, BranchKind, Graph, HistAxis, HistSpec, Layer, LayerOp, NtupleOutput, NtupleScan,
    Partition, Prim, ReduceOp, Reducer, Step, TaskId, push_tree_reduction,
};
use kaon_kernels::{Chunk, KernelOptions, run_task};

fn data(name: &str) -> String {
    let p = format!(
        "{}/../ntuple/tests/data/synthetic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(
        std::path::Path::new(&p).exists(),
        "{p} is missing: run `make test-data` (worker/ntuple/tests/fetch-data.sh)"
    );
    p
}

fn lepton_branches() -> Vec<BranchDecl> {
    let mut b = vec![BranchDecl {
        name: "lep_n".into(),
        kind: BranchKind::Scalar(Prim::I32),
    }];
    for n in ["lep_pt", "lep_eta", "lep_phi", "lep_E"] {
        b.push(BranchDecl {
            name: n.into(),
            kind: BranchKind::List(Prim::F32),
        });
    }
    b.push(BranchDecl {
        name: "lep_charge".into(),
        kind: BranchKind::List(Prim::I32),
    });
    b
}

const SELECTION: &str =
    "lep_n == 2 && lep_charge[0] + lep_charge[1] == 0 && lep_pt[0] > 25 && lep_pt[1] > 25";

fn partitions(file: &str, step: u64) -> Vec<Partition> {
    let f = kaon_ntuple::RootFile::open(file).unwrap();
    let t = f.tree("nominal").unwrap();
    kaon_graph::plan_partitions(&[t.clusters()], step)
}

fn scan(file: &str, step: u64, steps: Vec<Step>, output: NtupleOutput) -> NtupleScan {
    NtupleScan {
        tree: "nominal".into(),
        files: vec![file.into()],
        partitions: partitions(file, step),
        branches: lepton_branches(),
        steps,
        output,
    }
}

fn dilepton_steps() -> Vec<Step> {
    vec![
        Step::Filter(SELECTION.into()),
        Step::Define {
            name: "mll".into(),
            expr: "mass(lep_pt, lep_eta, lep_phi, lep_E)".into(),
        },
    ]
}

fn mll_axis() -> HistAxis {
    HistAxis {
        expr: "mll".into(),
        bins: 60,
        low: 0.0,
        high: 300.0,
    }
}

/// A graph of one ntuple layer (its tree of sums when it reduces).
fn graph_of(scan: NtupleScan) -> Graph {
    let table = scan.produces_table();
    let grid = scan.grid().unwrap();
    let mut layers = vec![Layer {
        name: "scan".into(),
        op: LayerOp::Ntuple(scan),
    }];
    if table {
        return Graph::new(layers, vec![0]).unwrap();
    }
    let (out, _) = push_tree_reduction(&mut layers, 0, &grid, ReduceOp::Sum, &[0], 3, "sum");
    Graph::new(layers, vec![out]).unwrap()
}

/// Runs every task of a graph in dependency order; returns the output chunks.
fn run_all(g: &Graph) -> Vec<Chunk> {
    let mut results: std::collections::HashMap<TaskId, Chunk> = Default::default();
    for i in 0..g.num_tasks() {
        let t = g.task_at(i);
        let mut deps = Vec::new();
        g.inputs_of(t, &mut deps);
        let inputs: Vec<&Chunk> = deps.iter().map(|d| &results[d]).collect();
        let c =
            run_task(g, t, &inputs, &KernelOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        results.insert(t, c);
    }
    let out = g.outputs()[0];
    (0..g.layer_tasks(out))
        .map(|chunk| results.remove(&TaskId { layer: out, chunk }).unwrap())
        .collect()
}

struct Events {
    pt: Vec<Vec<f32>>,
    eta: Vec<Vec<f32>>,
    phi: Vec<Vec<f32>>,
    e: Vec<Vec<f32>>,
    q: Vec<Vec<i32>>,
}

fn lists_f32(a: &ArrayRef) -> Vec<Vec<f32>> {
    let l = a.as_list::<i32>();
    (0..l.len())
        .map(|i| l.value(i).as_primitive::<Float32Type>().values().to_vec())
        .collect()
}

fn read_events(file: &str) -> Events {
    let f = kaon_ntuple::RootFile::open(file).unwrap();
    let t = f.tree("nominal").unwrap();
    let n = t.num_entries();
    let get = |b: &str| t.read(b, 0..n).unwrap();
    let q = get("lep_charge");
    let ql = q.as_list::<i32>();
    Events {
        pt: lists_f32(&get("lep_pt")),
        eta: lists_f32(&get("lep_eta")),
        phi: lists_f32(&get("lep_phi")),
        e: lists_f32(&get("lep_E")),
        q: (0..ql.len())
            .map(|i| ql.value(i).as_primitive::<Int32Type>().values().to_vec())
            .collect(),
    }
}

/// The selection and mass, event by event.
fn reference_masses(ev: &Events) -> Vec<Option<f64>> {
    (0..ev.pt.len())
        .map(|i| {
            let pt = &ev.pt[i];
            if pt.len() != 2 || ev.q[i][0] + ev.q[i][1] != 0 || pt[0] <= 25.0 || pt[1] <= 25.0 {
                return None;
            }
            let (mut px, mut py, mut pz, mut e) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for (j, &p) in pt.iter().enumerate() {
                let (p, h, f) = (p as f64, ev.eta[i][j] as f64, ev.phi[i][j] as f64);
                px += p * f.cos();
                py += p * f.sin();
                pz += p * h.sinh();
                e += ev.e[i][j] as f64;
            }
            let m2 = e * e - px * px - py * py - pz * pz;
            Some(if m2 < 0.0 { -(-m2).sqrt() } else { m2.sqrt() })
        })
        .collect()
}

#[test]
fn dilepton_histogram_count_and_sum_match_an_event_loop() {
    let file = data("dilepton-zlib.root");
    let ax = mll_axis();
    let g = graph_of(scan(
        &file,
        3000,
        dilepton_steps(),
        NtupleOutput::Reduce(vec![
            Reducer::Histogram(HistSpec {
                axes: vec![ax.clone()],
                weight: None,
            }),
            Reducer::Count,
            Reducer::Sum("mll".into()),
            Reducer::Histogram(HistSpec {
                axes: vec![ax.clone()],
                weight: Some("mll / 100".into()),
            }),
        ]),
    ));
    assert!(g.layer_tasks(0) > 3, "several partitions");
    let out = run_all(&g);
    assert_eq!(out.len(), 1);
    let v = out[0].as_f64().unwrap();
    assert_eq!(out[0].shape, vec![1, 62 + 1 + 1 + 124]);

    let masses: Vec<f64> = reference_masses(&read_events(&file))
        .into_iter()
        .flatten()
        .collect();
    assert!(masses.len() > 500, "{} selected", masses.len());
    let mut counts = vec![0.0; 62];
    let (mut sw, mut sw2) = (vec![0.0; 62], vec![0.0; 62]);
    for &m in &masses {
        let k = ax.index(m);
        counts[k] += 1.0;
        sw[k] += m / 100.0;
        sw2[k] += (m / 100.0) * (m / 100.0);
    }
    assert_eq!(&v[..62], &counts[..]);
    assert_eq!(v[62], masses.len() as f64);
    let sum: f64 = masses.iter().sum();
    assert!((v[63] - sum).abs() <= 1e-9 * sum, "{} vs {sum}", v[63]);
    for k in 0..62 {
        assert!((v[64 + k] - sw[k]).abs() <= 1e-9 * sw[k].max(1.0));
        assert!((v[126 + k] - sw2[k]).abs() <= 1e-9 * sw2[k].max(1.0));
    }
}

#[test]
fn results_are_the_same_for_any_partitioning_and_thread_count() {
    let file = data("dilepton-lz4.root");
    let output = || {
        NtupleOutput::Reduce(vec![Reducer::Histogram(HistSpec {
            axes: vec![
                mll_axis(),
                HistAxis {
                    expr: "lep_pt[0]".into(),
                    bins: 20,
                    low: 0.0,
                    high: 200.0,
                },
            ],
            weight: None,
        })])
    };
    let one = run_all(&graph_of(scan(
        &file,
        1_000_000,
        dilepton_steps(),
        output(),
    )));
    let many = run_all(&graph_of(scan(&file, 1, dilepton_steps(), output())));
    assert_eq!(one, many);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let threaded = pool.install(|| run_all(&graph_of(scan(&file, 1, dilepton_steps(), output()))));
    assert_eq!(one, threaded);
    let total: f64 = one[0].as_f64().unwrap().iter().sum();
    let count = reference_masses(&read_events(&file))
        .iter()
        .filter(|m| m.is_some())
        .count();
    assert_eq!(total, count as f64);
}

#[test]
fn tables_hold_the_selected_events_and_survive_ipc() {
    let file = data("dilepton-zstd.root");
    let g = graph_of(scan(
        &file,
        2000,
        dilepton_steps(),
        NtupleOutput::Table(vec!["lep_pt".into(), "mll".into(), "lep_n".into()]),
    ));
    let parts = run_all(&g);
    assert_eq!(parts.len() as u64, g.layer_tasks(0));
    let ev = read_events(&file);
    let want: Vec<(usize, f64)> = reference_masses(&ev)
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|m| (i, m)))
        .collect();
    let mut got_pt: Vec<Vec<f32>> = Vec::new();
    let mut got_m: Vec<f64> = Vec::new();
    for p in &parts {
        // What the Data service and the spill file carry.
        let mut bytes = Vec::new();
        p.write_le_bytes(&mut bytes);
        let back = Chunk::from_le_bytes(p.dtype(), p.shape.clone(), &bytes).unwrap();
        assert_eq!(&back, p);
        let t = back.as_table().unwrap();
        assert_eq!(t.schema().field(0).name(), "lep_pt");
        assert_eq!(t.column(2).data_type(), &arrow_schema::DataType::Int32);
        got_pt.extend(lists_f32(t.column(0)));
        got_m.extend(
            t.column(1)
                .as_primitive::<arrow_array::types::Float64Type>()
                .values(),
        );
    }
    assert_eq!(got_m.len(), want.len());
    for (k, (i, m)) in want.iter().enumerate() {
        assert_eq!(got_pt[k], ev.pt[*i]);
        assert_eq!(got_m[k], *m);
    }
    // Garbage where a table belongs is an error, not a panic.
    assert!(Chunk::from_le_bytes(kaon_graph::DType::Table, vec![1], b"nonsense").is_err());
    assert!(Chunk::from_le_bytes(kaon_graph::DType::Table, vec![1], b"").is_err());
}

fn run_first(scan: NtupleScan) -> Result<Chunk, String> {
    let g = graph_of(scan);
    run_task(
        &g,
        TaskId { layer: 0, chunk: 0 },
        &[],
        &KernelOptions::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn bad_files_trees_and_branches_are_errors_that_name_them() {
    let file = data("dilepton-none.root");
    let hist = || {
        NtupleOutput::Reduce(vec![Reducer::Histogram(HistSpec {
            axes: vec![mll_axis()],
            weight: None,
        })])
    };
    // A branch the file does not have.
    let mut s = scan(&file, 5000, dilepton_steps(), hist());
    s.branches[1].name = "lep_ptt".into();
    s.steps[0] = Step::Filter("lep_n == 2 && lep_ptt[0] > 25".into());
    s.steps[1] = Step::Define {
        name: "mll".into(),
        expr: "mass(lep_ptt, lep_eta, lep_phi, lep_E)".into(),
    };
    let e = run_first(s).unwrap_err();
    eprintln!("missing branch: {e}");
    for part in [
        "('scan', 0, 0)",
        &file,
        "\"nominal\"",
        "lep_ptt",
        "lep_pt",
        "entries 0..",
    ] {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }

    // A tree the file does not have: the message lists the trees it has.
    let mut s = scan(&file, 5000, dilepton_steps(), hist());
    s.tree = "nominall".into();
    let e = run_first(s).unwrap_err();
    assert!(e.contains("nominall") && e.contains("\"nominal\""), "{e}");

    // A branch whose type differs from the plan.
    let mut s = scan(&file, 5000, dilepton_steps(), hist());
    s.branches[1].kind = BranchKind::List(Prim::F64);
    let e = run_first(s).unwrap_err();
    eprintln!("type change: {e}");
    assert!(e.contains("lep_pt") && e.contains("list of float32"), "{e}");

    // A missing file, and a truncated one.
    let mut s = scan(&file, 5000, dilepton_steps(), hist());
    s.files[0] = "/nonexistent/kaon/missing.root".into();
    let e = run_first(s).unwrap_err();
    assert!(e.contains("/nonexistent/kaon/missing.root"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("truncated.root");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut s = scan(&file, 1_000_000, dilepton_steps(), hist());
    s.files[0] = cut.display().to_string();
    let e = run_first(s).unwrap_err();
    eprintln!("truncated file: {e}");
    assert!(
        e.contains("truncated.root") && e.contains("('scan', 0, 0)"),
        "{e}"
    );

    // Two jagged branches of different counters in one operation.
    let mut s = scan(&data("dilepton-zlib.root"), 1_000_000, vec![], hist());
    s.branches.push(BranchDecl {
        name: "jet_pt".into(),
        kind: BranchKind::List(Prim::F64),
    });
    s.steps = vec![Step::Define {
        name: "mll".into(),
        expr: "sum(lep_pt + jet_pt)".into(),
    }];
    let e = run_first(s).unwrap_err();
    eprintln!("jagged mismatch: {e}");
    assert!(
        e.contains("define 1") && e.contains("different numbers of objects"),
        "{e}"
    );
}

#[test]
fn fixed_size_arrays_strings_and_every_scalar_type_are_columns() {
    let file = data("dilepton-zlib.root");
    let f = kaon_ntuple::RootFile::open(&file).unwrap();
    let t = f.tree("nominal").unwrap();
    let mut branches = Vec::new();
    for b in t.branches() {
        if let Some(dt) = &b.data_type {
            branches.push(BranchDecl {
                name: b.name.clone(),
                kind: kaon_kernels::ntuple::branch_kind(dt),
            });
        }
    }
    assert!(
        branches
            .iter()
            .any(|b| b.name == "fix3" && b.kind == BranchKind::List(Prim::F64))
    );
    let names: Vec<String> = branches.iter().map(|b| b.name.clone()).collect();
    let mut s = scan(
        &file,
        1_000_000,
        vec![
            Step::Define {
                name: "f".into(),
                expr: "sum(fix3) + v_i8 + v_u8 + v_i16 + v_u16 + v_u32 + v_i64 * 0 + met_et \
                       + where(trigE, 1, 0) + count(jet_flag) + max(jet_id) * 0"
                    .into(),
            },
            Step::Filter("!isnan(v_nan) && fix3[2] > -1000".into()),
        ],
        NtupleOutput::Table(names.iter().cloned().chain(["f".to_string()]).collect()),
    );
    s.branches = branches;
    let c = run_first(s).unwrap();
    let table = c.as_table().unwrap();
    let n = t.num_entries();
    let nan = t.read("v_nan", 0..n).unwrap();
    let kept = nan
        .as_primitive::<arrow_array::types::Float64Type>()
        .values()
        .iter()
        .filter(|v| !v.is_nan())
        .count();
    // The first partition covers the whole file (one big step).
    assert_eq!(table.num_rows(), kept);
    assert_eq!(table.num_columns(), names.len() + 1);
    let fix = table.column_by_name("fix3").unwrap();
    assert!(matches!(
        fix.data_type(),
        arrow_schema::DataType::FixedSizeList(_, 3)
    ));
    // A branch expressions cannot use still goes into tables.
    let nested = table.column_by_name("fix2x3").unwrap();
    assert_eq!(nested.len(), kept);
}

/// Branches that no expression reads whole stay in their Arrow form (indexed in place,
/// compacted by filters); the results must be those of converted columns.
#[test]
fn columns_read_in_place_give_the_same_results_as_converted_ones() {
    let file = data("dilepton-lzma.root");
    let f = kaon_ntuple::RootFile::open(&file).unwrap();
    let t = f.tree("nominal").unwrap();
    let branches: Vec<BranchDecl> = [
        "fix3", "jet_flag", "jet_pt", "lep_pt", "lep_eta", "met_et", "trigE", "lep_n",
    ]
    .iter()
    .map(|n| BranchDecl {
        name: n.to_string(),
        kind: kaon_kernels::ntuple::branch_kind(t.branch(n).unwrap().data_type.as_ref().unwrap()),
    })
    .collect();
    let axis = |e: &str, bins, low, high| HistAxis {
        expr: e.into(),
        bins,
        low,
        high,
    };
    let hist = |a: HistAxis| {
        Reducer::Histogram(HistSpec {
            axes: vec![a],
            weight: None,
        })
    };
    let output = || {
        NtupleOutput::Reduce(vec![
            hist(axis("met_et", 40, 0.0, 200.0)),
            hist(axis("sum(jet_pt)", 40, 0.0, 400.0)),
            hist(axis("lep_eta", 10, -2.5, 2.5)),
            hist(axis("where(trigE, lep_n, -1)", 12, -2.0, 10.0)),
            Reducer::Count,
            Reducer::Sum("count(jet_flag)".into()),
        ])
    };
    let cut = "fix3[0] > -0.5 && jet_flag[0] && lep_pt[-1] > 20 && !(jet_flag[1])";
    let in_place = vec![
        Step::Filter(cut.into()),
        Step::Filter("lep_pt[0] > 25".into()),
    ];
    let converted = vec![
        Step::Define {
            name: "force".into(),
            expr: "sum(fix3) + count(jet_flag) + sum(jet_pt) + sum(lep_pt) + sum(lep_eta) \
                   + met_et + where(trigE, 1, 0) + lep_n"
                .into(),
        },
        Step::Filter(cut.into()),
        Step::Filter("lep_pt[0] > 25".into()),
    ];
    let run = |steps: Vec<Step>| {
        let mut s = scan(&file, 1000, steps, output());
        s.branches = branches.clone();
        run_all(&graph_of(s))
    };
    let a = run(in_place);
    let b = run(converted);
    assert_eq!(a, b);
    let v = a[0].as_f64().unwrap();
    let count = v[42 + 42 + 12 + 14];
    assert!(count > 100.0, "{count} events selected");
}

/// `&&` in a filter tests its right side only on the events its left side keeps (as
/// in C++ and RDataFrame), so a guard on the left makes the right side safe.
#[test]
fn and_in_a_filter_short_circuits_like_separate_filters() {
    let file = data("dilepton-lzma.root");
    let f = kaon_ntuple::RootFile::open(&file).unwrap();
    let t = f.tree("nominal").unwrap();
    let branches: Vec<BranchDecl> = ["jet_pt", "lep_pt", "lep_n"]
        .iter()
        .map(|n| BranchDecl {
            name: n.to_string(),
            kind: kaon_kernels::ntuple::branch_kind(
                t.branch(n).unwrap().data_type.as_ref().unwrap(),
            ),
        })
        .collect();
    let run = |steps: Vec<Step>| {
        let mut s = scan(
            &file,
            1000,
            steps,
            NtupleOutput::Table(vec!["lep_n".into(), "lep_pt".into(), "jet_pt".into()]),
        );
        s.branches = branches.clone();
        let g = graph_of(s);
        (0..g.layer_tasks(0))
            .map(|chunk| {
                run_task(
                    &g,
                    TaskId { layer: 0, chunk },
                    &[],
                    &KernelOptions::default(),
                )
                .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let guard = "count(lep_pt) == count(jet_pt)";
    let cut = "sum(lep_pt + jet_pt) > 50";
    let chained = run(vec![Step::Filter(format!("{guard} && lep_n > 0 && {cut}"))]).unwrap();
    let separate = run(vec![
        Step::Filter(guard.into()),
        Step::Filter("lep_n > 0".into()),
        Step::Filter(cut.into()),
    ])
    .unwrap();
    assert_eq!(chained, separate);
    let kept: usize = chained
        .iter()
        .map(|c| c.as_table().unwrap().num_rows())
        .sum();
    assert!(kept > 10, "{kept} events kept");
    // Without the guard first, the sum meets events with different counts.
    let err = run(vec![Step::Filter(format!("{cut} && {guard}"))]).unwrap_err();
    assert!(err.contains("different numbers of objects"), "{err}");
}
