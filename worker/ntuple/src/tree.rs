//! The public face of a tree (a TTree, or an RNTuple behind the same interface):
//! its branches (fields), entries and clusters, and reading entry ranges of
//! branches into Arrow arrays.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;

use crate::basket::{BasketSpan, basket_spans, load};
use crate::decode::{Piece, decode};
use crate::error::{Fault, NtupleError};
use crate::file::{FileInner, KeyEntry};
use crate::interp::{Layout, ScalarType, Shape, Storage, layout};
use crate::model::{TreeMeta, parse_tree};
use crate::rntuple::{Ntuple, Plan};

/// What a branch is and whether this reader can decode it.
#[derive(Debug, Clone)]
pub struct BranchInfo {
    /// ROOT's name of the branch (`lep_pt`, `Particle.PT`, ...).
    pub name: String,
    /// Path through the branch hierarchy (`Particle/Particle.PT`).
    pub path: String,
    /// TBranch, TBranchElement or TBranchObject.
    pub class: String,
    /// C++-like type (`float[lep_n]`, `std::vector<double>`), or why it cannot be read.
    pub type_name: String,
    /// The Arrow type `read` returns, `None` when the branch cannot be read.
    pub data_type: Option<DataType>,
    /// Why the branch cannot be read, if it cannot.
    pub unsupported: Option<String>,
    /// Number of entries the branch holds.
    pub entries: u64,
    /// First entry of each basket, then the number of entries.
    pub basket_boundaries: Vec<u64>,
}

/// A TTree: metadata loaded, baskets read on demand.
#[derive(Clone)]
pub(crate) struct TTree {
    file: Arc<FileInner>,
    path: String,
    meta: Arc<TreeMeta>,
    /// Hierarchical path of each branch, indexed like `meta.branches`.
    paths: Arc<Vec<String>>,
}

impl std::fmt::Debug for TTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("file", &self.file.name)
            .field("path", &self.path)
            .field("entries", &self.meta.entries)
            .field("branches", &self.meta.branches.len())
            .finish()
    }
}

pub(crate) fn scalar_data_type(t: ScalarType) -> DataType {
    match t {
        ScalarType::Bool => DataType::Boolean,
        ScalarType::I8 => DataType::Int8,
        ScalarType::U8 => DataType::UInt8,
        ScalarType::I16 => DataType::Int16,
        ScalarType::U16 => DataType::UInt16,
        ScalarType::I32 => DataType::Int32,
        ScalarType::U32 => DataType::UInt32,
        ScalarType::I64 => DataType::Int64,
        ScalarType::U64 => DataType::UInt64,
        ScalarType::F32 => DataType::Float32,
        ScalarType::F64 => DataType::Float64,
    }
}

fn fixed_type(mut t: DataType, dims: &[usize]) -> DataType {
    for &d in dims.iter().rev() {
        t = DataType::FixedSizeList(Arc::new(Field::new("item", t, false)), d as i32);
    }
    t
}

fn layout_data_type(l: &Layout) -> DataType {
    let value = scalar_data_type(l.storage.output());
    match &l.shape {
        Shape::Scalar => value,
        Shape::Fixed(d) => fixed_type(value, d),
        Shape::Jagged { inner, .. } => DataType::List(Arc::new(Field::new(
            "item",
            fixed_type(value, inner),
            false,
        ))),
        Shape::Str { .. } => DataType::Utf8,
    }
}

