//! `hsc fit`: the model's own params fitted to observed sequences, by its in-model loss.
//!
//! The run folder holds `command.json` (the exact command and every setting), `model.ham`,
//! `params.safetensors` (the fitted params by name) and `optimizer.safetensors` (what
//! `--resume` needs), both after every epoch, `metrics.json` and `fit.png` (the loss per
//! epoch, and the observed sequence against the fitted model run freely from its initial
//! state).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use hsc::kernel::Precision;
use hsc::{Backend, Override};
use hsc_grammar::{Diagnostic, render};
use hsc_runtime::spec::Step;
use hsc_runtime::{Model, Params, Trajectory};
use hsc_train::data::npz;
use hsc_train::fit::{FitConfig, FitRecord, Fitter, Observed, store};
use hsc_train::plot::{self, Line, Panel};
use hsc_train::train::checkpoint::write_atomically;
use hsc_train::train::{GradMethod, Observer, Progress};
use serde_json::{Value, json};

use super::train::{GradArg, fail, file_error, stored};
use super::{Dims, Output, compiled, named, run, with_run};

/// Fit the model's params to observed sequences: minimise its in-model loss (`target` and
/// `loss` in the .ham file) over the data's targets.
///
/// The data are one .npz file (numpy.savez): an array per `input` and `target` of the model,
/// named after it, `[S, T, ...]` (S sequences of T steps) or `[T, ...]` (one); the initial
/// state as arrays named after the state arrays (`q`, `p`), `[S, ...]` or `[...]` (else
/// zero). Each sequence is cut into windows of --window steps; a window starts from the state
/// the data give (--force) or from where the model got to at the end of the window before.
/// Prints each epoch's loss and scalar params; writes `params.safetensors`, `metrics.json`
/// and `fit.png` into the run folder; `--resume` goes on from the last epoch.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file, with a `loss` (omit it with --resume).
    #[arg(required_unless_present = "resume")]
    model: Option<PathBuf>,
    /// The observed sequences: an .npz file [with --resume: the run's].
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Continue the fit in this folder after its last epoch, with the settings it was started
    /// with (only --data may be given again, for data that moved).
    #[arg(long, value_name = "RUN", conflicts_with = "model")]
    resume: Option<PathBuf>,
    /// How the gradient is computed.
    #[arg(long, value_enum, default_value_t = GradArg::Rhel)]
    grad: GradArg,
    /// RHEL's nudge of the in-model loss [default: 1e-5 in f64, 1e-3 in f32].
    #[arg(long)]
    eps: Option<f64>,
    /// Steps per window [default: the whole sequence].
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    window: Option<u64>,
    /// State arrays the data give at every step, `STATE=ARRAY` (`--force q=qobs,p=pobs`):
    /// `[S, T, ...]`, the state after each step; a window that starts at step t > 0 starts
    /// from the data's state of step t - 1.
    #[arg(long, value_name = "STATE=ARRAY", value_delimiter = ',', value_parser = parse_force)]
    force: Vec<(String, String)>,
    /// Passes over the data.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    epochs: u64,
    /// Peak learning rate (AdamW without weight decay; warm-up, then cosine decay to a tenth).
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    /// Windows per update.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Seed of the initial params (the model's initialisers) and of the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The run folder.
    #[arg(long, value_name = "DIR", default_value = "fit")]
    out: PathBuf,
    /// Arithmetic of the model's kernels.
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    /// What runs the kernels [default: c where a C compiler works, else cranelift].
    #[arg(long, value_parser = named::<Backend>())]
    backend: Option<Backend>,
    #[command(flatten)]
    dims: Dims,
}

fn parse_force(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((state, array)) if !state.trim().is_empty() && !array.trim().is_empty() => {
            Ok((state.trim().to_owned(), array.trim().to_owned()))
        }
        _ => Err(format!("expected STATE=ARRAY, as in `--force q=qobs`, not `{text}`")),
    }
}

