//! Fitting: the window loop against a free run, resuming; then `hsc fit` as a user meets it:
//! parameter recovery on data hsc did not make (examples/fit, NumPy's Runge-Kutta), a chaotic
//! orbit that only windows recover, and every kind of bad data file.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{path, text};
use hsc::kernel::Precision;
use hsc_runtime::{Batch, Forcing, Model};
use hsc_train::data::npz::{Array, read_npz, write_npz};
use hsc_train::fit::{FitConfig, Fitter, Observed, store};
use hsc_train::train::GradMethod;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsc-fit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hsc")).args(args).output().expect("the hsc binary runs")
}

fn spring_chain() -> Model {
    hsc::jit(path("examples/fit/spring_chain.ham"), &[], Precision::F64).expect("the spring chain compiles")
}

fn array(shape: &[usize], values: Vec<f64>) -> Array {
    Array { shape: shape.to_vec(), values }
}

/// Sequences the model itself makes from random initial states with its initial params: the
/// positions as targets, the whole state after each step as `qobs`, `pobs`.
fn own_data(model: &Model, sequences: usize, steps: usize) -> BTreeMap<String, Array> {
    let n = 4;
    let q0: Vec<f64> = (0..sequences * n).map(|i| ((i * 7919) % 13) as f64 / 13.0 - 0.5).collect();
    let p0: Vec<f64> = (0..sequences * n).map(|i| ((i * 104_729) % 11) as f64 / 11.0 - 0.5).collect();
    let targets = vec![0.0; sequences * steps * n];
    let batch = Batch {
        steps,
        size: sequences,
        targets: Batch::owned(vec![targets]),
        initial: Some(Batch::owned(vec![q0.clone(), p0.clone()])),
        ..Batch::default()
    };
    let run = model.trajectory(&model.init_params(0), &batch).unwrap();
    // [S, T + 1, N] -> the T states after each step.
    let after = |states: &[f64]| -> Vec<f64> {
        (0..sequences)
            .flat_map(|s| states[(s * (steps + 1) + 1) * n..(s + 1) * (steps + 1) * n].to_vec())
            .collect()
    };
    let (qobs, pobs) = (after(&run.states[0]), after(&run.states[1]));
    BTreeMap::from([
        ("y".to_owned(), array(&[sequences, steps, n], qobs.clone())),
        ("qobs".to_owned(), array(&[sequences, steps, n], qobs)),
        ("pobs".to_owned(), array(&[sequences, steps, n], pobs)),
        ("q".to_owned(), array(&[sequences, n], q0)),
        ("p".to_owned(), array(&[sequences, n], p0)),
    ])
}

/// With the learning rate at 0 the params stay put, so every window's loss, whether it starts
/// from the state carried over from the window before or from the data's state, must add up
/// to the loss of the whole sequences run freely; the targets are moved off the model's own
/// trajectory so that the loss is not 0.
#[test]
fn windows_carried_or_forced_add_up_to_the_free_run() {
    let model = spring_chain();
    let mut arrays = own_data(&model, 3, 50);
    for (i, y) in arrays.get_mut("y").unwrap().values.iter_mut().enumerate() {
        *y += 0.01 * ((i % 5) as f64 - 2.0);
    }
    for (force, window) in
        [(vec![], 50), (vec![], 7), (vec![("q", "qobs"), ("p", "pobs")], 7), (vec![("q", "qobs")], 16)]
    {
        let force: Vec<(String, String)> =
            force.iter().map(|(s, a)| (s.to_string(), a.to_string())).collect();
        let data = Observed::from_arrays(model.spec(), arrays.clone(), &force, Path::new("own.npz")).unwrap();
        for grad in [GradMethod::Bptt, GradMethod::Rhel { eps: 1e-5 }] {
            let config = FitConfig {
                epochs: 1,
                lr: 0.0,
                batch: 2,
                window: Some(window),
                grad,
                seed: 3,
                frozen: vec![],
                forcing: None,
            };
            let mut fitter = Fitter::new(model.clone(), model.init_params(0), config);
            let record = fitter.epoch(&data, &mut ()).unwrap();
            let free = fitter.free_run(&data).unwrap();
            assert!(
                (record.loss - free).abs() <= 1e-12 * free,
                "window {window}, force {force:?}, {}: windows {:e}, free run {free:e}",
                grad.name(),
                record.loss
            );
            assert_eq!(fitter.params, model.init_params(0));
        }
    }
}

