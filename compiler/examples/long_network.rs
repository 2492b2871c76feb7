//! `hsc train`'s stacked network at long T: its memory, and f32 with re-anchored echoes.
//!
//! 1. Memory: one epoch (8 sequences, batch 8, NonlinHRU layers, hidden 64, 2 layers) of a
//!    cue-recall classification (the sign of a cue at step 0, noise after) at T = 10³, 10⁴,
//!    10⁵ with each gradient method, measuring the peak heap beyond the live data through a
//!    counting global allocator. RHEL and the tangent echo run every layer's echo in lockstep
//!    (nothing of length T is kept); BPTT keeps every activation.
//! 2. f32: the whole network's gradient of one sequence in f32, by RHEL and the tangent echo,
//!    plain and re-anchored every ⌈√T⌉ steps, against f64 BPTT, at T = 10³, 10⁴, 10⁵; beside
//!    them f32 BPTT (how far the f32 forward pass itself is) and the f64 echoes.
//!
//! Run: `cargo run --release -p hsc --example long_network [-- OUT_DIR [EPS [PARTS [MODEL]]]]`
//! (default `out/long_network`, RHEL's ε 0.05 relative to the largest cotangent, PARTS
//! `memory,f32`, MODEL `nonlin_hru`, a model of `examples/`): tables on stdout, `memory.png`
//! and `long_network.json`.

#[path = "../src/cli/alloc.rs"]
#[allow(dead_code)]
mod alloc;

use std::time::Instant;

use hsc::bench::MemoryProbe;
use hsc::kernel::Precision;
use hsc::{Backend, Override};
use hsc_runtime::{Model, Walk};
use hsc_train::plot::{Line, Panel, Stroke, draw};
use hsc_train::train::{
    Anchor, Architecture, Config, Example, GradMethod, Head, Network, Stretches, Target, Trainer,
};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting::new();

/// Runs `f`: its result and the peak bytes it allocated beyond what was live before.
fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATOR.current();
    ALLOCATOR.reset_peak();
    let out = f();
    (out, ALLOCATOR.peak().saturating_sub(before))
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn model(name: &str, precision: Precision) -> Model {
    let path = format!("{}/../examples/{name}.ham", env!("CARGO_MANIFEST_DIR"));
    let compiled = hsc::load(std::path::Path::new(&path), &[] as &[Override]).expect("the model compiles");
    let backend = if hsc::backend::c::Toolchain::find().is_ok() { Backend::C } else { Backend::Cranelift };
    compiled.model(backend, precision).expect("the backend runs here")
}

/// `n` cue-recall sequences of `steps` steps: the class is the cue's sign.
fn examples(n: usize, steps: usize, seed: u64) -> Vec<Example> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    (0..n)
        .map(|i| {
            let label = i % 2;
            let cue = if label == 1 { 1.0 } else { -1.0 };
            let values = (0..steps).map(|t| if t == 0 { cue } else { 0.1 * noise() }).collect();
            Example { values, steps, target: Target::Class(label) }
        })
        .collect()
}

fn arch() -> Architecture {
    Architecture { channels: 1, hidden: 64, layers: 2, head: Head::Classes(2), dropout: 0.1 }
}

