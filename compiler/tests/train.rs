//! Training: the stacked network's gradients against finite differences and against each
//! other, reproducible runs, resuming, stopping on a NaN; then `hsc train` and `hsc eval` as a
//! user meets them (files, errors, a run killed at any moment).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Rng, path, text};
use hsc::Override;
use hsc::kernel::Precision;
use hsc_runtime::Model;
use hsc_runtime::Walk;
use hsc_train::train::checkpoint::{self, Extra};
use hsc_train::train::{
    Anchor, Architecture, Config, EpochRecord, Example, GradMethod, Head, Network, Score, Stretches, Target,
    TrainError, Trainer,
};

fn small_model() -> Model {
    let dims = [("P", "4"), ("N", "3")].map(|(n, v)| Override { name: n.into(), value: v.into() });
    hsc::jit(path("examples/nonlin_hru.ham"), &dims, Precision::F64).expect("NonlinHRU compiles")
}

fn arch(dropout: f64) -> Architecture {
    Architecture { channels: 2, hidden: 5, layers: 2, head: Head::Classes(3), dropout }
}

fn series(rng: &mut Rng, steps: usize, channels: usize) -> Vec<f64> {
    (0..steps * channels).map(|_| rng.unit()).collect()
}

/// Every tensor's gradient by BPTT against central finite differences of the loss (a few
/// entries of each), with dropout on (its masks are fixed by the seed); then the tangent echo
/// and RHEL against BPTT on every entry. For a classifier and for a regression head.
#[test]
fn network_gradients_match_finite_differences_and_each_other() {
    let classifier = Network::new(arch(0.2), small_model(), 7).unwrap();
    check_gradients(&classifier, Target::Class(2));
    let head = Head::Regression { mean: 0.3, std: 1.7 };
    let regression = Network::new(Architecture { head, ..arch(0.2) }, small_model(), 8).unwrap();
    check_gradients(&regression, Target::Value(-1.2));
}

fn check_gradients(net: &Network, target: Target) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (steps, seed) = (9, Some(5));
    let x = series(&mut rng, steps, 2);
    let grad = |net: &Network, m| net.loss_and_grad(&x, steps, target, seed, m, Anchor::Never).unwrap();
    let bptt = grad(net, GradMethod::Bptt);
    let mut worst = 0.0f64;
    for (i, t) in net.tensors.iter().enumerate() {
        for _ in 0..3 {
            let k = rng.below(t.values.len());
            let h = 1e-5 * t.values[k].abs().max(1.0);
            let at = |delta: f64| {
                let mut moved = net.clone();
                moved.tensors[i].values[k] += delta;
                grad(&moved, GradMethod::Bptt).loss
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            let g = bptt.grads[i][k];
            let err = (g - fd).abs() / g.abs().max(fd.abs()).max(1e-4);
            assert!(err < 1e-5, "{}[{k}]: BPTT {g:e}, finite differences {fd:e}", t.name);
            worst = worst.max(err);
        }
    }
    eprintln!("worst relative error of BPTT against finite differences: {worst:.1e}");
    // The echoes of every layer in lockstep: one stretch (what training uses at this
    // length), stretches of 2 and 4 steps, and anchored stretches of 3.
    let stretches =
        [(2, false), (4, false), (3, true)].map(|(len, anchored)| Some(Stretches { len, anchored }));
    let methods = [
        (GradMethod::Tangent, Walk::Tangent, 1e-9),
        (GradMethod::Rhel { eps: 1e-3 }, Walk::Rhel(1e-3), 1e-5),
    ];
    for (method, walk, tol) in methods {
        for stretch in [None].into_iter().chain(stretches) {
            let other = match stretch {
                None => grad(net, method),
                Some(s) => net.lockstep_grad(&x, steps, target, seed, walk, s).unwrap(),
            };
            let how = format!("{} in {stretch:?}", method.name());
            // Retraced back to the start, the layers stand at rest again.
            assert!(other.stray < 1e-12, "{how}: the retrace ended {:e} from rest", other.stray);
            assert!(
                (other.loss - bptt.loss).abs() <= 1e-14 * bptt.loss.abs(),
                "{how}: loss {}, BPTT {}",
                other.loss,
                bptt.loss
            );
            for ((t, a), b) in net.tensors.iter().zip(&other.grads).zip(&bptt.grads) {
                let scale = b.iter().fold(1e-3f64, |m, x| m.max(x.abs()));
                for (k, (a, b)) in a.iter().zip(b).enumerate() {
                    assert!((a - b).abs() < tol * scale, "{how}: {}[{k}] = {a:e}, BPTT {b:e}", t.name);
                }
            }
        }
    }
}