/// A fit stopped after 2 of 4 epochs and resumed from its files ends with the same numbers as
/// one that ran straight through.
#[test]
fn a_resumed_fit_is_the_same_numbers() {
    let model = spring_chain();
    let data =
        Observed::from_arrays(model.spec(), own_data(&model, 3, 40), &[], Path::new("own.npz")).unwrap();
    let mut start = model.init_params(0);
    start.values[1][0] = 0.8;
    let config = FitConfig {
        epochs: 4,
        lr: 0.01,
        batch: 2,
        window: Some(15),
        grad: GradMethod::Tangent,
        seed: 1,
        frozen: vec![],
        forcing: None,
    };
    let mut straight = Fitter::new(model.clone(), start.clone(), config.clone());
    for _ in 0..4 {
        straight.epoch(&data, &mut ()).unwrap();
    }
    let dir = scratch("resume");
    let mut first = Fitter::new(model.clone(), start.clone(), config);
    for _ in 0..2 {
        first.epoch(&data, &mut ()).unwrap();
    }
    store::save(&dir, &first, &start).unwrap();
    let (mut resumed, initial) = store::load(&dir, model).unwrap();
    assert_eq!(initial, start);
    for _ in 0..2 {
        resumed.epoch(&data, &mut ()).unwrap();
    }
    assert_eq!(resumed.params, straight.params);
    let losses = |f: &Fitter| f.history.iter().map(|r| (r.loss, r.lr)).collect::<Vec<_>>();
    assert_eq!(losses(&resumed), losses(&straight));
    assert!(straight.params != start, "the fit did not move");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fitted params' `last` values and the data file's `truth.<name>` arrays.
fn recovered(run: &Path, data: &str) -> Vec<(String, f64, f64)> {
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let truth = read_npz(Path::new(&path(data))).unwrap();
    let mut out = Vec::new();
    for (name, values) in metrics["params"].as_object().unwrap() {
        let last: Vec<f64> = match &values["last"] {
            serde_json::Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
            x => vec![x.as_f64().unwrap()],
        };
        let true_values = &truth[&format!("truth.{name}")].values;
        for (i, (got, want)) in last.iter().zip(true_values).enumerate() {
            out.push((format!("{name}[{i}]"), *got, *want));
        }
    }
    out
}

fn worst(found: &[(String, f64, f64)]) -> (String, f64) {
    found
        .iter()
        .map(|(n, got, want)| (n.clone(), (got - want).abs() / want.abs()))
        .fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a })
}

