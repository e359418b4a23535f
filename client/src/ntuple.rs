//! Ntuple datasets: event selection and histogramming over ROOT trees, scattered over
//! the cluster.
//!
//! ```no_run
//! # async fn demo(client: kaon_client::Client) -> Result<(), kaon_client::ntuple::DatasetError> {
//! use kaon_client::ntuple::Dataset;
//!
//! let events = Dataset::read(&["ntuples/*.root"], "nominal", None, 100_000)?;
//! let sel = events
//!     .filter("lep_n == 2 && lep_charge[0] != lep_charge[1]")?
//!     .filter("lep_pt[0] > 25 && lep_pt[1] > 25")?
//!     .define("mll", "mass(lep_pt, lep_eta, lep_phi, lep_E)")?;
//! let h = sel.histogram("mll", 100, (0.0, 500.0), None)?;
//! let n = sel.count();
//! let results = client.compute_ntuple(&[&h, &n], |_progress| {}).await?;
//! let h = results[0].as_histogram().unwrap();
//! println!("{} events, {} in range", results[1].as_count().unwrap(), h.values[1..101].iter().sum::<f64>());
//! # Ok(()) }
//! ```
//!
//! [`Dataset::read`] opens every file once to plan: it reads the tree's metadata (its
//! branches and their types, its clusters) and cuts each file into partitions of about
//! `step_size` entries aligned to clusters ([`kaon_graph::plan_partitions`]). `filter`,
//! `define` and the queries check their expressions against the branch types at once,
//! so a misspelt branch or a type mismatch is an error here, with its column. Queries
//! on the same selection that are computed together share one read of the data: they
//! become one layer whose tasks fill every histogram, count and sum, merged by a tree
//! of sums. [`Dataset::to_arrow`] collects columns of the selected events as one Arrow
//! table, in file and entry order.
//!
//! Files are read by the workers at the paths planned here (made absolute), so the
//! workers must see the same file system.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use kaon_graph::expr::{self, Elem, ExprError, NameType, Scope, Type};
use kaon_graph::ntuple::validate_column_name;
use kaon_graph::{
    BranchDecl, BranchKind, Graph, GraphError, HistAxis, HistSpec, Layer, LayerId, LayerOp,
    NtupleOutput, NtupleScan, Partition, ReduceOp, Reducer, Step, plan_partitions,
    push_tree_reduction,
};
use kaon_proto::{Dtype, GraphProgress};
use rayon::prelude::*;

use crate::client::{Client, ClientError};

mod th1;

/// Entries per partition when none is given.
pub const DEFAULT_STEP_SIZE: u64 = 100_000;

/// Partial results combined per tree-reduction step.
const SPLIT_EVERY: u32 = 8;

/// What went wrong, with the file, tree, branch or expression it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}")]
    Read(Box<kaon_ntuple::NtupleError>),
    #[error("no files given")]
    NoFiles,
    #[error("bad file pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    #[error("no file matches {0:?}")]
    NoMatch(String),
    #[error("{context}: {error}")]
    Expr { context: String, error: ExprError },
    #[error("{0}")]
    Inconsistent(Box<Inconsistent>),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Client(Box<ClientError>),
}

/// A branch whose type differs between files of one dataset.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file}: tree {tree:?}: branch {branch:?} holds {found}, but {expected} in {first}; \
     every file of a dataset must have the same branch types"
)]
pub struct Inconsistent {
    pub file: String,
    pub tree: String,
    pub branch: String,
    pub found: String,
    pub expected: String,
    pub first: String,
}

impl From<kaon_ntuple::NtupleError> for DatasetError {
    fn from(e: kaon_ntuple::NtupleError) -> Self {
        DatasetError::Read(Box::new(e))
    }
}

impl From<ClientError> for DatasetError {
    fn from(e: ClientError) -> Self {
        DatasetError::Client(Box::new(e))
    }
}

impl DatasetError {
    /// The cluster's error, when the computation failed there (a task's key and
    /// message for a failing task).
    pub fn client_error(&self) -> Option<&ClientError> {
        match self {
            DatasetError::Client(c) => Some(c),
            _ => None,
        }
    }
}