impl TTree {
    pub(crate) fn load(file: Arc<FileInner>, entry: &KeyEntry) -> Result<TTree, NtupleError> {
        let what = format!("TTree record {:?}", entry.path);
        let data = file
            .object_bytes(&entry.key)
            .map_err(|f| f.at(&file.name, what.clone()))?;
        let meta = parse_tree(&data, entry.key.keylen as usize, &entry.key.class_name)
            .map_err(|f| f.at(&file.name, what).in_tree(&entry.path))?;
        let mut paths = vec![String::new(); meta.branches.len()];
        fn walk(meta: &TreeMeta, idx: usize, prefix: &str, paths: &mut [String], depth: usize) {
            if depth > 64 || idx >= paths.len() || !paths[idx].is_empty() {
                return;
            }
            let name = &meta.branches[idx].name;
            paths[idx] = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let here = paths[idx].clone();
            for &c in &meta.branches[idx].children {
                walk(meta, c, &here, paths, depth + 1);
            }
        }
        for &t in &meta.top {
            walk(&meta, t, "", &mut paths, 0);
        }
        for (i, p) in paths.iter_mut().enumerate() {
            if p.is_empty() {
                *p = meta.branches[i].name.clone();
            }
        }
        // a path that occurs again (two branches of the same name) gets "#2", "#3"
        let mut seen = std::collections::HashMap::new();
        for i in branch_order(&meta) {
            let n: &mut usize = seen.entry(paths[i].clone()).or_default();
            *n += 1;
            if *n > 1 {
                paths[i] = format!("{}#{}", paths[i], n);
            }
        }
        Ok(TTree {
            file,
            path: entry.path.clone(),
            meta: Arc::new(meta),
            paths: Arc::new(paths),
        })
    }

    /// Path of the tree in its file (`dir/sub/tree`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tree's own name (fName).
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn title(&self) -> &str {
        &self.meta.title
    }

    /// Name of the file the tree is in.
    pub fn file_name(&self) -> &str {
        &self.file.name
    }

    pub fn num_entries(&self) -> u64 {
        self.meta.entries as u64
    }

    /// Names (hierarchical paths) of all branches, each followed by its
    /// sub-branches. When two branches have the same path, the later ones are
    /// named `path#2`, `path#3`, ...
    pub fn branch_names(&self) -> Vec<String> {
        branch_order(&self.meta)
            .into_iter()
            .map(|i| self.paths[i].clone())
            .collect()
    }

    /// Every branch, with its type and whether it can be read.
    pub fn branches(&self) -> Vec<BranchInfo> {
        self.branch_names()
            .into_iter()
            .filter_map(|p| self.index_of(&p).ok())
            .map(|i| self.info(i))
            .collect()
    }

    /// Description of one branch.
    pub fn branch(&self, name: &str) -> Result<BranchInfo, NtupleError> {
        Ok(self.info(self.index_of(name)?))
    }

    fn info(&self, i: usize) -> BranchInfo {
        let b = &self.meta.branches[i];
        let lay = self.layout_of(i);
        let boundaries = basket_spans(b, &self.meta.embedded, 0)
            .map(|spans| {
                let mut v: Vec<u64> = spans.iter().map(|s| s.start).collect();
                v.push(spans.last().map(|s| s.stop).unwrap_or(0));
                v
            })
            .unwrap_or_default();
        BranchInfo {
            name: b.name.clone(),
            path: self.paths[i].clone(),
            class: b.class.clone(),
            type_name: match &lay {
                Ok(l) => l.description.clone(),
                Err(f) => format!("unsupported: {}", fault_text(f)),
            },
            data_type: lay.as_ref().ok().map(layout_data_type),
            unsupported: lay.as_ref().err().map(fault_text),
            entries: b.entries.max(0) as u64,
            basket_boundaries: boundaries,
        }
    }

    fn layout_of(&self, i: usize) -> Result<Layout, Fault> {
        let file = self.file.clone();
        layout(&self.meta, &self.meta.branches[i], &move || {
            file.streamers()
        })
    }

