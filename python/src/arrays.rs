//! NumPy arrays across the boundary: what comes in is checked (a float64 or float32 array of
//! the shape the model needs) and read as row-major `f64`; what goes out is a float64 array
//! that owns the numbers the runtime computed (no copy).

use std::borrow::Cow;
use std::fmt::Write as _;

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt};

/// One axis of an expected shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Axis {
    /// The batch, `B`: the same for every array of a call.
    Batch,
    /// The steps, `T`: the same for every per-step array of a call.
    Steps,
    /// A size fixed by the model.
    Fixed(usize),
}

impl Axis {
    /// The axes `lead` followed by the fixed axes of `shape`.
    pub fn of(lead: &[Axis], shape: &[usize]) -> Vec<Axis> {
        lead.iter().copied().chain(shape.iter().map(|&n| Axis::Fixed(n))).collect()
    }
}

/// The batch size and step count of a call, learned from the first array that has them.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    /// `B`, and the array it came from.
    pub batch: Option<(usize, String)>,
    /// `T`, likewise.
    pub steps: Option<(usize, String)>,
}

/// An array read from Python: its shape and its numbers, row-major. A C-contiguous float64
/// array is borrowed for as long as the guard lives; anything else is converted once.
pub struct Numbers<'py> {
    /// The array's shape.
    pub shape: Vec<usize>,
    guard: Guard<'py>,
}

enum Guard<'py> {
    Borrowed(numpy::PyReadonlyArrayDyn<'py, f64>),
    Owned(Vec<f64>),
}

impl Numbers<'_> {
    /// The numbers, row-major.
    pub fn data(&self) -> Cow<'_, [f64]> {
        match &self.guard {
            Guard::Borrowed(a) => match a.as_slice() {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => Cow::Owned(a.as_array().iter().copied().collect()),
            },
            Guard::Owned(v) => Cow::Borrowed(v),
        }
    }
}

/// Reads `obj` as an array called `what` (`input u`, `param W`): a NumPy array of float64 or
/// float32, or a Python number for a scalar.
pub fn read<'py>(what: &str, obj: &Bound<'py, PyAny>) -> PyResult<Numbers<'py>> {
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        let x: f64 = obj.extract()?;
        return Ok(Numbers { shape: Vec::new(), guard: Guard::Owned(vec![x]) });
    }
    // Anything NumPy can view as an array (a JAX array, a list) is read through np.asarray.
    let converted;
    let array = match obj.cast::<PyUntypedArray>() {
        Ok(array) => array,
        Err(_) => {
            let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
            let not_array = || {
                PyTypeError::new_err(format!("{what} must be an array of float64 or float32, not a `{kind}`"))
            };
            converted =
                obj.py().import("numpy")?.getattr("asarray")?.call1((obj,)).map_err(|_| not_array())?;
            converted.cast::<PyUntypedArray>().map_err(|_| not_array())?
        }
    };
    let shape = array.shape().to_vec();
    let dtype = array.dtype();
    let py = obj.py();
    if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let typed = array.cast::<PyArrayDyn<f64>>()?;
        return Ok(Numbers { shape, guard: Guard::Borrowed(typed.try_readonly()?) });
    }
    if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let typed = array.cast::<PyArrayDyn<f32>>()?.try_readonly()?;
        let data = typed.as_array().iter().map(|&x| f64::from(x)).collect();
        return Ok(Numbers { shape, guard: Guard::Owned(data) });
    }
    Err(PyTypeError::new_err(format!(
        "{what} has dtype {dtype}; hsc takes float64 or float32 arrays (x.astype(np.float64) converts it)"
    )))
}

