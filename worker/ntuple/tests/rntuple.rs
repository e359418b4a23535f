//! RNTuples (ROOT 6.34+) read through the same `Tree` interface as TTrees: every
//! field equal to uproot's, entry ranges across cluster boundaries, clusters for
//! partitioning, and clear errors (never panics) for missing fields, unsupported
//! fields and damaged files. Needs tests/fetch-data.sh.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use arrow_schema::DataType;
use common::*;
use kaon_ntuple::{MemSource, NtupleError, RootFile};
use serde_json::Value;

const FILES: &[&str] = &[
    "synthetic/rntuple-dilepton-zlib.root",
    "synthetic/rntuple-dilepton-lz4.root",
    "synthetic/rntuple-dilepton-lzma.root",
    "synthetic/rntuple-dilepton-zstd.root",
    "synthetic/rntuple-dilepton-none.root",
    "synthetic/rntuple-dilepton-split.root",
    "synthetic/rntuple-simple.root",
];

/// Cluster sizes gen_data.py writes (one extend() call each).
const CLUSTERS: [u64; 6] = [700, 1, 2500, 13, 4000, 999];

/// The uproot reference of a file's RNTuples (make_refs.py's `.rntuple.json`).
fn load_ntuple_ref(rel: &str) -> Vec<RefTree> {
    let d = require_data();
    let base = std::path::Path::new(rel)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let path = d.join("refs").join(format!("{base}.rntuple.json"));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert!(manifest["error"].is_null(), "uproot: {}", manifest["error"]);
    let blob = std::fs::read(d.join("refs").join(format!("{base}.rntuple.bin"))).unwrap();
    let slice = |v: &Value| -> Vec<u8> {
        let a = v[0].as_u64().unwrap() as usize;
        let n = v[1].as_u64().unwrap() as usize;
        blob[a..a + n].to_vec()
    };
    manifest["trees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| RefTree {
            path: t["path"].as_str().unwrap().into(),
            entries: t["entries"].as_u64().unwrap(),
            branches: t["branches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| RefBranch {
                    name: b["name"].as_str().unwrap().into(),
                    path: b["path"].as_str().unwrap().into(),
                    kind: b["kind"].as_str().unwrap().into(),
                    dtype: b["dtype"].as_str().unwrap().into(),
                    data: slice(&b["data"]),
                    offsets: (!b["offsets"].is_null()).then(|| {
                        slice(&b["offsets"])
                            .chunks_exact(8)
                            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                            .collect()
                    }),
                    len: b["len"].as_u64().unwrap() as usize,
                    baskets: b["baskets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap())
                        .collect(),
                    interp: b["interp"].as_str().unwrap_or("").into(),
                })
                .collect(),
            skipped: t["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["path"].as_str().unwrap().into(),
                        s["reason"].as_str().unwrap().into(),
                    )
                })
                .collect(),
        })
        .collect()
}

