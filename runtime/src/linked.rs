//! Models compiled ahead of time and linked into the program: the generic half of the module
//! that `hsc compile` and `hsc::build` write.
//!
//! The generated half holds only what depends on the model: its dims, a `Params` struct with
//! one named field per param, the kernels' symbols and buffers as data, and its spec. It
//! implements [`Linked`] for its `Params` and names this module's types:
//! `pub type Model = rt::linked::Model<Params>;`, `pub type Gradients = rt::linked::Gradients<Params>;`.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::compiled::{AbiBuffer, CompiledEngine, KernelAbi, KernelFn, Real};
use crate::model::{self, Batch, Echo, Forward, Params, RunError};
use crate::spec::{ModelSpec, Pass};

/// One kernel linked into the program: its pass, its buffers in the order of its pointer array
/// (the ABI), and its symbol.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// Which pass.
    pub pass: Pass,
    /// Its buffers.
    pub buffers: &'static [AbiBuffer],
    /// Whether it reads the streams (inputs, targets, cotangents) as `f64`
    /// ([`KernelAbi::streams_f64`]: kernels built from C).
    pub streams_f64: bool,
    /// The linked function.
    pub function: KernelFn,
}

/// The typed params of a model linked ahead of time, and with them what the model is: what a
/// generated module says of its model.
///
/// # Safety
/// Every kernel of [`Linked::KERNELS`] must have been compiled by hsc from the model that
/// [`Linked::spec`] describes, for exactly its buffers, in [`Linked::REAL`] arithmetic: it then
/// reads and writes only those buffers, within their lengths (hsc proves every index in
/// bounds), and as static code it lives as long as the program.
pub unsafe trait Linked: Clone + Default {
    /// The kernels' arithmetic.
    const REAL: Real;
    /// Every kernel of the model.
    const KERNELS: &'static [Kernel];
    /// What the model is, as the runtime sees it.
    fn spec() -> ModelSpec;
    /// Every param's field, in declaration order.
    fn fields(&mut self) -> Vec<&mut Vec<f64>>;
}

/// The runtime's form of typed params: one array per param, in declaration order.
pub fn to_runtime<P: Linked>(params: &P) -> Params {
    let mut copy = params.clone();
    Params { values: copy.fields().into_iter().map(std::mem::take).collect() }
}

/// Typed params from the runtime's form; an error when an array is missing or has the wrong
/// length.
pub fn from_runtime<P: Linked>(params: Params) -> Result<P, RunError> {
    unpack(&P::spec(), params)
}

fn unpack<P: Linked>(spec: &ModelSpec, params: Params) -> Result<P, RunError> {
    if params.values.len() != spec.params.len() {
        let (name, want, got) = (&spec.name, spec.params.len(), params.values.len());
        return Err(RunError::Invalid(format!("{name} has {want} params, not {got}")));
    }
    let mut typed = P::default();
    for ((field, values), array) in typed.fields().into_iter().zip(params.values).zip(&spec.params) {
        if values.len() != array.len() {
            return Err(RunError::Shape {
                what: format!("param {}", array.name),
                expected: array.len(),
                got: values.len(),
                detail: String::new(),
            });
        }
        *field = values;
    }
    Ok(typed)
}

/// Gradients of the loss, summed over the batch for the params.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients<P> {
    /// The loss summed over steps and sequences.
    pub loss: f64,
    /// Per param, in the shape of the params.
    pub params: P,
    /// Per input: `[B, T, ...]`.
    pub inputs: Vec<Vec<f64>>,
    /// Per state array: `[B, ...]`.
    pub initial: Vec<Vec<f64>>,
}

/// A model running on its linked kernels, with typed params `P`.
pub struct Model<P> {
    inner: model::Model,
    params: PhantomData<fn() -> P>,
}

impl<P> Clone for Model<P> {
    fn clone(&self) -> Model<P> {
        Model { inner: self.inner.clone(), params: PhantomData }
    }
}

impl<P: Linked> Default for Model<P> {
    fn default() -> Model<P> {
        Model::new()
    }
}

