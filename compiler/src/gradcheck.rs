//! `hsc gradcheck`: every way hsc computes gradients, against each other and against finite
//! differences of the loss, on data drawn from a seed.
//!
//! Methods: RHEL central (two echoes at `±ε`), RHEL one-sided (`ε` and the unnudged echo), the
//! tangent echo, BPTT, and fourth-order central differences of the loss; also RHEL at `±2ε`,
//! combined with `±ε` by Richardson extrapolation, to tell RHEL's `O(ε²)` bias (which it
//! removes) from a wrong gradient (which it does not). Quantities: every
//! param, the inputs (all steps) and each initial state array. A relative error is
//! `max |a - b| / max |b|` over one quantity's entries (as rhel_reference.py computes it);
//! finite differences are taken on a random subset of the entries of large quantities.

use std::collections::BTreeMap;

use hsc_runtime::{Batch, Echo, Model, Params, RunError};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::index::sample;
use rand_distr::{Distribution, StandardNormal};

use crate::kernel::Precision;
use crate::{Backend, Compiled};

/// What to check.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Steps per sequence.
    pub steps: usize,
    /// The nudge of the echoes.
    pub eps: f64,
    /// Seed of every draw.
    pub seed: u64,
    /// Arithmetic of RHEL and the tangent echo (BPTT and finite differences are always f64).
    pub precision: Precision,
    /// Most entries per quantity checked by finite differences.
    pub fd_entries: usize,
    /// What runs the kernels (every method, the f64 reference included).
    pub backend: Backend,
}

/// The comparisons, in report order.
pub const PAIRS: [&str; 6] =
    ["rhel_vs_bptt", "richardson_vs_bptt", "onesided_vs_bptt", "tangent_vs_bptt", "bptt_vs_fd", "rhel_vs_fd"];

/// Gradients of one quantity by every method.
#[derive(Clone, Debug)]
pub struct Quantity {
    /// `W[64]`, `inputs u[16] × 50 steps`, `initial q[64]`.
    pub name: String,
    /// The file-name stem for `--dump`.
    pub stem: String,
    /// Shape for `--dump`.
    pub shape: Vec<usize>,
    /// Entries checked by finite differences.
    pub fd_at: Vec<usize>,
    /// `rhel`, `richardson`, `onesided`, `tangent`, `bptt` (all entries) and `fd` (at `fd_at`).
    pub methods: BTreeMap<&'static str, Vec<f64>>,
    /// The relative error of each pair.
    pub errors: BTreeMap<&'static str, f64>,
}

/// The drawn data.
#[derive(Clone, Debug)]
pub struct Drawn {
    /// Params from the model's initialisers.
    pub params: Params,
    /// One sequence: inputs, targets or cotangents, and an initial state, all standard normal
    /// (the state scaled by 1/2).
    pub batch: Batch<'static>,
}

/// Everything `hsc gradcheck` prints.
#[derive(Clone, Debug)]
pub struct Report {
    /// The loss.
    pub loss: f64,
    /// Per quantity.
    pub quantities: Vec<Quantity>,
    /// The worst error of each pair over all quantities.
    pub worst: BTreeMap<&'static str, f64>,
    /// The tolerance of each gated pair (the one-sided echo is `O(ε)` and only reported).
    pub tolerances: BTreeMap<&'static str, f64>,
    /// The data.
    pub drawn: Drawn,
    /// Hamiltonian Learning's check (models with a loss).
    pub hl: Option<HlCheck>,
}

/// Hamiltonian Learning (hl.md) against BPTT.
#[derive(Clone, Debug, PartialEq)]
pub struct HlCheck {
    /// Its building block: one tick from zero costates with `θ = 0`, divided by `δγ`, against
    /// BPTT over that one step: the worst relative error of the state's costate against
    /// `dL/dx_0` and of the params' against `dL/dθ` (exact; gated at [`HL_TOLERANCE`], in f64).
    pub tick_vs_bptt: f64,
    /// The forward rule over the whole sequence with the params fixed: per `θ`, the cosine
    /// between its summed update `Σμ` and BPTT's gradient (biased by design: reported, not gated).
    pub cosines: Vec<(f64, f64)>,
}

/// The gate of [`HlCheck::tick_vs_bptt`].
pub const HL_TOLERANCE: f64 = 1e-10;

