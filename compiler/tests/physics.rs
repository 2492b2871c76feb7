//! The physics the integrators must keep, measured: energy drift falls as h² for leapfrog and
//! h⁴ for Yoshida-4 (halving h over the same time span divides it by 4 and by 16), and the
//! unnudged echo returns to the initial state to rounding after 1000 steps.

use hsc::kernel::Precision;
use hsc::simulate::run;

/// An anharmonic chain without inputs: energy is conserved by the flow.
fn chain(method: &str, dt: f64) -> hsc::Compiled {
    let src = format!(
        "model Chain\ndim P = 6\nparam k[P] = uniform(0.5, 1.5)\nparam beta = 0.2\nstate q[P] momentum p\n\
         H = sum(i, 0.5 * p[i]^2) + sum(i, 0.5 * q[i]^2 + 0.25 * beta * q[i]^4)\n\
           + sum(i in 0..P-1, 0.5 * k[i] * (q[i + 1] - q[i])^2)\n\
         integrator {method}(dt = {dt})\n"
    );
    hsc::compile_source("chain.ham", src.as_bytes(), &[]).expect("compiles")
}

fn drift(method: &str, dt: f64, span: f64) -> f64 {
    let steps = (span / dt).round() as usize;
    run(&chain(method, dt), steps, 3, Precision::F64, hsc::Backend::Interp, false).expect("runs").drift
}

#[test]
fn leapfrog_energy_drift_falls_as_h_squared() {
    let (coarse, fine) = (drift("leapfrog", 0.1, 20.0), drift("leapfrog", 0.05, 20.0));
    let ratio = coarse / fine;
    println!("leapfrog: drift {coarse:.3e} at h = 0.1, {fine:.3e} at h = 0.05, ratio {ratio:.2} (h²: 4)");
    assert!((3.5..4.5).contains(&ratio), "ratio {ratio}");
}

#[test]
fn yoshida4_energy_drift_falls_as_h_to_the_fourth() {
    let (coarse, fine) = (drift("yoshida4", 0.1, 20.0), drift("yoshida4", 0.05, 20.0));
    let ratio = coarse / fine;
    println!("yoshida4: drift {coarse:.3e} at h = 0.1, {fine:.3e} at h = 0.05, ratio {ratio:.2} (h⁴: 16)");
    assert!((13.0..19.0).contains(&ratio), "ratio {ratio}");
}

#[test]
fn the_unnudged_echo_returns_to_the_initial_state_after_1000_steps() {
    for method in ["leapfrog", "yoshida4"] {
        let r =
            run(&chain(method, 0.05), 1000, 5, Precision::F64, hsc::Backend::Interp, false).expect("runs");
        println!(
            "{method}: |x̂_T - Σ x_0| = {:.2e} after 1000 steps (max |x_0| = {:.2})",
            r.reversibility, r.scale
        );
        assert!(r.reversibility <= 1e-12 * r.scale.max(1.0), "{method}: {}", r.reversibility);
    }
}
