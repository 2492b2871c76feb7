//! `hsc.Model`: a compiled model, its description, and its passes over NumPy arrays.

use hsc::kernel::Precision;
use hsc::{Backend, Override};
use hsc_runtime::{ArraySpec, Batch, Echo, Gradients, Model, ModelSpec, Params, RunError, Step};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{self, Axis, Numbers, Sizes};
use crate::{BackendUnavailable, ModelError};

/// A compiled model: its kernels on one backend, in one precision. Made by `hsc.load`.
#[pyclass(module = "hsc", name = "Model", frozen)]
pub struct PyModel {
    model: Model,
    backend: Backend,
    note: Option<String>,
    dims: Vec<(String, u64)>,
    source: String,
}

impl PyModel {
    /// Checks and compiles `bytes` (named `name` in the diagnostics), with the GIL released.
    pub fn compile(
        py: Python<'_>,
        name: &str,
        bytes: &[u8],
        dims: Vec<(String, i64)>,
        precision: &str,
        backend: Option<&str>,
    ) -> PyResult<PyModel> {
        let precision: Precision = precision.parse().map_err(PyValueError::new_err)?;
        let named: Option<Backend> = backend.map(str::parse).transpose().map_err(PyValueError::new_err)?;
        let overrides: Vec<Override> =
            dims.into_iter().map(|(name, value)| Override { name, value: value.to_string() }).collect();
        let source = String::from_utf8_lossy(bytes).into_owned();
        py.detach(|| {
            let compiled = hsc::compile_source(name, bytes, &overrides).map_err(ModelError::new_err)?;
            let (backend, note) = named.map_or_else(Backend::native, |b| (b, None));
            let model = compiled
                .model(backend, precision)
                .map_err(|d| BackendUnavailable::new_err(hsc_grammar::render(&[d], name, "", false)))?;
            let dims = compiled.program.dims.iter().map(|d| (d.name.clone(), d.value)).collect();
            Ok(PyModel { model, backend, note, dims, source })
        })
    }

