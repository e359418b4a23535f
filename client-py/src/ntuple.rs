//! ROOT ntuple datasets for Python: `kaon.ntuple` over [`kaon_client::ntuple`].
//!
//! A [`NtupleDataset`] wraps the Rust client's lazy `Dataset` (planned from the files'
//! metadata when read; every `filter`, `define` and query checks its expressions at
//! once). Queries ([`NtupleQuery`]) are lowered together by
//! [`kaon_client::ntuple::lower_queries`] and submitted as one graph through
//! [`Client::submit_graph`], so they get the same `Job` (progress, cancellation,
//! errors) as arrays do; [`NtupleJob::fetch`] decodes the results: a histogram as a
//! dict of NumPy arrays, a count, a sum, or an [`NtupleTable`].
//!
//! Errors keep their context: expression errors become `kaon.ntuple.ExpressionError`
//! (a ValueError with the column), missing files FileNotFoundError, missing trees and
//! branches `kaon.ntuple.MissingTreeError` / `MissingBranchError` (KeyErrors),
//! unreadable files OSError, and failures on the cluster the `kaon.errors` family.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use kaon_client::ntuple::{Dataset, DatasetError, Histogram, QuerySlot, lower_queries};
use kaon_graph::expr::{self, Elem, NameType, Scope, Type};
use kaon_graph::{HistAxis, HistSpec, Prim, Reducer};
use kaon_proto::Dtype;
use numpy::PyArray1;
use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::client::{Client, Job};
use crate::errors::{client_error, kaon_error};

// ---------------------------------------------------------------------- errors