impl From<GraphError> for DatasetError {
    fn from(e: GraphError) -> Self {
        DatasetError::Invalid(e.to_string())
    }
}

/// One file as planned.
#[derive(Debug)]
struct FileMeta {
    path: String,
    /// Kind of every branch (by the name expressions use).
    kinds: HashMap<String, BranchKind>,
}

/// Files, tree, partitions and branch types: what [`Dataset::read`] learned.
#[derive(Debug)]
struct Source {
    tree: String,
    files: Vec<FileMeta>,
    partitions: Vec<Partition>,
    entries: u64,
    /// Branches of the first file in file order: name, kind, Arrow type if readable.
    branches: Vec<(String, BranchKind, Option<DataType>)>,
    /// Columns `to_arrow()` collects by default.
    selected: Vec<String>,
}

/// A lazy set of events: files and tree, then `define` and `filter` steps.
#[derive(Clone, Debug)]
pub struct Dataset {
    source: Arc<Source>,
    steps: Vec<Step>,
    scope: Scope,
    /// Columns defined so far, with their types, in order.
    defined: Vec<(String, Type)>,
}

/// Branch kinds of a tree by the names expressions use: the ROOT name where it is
/// unique, else the path.
fn tree_branches(tree: &kaon_ntuple::Tree) -> Vec<(String, BranchKind, Option<DataType>)> {
    let infos = tree.branches();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for b in &infos {
        *count.entry(b.name.as_str()).or_default() += 1;
    }
    infos
        .iter()
        .map(|b| {
            let name = if count[b.name.as_str()] == 1 {
                b.name.clone()
            } else {
                b.path.clone()
            };
            let kind = match (&b.data_type, &b.unsupported) {
                (Some(dt), _) => kaon_kernels::ntuple::branch_kind(dt),
                (None, why) => BranchKind::Other(format!(
                    "the reader cannot decode it ({})",
                    why.as_deref().unwrap_or("unsupported")
                )),
            };
            (name, kind, b.data_type.clone())
        })
        .collect()
}

fn expand(paths: &[&str]) -> Result<Vec<String>, DatasetError> {
    if paths.is_empty() {
        return Err(DatasetError::NoFiles);
    }
    let mut out = Vec::new();
    for &p in paths {
        let found: Vec<std::path::PathBuf> = if p.contains(['*', '?', '[']) {
            let mut v = glob::glob(p)
                .map_err(|e| DatasetError::Pattern {
                    pattern: p.into(),
                    message: e.to_string(),
                })?
                .filter_map(|r| r.ok())
                .filter(|p| p.is_file())
                .collect::<Vec<_>>();
            v.sort();
            if v.is_empty() {
                return Err(DatasetError::NoMatch(p.into()));
            }
            v
        } else {
            vec![p.into()]
        };
        for f in found {
            let abs = std::fs::canonicalize(&f).map_err(|source| {
                DatasetError::from(kaon_ntuple::NtupleError::Io {
                    file: f.display().to_string(),
                    source,
                })
            })?;
            out.push(abs.display().to_string());
        }
    }
    Ok(out)
}