fn examples(seed: u64, n: usize) -> Vec<Example> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n)
        .map(|i| {
            let steps = 4 + rng.below(6);
            let label = i % 3;
            let mut values = series(&mut rng, steps, 2);
            for v in values.iter_mut().skip(label % 2).step_by(2) {
                *v += label as f64;
            }
            Example { values, steps, target: Target::Class(label) }
        })
        .collect()
}

fn config(epochs: usize, grad: GradMethod) -> Config {
    Config {
        epochs,
        patience: None,
        lr: 5e-3,
        batch: 4,
        grad,
        seed: 3,
        weight_decay: 0.01,
        anchor: Anchor::Never,
    }
}

/// Everything but the wall time.
fn figures(history: &[EpochRecord]) -> Vec<EpochRecord> {
    history.iter().map(|r| EpochRecord { seconds: 0.0, ..r.clone() }).collect()
}

fn train(trainer: &mut Trainer, epochs: usize, train: &[Example], val: &[Example]) {
    for _ in 0..epochs {
        trainer.epoch(train, val, &mut ()).unwrap();
    }
}

#[test]
fn a_run_is_the_same_numbers_on_any_thread_count_and_after_a_resume() {
    let (data, val) = (examples(1, 14), examples(2, 5));
    let fresh = || {
        Trainer::new(
            Network::new(arch(0.1), small_model(), 3).unwrap(),
            config(4, GradMethod::Rhel { eps: 0.05 }),
        )
    };
    let mut one = fresh();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| train(&mut one, 4, &data, &val));
    let mut three = fresh();
    rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| train(&mut three, 4, &data, &val));
    assert_eq!(figures(&one.history), figures(&three.history));
    assert!(one.net.tensors == three.net.tensors, "params differ between 1 and 3 threads");

    let dir = scratch("resume");
    let file = dir.join("last.safetensors");
    let mut first = fresh();
    train(&mut first, 2, &data, &val);
    let normalizer = hsc_train::data::Normalizer { mean: vec![0.5, -1.0], std: vec![2.0, 3.0] };
    let extra = Extra { classes: vec!["a".into(), "b".into(), "c".into()], normalizer, best_epoch: Some(2) };
    checkpoint::save(&file, &first, &extra).unwrap();
    let (mut resumed, back) = checkpoint::load(&file, small_model()).unwrap();
    assert_eq!(back, extra);
    assert_eq!(resumed.step, first.step);
    train(&mut resumed, 2, &data, &val);
    assert_eq!(figures(&resumed.history), figures(&one.history));
    assert!(resumed.net.tensors == one.net.tensors, "a resumed run drifts from the uninterrupted one");
    assert!(one.history.last().unwrap().train.loss < one.history[0].train.loss, "the loss does not go down");
}