/// The spring chain's six params, from positions NumPy's RK4 made (examples/fit/make_data.py),
/// within 1 % of the truth by RHEL and by BPTT, in windows from the data's states.
#[test]
fn fit_recovers_the_spring_chain_from_data_hsc_did_not_make() {
    let dir = scratch("spring");
    for grad in ["rhel", "bptt"] {
        let out = dir.join(grad);
        let out_s = out.to_str().unwrap();
        let r = hsc(&[
            "fit",
            &path("examples/fit/spring_chain.ham"),
            "--data",
            &path("examples/fit/spring_chain.npz"),
            "--window",
            "50",
            "--force",
            "q=qobs,p=pobs",
            "--epochs",
            "300",
            "--batch",
            "4",
            "--lr",
            "0.03",
            "--grad",
            grad,
            "--out",
            out_s,
        ]);
        assert!(r.status.success(), "{}", text(&r.stderr));
        let found = recovered(&out, "examples/fit/spring_chain.npz");
        assert_eq!(found.len(), 6);
        let (name, err) = worst(&found);
        eprintln!("spring chain, {grad}: worst relative error {err:.1e} ({name})");
        assert!(err < 0.01, "{grad}: {found:?}");
        for file in [
            "params.safetensors",
            "optimizer.safetensors",
            "metrics.json",
            "fit.png",
            "model.ham",
            "command.json",
        ] {
            assert!(out.join(file).exists(), "{file} is missing");
        }
        assert!(text(&r.stdout).contains("quartic"), "{}", text(&r.stdout));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Henon-Heiles near its escape energy: fitted over the whole 5000-step orbit the loss stays
/// at the size of the signal and the params end far from the truth; in windows of 25 steps
/// from the data's states, or over the whole orbit with generalized teacher forcing of the
/// positions alone, they come within 2 %.
#[test]
fn a_chaotic_orbit_is_recovered_in_windows_and_not_whole() {
    let dir = scratch("chaos");
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "fit".to_owned(),
            path("examples/fit/henon_heiles.ham"),
            "--data".into(),
            path("examples/fit/henon_heiles.npz"),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = hsc(&args);
        assert!(r.status.success(), "{}", text(&r.stderr));
        worst(&recovered(out, "examples/fit/henon_heiles.npz"))
    };
    let whole = run(&dir.join("whole"), &["--epochs", "100", "--grad", "bptt"]);
    let windows = run(
        &dir.join("windows"),
        &["--epochs", "100", "--window", "25", "--batch", "16", "--lr", "0.02", "--force", "q=qobs,p=pobs"],
    );
    // Generalized teacher forcing from the positions alone (the momenta unobserved), over the
    // whole orbit, α from the step's Jacobian.
    let forced = run(
        &dir.join("gtf"),
        &["--epochs", "400", "--lr", "0.03", "--grad", "bptt", "--force", "q=qobs", "--forcing", "auto"],
    );
    eprintln!(
        "Henon-Heiles: whole orbit worst error {:.1e} ({}), windows {:.1e} ({}), GTF from positions {:.1e} ({})",
        whole.1, whole.0, windows.1, windows.0, forced.1, forced.0
    );
    assert!(whole.1 > 0.05, "the whole-orbit fit was expected to fail: {whole:?}");
    assert!(windows.1 < 0.02, "{windows:?}");
    assert!(forced.1 < 0.02, "{forced:?}");
    let (model, data) = (path("examples/fit/henon_heiles.ham"), path("examples/fit/henon_heiles.npz"));
    for (extra, message) in [
        (vec!["--forcing", "0.1"], "name them with --force"),
        (vec!["--forcing", "0.1", "--force", "q=qobs"], "use --grad bptt"),
        (
            vec!["--forcing", "1.5", "--force", "q=qobs", "--grad", "bptt"],
            "expected a number in [0, 1] or `auto`",
        ),
    ] {
        let mut args = vec!["fit", &model, "--data", &data];
        args.extend(extra);
        let r = hsc(&args);
        assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
        assert!(text(&r.stderr).contains(message), "{}", text(&r.stderr));
    }
    let out = dir.join("w");
    let r = hsc(&[
        "fit",
        &model,
        "--data",
        &data,
        "--forcing",
        "0.1",
        "--force",
        "q=qobs",
        "--grad",
        "bptt",
        "--window",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("name every state array with --force"), "{}", text(&r.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every kind of bad data ends in an error that names the file and the array, exit code 1.
#[test]
fn bad_data_is_an_error_that_names_the_array() {
    let dir = scratch("bad");
    let model = path("examples/fit/spring_chain.ham");
    let good = own_data(&spring_chain(), 2, 10);
    // (case, the file's arrays, more arguments, what the error says)
    type Case<'a> = (&'a str, Vec<(&'a str, Array)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "missing",
            vec![("q", good["q"].clone())],
            vec![],
            "there is no array `y` for the model's target `y[4]`",
        ),
        (
            "shape",
            vec![("y", array(&[2, 10, 3], vec![0.0; 60]))],
            vec![],
            "array `y` (target `y[4]`): its shape is (2, 10, 3), expected (S, T, 4) or (T, 4)",
        ),
        (
            "nan",
            vec![("y", {
                let mut y = good["y"].clone();
                y.values[13] = f64::NAN;
                y
            })],
            vec![],
            "array `y` holds NaN at [0, 3, 1]",
        ),
        (
            "steps",
            vec![("y", good["y"].clone()), ("qobs", array(&[2, 9, 4], vec![0.0; 72]))],
            vec!["--force", "q=qobs"],
            "(T = 9), but `y` has T = 10",
        ),
        (
            "initial",
            vec![("y", good["y"].clone()), ("q", array(&[3, 4], vec![0.0; 12]))],
            vec![],
            "array `q` (the initial state `q[4]`): its shape is (3, 4), expected (2, 4)",
        ),
        (
            "state",
            vec![("y", good["y"].clone())],
            vec!["--force", "x=y"],
            "--force names `x`, which is not a state array of the model (`q`, `p`)",
        ),
        ("absent", vec![("y", good["y"].clone())], vec!["--force", "q=qobs"], "there is no array `qobs`"),
    ];
    for (name, arrays, extra, message) in cases {
        let file = dir.join(format!("{name}.npz"));
        let list: Vec<(&str, &Array)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
        write_npz(&file, &list).unwrap();
        let out = dir.join(format!("run-{name}"));
        let mut args = vec!["fit", &model, "--data", file.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend(extra);
        let r = hsc(&args);
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(message) && err.contains(&format!("{name}.npz")), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A truncated archive, a file that is not one, a model without a loss, a taken folder.
    let bytes = std::fs::read(path("examples/fit/spring_chain.npz")).unwrap();
    let cut = dir.join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = hsc(&["fit", &model, "--data", cut.to_str().unwrap(), "--out", dir.join("c").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("cut.npz: not an .npz archive"), "{}", text(&r.stderr));
    let r = hsc(&["fit", &path("examples/nonlin_hru.ham"), "--data", cut.to_str().unwrap()]);
    assert!(text(&r.stderr).contains("has no loss"), "{}", text(&r.stderr));
    let ok = dir.join("ok.npz");
    write_npz(&ok, &[("y", &good["y"]), ("q", &good["q"])]).unwrap();
    let out = dir.join("taken");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "fit",
            &model,
            "--data",
            ok.to_str().unwrap(),
            "--epochs",
            "2",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        hsc(&args)
    };
    assert!(run(&[]).status.success());
    let r = run(&[]);
    assert!(
        text(&r.stderr).contains("already holds a fit; continue it with `hsc fit --resume"),
        "{}",
        text(&r.stderr)
    );
    let r = hsc(&["fit", "--resume", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("resuming") && text(&r.stdout).contains("-> "), "{}", text(&r.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hsc fit --online` on a stream the readout model makes with a teacher's params: learning the
/// readout alone (`--freeze k`) by hl.md's rule lowers the loss per tick; the run folder holds
/// the loss per stretch; the settings that cannot go together are refused.
#[test]
fn online_learning_lowers_the_loss_of_a_readout() {
    let dir = scratch("online");
    let model = hsc::jit(path("examples/fit/hl_readout.ham"), &[], Precision::F64).unwrap();
    let ticks = 20_000;
    let u: Vec<f64> =
        (0..ticks).map(|t| 0.5 * ((0.31 * 0.05 * t as f64).sin() + (2.7 * 0.05 * t as f64).sin())).collect();
    let mut teacher = model.init_params(7);
    teacher.values[1] = vec![0.9, -0.4, 0.3, 1.1, -0.7, 0.2, 0.5, -1.0];
    let batch = Batch {
        steps: ticks,
        size: 1,
        inputs: Batch::owned(vec![u.clone()]),
        targets: Batch::owned(vec![vec![0.0; ticks]]),
        ..Batch::default()
    };
    let run = model.trajectory(&teacher, &batch).unwrap();
    let y: Vec<f64> =
        (1..=ticks).map(|t| (0..8).map(|i| teacher.values[1][i] * run.states[0][t * 8 + i]).sum()).collect();
    let data = dir.join("stream.npz");
    write_npz(&data, &[("u", &array(&[ticks, 1], u)), ("y", &array(&[ticks, 1], y))]).unwrap();
    let out = dir.join("run");
    let (model_s, data_s, out_s) =
        (path("examples/fit/hl_readout.ham"), data.to_str().unwrap(), out.to_str().unwrap());
    let r = hsc(&[
        "fit", &model_s, "--data", data_s, "--online", "--freeze", "k", "--theta", "1", "--beta", "50",
        "--seed", "7", "--every", "2000", "--out", out_s,
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let losses: Vec<f64> =
        metrics["stretches"].as_array().unwrap().iter().map(|s| s["loss"].as_f64().unwrap()).collect();
    assert_eq!(losses.len(), 10);
    let shown: Vec<String> = losses.iter().map(|l| format!("{l:.3e}")).collect();
    eprintln!("HL on the readout: loss per tick by stretch of 2000 ticks {}", shown.join(" "));
    assert!(losses[9] < 0.2 * losses[0], "{losses:?}");
    assert_eq!(metrics["params"]["k"]["first"], metrics["params"]["k"]["last"], "a frozen param moved");
    assert!(out.join("fit.png").exists() && out.join("params.safetensors").exists());
    let r = hsc(&["fit", "--resume", out_s]);
    assert!(text(&r.stderr).contains("was learnt online"), "{}", text(&r.stderr));
    let r = hsc(&["fit", &model_s, "--data", data_s, "--online", "--grad", "bptt"]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    let r = hsc(&[
        "fit",
        &model_s,
        "--data",
        data_s,
        "--online",
        "--freeze",
        "omega",
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(
        text(&r.stderr).contains("--freeze names `omega`, which is not a param of HlReadout (`k`, `R`)"),
        "{}",
        text(&r.stderr)
    );
    let r = hsc(&[
        "fit",
        &model_s,
        "--data",
        data_s,
        "--online",
        "--theta",
        "2",
        "--out",
        dir.join("y").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Generalized teacher forcing's BPTT (`forced_record` then `forced_bptt`) against central
/// finite differences of the forced loss, on the spring chain with the positions forced (α
/// 0.3) and the momenta not; with α = 0 it is plain BPTT, to the last bits of the loss.
#[test]
fn forced_bptt_matches_finite_differences() {
    let model = spring_chain();
    let arrays = own_data(&model, 2, 40);
    let mut params = model.init_params(0);
    params.values[0] = vec![1.2, 0.9, 1.4, 1.05];
    let batch = Batch {
        steps: 40,
        size: 2,
        targets: Batch::owned(vec![arrays["y"].values.iter().map(|y| y + 0.05).collect()]),
        initial: Some(Batch::owned(vec![arrays["q"].values.clone(), arrays["p"].values.clone()])),
        ..Batch::default()
    };
    let forcing = |alpha: [f64; 2]| Forcing {
        alpha: alpha.to_vec(),
        states: Batch::owned(vec![arrays["qobs"].values.clone(), arrays["pobs"].values.clone()]),
    };
    let plain = model.bptt_grad(&params, &batch).unwrap();
    let none = model.forced_bptt_grad(&params, &batch, &forcing([0.0, 0.0])).unwrap();
    assert!((plain.loss - none.loss).abs() <= 1e-14 * plain.loss, "{} {}", plain.loss, none.loss);
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()));
    assert!(close(&none.params.concat(), &plain.params.concat()));
    let forced = forcing([0.3, 0.0]);
    let g = model.forced_bptt_grad(&params, &batch, &forced).unwrap();
    assert!(g.loss < plain.loss, "forcing toward the data should lower the loss: {} {}", g.loss, plain.loss);
    let mut worst = 0.0f64;
    for (i, p) in params.values.iter().enumerate() {
        for j in 0..p.len() {
            let h = 1e-6;
            let at = |d: f64| {
                let mut moved = params.clone();
                moved.values[i][j] += d;
                model.forced_bptt_grad(&moved, &batch, &forced).unwrap().loss
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            worst = worst.max((g.params[i][j] - fd).abs() / fd.abs().max(1e-3));
        }
    }
    eprintln!("forced BPTT against finite differences: worst relative error {worst:.1e}");
    assert!(worst < 1e-6, "{worst:e}");
    let bad = Forcing { alpha: vec![0.3], states: Vec::new() };
    assert!(model.forced_bptt_grad(&params, &batch, &bad).is_err());
}
