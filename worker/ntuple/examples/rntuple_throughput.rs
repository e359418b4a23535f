//! Throughput of reading every readable field of a tree (RNTuple or TTree) cluster by
//! cluster: `cargo run --release -p kaon-ntuple --example rntuple_throughput -- FILE [NAME]`
//! (NAME defaults to `nominal`).

use kaon_ntuple::RootFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: rntuple_throughput FILE [TREE-NAME]")?;
    let name = args.next().unwrap_or_else(|| "nominal".into());
    let t = RootFile::open(&path)?.tree(&name)?;
    let names: Vec<String> = t
        .branches()
        .into_iter()
        .filter(|b| b.unsupported.is_none())
        .map(|b| b.path)
        .collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let start = std::time::Instant::now();
    let mut bytes = 0usize;
    for c in t.clusters() {
        bytes += t.read_many(&refs, c)?.get_array_memory_size();
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "{path}: {} entries, {} fields, {s:.3} s, {:.0} MB/s of Arrow data",
        t.num_entries(),
        names.len(),
        bytes as f64 / s / 1e6
    );
    Ok(())
}
