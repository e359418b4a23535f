//! Reads every numeric branch of a tree (all entries) and prints the rate, on one
//! thread and on all of rayon's threads; with `--uproot PYTHON` it also times
//! uproot's `tree.arrays()` on the same file in the same run.
//!
//! ```text
//! worker/ntuple/tests/fetch-data.sh
//! cargo run --release -p kaon-ntuple --example read_bench -- \
//!     worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root nominal \
//!     --uproot worker/ntuple/tests/data/venv/bin/python [--mmap]
//! ```
use std::time::Instant;

use arrow_array::Array;
use kaon_ntuple::RootFile;

fn best_of<F: FnMut() -> usize>(n: usize, mut f: F) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        bytes = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/synthetic/bench-dilepton-zlib1.root"
    );
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let python = args
        .iter()
        .position(|a| a == "--uproot")
        .and_then(|i| args.get(i + 1));
    let path = pos.first().map(|s| s.as_str()).unwrap_or(default);
    let tree_name = pos
        .get(1)
        .map(|s| s.as_str())
        .filter(|s| Some(*s) != python.map(|p| p.as_str()))
        .unwrap_or("nominal");
    let mmap = args.iter().any(|a| a == "--mmap");
    let file = if mmap {
        RootFile::open_mmap(path)?
    } else {
        RootFile::open(path)?
    };
    let tree = file.tree(tree_name)?;
    let n = tree.num_entries();
    let names: Vec<String> = tree
        .branches()
        .into_iter()
        .filter(|b| {
            b.data_type.as_ref().is_some_and(|t| {
                t.is_primitive()
                    || matches!(t, arrow_schema::DataType::List(f) if f.data_type().is_primitive())
            })
        })
        .map(|b| b.path)
        .collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let file_mb = std::fs::metadata(path)?.len() as f64 / 1e6;
    let run = || {
        let batch = tree.read_many(&refs, 0..n).expect("read");
        batch
            .columns()
            .iter()
            .map(|c| c.get_array_memory_size())
            .sum::<usize>()
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let (t1, bytes) = one.install(|| best_of(3, run));
    let (tn, _) = best_of(3, run);
    let mb = bytes as f64 / 1e6;
    println!(
        "kaon-ntuple ({}): {} branches, {n} entries, {mb:.1} MB of arrays from a {file_mb:.1} MB file",
        if mmap { "mmap" } else { "pread" },
        names.len()
    );
    println!("kaon-ntuple 1 thread : {t1:.3} s  {:.0} MB/s", mb / t1);
    println!(
        "kaon-ntuple {} threads: {tn:.3} s  {:.0} MB/s",
        rayon::current_num_threads(),
        mb / tn
    );
    if let Some(py) = python {
        let script = format!(
            "import time, uproot\n\
             t = uproot.open({path:?})[{tree_name:?}]\n\
             names = {names:?}\n\
             best = 1e9\n\
             for _ in range(3):\n\
             \x20   t0 = time.perf_counter(); a = t.arrays(names, array_cache=None); best = min(best, time.perf_counter() - t0)\n\
             print(best)\n"
        );
        let out = std::process::Command::new(py)
            .arg("-c")
            .arg(script)
            .output()?;
        if !out.status.success() {
            return Err(format!("uproot failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let tu: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        println!("uproot tree.arrays(): {tu:.3} s  {:.0} MB/s", mb / tu);
        println!(
            "ratio: kaon 1 thread {:.2}x uproot, kaon {} threads {:.2}x uproot",
            tu / t1,
            rayon::current_num_threads(),
            tu / tn
        );
    }
    Ok(())
}