impl Report {
    /// Whether every gated pair is within its tolerance.
    pub fn ok(&self) -> bool {
        self.failures().is_empty()
    }

    /// Whether RHEL's error beyond its tolerance is its `O(ε²)` bias: Richardson extrapolation
    /// (`ε` and `2ε`), which cancels the `ε²` term, is within the tolerance.
    pub fn bias_explained(&self) -> bool {
        self.worst["richardson_vs_bptt"] <= self.tolerances["rhel_vs_bptt"]
    }

    /// The gated pairs beyond their tolerance: `(pair, worst error, tolerance)`. RHEL's pairs
    /// are excused when the excess is its `O(ε²)` bias ([`Report::bias_explained`]).
    pub fn failures(&self) -> Vec<(&'static str, f64, f64)> {
        self.tolerances
            .iter()
            .filter(|(pair, tol)| self.worst.get(*pair).is_none_or(|e| e.is_nan() || e > tol))
            .filter(|(pair, _)| !(pair.starts_with("rhel") && self.bias_explained()))
            .map(|(pair, tol)| (*pair, self.worst[pair], *tol))
            .chain(
                self.hl
                    .as_ref()
                    .filter(|h| h.tick_vs_bptt.is_nan() || h.tick_vs_bptt > HL_TOLERANCE)
                    .map(|h| ("hl_tick_vs_bptt", h.tick_vs_bptt, HL_TOLERANCE)),
            )
            .collect()
    }
}

/// The tolerances of a run: RHEL's `O(ε²)` bias is allowed `1e-6` at `ε = 1e-5` in f64,
/// growing as `ε²` up to at most `1e-3` (a larger `ε` fails).
pub fn tolerances(eps: f64, precision: Precision) -> BTreeMap<&'static str, f64> {
    let (rhel, tangent) = match precision {
        Precision::F64 => ((1e-6 * (eps / 1e-5).powi(2)).clamp(1e-6, 1e-3), 1e-9),
        Precision::F32 => (F32_RHEL_TOLERANCE, F32_TANGENT_TOLERANCE),
    };
    BTreeMap::from([
        ("rhel_vs_bptt", rhel),
        ("tangent_vs_bptt", tangent),
        ("bptt_vs_fd", 1e-5),
        ("rhel_vs_fd", rhel + 1e-5),
    ])
}

/// The echoes' default nudge: `1e-5` in f64, [`F32_DEFAULT_EPS`] in f32.
pub fn default_eps(precision: Precision) -> f64 {
    match precision {
        Precision::F64 => 1e-5,
        Precision::F32 => F32_DEFAULT_EPS,
    }
}

/// The default `ε` in f32 (docs/precision.md, from `cargo run --release -p hsc --example precision`).
pub const F32_DEFAULT_EPS: f64 = 1e-3;
/// RHEL-f32 against BPTT-f64 at the default `ε`, for `T <= 200` (measured: 2.2e-4 on
/// NonlinHRU, docs/precision.md).
pub const F32_RHEL_TOLERANCE: f64 = 1e-3;
/// The tangent echo in f32 against BPTT-f64 (measured: 1.7e-5 at T = 1000, docs/precision.md).
pub const F32_TANGENT_TOLERANCE: f64 = 1e-4;

/// Draws params and one sequence from `seed`.
pub fn draw(model: &Model, steps: usize, seed: u64) -> Drawn {
    let spec = model.spec();
    let params = model.init_params(seed);
    // One stream per kind of array, so that the initial state and the first steps' data do
    // not depend on the number of steps.
    let stream =
        |k: u64| ChaCha8Rng::seed_from_u64(seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k + 1)));
    let normal = |rng: &mut ChaCha8Rng, n: usize, scale: f64| -> Vec<f64> {
        (0..n).map(|_| scale * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng)).collect()
    };
    let mut rng = stream(0);
    let initial =
        Some(spec.sides().into_iter().map(|s| normal(&mut rng, spec.side(s).len(), 0.5).into()).collect());
    let mut rng = stream(1);
    let inputs = spec.inputs.iter().map(|a| normal(&mut rng, steps * a.len(), 1.0).into()).collect();
    let mut rng = stream(2);
    let (targets, cotangents) = if spec.has_loss {
        (spec.targets.iter().map(|a| normal(&mut rng, steps * a.len(), 1.0).into()).collect(), Vec::new())
    } else {
        (
            Vec::new(),
            spec.pairs.iter().map(|p| normal(&mut rng, steps * p.position.len(), 1.0).into()).collect(),
        )
    };
    Drawn { params, batch: Batch { steps, size: 1, inputs, targets, cotangents, initial } }
}

