//! Models written independently from the language specification (docs: spec/language.md),
//! by someone who has not read the compiler. Each GOOD model must pass `hsc check`; each BAD
//! model must fail with exit code 1 and a diagnostic that points at the expected line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `(name, source)`: models that obey the spec and must be accepted.
const GOOD: &[(&str, &str)] = &[
    (
        "toda_ring",
        r"# Periodic Toda lattice: exponential nearest-neighbour forces on a ring.
model TodaRing

dim P = 16
param a = 1.0                  # interaction strength
param b = uniform(0.5, 1.5)    # stiffness of the exponential wall

state q[P] momentum p

H = sum(i, 0.5 * p[i]^2)
  + sum(i, a / b * exp(-b * (q[(i + 1) % P] - q[i])) + a * (q[(i + 1) % P] - q[i]))

integrator leapfrog(dt = 0.05)
",
    ),
    (
        "klein_gordon_chain",
        r"# Discretised Klein-Gordon field on a line with fixed spacing h and a trainable mass.
# The time step is itself trainable.
model KleinGordon

dim P = 64
const c = 1.0      # wave speed
const h = 0.1      # lattice spacing

input src[P]       # external source density, one sample per step

param m = uniform(0.1, 1.0)
param step = 0.01

state phi[P] momentum pi

H = sum(i, 0.5 * pi[i]^2)
  + sum(i in 0..P-1, 0.5 * c^2 * (phi[i + 1] - phi[i])^2 / h^2)
  + sum(i, 0.5 * m^2 * phi[i]^2 - src[i] * phi[i])

integrator leapfrog(dt = step)
",
    ),
    (
        "morse_chain",
        r"# Open chain of atoms bound by Morse potentials, per-bond trainable width, unequal masses.
model MorseChain
dim P = 24
const D = 2.0
const r0 = 1.0
param alpha[P] = uniform(0.8, 1.2)
param mass[P] = 1
state x[P] momentum px
H = sum(i, 0.5 * px[i]^2 / mass[i])
  + sum(i in 0..P-1, D * (1 - exp(-alpha[i] * (x[i + 1] - x[i] - r0)))^2)
integrator yoshida4(dt = 0.02)
",
    ),
    (
        "driven_duffing",
        r"# Driven Duffing oscillator; the periodic drive F cos(w t) arrives as a scalar input.
model Duffing

param alpha = -1.0
param beta = 1.0
param gain = uniform(0.5, 2)

input drive

state x[1] momentum v

H = 0.5 * v[0]^2 + 0.5 * alpha * x[0]^2 + 0.25 * beta * x[0]^4 - gain * drive * x[0]

integrator leapfrog(dt = 1e-2)
",
    ),
    (
        "pendulum_ring",
        r"# Identical pendula on a ring, each coupled to its neighbour by a torsion spring.
model PendulumRing
dim P = 12
const g = 9.81
const l = 0.5
param kappa = normal(0.2, 0.05)
state theta[P] momentum L
H = sum(i, L[i]^2 / (2 * l^2))
  + sum(i, g / l * (1 - cos(theta[i])))
  + sum(i, 0.5 * kappa * (theta[(i + 1) % P] - theta[i])^2)
integrator yoshida4(dt = 0.01)
",
    ),
    (
        "hopfield_oscillators",
        r"# Hopfield-like network of oscillators: symmetric couplings between saturated positions.
# No integrator line: the default leapfrog(dt = 1) applies.
model HopfieldOsc

dim P = 32
dim N = 8

input u[N]

param J[P, P]  = normal(0, 0.1)
param B[P, N]  = uniform(-0.1, 0.1)
param omega[P] = uniform(0.5, 1.5)

state s[P] momentum m

let Jsym[i, j] = 0.5 * (J[i, j] + J[j, i])
let h[i]       = sum(j, B[i, j] * u[j])
let act[i]     = tanh(s[i])

H = sum(i, 0.5 * m[i]^2)
  + sum(i, 0.5 * omega[i]^2 * s[i]^2)
  - 0.5 * sum(i, j, Jsym[i, j] * act[i] * act[j])
  - sum(i, h[i] * act[i])
",
    ),
    (
        "spring_grid_flat",
        r"# A 4 x 5 grid of masses flattened row-major into vectors of length 20, with 2-D
# displacements (two state pairs of the same size). Horizontal springs link i and i + 1
# (the links that jump between rows have their own trainable stiffness and may learn 0);
# vertical springs link i and i + 5.
model SpringGrid
dim P = 20
param kh[P] = uniform(0.5, 1.5)
param kv[P] = uniform(0.5, 1.5)
state ux[P] momentum px
state uy[P] momentum py

H = sum(i, 0.5 * (px[i]^2 + py[i]^2))
  + sum(i in 0..P-1, 0.5 * kh[i] * ((ux[i + 1] - ux[i])^2 + (uy[i + 1] - uy[i])^2))
  + sum(i in 0..P-5, 0.5 * kv[i] * ((ux[i + 5] - ux[i])^2 + (uy[i + 5] - uy[i])^2))

integrator leapfrog(dt = 0.05)
",
    ),
    (
        "slow_fast",
        r"# Light fast oscillators x (P of them) coupled to a few heavy slow particles X (M of them):
# two canonical pairs of different sizes.
model SlowFast
dim P = 16
dim M = 4
const eps = 0.01
param G[P, M] = uniform(-0.1, 0.1)
param Mass = 10
state x[P] momentum p
state X[M] momentum Pm
H = sum(i, 0.5 * p[i]^2) + sum(a, 0.5 * Pm[a]^2 / Mass)
  + sum(i, 0.5 * x[i]^2) + sum(a, 0.5 * eps * X[a]^2)
  + sum(i, a, G[i, a] * x[i] * X[a])
integrator yoshida4(dt = 0.05)
",
    ),
    (
        "chain_regressor_loss",
        r"# A harmonic chain driven at one end; a linear readout of the positions must follow
# K targets. The loss also penalises kinetic energy a little.
model ChainRegressor

dim P = 8
dim K = 2

input u[1]
target y[K]

param w[K, P] = normal(0, 0.3)
param k = 1

state q[P] momentum p

let readout[a] = sum(i, w[a, i] * q[i])

H = sum(i, 0.5 * p[i]^2)
  + sum(i in 0..P-1, 0.5 * k * (q[i + 1] - q[i])^2)
  - u[0] * q[0]

loss = sum(a, (readout[a] - y[a])^2) + 0.01 * sum(i, p[i]^2)

integrator leapfrog(dt = 0.1)
",
    ),
    (
        "henon_heiles",
        r"# Henon-Heiles: a star in a galactic potential; comments inside the multi-line H.
model HenonHeiles
param lambda = 1.0
state r[2] momentum pr
H = 0.5 * (pr[0]^2 + pr[1]^2)                   # kinetic
  + 0.5 * (r[0]^2 + r[1]^2)                     # harmonic trap
  + lambda * (r[0]^2 * r[1] - r[1]^3 / 3)       # cubic coupling
integrator yoshida4(dt = 0.01)
",
    ),
    (
        "relativistic_lattice",
        r"# Relativistic particles (K = sqrt(m^2 + p^2), even in p) on a smooth nonlinear lattice.
model RelativisticLattice
dim P = 10
param m = 1
param k[P] = 1
state q[P] momentum p
H = sum(i, sqrt(m^2 + p[i]^2) - m)
  + sum(i, 0.5 * k[i] * q[i]^2)
  + sum(i in 0..P-1, logcosh(q[i+1] - q[i]))
integrator leapfrog(dt = 0.02)
",
    ),
    (
        "mass_matrix",
        r"# Kinetic energy with a trainable (inverse) mass matrix: quadratic, hence even, in p.
model MassMatrix
dim P = 6
param Minv[P, P] = normal(0, 0.1)
param omega[P] = 1
state q[P] momentum p
H = 0.5 * sum(i, j, Minv[i, j] * p[i] * p[j]) + 0.5 * sum(i, p[i]^2)
  + sum(i, 0.5 * omega[i]^2 * q[i]^2)
",
    ),
    (
        "clipped_well_trainable_dt",
        r"# A flat-bottomed well (abs and relu give warnings, not errors) and a trainable
# step for the fourth-order integrator.
model ClippedWell
param tau = 0.05
param depth = 1
state q[3] momentum p
H = sum(i, 0.5 * p[i]^2) + sum(i, depth * relu(abs(q[i]) - 1)^2)
integrator yoshida4(dt = tau)
",
    ),
    (
        "frenkel_kontorova_order_free",
        r"# Frenkel-Kontorova ring in a periodic substrate, pushed by a uniform force F.
# Declarations are in an unusual order: H first, the names it uses after it.
model FrenkelKontorova

H = sum(i, 0.5 * p[i]^2)
  + sum(i, V0 * (1 - cos(2 * 3.14159265 * x[i] / a)))
  + sum(i, 0.5 * k * (x[(i + 1) % P] - x[i] - a)^2)
  - F * sum(i, x[i])

integrator leapfrog(dt = 0.05)

state x[P] momentum p
input F
param k = 1
param V0 = uniform(0.1, 0.5)
const a = 1.0
dim P = 20
",
    ),
    (
        "gated_reservoir",
        r"# A gated reservoir: sigmoid/softplus-shaped potentials, a matrix input, several lets
# and a mean over the oscillators.
model GatedReservoir
dim P = 16
dim N = 4
dim T = 3                         # taps per step: the input is a small matrix
input U[N, T]
param A[P, N] = uniform(-0.5, 0.5)
param tap[T] = 1
param gate[P] = 0
param stiff[P] = uniform(0.5, 1.0)
state q[P] momentum p
let x[j] = sum(t, U[j, t] * tap[t])
let drive[i] = sum(j, A[i, j] * x[j])
let g[i] = sigmoid(gate[i])
let qbar = sum(i, q[i]) / P
H = sum(i, 0.5 * p[i]^2)
  + sum(i, softplus(stiff[i]) * q[i]^2 / 2)
  - sum(i, g[i] * drive[i] * q[i])
  + 0.5 * (qbar)^2
integrator leapfrog(dt = 0.1)
",
    ),
    (
        "backward_differences",
        r"# Backward differences with an explicit range starting at 1, and a left neighbour on a
# ring written as (i + P - 1) % P; run once with the default size.
model BackwardChain
dim P = 8
param k = 1
param J = 0.1
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
  + sum(i in 1..P, 0.5 * k * (q[i] - q[i - 1])^2)
  - J * sum(i, q[(i + P - 1) % P] * q[i])
integrator leapfrog(dt = 0.1)
",
    ),
];