impl<P: Linked> Model<P> {
    /// The model over the linked kernels.
    pub fn new() -> Model<P> {
        let kernels = P::KERNELS
            .iter()
            .map(|k| {
                (
                    KernelAbi { pass: k.pass, buffers: k.buffers.to_vec(), streams_f64: k.streams_f64 },
                    k.function,
                )
            })
            .collect();
        // SAFETY: `Linked`'s contract: hsc compiled each kernel for exactly these buffers, in
        // this arithmetic; they are static code.
        let engine = unsafe { CompiledEngine::new(kernels, P::REAL, "hsc-aot", Arc::new(())) };
        Model { inner: model::Model::new(P::spec(), Arc::new(engine)), params: PhantomData }
    }

    /// The runtime model (every method, untyped params).
    pub fn runtime(&self) -> &model::Model {
        &self.inner
    }

    /// What the model is: arrays, shapes, integrator.
    pub fn spec(&self) -> &ModelSpec {
        self.inner.spec()
    }

    /// Params drawn from the model's initialisers (the same numbers on every machine).
    pub fn init_params(&self, seed: u64) -> P {
        unpack(self.spec(), self.inner.init_params(seed)).expect("the initialisers follow the spec")
    }

    /// Runs every sequence forward: the final states and the loss.
    pub fn forward(&self, params: &P, batch: &Batch) -> Result<Forward, RunError> {
        self.inner.forward(&to_runtime(params), batch)
    }

    /// Gradients by RHEL (two echoes, fused).
    pub fn rhel_grad(&self, params: &P, batch: &Batch, echo: Echo) -> Result<Gradients<P>, RunError> {
        self.typed(self.inner.rhel_grad(&to_runtime(params), batch, echo)?)
    }

    /// Gradients by the tangent echo (exact, forward-only).
    pub fn tangent_grad(&self, params: &P, batch: &Batch) -> Result<Gradients<P>, RunError> {
        self.typed(self.inner.tangent_grad(&to_runtime(params), batch)?)
    }

    /// Gradients by BPTT over a stored trajectory.
    pub fn bptt_grad(&self, params: &P, batch: &Batch) -> Result<Gradients<P>, RunError> {
        self.typed(self.inner.bptt_grad(&to_runtime(params), batch)?)
    }

    fn typed(&self, g: model::Gradients) -> Result<Gradients<P>, RunError> {
        let params = unpack(self.spec(), Params { values: g.params })?;
        Ok(Gradients { loss: g.loss, params, inputs: g.inputs, initial: g.initial })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ArraySpec, Init, Step};

    /// What a generated module writes for a model with a scalar `a` and a vector `b[3]`, less
    /// the kernels.
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Two {
        a: Vec<f64>,
        b: Vec<f64>,
    }

    // SAFETY: no kernels.
    unsafe impl Linked for Two {
        const REAL: Real = Real::F64;
        const KERNELS: &'static [Kernel] = &[];
        fn spec() -> ModelSpec {
            let array = |name: &str, shape: Vec<usize>| ArraySpec {
                name: name.into(),
                shape,
                init: Init::Uniform { low: -1.0, high: 1.0 },
            };
            ModelSpec {
                name: "Two".into(),
                params: vec![array("a", vec![]), array("b", vec![3])],
                inputs: vec![],
                targets: vec![],
                pairs: vec![],
                has_loss: false,
                integrator: "leapfrog".into(),
                step: Step::Fixed(0.1),
            }
        }
        fn fields(&mut self) -> Vec<&mut Vec<f64>> {
            vec![&mut self.a, &mut self.b]
        }
    }

    #[test]
    fn typed_params_go_to_the_runtime_and_back() {
        let two = Two { a: vec![1.0], b: vec![2.0, 3.0, 4.0] };
        let values = to_runtime(&two);
        assert_eq!(values.values, vec![vec![1.0], vec![2.0, 3.0, 4.0]]);
        assert_eq!(from_runtime::<Two>(values), Ok(two));
        let drawn = Model::<Two>::new().init_params(7);
        assert_eq!(to_runtime(&drawn), Params::init(&Two::spec(), 7));
    }

    #[test]
    fn a_missing_or_misshapen_param_is_an_error_naming_it() {
        let missing = from_runtime::<Two>(Params { values: vec![vec![1.0]] });
        assert_eq!(missing, Err(RunError::Invalid("Two has 2 params, not 1".into())));
        let short = from_runtime::<Two>(Params { values: vec![vec![1.0], vec![2.0]] });
        let Err(RunError::Shape { what, expected: 3, got: 1, .. }) = short else { panic!("{short:?}") };
        assert_eq!(what, "param b");
    }
}