    /// Finds a branch by hierarchical path, or by ROOT name when that is unique.
    fn index_of(&self, name: &str) -> Result<usize, NtupleError> {
        if let Some(i) = self.paths.iter().position(|p| p == name) {
            return Ok(i);
        }
        let by_name: Vec<usize> = (0..self.meta.branches.len())
            .filter(|&i| self.meta.branches[i].name == name)
            .collect();
        if by_name.len() == 1 {
            return Ok(by_name[0]);
        }
        let mut near: Vec<(usize, &String)> = self
            .paths
            .iter()
            .map(|p| {
                let leaf = p.rsplit('/').next().unwrap_or(p);
                let d = strsim::levenshtein(name, leaf).min(strsim::levenshtein(name, p));
                let d = if p.contains(name) || name.contains(leaf) {
                    d.min(1)
                } else {
                    d
                };
                (d, p)
            })
            .collect();
        near.sort();
        let limit = (name.len() / 2).max(2);
        let near = if by_name.len() > 1 {
            by_name.iter().map(|&i| self.paths[i].clone()).collect()
        } else {
            near.into_iter()
                .filter(|(d, _)| *d <= limit)
                .take(5)
                .map(|(_, p)| p.clone())
                .collect()
        };
        Err(NtupleError::MissingBranch {
            file: self.file.name.clone(),
            tree: self.path.clone(),
            name: if by_name.len() > 1 {
                format!("{name} (ambiguous: give the path)")
            } else {
                name.to_string()
            },
            near,
        })
    }

    /// Entry ranges to partition the tree by: ROOT's clusters (fClusterRangeEnd,
    /// fClusterSize, fAutoFlush) when they agree with the baskets, otherwise the
    /// entries at which every branch starts a new basket.
    pub fn clusters(&self) -> Vec<Range<u64>> {
        let n = self.num_entries();
        if n == 0 {
            return Vec::new();
        }
        let mut common: Option<BTreeSet<u64>> = None;
        let mut finest: Vec<u64> = Vec::new();
        for b in &self.meta.branches {
            if b.leaves.is_empty() {
                continue;
            }
            let Ok(spans) = basket_spans(b, &self.meta.embedded, 0) else {
                continue;
            };
            if spans.is_empty() {
                continue;
            }
            let starts: BTreeSet<u64> = spans.iter().map(|s| s.start).filter(|&s| s < n).collect();
            if starts.len() > finest.len() {
                finest = starts.iter().copied().collect();
            }
            common = Some(match common {
                None => starts,
                Some(c) => c.intersection(&starts).copied().collect(),
            });
        }
        let mut common = common.unwrap_or_default();
        common.insert(0);
        let root = self.root_clusters();
        let bounds: Vec<u64> = if !root.is_empty() && root.iter().all(|s| common.contains(s)) {
            root
        } else if common.len() > 1 || finest.len() <= 1 {
            common.into_iter().collect()
        } else {
            finest
        };
        let mut out = Vec::with_capacity(bounds.len());
        for (k, &s) in bounds.iter().enumerate() {
            let e = bounds.get(k + 1).copied().unwrap_or(n);
            if e > s {
                out.push(s..e);
            }
        }
        out
    }

    /// Cluster starts as ROOT's cluster iterator computes them (empty when the
    /// tree records no cluster size).
    fn root_clusters(&self) -> Vec<u64> {
        let n = self.meta.entries;
        let m = &self.meta;
        let mut starts = Vec::new();
        let mut entry = 0i64;
        let mut range = 0usize;
        while entry < n {
            starts.push(entry as u64);
            let size = if range < m.cluster_range_end.len() {
                let s = m.cluster_size.get(range).copied().unwrap_or(0);
                if s <= 0 {
                    return Vec::new();
                }
                s
            } else if m.auto_flush > 0 {
                m.auto_flush
            } else {
                return Vec::new();
            };
            let mut next = entry.saturating_add(size);
            if range < m.cluster_range_end.len() && next > m.cluster_range_end[range] {
                next = m.cluster_range_end[range].saturating_add(1);
                range += 1;
            }
            if next <= entry || starts.len() > 10_000_000 {
                return Vec::new();
            }
            entry = next;
        }
        starts
    }

    fn check_range(&self, range: &Range<u64>, entries: u64) -> Result<(), NtupleError> {
        if range.start > range.end || range.end > entries {
            return Err(NtupleError::BadRange {
                file: self.file.name.clone(),
                tree: self.path.clone(),
                start: range.start,
                stop: range.end,
                entries,
            });
        }
        Ok(())
    }