/// An instance of `kaon.ntuple.<class>` built from `args`.
fn ntuple_error<'py>(
    py: Python<'py>,
    class: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyErr {
    let made = py
        .import("kaon.ntuple")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The text between the first `"` after `marker` and the next `"`.
fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let rest = &rest[rest.find('"')? + 1..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The Python exception for a dataset error; `tree` is the tree the dataset reads.
fn dataset_error(py: Python<'_>, e: DatasetError, tree: &str) -> PyErr {
    let text = e.to_string();
    match e {
        DatasetError::Read(r) => match *r {
            kaon_ntuple::NtupleError::Io { file, source } => {
                // As Python's own I/O errors: `[Errno 2] No such file or directory:
                // 'path'`, of the errno's subclass (FileNotFoundError, ...).
                match source.raw_os_error() {
                    Some(code) => {
                        let os = source.to_string();
                        let strerror = os
                            .strip_suffix(&format!(" (os error {code})"))
                            .unwrap_or(&os)
                            .to_string();
                        PyOSError::new_err((code, strerror, file))
                    }
                    None => match source.kind() {
                        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(text),
                        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(text),
                        _ => PyOSError::new_err(text),
                    },
                }
            }
            kaon_ntuple::NtupleError::MissingTree {
                file,
                name,
                available,
            } => ntuple_error(py, "MissingTreeError", (text, file, name, available)),
            kaon_ntuple::NtupleError::MissingBranch {
                file, tree, name, ..
            } => ntuple_error(py, "MissingBranchError", (text, file, tree, name)),
            kaon_ntuple::NtupleError::BadRange { .. } => PyValueError::new_err(text),
            _ => {
                // Not a ROOT file, corrupt, bad compression, unsupported content.
                PyOSError::new_err(text)
            }
        },
        DatasetError::NoMatch(pattern) => PyFileNotFoundError::new_err((
            libc::ENOENT,
            "no file matches the pattern".to_string(),
            pattern,
        )),
        DatasetError::NoFiles | DatasetError::Pattern { .. } => PyValueError::new_err(text),
        DatasetError::Expr { context, error } => {
            let full = format!("{text}\n{}", error.caret());
            let unknown = error
                .message
                .strip_prefix("unknown branch or column '")
                .and_then(|r| r.split('\'').next())
                .map(str::to_string);
            match unknown {
                Some(name) => ntuple_error(
                    py,
                    "UnknownBranchError",
                    (full, error.expr, error.column, error.message, context, name),
                ),
                None => ntuple_error(
                    py,
                    "ExpressionError",
                    (full, error.expr, error.column, error.message, context),
                ),
            }
        }
        DatasetError::Inconsistent(_) => PyTypeError::new_err(text),
        DatasetError::Invalid(message) => {
            if let Some(branch) = quoted_after(&message, "has no branch named") {
                let file = message
                    .split_once(": tree ")
                    .map_or(String::new(), |(f, _)| f.to_string());
                ntuple_error(
                    py,
                    "MissingBranchError",
                    (text, file, tree.to_string(), branch),
                )
            } else {
                PyValueError::new_err(text)
            }
        }
        DatasetError::Client(c) => client_error(py, *c),
    }
}

// ---------------------------------------------------------------------- columns

/// What a branch or defined column holds, as far as conversion is concerned.
#[derive(Clone, Debug)]
enum Holds {
    /// One value per event.
    Flat(Prim),
    /// A list of values per event.
    Jagged(Prim),
    /// Anything else (strings, nested lists), with why expressions cannot use it.
    Other(String),
}

impl Holds {
    fn describe(&self) -> String {
        match self {
            Holds::Flat(p) => p.name().to_string(),
            Holds::Jagged(p) => format!("list of {}", p.name()),
            Holds::Other(why) => why.clone(),
        }
    }

    fn name_type(&self) -> NameType {
        match self {
            Holds::Flat(p) => NameType::Value(Type {
                elem: p.elem(),
                jagged: false,
            }),
            Holds::Jagged(p) => NameType::Value(Type {
                elem: p.elem(),
                jagged: true,
            }),
            Holds::Other(why) => NameType::Unusable(why.clone()),
        }
    }

    /// A defined column: float64 numbers (integers too) or booleans, as the worker
    /// writes them.
    fn of_type(t: Type) -> Holds {
        let p = if t.elem == Elem::Bool {
            Prim::Bool
        } else {
            Prim::F64
        };
        if t.jagged {
            Holds::Jagged(p)
        } else {
            Holds::Flat(p)
        }
    }

    /// The Arrow type of an (empty) column.
    fn arrow(&self) -> DataType {
        match self {
            Holds::Flat(p) => prim_arrow(*p),
            Holds::Jagged(p) => DataType::List(Arc::new(Field::new("item", prim_arrow(*p), false))),
            Holds::Other(_) => DataType::Null,
        }
    }
}

const PRIMS: [Prim; 11] = [
    Prim::Bool,
    Prim::I8,
    Prim::U8,
    Prim::I16,
    Prim::U16,
    Prim::I32,
    Prim::U32,
    Prim::I64,
    Prim::U64,
    Prim::F32,
    Prim::F64,
];

fn prim_arrow(p: Prim) -> DataType {
    match p {
        Prim::Bool => DataType::Boolean,
        Prim::I8 => DataType::Int8,
        Prim::U8 => DataType::UInt8,
        Prim::I16 => DataType::Int16,
        Prim::U16 => DataType::UInt16,
        Prim::I32 => DataType::Int32,
        Prim::U32 => DataType::UInt32,
        Prim::I64 => DataType::Int64,
        Prim::U64 => DataType::UInt64,
        Prim::F32 => DataType::Float32,
        Prim::F64 => DataType::Float64,
    }
}

/// A branch's kind from [`Dataset::branches`]' description of it.
fn parse_holds(describe: &str) -> Holds {
    let prim = |s: &str| PRIMS.iter().copied().find(|p| p.name() == s);
    if let Some(p) = prim(describe) {
        return Holds::Flat(p);
    }
    if let Some(p) = describe.strip_prefix("list of ").and_then(prim) {
        return Holds::Jagged(p);
    }
    Holds::Other(describe.to_string())
}

// ---------------------------------------------------------------------- datasets

/// A lazy selection of events in ROOT trees (`kaon.ntuple.Dataset` wraps it).
#[pyclass(frozen, module = "kaon._kaon")]
pub struct NtupleDataset {
    inner: Dataset,
    /// The names expressions may use, as the Rust dataset sees them.
    scope: Scope,
    /// Every branch and defined column.
    columns: Arc<HashMap<String, Holds>>,
    /// Defined columns, in order.
    defined: Vec<(String, Holds)>,
}

impl NtupleDataset {
    fn err(&self, py: Python<'_>, e: DatasetError) -> PyErr {
        dataset_error(py, e, self.inner.tree())
    }

    fn derive(&self, inner: Dataset) -> NtupleDataset {
        NtupleDataset {
            inner,
            scope: self.scope.clone(),
            columns: self.columns.clone(),
            defined: self.defined.clone(),
        }
    }

    fn query(&self, inner: kaon_client::ntuple::Query, kind: QueryKind) -> NtupleQuery {
        NtupleQuery {
            inner,
            kind,
            tree: self.inner.tree().to_string(),
        }
    }

    /// What a branch or defined column (the latest of that name) holds.
    fn holds(&self, name: &str) -> Option<&Holds> {
        self.defined
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h)
            .or_else(|| self.columns.get(name))
    }

    /// A MissingBranchError for a column that is neither a branch nor defined.
    fn missing_column(&self, py: Python<'_>, name: &str) -> PyErr {
        let near = expr::nearest(name, self.columns.keys().map(|s| s.as_str()));
        let file = self.inner.files().first().cloned().unwrap_or_default();
        let text = format!(
            "{file}: tree {:?} has no branch or defined column named '{name}'{}",
            self.inner.tree(),
            if near.is_empty() {
                String::new()
            } else {
                format!("; did you mean {}?", near.join(", "))
            }
        );
        ntuple_error(
            py,
            "MissingBranchError",
            (text, file, self.inner.tree().to_string(), name.to_string()),
        )
    }
}

#[pymethods]
impl NtupleDataset {
    /// Plans a dataset from the files' metadata (files or glob patterns; a tree path
    /// in each; the default columns of `to_arrow`, None for all; entries per task).
    #[staticmethod]
    #[pyo3(signature = (paths, tree, branches=None, step_size=kaon_client::ntuple::DEFAULT_STEP_SIZE))]
    fn read(
        py: Python<'_>,
        paths: Vec<String>,
        tree: String,
        branches: Option<Vec<String>>,
        step_size: u64,
    ) -> PyResult<Self> {
        if step_size == 0 {
            return Err(PyValueError::new_err("step_size must be at least 1"));
        }
        let t = tree.clone();
        let inner = py
            .detach(move || {
                let b: Option<Vec<&str>> = branches
                    .as_ref()
                    .map(|v| v.iter().map(|s| s.as_str()).collect());
                Dataset::read(&paths, &t, b.as_deref(), step_size)
            })
            .map_err(|e| dataset_error(py, e, &tree))?;
        let mut scope = Scope::new();
        let mut columns = HashMap::new();
        for (name, describe) in inner.branches() {
            let holds = parse_holds(&describe);
            scope.insert(name.clone(), holds.name_type());
            columns.insert(name, holds);
        }
        Ok(NtupleDataset {
            inner,
            scope,
            columns: Arc::new(columns),
            defined: Vec::new(),
        })
    }

    /// Entries in all files, before any filter.
    #[getter]
    fn num_entries(&self) -> u64 {
        self.inner.num_entries()
    }

    /// The files, as absolute paths, in order.
    #[getter]
    fn files(&self) -> Vec<String> {
        self.inner.files()
    }

    #[getter]
    fn tree(&self) -> String {
        self.inner.tree().to_string()
    }

    /// `(file, first entry, end entry)` of every partition (one task each).
    #[getter]
    fn partitions(&self) -> Vec<(String, u64, u64)> {
        self.inner.partitions()
    }

    /// `(name, type)` of every branch of the first file, in file order.
    #[getter]
    fn branches(&self) -> Vec<(String, String)> {
        self.inner.branches()
    }

    /// `(name, type)` of every defined column, in order.
    #[getter]
    fn defined(&self) -> Vec<(String, String)> {
        self.defined
            .iter()
            .map(|(n, h)| (n.clone(), h.describe()))
            .collect()
    }

    /// The steps, in order: `("filter", expr)` or `("define", name, expr)` as
    /// `(kind, name, expr)` with an empty name for filters.
    #[getter]
    fn steps(&self) -> Vec<(String, String, String)> {
        self.inner
            .steps()
            .iter()
            .map(|s| match s {
                kaon_graph::Step::Filter(e) => ("filter".into(), String::new(), e.clone()),
                kaon_graph::Step::Define { name, expr } => {
                    ("define".into(), name.clone(), expr.clone())
                }
            })
            .collect()
    }

    /// Columns `to_arrow()` collects by default.
    #[getter]
    fn default_columns(&self) -> Vec<String> {
        self.inner.default_columns()
    }

    /// `(type, kind)` of a branch or defined column, kind `"flat"`, `"jagged"` or
    /// `"other"`; None for an unknown name.
    fn column_type(&self, name: &str) -> Option<(String, &'static str)> {
        let h = self.holds(name)?;
        let kind = match h {
            Holds::Flat(_) => "flat",
            Holds::Jagged(_) => "jagged",
            Holds::Other(_) => "other",
        };
        Some((h.describe(), kind))
    }

    /// Keeps the events where `expr` is true.
    fn filter(&self, py: Python<'_>, expr: &str) -> PyResult<Self> {
        let inner = self.inner.filter(expr).map_err(|e| self.err(py, e))?;
        Ok(self.derive(inner))
    }

    /// Adds the column `name` computed by `expr`.
    fn define(&self, py: Python<'_>, name: &str, expr: &str) -> PyResult<Self> {
        let inner = self.inner.define(name, expr).map_err(|e| self.err(py, e))?;
        let mut d = self.derive(inner);
        // The same check the Rust dataset made, for the column's type.
        let holds = match expr::compile(expr, &self.scope) {
            Ok(e) => Holds::of_type(e.ty),
            Err(e) => Holds::Other(e.to_string()),
        };
        d.scope.insert(name, holds.name_type());
        d.defined.push((name.to_string(), holds));
        Ok(d)
    }

    /// A 1-D histogram of `expr`: `bins` regular bins over `[low, high)`.
    #[pyo3(signature = (expr, bins, low, high, weight=None))]
    fn histogram(
        &self,
        py: Python<'_>,
        expr: &str,
        bins: u32,
        low: f64,
        high: f64,
        weight: Option<&str>,
    ) -> PyResult<NtupleQuery> {
        let q = self
            .inner
            .histogram(expr, bins, (low, high), weight)
            .map_err(|e| self.err(py, e))?;
        let spec = HistSpec {
            axes: vec![HistAxis {
                expr: expr.to_string(),
                bins,
                low,
                high,
            }],
            weight: weight.map(String::from),
        };
        Ok(self.query(q, QueryKind::Reduce(Reducer::Histogram(spec))))
    }

    /// A 2-D histogram; each axis is `(expr, bins, low, high)`.
    #[pyo3(signature = (x, y, weight=None))]
    fn histogram2d(
        &self,
        py: Python<'_>,
        x: (String, u32, f64, f64),
        y: (String, u32, f64, f64),
        weight: Option<&str>,
    ) -> PyResult<NtupleQuery> {
        let q = self
            .inner
            .histogram2d(
                (x.0.as_str(), x.1, (x.2, x.3)),
                (y.0.as_str(), y.1, (y.2, y.3)),
                weight,
            )
            .map_err(|e| self.err(py, e))?;
        let axis = |a: (String, u32, f64, f64)| HistAxis {
            expr: a.0,
            bins: a.1,
            low: a.2,
            high: a.3,
        };
        let spec = HistSpec {
            axes: vec![axis(x), axis(y)],
            weight: weight.map(String::from),
        };
        Ok(self.query(q, QueryKind::Reduce(Reducer::Histogram(spec))))
    }

    /// The number of selected events.
    fn count(&self) -> NtupleQuery {
        self.query(self.inner.count(), QueryKind::Reduce(Reducer::Count))
    }

    /// The sum of `expr` over the selected events (every object of a jagged value).
    fn sum(&self, py: Python<'_>, expr: &str) -> PyResult<NtupleQuery> {
        let q = self.inner.sum(expr).map_err(|e| self.err(py, e))?;
        Ok(self.query(q, QueryKind::Reduce(Reducer::Sum(expr.to_string()))))
    }

    /// The columns (None: the default ones) of the selected events, as one table.
    #[pyo3(signature = (columns=None))]
    fn to_arrow(&self, py: Python<'_>, columns: Option<Vec<String>>) -> PyResult<NtupleQuery> {
        let columns = columns.unwrap_or_else(|| self.inner.default_columns());
        let mut types = Vec::with_capacity(columns.len());
        for c in &columns {
            let holds = self.holds(c).ok_or_else(|| self.missing_column(py, c))?;
            types.push((c.clone(), holds.arrow()));
        }
        let refs: Vec<&str> = columns.iter().map(|s| s.as_str()).collect();
        let q = self
            .inner
            .to_arrow(Some(&refs))
            .map_err(|e| self.err(py, e))?;
        Ok(self.query(q, QueryKind::Table(types)))
    }
}

// ---------------------------------------------------------------------- queries

#[derive(Clone, Debug)]
enum QueryKind {
    Reduce(Reducer),
    /// Columns and their Arrow types (for an empty result).
    Table(Vec<(String, DataType)>),
}

/// A lazy result of a selection (`kaon.ntuple.Query` wraps it).
#[pyclass(frozen, module = "kaon._kaon")]
pub struct NtupleQuery {
    inner: kaon_client::ntuple::Query,
    kind: QueryKind,
    tree: String,
}

#[pymethods]
impl NtupleQuery {
    /// `"histogram"`, `"count"`, `"sum"` or `"table"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.kind {
            QueryKind::Reduce(Reducer::Histogram(_)) => "histogram",
            QueryKind::Reduce(Reducer::Count) => "count",
            QueryKind::Reduce(Reducer::Sum(_)) => "sum",
            QueryKind::Table(_) => "table",
        }
    }

    /// What the query computes, in words.
    fn describe(&self) -> String {
        match &self.kind {
            QueryKind::Reduce(Reducer::Histogram(h)) => {
                let axes: Vec<String> = h
                    .axes
                    .iter()
                    .map(|a| format!("{} ({} bins over [{}, {}))", a.expr, a.bins, a.low, a.high))
                    .collect();
                let w = h
                    .weight
                    .as_ref()
                    .map_or(String::new(), |w| format!(", weighted by {w}"));
                format!("histogram of {}{w}", axes.join(" x "))
            }
            QueryKind::Reduce(Reducer::Count) => "count".into(),
            QueryKind::Reduce(Reducer::Sum(e)) => format!("sum of {e}"),
            QueryKind::Table(cols) => {
                let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
                format!("table of {}", names.join(", "))
            }
        }
    }

    /// Columns of a table query.
    #[getter]
    fn columns(&self) -> Vec<String> {
        match &self.kind {
            QueryKind::Table(c) => c.iter().map(|(n, _)| n.clone()).collect(),
            QueryKind::Reduce(_) => Vec::new(),
        }
    }

    /// Tasks the query's layer has (one per partition).
    #[getter]
    fn npartitions(&self) -> usize {
        self.inner.dataset().partitions().len()
    }
}