#[test]
fn a_nan_stops_training_naming_the_epoch_the_step_and_the_layer() {
    let mut net = Network::new(arch(0.0), small_model(), 3).unwrap();
    let i = net.tensors.iter().position(|t| t.name == "block1.model.alpha").unwrap();
    net.tensors[i].values[0] = f64::NAN;
    let mut trainer = Trainer::new(net, config(2, GradMethod::Rhel { eps: 0.05 }));
    let err = trainer.epoch(&examples(1, 6), &[], &mut ()).unwrap_err();
    assert!(matches!(err, TrainError::Stopped { epoch: 1, step: 1, .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("epoch 1, step 1") && message.contains("block 1") && message.contains("NaN"),
        "{message}"
    );
    assert!(trainer.history.is_empty());
}

#[test]
fn a_checkpoint_of_another_shape_or_a_broken_file_is_refused() {
    let dir = scratch("refuse");
    let file = dir.join("c.safetensors");
    let trainer =
        Trainer::new(Network::new(arch(0.0), small_model(), 3).unwrap(), config(1, GradMethod::Bptt));
    let normalizer = hsc_train::data::Normalizer { mean: vec![0.0; 2], std: vec![1.0; 2] };
    checkpoint::save(&file, &trainer, &Extra { classes: vec![], normalizer, best_epoch: None }).unwrap();
    let dims = [("P", "5"), ("N", "3")].map(|(n, v)| Override { name: n.into(), value: v.into() });
    let other = hsc::jit(path("examples/nonlin_hru.ham"), &dims, Precision::F64).unwrap();
    let err = checkpoint::load(&file, other).err().unwrap().to_string();
    assert!(err.contains("block0.model.W") && err.contains("[5]"), "{err}");
    std::fs::write(&file, b"not a checkpoint").unwrap();
    let err = checkpoint::load(&file, small_model()).err().unwrap().to_string();
    assert!(err.contains("not a usable hsc checkpoint"), "{err}");
}

/// The best epoch is the earliest best validation score (accuracy first, then loss; loss alone
/// for regression), and a run stops once `patience` epochs have passed without a better one.
#[test]
fn early_stopping_counts_epochs_since_the_best_validation_score() {
    let net = Network::new(arch(0.0), small_model(), 3).unwrap();
    let mut trainer = Trainer::new(net, Config { patience: Some(2), ..config(100, GradMethod::Bptt) });
    let class = |loss, accuracy| Score { loss, accuracy: Some(accuracy), errors: None };
    let record = |epoch, validation| EpochRecord {
        epoch,
        train: class(1.0, 0.5),
        validation,
        lr: 1e-3,
        seconds: 0.0,
        stray: 0.0,
    };
    assert_eq!((trainer.best_epoch(), trainer.stop_early()), (None, None));
    let scores = [(0.9, 0.5), (0.8, 0.75), (0.7, 0.75), (0.2, 0.5), (0.7, 0.75), (0.6, 0.5)];
    let mut seen = Vec::new();
    for (epoch, (loss, accuracy)) in scores.into_iter().enumerate() {
        trainer.history.push(record(epoch + 1, Some(class(loss, accuracy))));
        seen.push((trainer.best_epoch(), trainer.stop_early().is_some()));
    }
    // Epoch 3 beats 2 on loss at equal accuracy; 4's lower loss does not beat a higher
    // accuracy, and 5 only equals 3; two epochs after 3 the run stops.
    let best = [Some(1), Some(2), Some(3), Some(3), Some(3), Some(3)];
    let stop = [false, false, false, false, true, true];
    assert_eq!(seen, best.into_iter().zip(stop).collect::<Vec<_>>());
    let why = trainer.stop_early().unwrap();
    assert!(why.contains("not improved for 3 epochs") && why.contains("epoch 3"), "{why}");

    trainer.history.clear();
    let errors = Some(hsc_train::train::Errors { rmse: 1.0, mae: 1.0 });
    for (epoch, loss) in [0.5, 0.4, 0.45].into_iter().enumerate() {
        trainer.history.push(record(epoch + 1, Some(Score { loss, accuracy: None, errors })));
    }
    assert_eq!((trainer.best_epoch(), trainer.stop_early()), (Some(2), None));
    trainer.history.push(record(4, None));
    assert!(trainer.stop_early().is_some());
    trainer.config.patience = None;
    assert_eq!(trainer.stop_early(), None);
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsc-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hsc")).args(args).output().expect("the hsc binary runs")
}

const RAGGED: &str = "train/tests/data/Ragged";

fn train_args<'a>(out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    let model = Box::leak(path("examples/nonlin_hru.ham").into_boxed_str());
    let data = Box::leak(path(RAGGED).into_boxed_str());
    vec![
        "train", model, "-D", "P=6", "-D", "N=3", "--data", data, "--hidden", "8", "--epochs", epochs,
        "--batch", "2", "--out", out,
    ]
}

fn metrics(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for e in v["epochs"].as_array_mut().unwrap() {
        e["seconds"] = serde_json::Value::Null;
    }
    v
}

#[test]
fn train_writes_the_run_folder_and_eval_scores_it() {
    let dir = scratch("cli");
    let out = dir.join("run");
    let out_s = out.to_string_lossy().into_owned();
    let o = hsc(&train_args(&out_s, "3"));
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("epoch   3/3") && stdout.contains("test accuracy"), "{stdout}");
    assert!(stderr.contains("3 channels, 3–7 steps, 2 classes"), "{stderr}");
    for f in
        ["command.json", "model.ham", "last.safetensors", "best.safetensors", "metrics.json", "curves.png"]
    {
        assert!(out.join(f).is_file(), "no {f}");
    }
    let m = metrics(&out);
    assert_eq!(m["epochs"].as_array().unwrap().len(), 3);
    let accuracy = m["test_accuracy"].as_f64().expect("a test accuracy");
    let command: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("command.json")).unwrap()).unwrap();
    assert_eq!(command["seed"], 0);
    assert!(command["command"].as_str().unwrap().contains("--hidden 8"));
    let e = hsc(&["eval", &out_s, "--data", &path(RAGGED)]);
    assert_eq!(e.status.code(), Some(0), "{}", text(&e.stderr));
    assert!(
        text(&e.stdout).contains(&format!("test accuracy {:.1} %", 100.0 * accuracy)),
        "{}",
        text(&e.stdout)
    );
    let other = hsc(&["eval", &out_s, "--data", &path("train/tests/data/Uni")]);
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other.stderr).contains("trained on 3 channels"), "{}", text(&other.stderr));
    let again = hsc(&train_args(&out_s, "3"));
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already holds a run"), "{}", text(&again.stderr));
}