    /// Reads entries `range` of one branch. Only the baskets overlapping the range
    /// are read; they are decompressed and decoded in parallel (rayon's current pool).
    pub fn read(&self, branch: &str, range: Range<u64>) -> Result<ArrayRef, NtupleError> {
        let i = self.index_of(branch)?;
        let path = self.paths[i].clone();
        self.read_index(i, range)
            .map_err(|e| e.in_branch(&self.path, &path))
    }

    fn read_index(&self, i: usize, range: Range<u64>) -> Result<ArrayRef, NtupleError> {
        self.read_index_by(i, range, true)
    }

    /// `read_index`, with the fast path (`direct`) or only the general one.
    fn read_index_by(
        &self,
        i: usize,
        range: Range<u64>,
        fast: bool,
    ) -> Result<ArrayRef, NtupleError> {
        let b = &self.meta.branches[i];
        let file = &self.file.name;
        let what = "branch";
        let lay = self.layout_of(i).map_err(|f| f.at(file, ""))?;
        let entries = self.num_entries();
        self.check_range(&range, entries)?;
        let spans =
            basket_spans(b, &self.meta.embedded, entries).map_err(|f| f.at(file, "basket list"))?;
        let wanted: Vec<&BasketSpan> = spans
            .iter()
            .filter(|s| s.stop > range.start && s.start < range.end)
            .collect();
        let source: &dyn crate::source::ReadAt = &*self.file.source;
        let want = (range.end - range.start) as usize;
        // numbers and lists of numbers go straight into the output buffers; the
        // rest, and any read that fails a check there, take the general path
        // (which also words the error)
        if fast
            && let Some(arr) =
                crate::direct::read(source, &self.meta.embedded, &wanted, range.clone(), &lay)
            && arr.len() == want
        {
            return Ok(arr);
        }
        let embedded = &self.meta.embedded[..];
        let pieces = wanted
            .par_iter()
            .map(|s| {
                let basket = load(source, embedded, s).map_err(|f| {
                    f.at(file, format!("basket for entries {}..{}", s.start, s.stop))
                })?;
                Ok(Piece {
                    basket,
                    lo: (range.start.max(s.start) - s.start) as usize,
                    hi: (range.end.min(s.stop) - s.start) as usize,
                })
            })
            .collect::<Result<Vec<_>, NtupleError>>()?;
        let _ = what;
        let mut pieces = pieces;
        if let Shape::Jagged {
            inner, header: 0, ..
        } = &lay.shape
            && pieces
                .iter()
                .any(|p| p.basket.offsets.is_none() && p.basket.n > 0)
        {
            let item = lay.storage.disk_width() * inner.iter().product::<usize>().max(1);
            self.offsets_from_counts(i, item, &wanted, &mut pieces)?;
        }
        let arr = decode(&lay, &pieces)
            .map_err(|f| f.at(file, format!("entries {}..{}", range.start, range.end)))?;
        if arr.len() != want {
            return Err(
                Fault::corrupt(format!("decoded {} entries, {want} expected", arr.len()))
                    .at(file, "branch data"),
            );
        }
        Ok(arr)
    }

