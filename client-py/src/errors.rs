//! Rust errors as Python exceptions of the right type.
//!
//! Mistakes in the user's expression become ValueError (NumPy's AxisError for axes);
//! cluster faults become the `kaon.errors` family (defined in Python, so they carry
//! attributes and docstrings), e.g. `TaskError` with the failing task's key.

use kaon_client::{ArrayError, ClientError};
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;

/// An instance of `kaon.errors.<class>` built from `args`.
pub(crate) fn kaon_error<'py>(
    py: Python<'py>,
    class: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyErr {
    let made = py
        .import("kaon.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

pub(crate) fn array_error(py: Python<'_>, e: ArrayError) -> PyErr {
    match e {
        ArrayError::AxisOutOfBounds { axis, ndim } => {
            // NumPy's own error for this case (a ValueError and an IndexError).
            let made = py
                .import("numpy.exceptions")
                .and_then(|m| m.getattr("AxisError"))
                .and_then(|c| c.call1((axis, ndim)));
            match made {
                Ok(exc) => PyErr::from_value(exc),
                Err(_) => PyValueError::new_err(e.to_string()),
            }
        }
        ArrayError::DuplicateAxis(a) => {
            PyValueError::new_err(format!("duplicate value in 'axis': {a}"))
        }
        other => PyValueError::new_err(other.to_string()),
    }
}

pub(crate) fn client_error(py: Python<'_>, e: ClientError) -> PyErr {
    let text = e.to_string();
    match e {
        ClientError::Connect { address, .. } => {
            kaon_error(py, "SchedulerUnreachable", (text, address))
        }
        ClientError::InvalidGraph(_) => PyValueError::new_err(text),
        ClientError::Rejected(_) => kaon_error(py, "GraphRejected", (text,)),
        ClientError::TaskFailed {
            key,
            message,
            worker,
        } => task_failed(py, text, key, message, worker),
        ClientError::Released(_) => kaon_error(py, "CancelledError", (text,)),
        ClientError::Fetch(_) | ClientError::Rpc(_) | ClientError::Protocol(_) => {
            kaon_error(py, "CommError", (text,))
        }
    }
}

/// `KilledWorker` for a task that took workers down with it, `TaskError` otherwise.
pub(crate) fn task_failed(
    py: Python<'_>,
    text: String,
    key: String,
    message: String,
    worker: String,
) -> PyErr {
    let class = if message.contains("workers that died") {
        "KilledWorker"
    } else {
        "TaskError"
    };
    kaon_error(py, class, (text, key, message, worker))
}

pub(crate) fn memory_error(text: String) -> PyErr {
    PyMemoryError::new_err(text)
}