/// `(name, source, extra args, expected line)`: models with one mistake each.
const BAD: &[(&str, &str, &[&str], usize)] = &[
    (
        "typo_in_param_name",
        r"model Typo
dim P = 4
param omega[P] = 1
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * omgea[i] * q[i]^2)
",
        &[],
        5,
    ),
    (
        "wrong_number_of_indices",
        r"model WrongArity
dim P = 4
dim N = 2
input u[N]
param B[P, N] = 0
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
  - sum(i, B[i] * q[i])
",
        &[],
        8,
    ),
    (
        "index_for_two_sizes",
        r"model TwoSizes
dim P = 4
dim N = 3
input u[N]
param B[P, N] = 0
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
  # i binds to P through q and to N through u
  - sum(i, q[i] * u[i])
",
        &[],
        9,
    ),
    (
        "offset_outside_without_range",
        r"# A chain whose author forgot the explicit range.
model NoRange
dim P = 8
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2) + sum(i, 0.5 * (q[i + 1] - q[i])^2)
",
        &[],
        5,
    ),
    (
        "missing_h",
        r"model NoEnergy
dim P = 4
state q[P] momentum p
param k = 1
integrator leapfrog(dt = 0.1)
",
        &[],
        1,
    ),
    (
        "missing_model_line",
        r"dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
",
        &[],
        1,
    ),
    (
        "extra_closing_paren",
        r"model Paren
dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2))
integrator leapfrog(dt = 0.1)
",
        &[],
        4,
    ),
    (
        "missing_operand",
        r"model Operand
dim P = 4
state q[P] momentum p

H = sum(i, 0.5 * p[i]^2 + )
",
        &[],
        5,
    ),
    (
        "duplicate_param",
        r"model Dup
param k = 1
state x[2] momentum v
param k = 2
H = 0.5 * (v[0]^2 + v[1]^2) + 0.5 * k * (x[0]^2 + x[1]^2)
",
        &[],
        4,
    ),
    (
        "unknown_function",
        r"model UnknownFn
dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
  + sum(i, tanhh(q[i]))
",
        &[],
        5,
    ),
    (
        "unbound_index",
        r"model Unbound
dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2) + 0.5 * q[j]^2
",
        &[],
        4,
    ),
    (
        "non_integer_dim",
        r"model HalfDim
dim P = 2.5
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
",
        &[],
        2,
    ),
    (
        "dim_override_not_a_number",
        r"model Override
dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
",
        &["-D", "P=abc"],
        2,
    ),
    (
        "undeclared_name_in_loss",
        r"model LossTypo
state x[2] momentum v
target y[1]
H = 0.5 * (v[0]^2 + v[1]^2) + 0.5 * x[0]^2 + 0.5 * (x[1] - x[0])^2
loss = (x[1] - z[0])^2
",
        &[],
        5,
    ),
    (
        "non_separable_term",
        r"model Mixed
dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
  + sum(i, 0.1 * p[i]^2 * q[i]^2)
",
        &[],
        5,
    ),
    (
        "odd_in_momentum",
        r"model Odd
dim P = 4
param c[P] = 1
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
  + sum(i, c[i] * p[i])
",
        &[],
        6,
    ),
    (
        "momentum_times_input",
        r"model DrivenMomentum
input f
state x[1] momentum v
H = 0.5 * v[0]^2 + 0.5 * x[0]^2 - f * v[0]^2
",
        &[],
        4,
    ),
    (
        "constant_index_out_of_range",
        r"model TwoMasses
param k = 1
state x[2] momentum v
H = 0.5 * (v[0]^2 + v[1]^2) + 0.5 * k * (x[2] - x[1])^2
",
        &[],
        4,
    ),
    (
        "unknown_integrator",
        r"model Euler
state x[1] momentum v
H = 0.5 * v[0]^2 + 0.5 * x[0]^2
integrator euler(dt = 0.1)
",
        &[],
        4,
    ),
    (
        "dt_names_a_vector_param",
        r"model VectorStep
dim P = 4
param steps[P] = 0.1
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
integrator leapfrog(dt = steps)
",
        &[],
        6,
    ),
    (
        "undeclared_dim_in_shape",
        r"model NoSuchDim
dim P = 4
param W[Q] = 1
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
",
        &[],
        3,
    ),
    (
        "misspelled_keyword",
        r"model Keyword
dim P = 4
parm alpha = 1
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
",
        &[],
        3,
    ),
    (
        "two_energies",
        r"model TwoH
state x[1] momentum v
H = 0.5 * v[0]^2 + 0.5 * x[0]^2
H = 0.5 * v[0]^2 + x[0]^4
",
        &[],
        4,
    ),
    (
        "let_with_unbound_index",
        r"model LetIndex
dim P = 4
param c[P] = 0
state q[P] momentum p
let s[i] = sigmoid(c[j])
H = sum(i, 0.5 * p[i]^2 + s[i] * q[i]^2)
",
        &[],
        5,
    ),
    (
        "let_shadows_param",
        r"model LetClash
dim P = 4
param w[P] = 1
state q[P] momentum p
let w[i] = 2 * q[i]
H = sum(i, 0.5 * p[i]^2 + w[i] * q[i])
",
        &[],
        5,
    ),
    (
        "explicit_range_too_long",
        r"model TooFar
dim P = 8
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2)
  + sum(i in 0..P+1, 0.5 * q[i]^2)
