//! The f32 story, measured: RHEL in f32 against BPTT in f64 as functions of ε and T, the
//! tangent echo and Richardson extrapolation in f32, and the reversibility drift of the
//! unnudged echo against T, for the NonlinHRU example. Prints the markdown tables of
//! docs/precision.md.
//!
//! Run: `cargo run --release -p hsc --example precision`

use hsc::gradcheck::{draw, relative_error};
use hsc::kernel::Precision;
use hsc_runtime::{Echo, Gradients};

fn all(g: &Gradients) -> Vec<Vec<f64>> {
    g.params.iter().chain(&g.inputs).chain(&g.initial).cloned().collect()
}

/// The worst relative error over every param, the inputs and the initial state.
fn worst(a: &Gradients, b: &Gradients) -> f64 {
    all(a).iter().zip(all(b)).map(|(x, y)| relative_error(x, &y)).fold(0.0, f64::max)
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/nonlin_hru.ham");
    let bytes = std::fs::read(path).expect("examples/nonlin_hru.ham");
    let fe = hsc::front_end(&bytes, &[]);
    let facts = fe.facts.expect("a valid model");
    let compiled = hsc::compile(fe.program.expect("a valid model"), &facts).expect("compiles");
    let f32 = compiled.interpreted(Precision::F32);
    let f64 = compiled.interpreted(Precision::F64);
    let eps_list = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4];
    let steps_list = [50, 200, 1000];

    println!("### RHEL in f32 against BPTT in f64 (NonlinHRU, P = 64, N = 16, seed 0)\n");
    println!(
        "Worst relative error `max |a - b| / max |b|` over every param, the inputs and the initial state.\n"
    );
    let header: Vec<String> = eps_list.iter().map(|e| format!("ε = {e:e}")).collect();
    println!("| T | {} | Richardson ε = 1e-2 | tangent echo | RHEL f64, ε = 1e-5 |", header.join(" | "));
    println!("|---|{}---|---|---|", "---|".repeat(eps_list.len()));
    for steps in steps_list {
        let d = draw(&f64, steps, 0);
        let reference = f64.bptt_grad(&d.params, &d.batch).expect("bptt");
        let cells: Vec<String> = eps_list
            .iter()
            .map(|&eps| {
                let g = f32.rhel_grad(&d.params, &d.batch, Echo::Central(eps)).expect("rhel");
                format!("{:.1e}", worst(&g, &reference))
            })
            .collect();
        let rich = f32.rhel_grad(&d.params, &d.batch, Echo::Richardson(1e-2)).expect("richardson");
        let tangent = f32.tangent_grad(&d.params, &d.batch).expect("tangent");
        let rhel64 = f64.rhel_grad(&d.params, &d.batch, Echo::Central(1e-5)).expect("rhel f64");
        println!(
            "| {steps} | {} | {:.1e} | {:.1e} | {:.1e} |",
            cells.join(" | "),
            worst(&rich, &reference),
            worst(&tangent, &reference),
            worst(&rhel64, &reference)
        );
    }

    println!(
        "\n### Reversibility of the unnudged echo: max |x̂_T - Σ x_0| (initial state drawn with standard deviation 1/2)\n"
    );
    println!("| T | f64 | f32 |");
    println!("|---|---|---|");
    for steps in [100, 1000, 10000] {
        let d = draw(&f64, steps, 0);
        let initial = d.batch.initial.as_ref().expect("an initial state");
        // The f32 interpreter starts from x_0 rounded to f32: compare each with its own start.
        let drift = |m: &hsc_runtime::Model, round: fn(f64) -> f64| {
            let [echo, _] = m.echo_states(&d.params, &d.batch, 0.0).expect("echo");
            let sides = m.spec().sides();
            let mut worst: f64 = 0.0;
            for (s, (x, x0)) in sides.iter().zip(echo.iter().zip(initial)) {
                let sign = if s.momentum { -1.0 } else { 1.0 };
                for (a, b) in x.iter().zip(x0.iter()) {
                    worst = worst.max((a - sign * round(*b)).abs());
                }
            }
            worst
        };
        println!("| {steps} | {:.1e} | {:.1e} |", drift(&f64, |x| x), drift(&f32, |x| x as f32 as f64));
    }
}