/// Lowers `queries` to one graph and submits it on `client`; returns at once.
#[pyfunction]
fn submit_ntuple(
    py: Python<'_>,
    client: &Client,
    queries: Vec<PyRef<'_, NtupleQuery>>,
) -> PyResult<NtupleJob> {
    let refs: Vec<&kaon_client::ntuple::Query> = queries.iter().map(|q| &q.inner).collect();
    let tree = queries.first().map_or(String::new(), |q| q.tree.clone());
    let (graph, slots) = lower_queries(&refs).map_err(|e| dataset_error(py, e, &tree))?;
    let job = match graph {
        Some(g) => Some(Py::new(py, client.submit_graph(py, g)?)?),
        None => None,
    };
    Ok(NtupleJob {
        job,
        kinds: queries.iter().map(|q| q.kind.clone()).collect(),
        slots,
    })
}

/// A submitted set of ntuple queries.
#[pyclass(frozen, module = "kaon._kaon")]
pub struct NtupleJob {
    /// None when every dataset was empty (nothing to run).
    job: Option<Py<Job>>,
    kinds: Vec<QueryKind>,
    slots: Vec<QuerySlot>,
}

fn protocol(py: Python<'_>, message: String) -> PyErr {
    kaon_error(py, "CommError", (message,))
}

