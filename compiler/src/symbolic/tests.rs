//! One-line tests of the symbolic stage, in the manner of egg's `test_fn!`: each rule, the
//! example of language.md, boundary guards and wrap-around, printing. The property test
//! against finite differences is `tests/symbolic_fd.rs`.

use super::{Equations, Of, differentiate};
use crate::front_end;

/// The equations of a model given by its source.
#[track_caller]
fn equations(source: &str) -> Equations {
    let front = front_end(source.as_bytes(), &[]);
    let program = front.program.unwrap_or_else(|| panic!("model refused: {:#?}", front.diagnostics));
    differentiate(&program, &front.facts.expect("facts")).expect("derivatives within budget")
}

/// `dV/d{wrt}` printed, for a one-pair model (positions `q[P]`, P = 8) whose potential is `v`.
#[track_caller]
fn grad_of(v: &str, wrt: &str) -> String {
    let src = format!(
        "model T\ndim P = 8\nparam K[P, P] = 0\nparam w[P] = 1\nparam a = 1\nstate q[P] momentum p\n\
         H = sum(i, 0.5 * p[i]^2) + {v}\n"
    );
    let eq = equations(&src);
    let d = eq
        .table
        .derivatives()
        .into_iter()
        .find(|d| d.of == Of::Potential && d.along.is_none() && eq.names[&d.wrt] == wrt)
        .unwrap_or_else(|| panic!("no dV/d{wrt} for {v}"));
    eq.show(d.node)
}

macro_rules! grad {
    ($name:ident, $v:expr => $expected:expr) => {
        #[test]
        fn $name() {
            assert_eq!(grad_of($v, "q"), $expected, "d/dq[k] of {}", $v);
        }
    };
    ($name:ident, $v:expr, $wrt:expr => $expected:expr) => {
        #[test]
        fn $name() {
            assert_eq!(grad_of($v, $wrt), $expected, "d/d{}[k] of {}", $wrt, $v);
        }
    };
}

// The example of language.md: exactly the two sums it states.
grad!(language_md_quadratic_form, "sum(i, j, K[i, j] * q[i] * q[j])" => "sum(j, q[j] * K[k, j]) + sum(i, q[i] * K[i, k])");
// One rule each.
grad!(d_linear, "sum(i, w[i] * q[i])" => "w[k]");
grad!(d_power, "sum(i, q[i]^3)" => "3 * q[k]^2");
grad!(d_real_power, "sum(i, (1 + q[i]^2)^0.5)" => "q[k] / (1 + q[k]^2)^0.5");
grad!(d_exp, "sum(i, exp(q[i]))" => "exp(q[k])");
grad!(d_log, "sum(i, log(1 + q[i]^2))" => "2 * q[k] / (1 + q[k]^2)");
grad!(d_sqrt, "sum(i, sqrt(1 + q[i]^2))" => "q[k] / sqrt(1 + q[k]^2)");
grad!(d_sin, "sum(i, sin(q[i]))" => "cos(q[k])");
grad!(d_cos, "sum(i, cos(q[i]))" => "-sin(q[k])");
grad!(d_tanh, "sum(i, tanh(q[i]))" => "1 - tanh(q[k])^2");
grad!(d_sinh, "sum(i, sinh(q[i]))" => "cosh(q[k])");
grad!(d_cosh, "sum(i, cosh(q[i]))" => "sinh(q[k])");
grad!(d_sigmoid, "sum(i, sigmoid(q[i]))" => "sigmoid(q[k]) * (1 - sigmoid(q[k]))");
grad!(d_softplus, "sum(i, softplus(q[i]))" => "sigmoid(q[k])");
grad!(d_logcosh, "sum(i, logcosh(w[i] * q[i]))" => "w[k] * tanh(w[k] * q[k])");
grad!(d_abs, "sum(i, abs(q[i]))" => "sign(q[k])");
grad!(d_relu, "sum(i, relu(q[i]))" => "step(q[k])");
grad!(d_quotient, "sum(i, q[i] / w[i])" => "1 / w[k]");
grad!(d_chain, "sum(i, exp(a * q[i]^2))" => "2 * a * q[k] * exp(a * q[k]^2)");
grad!(d_constant_index, "q[0] * q[P - 1]" => "q[7] * [k == 0] + q[0] * [k == 7]");
grad!(d_through_let, "sum(i, e[i]^2)\nlet e[i] = w[i] * q[i]" => "2 * q[k] * w[k]^2");
// Offsets: the neighbour differences with their boundary guards (the FPUT chain).
grad!(d_chain_offsets, "sum(i in 0..P-1, 0.5 * (q[i + 1] - q[i])^2)" => "(q[k] - q[k - 1]) * [k >= 1] - (q[k + 1] - q[k]) * [k < 7]");
// Wrap-around: every oscillator has both neighbours, no guards.
grad!(d_ring, "sum(i, 0.5 * (q[(i + 1) % P] - q[i])^2)" => "-q[(k - 1) % 8] + 2 * q[k] - q[(k + 1) % 8]");
// Parameters.
grad!(d_param_vector, "sum(i, w[i] * q[i]^2)", "w" => "q[k]^2");
grad!(d_param_scalar, "a * sum(i, q[i]^2)", "a" => "sum(i, q[i]^2)");
grad!(d_param_matrix, "sum(i, j, K[i, j] * q[i] * q[j])", "K" => "q[k] * q[l]");

