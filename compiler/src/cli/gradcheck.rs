//! `hsc gradcheck`: the table, the JSON object and the `.npy` dump.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use hsc::FrontEnd;
use hsc::gradcheck::{Options, PAIRS, Report};
use hsc::kernel::Precision;
use hsc_grammar::Diagnostic;

use super::{Dims, Output, named, write_npy};

/// Check every gradient method against the others and against finite differences.
///
/// Draws params (from the model's initialisers), inputs, targets (or per-step cotangents
/// of the positions when the model has no loss) and an initial state from the seed, then
/// prints RHEL (central and one-sided), the tangent echo, BPTT and finite differences of
/// the loss for every param, the inputs and the initial state. Exits with 1 when a pair
/// disagrees beyond its tolerance.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    /// Steps per sequence.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    steps: u64,
    /// The echoes' nudge ε [default: 1e-5 in f64, 1e-3 in f32].
    #[arg(long)]
    eps: Option<f64>,
    /// Seed of every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Arithmetic of RHEL and the tangent echo (BPTT and finite differences are f64).
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    /// What runs the kernels [default: c where a C compiler works, else cranelift].
    #[arg(long, value_parser = named::<hsc::Backend>())]
    backend: Option<hsc::Backend>,
    /// Most entries per quantity checked by finite differences (chosen from the seed).
    #[arg(long, default_value_t = 16)]
    fd_entries: usize,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
    /// Write the drawn data, the loss and every method's gradients as .npy files here.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    #[command(flatten)]
    pub dims: Dims,
}

/// Runs the check; the output fails (exit code 1) when a pair of methods disagrees.
pub fn gradcheck(front: &FrontEnd, args: &Args) -> Result<Output, Diagnostic> {
    let Some(compiled) = super::compiled(front, None)? else { return Ok(String::new().into()) };
    let precision = args.precision;
    let eps = args.eps.unwrap_or(hsc::gradcheck::default_eps(precision));
    if !eps.is_finite() || eps <= 0.0 {
        return Err(Diagnostic::error(format!("--eps must be a positive number, not {eps}")));
    }
    let options = Options {
        steps: args.steps as usize,
        eps,
        seed: args.seed,
        precision,
        fd_entries: args.fd_entries.max(1),
        backend: super::backend_or_native(args.backend),
    };
    let report = hsc::gradcheck::run(&compiled, &options).map_err(|e| Diagnostic::error(e.to_string()))?;
    if let Some(dir) = &args.dump {
        dump(dir, &compiled, &report)?;
    }
    let text =
        if args.json { json(&compiled, &options, &report) } else { table(&compiled, &options, &report) };
    Ok(Output { text, ok: report.ok() })
}

fn table(compiled: &hsc::Compiled, o: &Options, r: &Report) -> String {
    let mut s = String::new();
    let spec = &compiled.module.spec;
    let driven = if spec.has_loss { "the in-model loss" } else { "per-step cotangents of the positions" };
    let _ = writeln!(
        s,
        "gradcheck {}: T = {}, seed {}, {} (BPTT and finite differences in f64), ε = {:e}, loss from {driven} = {:.6e}",
        spec.name,
        o.steps,
        o.seed,
        o.precision.name(),
        o.eps,
        r.loss
    );
    let width = r.quantities.iter().map(|q| q.name.chars().count()).max().unwrap_or(8).max(8);
    let _ = writeln!(s, "\ngradients at each quantity's largest entry (by BPTT)");
    let _ = writeln!(
        s,
        "{:<width$}  {:>8}  {:>13} {:>13} {:>13} {:>13} {:>13}",
        "quantity", "entry", "RHEL", "one-sided", "tangent", "BPTT", "finite diff"
    );
    for q in &r.quantities {
        let bptt = &q.methods["bptt"];
        let e = (0..bptt.len()).max_by(|&a, &b| bptt[a].abs().total_cmp(&bptt[b].abs())).unwrap_or(0);
        let fd = q
            .fd_at
            .iter()
            .position(|&x| x == e)
            .map_or("-".to_owned(), |i| format!("{:.6e}", q.methods["fd"][i]));
        let v = |m: &str| format!("{:.6e}", q.methods[m][e]);
        let _ = writeln!(
            s,
            "{:<width$}  {:>8}  {:>13} {:>13} {:>13} {:>13} {:>13}",
            q.name,
            e,
            v("rhel"),
            v("onesided"),
            v("tangent"),
            v("bptt"),
            fd
        );
    }
    let _ = writeln!(
        s,
        "\nmax relative error (max |a - b| / max |b| over the entries; finite differences on the entries shown)"
    );
    let _ = writeln!(
        s,
        "{:<width$}  {:>9}  {:>10} {:>11} {:>15} {:>13} {:>10} {:>10}",
        "quantity",
        "fd/all",
        "RHEL/BPTT",
        "Richardson",
        "one-sided/BPTT",
        "tangent/BPTT",
        "BPTT/fd",
        "RHEL/fd"
    );
    let row = |s: &mut String, name: &str, count: String, e: &dyn Fn(&str) -> String| {
        let _ = writeln!(
            s,
            "{name:<width$}  {count:>9}  {:>10} {:>11} {:>15} {:>13} {:>10} {:>10}",
            e(PAIRS[0]),
            e(PAIRS[1]),
            e(PAIRS[2]),
            e(PAIRS[3]),
            e(PAIRS[4]),
            e(PAIRS[5])
        );
    };
    for q in &r.quantities {
        let count = format!("{}/{}", q.fd_at.len(), q.methods["bptt"].len());
        row(&mut s, &q.name, count, &|p| format!("{:.1e}", q.errors[p]));
    }
    row(&mut s, "worst", String::new(), &|p| format!("{:.1e}", r.worst[p]));
    row(&mut s, "tolerance", String::new(), &|p| {
        r.tolerances.get(p).map_or("-".into(), |t| format!("{t:.0e}"))
    });
    if let Some(hl) = &r.hl {
        let cosines: Vec<String> = hl.cosines.iter().map(|(t, c)| format!("{c:+.3} (θ {t})")).collect();
        let _ = writeln!(
            s,
            "\nHamiltonian Learning (hl.md), in f64: one tick against BPTT over one step {:.1e} (tolerance {:.0e}); \
             its update over the {} steps, the params fixed, against BPTT's gradient: cosine {} (biased by design, not gated)",
            hl.tick_vs_bptt,
            hsc::gradcheck::HL_TOLERANCE,
            o.steps,
            cosines.join(", ")
        );
    }
    let failed: Vec<String> = r.failures().iter().map(|(p, e, t)| format!("{p} {e:.1e} > {t:.0e}")).collect();
    let (rhel, tol) = (r.worst["rhel_vs_bptt"], r.tolerances["rhel_vs_bptt"]);
    if rhel > tol && r.bias_explained() {
        let _ = writeln!(
            s,
            "\nnote: RHEL's error {rhel:.1e} is beyond {tol:.0e}, but it is its O(ε²) bias: extrapolated from ε and 2ε \
             it is {:.1e}; a smaller --eps shrinks it as ε²",
            r.worst["richardson_vs_bptt"]
        );
    }
    if failed.is_empty() {
        let _ = writeln!(
            s,
            "\nok: every method agrees within its tolerance (one-sided RHEL is O(ε) and only reported)"
        );
    } else {
        let _ = writeln!(s, "\nFAILED: {}", failed.join(", "));
    }
    s
}

