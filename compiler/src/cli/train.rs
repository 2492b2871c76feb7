//! `hsc train`: a stacked Hamiltonian SSM on a UEA/UCR classification or regression set.
//!
//! A run folder holds everything needed to go on or to score: `command.json` (the exact
//! command, the seed and every setting), `model.ham` (a copy of the model), `last.safetensors`
//! (after every epoch) and `best.safetensors` (the best validation score), `metrics.json`,
//! `curves.png` and, for regression, `predictions.png`. Files are replaced atomically, so a
//! run killed at any moment can be resumed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::ValueEnum;

use hsc::kernel::Precision;
use hsc::{Backend, Override};
use hsc_grammar::{Diagnostic, render};
use hsc_runtime::Model;
use hsc_train::data::{self, Dataset, Normalizer};
use hsc_train::plot::{self, Line, Panel, Stroke};
use hsc_train::train::checkpoint::{self, Extra};
use hsc_train::train::{
    Anchor, Architecture, Config, EpochRecord, Example, GradMethod, Head, Network, Score, Target, Trainer,
    metrics,
};
use serde_json::{Value, json};

use super::{Dims, EpochBar, Output, compiled, named, run, with_run};

/// Train a stacked Hamiltonian SSM whose recurrent layers are the model on a UEA/UCR
/// classification or regression data set (DIR/NAME_TRAIN.ts and DIR/NAME_TEST.ts; a
/// regression set says `@targetLabel true`).
///
/// Prints each epoch's train and validation loss and accuracy (RMSE and MAE for regression),
/// stops once validation has not improved for --patience epochs, then scores the params that
/// did best on validation on the test set. The run folder gets `metrics.json`, `curves.png`
/// (and `predictions.png` for regression), checkpoints (`last.safetensors`,
/// `best.safetensors`), the exact command and a copy of the model; `--resume` goes on from the
/// last checkpoint.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file (omit it with --resume).
    #[arg(required_unless_present = "resume")]
    model: Option<PathBuf>,
    /// The data folder: NAME_TRAIN.ts and NAME_TEST.ts [with --resume: the run's].
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint, with the settings it was
    /// started with (only --data may be given again, for data that moved).
    #[arg(long, value_name = "RUN", conflicts_with = "model")]
    resume: Option<PathBuf>,
    /// Number of blocks.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    layers: u64,
    /// Width between blocks.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    hidden: u64,
    /// The most passes over the training set (the learning-rate schedule spans them).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    epochs: u64,
    /// Stop once validation has not improved for this many epochs (0: never stop early).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    patience: u64,
    /// Peak learning rate (AdamW, warm-up then cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Sequences per update.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// How the recurrent layers' gradients are computed.
    #[arg(long, value_enum, default_value_t = GradArg::Rhel)]
    grad: GradArg,
    /// RHEL's nudge, relative to each sequence's largest cotangent.
    #[arg(long, default_value_t = 0.05)]
    eps: f64,
    /// Seed of the params, the validation split, the shuffles and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The run folder.
    #[arg(long, value_name = "DIR", default_value = "run")]
    out: PathBuf,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    /// AdamW's weight decay (weight matrices only).
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Fraction of the training set held out for validation (0: none).
    #[arg(long, default_value_t = 0.2)]
    validation: f64,
    /// Arithmetic of the recurrent layers.
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    /// Where the echoes of --grad rhel|tangent re-anchor to states the forward pass keeps:
    /// `never` (memory flat in the sequence's length), `sqrt` (every ⌈√T⌉ steps) or every K
    /// steps [default: sqrt in f32, never in f64].
    #[arg(long, value_name = "never|sqrt|K")]
    anchor: Option<Anchor>,
    /// What runs the recurrent layers' kernels [default: c where a C compiler works, else
    /// cranelift].
    #[arg(long, value_parser = named::<Backend>())]
    backend: Option<Backend>,
    #[command(flatten)]
    dims: Dims,
}

/// `--grad`: how the recurrent layers' gradients are computed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum GradArg {
    /// Recurrent Hamiltonian Echo Learning: two nudged echoes (O(1) memory in T).
    Rhel,
    /// The tangent echo, RHEL's ε → 0 limit.
    Tangent,
    /// Backpropagation through time over a stored trajectory (the reference).
    Bptt,
}