    /// Reads and checks the arrays of one call; `need_cotangents` makes missing cotangents (of
    /// a model without a loss) an error instead of zeros.
    #[allow(clippy::too_many_arguments)]
    fn arrays<'py>(
        &self,
        params: &Bound<'py, PyAny>,
        inputs: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        cotangents: Option<&Bound<'py, PyAny>>,
        initial: Option<&Bound<'py, PyAny>>,
        steps: Option<usize>,
        size: Option<usize>,
        need_cotangents: bool,
    ) -> PyResult<Call<'py>> {
        let spec = self.model.spec();
        let mut sizes = Sizes {
            batch: size.map(|b| (b, "size=".to_string())),
            steps: steps.map(|t| (t, "steps=".to_string())),
        };
        const STEPPED: [Axis; 2] = [Axis::Batch, Axis::Steps];
        let param_specs: Vec<&ArraySpec> = spec.params.iter().collect();
        let missing_param = |a: &ArraySpec, shape: String| {
            format!("params: `{}` is missing (shape {shape}); m.init(seed) draws every param", a.name)
        };
        let params = group("param", Some(params), &param_specs, &[], Some(&missing_param), &mut sizes)?;
        let params = Params { values: params.iter().flatten().map(|n| n.data().into_owned()).collect() };
        let required = |what: &'static str| {
            move |a: &ArraySpec, shape: String| {
                format!("{what}s: `{}` is missing; expected shape {shape}", a.name)
            }
        };
        let specs: Vec<&ArraySpec> = spec.inputs.iter().collect();
        let inputs = group("input", inputs, &specs, &STEPPED, Some(&required("input")), &mut sizes)?;
        let targets = if spec.has_loss {
            let specs: Vec<&ArraySpec> = spec.targets.iter().collect();
            group("target", targets, &specs, &STEPPED, Some(&required("target")), &mut sizes)?
        } else {
            arrays::entries("targets (the model has no `loss`)", targets, &[])?;
            Vec::new()
        };
        let cotangents = if spec.has_loss {
            arrays::entries("cotangents (the model has a `loss`, which makes them)", cotangents, &[])?;
            Vec::new()
        } else {
            let positions: Vec<&ArraySpec> = spec.pairs.iter().map(|p| &p.position).collect();
            let missing = |a: &ArraySpec, shape: String| {
                format!(
                    "cotangents: `{0}` is missing; a model without a `loss` is differentiated through \
                     per-step cotangents dL/d{0}_t of its positions, shaped {shape}",
                    a.name
                )
            };
            let missing: Option<Missing<'_>> = need_cotangents.then_some(&missing);
            group("cotangent", cotangents, &positions, &STEPPED, missing, &mut sizes)?
        };
        let initial = group("initial", initial, &self.states(), &[Axis::Batch], None, &mut sizes)?;
        let (Some((size, _)), Some((steps, _))) = (&sizes.batch, &sizes.steps) else {
            return Err(PyValueError::new_err(
                "cannot tell the batch size B and the number of steps T from the arrays given: \
                 pass steps= and size=",
            ));
        };
        let (size, steps) = (*size, *steps);
        let (inputs, targets) =
            (inputs.into_iter().flatten().collect(), targets.into_iter().flatten().collect());
        Ok(Call { params, inputs, targets, cotangents, initial, size, steps })
    }

    /// The names and shapes of the state arrays, in [`ModelSpec::sides`] order.
    fn states(&self) -> Vec<&ArraySpec> {
        let spec = self.model.spec();
        spec.sides().into_iter().map(|s| spec.side(s)).collect()
    }

    /// A dict of batch-wide arrays `[B, extra.., ...shape]`, one per spec.
    fn batched<'py>(
        py: Python<'py>,
        specs: &[&ArraySpec],
        values: Vec<Vec<f64>>,
        lead: &[usize],
    ) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (a, v) in specs.iter().zip(values) {
            let shape: Vec<usize> = lead.iter().chain(&a.shape).copied().collect();
            dict.set_item(&a.name, arrays::array(py, v, &shape)?)?;
        }
        Ok(dict)
    }

    /// `{"loss", "params", "inputs", "initial"}` of a gradient pass.
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        grads: Gradients,
        batch: &Batch,
    ) -> PyResult<Bound<'py, PyDict>> {
        let spec = self.model.spec();
        let out = PyDict::new(py);
        out.set_item("loss", grads.loss)?;
        let params: Vec<&ArraySpec> = spec.params.iter().collect();
        out.set_item("params", Self::batched(py, &params, grads.params, &[])?)?;
        let inputs: Vec<&ArraySpec> = spec.inputs.iter().collect();
        out.set_item("inputs", Self::batched(py, &inputs, grads.inputs, &[batch.size, batch.steps])?)?;
        out.set_item("initial", Self::batched(py, &self.states(), grads.initial, &[batch.size])?)?;
        Ok(out)
    }

    /// Runs `pass` with the GIL released.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        pass: impl FnOnce(&Model) -> Result<T, RunError> + Send,
    ) -> PyResult<T> {
        py.detach(|| pass(&self.model)).map_err(|e| match e {
            RunError::Engine { .. } => PyRuntimeError::new_err(e.to_string()),
            _ => PyValueError::new_err(e.to_string()),
        })
    }
}

/// The arrays of one call, read and checked, held (borrowed from NumPy where they are
/// C-contiguous float64) until the call returns.
struct Call<'py> {
    params: Params,
    inputs: Vec<Numbers<'py>>,
    targets: Vec<Numbers<'py>>,
    /// Per pair; absent ones are zero.
    cotangents: Vec<Option<Numbers<'py>>>,
    /// Per state array; absent ones are zero.
    initial: Vec<Option<Numbers<'py>>>,
    size: usize,
    steps: usize,
}