    /// Baskets of counted arrays written without entry offsets (fEntryOffsetLen
    /// 0): the entry boundaries come from the count branch.
    fn offsets_from_counts(
        &self,
        i: usize,
        item: usize,
        spans: &[&BasketSpan],
        pieces: &mut [Piece],
    ) -> Result<(), NtupleError> {
        let file = &self.file.name;
        let b = &self.meta.branches[i];
        let count_leaf = b
            .leaves
            .first()
            .and_then(|&l| self.meta.leaves.get(l))
            .and_then(|l| l.count);
        let count_branch = count_leaf.and_then(|cl| {
            self.meta
                .branches
                .iter()
                .position(|cb| cb.leaves.contains(&cl))
        });
        let Some(cb) = count_branch.filter(|&cb| cb != i) else {
            return Err(Fault::corrupt(
                "basket without entry offsets and no count branch to recover them",
            )
            .at(file, "basket"));
        };
        for (span, piece) in spans.iter().zip(pieces.iter_mut()) {
            if piece.basket.offsets.is_some() || piece.basket.n == 0 {
                continue;
            }
            let counts = self.read_index(cb, span.start..span.stop)?;
            let counts = arrow_cast_counts(&counts).ok_or_else(|| {
                Fault::unsupported("count branch that is not an integer").at(file, "count branch")
            })?;
            let mut offs = Vec::with_capacity(counts.len() + 1);
            let mut pos = 0usize;
            offs.push(0);
            for c in counts {
                pos = c
                    .checked_mul(item)
                    .and_then(|x| x.checked_add(pos))
                    .filter(|&p| p <= piece.basket.data.len())
                    .ok_or_else(|| {
                        Fault::corrupt("counts exceed the basket's data").at(file, "basket")
                    })?;
                offs.push(pos);
            }
            if pos != piece.basket.data.len() {
                return Err(Fault::corrupt(format!(
                    "counts cover {pos} bytes of a {}-byte basket",
                    piece.basket.data.len()
                ))
                .at(file, "basket"));
            }
            piece.basket.offsets = Some(std::borrow::Cow::Owned(offs));
        }
        Ok(())
    }

    /// Reads several branches over the same entries (in parallel) into one batch;
    /// columns are named by the names given.
    pub fn read_many(
        &self,
        branches: &[&str],
        range: Range<u64>,
    ) -> Result<RecordBatch, NtupleError> {
        let arrays = branches
            .par_iter()
            .map(|b| self.read(b, range.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let fields: Vec<Field> = branches
            .iter()
            .zip(&arrays)
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| {
            NtupleError::Corrupt {
                file: self.file.name.clone(),
                tree: Some(self.path.clone()),
                branch: None,
                what: "record batch".into(),
                detail: e.to_string(),
            }
        })
    }
}

/// Branch indices, depth first (each branch followed by its sub-branches).
fn branch_order(meta: &TreeMeta) -> Vec<usize> {
    let mut out = Vec::with_capacity(meta.branches.len());
    let mut stack: Vec<usize> = meta.top.iter().rev().copied().collect();
    let mut seen = vec![false; meta.branches.len()];
    while let Some(i) = stack.pop() {
        if i >= seen.len() || seen[i] {
            continue;
        }
        seen[i] = true;
        out.push(i);
        stack.extend(meta.branches[i].children.iter().rev().copied());
    }
    out
}

/// Non-negative integer counts of a count branch.
fn arrow_cast_counts(a: &ArrayRef) -> Option<Vec<usize>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    macro_rules! conv {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .values()
                .iter()
                .map(|&v| usize::try_from(v).ok())
                .collect()
        };
    }
    match a.data_type() {
        DataType::Int8 => conv!(Int8Type),
        DataType::UInt8 => conv!(UInt8Type),
        DataType::Int16 => conv!(Int16Type),
        DataType::UInt16 => conv!(UInt16Type),
        DataType::Int32 => conv!(Int32Type),
        DataType::UInt32 => conv!(UInt32Type),
        DataType::Int64 => conv!(Int64Type),
        DataType::UInt64 => conv!(UInt64Type),
        _ => None,
    }
}

fn fault_text(f: &Fault) -> String {
    match f {
        Fault::Corrupt(s) => format!("corrupt: {s}"),
        Fault::Compression(s) => format!("bad compression: {s}"),
        Fault::Unsupported(s) => s.clone(),
    }
}

#[allow(dead_code)]
fn storage_name(s: Storage) -> &'static str {
    s.output().name()
}

/// Where a [`Tree`]'s entries come from.
#[derive(Clone)]
enum Source {
    TTree(TTree),
    RNTuple(Arc<Ntuple>),
}

