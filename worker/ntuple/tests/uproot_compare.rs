//! Values read by kaon-ntuple against uproot's, for real files (scikit-hep-testdata
//! 0.3.12) and synthetic ones written by uproot. Needs tests/fetch-data.sh.

mod common;

use common::*;
use kaon_ntuple::RootFile;

#[derive(Default)]
struct Outcome {
    /// Trees uproot lists in the file.
    trees: usize,
    matched: usize,
    errors: Vec<String>,
    mismatches: Vec<String>,
}

fn check_file(rel: &str) -> Outcome {
    let r = load_ref(rel);
    let mut out = Outcome {
        trees: r.trees.len(),
        ..Outcome::default()
    };
    if r.trees.is_empty() {
        // no TTree uproot can list (histograms only, RNTuple, ...): opening must
        // still work or fail cleanly
        let _ = RootFile::open(&r.file).map(|f| f.list_trees());
        return out;
    }
    let file = match RootFile::open(&r.file) {
        Ok(f) => f,
        Err(e) => {
            out.errors.push(format!("{rel}: open: {e}"));
            return out;
        }
    };
    let trees = file.list_trees();
    for t in &r.trees {
        if !trees.contains(&t.path) {
            out.mismatches
                .push(format!("{rel}: tree {} not listed ({trees:?})", t.path));
            continue;
        }
        let tree = match file.tree(&t.path) {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(format!("{rel}: {e}"));
                continue;
            }
        };
        if tree.num_entries() != t.entries {
            out.mismatches.push(format!(
                "{rel}:{}: {} entries, uproot {}",
                t.path,
                tree.num_entries(),
                t.entries
            ));
        }
        let mut seen = std::collections::HashMap::new();
        for b in &t.branches {
            // uproot lists two branches of the same path twice; kaon names the
            // later ones "path#2", ...
            let n: &mut usize = seen.entry(b.path.clone()).or_default();
            *n += 1;
            let path = if *n > 1 {
                format!("{}#{}", b.path, n)
            } else {
                b.path.clone()
            };
            let arr = match tree.read(&path, 0..t.entries) {
                Ok(a) => a,
                Err(e) => {
                    out.errors.push(format!("{e} [uproot: {}]", b.interp));
                    continue;
                }
            };
            if b.path.ends_with(".fBits") && b.kind == "jagged" {
                // uproot decodes TObject::fBits of referenced objects in split
                // collections as if every object took 4 bytes (it takes 6): check
                // the item counts against the collection's size branch instead
                match bits_counts_match(&tree, &b.path, &arr) {
                    Ok(()) => out.matched += 1,
                    Err(m) => out
                        .mismatches
                        .push(format!("{rel}:{}:{}: {m}", t.path, b.path)),
                }
                continue;
            }
            match compare(&arr, b, 0..t.entries as usize) {
                Ok(()) => out.matched += 1,
                Err(m) => out
                    .mismatches
                    .push(format!("{rel}:{}:{} ({}): {m}", t.path, b.path, b.interp)),
            }
            if let Ok(info) = tree.branch(&path)
                && info.basket_boundaries != b.baskets
            {
                out.mismatches.push(format!(
                    "{rel}:{}:{}: basket boundaries {:?}, uproot {:?}",
                    t.path, b.path, info.basket_boundaries, b.baskets
                ));
            }
        }
    }
    out
}