/// A histogram as a dict of NumPy arrays.
fn histogram_dict<'py>(
    py: Python<'py>,
    spec: &HistSpec,
    values: &[f64],
) -> PyResult<Bound<'py, PyAny>> {
    let slots = spec.slots() as usize;
    let d = PyDict::new(py);
    let axes = PyList::empty(py);
    let edges = PyList::empty(py);
    for a in &spec.axes {
        axes.append((a.expr.clone(), a.bins, a.low, a.high))?;
        edges.append(PyArray1::from_vec(py, a.edges()))?;
    }
    d.set_item("axes", axes)?;
    d.set_item("edges", edges)?;
    d.set_item("values", PyArray1::from_slice(py, &values[..slots]))?;
    match &spec.weight {
        Some(w) => {
            d.set_item("weight", w)?;
            d.set_item(
                "variances",
                PyArray1::from_slice(py, &values[slots..2 * slots]),
            )?;
        }
        None => {
            d.set_item("weight", py.None())?;
            d.set_item("variances", py.None())?;
        }
    }
    Ok(d.into_any())
}

fn reduce_result<'py>(py: Python<'py>, r: &Reducer, values: &[f64]) -> PyResult<Bound<'py, PyAny>> {
    Ok(match r {
        Reducer::Count => (values[0] as u64).into_pyobject(py)?.into_any(),
        Reducer::Sum(_) => values[0].into_pyobject(py)?.into_any(),
        Reducer::Histogram(h) => histogram_dict(py, h, values)?,
    })
}