impl Call<'_> {
    /// The batch, borrowing the arrays.
    fn batch(&self, spec: &ModelSpec) -> Batch<'_> {
        let (size, steps) = (self.size, self.steps);
        let cotangents = self
            .cotangents
            .iter()
            .zip(&spec.pairs)
            .map(|(c, pair)| {
                c.as_ref().map_or_else(|| vec![0.0; size * steps * pair.position.len()].into(), Numbers::data)
            })
            .collect();
        let initial = if self.initial.iter().all(Option::is_none) {
            None
        } else {
            let sides = spec.sides();
            let zeros = |s| vec![0.0; size * spec.side(s).len()].into();
            Some(
                self.initial
                    .iter()
                    .zip(sides)
                    .map(|(v, s)| v.as_ref().map_or_else(|| zeros(s), Numbers::data))
                    .collect(),
            )
        };
        Batch {
            steps,
            size,
            inputs: self.inputs.iter().map(Numbers::data).collect(),
            targets: self.targets.iter().map(Numbers::data).collect(),
            cotangents,
            initial,
        }
    }
}

/// Reads one array and checks its shape.
fn read<'py>(
    what: &str,
    name: &str,
    value: &Bound<'py, PyAny>,
    axes: &[Axis],
    sizes: &mut Sizes,
) -> PyResult<Numbers<'py>> {
    let numbers = arrays::read(&format!("{what} `{name}`"), value)?;
    arrays::check(what, name, &numbers.shape, axes, sizes)?;
    Ok(numbers)
}

/// The error for a missing array, made from the array and the shape expected.
type Missing<'a> = &'a dyn Fn(&ArraySpec, String) -> String;

/// The arrays of one group (`what`: `input`, `param`, ...; the dict's name is its plural,
/// but `initial`) read from the dict `given`, each
/// of the shape `lead` followed by its own. A missing one is an error made by `missing` from
/// the array and the shape expected, or, without `missing`, absent.
fn group<'py>(
    what: &str,
    given: Option<&Bound<'py, PyAny>>,
    specs: &[&ArraySpec],
    lead: &[Axis],
    missing: Option<Missing<'_>>,
    sizes: &mut Sizes,
) -> PyResult<Vec<Option<Numbers<'py>>>> {
    let names: Vec<&str> = specs.iter().map(|a| a.name.as_str()).collect();
    let dict = if what == "initial" { what.to_string() } else { format!("{what}s") };
    let entries = arrays::entries(&dict, given, &names)?;
    let mut out = Vec::with_capacity(specs.len());
    for (a, value) in specs.iter().zip(entries) {
        let axes = Axis::of(lead, &a.shape);
        out.push(match (value, missing) {
            (Some(value), _) => Some(read(what, &a.name, &value, &axes, sizes)?),
            (None, Some(missing)) => {
                return Err(PyValueError::new_err(missing(a, arrays::wanted(&axes, &Sizes::default()))));
            }
            (None, None) => None,
        });
    }
    Ok(out)
}

/// A list of `{"name", "shape"}` dicts (with `init` for params).
fn describe<'py>(py: Python<'py>, specs: &[ArraySpec], with_init: bool) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for a in specs {
        let d = PyDict::new(py);
        d.set_item("name", &a.name)?;
        d.set_item("shape", pyo3::types::PyTuple::new(py, &a.shape)?)?;
        if with_init {
            d.set_item("init", a.init.to_string())?;
        }
        list.append(d)?;
    }
    Ok(list)
}

#[pymethods]
impl PyModel {
    /// The model's name (after `model` in the file).
    #[getter]
    fn name(&self) -> &str {
        &self.model.spec().name
    }