/// A tree of a ROOT file: a TTree, or an RNTuple (ROOT 6.34+) read through the
/// same interface (its fields are the branches; sub-fields of records are named
/// `record.member`). Metadata is loaded, data read on demand. Cheap to clone and
/// safe to share between threads.
#[derive(Clone)]
pub struct Tree {
    source: Source,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::TTree(t) => t.fmt(f),
            Source::RNTuple(n) => f
                .debug_struct("RNTuple")
                .field("file", &n.file.name)
                .field("path", &n.path)
                .field("entries", &n.entries)
                .field("fields", &n.plans.len())
                .finish(),
        }
    }
}

impl Tree {
    pub(crate) fn load(file: Arc<FileInner>, entry: &KeyEntry) -> Result<Tree, NtupleError> {
        Ok(Tree {
            source: Source::TTree(TTree::load(file, entry)?),
        })
    }

    pub(crate) fn load_rntuple(
        file: Arc<FileInner>,
        entry: &KeyEntry,
    ) -> Result<Tree, NtupleError> {
        Ok(Tree {
            source: Source::RNTuple(Arc::new(Ntuple::load(file, entry)?)),
        })
    }

    /// Whether this is an RNTuple rather than a TTree.
    pub fn is_rntuple(&self) -> bool {
        matches!(self.source, Source::RNTuple(_))
    }

    /// Path of the tree in its file (`dir/sub/tree`).
    pub fn path(&self) -> &str {
        match &self.source {
            Source::TTree(t) => t.path(),
            Source::RNTuple(n) => &n.path,
        }
    }

    /// The tree's own name (fName; an RNTuple's name in its header).
    pub fn name(&self) -> &str {
        match &self.source {
            Source::TTree(t) => t.name(),
            Source::RNTuple(n) => &n.name,
        }
    }

    /// The title (an RNTuple's description).
    pub fn title(&self) -> &str {
        match &self.source {
            Source::TTree(t) => t.title(),
            Source::RNTuple(n) => &n.description,
        }
    }

    /// Name of the file the tree is in.
    pub fn file_name(&self) -> &str {
        match &self.source {
            Source::TTree(t) => t.file_name(),
            Source::RNTuple(n) => &n.file.name,
        }
    }

    pub fn num_entries(&self) -> u64 {
        match &self.source {
            Source::TTree(t) => t.num_entries(),
            Source::RNTuple(n) => n.entries,
        }
    }

    /// Names (hierarchical paths) of all branches, each followed by its
    /// sub-branches. When two branches of a TTree have the same path, the later
    /// ones are named `path#2`, `path#3`, ... For an RNTuple: the field paths.
    pub fn branch_names(&self) -> Vec<String> {
        match &self.source {
            Source::TTree(t) => t.branch_names(),
            Source::RNTuple(n) => n.plans.iter().map(|p| p.path.clone()).collect(),
        }
    }

    /// Every branch, with its type and whether it can be read.
    pub fn branches(&self) -> Vec<BranchInfo> {
        match &self.source {
            Source::TTree(t) => t.branches(),
            Source::RNTuple(n) => n.plans.iter().map(|p| rntuple_info(n, p)).collect(),
        }
    }

    /// Description of one branch.
    pub fn branch(&self, name: &str) -> Result<BranchInfo, NtupleError> {
        match &self.source {
            Source::TTree(t) => t.branch(name),
            Source::RNTuple(n) => Ok(rntuple_info(n, n.plan(name)?)),
        }
    }

    /// Entry ranges to partition the tree by. TTree: ROOT's clusters
    /// (fClusterRangeEnd, fClusterSize, fAutoFlush) when they agree with the
    /// baskets, otherwise the entries at which every branch starts a new basket.
    /// RNTuple: its clusters.
    pub fn clusters(&self) -> Vec<Range<u64>> {
        match &self.source {
            Source::TTree(t) => t.clusters(),
            Source::RNTuple(n) => n.clusters(),
        }
    }