#[pymethods]
impl NtupleJob {
    /// The graph's job (progress, wait, release), or None when there was nothing to run.
    #[getter]
    fn job(&self, py: Python<'_>) -> Option<Py<Job>> {
        self.job.as_ref().map(|j| j.clone_ref(py))
    }

    /// The results of the finished graph, one per query: a histogram as a dict
    /// (`axes`, `edges`, `values` and `variances` with flow bins, `weight`), a count
    /// (int), a sum (float) or an `NtupleTable`. Raises the graph's error if it failed.
    fn fetch<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let (chunks, graph) = match &self.job {
            Some(j) => {
                let job = j.bind(py).get();
                (job.fetch_chunks(py)?, Some(job))
            }
            None => (Vec::new(), None),
        };
        let mut out = Vec::with_capacity(self.kinds.len());
        for (kind, slot) in self.kinds.iter().zip(&self.slots) {
            let item = match (slot, kind) {
                (QuerySlot::Empty, QueryKind::Reduce(r)) => {
                    reduce_result(py, r, &vec![0.0; r.width() as usize])?
                }
                (QuerySlot::Empty, QueryKind::Table(cols)) => {
                    let fields: Vec<Field> = cols
                        .iter()
                        .map(|(n, t)| Field::new(n, t.clone(), false))
                        .collect();
                    let batch = RecordBatch::new_empty(Arc::new(Schema::new(fields)));
                    NtupleTable { batch }.into_pyobject(py)?.into_any()
                }
                (
                    QuerySlot::Reduce {
                        layer,
                        offset,
                        reducer,
                    },
                    _,
                ) => {
                    let graph = graph.expect("a job for a non-empty slot").graph();
                    let c = chunks
                        .iter()
                        .find(|c| c.task.layer == *layer)
                        .ok_or_else(|| protocol(py, format!("no result chunk of layer {layer}")))?;
                    let width = graph.grid(*layer).shape()[1] as usize;
                    if c.dtype != Dtype::F64 || c.bytes.len() != width * 8 {
                        return Err(protocol(
                            py,
                            format!(
                                "result of layer {layer} has dtype {:?} and {} bytes, expected \
                                 {width} float64 values",
                                c.dtype,
                                c.bytes.len()
                            ),
                        ));
                    }
                    let values: Vec<f64> = c
                        .bytes
                        .chunks_exact(8)
                        .skip(*offset)
                        .take(reducer.width() as usize)
                        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect();
                    reduce_result(py, reducer, &values)?
                }
                (QuerySlot::Table { layer }, _) => {
                    let graph = graph.expect("a job for a non-empty slot").graph();
                    let mut parts: Vec<_> =
                        chunks.iter().filter(|c| c.task.layer == *layer).collect();
                    parts.sort_by_key(|c| c.task.chunk);
                    let expected = graph.layer_tasks(*layer) as usize;
                    if parts.len() != expected {
                        return Err(protocol(
                            py,
                            format!("got {} of {expected} table chunks", parts.len()),
                        ));
                    }
                    let batch = py
                        .detach(|| -> Result<RecordBatch, String> {
                            let batches = parts
                                .iter()
                                .map(|c| {
                                    if c.dtype != Dtype::Table {
                                        return Err(format!(
                                            "a table chunk of dtype {:?}",
                                            c.dtype
                                        ));
                                    }
                                    kaon_kernels::read_ipc(&c.bytes).map_err(|e| e.to_string())
                                })
                                .collect::<Result<Vec<_>, _>>()?;
                            let schema = batches[0].schema();
                            arrow_select::concat::concat_batches(&schema, &batches)
                                .map_err(|e| e.to_string())
                        })
                        .map_err(|m| protocol(py, m))?;
                    NtupleTable { batch }.into_pyobject(py)?.into_any()
                }
            };
            out.push(item);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------- tables

/// The selected events' columns (an Arrow record batch).
#[pyclass(frozen, module = "kaon._kaon")]
pub struct NtupleTable {
    batch: RecordBatch,
}

/// A primitive Arrow array as a NumPy array (a copy).
fn prim_numpy<'py>(py: Python<'py>, a: &dyn Array) -> Option<Bound<'py, PyAny>> {
    macro_rules! p {
        ($t:ty) => {
            PyArray1::from_slice(py, &a.as_primitive::<$t>().values()[..]).into_any()
        };
    }
    Some(match a.data_type() {
        DataType::Boolean => {
            let v: Vec<bool> = a.as_boolean().values().iter().collect();
            PyArray1::from_vec(py, v).into_any()
        }
        DataType::Int8 => p!(Int8Type),
        DataType::UInt8 => p!(UInt8Type),
        DataType::Int16 => p!(Int16Type),
        DataType::UInt16 => p!(UInt16Type),
        DataType::Int32 => p!(Int32Type),
        DataType::UInt32 => p!(UInt32Type),
        DataType::Int64 => p!(Int64Type),
        DataType::UInt64 => p!(UInt64Type),
        DataType::Float32 => p!(Float32Type),
        DataType::Float64 => p!(Float64Type),
        _ => return None,
    })
}