",
        &[],
        5,
    ),
    (
        "dim_override_zero",
        r"model ZeroSize

dim P = 4
state q[P] momentum p
H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)
",
        &["-D", "P=0"],
        3,
    ),
];

/// A folder unique to this test process (and test), removed again when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("hsc-third-party-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, source: &str) -> PathBuf {
        let path = self.0.join(format!("{name}.ham"));
        std::fs::write(&path, source).expect("write model");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(path: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hsc"));
    cmd.arg("check").args(extra).arg(path);
    cmd.output().expect("run hsc")
}

/// Every line number `L` of a `:L:C` location (both decimal) in `text`.
fn located_lines(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    for (start, _) in text.match_indices(':') {
        let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let line_len = digits(start + 1);
        let sep = start + 1 + line_len;
        if line_len == 0 || bytes.get(sep) != Some(&b':') || digits(sep + 1) == 0 {
            continue;
        }
        if let Ok(line) = text[start + 1..sep].parse() {
            lines.push(line);
        }
    }
    lines
}

fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn good_models_are_accepted() {
    let scratch = Scratch::new("good");
    let mut failures = Vec::new();
    for &(name, source) in GOOD {
        let path = scratch.write(name, source);
        let out = check(&path, &[]);
        if out.status.code() != Some(0) || String::from_utf8_lossy(&out.stderr).contains("error") {
            failures.push(format!("GOOD {name} was refused or reported an error\n{}", describe(&out)));
        }
    }
    let (failed, total, report) = (failures.len(), GOOD.len(), failures.join("\n\n"));
    assert!(failures.is_empty(), "{failed} of {total} good models failed:\n\n{report}");
}

