//! Memory against sequence length, measured while training: the cue-recall task of
//! examples/cue_recall.ham (recall at step T the sign of a cue given at step 0), trained with
//! RHEL and with BPTT at T from 1 000 to 100 000. For every gradient call it records the peak
//! heap memory beyond what was allocated before the call (the batch's inputs and targets
//! included), through a counting global allocator; then it trains at T = 10 000 with RHEL
//! until the recall is right, and draws both into a PNG.
//!
//! Run: `cargo run --release -p hsc --example long_memory [-- OUT_DIR]` (default
//! `out/long_memory`): `memory.png`, `memory.json`, and a table on stdout.

#[path = "../src/cli/alloc.rs"]
#[allow(dead_code)]
mod alloc;

use hsc::bench::MemoryProbe;
use hsc::kernel::Precision;
use hsc_runtime::{Batch, Echo, Gradients, Model, Params};
use hsc_train::nn::optim::{AdamState, AdamW};
use hsc_train::plot::{Line, Panel, Stroke, draw};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting::new();

const BATCH: usize = 4;

/// `BATCH` sequences of `steps` steps: a cue of ±1 at step 0, noise of 0.01 after; the target
/// is the cue, scored at the last step only.
fn batch(steps: usize, seed: u64) -> Batch<'static> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let (mut u, mut y, mut m) = (Vec::new(), Vec::new(), Vec::new());
    for b in 0..BATCH {
        let cue = if (b + seed as usize).is_multiple_of(2) { 1.0 } else { -1.0 };
        for t in 0..steps {
            u.push(if t == 0 { cue } else { 0.02 * noise() });
            y.push(cue);
            m.push(if t + 1 == steps { 1.0 } else { 0.0 });
        }
    }
    Batch {
        steps,
        size: BATCH,
        inputs: vec![u.into()],
        targets: vec![y.into(), m.into()],
        cotangents: vec![],
        initial: None,
    }
}

/// Runs `f`, returning its result and the peak bytes it allocated beyond what was live before.
fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATOR.current();
    ALLOCATOR.reset_peak();
    let out = f();
    (out, ALLOCATOR.peak().saturating_sub(before))
}

fn gradient(model: &Model, params: &Params, data: &Batch, rhel: bool) -> Gradients {
    let result =
        if rhel { model.rhel_grad(params, data, Echo::Central(1e-3)) } else { model.bptt_grad(params, data) };
    result.expect("a gradient")
}

/// Fraction of sequences whose readout at the last step has the cue's sign.
fn accuracy(model: &Model, params: &Params, data: &Batch) -> f64 {
    let trajectory = model.trajectory(params, data).expect("a forward pass");
    let p = model.spec().pairs[0].position.len();
    let r = params.get(model.spec(), "R").expect("a readout R");
    let right = (0..data.size)
        .filter(|&b| {
            let last = &trajectory.states[0][(b * (data.steps + 1) + data.steps) * p..][..p];
            let out: f64 = last.iter().zip(r).map(|(q, r)| q * r).sum();
            out.signum() == data.targets[0][b * data.steps]
        })
        .count();
    right as f64 / data.size as f64
}

