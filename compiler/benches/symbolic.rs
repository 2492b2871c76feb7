//! Compile time of the symbolic stage at P = 4 and P = 4096: the derivatives are loops over
//! indices, so their cost must not grow with the dims. Prints the median of many runs for
//! each example and size, and the ratio, which should stay under 1.5.
//!
//! Run: `cargo bench -p hsc --bench symbolic`

use std::time::{Duration, Instant};

fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    println!("symbolic stage (parse, sema, analysis, every derivative), median of 200 runs");
    println!("{:<22} {:>12} {:>12} {:>8}", "example", "P = 4", "P = 4096", "ratio");
    let mut worst: f64 = 0.0;
    for name in ["nonlin_hru", "fput_chain", "ring_lattice", "soft_attractor"] {
        let source = std::fs::read(format!("{root}/{name}.ham")).expect("example");
        let time = |p: &str| {
            let overrides = [hsc::Override { name: "P".into(), value: p.into() }];
            median_time(200, || {
                let front = hsc::front_end(&source, &overrides);
                let (program, facts) = (front.program.expect("a valid example"), front.facts.expect("facts"));
                std::hint::black_box(hsc::equations(&program, &facts).expect("derivatives"));
            })
        };
        let (small, large) = (time("4"), time("4096"));
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "{name:<22} {:>10.1}µs {:>10.1}µs {ratio:>8.2}",
            small.as_secs_f64() * 1e6,
            large.as_secs_f64() * 1e6
        );
    }
    println!("worst ratio P = 4096 / P = 4: {worst:.2} (target: under 1.5)");
}
