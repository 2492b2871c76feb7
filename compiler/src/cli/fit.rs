//! `hsc fit`: the model's own params fitted to observed sequences, by its in-model loss, in
//! windows, with teacher forcing, or online with Hamiltonian Learning.
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
use hsc_train::fit::online::{Online, OnlineConfig, StretchRecord, Watch};
use hsc_train::fit::{self, FitConfig, FitRecord, Fitter, Observed, Rate, store};
use hsc_train::plot::{self, Line, Panel, Stroke};
use hsc_train::train::GradMethod;
use hsc_train::train::checkpoint::write_atomically;
use serde_json::{Value, json};

use super::train::{GradArg, fail, file_error, stored};
use super::{Dims, EpochBar, Output, compiled, named, run, with_run};

/// Fit the model's params to observed sequences: minimise its in-model loss (`target` and
/// `loss` in the .ham file) over the data's targets.
///
/// The data are one .npz file (numpy.savez): an array per `input` and `target` of the model,
/// named after it, `[S, T, ...]` (S sequences of T steps) or `[T, ...]` (one); the initial
/// state as arrays named after the state arrays (`q`, `p`), `[S, ...]` or `[...]` (else
/// zero). Each sequence is cut into windows of --window steps; a window starts from the state
/// the data give (--force) or from where the model got to at the end of the window before.
/// --forcing adds generalized teacher forcing; --online learns instead with Hamiltonian
/// Learning, in one pass over the streams. Prints each epoch's loss and scalar params; writes
/// `params.safetensors`, `metrics.json` and `fit.png` into the run folder; `--resume` goes on
/// from the last epoch.
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
    /// Generalized teacher forcing: after every step, pull the state arrays of --force toward
    /// the data, x ← x + α (x_data − x), the loss reading the state before the pull; `α` in
    /// [0, 1], or `auto`: α = max(0, 1 − 1/G) each epoch, G the growth per step of a small
    /// perturbation over the first window. Needs --grad bptt (a forced map has no echo).
    #[arg(long, value_name = "α|auto", value_parser = parse_forcing)]
    forcing: Option<Rate>,
    /// Params to hold as they are (`--freeze k,R`).
    #[arg(long, value_name = "PARAM", value_delimiter = ',')]
    freeze: Vec<String>,
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
    /// Learn online with Hamiltonian Learning (hl.md) instead: one pass over the streams, the
    /// params updated as the ticks go, memory independent of the streams' length.
    #[arg(long, conflicts_with_all = ["grad", "eps", "window", "force", "forcing", "epochs", "lr", "batch", "resume"])]
    online: bool,
    /// HL: the loss's weight γ.
    #[arg(long, default_value_t = 1.0)]
    gamma: f64,
    /// HL: the costates' dissipation θ, in [0, 1].
    #[arg(long, default_value_t = 0.2)]
    theta: f64,
    /// HL: the params' learning rate β.
    #[arg(long, default_value_t = 1.0)]
    beta: f64,
    /// HL: update with the costate before each tick (μ_t) rather than after it.
    #[arg(long, requires = "online")]
    local: bool,
    /// HL: ticks per kernel call, the params updated after each call (1: hl.md's rule exactly).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    chunk: u64,
    /// HL: ticks per line of progress and per point of the loss curve [default: a hundredth of
    /// the stream].
    #[arg(long, value_name = "TICKS", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    every: Option<u64>,
    /// Arithmetic of the model's kernels.
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    /// What runs the kernels [default: c where a C compiler works, else cranelift].
    #[arg(long, value_parser = named::<Backend>())]
    backend: Option<Backend>,
    #[command(flatten)]
    dims: Dims,
}

