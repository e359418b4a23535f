//! Entry-range reads: any range equals the same slice of a full read, and only
//! the baskets overlapping the range are read. Needs tests/fetch-data.sh.

mod common;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::Array;
use common::*;
use kaon_ntuple::{MemSource, ReadAt, RootFile};

const FILES: &[(&str, &str)] = &[
    ("synthetic/dilepton-zlib.root", "nominal"),
    ("synthetic/dilepton-tinybaskets-lz4.root", "nominal"),
    ("synthetic/bigbasket-zstd.root", "big"),
    ("skhep/uproot-HZZ.root", "events"),
    ("skhep/uproot-issue79.root", "taus"),
    ("skhep/uproot-issue60.root", "nllscan"),
    ("skhep/uproot-issue513.root", "Delphes"),
    ("skhep/uproot-small-dy-nooffsets.root", "tree"),
    ("skhep/uproot-small-evnt-tree-fullsplit.root", "tree"),
    ("skhep/uproot-stl_containers.root", "tree"),
    ("skhep/uproot-sample-6.20.04-lz4.root", "sample"),
];

fn ranges_for(n: u64, boundaries: &[u64]) -> Vec<(u64, u64)> {
    let mut r = vec![
        (0, n),
        (0, 1.min(n)),
        (n / 3, (n / 3 + 7).min(n)),
        (n.saturating_sub(1), n),
        (n / 2, n / 2),
    ];
    if n > 2 {
        r.push((1, n - 1));
    }
    for &b in boundaries.iter().skip(1).take(4) {
        if b > 0 && b < n {
            r.push((b - 1, (b + 1).min(n)));
            r.push((b, (b + 13).min(n)));
            r.push((b.saturating_sub(5), b));
        }
    }
    r
}

#[test]
fn ranges_equal_slices_of_full_reads() {
    let d = require_data();
    let mut checked = 0;
    for (rel, tree) in FILES {
        let tree = RootFile::open(d.join(rel)).unwrap().tree(tree).unwrap();
        let n = tree.num_entries();
        for info in tree.branches() {
            if info.unsupported.is_some() {
                continue;
            }
            let Ok(full) = tree.read(&info.path, 0..n) else {
                continue; // refused branches are covered by uproot_compare
            };
            for (a, b) in ranges_for(n, &info.basket_boundaries) {
                let part = tree
                    .read(&info.path, a..b)
                    .unwrap_or_else(|e| panic!("{rel}:{}: {a}..{b}: {e}", info.path));
                let want = full.slice(a as usize, (b - a) as usize);
                assert_eq!(
                    part.to_data(),
                    want.to_data(),
                    "{rel}:{} entries {a}..{b} differ from the full read",
                    info.path
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "only {checked} ranges checked");
}

/// A source that counts the bytes it hands out.
struct Counting {
    inner: MemSource,
    bytes: Arc<AtomicU64>,
}

impl ReadAt for Counting {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Cow<'_, [u8]>> {
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
        self.inner.read_at(offset, len)
    }
}

#[test]
fn a_range_reads_only_its_baskets() {
    let d = require_data();
    let path = d.join("synthetic/dilepton-tinybaskets-lz4.root");
    let bytes = Arc::new(AtomicU64::new(0));
    let src = Counting {
        inner: MemSource::new(std::fs::read(&path).unwrap()),
        bytes: bytes.clone(),
    };
    let tree = RootFile::from_source("tiny", Box::new(src))
        .unwrap()
        .tree("nominal")
        .unwrap();
    let info = tree.branch("lep_pt").unwrap();
    assert_eq!(info.basket_boundaries.len(), 41, "40 baskets of 50 entries");
    let before = bytes.load(Ordering::Relaxed);
    let arr = tree.read("lep_pt", 1010..1020).unwrap();
    assert_eq!(arr.len(), 10);
    let one = bytes.load(Ordering::Relaxed) - before;
    let before = bytes.load(Ordering::Relaxed);
    tree.read("lep_pt", 0..2000).unwrap();
    let all = bytes.load(Ordering::Relaxed) - before;
    assert!(
        one * 20 < all,
        "a 10-entry read took {one} bytes, the full read {all}"
    );
}
