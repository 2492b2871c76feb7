//! `hsc simulate`: the measurements, the trajectory file and the plot.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use hsc::kernel::Precision;
use hsc_grammar::Diagnostic;
use hsc_train::plot::{self, Series};

use super::{Output, write_npy};

/// The arguments of `hsc simulate` past the model.
pub struct Args {
    pub steps: usize,
    pub seed: u64,
    pub precision: Precision,
    pub backend: hsc::Backend,
    pub free: bool,
    pub out: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

/// Most state series drawn in the plot (the first entries of each state array).
const MAX_SERIES: usize = 8;

pub fn simulate(compiled: &hsc::Compiled, args: &Args) -> Result<Output, Diagnostic> {
    let r = hsc::simulate::run(compiled, args.steps, args.seed, args.precision, args.backend, args.free)
        .map_err(|e| Diagnostic::error(e.to_string()))?;
    let spec = &compiled.module.spec;
    let dt = match spec.step {
        hsc_runtime::Step::Fixed(h) => h,
        hsc_runtime::Step::Param(i) => r.drawn.params.values[i][0],
    };
    let steps = args.steps;
    // Columns: every element of every state array, in spec order.
    let mut columns: Vec<(String, Vec<f64>)> = Vec::new();
    for (s, data) in spec.sides().into_iter().zip(&r.trajectory.states) {
        let a = spec.side(s);
        let n = a.len();
        for e in 0..n {
            let label = if n == 1 { a.name.clone() } else { format!("{}[{e}]", a.name) };
            columns.push((label, (0..=steps).map(|t| data[t * n + e]).collect()));
        }
    }
    if let Some(path) = &args.out {
        write_trajectory(path, &columns, &r.trajectory.energy, dt)?;
    }
    if let Some(path) = &args.plot {
        let positions: Vec<Series> = columns
            .iter()
            .filter(|(label, _)| {
                spec.pairs.iter().any(|p| label.split('[').next() == Some(p.position.name.as_str()))
            })
            .take(MAX_SERIES)
            .map(|(label, values)| Series { label: label.clone(), values: values.clone() })
            .collect();
        let title = format!("{}: {} steps of {} (dt = {dt})", spec.name, steps, spec.integrator);
        plot::trajectory(path, &title, dt, &positions, &r.trajectory.energy).map_err(Diagnostic::error)?;
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "simulate {}: {steps} steps of {} with dt = {dt}, seed {}, {}",
        spec.name,
        spec.integrator,
        args.seed,
        args.precision.name()
    );
    let (h0, ht) = (r.trajectory.energy[0], r.trajectory.energy[steps]);
    let _ = writeln!(s, "energy        H_0 = {h0:.9e}, H_T = {ht:.9e}");
    if r.driven {
        let _ = writeln!(
            s,
            "energy drift  {:.3e} (max |H_t - H_0| / |H_0|; the drawn inputs drive the system, so H is not conserved: --free runs it without them)",
            r.drift
        );
    } else {
        let _ = writeln!(s, "energy drift  {:.3e} (max |H_t - H_0| / |H_0|)", r.drift);
    }
    let _ = writeln!(
        s,
        "reversibility {:.3e} (max |x̂_T - Σ x_0| of the unnudged echo; max |x_0| = {:.3e})",
        r.reversibility, r.scale
    );
    for (what, path) in [("trajectory", &args.out), ("plot", &args.plot)] {
        if let Some(p) = path {
            let _ = writeln!(s, "{what} written to {}", p.display());
        }
    }
    Ok(Output { text: s, ok: true })
}

fn write_trajectory(
    path: &Path,
    columns: &[(String, Vec<f64>)],
    energy: &[f64],
    dt: f64,
) -> Result<(), Diagnostic> {
    let rows = energy.len();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "npy" => {
            // [T + 1, state elements]: one row per time point.
            let mut data = Vec::with_capacity(rows * columns.len());
            for t in 0..rows {
                data.extend(columns.iter().map(|(_, c)| c[t]));
            }
            write_npy(path, &[rows, columns.len()], &data)
        }
        "csv" => {
            let fail = |e: &dyn std::fmt::Display| Diagnostic::error(format!("cannot write `{}`: {e}", path.display()));
            let mut w = csv::Writer::from_path(path).map_err(|e| fail(&e))?;
            let mut header = vec!["t".to_owned(), "time".to_owned()];
            header.extend(columns.iter().map(|(l, _)| l.clone()));
            header.push("H".to_owned());
            w.write_record(&header).map_err(|e| fail(&e))?;
            for t in 0..rows {
                let mut rec = vec![t.to_string(), format!("{}", t as f64 * dt)];
                rec.extend(columns.iter().map(|(_, c)| format!("{:e}", c[t])));
                rec.push(format!("{:e}", energy[t]));
                w.write_record(&rec).map_err(|e| fail(&e))?;
            }
            w.flush().map_err(|e| fail(&e))
        }
        _ => Err(Diagnostic::error(format!("cannot tell the format of `{}`", path.display()))
            .with_help("name the file `.npy` (an array of shape [T + 1, state elements]) or `.csv` (a header, one row per step)")),
    }
}