impl Dataset {
    /// Plans a dataset: the files (paths or glob patterns, in order; patterns sorted),
    /// the tree (a path such as `dir/nominal` in each file), the branches `to_arrow()`
    /// collects by default (`None`: every branch the reader can decode; expressions may
    /// use any branch either way), and the partition size in entries.
    pub fn read<S: AsRef<str>>(
        paths: &[S],
        tree: &str,
        branches: Option<&[&str]>,
        step_size: u64,
    ) -> Result<Dataset, DatasetError> {
        let paths: Vec<&str> = paths.iter().map(|p| p.as_ref()).collect();
        let files = expand(&paths)?;
        let metas: Vec<(FileMeta, Vec<std::ops::Range<u64>>, u64, Vec<_>)> = files
            .par_iter()
            .map(|path| -> Result<_, DatasetError> {
                let file = kaon_ntuple::RootFile::open(path)?;
                let t = file.tree(tree)?;
                let branches = tree_branches(&t);
                let kinds = branches
                    .iter()
                    .map(|(n, k, _)| (n.clone(), k.clone()))
                    .collect();
                Ok((
                    FileMeta {
                        path: path.clone(),
                        kinds,
                    },
                    t.clusters(),
                    t.num_entries(),
                    branches,
                ))
            })
            .collect::<Result<_, DatasetError>>()?;
        let clusters: Vec<_> = metas.iter().map(|m| m.1.clone()).collect();
        let partitions = plan_partitions(&clusters, step_size);
        let entries = metas.iter().map(|m| m.2).sum();
        let first_branches = metas[0].3.clone();
        let mut scope = Scope::new();
        for (name, kind, _) in &first_branches {
            scope.insert(name.clone(), kind.name_type());
        }
        let selected: Vec<String> = match branches {
            Some(list) => {
                let mut v = Vec::new();
                for &b in list {
                    if !scope.contains(b) {
                        let near = expr::nearest(b, scope.names());
                        return Err(DatasetError::Invalid(format!(
                            "{}: tree {tree:?} has no branch named {b:?}{}",
                            metas[0].0.path,
                            if near.is_empty() {
                                String::new()
                            } else {
                                format!("; did you mean {}?", near.join(", "))
                            }
                        )));
                    }
                    v.push(b.to_string());
                }
                v
            }
            None => first_branches
                .iter()
                .filter(|(_, _, dt)| dt.is_some())
                .map(|(n, _, _)| n.clone())
                .collect(),
        };
        Ok(Dataset {
            source: Arc::new(Source {
                tree: tree.to_string(),
                files: metas.into_iter().map(|m| m.0).collect(),
                partitions,
                entries,
                branches: first_branches,
                selected,
            }),
            steps: Vec::new(),
            scope,
            defined: Vec::new(),
        })
    }

    /// Entries in all files (before any filter).
    pub fn num_entries(&self) -> u64 {
        self.source.entries
    }

    /// The files, as absolute paths, in order.
    pub fn files(&self) -> Vec<String> {
        self.source.files.iter().map(|f| f.path.clone()).collect()
    }

    pub fn tree(&self) -> &str {
        &self.source.tree
    }

    /// The planned partitions: (file path, first entry, end entry), one task each.
    pub fn partitions(&self) -> Vec<(String, u64, u64)> {
        self.source
            .partitions
            .iter()
            .map(|p| {
                (
                    self.source.files[p.file as usize].path.clone(),
                    p.start,
                    p.stop,
                )
            })
            .collect()
    }

    /// Branches of the (first) file: name and what expressions see of it.
    pub fn branches(&self) -> Vec<(String, String)> {
        self.source
            .branches
            .iter()
            .map(|(n, k, _)| (n.clone(), k.describe()))
            .collect()
    }

    /// The steps so far, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Columns `to_arrow()` collects by default: the selected branches, then the
    /// defined columns.
    pub fn default_columns(&self) -> Vec<String> {
        let mut c = self.source.selected.clone();
        c.extend(self.defined.iter().map(|(n, _)| n.clone()));
        c
    }

    fn compile(&self, context: &str, src: &str) -> Result<expr::Expr, DatasetError> {
        expr::compile(src, &self.scope).map_err(|error| DatasetError::Expr {
            context: context.to_string(),
            error,
        })
    }

    /// Keeps the events where `expr` (one true/false value per event) is true.
    pub fn filter(&self, expr: &str) -> Result<Dataset, DatasetError> {
        let e = self.compile("filter", expr)?;
        if e.ty != Type::BOOL {
            return Err(DatasetError::Expr {
                context: "filter".into(),
                error: ExprError {
                    expr: expr.into(),
                    column: 1,
                    message: format!(
                        "a filter needs one true/false value per event, but this is {}{}",
                        e.ty.describe(),
                        if e.ty.jagged {
                            "; reduce it with any(...) or all(...)"
                        } else {
                            ""
                        }
                    ),
                },
            });
        }
        let mut d = self.clone();
        d.steps.push(Step::Filter(expr.to_string()));
        Ok(d)
    }

