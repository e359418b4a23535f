//! Prints the trees, branches (with types) and, with `--streamers`, the class
//! layouts of a ROOT file: `cargo run -p kaon-ntuple --example inspect -- FILE`.
use kaon_ntuple::RootFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: inspect FILE [--streamers]");
        std::process::exit(2);
    };
    let file = RootFile::open(path)?;
    if args.iter().any(|a| a == "--streamers") {
        for info in file.streamer_infos()?.iter() {
            println!("class {} v{}", info.name, info.class_version);
            for e in &info.elements {
                println!(
                    "    {:<24} {:<28} type {:<4} {} {:?}",
                    e.name, e.type_name, e.etype, e.class, e.title
                );
            }
        }
    }
    for name in file.list_trees() {
        let tree = file.tree(&name)?;
        println!(
            "tree {name}: {} entries, clusters {:?}",
            tree.num_entries(),
            tree.clusters().len()
        );
        for b in tree.branches() {
            println!("    {:<40} {:<16} {}", b.path, b.class, b.type_name);
        }
    }
    Ok(())
}