/// `max |a - b| / max |b|` (the absolute error where `b` is all zero).
pub fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let num = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let den = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    if a.iter().chain(b).any(|x| !x.is_finite()) {
        f64::INFINITY
    } else if den == 0.0 {
        num
    } else {
        num / den
    }
}

/// Where a perturbation goes.
#[derive(Clone, Copy)]
enum Target {
    Param(usize),
    Input(usize),
    Initial(usize),
}

/// The model on a backend; a backend failure as a run error.
pub(crate) fn build(compiled: &Compiled, backend: Backend, precision: Precision) -> Result<Model, RunError> {
    compiled.model(backend, precision).map_err(|d| RunError::Invalid(d.message))
}

/// Runs every method and compares them.
pub fn run(compiled: &Compiled, opts: &Options) -> Result<Report, RunError> {
    let model = build(compiled, opts.backend, opts.precision)?;
    let reference = build(compiled, opts.backend, Precision::F64)?;
    let drawn = draw(&reference, opts.steps, opts.seed);
    let (params, batch) = (&drawn.params, &drawn.batch);
    let rhel = model.rhel_grad(params, batch, Echo::Central(opts.eps))?;
    let coarse = model.rhel_grad(params, batch, Echo::Central(2.0 * opts.eps))?;
    let onesided = model.rhel_grad(params, batch, Echo::OneSided(opts.eps))?;
    let tangent = model.tangent_grad(params, batch)?;
    let bptt = reference.bptt_grad(params, batch)?;
    let spec = reference.spec().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed.wrapping_add(1));

    let mut quantities = Vec::new();
    let mut add = |name: String,
                   stem: String,
                   shape: Vec<usize>,
                   target: Target,
                   pick: &dyn Fn(&hsc_runtime::Gradients) -> Vec<f64>|
     -> Result<(), RunError> {
        let len = shape.iter().product::<usize>();
        let mut fd_at: Vec<usize> = if len <= opts.fd_entries {
            (0..len).collect()
        } else {
            sample(&mut rng, len, opts.fd_entries).into_vec()
        };
        fd_at.sort_unstable();
        let fd = fd_at
            .iter()
            .map(|&e| finite_difference(&reference, params, batch, target, e))
            .collect::<Result<Vec<f64>, _>>()?;
        let methods = BTreeMap::from([
            ("rhel", pick(&rhel)),
            ("richardson", pick(&rhel).iter().zip(pick(&coarse)).map(|(f, c)| (4.0 * f - c) / 3.0).collect()),
            ("onesided", pick(&onesided)),
            ("tangent", pick(&tangent)),
            ("bptt", pick(&bptt)),
            ("fd", fd),
        ]);
        let at = |m: &str| fd_at.iter().map(|&e| methods[m][e]).collect::<Vec<f64>>();
        let errors = BTreeMap::from([
            ("rhel_vs_bptt", relative_error(&methods["rhel"], &methods["bptt"])),
            ("richardson_vs_bptt", relative_error(&methods["richardson"], &methods["bptt"])),
            ("onesided_vs_bptt", relative_error(&methods["onesided"], &methods["bptt"])),
            ("tangent_vs_bptt", relative_error(&methods["tangent"], &methods["bptt"])),
            ("bptt_vs_fd", relative_error(&at("bptt"), &methods["fd"])),
            ("rhel_vs_fd", relative_error(&at("rhel"), &methods["fd"])),
        ]);
        quantities.push(Quantity { name, stem, shape, fd_at, methods, errors });
        Ok(())
    };
    for (i, p) in spec.params.iter().enumerate() {
        add(p.describe(), format!("param_{}", p.name), p.shape.clone(), Target::Param(i), &|g| {
            g.params[i].clone()
        })?;
    }
    for (i, u) in spec.inputs.iter().enumerate() {
        let mut shape = vec![opts.steps];
        shape.extend(&u.shape);
        let name = format!("input {} × {} steps", u.describe(), opts.steps);
        add(name, format!("input_{}", u.name), shape, Target::Input(i), &|g| g.inputs[i].clone())?;
    }
    for (i, s) in spec.sides().into_iter().enumerate() {
        let a = spec.side(s);
        add(
            format!("initial {}", a.describe()),
            format!("initial_{}", a.name),
            a.shape.clone(),
            Target::Initial(i),
            &|g| g.initial[i].clone(),
        )?;
    }
    let mut worst = BTreeMap::new();
    for pair in PAIRS {
        let w = quantities.iter().map(|q| q.errors[pair]).fold(0.0, f64::max);
        worst.insert(pair, w);
    }
    let hl = if spec.has_loss { Some(hl_check(&reference, params, batch, &bptt)?) } else { None };
    Ok(Report {
        loss: bptt.loss,
        quantities,
        worst,
        tolerances: tolerances(opts.eps, opts.precision),
        drawn,
        hl,
    })
}