    /// Adds a column `name` computed by `expr` (per event, or per object if jagged).
    pub fn define(&self, name: &str, expr: &str) -> Result<Dataset, DatasetError> {
        let context = format!("define {name}");
        validate_column_name(name).map_err(|m| DatasetError::Invalid(format!("{context}: {m}")))?;
        if self.scope.contains(name) {
            return Err(DatasetError::Invalid(format!(
                "{context}: a branch or column named '{name}' exists already"
            )));
        }
        let e = self.compile(&context, expr)?;
        let mut d = self.clone();
        d.scope.insert(name, NameType::Value(e.ty));
        d.defined.push((name.to_string(), e.ty));
        d.steps.push(Step::Define {
            name: name.to_string(),
            expr: expr.to_string(),
        });
        Ok(d)
    }

    fn number(&self, context: &str, src: &str) -> Result<Type, DatasetError> {
        let e = self.compile(context, src)?;
        if !e.ty.is_number() {
            return Err(DatasetError::Expr {
                context: context.into(),
                error: ExprError {
                    expr: src.into(),
                    column: 1,
                    message: format!("{context} needs numbers, but this is {}", e.ty.describe()),
                },
            });
        }
        Ok(e.ty)
    }

    fn axis(&self, context: &str, a: (&str, u32, (f64, f64))) -> Result<HistAxis, DatasetError> {
        let (src, bins, (low, high)) = a;
        self.number(context, src)?;
        let axis = HistAxis {
            expr: src.to_string(),
            bins,
            low,
            high,
        };
        Ok(axis)
    }

    fn query(&self, kind: QueryKind) -> Result<Query, DatasetError> {
        let q = Query {
            dataset: self.clone(),
            kind,
        };
        // The same checks a worker makes: bins, ranges, weights.
        q.dataset
            .scan(match &q.kind {
                QueryKind::Reduce(r) => NtupleOutput::Reduce(vec![r.clone()]),
                QueryKind::Table(c) => NtupleOutput::Table(c.clone()),
            })?
            .map(|s| s.compile())
            .transpose()
            .map_err(DatasetError::Invalid)?;
        Ok(q)
    }

    /// A 1-D histogram of `expr` (every object of a jagged value) with `bins` regular
    /// bins over `[low, high)`, plus underflow and overflow; weighted by `weight`.
    pub fn histogram(
        &self,
        expr: &str,
        bins: u32,
        range: (f64, f64),
        weight: Option<&str>,
    ) -> Result<Query, DatasetError> {
        let x = self.axis("histogram", (expr, bins, range))?;
        if let Some(w) = weight {
            self.number("weight", w)?;
        }
        self.query(QueryKind::Reduce(Reducer::Histogram(HistSpec {
            axes: vec![x],
            weight: weight.map(String::from),
        })))
    }

    /// A 2-D histogram: each axis is (expression, bins, (low, high)).
    pub fn histogram2d(
        &self,
        x: (&str, u32, (f64, f64)),
        y: (&str, u32, (f64, f64)),
        weight: Option<&str>,
    ) -> Result<Query, DatasetError> {
        let x = self.axis("histogram x", x)?;
        let y = self.axis("histogram y", y)?;
        if let Some(w) = weight {
            self.number("weight", w)?;
        }
        self.query(QueryKind::Reduce(Reducer::Histogram(HistSpec {
            axes: vec![x, y],
            weight: weight.map(String::from),
        })))
    }

    /// The number of selected events.
    pub fn count(&self) -> Query {
        Query {
            dataset: self.clone(),
            kind: QueryKind::Reduce(Reducer::Count),
        }
    }

    /// The sum over selected events of `expr` (over every object of a jagged value).
    pub fn sum(&self, expr: &str) -> Result<Query, DatasetError> {
        self.number("sum", expr)?;
        self.query(QueryKind::Reduce(Reducer::Sum(expr.to_string())))
    }