#[pymethods]
impl NtupleTable {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The table as an Arrow IPC stream (for `pyarrow.ipc.open_stream`).
    fn ipc<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let batch = &self.batch;
        let bytes = py
            .detach(|| -> Result<Vec<u8>, arrow_schema::ArrowError> {
                let mut out = Vec::new();
                let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())?;
                w.write(batch)?;
                w.finish()?;
                drop(w);
                Ok(out)
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot encode the table: {e}")))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A column as NumPy arrays: `(values, None)` for one value per event,
    /// `(values, offsets)` for a list per event (event `i` holds
    /// `values[offsets[i]:offsets[i + 1]]`). Raises TypeError for other columns.
    fn column<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
        let Some(a) = self.batch.column_by_name(name) else {
            return Err(PyValueError::new_err(format!(
                "the table has no column {name:?}"
            )));
        };
        let unsupported = || {
            PyTypeError::new_err(format!(
                "column {name:?} holds {}, which has no NumPy form",
                a.data_type()
            ))
        };
        if let Some(v) = prim_numpy(py, a.as_ref()) {
            return Ok((v, None));
        }
        let (offsets, values): (Vec<i64>, &dyn Array) = match a.data_type() {
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                (
                    l.value_offsets().iter().map(|&o| o as i64).collect(),
                    l.values().as_ref(),
                )
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                (l.value_offsets().to_vec(), l.values().as_ref())
            }
            DataType::FixedSizeList(_, size) => {
                let l = a.as_fixed_size_list();
                let (start, size) = (l.offset() as i64, *size as i64);
                (
                    (0..=l.len() as i64).map(|i| (start + i) * size).collect(),
                    l.values().as_ref(),
                )
            }
            _ => return Err(unsupported()),
        };
        let values = prim_numpy(py, values).ok_or_else(unsupported)?;
        Ok((values, Some(PyArray1::from_vec(py, offsets).into_any())))
    }
}