#[test]
fn every_field_equals_uproot() {
    let d = require_data();
    let mut matched = 0;
    let mut problems = Vec::new();
    for rel in FILES {
        let refs = load_ntuple_ref(rel);
        assert!(!refs.is_empty(), "{rel}: uproot lists no RNTuple");
        let f = RootFile::open(d.join(rel)).unwrap();
        for r in &refs {
            assert!(
                f.list_trees().contains(&r.path),
                "{rel}: {:?}",
                f.list_trees()
            );
            assert!(f.list_rntuples().contains(&r.path), "{rel}");
            let t = f.tree(&r.path).unwrap();
            assert!(t.is_rntuple());
            assert_eq!(t.num_entries(), r.entries, "{rel}");
            assert!(!r.branches.is_empty());
            for b in &r.branches {
                let arr = match t.read(&b.path, 0..r.entries) {
                    Ok(a) => a,
                    Err(e) => {
                        problems.push(format!("{rel}: {e}"));
                        continue;
                    }
                };
                match compare(&arr, b, 0..r.entries as usize) {
                    Ok(()) => matched += 1,
                    Err(m) => problems.push(format!("{rel}:{}: {m} [uproot {}]", b.path, b.interp)),
                }
                let info = t.branch(&b.path).unwrap();
                assert_eq!(
                    info.data_type.as_ref(),
                    Some(arr.data_type()),
                    "{rel}:{}",
                    b.path
                );
                if info.basket_boundaries != b.baskets {
                    problems.push(format!(
                        "{rel}:{}: cluster boundaries {:?}, uproot {:?}",
                        b.path, info.basket_boundaries, b.baskets
                    ));
                }
            }
            // what uproot reads as something else is listed, with the reason
            let listed = t.branch_names();
            for (path, _) in &r.skipped {
                let Ok(info) = t.branch(path) else {
                    // a record: its members are listed instead
                    assert!(
                        listed.iter().any(|l| l.starts_with(&format!("{path}."))),
                        "{rel}: {path} not listed in {listed:?}"
                    );
                    continue;
                };
                assert!(info.unsupported.is_some(), "{rel}: {info:?}");
            }
        }
    }
    println!(
        "{matched} RNTuple fields equal to uproot's in {} files",
        FILES.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(matched >= 5 * 20, "{matched} fields compared");
}

#[test]
fn fields_types_and_clusters_are_listed_like_branches() {
    let d = require_data();
    let t = RootFile::open(d.join("synthetic/rntuple-dilepton-zstd.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let mut bounds = vec![0u64];
    for c in CLUSTERS {
        bounds.push(bounds.last().unwrap() + c);
    }
    let want: Vec<_> = bounds.windows(2).map(|w| w[0]..w[1]).collect();
    assert_eq!(t.clusters(), want);
    assert_eq!(t.num_entries(), *bounds.last().unwrap());
    let info = t.branch("lep_pt").unwrap();
    assert_eq!(info.type_name, "std::vector<float>");
    assert!(
        matches!(info.data_type, Some(DataType::List(ref f)) if f.data_type() == &DataType::Float32)
    );
    assert_eq!(t.branch("lep_n").unwrap().data_type, Some(DataType::Int32));
    assert_eq!(
        t.branch("trigE").unwrap().data_type,
        Some(DataType::Boolean)
    );
    assert_eq!(t.branch("tag").unwrap().data_type, Some(DataType::Utf8));
    assert!(matches!(
        t.branch("fix3").unwrap().data_type,
        Some(DataType::FixedSizeList(_, 3))
    ));
    assert_eq!(t.branch("muon.pt").unwrap().type_name, "float[]");
    // "/" works as a separator too, like TTree branch paths
    assert_eq!(t.branch("muon/q").unwrap().path, "muon.q");
    let nested = t.branch("nested").unwrap();
    assert!(nested.data_type.is_none(), "{nested:?}");
    assert!(nested.type_name.starts_with("unsupported"), "{nested:?}");
    let names = t.branch_names();
    for n in [
        "lep_n",
        "lep_pt",
        "lep_eta",
        "lep_phi",
        "lep_E",
        "lep_charge",
        "mcWeight",
        "eventNumber",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
    }
    let batch = t
        .read_many(&["lep_n", "lep_pt", "mcWeight"], 650..760)
        .unwrap();
    assert_eq!(batch.num_rows(), 110);
    assert_eq!(batch.schema().field(1).name(), "lep_pt");
}

#[test]
fn ranges_across_cluster_boundaries_equal_the_full_read() {
    let d = require_data();
    for rel in [
        "synthetic/rntuple-dilepton-lz4.root",
        "synthetic/rntuple-dilepton-none.root",
        "synthetic/rntuple-dilepton-split.root",
    ] {
        let refs = load_ntuple_ref(rel);
        let r = &refs[0];
        let t = RootFile::open(d.join(rel))
            .unwrap()
            .tree("nominal")
            .unwrap();
        let n = r.entries;
        let ranges = [
            0..0,
            0..1,
            699..702,
            700..701,
            701..702,
            650..3300,
            3200..3215,
            3214..7214,
            5..8000,
            8212..n,
            n..n,
            0..n,
        ];
        for b in &r.branches {
            for range in ranges.clone() {
                let arr = t.read(&b.path, range.clone()).unwrap();
                let rr = range.start as usize..range.end as usize;
                if let Err(m) = compare(&arr, b, rr) {
                    panic!("{rel}:{} entries {range:?}: {m}", b.path);
                }
            }
        }
        let e = t.read("lep_pt", 10..n + 1).unwrap_err();
        assert!(matches!(e, NtupleError::BadRange { .. }), "{e:?}");
    }
}

/// gen_data.py rewrites the uncompressed file with ROOT's split, zigzag and delta
/// encodings and cuts every page in up to three: the values must not change.
#[test]
fn split_encodings_and_several_pages_per_cluster_read_like_plain_columns() {
    let d = require_data();
    let plain = RootFile::open(d.join("synthetic/rntuple-dilepton-none.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let split = RootFile::open(d.join("synthetic/rntuple-dilepton-split.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    assert_eq!(plain.clusters(), split.clusters());
    let mut n = 0;
    for b in plain.branches() {
        if b.unsupported.is_some() {
            continue;
        }
        for range in [0..plain.num_entries(), 233..234, 234..467, 1000..3300] {
            let a = plain.read(&b.path, range.clone()).unwrap();
            let s = split.read(&b.path, range.clone()).unwrap();
            assert_eq!(a.as_ref(), s.as_ref(), "{} entries {range:?}", b.path);
        }
        n += 1;
    }
    assert!(n >= 20, "{n} fields compared");
}

/// Counts the bytes read from a source.
struct Counting {
    inner: MemSource,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl kaon_ntuple::ReadAt for Counting {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        self.bytes
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_at(offset, len)
    }
}

#[test]
fn a_range_reads_only_its_pages() {
    use std::sync::atomic::Ordering;
    let d = require_data();
    let path = d.join("synthetic/rntuple-dilepton-split.root");
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let src = Counting {
        inner: MemSource::new(std::fs::read(&path).unwrap()),
        bytes: bytes.clone(),
    };
    let t = RootFile::from_source("split", Box::new(src))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let read = |range: std::ops::Range<u64>| {
        let before = bytes.load(Ordering::Relaxed);
        t.read("lep_pt", range).unwrap();
        bytes.load(Ordering::Relaxed) - before
    };
    // the 4000-entry cluster's pages are cut in three: entries 3300..3310 are in
    // the first page of the index column and of the values
    let one = read(3300..3310);
    let cluster = read(3214..7214);
    let all = read(0..t.num_entries());
    assert!(
        one > 0 && one * 2 < cluster,
        "{one} bytes for 10 entries, {cluster} for the cluster"
    );
    assert!(
        cluster * 3 / 2 < all,
        "{cluster} bytes for the cluster, {all} for all"
    );
}

#[test]
fn missing_field_suggests_near_names() {
    let d = require_data();
    let f = RootFile::open(d.join("synthetic/rntuple-dilepton-zlib.root")).unwrap();
    let t = f.tree("nominal").unwrap();
    let e = t.read("lep_ptt", 0..10).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NtupleError::MissingBranch { .. }), "{e:?}");
    assert!(
        msg.contains("rntuple-dilepton-zlib.root") && msg.contains("\"nominal\""),
        "{msg}"
    );
    assert!(msg.contains("\"lep_pt\""), "{msg}");
    let msg = t.read("muon.ptt", 0..10).unwrap_err().to_string();
    assert!(msg.contains("\"muon.pt\""), "{msg}");
    // a missing ntuple lists the trees and ntuples of the file
    let e = f.tree("nominl").unwrap_err();
    assert!(matches!(e, NtupleError::MissingTree { .. }), "{e:?}");
    assert!(e.to_string().contains("\"nominal\""), "{e}");
}

#[test]
fn unsupported_fields_name_file_ntuple_and_field() {
    let d = require_data();
    let t = RootFile::open(d.join("synthetic/rntuple-dilepton-lzma.root"))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let e = t.read("nested", 0..10).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NtupleError::Unsupported { .. }), "{e:?}");
    assert!(
        msg.contains("rntuple-dilepton-lzma.root")
            && msg.contains("\"nominal\"")
            && msg.contains("\"nested\""),
        "{msg}"
    );
}

#[test]
fn prerelease_rntuple_is_refused_clearly() {
    let d = require_data();
    let f = RootFile::open(d.join("skhep/uproot-ntpl001_staff.root")).unwrap();
    let names: Vec<String> = f.keys().iter().map(|k| k.key.class_name.clone()).collect();
    let Some(k) = f
        .keys()
        .iter()
        .find(|k| k.key.class_name.contains("RNTuple"))
    else {
        panic!("no RNTuple key in {names:?}");
    };
    match f.tree(&k.path) {
        Ok(t) => assert!(t.num_entries() > 0),
        Err(e) => {
            assert!(matches!(e, NtupleError::Unsupported { .. }), "{e:?}");
            assert!(e.to_string().contains("RNTuple"), "{e}");
        }
    }
}

#[test]
fn corrupt_header_is_reported_with_file_and_ntuple() {
    let d = require_data();
    let rel = "synthetic/rntuple-dilepton-zlib.root";
    let mut bytes = std::fs::read(d.join(rel)).unwrap();
    // the ntuple's name as the header envelope stores it (32-bit length prefix)
    let needle = b"\x07\x00\x00\x00nominal";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("header name");
    bytes[at + 5] ^= 0x20;
    let f = RootFile::from_source(rel, Box::new(MemSource::new(bytes))).unwrap();
    let e = f.tree("nominal").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, NtupleError::Corrupt { .. }), "{e:?}");
    assert!(
        msg.contains(rel)
            && msg.contains("\"nominal\"")
            && msg.contains("header")
            && msg.contains("checksum"),
        "{msg}"
    );
}