fn parse_forcing(text: &str) -> Result<Rate, String> {
    if text == "auto" {
        return Ok(Rate::Auto);
    }
    match text.parse::<f64>() {
        Ok(a) if (0.0..=1.0).contains(&a) => Ok(Rate::Fixed(a)),
        _ => Err(format!("expected a number in [0, 1] or `auto`, not `{text}`")),
    }
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
    if args.online {
        let online = OnlineConfig {
            gamma: args.gamma,
            theta: args.theta,
            beta: args.beta,
            local: args.local,
            chunk: args.chunk as usize,
            frozen: args.freeze.clone(),
        };
        let finite = [args.gamma, args.theta, args.beta].iter().all(|x| x.is_finite());
        if !finite || !(0.0..=1.0).contains(&args.theta) || args.gamma < 0.0 || args.beta < 0.0 {
            let d = Diagnostic::error(format!(
                "--gamma {}, --theta {} and --beta {} are out of range",
                args.gamma, args.theta, args.beta
            ))
            .with_note("--gamma and --beta are at least 0, --theta is in [0, 1]");
            eprint!("{}", render(&[d], "", "", color));
            return ExitCode::from(2);
        }
        let backend = super::backend_or_native(args.backend);
        let argv: Vec<String> = std::env::args().collect();
        return run(model, &args.dims.define, color, |front| {
            let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
            let m = c.model(backend, args.precision)?;
            start_online(m, model, data, args, online.clone(), backend, &argv)
        });
    }
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
        frozen: args.freeze.clone(),
        forcing: args.forcing,
    };
    if args.forcing.is_some() {
        let why = if args.force.is_empty() {
            Some("--forcing pulls the state arrays the data give toward them: name them with --force q=ARRAY")
        } else if !matches!(args.grad, GradArg::Bptt) {
            Some(
                "a forced map is not reversible, so RHEL and the tangent echo do not apply to it: use --grad bptt",
            )
        } else {
            None
        };
        if let Some(why) = why {
            let d = Diagnostic::error(why);
            eprint!("{}", render(&[d], "", "", color));
            return ExitCode::from(2);
        }
    }
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
    let (data, out) =
        prepare(&model, model_path, data_path, args, backend, argv, store::config_json(&config))?;
    let windowed = config.window.is_some_and(|w| w < data.steps);
    if config.forcing.is_some() && windowed && data.forced.iter().any(Option::is_none) {
        return Err(fail(
            "with --forcing, a window after the first starts from the data's state: name every state array with --force, or fit whole sequences",
        ));
    }
    let initial = model.init_params(config.seed);
    let fitter = Fitter::new(model, initial.clone(), config);
    run_epochs(fitter, &initial, &data, &out)
}

/// Reads the data, makes the run folder and writes `model.ham` and `command.json` into it
/// (`config`: the run's settings).
fn prepare(
    model: &Model,
    model_path: &Path,
    data_path: &Path,
    args: &Args,
    backend: Backend,
    argv: &[String],
    config: Value,
) -> Result<(Observed, PathBuf), Diagnostic> {
    let out = &args.out;
    if out.join("params.safetensors").exists() {
        return Err(fail(format!(
            "`{}` already holds a fit; continue it with `hsc fit --resume {}`, or choose another --out",
            out.display(),
            out.display()
        )));
    }
    let spec = model.spec();
    if let Some(name) = args.freeze.iter().find(|n| !spec.params.iter().any(|p| &p.name == *n)) {
        let params: Vec<String> = spec.params.iter().map(|p| format!("`{}`", p.name)).collect();
        return Err(fail(format!(
            "--freeze names `{name}`, which is not a param of {} ({})",
            spec.name,
            params.join(", ")
        )));
    }
    let data = observe(model, data_path, &args.force)?;
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
        "online": args.online,
        "config": config,
    });
    let text = serde_json::to_string_pretty(&command).unwrap_or_default();
    write_atomically(&out.join("command.json"), text.as_bytes()).map_err(file_error)?;
    Ok((data, out.clone()))
}