    /// Columns (branches or defined columns; `None`: [`Dataset::default_columns`]) of
    /// the selected events, as one Arrow table.
    pub fn to_arrow(&self, columns: Option<&[&str]>) -> Result<Query, DatasetError> {
        let columns: Vec<String> = match columns {
            Some(c) => c.iter().map(|s| s.to_string()).collect(),
            None => self.default_columns(),
        };
        self.query(QueryKind::Table(columns))
    }

    /// Branch declarations for what a program reads: every branch an expression or
    /// a column names, checked to have the same type in every file.
    fn branch_decls(&self, output: &NtupleOutput) -> Result<Vec<BranchDecl>, DatasetError> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |src: &str| {
            if let Ok(e) = expr::parse(src) {
                for n in e.names() {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        };
        for s in &self.steps {
            match s {
                Step::Define { expr, .. } => add(expr),
                Step::Filter(e) => add(e),
            }
        }
        match output {
            NtupleOutput::Reduce(rs) => {
                for r in rs {
                    match r {
                        Reducer::Count => {}
                        Reducer::Sum(e) => add(e),
                        Reducer::Histogram(h) => {
                            h.axes.iter().for_each(|a| add(&a.expr));
                            if let Some(w) = &h.weight {
                                add(w);
                            }
                        }
                    }
                }
            }
            NtupleOutput::Table(cols) => {
                for c in cols {
                    if !names.contains(c) {
                        names.push(c.clone());
                    }
                }
            }
        }
        let first = &self.source.files[0];
        let mut decls = Vec::new();
        for n in names {
            if self.defined.iter().any(|(d, _)| *d == n) {
                continue;
            }
            let Some(kind) = first.kinds.get(&n) else {
                continue; // unknown: the layer's own check names it
            };
            for f in &self.source.files[1..] {
                let found = f.kinds.get(&n);
                if found != Some(kind) {
                    return Err(DatasetError::Inconsistent(Box::new(Inconsistent {
                        file: f.path.clone(),
                        tree: self.source.tree.clone(),
                        branch: n.clone(),
                        found: found.map_or("nothing (no such branch)".into(), |k| k.describe()),
                        expected: kind.describe(),
                        first: first.path.clone(),
                    })));
                }
            }
            decls.push(BranchDecl {
                name: n,
                kind: kind.clone(),
            });
        }
        Ok(decls)
    }

    /// The layer for this selection and `output`; `None` when there are no entries.
    fn scan(&self, output: NtupleOutput) -> Result<Option<NtupleScan>, DatasetError> {
        if self.source.partitions.is_empty() {
            return Ok(None);
        }
        Ok(Some(NtupleScan {
            tree: self.source.tree.clone(),
            files: self.files(),
            partitions: self.source.partitions.clone(),
            branches: self.branch_decls(&output)?,
            steps: self.steps.clone(),
            output,
        }))
    }

    fn same_selection(&self, other: &Dataset) -> bool {
        Arc::ptr_eq(&self.source, &other.source) && self.steps == other.steps
    }

    /// The Arrow type of a column for an empty table.
    fn column_type(&self, name: &str) -> Option<DataType> {
        if let Some((_, t)) = self.defined.iter().find(|(n, _)| n == name) {
            let item = if t.elem == Elem::Bool {
                DataType::Boolean
            } else {
                DataType::Float64
            };
            return Some(if t.jagged {
                DataType::List(Arc::new(Field::new("item", item, false)))
            } else {
                item
            });
        }
        self.source
            .branches
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, _, dt)| dt.clone())
    }
}

#[derive(Clone, Debug, PartialEq)]
enum QueryKind {
    Reduce(Reducer),
    Table(Vec<String>),
}

/// A lazy result of a selection: a histogram, a count, a sum or a table. Compute
/// several at once with [`Client::compute_ntuple`]; those on the same selection share
/// one pass over the data.
#[derive(Clone, Debug)]
pub struct Query {
    dataset: Dataset,
    kind: QueryKind,
}