#[test]
fn fput_chain_reads_as_a_physicist_writes_it() {
    let src = std::fs::read_to_string(format!("{}/../examples/fput_chain.ham", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let eq = equations(&src);
    let lines = eq.hamilton();
    assert_eq!(lines[0], "dq[l]/dt = dH/dp[l] = p[l]");
    assert!(lines[1].starts_with("dp[l]/dt = -dH/dq[l] = -(k[l - 1] * (q[l] - q[l - 1]) * [l >= 1] - k[l] * (q[l + 1] - q[l]) * [l < 31]"), "{}", lines[1]);
}

#[test]
fn derivative_size_does_not_depend_on_the_dims() {
    let src = |p: u32| {
        std::fs::read_to_string(format!("{}/../examples/fput_chain.ham", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .replace("dim P = 32", &format!("dim P = {p}"))
    };
    // (P = 4 would share the node `4` with the exponent of the quartic term.)
    let (small, large) = (equations(&src(64)), equations(&src(4096)));
    assert_eq!(small.dag.len(), large.dag.len());
    assert_eq!(small.table.derivatives().len(), large.table.derivatives().len());
}

#[test]
fn hessian_vector_products_need_no_deltas() {
    let src = std::fs::read_to_string(format!("{}/../examples/ring_lattice.ham", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let eq = equations(&src);
    for d in eq.table.derivatives().into_iter().filter(|d| d.along.is_some()) {
        assert!(!eq.show(d.node).contains("=="), "{} keeps a delta: {}", eq.label(d), eq.show(d.node));
    }
}

#[test]
fn every_example_differentiates_and_shares_subexpressions() {
    let dir = format!("{}/../examples", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ham") {
            let eq = equations(&std::fs::read_to_string(&path).unwrap());
            assert!(eq.table.derivatives().into_iter().any(|d| d.of == Of::Kinetic), "{}", path.display());
            assert!(eq.table.derivatives().into_iter().any(|d| d.of == Of::Potential), "{}", path.display());
        }
    }
    // NonlinHRU: dV/dq, dV/dW, dV/db, dV/dB all read one tanh node.
    let src = std::fs::read_to_string(format!("{}/../examples/nonlin_hru.ham", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let eq = equations(&src);
    let roots: Vec<_> = eq.table.derivatives().into_iter().map(|d| d.node).collect();
    let shared = eq.shared(&roots);
    assert!(shared.iter().any(|&(n, k)| k >= 4 && eq.show(n).starts_with("tanh(")), "{shared:?}");
}

#[test]
fn a_runaway_model_stops_at_the_work_budget() {
    // 300 separately written copies of one sum, divided into each other: the loss's second
    // derivatives would be products of hundreds of factors. The budget stops it quickly.
    let loss = vec!["sum(i, p[i]^2)"; 300].join(" / ");
    let src = format!("model Deep\ndim P = 4\nstate q[P] momentum p\nH = p[0]^2 + q[0]^2\nloss = {loss}\n");
    let front = front_end(src.as_bytes(), &[]);
    let program = front.program.expect("a valid model");
    let facts = front.facts.expect("facts");
    assert!(matches!(differentiate(&program, &facts), Err(super::StopReason::WorkLimit(_))));
}

/// K + V = H, evaluated at random values, for every example and for the forms the split walks
/// through (a let mixing p and q, a negated or divided mixed term, constants inside K and V).
#[test]
fn kinetic_plus_potential_is_the_energy() {
    use super::Leaf;
    use super::eval::{Values, eval};
    let dir = format!("{}/../examples", env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ham"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let head = "model M\ndim P = 3\nparam w[P] = 1\nparam m = 2\ninput u[P]\nstate q[P] momentum p\n";
    for h in [
        "sum(i, e[i])\nlet e[i] = 0.5 * p[i]^2 / m + w[i] * q[i]^2 + u[i] * q[i]",
        "-(sum(i, -0.5 * p[i]^2) - sum(i, cos(q[i]))) + 3",
        "(sum(i, sqrt(1 + p[i]^2) - 1) + sum(i, q[i]^4 - 1)) / m",
        "m * (sum(i, w[i] * (cosh(p[i]) - 1)) + 2 * sum(i, e[i]) - 1)\nlet e[i] = q[i] * u[i]",
    ] {
        sources.push(format!("{head}H = {h}\n"));
    }
    let mut seed = 7u64;
    let mut random = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    for src in &sources {
        let eq = equations(src);
        let front = front_end(src.as_bytes(), &[]);
        let program = front.program.unwrap();
        let mut values = Values::default();
        for (id, t) in program.tensors.iter() {
            let shape: Vec<usize> = t.shape.iter().map(|a| a.size as usize).collect();
            let data = (0..shape.iter().product()).map(|_| random()).collect();
            values.arrays.insert(Leaf::Tensor(id), (shape, data));
        }
        let at = |n| eval(&eq.dag, n, &values, &mut Default::default());
        let (h, k, v) = (at(eq.hamiltonian), at(eq.kinetic), at(eq.potential));
        assert!((k + v - h).abs() <= 1e-12 * h.abs().max(1.0), "K + V = {} but H = {h} in\n{src}", k + v);
    }
}

/// A model whose tensors take every short letter still gets names for its derivatives' free
/// variables.
#[test]
fn output_variables_are_named_when_every_letter_is_taken() {
    let names = ["k", "l", "m", "n", "a", "b", "c", "d", "r", "s"];
    let params: String = names.iter().map(|n| format!("param {n}[P] = 1\n")).collect();
    let src = format!(
        "model M\ndim P = 4\n{params}state q[P] momentum p\nH = sum(i, 0.5 * p[i]^2) + sum(i, {} * q[i]^2)\n",
        names.map(|n| format!("{n}[i]")).join(" * ")
    );
    let eq = equations(&src);
    let d = eq.table.kick[0].as_ref().expect("dV/dq");
    assert_eq!(eq.label(&d.grad), "dV/dq[k1]");
}
