//! Times the dilepton selection + mass histogram kernel on one ROOT file, task by task
//! on one thread, next to reading the same branches alone: what one worker thread
//! spends per partition.
//!
//! ```text
//! cargo run --release -p kaon-kernels --example ntuple_task -- \
//!     worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root [STEP_SIZE]
//! ```

use std::time::Instant;

use kaon_graph::{
    BranchDecl, BranchKind, Graph, HistAxis, HistSpec, Layer, LayerOp, NtupleOutput, NtupleScan,
    Prim, Reducer, Step, TaskId,
};
use kaon_kernels::{KernelOptions, run_task};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .expect("a ROOT file with a `nominal` dilepton tree");
    let step: u64 = args.get(1).map_or(100_000, |s| s.parse().unwrap());
    let file = kaon_ntuple::RootFile::open(path).unwrap();
    let tree = file.tree("nominal").unwrap();
    let partitions = kaon_graph::plan_partitions(&[tree.clusters()], step);
    let mut branches = vec![BranchDecl {
        name: "lep_n".into(),
        kind: BranchKind::Scalar(Prim::I32),
    }];
    for b in ["lep_pt", "lep_eta", "lep_phi", "lep_E"] {
        branches.push(BranchDecl {
            name: b.into(),
            kind: BranchKind::List(Prim::F32),
        });
    }
    branches.push(BranchDecl {
        name: "lep_charge".into(),
        kind: BranchKind::List(Prim::I32),
    });
    let names: Vec<String> = branches.iter().map(|b| b.name.clone()).collect();
    let scan = NtupleScan {
        tree: "nominal".into(),
        files: vec![path.clone()],
        partitions: partitions.clone(),
        branches,
        steps: vec![Step::Filter(
            "lep_n == 2 && lep_charge[0] != lep_charge[1] && lep_pt[0] > 25 && lep_pt[1] > 25"
                .into(),
        )],
        output: NtupleOutput::Reduce(vec![Reducer::Histogram(HistSpec {
            axes: vec![HistAxis {
                expr: "mass(lep_pt, lep_eta, lep_phi, lep_E)".into(),
                bins: 100,
                low: 0.0,
                high: 500.0,
            }],
            weight: None,
        })]),
    };
    let g = Graph::new(
        vec![Layer {
            name: "scan".into(),
            op: LayerOp::Ntuple(scan),
        }],
        vec![0],
    )
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for round in 0..3 {
            let t0 = Instant::now();
            for p in &partitions {
                for n in &names {
                    tree.read(n, p.start..p.stop).unwrap();
                }
            }
            let read = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let mut selected = 0.0;
            for chunk in 0..partitions.len() as u64 {
                let c = run_task(
                    &g,
                    TaskId { layer: 0, chunk },
                    &[],
                    &KernelOptions::default(),
                )
                .unwrap();
                selected += c.as_f64().unwrap().iter().sum::<f64>();
            }
            let task = t0.elapsed().as_secs_f64();
            println!(
                "round {round}: {} partitions; reading the 6 branches {read:.3} s; tasks {task:.3} s \
                 (selection + histogram: {:.3} s); {selected} events selected",
                partitions.len(),
                task - read
            );
        }
    });
}
