//! Errors: clear messages naming file, tree and branch; and no panic on
//! truncated or corrupted files. Needs tests/fetch-data.sh.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use kaon_ntuple::{MemSource, NtupleError, RootFile};

#[test]
fn missing_tree_lists_the_trees_the_file_has() {
    let d = require_data();
    let f = RootFile::open(d.join("synthetic/nested-dirs.root")).unwrap();
    assert_eq!(f.list_trees(), vec!["dir/sub/tree", "dir/tree2", "top"]);
    let e = f.tree("nominal").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NtupleError::MissingTree { .. }), "{e:?}");
    assert!(
        msg.contains("nested-dirs.root") && msg.contains("\"nominal\""),
        "{msg}"
    );
    assert!(
        msg.contains("\"dir/sub/tree\"") && msg.contains("\"top\""),
        "{msg}"
    );
    // a tree in a subdirectory, with and without its cycle
    assert_eq!(f.tree("dir/sub/tree").unwrap().num_entries(), 1002);
    assert_eq!(f.tree("dir/sub/tree;1").unwrap().num_entries(), 1002);
}

#[test]
fn missing_branch_lists_near_matches() {
    let d = require_data();
    let t = RootFile::open(d.join("synthetic/dilepton-zlib.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let e = t.read("lep_ptt", 0..10).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NtupleError::MissingBranch { .. }), "{e:?}");
    assert!(
        msg.contains("dilepton-zlib.root") && msg.contains("\"nominal\""),
        "{msg}"
    );
    assert!(msg.contains("\"lep_pt\""), "{msg}");
    let e = t.read("lep_pt", 10..100_000).unwrap_err();
    assert!(matches!(e, NtupleError::BadRange { .. }), "{e:?}");
}

#[test]
fn unsupported_branch_names_file_tree_and_branch() {
    let d = require_data();
    let t = RootFile::open(d.join("skhep/uproot-vectorVectorDouble.root"))
        .unwrap()
        .tree("t")
        .unwrap();
    let b = t.branches();
    assert!(!b.is_empty());
    let info = &b[0];
    assert!(info.unsupported.is_some(), "{info:?}");
    let e = t.read(&info.path, 0..t.num_entries()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NtupleError::Unsupported { .. }), "{e:?}");
    assert!(
        msg.contains("uproot-vectorVectorDouble.root")
            && msg.contains("tree \"t\"")
            && msg.contains(&info.path),
        "{msg}"
    );
}

#[test]
fn rntuple_is_listed_and_read_like_a_tree() {
    let d = require_data();
    let f = RootFile::open(d.join("synthetic/rntuple-simple.root")).unwrap();
    assert_eq!(f.list_trees(), vec!["ntuple"]);
    assert_eq!(f.list_rntuples(), vec!["ntuple"]);
    let t = f.tree("ntuple").unwrap();
    assert!(t.is_rntuple());
    assert_eq!(t.num_entries(), 1000);
}

#[test]
fn not_a_root_file() {
    let e = RootFile::from_source("junk", Box::new(MemSource::new(b"hello world".to_vec())))
        .unwrap_err();
    assert!(matches!(e, NtupleError::NotRoot { .. }), "{e:?}");
    let e = RootFile::open("/nonexistent/file.root").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/file.root"), "{e}");
}

/// Opens, lists and reads everything; returns how many branches were read.
fn read_everything(name: &str, bytes: Vec<u8>) -> usize {
    let Ok(f) = RootFile::from_source(name, Box::new(MemSource::new(bytes))) else {
        return 0;
    };
    let mut n = 0;
    for t in f.list_trees() {
        let Ok(tree) = f.tree(&t) else { continue };
        let _ = tree.clusters();
        for b in tree.branches() {
            if tree.read(&b.path, 0..tree.num_entries()).is_ok() {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let d = require_data();
    let files = [
        "synthetic/nested-dirs.root",
        "synthetic/dilepton-tinybaskets-lz4.root",
        "skhep/uproot-HZZ-zlib.root",
        "skhep/uproot-sample-6.20.04-lzma.root",
        "skhep/uproot-sample-5.30.00-uncompressed.root",
        "skhep/uproot-Zmumu-zstd.root",
        "skhep/uproot-small-evnt-tree-fullsplit.root",
        "skhep/uproot-issue60.root",
        "skhep/uproot-stl_containers.root",
    ];
    let mut cases = 0;
    for rel in files {
        let orig = std::fs::read(d.join(rel)).unwrap();
        let good = read_everything(rel, orig.clone());
        assert!(good > 0, "{rel}: nothing readable in the intact file");
        let step = (orig.len() / 150).max(1);
        let mut offsets: Vec<usize> = (0..orig.len()).step_by(step).collect();
        offsets.extend(0..300.min(orig.len())); // every byte of the header and top keys
        for (k, &at) in offsets.iter().enumerate() {
            // truncated
            let cut = orig[..at].to_vec();
            let r = catch_unwind(AssertUnwindSafe(|| read_everything(rel, cut)));
            assert!(r.is_ok(), "{rel}: panic when truncated at byte {at}");
            // a run of bytes overwritten
            let bad = overwritten(&orig, at, k);
            let r = catch_unwind(AssertUnwindSafe(|| read_everything(rel, bad)));
            assert!(r.is_ok(), "{rel}: panic when corrupted at byte {at}");
            cases += 2;
        }
    }
    println!("{cases} damaged files read without a panic");
}