impl Query {
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }
}

/// A filled histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The axes (expression, bins, range), one or two.
    pub axes: Vec<HistAxis>,
    /// Bin edges of each axis (`bins + 1` values).
    pub edges: Vec<Vec<f64>>,
    /// Counts (or sums of weights) with flow bins: `bins + 2` per axis (underflow
    /// first, overflow last), row-major for 2-D.
    pub values: Vec<f64>,
    /// Sums of squared weights (same layout) when weighted.
    pub variances: Option<Vec<f64>>,
}

impl Histogram {
    /// Shape of `values` (flow bins included).
    pub fn shape(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.bins as usize + 2).collect()
    }

    /// Values of the regular bins only (no flow bins), row-major.
    pub fn bin_values(&self) -> Vec<f64> {
        strip_flow(&self.values, &self.shape())
    }

    /// Underflow and overflow of a 1-D histogram.
    pub fn flow(&self) -> (f64, f64) {
        (self.values[0], self.values[self.values.len() - 1])
    }

    /// The bytes of a ROOT file holding this 1-D histogram as a `TH1D` named `name`
    /// (uncompressed; with its sums of squared weights when weighted).
    pub fn to_root_file(&self, name: &str, title: &str) -> Result<Vec<u8>, DatasetError> {
        let [axis] = &self.axes[..] else {
            return Err(DatasetError::Invalid(format!(
                "only 1-D histograms can be written as a TH1D; this one has {} axes",
                self.axes.len()
            )));
        };
        th1::th1d_file(
            &th1::Th1d {
                name,
                title,
                bins: axis.bins,
                low: axis.low,
                high: axis.high,
                values: &self.values,
                sumw2: self.variances.as_deref(),
            },
            name,
        )
        .map_err(DatasetError::Invalid)
    }

    /// Writes [`Histogram::to_root_file`] to `path`.
    pub fn write_root(
        &self,
        path: &std::path::Path,
        name: &str,
        title: &str,
    ) -> Result<(), DatasetError> {
        let bytes = self.to_root_file(name, title)?;
        std::fs::write(path, bytes).map_err(|source| {
            DatasetError::from(kaon_ntuple::NtupleError::Io {
                file: path.display().to_string(),
                source,
            })
        })
    }
}

fn strip_flow(v: &[f64], shape: &[usize]) -> Vec<f64> {
    match shape {
        [n] => v[1..n - 1].to_vec(),
        [nx, ny] => (1..nx - 1)
            .flat_map(|i| v[i * ny + 1..i * ny + ny - 1].iter().copied())
            .collect(),
        _ => v.to_vec(),
    }
}

/// What a [`Query`] computed.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Histogram(Histogram),
    Count(u64),
    Sum(f64),
    Table(RecordBatch),
}