/// Learns online with HL: one pass over the streams.
fn start_online(
    model: Model,
    model_path: &Path,
    data_path: &Path,
    args: &Args,
    config: OnlineConfig,
    backend: Backend,
    argv: &[String],
) -> Result<Output, Diagnostic> {
    let settings = json!({
        "gamma": config.gamma, "theta": config.theta, "beta": config.beta, "local": config.local,
        "chunk": config.chunk, "seed": args.seed, "frozen": config.frozen,
    });
    let (data, out) = prepare(&model, model_path, data_path, args, backend, argv, settings.clone())?;
    let initial = model.init_params(args.seed);
    let (_, before) = fit::free_run(&model, &initial, &data, 1).map_err(file_error)?;
    let started = Instant::now();
    let mut online = Online::new(model, initial.clone(), config.clone(), &data);
    let every = args.every.map_or((data.steps / 100).max(1), |e| e as usize);
    let spec = online.model.spec().clone();
    say!(
        "{}: params {}, Hamiltonian Learning online (γ {}, θ {}, β {}{}), {} tick{} per call, {} stream{} of {} ticks, {}, {}",
        spec.name,
        spec.params.iter().map(|p| p.describe()).collect::<Vec<_>>().join(" "),
        config.gamma,
        config.theta,
        config.beta,
        if config.local { ", local" } else { "" },
        config.chunk,
        if config.chunk == 1 { "" } else { "s" },
        data.sequences,
        if data.sequences == 1 { "" } else { "s" },
        data.steps,
        online.model.engine(),
        online.model.precision()
    );
    let bar = indicatif::ProgressBar::new(data.steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} ticks {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut watch = TickBar(bar);
    let result = online.run(&data, every, &mut watch);
    watch.0.finish_and_clear();
    result.map_err(|e| {
        fail(format!("learning stopped: {e}"))
            .with_note("a smaller --beta or a larger --theta keeps HL stable")
    })?;
    store::save_params(&out, &spec, &online.params, "online").map_err(file_error)?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = online.ticks as f64 / seconds;
    let stretches: Vec<Value> = online
        .history
        .iter()
        .map(|r| json!({ "ticks": r.ticks, "loss": store::finite(r.loss), "ticks_per_second": r.rate }))
        .collect();
    let mut settings = settings;
    settings["ticks"] = json!(online.ticks);
    settings["ticks_per_second"] = json!(rate);
    settings["free_run_loss_initial"] = store::finite(before);
    let report = Report {
        model: &online.model,
        initial: &initial,
        params: &online.params,
        curve: online.history.iter().map(|r| (r.ticks as f64, r.loss)).collect(),
        x: "tick",
        title: format!("{} learnt online (Hamiltonian Learning)", spec.name),
        figures: vec![("online", settings), ("stretches", Value::from(stretches))],
    };
    let free = write_metrics(&out, &report, &data, true)?;
    let (first, last) = (online.history.first(), online.history.last());
    let mut text = format!(
        "{} ticks in {seconds:.1} s ({rate:.0} ticks per second); loss per tick {:.4e} in the first stretch, {:.4e} in the last\nloss per tick of the model run freely over the streams: {before:.4e} with the initial params, {free:.4e} with the learnt ones\n",
        online.ticks,
        first.map_or(f64::NAN, |r| r.loss),
        last.map_or(f64::NAN, |r| r.loss),
    );
    for (p, (a, b)) in spec.params.iter().zip(initial.values.iter().zip(&online.params.values)) {
        text += &format!("  {:<12} {} -> {}\n", p.describe(), numbers(a), numbers(b));
    }
    text += &format!("wrote {}/{{params.safetensors, metrics.json, fit.png}}\n", out.display());
    Ok(text.into())
}

/// The progress of an online run: a bar, and a line per stretch of ticks.
struct TickBar(indicatif::ProgressBar);

impl Watch for TickBar {
    fn stretch(&mut self, r: &StretchRecord, total: usize) {
        self.0.set_position(r.ticks as u64);
        self.0.set_message(format!("loss {:.4e}, {:.0} ticks/s", r.loss, r.rate));
        self.0.suspend(|| {
            let _ = writeln!(
                std::io::stdout(),
                "ticks {:>9}/{total}  loss {:.4e}  {:.0} ticks/s",
                r.ticks,
                r.loss,
                r.rate
            );
        });
    }
}

/// Goes on with the fit in `dir` after its last epoch; `data` overrides the stored file.
fn resume(model: Model, dir: &Path, data: Option<&Path>) -> Result<Output, Diagnostic> {
    let command = stored(dir)?;
    if command["online"].as_bool() == Some(true) {
        return Err(fail(format!(
            "`{}` was learnt online (--online), which keeps no costates to go on from; start a new run",
            dir.display()
        )));
    }
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
    let eps = match (fitter.config.grad, fitter.config.forcing) {
        (_, Some(Rate::Fixed(a))) => format!(" with teacher forcing α {a}"),
        (_, Some(Rate::Auto)) => " with teacher forcing, α from the growth of a perturbation".to_owned(),
        (GradMethod::Rhel { eps }, None) => format!(" (ε {eps:e})"),
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
        free = write_metrics(out, &report(&fitter, initial), data, true)?;
    }
    while fitter.epochs_done() < total {
        let epoch = fitter.epochs_done() + 1;
        let mut observer = EpochBar::new(epoch, total, true);
        let result = fitter.epoch(data, &mut observer);
        observer.bar.finish_and_clear();
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
        free = write_metrics(out, &report(&fitter, initial), data, draw)?;
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

/// The report of an offline fit.
fn report<'a>(fitter: &'a Fitter, initial: &'a Params) -> Report<'a> {
    Report {
        model: &fitter.model,
        initial,
        params: &fitter.params,
        curve: fitter.history.iter().map(|r| (r.epoch as f64, r.loss)).collect(),
        x: "epoch",
        title: format!("{} fitted, {} gradients", fitter.model.spec().name, fitter.config.grad.name()),
        figures: vec![("epochs", fitter.history.iter().map(store::record_json).collect())],
    }
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
        "epoch {:>3}/{total}  loss {:.4e}  |grad| {:.2e}{}  lr {:.2e}  {:.1} s{}",
        r.epoch,
        r.loss,
        r.grad_norm,
        if fitter.config.forcing.is_some() { format!("  α {:.4}", r.alpha) } else { String::new() },
        r.lr,
        r.seconds,
        scalars.concat()
    )
}

/// Steps of the first sequence drawn in `fit.png` (a long stream is drawn over its start).
const PLOTTED: usize = 2000;

/// What a run folder's `metrics.json` and `fit.png` show: the loss as the fit went, and the
/// params before and after.
struct Report<'a> {
    model: &'a Model,
    initial: &'a Params,
    params: &'a Params,
    /// `(x, loss per step)` as the fit went: per epoch, or per stretch of ticks.
    curve: Vec<(f64, f64)>,
    /// What `x` is.
    x: &'a str,
    /// The figure's title.
    title: String,
    /// The run's own figures, by name (`epochs`, `online`, ...).
    figures: Vec<(&'a str, Value)>,
}

/// `metrics.json`, and `fit.png` when `draw` holds; returns the loss per step of the model
/// run freely over whole sequences from the data's initial states.
fn write_metrics(out: &Path, report: &Report, data: &Observed, draw: bool) -> Result<f64, Diagnostic> {
    let spec = report.model.spec();
    // The trajectory is kept only for the picture; the loss is over the whole sequences.
    let recorded = if draw { PLOTTED } else { 1 };
    let (run, free) = fit::free_run(report.model, report.params, data, recorded).map_err(file_error)?;
    let params: serde_json::Map<String, Value> = spec
        .params
        .iter()
        .zip(report.initial.values.iter().zip(&report.params.values))
        .filter(|(p, _)| p.len() <= 64)
        .map(|(p, (first, last))| {
            let one = |v: &[f64]| match p.shape.is_empty() {
                true => store::finite(v[0]),
                false => v.iter().map(|&x| store::finite(x)).collect(),
            };
            (p.name.clone(), json!({ "first": one(first), "last": one(last) }))
        })
        .collect();
    let mut metrics = serde_json::Map::new();
    for (key, value) in &report.figures {
        metrics.insert((*key).to_owned(), value.clone());
    }
    metrics.insert("final_loss".into(), report.curve.last().map_or(Value::Null, |c| store::finite(c.1)));
    metrics.insert("free_run_loss".into(), store::finite(free));
    metrics.insert("params".into(), Value::Object(params));
    let text = serde_json::to_string_pretty(&Value::Object(metrics)).unwrap_or_default();
    write_atomically(&out.join("metrics.json"), text.as_bytes()).map_err(file_error)?;
    if draw {
        plot_fit(&out.join("fit.png"), report, data, &run)?;
    }
    Ok(free)
}

/// The loss as the fit went, and the first sequence observed against the model run freely
/// (`run`).
fn plot_fit(path: &Path, report: &Report, data: &Observed, run: &Trajectory) -> Result<(), Diagnostic> {
    let spec = report.model.spec();
    let loss = Line {
        label: String::new(),
        points: report.curve.iter().filter(|c| c.1 > 0.0).map(|&(x, l)| (x, l.log10())).collect(),
        stroke: Stroke::Solid,
    };
    let mut panels = vec![Panel {
        caption: "log10 of the loss per step".into(),
        x: report.x.into(),
        lines: vec![loss],
        scientific: false,
    }];
    let dt = match spec.step {
        Step::Fixed(h) => h,
        Step::Param(i) => report.params.values[i][0],
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
    let (t, shown) = (data.steps.min(PLOTTED), n.min(3));
    let mut lines = Vec::new();
    for c in 0..shown {
        lines.push(Line {
            label: format!("model {}[{c}]", position.name),
            points: (0..=t).map(|s| (s as f64 * dt, run.states[0][s * n + c])).collect(),
            stroke: Stroke::Solid,
        });
        if let Some((obs, what)) = &observed {
            lines.push(Line {
                label: format!("data ({what})[{c}]"),
                points: (0..t).map(|s| ((s + 1) as f64 * dt, obs[s * n + c])).collect(),
                stroke: Stroke::Dashed,
            });
        }
    }
    let steps = if t < data.steps { format!(", its first {t} steps") } else { String::new() };
    panels.push(Panel {
        caption: format!(
            "sequence 0{steps}: the fitted model run freely from the data's initial state ({shown} of {n} positions)"
        ),
        x: "time".into(),
        lines,
        scientific: false,
    });
    plot::draw(path, &report.title, &panels).map_err(fail)
}
