//! Lazy arrays for Python: a thin handle over [`kaon_client::Array`].
//!
//! Elementwise operations are NumPy ufuncs by name ([`kaon_client::array::UFUNCS`],
//! with NumPy's dtype rules in [`kaon_client::array::Ufunc`]); reductions are named in
//! [`REDUCTIONS`]. `kaon.array` builds its functions, operators and `__array_ufunc__`
//! from these tables, so an op added there appears in Python with no further code.

use crate::errors::array_error;
use kaon_client::array::{Array, ArrayError, Index, Operand, UFUNCS, Ufunc, lower};
use kaon_graph::dtype::{Scalar, ScalarKind};
use kaon_graph::{DType, Fault, LiteralValues, ReduceOp};
use pyo3::exceptions::{PyIndexError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Reductions with a tree of combine steps.
pub const REDUCTIONS: &[(&str, ReduceOp)] = &[
    ("sum", ReduceOp::Sum),
    ("prod", ReduceOp::Prod),
    ("min", ReduceOp::Min),
    ("max", ReduceOp::Max),
];

fn err(py: Python<'_>, e: ArrayError) -> PyErr {
    match e {
        ArrayError::Type(m) => PyTypeError::new_err(m),
        ArrayError::Overflow(m) => PyOverflowError::new_err(m),
        ArrayError::Index(m) => PyIndexError::new_err(m),
        e => array_error(py, e),
    }
}

fn dtype_named(name: &str) -> PyResult<DType> {
    DType::from_name(name).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "kaon arrays hold float64, float32, int64, int32, uint8 or bool values, not {name}"
        ))
    })
}

/// A Python scalar as a constant: `bool` and `int` exactly (an int beyond int64 as the
/// nearest float, which the ufunc's range check then refuses or compares), else a float.
fn scalar_of(v: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if (v.is_instance_of::<pyo3::types::PyBool>() || v.is_instance_of::<pyo3::types::PyInt>())
        && let Ok(i) = v.extract::<i64>()
    {
        return Ok(Scalar::Int(i));
    }
    Ok(Scalar::Float(v.extract::<f64>()?))
}

fn lookup<T: Copy>(table: &[(&str, T)], name: &str, what: &str) -> PyResult<T> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, op)| *op)
        .ok_or_else(|| PyValueError::new_err(format!("kaon has no {what} named {name:?}")))
}

