//! Lazy arrays for Python: a thin handle over [`kaon_client::Array`].
//!
//! Operations are named by their NumPy ufunc and reduction names; [`UNARY_UFUNCS`],
//! [`BINARY_UFUNCS`] and [`REDUCTIONS`] are the one table from those names to Kaon's
//! ops. `kaon.array` builds its functions, operators and `__array_ufunc__` from these
//! tables, so an op added here appears in Python with no further code.

use crate::errors::array_error;
use kaon_client::array::{Array, lower};
use kaon_graph::{BinaryOp, Fault, ReduceOp, UnaryOp};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// NumPy ufuncs of one operand.
pub const UNARY_UFUNCS: &[(&str, UnaryOp)] = &[
    ("negative", UnaryOp::Neg),
    ("absolute", UnaryOp::Abs),
    ("sqrt", UnaryOp::Sqrt),
    ("exp", UnaryOp::Exp),
    ("log", UnaryOp::Log),
    ("sin", UnaryOp::Sin),
    ("cos", UnaryOp::Cos),
    ("tan", UnaryOp::Tan),
    ("arcsin", UnaryOp::Arcsin),
    ("arccos", UnaryOp::Arccos),
    ("arctan", UnaryOp::Arctan),
];

/// NumPy ufuncs of two operands (arrays or scalars).
pub const BINARY_UFUNCS: &[(&str, BinaryOp)] = &[
    ("add", BinaryOp::Add),
    ("subtract", BinaryOp::Sub),
    ("multiply", BinaryOp::Mul),
    ("divide", BinaryOp::Div),
    ("power", BinaryOp::Pow),
    ("maximum", BinaryOp::Max),
    ("minimum", BinaryOp::Min),
];

/// Reductions with a tree of combine steps.
pub const REDUCTIONS: &[(&str, ReduceOp)] = &[
    ("sum", ReduceOp::Sum),
    ("prod", ReduceOp::Prod),
    ("min", ReduceOp::Min),
    ("max", ReduceOp::Max),
];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str, what: &str) -> PyResult<T> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, op)| *op)
        .ok_or_else(|| PyValueError::new_err(format!("kaon has no {what} named {name:?}")))
}

/// A lazy, chunked float64 array (the handle behind `kaon.array.Array`).
#[pyclass(frozen, name = "Array", module = "kaon._kaon")]
pub struct ArrayHandle {
    pub(crate) inner: Array,
}

impl ArrayHandle {
    fn wrap(inner: Array) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl ArrayHandle {
    /// Uniform random numbers in [0, 1) over explicit per-axis chunk sizes.
    #[staticmethod]
    fn random(py: Python<'_>, chunks: Vec<Vec<u64>>, seed: u64) -> PyResult<Self> {
        Array::random_chunks(chunks, seed)
            .map(Self::wrap)
            .map_err(|e| array_error(py, e))
    }

    /// An array filled with `value` over explicit per-axis chunk sizes.
    #[staticmethod]
    fn full(py: Python<'_>, chunks: Vec<Vec<u64>>, value: f64) -> PyResult<Self> {
        Array::full_chunks(chunks, value)
            .map(Self::wrap)
            .map_err(|e| array_error(py, e))
    }

    /// An array whose every chunk fails (tests only): with `message`, the kernel fails
    /// with it; with `exit_worker`, the worker process exits (where allowed).
    #[staticmethod]
    #[pyo3(signature = (chunks, message=None, exit_worker=false))]
    fn fault(
        py: Python<'_>,
        chunks: Vec<Vec<u64>>,
        message: Option<String>,
        exit_worker: bool,
    ) -> PyResult<Self> {
        let fault = if exit_worker {
            Fault::ExitWorker
        } else {
            Fault::Error(message.unwrap_or_else(|| "injected failure".into()))
        };
        Array::fault(chunks, fault)
            .map(Self::wrap)
            .map_err(|e| array_error(py, e))
    }

    #[getter]
    fn shape(&self) -> Vec<u64> {
        self.inner.shape().to_vec()
    }

    /// Chunk sizes per axis, as dask's normalized `chunks`.
    #[getter]
    fn chunks(&self) -> Vec<Vec<u64>> {
        self.inner.logical_chunks()
    }

    /// `ufunc(self)` for a ufunc of [`UNARY_UFUNCS`].
    fn unary(&self, name: &str) -> PyResult<Self> {
        Ok(Self::wrap(self.inner.unary(lookup(
            UNARY_UFUNCS,
            name,
            "unary ufunc",
        )?)))
    }

    /// `ufunc(self, other)` for a ufunc of [`BINARY_UFUNCS`]; shapes and chunks must match.
    fn binary(&self, py: Python<'_>, name: &str, other: &ArrayHandle) -> PyResult<Self> {
        let op = lookup(BINARY_UFUNCS, name, "binary ufunc")?;
        self.inner
            .binary(op, &other.inner)
            .map(Self::wrap)
            .map_err(|e| array_error(py, e))
    }

    /// `ufunc(self, value)`, or `ufunc(value, self)` with `scalar_first`.
    fn scalar(&self, name: &str, value: f64, scalar_first: bool) -> PyResult<Self> {
        let op = lookup(BINARY_UFUNCS, name, "binary ufunc")?;
        Ok(Self::wrap(self.inner.scalar(op, value, scalar_first)))
    }

    /// A tree reduction over `axes` (None: all axes).
    #[pyo3(signature = (name, axes=None, split_every=None, keepdims=false))]
    fn reduce(
        &self,
        py: Python<'_>,
        name: &str,
        axes: Option<Vec<i64>>,
        split_every: Option<u32>,
        keepdims: bool,
    ) -> PyResult<Self> {
        let op = lookup(REDUCTIONS, name, "reduction")?;
        let result = if keepdims {
            self.inner.reduce_keepdims(op, axes.as_deref(), split_every)
        } else {
            self.inner.reduce(op, axes.as_deref(), split_every)
        };
        result.map(Self::wrap).map_err(|e| array_error(py, e))
    }

    /// `(tasks, layer names)` of the fused graph that computes this array.
    fn graph_summary(&self) -> PyResult<(u64, Vec<String>)> {
        let (graph, _) = lower(&[&self.inner]).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let names = graph.layers().iter().map(|l| l.name.clone()).collect();
        Ok((graph.num_tasks(), names))
    }
}

/// `(name, number of operands)` of every ufunc Kaon computes.
#[pyfunction]
fn ufuncs() -> Vec<(&'static str, u32)> {
    UNARY_UFUNCS
        .iter()
        .map(|(n, _)| (*n, 1))
        .chain(BINARY_UFUNCS.iter().map(|(n, _)| (*n, 2)))
        .collect()
}

/// Names of the reductions Kaon computes.
#[pyfunction]
fn reductions() -> Vec<&'static str> {
    REDUCTIONS.iter().map(|(n, _)| *n).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ArrayHandle>()?;
    m.add_function(wrap_pyfunction!(ufuncs, m)?)?;
    m.add_function(wrap_pyfunction!(reductions, m)?)?;
    Ok(())
}
