//! Reads every numeric branch of a tree (all entries) and prints the rate, on one
//! thread and on all of rayon's threads (best of 5; one thread also in CPU
//! seconds); with `--uproot PYTHON` it also times uproot's `tree.arrays()` on the
//! same file in the same run (uproot opens the file once and reads it `N` times, from
//! its memory map). `--mmap` reads through a map of the file held across reads, as
//! uproot does; `--fresh` opens (maps) the file again for every read, so each read pays
//! for bringing the pages in, as a first read does; `--step K` reads in ranges of `K`
//! entries one after the other.
//!
//! ```text
//! worker/ntuple/tests/fetch-data.sh
//! cargo run --release -p kaon-ntuple --example read_bench -- \
//!     worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root nominal \
//!     --uproot worker/ntuple/tests/data/venv/bin/python [--mmap] [--fresh] [--reps N] \
//!     [--step K]
//! ```
use std::time::Instant;

use arrow_array::Array;
use kaon_ntuple::RootFile;

/// CPU seconds used by this process so far (all threads). The one-thread runs
/// are timed by CPU time as well as wall time: on a busy machine the wall time
/// also counts the time other processes held the core.
fn cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
        unsafe extern "C" {
            fn clock_gettime(clock: i32, t: *mut Timespec) -> i32;
        }
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `t` is a valid timespec (two 64-bit fields on 64-bit Linux).
        if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0 {
            return t.sec as f64 + t.nsec as f64 * 1e-9;
        }
    }
    f64::NAN
}

/// Best wall and CPU seconds of `n` runs of `f`, and what it returned.
fn best_of<F: FnMut() -> usize>(n: usize, mut f: F) -> (f64, f64, usize) {
    let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
    let mut bytes = 0;
    for _ in 0..n {
        let (t, c) = (Instant::now(), cpu_seconds());
        bytes = f();
        wall = wall.min(t.elapsed().as_secs_f64());
        cpu = cpu.min(cpu_seconds() - c);
    }
    (wall, cpu, bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/synthetic/bench-dilepton-zlib1.root"
    );
    // positional arguments: not options, nor the values of `--uproot`, `--reps`, `--step`
    let mut pos: Vec<&String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--uproot" | "--reps" | "--step" => {
                it.next();
            }
            o if o.starts_with("--") => {}
            _ => pos.push(a),
        }
    }
    let python = args
        .iter()
        .position(|a| a == "--uproot")
        .and_then(|i| args.get(i + 1));
    let path = pos.first().map(|s| s.as_str()).unwrap_or(default);
    let tree_name = pos.get(1).map(|s| s.as_str()).unwrap_or("nominal");
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
    // --fresh: open (and for --mmap, map) the file again for every read, so that each
    // read pays for bringing the file's pages in, as a worker's first read does.
    let fresh = args.iter().any(|a| a == "--fresh");
    let step = args
        .iter()
        .position(|a| a == "--step")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(n)
        .max(1);
    let run = || {
        let reopened;
        let tree = if fresh {
            let file = if mmap {
                RootFile::open_mmap(path).expect("open")
            } else {
                RootFile::open(path).expect("open")
            };
            reopened = file.tree(tree_name).expect("tree");
            &reopened
        } else {
            &tree
        };
        // --step N: in ranges of N entries, one after the other, as the workers' tasks
        // read a file (each range's arrays dropped before the next is read).
        let mut bytes = 0;
        let mut at = 0;
        while at < n {
            let stop = (at + step).min(n);
            let batch = tree.read_many(&refs, at..stop).expect("read");
            bytes += batch
                .columns()
                .iter()
                .map(|c| c.get_array_memory_size())
                .sum::<usize>();
            at = stop;
        }
        bytes
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5);
    let (t1, c1, bytes) = one.install(|| best_of(reps, run));
    let (tn, _, _) = best_of(reps, run);
    let mb = bytes as f64 / 1e6;
    println!(
        "kaon-ntuple ({}): {} branches, {n} entries, {mb:.1} MB of arrays from a {file_mb:.1} MB file",
        if mmap { "mmap" } else { "pread" },
        names.len()
    );
    println!(
        "kaon-ntuple 1 thread : {t1:.3} s  {:.0} MB/s  ({c1:.3} CPU s)",
        mb / t1
    );
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
             best = cpu = 1e9\n\
             for _ in range({reps}):\n\
             \x20   t0, c0 = time.perf_counter(), time.process_time(); a = t.arrays(names, array_cache=None)\n\
             \x20   best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)\n\
             print(best, cpu)\n"
        );
        let out = std::process::Command::new(py)
            .arg("-c")
            .arg(script)
            .output()?;
        if !out.status.success() {
            return Err(format!("uproot failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut times = text.split_whitespace().map(str::parse::<f64>);
        let (Some(Ok(tu)), Some(Ok(cu))) = (times.next(), times.next()) else {
            return Err(format!("uproot printed {text:?}").into());
        };
        println!(
            "uproot tree.arrays(): {tu:.3} s  {:.0} MB/s  ({cu:.3} CPU s)",
            mb / tu
        );
        println!(
            "ratio: kaon 1 thread {:.2}x uproot ({:.2}x in CPU s), kaon {} threads {:.2}x uproot",
            tu / t1,
            cu / c1,
            rayon::current_num_threads(),
            tu / tn
        );
    }
    Ok(())
}