impl QueryResult {
    pub fn as_histogram(&self) -> Option<&Histogram> {
        match self {
            QueryResult::Histogram(h) => Some(h),
            _ => None,
        }
    }
    pub fn as_count(&self) -> Option<u64> {
        match self {
            QueryResult::Count(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_sum(&self) -> Option<f64> {
        match self {
            QueryResult::Sum(s) => Some(*s),
            _ => None,
        }
    }
    pub fn as_table(&self) -> Option<&RecordBatch> {
        match self {
            QueryResult::Table(t) => Some(t),
            _ => None,
        }
    }
}

/// Where a query's result comes from in a lowered graph.
#[derive(Clone, Debug)]
pub enum QuerySlot {
    /// Values `offset..offset + width` of the single chunk of layer `layer`.
    Reduce {
        layer: LayerId,
        offset: usize,
        reducer: Reducer,
    },
    /// Every chunk of layer `layer` (a partition's table each), in order.
    Table { layer: LayerId },
    /// The dataset has no entries: nothing to run.
    Empty,
}

/// Lowers queries to one graph: queries on the same selection share one ntuple layer
/// (and its tree of sums); each table is a layer of its own.
pub fn lower_queries(queries: &[&Query]) -> Result<(Option<Graph>, Vec<QuerySlot>), DatasetError> {
    let mut layers: Vec<Layer> = Vec::new();
    let mut outputs: Vec<LayerId> = Vec::new();
    let mut slots: Vec<Option<QuerySlot>> = vec![None; queries.len()];
    let mut done = vec![false; queries.len()];
    for i in 0..queries.len() {
        if done[i] {
            continue;
        }
        let q = queries[i];
        match &q.kind {
            QueryKind::Table(cols) => {
                done[i] = true;
                let Some(scan) = q.dataset.scan(NtupleOutput::Table(cols.clone()))? else {
                    slots[i] = Some(QuerySlot::Empty);
                    continue;
                };
                layers.push(Layer {
                    name: format!("ntuple-table-{}", q.dataset.source.tree),
                    op: LayerOp::Ntuple(scan),
                });
                let id = (layers.len() - 1) as LayerId;
                outputs.push(id);
                slots[i] = Some(QuerySlot::Table { layer: id });
            }
            QueryKind::Reduce(_) => {
                // Every reduce query on the same selection joins this layer.
                let group: Vec<usize> = (i..queries.len())
                    .filter(|&j| {
                        !done[j]
                            && matches!(queries[j].kind, QueryKind::Reduce(_))
                            && queries[j].dataset.same_selection(&q.dataset)
                    })
                    .collect();
                let reducers: Vec<Reducer> = group
                    .iter()
                    .map(|&j| match &queries[j].kind {
                        QueryKind::Reduce(r) => r.clone(),
                        QueryKind::Table(_) => unreachable!("filtered above"),
                    })
                    .collect();
                let scan = q.dataset.scan(NtupleOutput::Reduce(reducers.clone()))?;
                let layer = match scan {
                    None => None,
                    Some(scan) => {
                        let grid = scan.grid().map_err(DatasetError::Invalid)?;
                        layers.push(Layer {
                            name: format!("ntuple-{}", q.dataset.source.tree),
                            op: LayerOp::Ntuple(scan),
                        });
                        let id = (layers.len() - 1) as LayerId;
                        let (out, _) = push_tree_reduction(
                            &mut layers,
                            id,
                            &grid,
                            ReduceOp::Sum,
                            &[0],
                            SPLIT_EVERY,
                            &format!("ntuple-{}-sum", q.dataset.source.tree),
                        );
                        outputs.push(out);
                        Some(out)
                    }
                };
                let mut offset = 0usize;
                for (&j, r) in group.iter().zip(reducers) {
                    done[j] = true;
                    let width = r.width() as usize;
                    slots[j] = Some(match layer {
                        Some(layer) => QuerySlot::Reduce {
                            layer,
                            offset,
                            reducer: r,
                        },
                        None => QuerySlot::Empty,
                    });
                    offset += width;
                }
            }
        }
    }
    let slots = slots
        .into_iter()
        .map(|s| s.expect("every query lowered"))
        .collect();
    let graph = if layers.is_empty() {
        None
    } else {
        Some(Graph::new(layers, outputs)?)
    };
    Ok((graph, slots))
}

fn reduce_result(r: &Reducer, values: &[f64]) -> QueryResult {
    match r {
        Reducer::Count => QueryResult::Count(values[0] as u64),
        Reducer::Sum(_) => QueryResult::Sum(values[0]),
        Reducer::Histogram(h) => {
            let slots = h.slots() as usize;
            QueryResult::Histogram(Histogram {
                axes: h.axes.clone(),
                edges: h.axes.iter().map(|a| a.edges()).collect(),
                values: values[..slots].to_vec(),
                variances: h.weight.as_ref().map(|_| values[slots..2 * slots].to_vec()),
            })
        }
    }
}

/// The result of a query on a dataset without entries.
fn empty_result(q: &Query) -> Result<QueryResult, DatasetError> {
    Ok(match &q.kind {
        QueryKind::Reduce(r) => reduce_result(r, &vec![0.0; r.width() as usize]),
        QueryKind::Table(cols) => {
            let fields = cols
                .iter()
                .map(|c| {
                    let dt = q.dataset.column_type(c).ok_or_else(|| {
                        DatasetError::Invalid(format!("column '{c}' has no Arrow type"))
                    })?;
                    Ok(Field::new(c, dt, false))
                })
                .collect::<Result<Vec<_>, DatasetError>>()?;
            QueryResult::Table(RecordBatch::new_empty(Arc::new(Schema::new(fields))))
        }
    })
}

impl Client {
    /// Computes queries on ntuple datasets: lowers them to one graph (queries on the
    /// same selection share a pass over the data), runs it, fetches and decodes the
    /// results, and frees them on the cluster. A failing task (a missing branch, a
    /// corrupt basket) fails this call with the task key and the file, tree and branch.
    pub async fn compute_ntuple(
        &self,
        queries: &[&Query],
        on_progress: impl FnMut(&GraphProgress),
    ) -> Result<Vec<QueryResult>, DatasetError> {
        let (graph, slots) = lower_queries(queries)?;
        let Some(graph) = graph else {
            return queries.iter().map(|q| empty_result(q)).collect();
        };
        let handle = self.submit(&graph).await?;
        let result = async {
            self.wait(handle, on_progress).await?;
            let chunks = self.fetch_outputs(handle).await?;
            let mut out = Vec::with_capacity(queries.len());
            for (q, slot) in queries.iter().zip(&slots) {
                out.push(match slot {
                    QuerySlot::Empty => empty_result(q)?,
                    QuerySlot::Reduce {
                        layer,
                        offset,
                        reducer,
                    } => {
                        let c = chunks
                            .iter()
                            .find(|c| c.task.layer == *layer)
                            .ok_or_else(|| protocol(format!("no result chunk of layer {layer}")))?;
                        let width = graph.grid(*layer).shape()[1] as usize;
                        if c.dtype != Dtype::F64 || c.bytes.len() != width * 8 {
                            return Err(protocol(format!(
                                "result of layer {layer} has dtype {:?} and {} bytes, expected \
                                 {width} float64 values",
                                c.dtype,
                                c.bytes.len()
                            )));
                        }
                        let values: Vec<f64> = c
                            .bytes
                            .chunks_exact(8)
                            .skip(*offset)
                            .take(reducer.width() as usize)
                            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                            .collect();
                        reduce_result(reducer, &values)
                    }
                    QuerySlot::Table { layer } => {
                        let mut parts: Vec<_> =
                            chunks.iter().filter(|c| c.task.layer == *layer).collect();
                        parts.sort_by_key(|c| c.task.chunk);
                        let expected = graph.layer_tasks(*layer) as usize;
                        if parts.len() != expected {
                            return Err(protocol(format!(
                                "got {} of {expected} table chunks",
                                parts.len()
                            )));
                        }
                        let batches = parts
                            .iter()
                            .map(|c| {
                                if c.dtype != Dtype::Table {
                                    return Err(protocol(format!(
                                        "a table chunk of dtype {:?}",
                                        c.dtype
                                    )));
                                }
                                kaon_kernels::read_ipc(&c.bytes)
                                    .map_err(|e| protocol(e.to_string()))
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        let schema = batches[0].schema();
                        QueryResult::Table(
                            arrow_select::concat::concat_batches(&schema, &batches)
                                .map_err(|e| protocol(e.to_string()))?,
                        )
                    }
                });
            }
            Ok(out)
        }
        .await;
        let _ = self.release(handle).await;
        result
    }
}

fn protocol(message: String) -> DatasetError {
    DatasetError::from(ClientError::Protocol(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_flow_keeps_the_regular_bins() {
        assert_eq!(strip_flow(&[9.0, 1.0, 2.0, 8.0], &[4]), vec![1.0, 2.0]);
        let v: Vec<f64> = (0..12).map(|x| x as f64).collect();
        // 4 x 3 with flow: inner bins are rows 1..3, column 1.
        assert_eq!(strip_flow(&v, &[4, 3]), vec![4.0, 7.0]);
    }
}