/// Kills a run at several moments: what is left is always loadable, and resuming gives the
/// numbers of the run that was never interrupted. One kill waits for the first checkpoint, so
/// at least one lands mid-run after a checkpoint on a machine of any speed.
#[test]
fn a_killed_run_resumes_to_the_same_numbers() {
    let dir = scratch("kill");
    let whole = dir.join("whole").to_string_lossy().into_owned();
    let started = std::time::Instant::now();
    let o = hsc(&train_args(&whole, "12"));
    let took = started.elapsed().as_millis() as u64;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let reference = metrics(Path::new(&whole));
    let timed = [30, 50, 65, 80, 95].map(|percent| Some(took * percent / 100));
    let mut resumed = 0;
    for (i, wait_ms) in [None].into_iter().chain(timed).enumerate() {
        let run = dir.join(format!("killed{i}"));
        let run_s = run.to_string_lossy().into_owned();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hsc"))
            .args(train_args(&run_s, "12"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let when = match wait_ms {
            Some(ms) => {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                format!("{ms} ms")
            }
            None => {
                while !run.join("last.safetensors").exists() && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                "the first checkpoint".to_owned()
            }
        };
        let _ = child.kill();
        let status = child.wait().unwrap();
        let done =
            std::fs::read_to_string(run.join("metrics.json")).map_or(0, |m| m.matches("\"epoch\":").count());
        let killed = status.code().is_none();
        eprintln!(
            "killed at {when}, after {done} of 12 epochs (the kill {})",
            if killed { "landed" } else { "came after the end" }
        );
        if !run.join("last.safetensors").exists() {
            continue;
        }
        let e = hsc(&["eval", &run_s]);
        assert_eq!(e.status.code(), Some(0), "after a kill at {when}: {}", text(&e.stderr));
        let r = hsc(&["train", "--resume", &run_s]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        assert_eq!(metrics(&run), reference, "resumed after a kill at {when}");
        resumed += killed as usize;
    }
    assert!(resumed >= 1, "no kill landed after a checkpoint and before the end of the run");
}

/// A run trained on another backend and precision than the defaults goes on, and is scored,
/// on the ones it began with; a run folder naming one this hsc does not know is an error.
#[test]
fn resume_and_eval_keep_the_runs_backend_and_precision() {
    let dir = scratch("engine");
    let out = dir.join("run");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = train_args(&out_s, "2");
    args.extend(["--backend", "interp", "--precision", "f32"]);
    let o = hsc(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("rhel gradients, interp, f32,"), "{}", text(&o.stderr));
    let command = std::fs::read_to_string(out.join("command.json")).unwrap();
    let r = hsc(&["train", "--resume", &out_s]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("on interp, f32"), "{}", text(&r.stderr));
    let e = hsc(&["eval", &out_s]);
    assert_eq!(e.status.code(), Some(0), "{}", text(&e.stderr));
    assert!(text(&e.stdout).contains("on interp, f32)"), "{}", text(&e.stdout));

    for (from, to, said) in [
        ("\"backend\": \"interp\"", "\"backend\": \"gpu9\"", "unknown backend `gpu9`"),
        ("\"precision\": \"f32\"", "\"precision\": \"f16\"", "unknown precision `f16`"),
        ("\"precision\": \"f32\",", "", "has no \"precision\" setting"),
    ] {
        assert!(command.contains(from), "{command}");
        std::fs::write(out.join("command.json"), command.replace(from, to)).unwrap();
        for args in [vec!["eval", &out_s], vec!["train", "--resume", &out_s]] {
            let o = hsc(&args);
            let stderr = text(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains(said) && stderr.contains("command.json"), "{args:?}: {stderr}");
        }
    }
}

const LEVEL: &str = "train/tests/data/Level";

/// A regression set (`@targetLabel true`): each series wanders around a level, the target is
/// the level. The run reports RMSE and MAE beside those of predicting the training mean,
/// draws the predictions, stops early, goes on from a stopped run without training further,
/// and `hsc eval` scores it; classification data for a regression run is refused.
#[test]
fn a_regression_set_trains_end_to_end_and_stops_early() {
    let dir = scratch("regression");
    let out = dir.join("run");
    let out_s = out.to_string_lossy().into_owned();
    let model = path("examples/nonlin_hru.ham");
    let data = path(LEVEL);
    let args = [
        "train",
        &model,
        "-D",
        "P=6",
        "-D",
        "N=3",
        "--data",
        &data,
        "--hidden",
        "8",
        "--epochs",
        "60",
        "--patience",
        "3",
        "--batch",
        "4",
        "--out",
        &out_s,
    ];
    let o = hsc(&args);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("1 channel, 8–12 steps, targets -1.9"), "{stderr}");
    assert!(stdout.contains("val loss") && stdout.contains(" rmse ") && stdout.contains(" mae "), "{stdout}");
    assert!(stdout.contains("predicting the training mean instead: RMSE"), "{stdout}");
    for f in ["metrics.json", "curves.png", "predictions.png", "best.safetensors"] {
        assert!(out.join(f).is_file(), "no {f}");
    }
    let m = metrics(&out);
    let (rmse, baseline) = (m["test_rmse"].as_f64().unwrap(), m["test_baseline"]["rmse"].as_f64().unwrap());
    assert!(rmse < 0.25 * baseline, "test RMSE {rmse}, the training mean's {baseline}");
    assert!(m["test_mae"].as_f64().unwrap() > 0.0 && m["test_accuracy"].is_null());
    let best = m["best_epoch"].as_u64().unwrap() as usize;
    let epochs = m["epochs"].as_array().unwrap().len();
    assert_eq!(epochs, best + 3, "stopped {epochs} epochs in, the best was {best}");
    assert!(epochs < 60 && stderr.contains("stopped early"), "{stderr}");
    assert_eq!(m["stopped_early"].as_str().map(|s| s.contains("--patience 3")), Some(true));

    let r = hsc(&["train", "--resume", &out_s]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("stopped early") && !text(&r.stdout).contains("/60 "),
        "{}",
        text(&r.stdout)
    );
    assert_eq!(metrics(&out)["epochs"].as_array().unwrap().len(), epochs);

    let e = hsc(&["eval", &out_s]);
    assert_eq!(e.status.code(), Some(0), "{}", text(&e.stderr));
    assert!(text(&e.stdout).contains(&format!("test RMSE {rmse:.5}")), "{}", text(&e.stdout));
    let wrong = hsc(&["eval", &out_s, "--data", &path("train/tests/data/Uni")]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stderr).contains("trained for regression"), "{}", text(&wrong.stderr));
}

#[test]
fn bad_data_and_bad_models_are_errors_that_say_where() {
    let dir = scratch("bad");
    let out = dir.join("run").to_string_lossy().into_owned();
    let model = path("examples/nonlin_hru.ham");
    let o = hsc(&["train", &model, "--data", &dir.join("nowhere").to_string_lossy(), "--out", &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("nowhere"), "{}", text(&o.stderr));

    let data = dir.join("Broken");
    std::fs::create_dir_all(&data).unwrap();
    let good = std::fs::read_to_string(path(&format!("{RAGGED}/Ragged_TRAIN.ts"))).unwrap();
    std::fs::write(data.join("Broken_TRAIN.ts"), good.replace("7,6,5,4:", "7,6,x5,4:")).unwrap();
    std::fs::write(data.join("Broken_TEST.ts"), &good).unwrap();
    let o = hsc(&["train", &model, "--data", &data.to_string_lossy(), "--out", &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("Broken_TRAIN.ts:12:"), "{}", text(&o.stderr));

    let o = hsc(&["train", &path("examples/rhel_reference.ham"), "--data", &path(RAGGED), "--out", &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("has its own `loss`"), "{}", text(&o.stderr));

    let o = hsc(&["train", &model, "--data", &path(RAGGED), "--lr=-1", "--out", &out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--lr"), "{}", text(&o.stderr));

    let o = hsc(&["train", &model, "--data", &path(RAGGED), "--anchor", "0", "--out", &out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("expected never, sqrt or a number of steps"), "{}", text(&o.stderr));

    let o = hsc(&["eval", &dir.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("command.json"), "{}", text(&o.stderr));
}
