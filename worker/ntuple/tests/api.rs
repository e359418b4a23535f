//! The public API on real and synthetic files: tree listing, branch types,
//! clusters, read_many. Needs tests/fetch-data.sh.

mod common;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type};
use arrow_schema::DataType;
use common::*;
use kaon_ntuple::RootFile;

#[test]
fn dilepton_branch_types() {
    let d = require_data();
    let t = RootFile::open(d.join("synthetic/dilepton-zstd.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    assert_eq!(t.num_entries(), 14000);
    let b = t.branch("lep_pt").unwrap();
    assert_eq!(b.type_name, "float[lep_n]");
    assert!(matches!(b.data_type, Some(DataType::List(_))));
    assert_eq!(t.branch("fix2x3").unwrap().type_name, "int16_t[2][3]");
    assert_eq!(
        t.branch("trigE").unwrap().data_type,
        Some(DataType::Boolean)
    );
    assert_eq!(
        t.branch("eventNumber").unwrap().data_type,
        Some(DataType::UInt64)
    );
    // the count and the lists agree
    let batch = t
        .read_many(&["lep_n", "lep_pt", "lep_eta"], 100..2100)
        .unwrap();
    assert_eq!(batch.num_rows(), 2000);
    let n = batch.column(0).as_primitive::<Int32Type>();
    let pt = batch.column(1).as_list::<i32>();
    for i in 0..2000 {
        assert_eq!(pt.value_length(i), n.value(i));
    }
    let first = pt.value(0);
    assert!(
        first
            .as_primitive::<Float32Type>()
            .values()
            .iter()
            .all(|&v| v >= 5.0)
    );
}

#[test]
fn clusters_cover_the_tree_at_basket_boundaries() {
    let d = require_data();
    for rel in all_ref_files() {
        let Ok(f) = RootFile::open(d.join(&rel)) else {
            continue;
        };
        for name in f.list_trees() {
            let Ok(t) = f.tree(&name) else { continue };
            let c = t.clusters();
            let n = t.num_entries();
            if n == 0 {
                assert!(c.is_empty());
                continue;
            }
            assert_eq!(c.first().unwrap().start, 0, "{rel}:{name}");
            assert_eq!(c.last().unwrap().end, n, "{rel}:{name}");
            for w in c.windows(2) {
                assert_eq!(w[0].end, w[1].start, "{rel}:{name}: {c:?}");
            }
        }
    }
    // uproot writes one basket per extend() call: clusters follow them
    let t = RootFile::open(d.join("synthetic/dilepton-zlib.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let starts: Vec<u64> = t.clusters().iter().map(|r| r.start).collect();
    assert_eq!(starts, vec![0, 1, 8, 1007, 5007, 5010, 7510, 8744, 13744]);
}

#[test]
fn trees_in_subdirectories() {
    let d = require_data();
    let f = RootFile::open(d.join("skhep/uproot-nesteddirs.root")).unwrap();
    assert_eq!(
        f.list_trees(),
        vec!["one/tree", "one/two/tree", "three/tree"]
    );
    let t = f.tree("one/two/tree").unwrap();
    assert_eq!(t.num_entries(), 100);
    assert_eq!(t.name(), "tree");
}

#[test]
fn mmap_and_pread_agree() {
    let d = require_data();
    let p = d.join("skhep/uproot-HZZ-lz4.root");
    let a = RootFile::open(&p).unwrap().tree("events").unwrap();
    let b = RootFile::open_mmap(&p).unwrap().tree("events").unwrap();
    for name in ["Muon_Px", "NMuon", "Jet_E", "EventWeight"] {
        let x = a.read(name, 0..a.num_entries()).unwrap();
        let y = b.read(name, 0..b.num_entries()).unwrap();
        assert_eq!(x.to_data(), y.to_data(), "{name}");
        assert_eq!(x.len(), 2421);
    }
}