/// Starts a run, or with `--resume` goes on with one; a setting out of range is a usage
/// error (exit code 2).
pub fn train(args: &Args, color: bool) -> ExitCode {
    if let Some(dir) = &args.resume {
        return with_run(dir, color, |model, _| resume(model, dir, args.data.as_deref()));
    }
    let (Some(model), Some(data)) = (&args.model, &args.data) else {
        eprintln!("error: `hsc train` needs a model and --data DIR, or --resume RUN");
        return ExitCode::from(2);
    };
    let Args { lr, eps, dropout, weight_decay, validation, precision, .. } = *args;
    let backend = super::backend_or_native(args.backend);
    let checks = [
        ("--lr", lr, lr > 0.0 && lr.is_finite()),
        ("--eps", eps, eps > 0.0 && eps.is_finite()),
        ("--dropout", dropout, (0.0..1.0).contains(&dropout)),
        ("--weight-decay", weight_decay, (0.0..1.0).contains(&weight_decay)),
        ("--validation", validation, (0.0..1.0).contains(&validation)),
    ];
    if let Some((name, value, _)) = checks.iter().find(|c| !c.2) {
        let d = Diagnostic::error(format!("{name} {value} is out of range")).with_note(
            "--lr and --eps are positive; --dropout, --weight-decay and --validation are in [0, 1)",
        );
        eprint!("{}", render(&[d], "", "", color));
        return ExitCode::from(2);
    }
    let grad = match args.grad {
        GradArg::Rhel => GradMethod::Rhel { eps },
        GradArg::Tangent => GradMethod::Tangent,
        GradArg::Bptt => GradMethod::Bptt,
    };
    let settings = Settings {
        data: data.clone(),
        hidden: args.hidden as usize,
        layers: args.layers as usize,
        dropout,
        config: Config {
            epochs: args.epochs as usize,
            patience: (args.patience > 0).then_some(args.patience as usize),
            lr,
            batch: args.batch as usize,
            grad,
            seed: args.seed,
            weight_decay,
            anchor: args.anchor.unwrap_or(match precision {
                Precision::F32 => Anchor::Sqrt,
                Precision::F64 => Anchor::Never,
            }),
        },
        validation,
        precision,
        backend,
        defines: args.dims.define.iter().map(|o| format!("{}={}", o.name, o.value)).collect(),
    };
    let argv: Vec<String> = std::env::args().collect();
    run(model, &args.dims.define, color, |front| {
        let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
        let m = c.model(backend, precision)?;
        start(m, model, &args.out, settings.clone(), &argv)
    })
}

/// Everything `hsc train` was asked, as stored in `command.json`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data folder.
    pub data: PathBuf,
    /// The network's width and depth (channels, classes and targets come from the data).
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f64,
    pub config: Config,
    /// Fraction of the training set held out for validation.
    pub validation: f64,
    pub precision: Precision,
    pub backend: Backend,
    pub defines: Vec<String>,
}

pub(super) fn fail(message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(message.into())
}

pub(super) fn file_error(e: impl std::fmt::Display) -> Diagnostic {
    fail(e.to_string())
}

/// The data, split, normalised by the resumed run's normalizer (else fitted on the training
/// part) and checked against its head.
struct Prepared {
    name: String,
    /// What the train and test files hold, in a line each.
    described: [String; 2],
    classes: Vec<String>,
    /// The head a new run gets: the classes, or the training part's targets' statistics.
    head: Head,
    normalizer: Normalizer,
    train: Vec<Example>,
    validation: Vec<Example>,
    test: Vec<Example>,
    channels: usize,
}