    /// Reads entries `range` of one branch. Only the baskets (RNTuple: pages)
    /// overlapping the range are read; they are decompressed and decoded in
    /// parallel (rayon's current pool).
    pub fn read(&self, branch: &str, range: Range<u64>) -> Result<ArrayRef, NtupleError> {
        match &self.source {
            Source::TTree(t) => t.read(branch, range),
            Source::RNTuple(n) => {
                let plan = n.plan(branch)?;
                if range.start > range.end || range.end > n.entries {
                    return Err(NtupleError::BadRange {
                        file: n.file.name.clone(),
                        tree: n.path.clone(),
                        start: range.start,
                        stop: range.end,
                        entries: n.entries,
                    });
                }
                n.read(plan, range)
            }
        }
    }

    /// Reads several branches over the same entries (in parallel) into one batch;
    /// columns are named by the names given.
    pub fn read_many(
        &self,
        branches: &[&str],
        range: Range<u64>,
    ) -> Result<RecordBatch, NtupleError> {
        match &self.source {
            Source::TTree(t) => t.read_many(branches, range),
            Source::RNTuple(_) => {
                let arrays = branches
                    .par_iter()
                    .map(|b| self.read(b, range.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                let fields: Vec<Field> = branches
                    .iter()
                    .zip(&arrays)
                    .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
                    .collect();
                RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| {
                    NtupleError::Corrupt {
                        file: self.file_name().to_string(),
                        tree: Some(self.path().to_string()),
                        branch: None,
                        what: "record batch".into(),
                        detail: e.to_string(),
                    }
                })
            }
        }
    }
}

fn rntuple_info(n: &Ntuple, p: &Plan) -> BranchInfo {
    let mut bounds: Vec<u64> = n.clusters().iter().map(|c| c.start).collect();
    bounds.push(n.entries);
    BranchInfo {
        name: p.path.clone(),
        path: p.path.clone(),
        class: "RNTuple field".into(),
        type_name: match &p.unsupported {
            None => p.type_name.clone(),
            Some(why) => format!("unsupported: {why}"),
        },
        data_type: p.data_type(),
        unsupported: p.unsupported.clone(),
        entries: n.entries,
        basket_boundaries: bounds,
    }
}

#[cfg(test)]
mod tests {
    use crate::RootFile;

    /// The fast path (`direct`) and the general one (which also reports errors)
    /// decode every branch of the synthetic files the same, over the whole tree
    /// and over ranges that cut baskets.
    #[test]
    fn fast_and_general_paths_agree() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/synthetic");
        let names = [
            "dilepton-lz4.root",
            "dilepton-zlib.root",
            "dilepton-none.root",
            "dilepton-tinybaskets-lz4.root",
            "dilepton-onebasket-zlib.root",
            "bigbasket-zstd.root",
        ];
        let mut compared = 0;
        for name in names {
            let path = format!("{dir}/{name}");
            if !std::path::Path::new(&path).exists() {
                eprintln!("skipped {path}: no test data (tests/fetch-data.sh)");
                continue;
            }
            let file = RootFile::open(&path).unwrap();
            for tree_path in file.list_trees() {
                let tree = file.tree(&tree_path).unwrap();
                let super::Source::TTree(t) = &tree.source else {
                    continue;
                };
                let n = t.num_entries();
                let ranges = [0..n, n / 3..n - n / 5, 1..2.min(n), n..n];
                for i in 0..t.meta.branches.len() {
                    for r in &ranges {
                        let fast = t.read_index_by(i, r.clone(), true);
                        let general = t.read_index_by(i, r.clone(), false);
                        match (fast, general) {
                            (Ok(a), Ok(b)) => {
                                assert_eq!(&a, &b, "{name} {} {r:?}", t.paths[i]);
                                compared += 1;
                            }
                            (Err(_), Err(_)) => {}
                            (a, b) => panic!("{name} {}: {a:?} vs {b:?}", t.paths[i]),
                        }
                    }
                }
            }
        }
        eprintln!("{compared} reads compared");
    }
}
