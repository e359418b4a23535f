//! Ntuple layers: reading partitions of ROOT trees and running a fused event program
//! on each.
//!
//! An [`NtupleScan`] layer holds its whole plan: the files, the tree, the entry range
//! of every partition (one task per partition), the branches it reads with the types
//! they had when the plan was made, the steps of the event program (`define`,
//! `filter`, in order) and what each partition produces:
//! - [`NtupleOutput::Reduce`]: histograms, counts and sums packed into one float64
//!   chunk of shape `[1, width]` per partition, so that a tree of ordinary
//!   [`Combine`](crate::Combine) steps with `Sum` over axis 0 merges them;
//! - [`NtupleOutput::Table`]: the selected events' columns as an Arrow table chunk.
//!
//! Expansion stays a pure function of the graph: an ntuple layer reads no other layer.
//! [`plan_partitions`] cuts files into partitions aligned to their clusters.

use std::ops::Range;

use crate::expr::{self, Elem, Expr, ExprError, NameType, Scope, Type};
use crate::grid::ChunkGrid;

/// Element types of branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prim {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Prim {
    pub fn elem(self) -> Elem {
        match self {
            Prim::Bool => Elem::Bool,
            Prim::F32 | Prim::F64 => Elem::Float,
            _ => Elem::Int,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Prim::Bool => "bool",
            Prim::I8 => "int8",
            Prim::U8 => "uint8",
            Prim::I16 => "int16",
            Prim::U16 => "uint16",
            Prim::I32 => "int32",
            Prim::U32 => "uint32",
            Prim::I64 => "int64",
            Prim::U64 => "uint64",
            Prim::F32 => "float32",
            Prim::F64 => "float64",
        }
    }
}

/// What a branch holds, as far as expressions are concerned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BranchKind {
    /// One value per event.
    Scalar(Prim),
    /// A list of values per event: counted arrays, `std::vector`, fixed-size arrays.
    List(Prim),
    /// Anything else (strings, nested lists): readable into tables only. Holds why.
    Other(String),
}

impl BranchKind {
    pub fn name_type(&self) -> NameType {
        match self {
            BranchKind::Scalar(p) => NameType::Value(Type {
                elem: p.elem(),
                jagged: false,
            }),
            BranchKind::List(p) => NameType::Value(Type {
                elem: p.elem(),
                jagged: true,
            }),
            BranchKind::Other(why) => NameType::Unusable(why.clone()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            BranchKind::Scalar(p) => p.name().to_string(),
            BranchKind::List(p) => format!("list of {}", p.name()),
            BranchKind::Other(why) => why.clone(),
        }
    }
}

/// A branch a layer reads, with the kind it had in the files when planned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BranchDecl {
    pub name: String,
    pub kind: BranchKind,
}

/// One task's share of the data: entries `start..stop` of the tree in `files[file]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Partition {
    pub file: u32,
    pub start: u64,
    pub stop: u64,
}

/// One step of the event program.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A new per-event (or per-object) column.
    Define { name: String, expr: String },
    /// Keeps the events where the expression is true.
    Filter(String),
}

/// A regular histogram axis: `bins` bins over `[low, high)`, plus underflow and
/// overflow. See [`HistAxis::index`] for exactly which bin a value goes to.
#[derive(Clone, Debug, PartialEq)]
pub struct HistAxis {
    pub expr: String,
    pub bins: u32,
    pub low: f64,
    pub high: f64,
}

impl HistAxis {
    /// Bin edges: `edges[k] = k * ((high - low) / bins) + low` for `k < bins` and
    /// `edges[bins] = high` (NumPy's `linspace`, so `numpy.histogram` and
    /// `numpy.searchsorted` see the same edges).
    pub fn edges(&self) -> Vec<f64> {
        (0..=self.bins).map(|k| self.edge(k)).collect()
    }

    #[inline]
    pub fn edge(&self, k: u32) -> f64 {
        if k >= self.bins {
            self.high
        } else {
            k as f64 * ((self.high - self.low) / self.bins as f64) + self.low
        }
    }