/// A lazy, chunked array (the handle behind `kaon.array.Array`).
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

    /// An array of `dtype` (NumPy's name) filled with `value` (a Python int, exact, or
    /// float) over explicit per-axis chunk sizes.
    #[staticmethod]
    #[pyo3(signature = (chunks, value, dtype="float64"))]
    fn full(
        py: Python<'_>,
        chunks: Vec<Vec<u64>>,
        value: Bound<'_, PyAny>,
        dtype: &str,
    ) -> PyResult<Self> {
        Array::full_typed(chunks, scalar_of(&value)?, dtype_named(dtype)?)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// The array broadcast to `shape`, with `chunks` (per axis) where given.
    #[pyo3(signature = (shape, chunks=None))]
    fn broadcast_to(
        &self,
        py: Python<'_>,
        shape: Vec<u64>,
        chunks: Option<Vec<Vec<u64>>>,
    ) -> PyResult<Self> {
        self.inner
            .broadcast_to(&shape, chunks)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// NumPy's name of the element type.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype().name()
    }

    /// The array converted to `dtype` (NumPy's name), as NumPy's `astype`.
    fn astype(&self, py: Python<'_>, dtype: &str) -> PyResult<Self> {
        self.inner
            .astype(dtype_named(dtype)?)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// NumPy ufunc `name` (or `where`) of `args`: arrays, or scalars as `(value, kind)`
    /// where kind is `"bool"`, `"int"` or `"float"` for Python's (weak) scalars or a
    /// dtype name for NumPy scalars. At least one operand must be an array.
    #[staticmethod]
    fn ufunc(py: Python<'_>, name: &str, args: Vec<Bound<'_, PyAny>>) -> PyResult<Self> {
        let f = Ufunc::named(name)
            .ok_or_else(|| PyValueError::new_err(format!("kaon has no ufunc named {name:?}")))?;
        let mut ops = Vec::with_capacity(args.len());
        for a in args {
            if let Ok(h) = a.cast::<ArrayHandle>() {
                ops.push(Operand::Array(h.get().inner.clone()));
                continue;
            }
            let (value, kind): (Bound<'_, PyAny>, String) = a.extract()?;
            let value = scalar_of(&value)?;
            ops.push(match kind.as_str() {
                "bool" => Operand::Weak(value, ScalarKind::Bool),
                "int" => Operand::Weak(value, ScalarKind::Int),
                "float" => Operand::Weak(value, ScalarKind::Float),
                other => Operand::Strong(value, dtype_named(other)?),
            });
        }
        f.apply(&ops).map(Self::wrap).map_err(|e| err(py, e))
    }

    /// An int64 array of each element's index along `axis`, over explicit chunks.
    #[staticmethod]
    fn iota(py: Python<'_>, chunks: Vec<Vec<u64>>, axis: usize) -> PyResult<Self> {
        Array::iota(chunks, axis)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
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
        result.map(Self::wrap).map_err(|e| err(py, e))
    }

    /// The axes permuted (None: reversed).
    #[pyo3(signature = (axes=None))]
    fn transpose(&self, py: Python<'_>, axes: Option<Vec<i64>>) -> PyResult<Self> {
        self.inner
            .transpose(axes.as_deref())
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// Basic indexing with normalized items: `("int", i, 0, 0)`, `("slice", start, step,
    /// len)` or `("newaxis", 0, 0, 0)`, applying to the leading axes.
    fn index(&self, py: Python<'_>, items: Vec<(String, i64, i64, i64)>) -> PyResult<Self> {
        let mut parsed = Vec::with_capacity(items.len());
        for (kind, a, b, c) in items {
            let nonneg = |v: i64| {
                u64::try_from(v)
                    .map_err(|_| PyIndexError::new_err(format!("index {v} is negative")))
            };
            parsed.push(match kind.as_str() {
                "int" => Index::Int(nonneg(a)?),
                "slice" => Index::Slice {
                    start: nonneg(a)?,
                    step: b,
                    len: nonneg(c)?,
                },
                "newaxis" => Index::NewAxis,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown index kind {other:?}"
                    )));
                }
            });
        }
        self.inner
            .index(&parsed)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// The same array with other chunks (explicit per-axis sizes).
    fn rechunk(&self, py: Python<'_>, chunks: Vec<Vec<u64>>) -> PyResult<Self> {
        self.inner
            .rechunk(chunks)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// NumPy's reshape (one length may be -1).
    fn reshape(&self, py: Python<'_>, shape: Vec<i64>) -> PyResult<Self> {
        self.inner
            .reshape(&shape)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// NumPy's concatenate.
    #[staticmethod]
    fn concatenate(
        py: Python<'_>,
        arrays: Vec<PyRef<'_, ArrayHandle>>,
        axis: i64,
    ) -> PyResult<Self> {
        let refs: Vec<&Array> = arrays.iter().map(|a| &a.inner).collect();
        Array::concatenate(&refs, axis)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// NumPy's stack.
    #[staticmethod]
    fn stack(py: Python<'_>, arrays: Vec<PyRef<'_, ArrayHandle>>, axis: i64) -> PyResult<Self> {
        let refs: Vec<&Array> = arrays.iter().map(|a| &a.inner).collect();
        Array::stack(&refs, axis)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// An array given as data: `values` are little-endian bytes in C order, int64 for
    /// integer and bool dtypes and float64 for float dtypes, already inside `dtype`'s
    /// value set.
    #[staticmethod]
    fn from_bytes(
        py: Python<'_>,
        values: &[u8],
        chunks: Vec<Vec<u64>>,
        dtype: &str,
    ) -> PyResult<Self> {
        let dtype = dtype_named(dtype)?;
        let words = values
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let values = if dtype.is_float() {
            LiteralValues::F64(words.map(f64::from_bits).collect())
        } else {
            LiteralValues::I64(words.map(|w| w as i64).collect())
        };
        Array::from_values(values, chunks, dtype)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// How many elements `mask` keeps in each chunk (an array to compute first).
    fn mask_counts(&self, py: Python<'_>, mask: PyRef<'_, ArrayHandle>) -> PyResult<Self> {
        self.inner
            .mask_counts(&mask.inner)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// `x[mask]`, given the computed `mask_counts` (flattened, chunks in C order).
    fn compress(
        &self,
        py: Python<'_>,
        mask: PyRef<'_, ArrayHandle>,
        counts: Vec<u64>,
    ) -> PyResult<Self> {
        self.inner
            .compress(&mask.inner, &counts)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// The cumulative `sum` or `prod` along `axis`.
    fn cumulative(&self, py: Python<'_>, name: &str, axis: i64) -> PyResult<Self> {
        let op = lookup(REDUCTIONS, name, "reduction")?;
        self.inner
            .cumulative(op, axis)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// The matrix product of two 2-D arrays.
    #[staticmethod]
    fn matmul(
        py: Python<'_>,
        a: PyRef<'_, ArrayHandle>,
        b: PyRef<'_, ArrayHandle>,
    ) -> PyResult<Self> {
        Array::matmul(&a.inner, &b.inner)
            .map(Self::wrap)
            .map_err(|e| err(py, e))
    }

    /// NumPy's histogram of all elements with `bins` regular bins over `[lo, hi]`.
    #[pyo3(signature = (bins, lo, hi, weights=None, split_every=None))]
    fn histogram(
        &self,
        py: Python<'_>,
        bins: u32,
        lo: f64,
        hi: f64,
        weights: Option<PyRef<'_, ArrayHandle>>,
        split_every: Option<u32>,
    ) -> PyResult<Self> {
        self.inner
            .histogram(
                bins,
                lo,
                hi,
                weights.as_ref().map(|w| &w.inner),
                split_every,
            )
            .map(Self::wrap)
            .map_err(|e| err(py, e))
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
    UFUNCS.to_vec()
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
