//! Reading the checkpoints of `hsc train` (`hsc.load_run` in Python builds on this).

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use safetensors::{Dtype, SafeTensors};

use crate::arrays;

/// Reads a safetensors file: `(tensors, metadata)`, the tensors as float64 arrays by name and
/// the metadata as a dict of strings. A damaged file is a `ValueError` naming it.
#[pyfunction]
pub fn read_safetensors<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let name = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| PyOSError::new_err(format!("cannot read `{name}`: {e}")))?;
    let damaged =
        |e: &dyn std::fmt::Display| PyValueError::new_err(format!("`{name}` is not a safetensors file: {e}"));
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| damaged(&e))?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| damaged(&e))?;
    let out = PyDict::new(py);
    for (key, view) in tensors.iter() {
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F64 => {
                data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default())).collect()
            }
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or_default())))
                .collect(),
            other => {
                return Err(PyValueError::new_err(format!(
                    "`{name}`: tensor `{key}` is {other:?}; hsc checkpoints hold F64 or F32"
                )));
            }
        };
        out.set_item(key, arrays::array(py, values, view.shape())?)?;
    }
    let meta = PyDict::new(py);
    for (k, v) in metadata.metadata().iter().flatten() {
        meta.set_item(k, v)?;
    }
    Ok((out, meta))
}