fn prepare(
    dir: &Path,
    fraction: f64,
    seed: u64,
    run: Option<(Normalizer, Head)>,
) -> Result<Prepared, Diagnostic> {
    let (train, mut test) = data::load_pair(dir).map_err(file_error)?;
    if let Some((n, head)) = &run {
        same_channels(n, &train, dir)?;
        same_kind(*head, &train, dir)?;
    }
    let normalizer = run.map(|(n, _)| n);
    let described = [describe("train", &train), describe("test", &test)];
    let (mut train, mut validation) = data::split(&train, fraction, seed);
    let head = if train.is_regression() {
        Head::regression(&train.targets)
    } else {
        Head::Classes(train.classes.len())
    };
    let normalizer = normalizer.unwrap_or_else(|| Normalizer::fit(&train));
    for set in [&mut train, &mut validation, &mut test] {
        normalizer.apply(set);
    }
    Ok(Prepared {
        described,
        name: train.name.clone(),
        classes: train.classes.clone(),
        head,
        channels: train.channels,
        normalizer,
        train: Example::all(&train),
        validation: Example::all(&validation),
        test: Example::all(&test),
    })
}

/// An error unless `data` has the channels a run was trained on.
pub(super) fn same_channels(n: &Normalizer, data: &Dataset, dir: &Path) -> Result<(), Diagnostic> {
    if n.mean.len() == data.channels {
        return Ok(());
    }
    Err(fail(format!(
        "the run was trained on {} channels, and the data in `{}` has {}",
        n.mean.len(),
        dir.display(),
        data.channels
    )))
}

/// An error unless `data` is of the kind (classification or regression) a run's `head` is.
pub(super) fn same_kind(head: Head, data: &Dataset, dir: &Path) -> Result<(), Diagnostic> {
    let regression = matches!(head, Head::Regression { .. });
    if regression == data.is_regression() {
        return Ok(());
    }
    let kind = |r: bool| if r { "regression (a number per case)" } else { "classification" };
    Err(fail(format!(
        "the run was trained for {}, and the data in `{}` is {}",
        kind(regression),
        dir.display(),
        kind(data.is_regression())
    )))
}

fn describe(name: &str, d: &Dataset) -> String {
    let lengths = if d.min_steps() == d.max_steps() {
        format!("{} steps", d.max_steps())
    } else {
        format!("{}–{} steps", d.min_steps(), d.max_steps())
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let predicted = if d.is_regression() {
        let (lo, hi) =
            d.targets.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| (a.min(y), b.max(y)));
        format!("targets {lo:.4} to {hi:.4}")
    } else {
        plural(d.classes.len(), "class").replace("classs", "classes")
    };
    format!("{name}: {}, {}, {lengths}, {predicted}", plural(d.len(), "case"), plural(d.channels, "channel"),)
}

/// Starts a new run in `out`.
fn start(
    model: Model,
    model_path: &Path,
    out: &Path,
    settings: Settings,
    argv: &[String],
) -> Result<Output, Diagnostic> {
    if out.join("last.safetensors").exists() {
        return Err(fail(format!(
            "`{}` already holds a run; continue it with `hsc train --resume {}`, or choose another --out",
            out.display(),
            out.display()
        )));
    }
    let prepared = prepare(&settings.data, settings.validation, settings.config.seed, None)?;
    say!(
        "{} ({} to train on, {} held out for validation)",
        prepared.described[0],
        prepared.train.len(),
        prepared.validation.len()
    );
    say!("{}", prepared.described[1]);
    let arch = Architecture {
        channels: prepared.channels,
        hidden: settings.hidden,
        layers: settings.layers,
        head: prepared.head,
        dropout: settings.dropout,
    };
    let net = Network::new(arch, model, settings.config.seed).map_err(fail)?;
    std::fs::create_dir_all(out).map_err(|e| fail(format!("cannot create `{}`: {e}", out.display())))?;
    let source = std::fs::read(model_path)
        .map_err(|e| fail(format!("cannot read `{}`: {e}", model_path.display())))?;
    checkpoint::write_atomically(&out.join("model.ham"), &source).map_err(file_error)?;
    let command = json!({
        "command": argv.join(" "),
        "argv": argv,
        "model": model_path.display().to_string(),
        "data": settings.data.display().to_string(),
        "defines": settings.defines,
        "hidden": settings.hidden,
        "layers": settings.layers,
        "dropout": settings.dropout,
        "validation": settings.validation,
        "precision": settings.precision.name(),
        "backend": settings.backend.name(),
        "compiler": (settings.backend == Backend::C)
            .then(|| hsc::backend::c::Toolchain::find().ok().map(|t| t.identity.clone()))
            .flatten(),
        "seed": settings.config.seed,
        "config": metrics::config_json(&settings.config),
    });
    let text = serde_json::to_string_pretty(&command).unwrap_or_default();
    checkpoint::write_atomically(&out.join("command.json"), text.as_bytes()).map_err(file_error)?;
    say!(
        "{} layers of {} (hidden {}), {} trainable numbers, {} gradients, {}, {}, {} threads",
        net.arch.layers,
        net.model.spec().name,
        net.arch.hidden,
        net.size(),
        settings.config.grad.name(),
        net.model.engine(),
        net.model.precision(),
        rayon::current_num_threads()
    );
    let trainer = Trainer::new(net, settings.config);
    let extra = Extra {
        classes: prepared.classes.clone(),
        normalizer: prepared.normalizer.clone(),
        best_epoch: None,
    };
    run_epochs(trainer, extra, None, &prepared, out)
}