    /// Number of slots including underflow and overflow.
    pub fn slots(&self) -> u64 {
        self.bins as u64 + 2
    }

    /// Slot of `x`: 0 is underflow (`x < low`), `k + 1` holds
    /// `edges[k] <= x < edges[k + 1]`, `bins + 1` is overflow (`x >= high`, and NaN, as
    /// in ROOT and boost-histogram).
    #[inline]
    pub fn index(&self, x: f64) -> usize {
        if x < self.low {
            return 0;
        }
        if x >= self.high || x.is_nan() {
            return self.bins as usize + 1;
        }
        let width = (self.high - self.low) / self.bins as f64;
        let mut b = (((x - self.low) / width) as u64).min(self.bins as u64 - 1) as u32;
        // The division can be off by one near an edge; the edges decide.
        while b > 0 && x < self.edge(b) {
            b -= 1;
        }
        while b + 1 < self.bins && x >= self.edge(b + 1) {
            b += 1;
        }
        b as usize + 1
    }

    fn validate(&self) -> Result<(), String> {
        if self.bins == 0 {
            return Err("has 0 bins".into());
        }
        if !(self.low.is_finite() && self.high.is_finite() && self.low < self.high) {
            return Err(format!(
                "has the range [{}, {}): it must be finite with low < high",
                self.low, self.high
            ));
        }
        // Edges must increase strictly, or bins would be empty by construction.
        let width = (self.high - self.low) / self.bins as f64;
        if width.is_nan()
            || width <= 0.0
            || self.edge(1) <= self.low
            || self.edge(self.bins - 1) >= self.high
        {
            return Err(format!(
                "has {} bins over [{}, {}), too many for float64 edges",
                self.bins, self.low, self.high
            ));
        }
        Ok(())
    }
}

/// A 1-D or 2-D histogram, optionally weighted.
#[derive(Clone, Debug, PartialEq)]
pub struct HistSpec {
    /// One or two axes.
    pub axes: Vec<HistAxis>,
    pub weight: Option<String>,
}

impl HistSpec {
    /// Slots of the (flattened, row-major) histogram, flow bins included.
    pub fn slots(&self) -> u64 {
        self.axes.iter().map(|a| a.slots()).product()
    }
}

/// A per-partition summary that partitions sum into the total.
#[derive(Clone, Debug, PartialEq)]
pub enum Reducer {
    /// Events that pass the filters.
    Count,
    /// Sum over events of a number (over all objects of a jagged one).
    Sum(String),
    /// Filled with the expression of each axis (every object of a jagged one).
    Histogram(HistSpec),
}

impl Reducer {
    /// Values this reducer takes in a partition's chunk: 1 for `Count` and `Sum`; the
    /// slots of a histogram, twice (sums of weights, then of squared weights) when
    /// weighted.
    pub fn width(&self) -> u64 {
        match self {
            Reducer::Count | Reducer::Sum(_) => 1,
            Reducer::Histogram(h) => h.slots() * if h.weight.is_some() { 2 } else { 1 },
        }
    }
}

/// What each partition produces.
#[derive(Clone, Debug, PartialEq)]
pub enum NtupleOutput {
    /// Reducers packed one after the other into a float64 chunk of shape `[1, width]`.
    Reduce(Vec<Reducer>),
    /// The named columns (branches or defined columns) of the selected events, as an
    /// Arrow table chunk.
    Table(Vec<String>),
}

/// The most values the reducers of one layer may take per partition.
pub const MAX_REDUCE_WIDTH: u64 = 1 << 27;

/// Reads partitions of a tree and runs an event program on each: one task per
/// partition.
#[derive(Clone, Debug, PartialEq)]
pub struct NtupleScan {
    pub tree: String,
    /// Paths as the workers see them.
    pub files: Vec<String>,
    pub partitions: Vec<Partition>,
    /// The branches read, with the kinds they had when planned.
    pub branches: Vec<BranchDecl>,
    pub steps: Vec<Step>,
    pub output: NtupleOutput,
}