    /// What runs the kernels: `"c"`, `"cranelift"`, `"interp"` or `"cuda"`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// Why the default backend is not C, when it is not (else None).
    #[getter]
    fn backend_note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// `"f64"` or `"f32"`.
    #[getter]
    fn precision(&self) -> &'static str {
        self.model.precision().name()
    }

    /// The model's source text.
    #[getter]
    fn source(&self) -> &str {
        &self.source
    }

    /// What the model is: dims, params (name, shape, init), inputs, targets, states (name,
    /// shape, pair, momentum), whether it has a loss, its integrator and step.
    #[getter]
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let spec: &ModelSpec = self.model.spec();
        let d = PyDict::new(py);
        d.set_item("name", &spec.name)?;
        let dims = PyDict::new(py);
        for (name, value) in &self.dims {
            dims.set_item(name, value)?;
        }
        d.set_item("dims", dims)?;
        d.set_item("params", describe(py, &spec.params, true)?)?;
        d.set_item("inputs", describe(py, &spec.inputs, false)?)?;
        d.set_item("targets", describe(py, &spec.targets, false)?)?;
        let states = PyList::empty(py);
        for s in spec.sides() {
            let a = spec.side(s);
            let e = PyDict::new(py);
            e.set_item("name", &a.name)?;
            e.set_item("shape", pyo3::types::PyTuple::new(py, &a.shape)?)?;
            e.set_item("pair", s.pair)?;
            e.set_item("momentum", s.momentum)?;
            states.append(e)?;
        }
        d.set_item("states", states)?;
        d.set_item("has_loss", spec.has_loss)?;
        d.set_item("integrator", &spec.integrator)?;
        match spec.step {
            Step::Fixed(h) => d.set_item("step", h)?,
            Step::Param(i) => d.set_item("step", &spec.params[i].name)?,
        }
        Ok(d)
    }

    /// The params drawn from the model's initialisers with `seed`, exactly as `hsc train` and
    /// `hsc gradcheck` draw them: a dict of float64 arrays.
    #[pyo3(signature = (seed=0))]
    fn init<'py>(&self, py: Python<'py>, seed: u64) -> PyResult<Bound<'py, PyDict>> {
        let params = self.model.init_params(seed);
        let specs: Vec<&ArraySpec> = self.model.spec().params.iter().collect();
        Self::batched(py, &specs, params.values, &[])
    }

    /// Runs every sequence forward: `{"loss": float, "state": {name: [B, ...]}}`. Inputs,
    /// targets and cotangents are dicts of `[B, T, ...]` arrays; `initial` a dict of `[B, ...]`
    /// state arrays (zero where absent).
    #[pyo3(signature = (params, inputs=None, targets=None, cotangents=None, initial=None, *, steps=None, size=None))]
    #[allow(clippy::too_many_arguments)]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        inputs: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        cotangents: Option<&Bound<'py, PyAny>>,
        initial: Option<&Bound<'py, PyAny>>,
        steps: Option<usize>,
        size: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let call = self.arrays(params, inputs, targets, cotangents, initial, steps, size, false)?;
        let (params, batch) = (&call.params, call.batch(self.model.spec()));
        let forward = self.run(py, |m| m.forward(params, &batch))?;
        let out = PyDict::new(py);
        out.set_item("loss", forward.loss)?;
        out.set_item("state", Self::batched(py, &self.states(), forward.state, &[batch.size])?)?;
        Ok(out)
    }

    /// Runs every sequence forward and records it: `{"loss", "states": {name: [B, T + 1, ...]},
    /// "energy": [B, T + 1]}` (`states[:, t]` is the state after `t` steps).
    #[pyo3(signature = (params, inputs=None, targets=None, cotangents=None, initial=None, *, steps=None, size=None))]
    #[allow(clippy::too_many_arguments)]
    fn trajectory<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        inputs: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        cotangents: Option<&Bound<'py, PyAny>>,
        initial: Option<&Bound<'py, PyAny>>,
        steps: Option<usize>,
        size: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let call = self.arrays(params, inputs, targets, cotangents, initial, steps, size, false)?;
        let (params, batch) = (&call.params, call.batch(self.model.spec()));
        let trajectory = self.run(py, |m| m.trajectory(params, &batch))?;
        let out = PyDict::new(py);
        out.set_item("loss", trajectory.loss)?;
        let lead = [batch.size, batch.steps + 1];
        out.set_item("states", Self::batched(py, &self.states(), trajectory.states, &lead)?)?;
        out.set_item("energy", arrays::array(py, trajectory.energy, &lead)?)?;
        Ok(out)
    }

    /// Gradients by RHEL: two echoes nudged by `+eps` and `-eps` (`echo="central"`, error
    /// O(eps²)), `+eps` and the unnudged echo (`"onesided"`), or two central pairs combined by
    /// Richardson extrapolation (`"richardson"`, O(eps⁴)). `eps` defaults to 1e-5 in f64 and
    /// 1e-3 in f32. Returns `{"loss", "params", "inputs", "initial"}`, each a dict by name.
    #[pyo3(signature = (params, inputs=None, targets=None, cotangents=None, initial=None, *, eps=None, echo="central", steps=None, size=None))]
    #[allow(clippy::too_many_arguments)]
    fn rhel_grad<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        inputs: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        cotangents: Option<&Bound<'py, PyAny>>,
        initial: Option<&Bound<'py, PyAny>>,
        eps: Option<f64>,
        echo: &str,
        steps: Option<usize>,
        size: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let eps = eps.unwrap_or_else(|| hsc::gradcheck::default_eps(self.model.precision()));
        let echo = match echo {
            "central" => Echo::Central(eps),
            "onesided" => Echo::OneSided(eps),
            "richardson" => Echo::Richardson(eps),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown echo `{other}` (expected central, onesided or richardson)"
                )));
            }
        };
        let call = self.arrays(params, inputs, targets, cotangents, initial, steps, size, true)?;
        let (params, batch) = (&call.params, call.batch(self.model.spec()));
        let grads = self.run(py, |m| m.rhel_grad(params, &batch, echo))?;
        self.gradients(py, grads, &batch)
    }

    /// Gradients by the tangent echo (RHEL's eps → 0 limit; exact). Returns as `rhel_grad`.
    #[pyo3(signature = (params, inputs=None, targets=None, cotangents=None, initial=None, *, steps=None, size=None))]
    #[allow(clippy::too_many_arguments)]
    fn tangent_grad<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        inputs: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        cotangents: Option<&Bound<'py, PyAny>>,
        initial: Option<&Bound<'py, PyAny>>,
        steps: Option<usize>,
        size: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let call = self.arrays(params, inputs, targets, cotangents, initial, steps, size, true)?;
        let (params, batch) = (&call.params, call.batch(self.model.spec()));
        let grads = self.run(py, |m| m.tangent_grad(params, &batch))?;
        self.gradients(py, grads, &batch)
    }

    /// Gradients by backpropagation through time over a stored trajectory (the reference).
    /// Returns as `rhel_grad`.
    #[pyo3(signature = (params, inputs=None, targets=None, cotangents=None, initial=None, *, steps=None, size=None))]
    #[allow(clippy::too_many_arguments)]
    fn bptt_grad<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        inputs: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        cotangents: Option<&Bound<'py, PyAny>>,
        initial: Option<&Bound<'py, PyAny>>,
        steps: Option<usize>,
        size: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let call = self.arrays(params, inputs, targets, cotangents, initial, steps, size, true)?;
        let (params, batch) = (&call.params, call.batch(self.model.spec()));
        let grads = self.run(py, |m| m.bptt_grad(params, &batch))?;
        self.gradients(py, grads, &batch)
    }

    fn __repr__(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(|(n, v)| format!("{n}={v}")).collect();
        format!(
            "<hsc.Model {} ({}) on {}, {}>",
            self.model.spec().name,
            dims.join(", "),
            self.backend.name(),
            self.model.precision().name()
        )
    }

    /// Models cannot be pickled (they hold compiled code); `hsc.load` them again.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "an hsc.Model holds compiled code and cannot be pickled; load the model again",
        ))
    }
}