fn bits_counts_match(
    tree: &kaon_ntuple::Tree,
    path: &str,
    arr: &arrow_array::ArrayRef,
) -> Result<(), String> {
    use arrow_array::cast::AsArray;
    // the parent branch of a collection member holds the collection's size
    let coll = path.rsplit_once('/').map(|(p, _)| p).unwrap_or(path);
    let sizes = tree
        .read(coll, 0..tree.num_entries())
        .map_err(|e| e.to_string())?;
    let sizes: Vec<i64> = match sizes.as_primitive_opt::<arrow_array::types::Int32Type>() {
        Some(a) => a.values().iter().map(|&v| v as i64).collect(),
        None => sizes
            .as_primitive::<arrow_array::types::UInt32Type>()
            .values()
            .iter()
            .map(|&v| v as i64)
            .collect(),
    };
    let list = arr.as_list::<i32>();
    let counts: Vec<i64> = list
        .value_offsets()
        .windows(2)
        .map(|w| (w[1] - w[0]) as i64)
        .collect();
    if counts != sizes {
        return Err(format!(
            "fBits counts {counts:?}, collection sizes {sizes:?}"
        ));
    }
    Ok(())
}

/// The files the reader must read completely: every branch uproot reads as
/// numbers, fixed or jagged arrays, vectors or strings.
const MUST_READ: &[&str] = &[
    "skhep/uproot-HZZ.root",
    "skhep/uproot-HZZ-lz4.root",
    "skhep/uproot-HZZ-lzma.root",
    "skhep/uproot-HZZ-zlib.root",
    "skhep/uproot-HZZ-zstd.root",
    "skhep/uproot-HZZ-uncompressed.root",
    "skhep/uproot-Zmumu.root",
    "skhep/uproot-Zmumu-lz4.root",
    "skhep/uproot-Zmumu-lzma.root",
    "skhep/uproot-Zmumu-zstd.root",
    "skhep/uproot-sample-5.23.02-zlib.root",
    "skhep/uproot-sample-5.26.00-uncompressed.root",
    "skhep/uproot-sample-5.30.00-lzma.root",
    "skhep/uproot-sample-6.08.04-zlib.root",
    "skhep/uproot-sample-6.10.05-lz4.root",
    "skhep/uproot-sample-6.14.00-lzma.root",
    "skhep/uproot-sample-6.16.00-lz4.root",
    "skhep/uproot-sample-6.18.00-uncompressed.root",
    "skhep/uproot-sample-6.20.04-lz4.root",
    "skhep/uproot-sample-6.20.04-zlib.root",
    "skhep/uproot-issue513.root",
    "skhep/uproot-issue79.root",
    "skhep/uproot-issue60.root",
    "skhep/uproot-issue187.root",
    "skhep/uproot-issue21.root",
    "skhep/uproot-issue412.root",
    "skhep/uproot-small-evnt-tree-fullsplit.root",
    "skhep/uproot-small-flat-tree.root",
    "skhep/uproot-nesteddirs.root",
    "skhep/uproot-double32-float16.root",
    "skhep/uproot-demo-double32.root",
    "skhep/uproot-stl_containers.root",
    "skhep/uproot-small-dy-withoffsets.root",
    "skhep/uproot-issue63.root",
    "synthetic/dilepton-zlib.root",
    "synthetic/dilepton-lz4.root",
    "synthetic/dilepton-lzma.root",
    "synthetic/dilepton-zstd.root",
    "synthetic/dilepton-none.root",
    "synthetic/dilepton-onebasket-zlib.root",
    "synthetic/dilepton-tinybaskets-lz4.root",
    "synthetic/nested-dirs.root",
    "synthetic/bigbasket-zlib.root",
    "synthetic/bigbasket-lz4.root",
    "synthetic/bigbasket-zstd.root",
    "synthetic/bigbasket-lzma.root",
];