/// The settings stored in a run folder.
pub fn stored(dir: &Path) -> Result<Value, Diagnostic> {
    let path = dir.join("command.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        fail(format!(
            "cannot read `{}` ({e}); is `{}` a run folder of `hsc train` or `hsc fit`?",
            path.display(),
            dir.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| fail(format!("`{}` is not valid JSON: {e}", path.display())))
}

/// The backend and precision a run folder was trained with: a run goes on, and is scored, as
/// it began. A value this hsc does not know is an error, never a silent default.
pub fn stored_engine(dir: &Path, command: &Value) -> Result<(Backend, Precision), Diagnostic> {
    let path = dir.join("command.json");
    let field = |key: &str| {
        command[key].as_str().ok_or_else(|| fail(format!("`{}` has no \"{key}\" setting", path.display())))
    };
    let wrong = |e: String| fail(format!("`{}`: {e}", path.display()));
    let backend = field("backend")?.parse().map_err(wrong)?;
    let precision = field("precision")?.parse().map_err(wrong)?;
    Ok((backend, precision))
}

/// The `-D` overrides stored in a run folder.
pub fn stored_defines(command: &Value) -> Vec<Override> {
    command["defines"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| super::parse_define(d.as_str()?).ok()).collect())
        .unwrap_or_default()
}

/// Goes on with the run in `dir` from its last checkpoint; `data` overrides the stored folder.
pub fn resume(model: Model, dir: &Path, data: Option<&Path>) -> Result<Output, Diagnostic> {
    let command = stored(dir)?;
    let (trainer, extra) =
        checkpoint::load(&dir.join("last.safetensors"), model.clone()).map_err(file_error)?;
    let best = match dir.join("best.safetensors") {
        p if p.exists() => Some(checkpoint::load(&p, model).map_err(file_error)?.0.net),
        _ => None,
    };
    let data = data.map(Path::to_path_buf).or_else(|| command["data"].as_str().map(PathBuf::from));
    let data =
        data.ok_or_else(|| fail("the run folder does not say which data it was trained on; pass --data"))?;
    let validation = command["validation"].as_f64().unwrap_or(0.2);
    let run = (extra.normalizer.clone(), trainer.net.arch.head);
    let prepared = prepare(&data, validation, trainer.config.seed, Some(run))?;
    if prepared.classes != extra.classes {
        return Err(fail(format!(
            "the classes of `{}` ({}) are not the run's ({})",
            data.display(),
            prepared.classes.join(" "),
            extra.classes.join(" ")
        )));
    }
    say!(
        "resuming `{}` after epoch {} of {}, on {}, {}",
        dir.display(),
        trainer.epochs_done(),
        trainer.config.epochs,
        trainer.net.model.engine(),
        trainer.net.model.precision()
    );
    run_epochs(trainer, extra, best, &prepared, dir)
}