/// Starts a fit, or with `--resume` goes on with one.
pub fn fit(args: &Args, color: bool) -> ExitCode {
    if let Some(dir) = &args.resume {
        return with_run(dir, color, |model, _| resume(model, dir, args.data.as_deref()));
    }
    let (Some(model), Some(data)) = (&args.model, &args.data) else {
        eprintln!("error: `hsc fit` needs a model and --data FILE, or --resume RUN");
        return ExitCode::from(2);
    };
    let eps = args.eps.unwrap_or(hsc::gradcheck::default_eps(args.precision));
    if !(args.lr > 0.0 && args.lr.is_finite() && eps > 0.0 && eps.is_finite()) {
        let d = Diagnostic::error(format!("--lr {} and --eps {eps} must both be positive", args.lr));
        eprint!("{}", render(&[d], "", "", color));
        return ExitCode::from(2);
    }
    let config = FitConfig {
        epochs: args.epochs as usize,
        lr: args.lr,
        batch: args.batch as usize,
        window: args.window.map(|w| w as usize),
        grad: match args.grad {
            GradArg::Rhel => GradMethod::Rhel { eps },
            GradArg::Tangent => GradMethod::Tangent,
            GradArg::Bptt => GradMethod::Bptt,
        },
        seed: args.seed,
    };
    let backend = super::backend_or_native(args.backend);
    let argv: Vec<String> = std::env::args().collect();
    run(model, &args.dims.define, color, |front| {
        let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
        let m = c.model(backend, args.precision)?;
        start(m, model, data, args, config.clone(), backend, &argv)
    })
}

/// The data of `path` for `model`, with a line saying what was read.
fn observe(model: &Model, path: &Path, force: &[(String, String)]) -> Result<Observed, Diagnostic> {
    let spec = model.spec();
    if !spec.has_loss {
        return Err(fail(format!("model {} has no loss, and `hsc fit` minimises the model's loss", spec.name))
            .with_note("declare what is observed and how far the model is from it, for example `target y[N]` and `loss = sum(i, (q[i] - y[i])^2)`"));
    }
    let arrays = npz::read_npz(path).map_err(file_error)?;
    let data = Observed::from_arrays(spec, arrays, force, path).map_err(file_error)?;
    let names = |list: Vec<&str>| if list.is_empty() { "none".to_owned() } else { list.join(", ") };
    let sides = spec.sides();
    let forced: Vec<&str> = sides
        .iter()
        .zip(&data.forced)
        .filter(|(_, f)| f.is_some())
        .map(|(&s, _)| spec.side(s).name.as_str())
        .collect();
    say!(
        "{}: {} sequence{} of {} steps; targets {}; inputs {}; forced states {}",
        path.display(),
        data.sequences,
        if data.sequences == 1 { "" } else { "s" },
        data.steps,
        names(spec.targets.iter().map(|t| t.name.as_str()).collect()),
        names(spec.inputs.iter().map(|t| t.name.as_str()).collect()),
        names(forced)
    );
    if !data.unused.is_empty() {
        say!("note: arrays not read: {}", data.unused.join(", "));
    }
    Ok(data)
}

fn start(
    model: Model,
    model_path: &Path,
    data_path: &Path,
    args: &Args,
    config: FitConfig,
    backend: Backend,
    argv: &[String],
) -> Result<Output, Diagnostic> {
    let out = &args.out;
    if out.join("params.safetensors").exists() {
        return Err(fail(format!(
            "`{}` already holds a fit; continue it with `hsc fit --resume {}`, or choose another --out",
            out.display(),
            out.display()
        )));
    }
    let data = observe(&model, data_path, &args.force)?;
    std::fs::create_dir_all(out).map_err(|e| fail(format!("cannot create `{}`: {e}", out.display())))?;
    let source = std::fs::read(model_path)
        .map_err(|e| fail(format!("cannot read `{}`: {e}", model_path.display())))?;
    write_atomically(&out.join("model.ham"), &source).map_err(file_error)?;
    let force: Vec<String> = args.force.iter().map(|(s, a)| format!("{s}={a}")).collect();
    let command = json!({
        "command": argv.join(" "),
        "argv": argv,
        "model": model_path.display().to_string(),
        "data": data_path.display().to_string(),
        "force": force,
        "defines": args.dims.define.iter().map(|o: &Override| format!("{}={}", o.name, o.value)).collect::<Vec<_>>(),
        "precision": args.precision.name(),
        "backend": backend.name(),
        "config": store::config_json(&config),
    });
    let text = serde_json::to_string_pretty(&command).unwrap_or_default();
    write_atomically(&out.join("command.json"), text.as_bytes()).map_err(file_error)?;
    let initial = model.init_params(config.seed);
    let fitter = Fitter::new(model, initial.clone(), config);
    run_epochs(fitter, &initial, &data, out)
}