#[test]
fn must_read_files_match_uproot_exactly() {
    require_data();
    let mut matched = 0;
    let mut problems = Vec::new();
    for rel in MUST_READ {
        let o = check_file(rel);
        assert!(o.matched > 0, "{rel}: nothing compared");
        matched += o.matched;
        problems.extend(o.errors);
        problems.extend(o.mismatches);
    }
    println!(
        "{matched} branches equal to uproot's in {} files",
        MUST_READ.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every file of the test data: each branch either equals uproot's or is refused
/// with an error; a different value is a failure.
#[test]
fn every_file_equal_or_refused() {
    let files = all_ref_files();
    let (mut matched, mut errors, mut mismatches) = (0, Vec::new(), Vec::new());
    let mut table = Table::default();
    for rel in &files {
        let o = check_file(rel);
        table.add(rel, &o);
        matched += o.matched;
        errors.extend(o.errors);
        mismatches.extend(o.mismatches);
    }
    table.check_readme();
    println!(
        "{} files: {matched} branches equal to uproot's, {} refused",
        files.len(),
        errors.len()
    );
    for e in &errors {
        println!("refused: {e}");
    }
    assert!(
        mismatches.is_empty(),
        "{} branches differ from uproot:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The README's table of files and branches read vs uproot, made from the comparison
/// itself: the test fails when the README's copy is out of date, and
/// `KAON_BLESS=1 cargo test -p kaon-ntuple --test uproot_compare` rewrites it.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    without_trees: Vec<String>,
    totals: (usize, usize, usize, usize),
}

const TABLE_BEGIN: &str =
    "<!-- ntuple-vs-uproot:begin (written by worker/ntuple/tests/uproot_compare.rs) -->";
const TABLE_END: &str = "<!-- ntuple-vs-uproot:end -->";

impl Table {
    fn add(&mut self, rel: &str, o: &Outcome) {
        if o.trees == 0 {
            self.without_trees
                .push(format!("`{}`", rel.rsplit('/').next().unwrap_or(rel)));
            return;
        }
        let refused = o.errors.len() + o.mismatches.len();
        let why = o
            .errors
            .first()
            .map(|e| {
                // the reason from the tree on: the row names the file already
                let reason = e.find("tree \"").map_or(e.as_str(), |i| &e[i..]);
                let reason: String = reason.chars().take(90).collect();
                reason.replace('|', "\\|").replace('\n', " ")
            })
            .unwrap_or_default();
        self.rows.push(format!(
            "| `{rel}` | {} | {} | {refused} | {why} |",
            o.trees, o.matched
        ));
        self.totals.0 += 1;
        self.totals.1 += o.trees;
        self.totals.2 += o.matched;
        self.totals.3 += refused;
    }

    fn render(&self) -> String {
        let (files, trees, matched, refused) = self.totals;
        let mut out = vec![
            TABLE_BEGIN.to_string(),
            format!(
                "{files} files with TTrees, {trees} trees: {matched} branches equal to uproot's, \
                 {refused} refused with an error (none read differently)."
            ),
            String::new(),
            "<details><summary>Every file</summary>".into(),
            String::new(),
            "| file | trees | branches equal | refused | first reason refused |".into(),
            "|---|---|---|---|---|".into(),
        ];
        out.extend(self.rows.iter().cloned());
        out.push(String::new());
        out.push(format!(
            "Files with no TTree that uproot lists (histograms, RNTuples, other objects): {}.",
            self.without_trees.join(", ")
        ));
        out.push(String::new());
        out.push("</details>".into());
        out.push(TABLE_END.into());
        out.join("\n")
    }

    fn check_readme(&self) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).expect("read README.md");
        let (Some(begin), Some(end)) = (readme.find(TABLE_BEGIN), readme.find(TABLE_END)) else {
            panic!("README.md has no {TABLE_BEGIN} ... {TABLE_END} block");
        };
        let current = &readme[begin..end + TABLE_END.len()];
        let want = self.render();
        if current == want {
            return;
        }
        if std::env::var_os("KAON_BLESS").is_some() {
            let updated = format!(
                "{}{want}{}",
                &readme[..begin],
                &readme[end + TABLE_END.len()..]
            );
            std::fs::write(&path, updated).expect("write README.md");
            return;
        }
        panic!(
            "README.md's table of files read vs uproot is out of date; rerun with KAON_BLESS=1 \
             to rewrite it. It should read:\n{want}"
        );
    }
}