// ---------------------------------------------------------------------- ROOT output

/// Writes a 1-D histogram (`values` and `variances` with flow bins) as a TH1D named
/// `name` into a new ROOT file at `path`.
#[pyfunction]
#[pyo3(signature = (path, name, title, axis, values, variances=None))]
fn write_th1d(
    py: Python<'_>,
    path: std::path::PathBuf,
    name: &str,
    title: &str,
    axis: (String, u32, f64, f64),
    values: Vec<f64>,
    variances: Option<Vec<f64>>,
) -> PyResult<()> {
    let (expr, bins, low, high) = axis;
    let axis = HistAxis {
        expr,
        bins,
        low,
        high,
    };
    let slots = axis.slots() as usize;
    if values.len() != slots || variances.as_ref().is_some_and(|v| v.len() != slots) {
        return Err(PyValueError::new_err(format!(
            "a histogram of {bins} bins needs {slots} values (flow bins included), got {}",
            values.len()
        )));
    }
    let h = Histogram {
        edges: vec![axis.edges()],
        axes: vec![axis],
        values,
        variances,
    };
    h.write_root(&path, name, title)
        .map_err(|e| dataset_error(py, e, ""))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NtupleDataset>()?;
    m.add_class::<NtupleQuery>()?;
    m.add_class::<NtupleJob>()?;
    m.add_class::<NtupleTable>()?;
    m.add_function(wrap_pyfunction!(submit_ntuple, m)?)?;
    m.add_function(wrap_pyfunction!(write_th1d, m)?)?;
    Ok(())
}