/// Checks that `numbers` has the shape `expected`, learning `B` and `T` from the first array
/// that has them (`what` names the array in the error).
pub fn check(what: &str, name: &str, got: &[usize], expected: &[Axis], sizes: &mut Sizes) -> PyResult<()> {
    let fail = |sizes: &Sizes| -> PyErr {
        let mut msg =
            format!("{what} `{name}` has shape {}; expected {}", tuple(got), wanted(expected, sizes));
        let learned: Vec<String> = [("B", &sizes.batch), ("T", &sizes.steps)]
            .iter()
            .filter_map(|(axis, from)| from.as_ref().map(|(n, w)| format!("{axis} = {n} from {w}")))
            .collect();
        if !learned.is_empty() {
            let _ = write!(msg, " ({})", learned.join(", "));
        }
        if expected.contains(&Axis::Batch) && got.len() + 1 == expected.len() {
            msg.push_str("; arrays of one sequence need a leading batch axis of 1 (x[None])");
        }
        PyValueError::new_err(msg)
    };
    if got.len() != expected.len() {
        return Err(fail(sizes));
    }
    // Checked against what is known first, learned only once the whole shape fits.
    let mut learned = (None, None);
    for (&n, e) in got.iter().zip(expected) {
        let (known, new) = match e {
            Axis::Fixed(m) if *m == n => continue,
            Axis::Fixed(_) => return Err(fail(sizes)),
            Axis::Batch => (sizes.batch.as_ref().map(|b| b.0), &mut learned.0),
            Axis::Steps => (sizes.steps.as_ref().map(|t| t.0), &mut learned.1),
        };
        match known.or(*new) {
            Some(m) if m != n => return Err(fail(sizes)),
            Some(_) => {}
            None if n == 0 => return Err(fail(sizes)),
            None => *new = Some(n),
        }
    }
    let from = || format!("{what} `{name}`");
    if let Some(b) = learned.0 {
        sizes.batch = Some((b, from()));
    }
    if let Some(t) = learned.1 {
        sizes.steps = Some((t, from()));
    }
    Ok(())
}

/// The shape `axes` as NumPy prints it, with `B` and `T` where `sizes` does not know them yet:
/// `(B, T, 16)`, `(4, 100, 16)`.
pub fn wanted(axes: &[Axis], sizes: &Sizes) -> String {
    let axes: Vec<String> = axes
        .iter()
        .map(|a| match a {
            Axis::Batch => sizes.batch.as_ref().map_or("B".into(), |b| b.0.to_string()),
            Axis::Steps => sizes.steps.as_ref().map_or("T".into(), |t| t.0.to_string()),
            Axis::Fixed(n) => n.to_string(),
        })
        .collect();
    tuple(&axes)
}

/// `(4, 100, 16)`, `()`, `(3,)`, as NumPy prints shapes.
pub fn tuple<T: ToString>(axes: &[T]) -> String {
    match axes {
        [one] => format!("({},)", one.to_string()),
        _ => format!("({})", axes.iter().map(T::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A float64 array of `shape` that takes ownership of `data`.
pub fn array<'py>(py: Python<'py>, data: Vec<f64>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let flat = PyArray1::from_vec(py, data);
    Ok(flat.reshape(shape.to_vec())?.into_any())
}

/// The entries of `dict` (which must be a dict, of `what`), checked against `names`: an unknown
/// key is an error that lists the names there are.
pub fn entries<'py>(
    what: &str,
    dict: Option<&Bound<'py, PyAny>>,
    names: &[&str],
) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
    let mut out = vec![None; names.len()];
    let Some(dict) = dict.filter(|d| !d.is_none()) else { return Ok(out) };
    let Ok(dict) = dict.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(format!("{what} must be a dict of arrays keyed by name")));
    };
    for (key, value) in dict.iter() {
        let key: String =
            key.extract().map_err(|_| PyTypeError::new_err(format!("the keys of {what} must be names")))?;
        match names.iter().position(|&n| n == key) {
            Some(i) => out[i] = Some(value),
            None if names.is_empty() => {
                return Err(PyValueError::new_err(format!(
                    "{what}: the model has none, but `{key}` was given"
                )));
            }
            None => {
                return Err(PyValueError::new_err(format!(
                    "{what}: the model has no `{key}` (it has {})",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(out)
}