fn run_epochs(
    mut trainer: Trainer,
    mut extra: Extra,
    mut best: Option<Network>,
    data: &Prepared,
    out: &Path,
) -> Result<Output, Diagnostic> {
    let started = Instant::now();
    let total = trainer.config.epochs;
    let title = format!(
        "{} × {} on {}, {} gradients",
        trainer.net.arch.layers,
        trainer.net.model.spec().name,
        data.name,
        trainer.config.grad.name()
    );
    if data.validation.is_empty() && trainer.config.patience.is_some() {
        say!("no validation set, so no early stopping: {total} epochs, the last one kept");
    }
    let mut stopped = trainer.stop_early();
    let mut warned = false;
    while trainer.epochs_done() < total && stopped.is_none() {
        let epoch = trainer.epochs_done() + 1;
        let mut observer = EpochBar::new(epoch, total, false);
        let result = trainer.epoch(&data.train, &data.validation, &mut observer);
        observer.bar.finish_and_clear();
        let record = result.map_err(|e| {
            let kept = match trainer.epochs_done() {
                0 => "no checkpoint was written".to_owned(),
                n => format!(
                    "the last good checkpoint, `{}` (epoch {n}), is kept",
                    out.join("last.safetensors").display()
                ),
            };
            fail(format!("training stopped: {e}")).with_note(kept)
        })?;
        // Not println!, which panics when stdout is a closed pipe (`hsc train ... | head`).
        let _ = writeln!(std::io::stdout(), "{}", line(&record, total));
        if record.stray > STRAY && !warned {
            warned = true;
            say!(
                "warning: the echoes ended {:.1e} from where the sequences started (relative to the \
                 states' size): running the steps backwards amplified rounding, and the gradients \
                 are off by as much; --anchor sqrt, or a smaller --anchor K, re-anchors them to \
                 states the forward pass keeps",
                record.stray
            );
        }
        // Without validation the last epoch is the one kept.
        if record.validation.is_none() || trainer.best_epoch() == Some(epoch) {
            extra.best_epoch = Some(epoch);
            checkpoint::save(&out.join("best.safetensors"), &trainer, &extra).map_err(file_error)?;
            best = Some(trainer.net.clone());
        }
        checkpoint::save(&out.join("last.safetensors"), &trainer, &extra).map_err(file_error)?;
        stopped = trainer.stop_early();
        write_metrics(out, &title, &trainer.history, &extra, stopped.as_deref(), None)?;
    }
    if let Some(why) = &stopped {
        say!("{why}");
    }
    let net = best.as_ref().unwrap_or(&trainer.net);
    let (test, outputs) = hsc_train::train::evaluate(net, &data.test).map_err(file_error)?;
    let tested = Tested::new(net, &data.test, test, &outputs);
    write_metrics(out, &title, &trainer.history, &extra, stopped.as_deref(), Some(&tested))?;
    let which = format!(
        "with the params of epoch {}{}",
        extra.best_epoch.unwrap_or(trainer.epochs_done()),
        if data.validation.is_empty() { "" } else { " (the best on validation)" },
    );
    let mut text = match (test.accuracy, &tested.baseline) {
        (_, Some(baseline)) => format!(
            "test {}, {which}\npredicting the training mean instead: {}\n",
            errors(&test),
            errors(baseline)
        ),
        (accuracy, None) => {
            let accuracy = accuracy.unwrap_or(f64::NAN);
            format!(
                "test accuracy {:.1} % ({} of {}), loss {:.4}, {which}\n",
                100.0 * accuracy,
                (accuracy * data.test.len() as f64).round(),
                data.test.len(),
                test.loss,
            )
        }
    };
    let regression = matches!(net.arch.head, Head::Regression { .. });
    text += &format!(
        "{:.1} s; wrote {}/{{metrics.json, curves.png, {}best.safetensors, last.safetensors}}\n",
        started.elapsed().as_secs_f64(),
        out.display(),
        if regression { "predictions.png, " } else { "" },
    );
    Ok(text.into())
}

/// `RMSE x, MAE y` (regression) or `loss x` (classification).
fn errors(score: &Score) -> String {
    match score.errors {
        Some(e) => format!("RMSE {:.5}, MAE {:.5}", e.rmse, e.mae),
        None => format!("loss {:.4}", score.loss),
    }
}

/// The best params' test score, and for regression the score of predicting the training
/// mean and the (true, predicted) pairs.
struct Tested {
    score: Score,
    baseline: Option<Score>,
    pairs: Vec<(f64, f64)>,
}

