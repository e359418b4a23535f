//! Prints the first entries of a branch: `peek FILE TREE BRANCH [N]`.
use kaon_ntuple::RootFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        eprintln!("usage: peek FILE TREE BRANCH [N]");
        std::process::exit(2);
    }
    let tree = RootFile::open(&a[0])?.tree(&a[1])?;
    let n = a
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5u64)
        .min(tree.num_entries());
    let arr = tree.read(&a[2], 0..n)?;
    println!("{arr:?}");
    Ok(())
}