/// Max over the tensors of `max |a − b| / max |b|`.
fn worst(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let num = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            let den = b.iter().fold(1e-300f64, |m, y| m.max(y.abs()));
            if num.is_finite() { num / den } else { f64::INFINITY }
        })
        .fold(0.0, f64::max)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "out/long_network".into()));
    let eps: f64 = args.get(2).map_or(0.05, |e| e.parse().expect("EPS is a number"));
    let parts = args.get(3).cloned().unwrap_or_else(|| "memory,f32".into());
    let name = args.get(4).cloned().unwrap_or_else(|| "nonlin_hru".into());
    std::fs::create_dir_all(&out).expect("an output folder");
    let f64_model = model(&name, Precision::F64);
    let net = Network::new(arch(), f64_model.clone(), 0).expect("a network");
    let lengths = [1_000, 10_000, 100_000];
    println!(
        "2 layers of {}, hidden 64, {} trainable numbers, {}, {} threads",
        f64_model.spec().name,
        net.size(),
        f64_model.engine(),
        rayon::current_num_threads()
    );
    println!("\none epoch of 8 sequences (batch 8): peak heap beyond the live data\n");
    println!("| T | the data's arrays | RHEL | tangent | BPTT | RHEL time | BPTT time |");
    println!("|---|---|---|---|---|---|---|");
    let methods = [GradMethod::Rhel { eps }, GradMethod::Tangent, GradMethod::Bptt];
    let mut memory = Vec::new();
    for &steps in lengths.iter().filter(|_| parts.contains("memory")) {
        let data = examples(8, steps, 1);
        let data_bytes = 8 * steps * 8;
        let mut row = Vec::new();
        for method in methods {
            let config = Config {
                epochs: 1,
                patience: None,
                lr: 3e-3,
                batch: 8,
                grad: method,
                seed: 0,
                weight_decay: 0.01,
                anchor: Anchor::Never,
            };
            let mut trainer = Trainer::new(net.clone(), config);
            let started = Instant::now();
            let (record, bytes) = peak(|| trainer.epoch(&data, &[], &mut ()).expect("an epoch"));
            row.push((bytes, started.elapsed().as_secs_f64(), record.train.loss));
        }
        println!(
            "| {steps} | {:.2} MiB | {:.2} MiB | {:.2} MiB | {:.1} MiB | {:.1} s | {:.1} s |",
            mib(data_bytes),
            mib(row[0].0),
            mib(row[1].0),
            mib(row[2].0),
            row[0].1,
            row[2].1
        );
        memory.push((steps, data_bytes, row));
    }

    println!(
        "\none sequence's gradient against f64 BPTT (worst tensor, max |a − b| / max |b|), RHEL's ε {eps}\n"
    );
    println!(
        "| T | f32 BPTT | f64 tangent | f64 tangent re-anchored | f64 RHEL | f32 RHEL | f32 RHEL re-anchored | f32 tangent | f32 tangent re-anchored | anchors every | f32 re-anchored peak heap |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let f32_model = model(&name, Precision::F32);
    let mut net32 = Network::new(arch(), f32_model, 0).expect("a network");
    net32.tensors.clone_from(&net.tensors);
    let mut precision = Vec::new();
    for &steps in lengths.iter().filter(|_| parts.contains("f32")) {
        let ex = &examples(1, steps, 7)[0];
        let seed = Some(3);
        let reference = net
            .loss_and_grad(&ex.values, steps, ex.target, seed, GradMethod::Bptt, Anchor::Never)
            .expect("BPTT");
        let plain = Stretches { len: 256, anchored: false };
        let anchored = Stretches::anchored(steps);
        let run = |n: &Network, walk: Walk, s: Stretches| {
            peak(|| n.lockstep_grad(&ex.values, steps, ex.target, seed, walk, s).expect("a gradient"))
        };
        let bptt32 = net32
            .loss_and_grad(&ex.values, steps, ex.target, seed, GradMethod::Bptt, Anchor::Never)
            .expect("BPTT");
        let floor = worst(&bptt32.grads, &reference.grads);
        let errors: Vec<(f64, usize)> = [
            (&net, Walk::Tangent, plain),
            (&net, Walk::Tangent, anchored),
            (&net, Walk::Rhel(eps), plain),
            (&net32, Walk::Rhel(eps), plain),
            (&net32, Walk::Rhel(eps), anchored),
            (&net32, Walk::Tangent, plain),
            (&net32, Walk::Tangent, anchored),
        ]
        .into_iter()
        .map(|(n, walk, s)| {
            let (g, bytes) = run(n, walk, s);
            (worst(&g.grads, &reference.grads), bytes)
        })
        .collect();
        println!(
            "| {steps} | {floor:.1e} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {:.1e} | {} | {:.2} MiB |",
            errors[0].0,
            errors[1].0,
            errors[2].0,
            errors[3].0,
            errors[4].0,
            errors[5].0,
            errors[6].0,
            anchored.len,
            mib(errors[5].1)
        );
        precision.push((steps, floor, errors, anchored.len));
    }

    let line = |label: &str, i: Option<usize>| Line {
        label: label.into(),
        points: memory
            .iter()
            .map(|(steps, data, row)| (*steps as f64, mib(i.map_or(*data, |i| row[i].0))))
            .collect(),
        stroke: Stroke::Solid,
    };
    let panel = Panel {
        caption: "hsc train, one epoch (batch 8, hidden 64, 2 layers): peak heap beyond the data (MiB)"
            .into(),
        x: "sequence length T".into(),
        lines: vec![
            line("the data's own arrays (for scale)", None),
            line("BPTT", Some(2)),
            line("RHEL (lockstep echoes)", Some(0)),
            line("tangent echo (lockstep)", Some(1)),
        ],
        scientific: false,
    };
    if !memory.is_empty() {
        draw(&out.join("memory.png"), "Memory of the whole network's gradient against T", &[panel])
            .expect("a plot");
    }
    let json = serde_json::json!({
        "memory": memory.iter().map(|(steps, data, row)| serde_json::json!({
            "steps": steps, "data_bytes": data,
            "rhel_bytes": row[0].0, "tangent_bytes": row[1].0, "bptt_bytes": row[2].0,
            "rhel_seconds": row[0].1, "tangent_seconds": row[1].1, "bptt_seconds": row[2].1,
        })).collect::<Vec<_>>(),
        "eps": eps,
        "f32": precision.iter().map(|(steps, floor, e, every)| serde_json::json!({
            "steps": steps, "anchor_every": every, "f32_bptt": floor,
            "f64_tangent": e[0].0, "f64_tangent_anchored": e[1].0, "f64_rhel": e[2].0, "f32_rhel": e[3].0,
            "f32_rhel_anchored": e[4].0, "f32_tangent": e[5].0, "f32_tangent_anchored": e[6].0,
            "f32_tangent_anchored_bytes": e[6].1, "f32_tangent_bytes": e[5].1,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(out.join("long_network.json"), serde_json::to_string_pretty(&json).unwrap_or_default())
        .expect("long_network.json");
    println!("\nwrote {}/memory.png and long_network.json", out.display());
}
