//! `hsc simulate`: the measurements, the trajectory file and the plot.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use hsc::FrontEnd;
use hsc::kernel::Precision;
use hsc_grammar::Diagnostic;
use hsc_train::plot::{self, Series};

use super::{Dims, Output, named, write_npy};

/// Simulate a model from a drawn state: energy drift, reversibility, trajectory and plot.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    /// Number of steps.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    steps: u64,
    /// The step, instead of the model's.
    #[arg(long)]
    dt: Option<f64>,
    /// Seed of the params, inputs and initial state.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Arithmetic.
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    /// What runs the kernels [default: c where a C compiler works, else cranelift].
    #[arg(long, value_parser = named::<hsc::Backend>())]
    backend: Option<hsc::Backend>,
    /// Run without inputs (all zero), so that the energy is conserved.
    #[arg(long)]
    free: bool,
    /// Write the trajectory: `.npy` ([T + 1, state elements]) or `.csv`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Draw the states and the energy over time into a PNG.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    pub dims: Dims,
}

/// Most state series drawn in the plot (the first entries of each state array).
const MAX_SERIES: usize = 8;

/// Simulates, writes the trajectory and the plot asked for, and prints the measurements.
pub fn simulate(front: &FrontEnd, args: &Args) -> Result<Output, Diagnostic> {
    let Some(compiled) = super::compiled(front, args.dt)? else { return Ok(String::new().into()) };
    let steps = args.steps as usize;
    let r = hsc::simulate::run(
        &compiled,
        steps,
        args.seed,
        args.precision,
        super::backend_or_native(args.backend),
        args.free,
    )
    .map_err(|e| Diagnostic::error(e.to_string()))?;
    let spec = &compiled.module.spec;
    let dt = match spec.step {
        hsc_runtime::Step::Fixed(h) => h,
        hsc_runtime::Step::Param(i) => r.drawn.params.values[i][0],
    };
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