/// gen_data.py appends to the split file copies of every other column's pages with
/// ROOT's page checksums, then the page lists (envelopes with checksums). Any byte
/// damaged there must fail the read (of the ntuple or of the field, naming it),
/// never give other values.
#[test]
fn damage_under_checksums_is_always_detected() {
    let d = require_data();
    let rel = "synthetic/rntuple-dilepton-split.root";
    let orig = std::fs::read(d.join(rel)).unwrap();
    let appended = std::fs::metadata(d.join("synthetic/rntuple-dilepton-none.root"))
        .unwrap()
        .len() as usize;
    assert!(appended < orig.len());
    let open = |bytes: Vec<u8>| {
        RootFile::from_source(rel, Box::new(MemSource::new(bytes)))
            .unwrap()
            .tree("nominal")
            .map_err(|e| e.to_string())
    };
    let intact = open(orig.clone()).unwrap();
    let fields: Vec<(String, arrow_array::ArrayRef)> = intact
        .branches()
        .into_iter()
        .filter(|b| b.unsupported.is_none())
        .map(|b| {
            let a = intact.read(&b.path, 0..intact.num_entries()).unwrap();
            (b.path, a)
        })
        .collect();
    let (mut page_errors, mut envelope_errors) = (0, 0);
    let step = ((orig.len() - appended) / 150).max(1);
    for at in (appended..orig.len()).step_by(step) {
        let mut bad = orig.clone();
        bad[at] ^= 0x10;
        let t = match open(bad) {
            Ok(t) => t,
            Err(e) => {
                assert!(e.contains("checksum"), "byte {at}: {e}");
                envelope_errors += 1;
                continue;
            }
        };
        for (path, want) in &fields {
            match t.read(path, 0..t.num_entries()) {
                Ok(a) => assert_eq!(a.as_ref(), want.as_ref(), "byte {at}: {path} changed"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("checksum") && msg.contains(&format!("{path:?}")),
                        "byte {at}: {msg}"
                    );
                    page_errors += 1;
                }
            }
        }
    }
    assert!(
        page_errors > 10 && envelope_errors > 0,
        "{page_errors} page and {envelope_errors} envelope checksum errors"
    );
}