/// A step with its expression checked.
#[derive(Clone, Debug, PartialEq)]
pub enum CompiledStep {
    Define { name: String, expr: Expr },
    Filter(Expr),
}

/// A reducer with its expressions checked.
#[derive(Clone, Debug, PartialEq)]
pub enum CompiledReducer {
    Count,
    Sum(Expr),
    Histogram {
        spec: HistSpec,
        axes: Vec<Expr>,
        weight: Option<Expr>,
    },
}

impl CompiledReducer {
    /// Values it takes in a partition's chunk (see [`Reducer::width`]).
    pub fn width(&self) -> u64 {
        match self {
            CompiledReducer::Count | CompiledReducer::Sum(_) => 1,
            CompiledReducer::Histogram { spec, .. } => {
                spec.slots() * if spec.weight.is_some() { 2 } else { 1 }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum CompiledOutput {
    Reduce(Vec<CompiledReducer>),
    /// Each column with its type (`None` for a branch that expressions cannot use).
    Table(Vec<(String, Option<Type>)>),
}

/// An ntuple layer's program, checked: what the worker evaluates.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledScan {
    pub steps: Vec<CompiledStep>,
    pub output: CompiledOutput,
}

/// Where in a layer's program an expression error is.
fn at(what: String) -> impl Fn(ExprError) -> String {
    move |e| format!("{what}: {e}")
}

/// Checks that a name can be given to a defined column.
pub fn validate_column_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if !ok {
        return Err(format!(
            "'{name}' is not a valid column name (letters, digits, '_' and '.', not starting \
             with a digit)"
        ));
    }
    if matches!(name, "true" | "false" | "and" | "or" | "not") {
        return Err(format!("'{name}' is a reserved word"));
    }
    Ok(())
}

impl NtupleScan {
    /// The scope expressions see before any step: the declared branches.
    pub fn branch_scope(&self) -> Scope {
        let mut scope = Scope::new();
        for b in &self.branches {
            scope.insert(b.name.clone(), b.kind.name_type());
        }
        scope
    }

    pub fn produces_table(&self) -> bool {
        matches!(self.output, NtupleOutput::Table(_))
    }

    /// The output grid: `[[1] * partitions, [width]]` for reducers, `[[1] * partitions]`
    /// for tables.
    pub fn grid(&self) -> Result<ChunkGrid, String> {
        let n = self.partitions.len();
        match &self.output {
            NtupleOutput::Reduce(r) => {
                let width: u64 = r.iter().map(|r| r.width()).sum();
                ChunkGrid::new(vec![vec![1; n], vec![width]])
            }
            NtupleOutput::Table(_) => ChunkGrid::new(vec![vec![1; n]]),
        }
        .map_err(|e| e.to_string())
    }

    /// Checks the plan and compiles its expressions (pure: no file is read).
    pub fn compile(&self) -> Result<CompiledScan, String> {
        if self.tree.is_empty() {
            return Err("names no tree".into());
        }
        if self.files.is_empty() {
            return Err("reads no file".into());
        }
        if self.partitions.is_empty() {
            return Err("has no partitions".into());
        }
        for (i, p) in self.partitions.iter().enumerate() {
            if p.file as usize >= self.files.len() {
                return Err(format!(
                    "partition {i} reads file {}, but the layer has {} files",
                    p.file,
                    self.files.len()
                ));
            }
            if p.start >= p.stop {
                return Err(format!(
                    "partition {i} has the empty entry range {}..{}",
                    p.start, p.stop
                ));
            }
        }
        let mut scope = self.branch_scope();
        if scope.names().count() != self.branches.len() {
            return Err("declares a branch twice".into());
        }
        let mut steps = Vec::with_capacity(self.steps.len());
        let (mut defines, mut filters) = (0, 0);
        for step in &self.steps {
            match step {
                Step::Define { name, expr } => {
                    defines += 1;
                    let what = format!("define {defines} ('{name}')");
                    validate_column_name(name).map_err(|m| format!("{what}: {m}"))?;
                    if scope.contains(name) {
                        return Err(format!(
                            "{what}: a branch or column named '{name}' exists already"
                        ));
                    }
                    let e = expr::compile(expr, &scope).map_err(at(what))?;
                    scope.insert(name.clone(), NameType::Value(e.ty));
                    steps.push(CompiledStep::Define {
                        name: name.clone(),
                        expr: e,
                    });
                }
                Step::Filter(src) => {
                    filters += 1;
                    let what = format!("filter {filters}");
                    let e = expr::compile(src, &scope).map_err(at(what.clone()))?;
                    if e.ty != Type::BOOL {
                        return Err(format!(
                            "{what}: a filter needs one true/false value per event, but \"{src}\" \
                             is {}{}",
                            e.ty.describe(),
                            if e.ty.jagged {
                                "; reduce it with any(...) or all(...)"
                            } else {
                                ""
                            }
                        ));
                    }
                    steps.push(CompiledStep::Filter(e));
                }
            }
        }
        let output = match &self.output {
            NtupleOutput::Reduce(reducers) => {
                if reducers.is_empty() {
                    return Err("computes nothing (no reducers)".into());
                }
                let width: u64 = reducers.iter().map(|r| r.width()).sum();
                if width > MAX_REDUCE_WIDTH {
                    return Err(format!(
                        "its results take {width} values per partition, more than the \
                         {MAX_REDUCE_WIDTH} allowed"
                    ));
                }
                let mut out = Vec::with_capacity(reducers.len());
                for (i, r) in reducers.iter().enumerate() {
                    out.push(compile_reducer(i, r, &scope)?);
                }
                CompiledOutput::Reduce(out)
            }
            NtupleOutput::Table(columns) => {
                if columns.is_empty() {
                    return Err("collects no columns".into());
                }
                let mut out: Vec<(String, Option<Type>)> = Vec::with_capacity(columns.len());
                for c in columns {
                    if out.iter().any(|(n, _)| n == c) {
                        return Err(format!("collects the column '{c}' twice"));
                    }
                    let ty = match scope.get(c) {
                        Some(NameType::Value(t)) => Some(*t),
                        Some(NameType::Unusable(_)) => None,
                        None => {
                            let near = expr::nearest(c, scope.names());
                            return Err(format!(
                                "collects the unknown column '{c}'{}",
                                if near.is_empty() {
                                    String::new()
                                } else {
                                    format!("; did you mean {}?", near.join(", "))
                                }
                            ));
                        }
                    };
                    out.push((c.clone(), ty));
                }
                CompiledOutput::Table(out)
            }
        };
        Ok(CompiledScan { steps, output })
    }
}

fn compile_reducer(i: usize, r: &Reducer, scope: &Scope) -> Result<CompiledReducer, String> {
    let number = |what: &str, src: &str, e: &Expr| -> Result<(), String> {
        if e.ty.is_number() {
            Ok(())
        } else {
            Err(format!(
                "{what} needs numbers, but \"{src}\" is {}",
                e.ty.describe()
            ))
        }
    };
    Ok(match r {
        Reducer::Count => CompiledReducer::Count,
        Reducer::Sum(src) => {
            let what = format!("sum {i}");
            let e = expr::compile(src, scope).map_err(at(what.clone()))?;
            number(&what, src, &e)?;
            CompiledReducer::Sum(e)
        }
        Reducer::Histogram(spec) => {
            let what = format!("histogram {i}");
            if !(1..=2).contains(&spec.axes.len()) {
                return Err(format!(
                    "{what} has {} axes; 1 or 2 are supported",
                    spec.axes.len()
                ));
            }
            let mut axes = Vec::new();
            for (k, a) in spec.axes.iter().enumerate() {
                let what = format!("{what}, axis {k}");
                a.validate().map_err(|m| format!("{what} {m}"))?;
                let e = expr::compile(&a.expr, scope).map_err(at(what.clone()))?;
                number(&what, &a.expr, &e)?;
                axes.push(e);
            }
            if axes.len() == 2 && axes[0].ty.jagged != axes[1].ty.jagged {
                return Err(format!(
                    "{what}: both axes must be per-event values or both jagged, but \"{}\" is {} \
                     and \"{}\" is {}",
                    spec.axes[0].expr,
                    axes[0].ty.describe(),
                    spec.axes[1].expr,
                    axes[1].ty.describe()
                ));
            }
            let weight = match &spec.weight {
                None => None,
                Some(src) => {
                    let what = format!("{what}, weight");
                    let e = expr::compile(src, scope).map_err(at(what.clone()))?;
                    number(&what, src, &e)?;
                    if e.ty.jagged && !axes[0].ty.jagged {
                        return Err(format!(
                            "{what}: a jagged weight (\"{src}\") needs jagged values to fill"
                        ));
                    }
                    Some(e)
                }
            };
            CompiledReducer::Histogram {
                spec: spec.clone(),
                axes,
                weight,
            }
        }
    })
}

/// Cuts files into partitions of about `step_size` entries, aligned to clusters.
///
/// `clusters[f]` are the entry ranges of file `f`'s clusters (consecutive, starting at
/// 0, as [`kaon_ntuple`'s `Tree::clusters`] returns them). Consecutive clusters of one
/// file are joined while joining the next one brings the partition closer to
/// `step_size`; a cluster is never split, so a cluster larger than `step_size` is a
/// partition of its own. Files without entries get no partition. `step_size` 0 is
/// taken as 1 (a partition per cluster).
pub fn plan_partitions(clusters: &[Vec<Range<u64>>], step_size: u64) -> Vec<Partition> {
    let step = step_size.max(1);
    let mut out = Vec::new();
    for (f, cs) in clusters.iter().enumerate() {
        let mut cur: Option<Partition> = None;
        for c in cs.iter().filter(|c| c.end > c.start) {
            match &mut cur {
                Some(p) if p.stop == c.start => {
                    let now = p.stop - p.start;
                    let joined = c.end - p.start;
                    if joined.abs_diff(step) < now.abs_diff(step) {
                        p.stop = c.end;
                    } else {
                        out.push(*p);
                        cur = Some(Partition {
                            file: f as u32,
                            start: c.start,
                            stop: c.end,
                        });
                    }
                }
                _ => {
                    if let Some(p) = cur.take() {
                        out.push(p);
                    }
                    cur = Some(Partition {
                        file: f as u32,
                        start: c.start,
                        stop: c.end,
                    });
                }
            }
        }
        out.extend(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(bounds: &[u64]) -> Vec<Range<u64>> {
        bounds.windows(2).map(|w| w[0]..w[1]).collect()
    }

    fn parts(p: &[Partition]) -> Vec<(u32, u64, u64)> {
        p.iter().map(|p| (p.file, p.start, p.stop)).collect()
    }

    #[test]
    fn partitions_join_clusters_towards_the_step_size() {
        let c = vec![ranges(&[0, 100, 200, 300, 400, 450])];
        assert_eq!(
            parts(&plan_partitions(&c, 200)),
            vec![(0, 0, 200), (0, 200, 400), (0, 400, 450)]
        );
        // 150: joining two clusters of 100 (200) is no closer than 100 was; the last
        // cluster of 50 joins its neighbour (150).
        assert_eq!(
            parts(&plan_partitions(&c, 150)),
            vec![(0, 0, 100), (0, 100, 200), (0, 200, 300), (0, 300, 450)]
        );
        assert_eq!(parts(&plan_partitions(&c, 1000)), vec![(0, 0, 450)]);
        // A cluster larger than the step is never split.
        let c = vec![ranges(&[0, 20000])];
        assert_eq!(parts(&plan_partitions(&c, 5000)), vec![(0, 0, 20000)]);
        assert_eq!(plan_partitions(&c, 0).len(), 1);
    }

    #[test]
    fn partitions_follow_files_and_skip_empty_ones() {
        let c = vec![ranges(&[0, 7, 999]), vec![], ranges(&[0, 5, 10, 15])];
        let p = plan_partitions(&c, 10);
        assert_eq!(
            parts(&p),
            vec![(0, 0, 7), (0, 7, 999), (2, 0, 10), (2, 10, 15)]
        );
        // Odd cluster sizes: the partitions tile every file exactly.
        let odd = [1u64, 7, 999, 4000, 3, 2500, 1234, 5000, 256];
        let mut b = vec![0];
        for s in odd {
            b.push(b.last().unwrap() + s);
        }
        for step in [1, 10, 1000, 3000, 5000, 100_000] {
            let p = plan_partitions(&[ranges(&b)], step);
            assert_eq!(p[0].start, 0);
            assert_eq!(p.last().unwrap().stop, 14000);
            for w in p.windows(2) {
                assert_eq!(w[0].stop, w[1].start);
            }
            for q in &p {
                assert!(b.contains(&q.start) && b.contains(&q.stop));
            }
        }
    }

    #[test]
    fn histogram_slots_agree_with_the_edges() {
        let a = HistAxis {
            expr: "x".into(),
            bins: 100,
            low: 0.0,
            high: 500.0,
        };
        let e = a.edges();
        assert_eq!(e.len(), 101);
        assert_eq!(e[0], 0.0);
        assert_eq!(e[100], 500.0);
        assert_eq!(a.index(-1e-300), 0);
        assert_eq!(a.index(0.0), 1);
        assert_eq!(a.index(4.999999999), 1);
        assert_eq!(a.index(5.0), 2);
        assert_eq!(a.index(499.99), 100);
        assert_eq!(a.index(500.0), 101);
        assert_eq!(a.index(f64::NAN), 101);
        assert_eq!(a.index(f64::INFINITY), 101);
        assert_eq!(a.index(f64::NEG_INFINITY), 0);
        // Awkward ranges: every value lands in the bin its edges say, exactly.
        let a = HistAxis {
            expr: "x".into(),
            bins: 7,
            low: -0.1,
            high: 0.3,
        };
        let e = a.edges();
        let mut x = -0.2f64;
        while x < 0.4 {
            let s = a.index(x);
            let want = e.partition_point(|&edge| edge <= x);
            assert_eq!(s, want, "{x}");
            x += 1e-4;
        }
        for (k, &edge) in e.iter().enumerate() {
            assert_eq!(a.index(edge), k + 1, "edge {k}");
            assert_eq!(a.index(edge.next_down()), k, "below edge {k}");
        }
    }

    fn scan(steps: Vec<Step>, output: NtupleOutput) -> NtupleScan {
        NtupleScan {
            tree: "nominal".into(),
            files: vec!["a.root".into()],
            partitions: vec![Partition {
                file: 0,
                start: 0,
                stop: 10,
            }],
            branches: vec![
                BranchDecl {
                    name: "lep_n".into(),
                    kind: BranchKind::Scalar(Prim::I32),
                },
                BranchDecl {
                    name: "lep_pt".into(),
                    kind: BranchKind::List(Prim::F32),
                },
                BranchDecl {
                    name: "tag".into(),
                    kind: BranchKind::Other("strings".into()),
                },
            ],
            steps,
            output,
        }
    }

    fn hist(expr: &str, weight: Option<&str>) -> NtupleOutput {
        NtupleOutput::Reduce(vec![Reducer::Histogram(HistSpec {
            axes: vec![HistAxis {
                expr: expr.into(),
                bins: 10,
                low: 0.0,
                high: 100.0,
            }],
            weight: weight.map(String::from),
        })])
    }

    #[test]
    fn a_scan_compiles_in_order_and_names_the_failing_step() {
        let ok = scan(
            vec![
                Step::Filter("lep_n >= 1".into()),
                Step::Define {
                    name: "lead".into(),
                    expr: "lep_pt[0]".into(),
                },
                Step::Filter("lead > 25".into()),
            ],
            hist("lead", Some("lead / 100")),
        );
        let c = ok.compile().unwrap();
        assert_eq!(c.steps.len(), 3);
        assert_eq!(ok.grid().unwrap().chunks(), &[vec![1], vec![24]]);

        // A filter reading a column defined after it.
        let bad = scan(
            vec![
                Step::Filter("lead > 25".into()),
                Step::Define {
                    name: "lead".into(),
                    expr: "lep_pt[0]".into(),
                },
            ],
            hist("lead", None),
        );
        let e = bad.compile().unwrap_err();
        assert!(e.starts_with("filter 1:") && e.contains("'lead'"), "{e}");

        let bad = scan(vec![Step::Filter("lep_pt > 3".into())], hist("lep_n", None));
        let e = bad.compile().unwrap_err();
        assert!(e.contains("any(...)"), "{e}");

        let bad = scan(
            vec![Step::Define {
                name: "lep_n".into(),
                expr: "1".into(),
            }],
            hist("lep_n", None),
        );
        assert!(bad.compile().unwrap_err().contains("exists already"));

        let bad = scan(vec![], hist("lep_n > 1", None));
        assert!(bad.compile().unwrap_err().contains("needs numbers"));

        let bad = scan(vec![], hist("lep_n", Some("lep_pt")));
        assert!(bad.compile().unwrap_err().contains("jagged weight"));

        let bad = scan(vec![], hist("tag", None));
        let e = bad.compile().unwrap_err();
        assert!(
            e.contains("cannot be used") && e.contains("column 1"),
            "{e}"
        );

        let bad = scan(
            vec![],
            NtupleOutput::Table(vec!["lep_pt".into(), "lep_pts".into()]),
        );
        assert!(bad.compile().unwrap_err().contains("did you mean lep_pt"));
        let ok = scan(
            vec![],
            NtupleOutput::Table(vec!["lep_pt".into(), "tag".into()]),
        );
        assert!(ok.compile().is_ok());
    }

    #[test]
    fn bad_plans_and_axes_are_refused() {
        let mut s = scan(vec![], hist("lep_n", None));
        s.partitions[0].file = 3;
        assert!(s.compile().unwrap_err().contains("file 3"));
        let mut s = scan(vec![], hist("lep_n", None));
        s.partitions[0].stop = 0;
        assert!(s.compile().unwrap_err().contains("empty entry range"));
        let mut s = scan(vec![], hist("lep_n", None));
        s.partitions.clear();
        assert!(s.compile().unwrap_err().contains("no partitions"));
        for (bins, low, high) in [(0, 0.0, 1.0), (10, 1.0, 1.0), (10, 0.0, f64::NAN)] {
            let s = scan(
                vec![],
                NtupleOutput::Reduce(vec![Reducer::Histogram(HistSpec {
                    axes: vec![HistAxis {
                        expr: "lep_n".into(),
                        bins,
                        low,
                        high,
                    }],
                    weight: None,
                })]),
            );
            let e = s.compile().unwrap_err();
            assert!(e.contains("histogram 0, axis 0"), "{e}");
        }
        let s = scan(
            vec![],
            NtupleOutput::Reduce(vec![Reducer::Histogram(HistSpec {
                axes: vec![
                    HistAxis {
                        expr: "lep_n".into(),
                        bins: 100_000,
                        low: 0.0,
                        high: 1.0,
                    };
                    2
                ],
                weight: Some("1.0".into()),
            })]),
        );
        assert!(s.compile().unwrap_err().contains("values per partition"));
    }

    #[test]
    fn column_names_are_checked() {
        assert!(validate_column_name("mll").is_ok());
        assert!(validate_column_name("lep.pt_2").is_ok());
        assert!(validate_column_name("2x").is_err());
        assert!(validate_column_name("a b").is_err());
        assert!(validate_column_name("").is_err());
        assert!(validate_column_name("true").is_err());
    }
}