fn json(compiled: &hsc::Compiled, o: &Options, r: &Report) -> String {
    let quantities: Vec<serde_json::Value> = r
        .quantities
        .iter()
        .map(|q| {
            serde_json::json!({
                "name": q.name,
                "entries": q.methods["bptt"].len(),
                "fd_entries": q.fd_at.len(),
                "rel_err": q.errors,
            })
        })
        .collect();
    let v = serde_json::json!({
        "model": compiled.module.spec.name,
        "steps": o.steps,
        "seed": o.seed,
        "precision": o.precision.name(),
        "eps": o.eps,
        "loss": r.loss,
        "max_rel_err": r.worst,
        "tolerances": r.tolerances,
        "hl": r.hl.as_ref().map(|h| serde_json::json!({
            "tick_vs_bptt": h.tick_vs_bptt,
            "tolerance": hsc::gradcheck::HL_TOLERANCE,
            "cosines": h.cosines.iter().map(|(t, c)| serde_json::json!({ "theta": t, "cosine": c })).collect::<Vec<_>>(),
        })),
        "ok": r.ok(),
        "rhel_bias_explained": r.bias_explained(),
        "quantities": quantities,
    });
    format!("{v:#}\n")
}

fn dump(dir: &Path, compiled: &hsc::Compiled, r: &Report) -> Result<(), Diagnostic> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Diagnostic::error(format!("cannot create `{}`: {e}", dir.display())))?;
    let spec = &compiled.module.spec;
    let (params, batch) = (&r.drawn.params, &r.drawn.batch);
    let steps = batch.steps;
    for (p, v) in spec.params.iter().zip(&params.values) {
        write_npy(&dir.join(format!("param_{}.npy", p.name)), &p.shape, v)?;
    }
    let timed =
        |shape: &[usize]| -> Vec<usize> { std::iter::once(steps).chain(shape.iter().copied()).collect() };
    for (a, v) in spec.inputs.iter().zip(&batch.inputs) {
        write_npy(&dir.join(format!("input_{}.npy", a.name)), &timed(&a.shape), v)?;
    }
    for (a, v) in spec.targets.iter().zip(&batch.targets) {
        write_npy(&dir.join(format!("target_{}.npy", a.name)), &timed(&a.shape), v)?;
    }
    for (pair, v) in spec.pairs.iter().zip(&batch.cotangents) {
        write_npy(
            &dir.join(format!("cotangent_{}.npy", pair.position.name)),
            &timed(&pair.position.shape),
            v,
        )?;
    }
    if let Some(init) = &batch.initial {
        for (s, v) in spec.sides().into_iter().zip(init) {
            let a = spec.side(s);
            write_npy(&dir.join(format!("initial_{}.npy", a.name)), &a.shape, v)?;
        }
    }
    write_npy(&dir.join("loss.npy"), &[], &[r.loss])?;
    for q in &r.quantities {
        for (method, values) in &q.methods {
            if *method == "fd" {
                // Entries not checked by finite differences are NaN.
                let mut full = vec![f64::NAN; q.methods["bptt"].len()];
                for (&e, &v) in q.fd_at.iter().zip(values) {
                    full[e] = v;
                }
                write_npy(&dir.join(format!("grad_fd_{}.npy", q.stem)), &q.shape, &full)?;
            } else {
                write_npy(&dir.join(format!("grad_{method}_{}.npy", q.stem)), &q.shape, values)?;
            }
        }
    }
    Ok(())
}