/// [`HlCheck`] on `model` (f64) and one sequence, `bptt` its BPTT gradients.
fn hl_check(
    model: &Model,
    params: &Params,
    batch: &Batch,
    bptt: &hsc_runtime::Gradients,
) -> Result<HlCheck, RunError> {
    let spec = model.spec();
    let delta = match spec.step {
        hsc_runtime::Step::Fixed(h) => h,
        hsc_runtime::Step::Param(i) => params.values[i][0],
    };
    let first = |arrays: &[std::borrow::Cow<'_, [f64]>]| -> Vec<std::borrow::Cow<'static, [f64]>> {
        arrays.iter().map(|a| a[..a.len() / batch.steps].to_vec().into()).collect()
    };
    let one = Batch {
        steps: 1,
        size: 1,
        inputs: first(&batch.inputs),
        targets: first(&batch.targets),
        cotangents: Vec::new(),
        initial: batch.initial.clone(),
    };
    let initial = || batch.initial.as_ref().map(|i| i.iter().map(|a| a.to_vec()).collect());
    let exact = model.bptt_grad(params, &one)?;
    let gamma = 1.0;
    let mut hl = model.hl_start(1, initial());
    let tick = model.hl(params, &one, &mut hl, gamma, 0.0)?;
    let scaled = |g: &[Vec<f64>]| -> Vec<f64> { g.concat().iter().map(|x| delta * gamma * x).collect() };
    let tick_vs_bptt = relative_error(&hl.costate.concat(), &scaled(&exact.initial))
        .max(relative_error(&tick.update.concat(), &scaled(&exact.params)));
    let gradient = bptt.params.concat();
    let cosines = [0.0, 0.2, 1.0]
        .into_iter()
        .map(|theta| {
            let mut hl = model.hl_start(1, initial());
            let update = model.hl(params, batch, &mut hl, gamma, theta)?.update.concat();
            let dot: f64 = update.iter().zip(&gradient).map(|(a, b)| a * b).sum();
            let norms = update.iter().map(|a| a * a).sum::<f64>().sqrt()
                * gradient.iter().map(|b| b * b).sum::<f64>().sqrt();
            Ok((theta, dot / norms))
        })
        .collect::<Result<_, RunError>>()?;
    Ok(HlCheck { tick_vs_bptt, cosines })
}

/// `dL/dx` at one entry by the fourth-order central difference with step `1e-5·max(1, |x|)`.
fn finite_difference(
    model: &Model,
    params: &Params,
    batch: &Batch,
    target: Target,
    e: usize,
) -> Result<f64, RunError> {
    let value = |delta: f64| -> Result<f64, RunError> {
        let (mut p, mut b) = (params.clone(), batch.clone());
        let x = match target {
            Target::Param(i) => &mut p.values[i][e],
            Target::Input(i) => &mut b.inputs[i].to_mut()[e],
            Target::Initial(i) => &mut b.initial.as_mut().expect("an initial state")[i].to_mut()[e],
        };
        *x += delta;
        Ok(model.forward(&p, &b)?.loss)
    };
    let x0 = match target {
        Target::Param(i) => params.values[i][e],
        Target::Input(i) => batch.inputs[i][e],
        Target::Initial(i) => batch.initial.as_ref().map_or(0.0, |s| s[i][e]),
    };
    let h = 1e-5 * x0.abs().max(1.0);
    let (f1, f2, m1, m2) = (value(h)?, value(2.0 * h)?, value(-h)?, value(-2.0 * h)?);
    Ok((8.0 * (f1 - m1) - (f2 - m2)) / (12.0 * h))
}
