//! `hsc._native`: the Python extension behind `import hsc`.
//!
//! A compiled model is a [`Model`](model::PyModel) with NumPy arrays in and out; the Python
//! package (`python/hsc/`) adds the JAX and PyTorch functions and reading run folders on top.
//! Every array crossing the boundary is checked here ([`arrays`]): a wrong shape or dtype is a
//! Python exception that names the array and says what was expected, never a crash.

use std::path::PathBuf;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

mod arrays;
mod model;
mod run;

pyo3::create_exception!(
    hsc,
    ModelError,
    PyValueError,
    "A model with errors: the message is hsc's diagnostics, rendered as `hsc check` prints them."
);
pyo3::create_exception!(
    hsc,
    BackendUnavailable,
    PyRuntimeError,
    "The backend asked for cannot run here (no C compiler, no GPU, ...): the message says why."
);

/// Reads, checks and compiles a model file.
///
/// `dims` overrides the file's `dim` values (`{"P": 64}` is `-D P=64`); `precision` is `"f64"`
/// or `"f32"`; `backend` is `"c"`, `"cranelift"`, `"interp"` or `"cuda"`, or `None` for the
/// CPU backend the command line uses by default (C where a C compiler works, else Cranelift).
#[pyfunction]
#[pyo3(signature = (path, dims=None, precision="f64", backend=None))]
fn load(
    py: Python<'_>,
    path: PathBuf,
    dims: Option<Vec<(String, i64)>>,
    precision: &str,
    backend: Option<&str>,
) -> PyResult<model::PyModel> {
    let name = path.display().to_string();
    let bytes = std::fs::read(&path)
        .map_err(|e| ModelError::new_err(format!("error: cannot read `{name}`: {e}\n")))?;
    model::PyModel::compile(py, &name, &bytes, dims.unwrap_or_default(), precision, backend)
}

/// Checks and compiles a model given as source text (`name` labels it in the diagnostics);
/// the other arguments as for [`load`].
#[pyfunction]
#[pyo3(signature = (source, dims=None, precision="f64", backend=None, name="<source>"))]
fn loads(
    py: Python<'_>,
    source: &str,
    dims: Option<Vec<(String, i64)>>,
    precision: &str,
    backend: Option<&str>,
    name: &str,
) -> PyResult<model::PyModel> {
    model::PyModel::compile(py, name, source.as_bytes(), dims.unwrap_or_default(), precision, backend)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyModel>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(loads, m)?)?;
    m.add_function(wrap_pyfunction!(run::read_safetensors, m)?)?;
    m.add("ModelError", m.py().get_type::<ModelError>())?;
    m.add("BackendUnavailable", m.py().get_type::<BackendUnavailable>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