/// Opens, lists and reads everything; returns how many fields were read. Every
/// error must name the file, and errors of a field the ntuple and the field.
fn read_everything(name: &str, bytes: Vec<u8>) -> usize {
    let Ok(f) = RootFile::from_source(name, Box::new(MemSource::new(bytes))) else {
        return 0;
    };
    let mut n = 0;
    for t in f.list_trees() {
        let tree = match f.tree(&t) {
            Ok(t) => t,
            Err(e) => {
                assert!(e.to_string().contains(name), "{e}");
                continue;
            }
        };
        let _ = tree.clusters();
        for b in tree.branches() {
            match tree.read(&b.path, 0..tree.num_entries()) {
                Ok(_) => n += 1,
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(name)
                            && msg.contains(&format!("{t:?}"))
                            && msg.contains(&format!("{:?}", b.path)),
                        "{msg}"
                    );
                }
            }
        }
    }
    n
}

#[test]
fn truncated_and_corrupted_rntuples_never_panic() {
    let d = require_data();
    let mut cases = 0;
    for rel in [
        "synthetic/rntuple-dilepton-zlib.root",
        "synthetic/rntuple-dilepton-split.root",
        "synthetic/rntuple-simple.root",
    ] {
        let orig = std::fs::read(d.join(rel)).unwrap();
        let good = read_everything(rel, orig.clone());
        assert!(good > 0, "{rel}: nothing readable in the intact file");
        let step = (orig.len() / 200).max(1);
        let mut offsets: Vec<usize> = (0..orig.len()).step_by(step).collect();
        // every byte of the last 4 kB: anchor, footer, page lists and header are there
        offsets.extend(orig.len().saturating_sub(4096)..orig.len());
        for (k, &at) in offsets.iter().enumerate() {
            if k % 3 == 0 {
                let cut = orig[..at].to_vec();
                let r = catch_unwind(AssertUnwindSafe(|| read_everything(rel, cut)));
                assert!(r.is_ok(), "{rel}: panic when truncated at byte {at}");
                cases += 1;
            }
            let bad = overwritten(&orig, at, k);
            let r = catch_unwind(AssertUnwindSafe(|| read_everything(rel, bad)));
            assert!(r.is_ok(), "{rel}: panic when corrupted at byte {at}");
            cases += 1;
        }
    }
    println!("{cases} damaged RNTuple files read without a panic");
}