impl Tested {
    fn new(net: &Network, examples: &[Example], score: Score, outputs: &[Vec<f64>]) -> Tested {
        let pairs = examples
            .iter()
            .zip(outputs)
            .filter_map(|(e, out)| match e.target {
                Target::Value(y) => Some((y, hsc_train::train::predicted(net, out))),
                Target::Class(_) => None,
            })
            .collect();
        Tested { score, baseline: hsc_train::train::mean_baseline(net, examples), pairs }
    }
}

/// How far (relative) the echoes may end from the start before `hsc train` warns.
const STRAY: f64 = 1e-3;

fn line(r: &EpochRecord, total: usize) -> String {
    let figures = |s: &Score| match (s.accuracy, s.errors) {
        (_, Some(e)) => format!("loss {:.4} rmse {:.4} mae {:.4}", s.loss, e.rmse, e.mae),
        (accuracy, None) => format!("loss {:.4} acc {:5.1} %", s.loss, 100.0 * accuracy.unwrap_or(f64::NAN)),
    };
    let val = r.validation.map_or(String::new(), |v| format!("  val {}", figures(&v)));
    format!(
        "epoch {:>3}/{total}  train {}{val}  lr {:.2e}  {:.1} s",
        r.epoch,
        figures(&r.train),
        r.lr,
        r.seconds
    )
}

fn write_metrics(
    out: &Path,
    title: &str,
    history: &[EpochRecord],
    extra: &Extra,
    stopped: Option<&str>,
    test: Option<&Tested>,
) -> Result<(), Diagnostic> {
    let mut json = metrics::metrics_json(history, extra.best_epoch, stopped, test.map(|t| &t.score));
    let baseline = test.and_then(|t| Some((t.baseline?, &t.pairs)));
    if let Some((score, _)) = &baseline {
        let e = score.errors.unwrap_or(hsc_train::train::Errors { rmse: f64::NAN, mae: f64::NAN });
        json["test_baseline"] = json!({"predicts": "the training mean", "rmse": e.rmse, "mae": e.mae});
    }
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    checkpoint::write_atomically(&out.join("metrics.json"), text.as_bytes()).map_err(file_error)?;
    let curve = |label: &str, f: &dyn Fn(&EpochRecord) -> Option<f64>| Line {
        label: label.to_owned(),
        points: history.iter().filter_map(|r| Some((r.epoch as f64, f(r)?))).collect(),
        stroke: Stroke::Solid,
    };
    let regression = history.first().is_some_and(|r| r.train.errors.is_some());
    let (caption, figure): (&str, fn(&Score) -> Option<f64>) =
        if regression { ("RMSE", |s| s.errors.map(|e| e.rmse)) } else { ("accuracy", |s| s.accuracy) };
    let panels = [
        Panel {
            caption: format!(
                "loss ({})",
                if regression { "squared error / variance of the targets" } else { "cross-entropy" }
            ),
            x: "epoch".into(),
            lines: vec![
                curve("train", &|r| Some(r.train.loss)),
                curve("validation", &|r| r.validation.map(|v| v.loss)),
            ],
            scientific: false,
        },
        Panel {
            caption: caption.into(),
            x: "epoch".into(),
            lines: vec![
                curve("train", &|r| figure(&r.train)),
                curve("validation", &|r| r.validation.as_ref().and_then(figure)),
            ],
            scientific: false,
        },
    ];
    plot::draw(&out.join("curves.png"), title, &panels).map_err(fail)?;
    if let Some((_, pairs)) = baseline {
        let (lo, hi) = pairs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(y, p)| (a.min(y).min(p), b.max(y).max(p)));
        let panel = Panel {
            caption: "test set: predicted against true (the line: perfect)".into(),
            x: "true".into(),
            lines: vec![
                Line { label: "test case".into(), points: pairs.clone(), stroke: Stroke::Dots },
                Line { label: String::new(), points: vec![(lo, lo), (hi, hi)], stroke: Stroke::Solid },
            ],
            scientific: false,
        };
        plot::draw(&out.join("predictions.png"), title, &[panel]).map_err(fail)?;
    }
    Ok(())
}