#[test]
fn bad_models_are_refused_with_a_located_error() {
    let scratch = Scratch::new("bad");
    let mut failures = Vec::new();
    for &(name, source, extra, line) in BAD {
        let path = scratch.write(name, source);
        let out = check(&path, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit status {:?}, expected code 1", out.status));
        }
        if !stderr.contains("error") {
            problems.push("stderr does not contain `error`".to_string());
        }
        if stderr.contains("panicked") {
            problems.push("the compiler panicked".to_string());
        }
        let lines = located_lines(&stderr);
        if !lines.contains(&line) {
            problems.push(format!("no `:{line}:COL` location in stderr (found lines {lines:?})"));
        }
        if !problems.is_empty() {
            failures.push(format!("BAD {name}: {}\n{}", problems.join("; "), describe(&out)));
        }
    }
    let (failed, total, report) = (failures.len(), BAD.len(), failures.join("\n\n"));
    assert!(failures.is_empty(), "{failed} of {total} bad models failed:\n\n{report}");
}

#[test]
fn location_parser_reads_line_col_pairs() {
    assert_eq!(located_lines("m.ham:12:3: error: x"), vec![12]);
    assert_eq!(located_lines("--> /tmp/a.ham:5:1\nerror"), vec![5]);
    assert!(located_lines("error: at 3: nothing").is_empty());
}

/// The good models pass `hsc gradcheck` with its defaults (T = 50, ε = 1e-5, seed 0, f64):
/// RHEL, the tangent echo, BPTT and finite differences agree within the stated tolerances.
#[test]
fn good_models_pass_gradcheck_out_of_the_box() {
    let scratch = Scratch::new("gradcheck");
    let mut failures = Vec::new();
    for &(name, source) in GOOD {
        let path = scratch.write(name, source);
        let out =
            Command::new(env!("CARGO_BIN_EXE_hsc")).arg("gradcheck").arg(&path).output().expect("hsc runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(0) {
            failures.push(format!(
                "GOOD {name} failed gradcheck\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        } else {
            let worst = stdout.lines().find(|l| l.starts_with("worst")).unwrap_or("");
            println!("{name:<28} {worst}");
        }
    }
    let (failed, total, report) = (failures.len(), GOOD.len(), failures.join("\n\n"));
    assert!(failures.is_empty(), "{failed} of {total} good models failed gradcheck:\n\n{report}");
}