/// One sequence length's measurements, in bytes.
struct Row {
    steps: usize,
    batch_bytes: usize,
    rhel: usize,
    bptt: usize,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "out/long_memory".into()));
    std::fs::create_dir_all(&out).expect("an output folder");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cue_recall.ham");
    let model = hsc::jit(path, &[], Precision::F64).expect("examples/cue_recall.ham compiles");
    let params = model.init_params(0);
    let lengths = [1_000, 3_000, 10_000, 30_000, 100_000];
    println!("CueRecall (P = 32), batch {BATCH}, f64, {} threads", rayon::current_num_threads());
    println!("peak heap memory beyond the live data (the batch itself is 3 × {BATCH} × T × 8 bytes)\n");
    println!("| T | batch arrays | RHEL | RHEL beyond the batch's size | BPTT | RHEL time | BPTT time |");
    println!("|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &steps in &lengths {
        let data = batch(steps, 1);
        let data_bytes = 3 * BATCH * steps * 8;
        let started = std::time::Instant::now();
        let (g_rhel, rhel) = peak(|| gradient(&model, &params, &data, true));
        let rhel_s = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        let (g_bptt, bptt) = peak(|| gradient(&model, &params, &data, false));
        let bptt_s = started.elapsed().as_secs_f64();
        let worst = g_rhel
            .params
            .iter()
            .flatten()
            .zip(g_bptt.params.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let scale = g_bptt.params.iter().flatten().fold(1e-30f64, |m, x| m.max(x.abs()));
        assert!(worst <= 1e-4 * scale, "RHEL and BPTT disagree at T = {steps}: {worst:e} of {scale:e}");
        println!(
            "| {steps} | {:.2} MiB | {:.2} MiB | {:.3} MiB | {:.2} MiB | {rhel_s:.2} s | {bptt_s:.2} s |",
            mib(data_bytes),
            mib(rhel),
            (rhel as f64 - data_bytes as f64) / (1 << 20) as f64,
            mib(bptt)
        );
        rows.push(Row { steps, batch_bytes: data_bytes, rhel, bptt });
    }

    let steps = 10_000;
    println!(
        "\ntraining at T = {steps} with RHEL (AdamW, lr 0.02 on B and R, a fresh batch of {BATCH} per update)"
    );
    let mut params = model.init_params(0);
    let lengths_of: Vec<usize> = params.values.iter().map(Vec::len).collect();
    let mut adam = AdamState::new(&lengths_of);
    let optimizer = AdamW { weight_decay: 0.0, ..AdamW::default() };
    let held_out = batch(steps, 1000);
    let mut curve = Vec::new();
    let frequencies = model.spec().params.iter().position(|p| p.name == "W").expect("frequencies W");
    for update in 0..60u64 {
        let mut g = gradient(&model, &params, &batch(steps, update), true);
        // The frequencies stay fixed: at T = 10 000 the loss is a fast oscillation in them.
        g.params[frequencies].iter_mut().for_each(|x| *x = 0.0);
        curve.push((update as f64, g.loss / BATCH as f64));
        let no_decay = vec![false; params.values.len()];
        optimizer.step(&mut adam, &mut params.values, &g.params, 0.02, &no_decay);
        if update % 10 == 9 {
            println!(
                "  update {:>2}: loss {:.4}, held-out recall {:.0} %",
                update + 1,
                g.loss / BATCH as f64,
                100.0 * accuracy(&model, &params, &held_out)
            );
        }
    }
    let final_accuracy = accuracy(&model, &params, &held_out);

    let to_mib = |f: fn(&Row) -> usize| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.steps as f64, mib(f(r)))).collect()
    };
    let panels = [
        Panel {
            caption: "peak memory of one gradient beyond the live data (MiB), batch of 4".into(),
            x: "sequence length T".into(),
            lines: vec![
                Line {
                    label: "the batch's own arrays (for scale)".into(),
                    points: to_mib(|r| r.batch_bytes),
                    stroke: Stroke::Solid,
                },
                Line { label: "BPTT".into(), points: to_mib(|r| r.bptt), stroke: Stroke::Solid },
                Line { label: "RHEL".into(), points: to_mib(|r| r.rhel), stroke: Stroke::Solid },
            ],
            scientific: false,
        },
        Panel {
            caption: format!("training with RHEL at T = {steps}: loss per sequence"),
            x: "update".into(),
            lines: vec![Line { label: String::new(), points: curve.clone(), stroke: Stroke::Solid }],
            scientific: false,
        },
    ];
    draw(&out.join("memory.png"), "CueRecall: memory against T", &panels).expect("a plot");
    let json = serde_json::json!({
        "model": "CueRecall", "batch": BATCH, "precision": "f64",
        "rows": rows.iter().map(|r| serde_json::json!({"steps": r.steps, "batch_bytes": r.batch_bytes, "rhel_bytes": r.rhel, "bptt_bytes": r.bptt})).collect::<Vec<_>>(),
        "training": {"steps": steps, "loss": curve.iter().map(|c| c.1).collect::<Vec<_>>(), "held_out_recall": final_accuracy},
    });
    std::fs::write(out.join("memory.json"), serde_json::to_string_pretty(&json).unwrap_or_default())
        .expect("memory.json");
    println!("\nheld-out recall after training: {:.0} %", 100.0 * final_accuracy);
    println!("wrote {}/memory.png and memory.json", out.display());
}
