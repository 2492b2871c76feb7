//! Helpers shared by the integration tests (each test file that needs them says `mod common;`,
//! and uses only some of them).
#![allow(dead_code)]

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

/// The workspace's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
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