/// Goes on with the fit in `dir` after its last epoch; `data` overrides the stored file.
fn resume(model: Model, dir: &Path, data: Option<&Path>) -> Result<Output, Diagnostic> {
    let command = stored(dir)?;
    let (fitter, initial) = store::load(dir, model).map_err(file_error)?;
    let path = data.map(Path::to_path_buf).or_else(|| command["data"].as_str().map(PathBuf::from));
    let path =
        path.ok_or_else(|| fail("the run folder does not say which data it was fitted to; pass --data"))?;
    let force: Vec<(String, String)> = command["force"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| parse_force(f.as_str()?).ok()).collect())
        .unwrap_or_default();
    let observed = observe(&fitter.model, &path, &force)?;
    say!(
        "resuming `{}` after epoch {} of {}, on {}, {}",
        dir.display(),
        fitter.epochs_done(),
        fitter.config.epochs,
        fitter.model.engine(),
        fitter.model.precision()
    );
    run_epochs(fitter, &initial, &observed, dir)
}

fn run_epochs(
    mut fitter: Fitter,
    initial: &Params,
    data: &Observed,
    out: &Path,
) -> Result<Output, Diagnostic> {
    let started = Instant::now();
    let total = fitter.config.epochs;
    let spec = fitter.model.spec().clone();
    let w = fitter.window(data);
    let starts = if fitter.config.window.is_none() || w >= data.steps {
        "whole sequences".to_owned()
    } else if data.forced.iter().all(Option::is_some) {
        format!("windows of {w} steps from the data's states")
    } else if data.forced.iter().any(Option::is_some) {
        format!("windows of {w} steps from the data's states where given, else carried over")
    } else {
        format!("windows of {w} steps, each from where the one before ended")
    };
    let eps = match fitter.config.grad {
        GradMethod::Rhel { eps } => format!(" (ε {eps:e})"),
        _ => String::new(),
    };
    say!(
        "{}: params {}, {} gradients{eps}, {starts}, {} updates per epoch, {}, {}, {} threads",
        spec.name,
        spec.params.iter().map(|p| p.describe()).collect::<Vec<_>>().join(" "),
        fitter.config.grad.name(),
        fitter.batches(data),
        fitter.model.engine(),
        fitter.model.precision(),
        rayon::current_num_threads()
    );
    let (mut drawn, mut free) = (Instant::now(), f64::NAN);
    if fitter.epochs_done() >= total {
        free = write_metrics(out, &fitter, initial, data, true)?;
    }
    while fitter.epochs_done() < total {
        let epoch = fitter.epochs_done() + 1;
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "epoch {epoch}/{total} {{bar:30}} {{pos}}/{{len}} {{msg}}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut observer = FitBar(bar);
        let result = fitter.epoch(data, &mut observer as &mut dyn Observer);
        observer.0.finish_and_clear();
        let record = result.map_err(|e| {
            let kept = match fitter.epochs_done() {
                0 => "nothing was written".to_owned(),
                n => format!("the params after epoch {n} are kept in `{}`", out.join("params.safetensors").display()),
            };
            fail(format!("fitting stopped: {e}")).with_note(kept).with_note(
                "a smaller --lr, shorter --window, or --force with the data's states keeps the gradient bounded",
            )
        })?;
        let _ = writeln!(std::io::stdout(), "{}", line(&record, total, &fitter));
        store::save(out, &fitter, initial).map_err(file_error)?;
        // The picture at most every few seconds (it takes a few tens of milliseconds), and last.
        let draw = fitter.epochs_done() == total || drawn.elapsed().as_secs_f64() > 5.0;
        free = write_metrics(out, &fitter, initial, data, draw)?;
        if draw {
            drawn = Instant::now();
        }
    }
    let mut text = String::new();
    let last = fitter.history.last().map_or(f64::NAN, |r| r.loss);
    text += &format!(
        "loss per step {last:.4e} (training windows); run freely from the data's initial states over whole sequences: {free:.4e}\n"
    );
    for (p, (first, now)) in spec.params.iter().zip(initial.values.iter().zip(&fitter.params.values)) {
        text += &format!("  {:<12} {} -> {}\n", p.describe(), numbers(first), numbers(now));
    }
    text += &format!(
        "{:.1} s; wrote {}/{{params.safetensors, metrics.json, fit.png}}\n",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(text.into())
}

/// A few numbers, rounded for reading (all of them in `metrics.json`).
fn numbers(values: &[f64]) -> String {
    let shown: Vec<String> = values.iter().take(8).map(|v| format!("{v:.5}")).collect();
    let more = if values.len() > 8 { format!(", … ({} in all)", values.len()) } else { String::new() };
    if values.len() == 1 { shown[0].clone() } else { format!("[{}{more}]", shown.join(", ")) }
}

fn line(r: &FitRecord, total: usize, fitter: &Fitter) -> String {
    let scalars: Vec<String> = fitter
        .model
        .spec()
        .params
        .iter()
        .zip(&fitter.params.values)
        .filter(|(p, _)| p.shape.is_empty())
        .take(4)
        .map(|(p, v)| format!("  {} {:.5}", p.name, v[0]))
        .collect();
    format!(
        "epoch {:>3}/{total}  loss {:.4e}  |grad| {:.2e}  lr {:.2e}  {:.1} s{}",
        r.epoch,
        r.loss,
        r.grad_norm,
        r.lr,
        r.seconds,
        scalars.concat()
    )
}

/// `metrics.json`, and `fit.png` when `draw` holds; returns the loss per step of the model
/// run freely over whole sequences from the data's initial states.
fn write_metrics(
    out: &Path,
    fitter: &Fitter,
    initial: &Params,
    data: &Observed,
    draw: bool,
) -> Result<f64, Diagnostic> {
    let spec = fitter.model.spec();
    let (run, free) = fitter.free_run(data).map_err(file_error)?;
    let params: serde_json::Map<String, Value> = spec
        .params
        .iter()
        .zip(initial.values.iter().zip(&fitter.params.values))
        .filter(|(p, _)| p.len() <= 64)
        .map(|(p, (first, last))| {
            let one = |v: &[f64]| match p.shape.is_empty() {
                true => store::finite(v[0]),
                false => v.iter().map(|&x| store::finite(x)).collect(),
            };
            (p.name.clone(), json!({ "first": one(first), "last": one(last) }))
        })
        .collect();
    let metrics = json!({
        "epochs": fitter.history.iter().map(store::record_json).collect::<Vec<_>>(),
        "final_loss": fitter.history.last().map(|r| store::finite(r.loss)),
        "free_run_loss": store::finite(free),
        "params": params,
    });
    let text = serde_json::to_string_pretty(&metrics).unwrap_or_default();
    write_atomically(&out.join("metrics.json"), text.as_bytes()).map_err(file_error)?;
    if draw {
        plot_fit(&out.join("fit.png"), fitter, data, &run)?;
    }
    Ok(free)
}

/// The loss per epoch, and the first sequence observed against the model run freely (`run`).
fn plot_fit(path: &Path, fitter: &Fitter, data: &Observed, run: &Trajectory) -> Result<(), Diagnostic> {
    let spec = fitter.model.spec();
    let loss = Line {
        label: String::new(),
        points: fitter
            .history
            .iter()
            .filter(|r| r.loss > 0.0)
            .map(|r| (r.epoch as f64, r.loss.log10()))
            .collect(),
        dashed: false,
    };
    let mut panels = vec![Panel {
        caption: "log10 of the loss per step".into(),
        x: "epoch".into(),
        lines: vec![loss],
        scientific: false,
    }];
    let dt = match spec.step {
        Step::Fixed(h) => h,
        Step::Param(i) => fitter.params.values[i][0],
    };
    // What is observed of pair 0's positions: its forced array, else a target of its size.
    let position = &spec.pairs[0].position;
    let n = position.len();
    let observed = data.forced[0].as_ref().map(|f| (f, format!("--force {}", position.name))).or_else(|| {
        spec.targets
            .iter()
            .position(|t| t.len() == n)
            .map(|i| (&data.targets[i], format!("target {}", spec.targets[i].name)))
    });
    let (t, shown) = (data.steps, n.min(3));
    let mut lines = Vec::new();
    for c in 0..shown {
        lines.push(Line {
            label: format!("model {}[{c}]", position.name),
            points: (0..=t).map(|s| (s as f64 * dt, run.states[0][s * n + c])).collect(),
            dashed: false,
        });
        if let Some((obs, what)) = &observed {
            lines.push(Line {
                label: format!("data ({what})[{c}]"),
                points: (0..t).map(|s| ((s + 1) as f64 * dt, obs[s * n + c])).collect(),
                dashed: true,
            });
        }
    }
    panels.push(Panel {
        caption: format!(
            "sequence 0, the fitted model run freely from the data's initial state ({shown} of {n} positions)"
        ),
        x: "time".into(),
        lines,
        scientific: false,
    });
    let title = format!("{} fitted, {} gradients", spec.name, fitter.config.grad.name());
    plot::draw(path, &title, &panels).map_err(fail)
}

/// A progress bar per epoch with the running loss.
struct FitBar(indicatif::ProgressBar);

impl Observer for FitBar {
    fn batch(&mut self, p: &Progress) {
        self.0.set_length(p.batches as u64);
        self.0.set_position(p.done as u64);
        self.0.set_message(format!("loss {:.4e}", p.running_loss));
    }
}
