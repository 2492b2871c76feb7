//! Helpers shared by the integration tests (each test file that needs them says `mod common;`,
//! and uses only some of them).
#![allow(dead_code)]

pub mod differential;
pub mod jit;

use std::path::{Path, PathBuf};

use proptest::test_runner::{Config, RngSeed, TestRunner};

/// A small deterministic generator driven by one seed (xorshift64*), for random models.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Uniform in `[-1, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    /// True once in `one_in` draws, on average.
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// The workspace's root (`$HSC_ROOT` where a test binary runs on another machine, as on
/// the GPU machine: scripts/gpu_check.sh).
pub fn root() -> PathBuf {
    match std::env::var_os("HSC_ROOT") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned(),
    }
}

/// The example models (`examples/*.ham`), sorted; at least the nine the tests rely on.
pub fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ham"))
        .collect();
    files.sort();
    assert!(files.len() >= 9);
    files
}

/// A path under the workspace's root, as a string for a command line.
pub fn path(rel: &str) -> String {
    root().join(rel).to_string_lossy().into_owned()
}

/// Bytes a command printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A proptest runner of `cases` cases with a fixed seed (unless PROPTEST_RNG_SEED asks for
/// another), so that every run checks the same models and a failure can be replayed.
pub fn fixed_runner(cases: u32, seed: u64) -> TestRunner {
    let base = Config::default();
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(seed),
        chosen => chosen,
    };
    TestRunner::new(Config { cases, failure_persistence: None, rng_seed, ..base })
}

/// A random separable, time-reversible model and the number of steps to check it over
/// (random sizes, functions, offsets, wrap-around, constant indices, 2-D params, lets, one or
/// two state pairs, a K with params, leapfrog and Yoshida-4, a fixed or trainable step, with
/// and without an in-model loss; T up to 200).
pub fn random_model(seed: u64) -> (String, usize) {
    let mut r = Rng(seed.max(1));
    let p = 2 + r.below(4);
    let n = 1 + r.below(3);
    let two_pairs = r.chance(3);
    let trainable_dt = r.chance(3);
    let loss = r.below(3);
    let yoshida = r.chance(2);
    let mut src = format!("model Random{seed}\ndim P = {p}\ndim N = {n}\n");
    src += "input u[N]\nparam W[P] = uniform(0.5, 1.0)\nparam B[P, N] = uniform(-0.5, 0.5)\n";
    src +=
        "param a = uniform(0.5, 1.5)\nparam m[P] = uniform(0.5, 1.5)\nparam C[P, P] = uniform(-0.3, 0.3)\n";
    src += "state q[P] momentum p\nlet s[i] = sigmoid(W[i])\nlet drive[i] = sum(j, B[i, j] * u[j])\n";
    let kinetic = match r.below(5) {
        0 => "sum(i, 0.5 * p[i]^2 / m[i])",
        1 => "sum(i, m[i] * logcosh(p[i]))",
        2 => "sum(i, sqrt(1 + m[i] * p[i]^2))",
        3 => "sum(i, 0.5 * p[i]^2) + 0.05 * sum(i, m[i] * p[i]^4)",
        _ => "sum(i, 0.5 * m[i] * p[i]^2) + sum(i in 0..P-1, 0.1 * (p[i + 1] - p[i])^2)",
    };
    let mut h = vec![kinetic.to_owned(), "sum(i, 0.5 * a * q[i]^2)".to_owned()];
    for _ in 0..1 + r.below(3) {
        let f = r.pick(&["logcosh", "softplus", "sin", "cos", "tanh", "sigmoid"]);
        h.push(match r.below(8) {
            0 => format!("sum(i, s[i] * {f}(W[i] * q[i] + drive[i]) / W[i])"),
            1 => "sum(i in 0..P-1, 0.5 * m[i] * (q[i + 1] - q[i])^2)".into(),
            2 => format!("sum(i, 0.3 * {f}(q[(i + 1) % P] - q[i]))"),
            3 => "0.05 * sum(i, q[i]^4)".into(),
            4 => "sum(i, q[i] * drive[i])".into(),
            5 => "0.1 * q[0] * q[P - 1]".into(),
            6 => format!("sum(i, j, 0.1 * C[i, j] * {f}(q[i]) * tanh(q[j]))"),
            _ => format!("sum(i in 1..P, 0.2 * W[i] * {f}(q[i] - q[i - 1] + 0.5 * u[0]))"),
        });
    }
    if two_pairs {
        src += "dim M = 2\nparam kc = uniform(0.1, 0.4)\nstate y[M] momentum py\n";
        h.push("sum(k, 0.5 * py[k]^2 + 0.5 * y[k]^2)".into());
        h.push("kc * sum(i, k, tanh(q[i]) * y[k])".into());
    }
    if trainable_dt {
        src += "param h = uniform(0.04, 0.08)\n";
    }
    match loss {
        0 => {}
        1 => src += "target z[P]\nloss = sum(i, (q[i] - z[i])^2)\n",
        _ => {
            src += "target z[P]\nloss = sum(i, W[i] * z[i] * tanh(q[i]) + 0.1 * p[i]^2) + 0.2 * q[0] * u[0]\n"
        }
    }
    src += &format!("H = {}\n", h.join("\n  + "));
    let dt = if trainable_dt { "h".to_owned() } else { ["0.05", "0.08"][r.below(2)].to_owned() };
    src += &format!("integrator {}(dt = {dt})\n", if yoshida { "yoshida4" } else { "leapfrog" });
    // Most models short, some at the full 200 steps.
    let steps = if r.chance(8) { 200 } else { 3 + r.below(40) };
    (src, steps)
}
