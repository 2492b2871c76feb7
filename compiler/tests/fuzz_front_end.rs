//! The front end's no-panic guarantee, as a property test.
//!
//! language.md promises that bad input of any kind ends in a diagnostic, never a panic, and
//! `hsc::front_end` documents that it never panics. A user's file is untrusted input, so
//! this test feeds the front end (parse, sema and analysis, then the rendering of the
//! diagnostics, and the symbolic stage on every valid program, as `hsc check` does) over
//! 100 000 generated inputs per run, from five generators, each its own test:
//!
//! 1. **random bytes**: arbitrary bytes (mostly invalid UTF-8), printable ASCII soups and
//!    random Unicode text;
//! 2. **token soups**: random sequences of the language's own tokens (keywords, names,
//!    numbers up to `1e999`, operators, function names, newlines, comments), free or as
//!    lines that start like declarations, which makes many near-valid programs;
//! 3. **random models**: syntactically valid models built from a pool of declarations and
//!    random expressions (indices, offsets, sums, calls), which reach deep into sema;
//! 4. **example mutations**: the files of `examples/` with bytes deleted, inserted or
//!    replaced, lines duplicated, swapped or deleted, and truncations, each run with random
//!    `-D` overrides (valid and invalid names and values);
//! 5. **deep nesting**: brackets hundreds of levels deep, long `^` and `-` chains, sums of
//!    thousands of terms, nested `sum` calls, chains and cycles of lets, consts and dims,
//!    models with hundreds of tensors.
//!
//! Every case checks that `front_end` returns (a panic fails the case), that a program (and
//! the analysis facts) come back exactly when there is no error, that every label points
//! inside the source, and that rendering the diagnostics does not panic either.
//!
//! A hang fails too, without any assertion on speed: each generator runs in a worker thread
//! (with the default stack, on purpose: the guarantee must hold on an ordinary thread) that
//! records the input it is about to check; the test waits for it with a generous deadline
//! and, past it, fails with the input that was running. A stack overflow aborts the whole
//! process and cannot be caught; run with `HSC_FUZZ_TRACE=1` to print every input to stderr
//! before it is checked, the last one printed is the culprit.
//!
//! Runs are reproducible: each generator has a fixed seed, unless `PROPTEST_RNG_SEED` asks
//! for another (to explore further). Failures are not persisted to files.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hsc::Override;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

// ---- the property -------------------------------------------------------------------------

/// One input of the front end: the bytes of a file and the `-D` overrides.
#[derive(Clone)]
struct Case {
    source: Vec<u8>,
    overrides: Vec<Override>,
}

impl Case {
    fn new(source: impl Into<Vec<u8>>) -> Case {
        Case { source: source.into(), overrides: Vec::new() }
    }
}

/// Shows the source as escaped text, so that a failing input can be pasted into a file.
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes: \"{}\"", self.source.len(), self.source.escape_ascii())?;
        for o in &self.overrides {
            write!(f, " -D {:?}={:?}", o.name, o.value)?;
        }
        Ok(())
    }
}

/// Runs the front end on one case and checks what it returned.
fn check(case: &Case) -> Result<bool, TestCaseError> {
    let front = hsc::front_end(&case.source, &case.overrides);
    let rendered = hsc_grammar::render(&front.diagnostics, "fuzz.ham", &front.source, false);
    let errors = hsc_grammar::has_errors(&front.diagnostics);
    prop_assert!(
        !(front.program.is_some() && errors),
        "a program was returned although there are errors:\n{rendered}"
    );
    prop_assert!(
        front.program.is_some() || errors,
        "no program was returned, but no error says why:\n{rendered}"
    );
    prop_assert_eq!(
        front.facts.is_some(),
        front.program.is_some(),
        "the analysis facts come exactly with the program"
    );
    for d in &front.diagnostics {
        for label in &d.labels {
            prop_assert!(
                label.span.start <= label.span.end && label.span.end as usize <= front.source.len(),
                "diagnostic `{}` has span {} outside the {}-byte source",
                d.message,
                label.span,
                front.source.len()
            );
        }
    }
    prop_assert!(
        front.diagnostics.is_empty() || !rendered.is_empty(),
        "diagnostics rendered as nothing: {:?}",
        front.diagnostics
    );
    // The later stages run on every valid program too (as `hsc gradcheck` does): the
    // symbolic stage and the kernel passes, whose kernels are verified, must return kernels
    // or a diagnostic, never panic.
    if let (Some(program), Some(facts)) = (&front.program, &front.facts)
        && let Err(d) = hsc::compile(program.clone(), facts)
    {
        prop_assert!(
            !d.message.contains("internal compiler error"),
            "a later stage failed inside: {}",
            d.message
        );
    }
    Ok(front.program.is_some())
}

// ---- the driver ---------------------------------------------------------------------------

/// How long one generator may run before the input being checked is declared a hang. Far
/// above the few seconds a generator needs, so that only a real hang reaches it.
const DEADLINE: Duration = Duration::from_secs(600);

/// Checks `cases` inputs from `strategy` in a worker thread, failing on a panic, a broken
/// invariant or a hang, and prints how many inputs were tried.
fn fuzz(label: &'static str, seed: u64, cases: u32, strategy: fn() -> BoxedStrategy<Case>) {
    let base = Config::default();
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(seed),
        fixed => fixed,
    };
    let config = Config { cases, failure_persistence: None, rng_seed, max_shrink_iters: 4096, ..base };
    let trace = std::env::var_os("HSC_FUZZ_TRACE").is_some();
    let current: Arc<Mutex<Option<Case>>> = Arc::new(Mutex::new(None));
    let tried = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel();
    let worker = {
        let (current, tried, accepted) = (current.clone(), tried.clone(), accepted.clone());
        thread::Builder::new()
            .name(format!("fuzz {label}"))
            .spawn(move || {
                let mut runner = TestRunner::new(config);
                let result = runner.run(&strategy(), |case| {
                    if trace {
                        eprintln!("fuzz_front_end: {label}: {case:?}");
                    }
                    *current.lock().unwrap_or_else(PoisonError::into_inner) = Some(case.clone());
                    tried.fetch_add(1, Ordering::Relaxed);
                    if check(&case)? {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                });
                // The receiver is gone only after the test has failed on its deadline.
                let _ = done.send(result.map_err(|e| e.to_string()));
            })
            .expect("spawn the fuzzing thread")
    };
    let start = Instant::now();
    match finished.recv_timeout(DEADLINE) {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("fuzz_front_end: {label} (seed {rng_seed}): {failure}"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let case = current.lock().unwrap_or_else(PoisonError::into_inner).clone();
            panic!(
                "fuzz_front_end: {label} (seed {rng_seed}): front_end has not returned after \
                 {DEADLINE:?}; the input being checked: {case:?}"
            );
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let why = match worker.join() {
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
                Ok(()) => String::new(),
            };
            panic!("fuzz_front_end: {label} (seed {rng_seed}): the fuzzing thread died: {why}");
        }
    }
    let elapsed = start.elapsed();
    let (tried, accepted) = (tried.load(Ordering::Relaxed), accepted.load(Ordering::Relaxed));
    println!(
        "fuzz_front_end: {label}: {tried} inputs ({accepted} of them valid models), no panic \
         (seed {rng_seed}, {:.1} s)",
        elapsed.as_secs_f64()
    );
    assert!(tried >= cases as usize, "{label}: only {tried} of {cases} inputs were checked");
}

// ---- vocabulary -----------------------------------------------------------------------------

const KEYWORDS: &[&str] = &[
    "model",
    "dim",
    "const",
    "input",
    "param",
    "state",
    "momentum",
    "let",
    "target",
    "loss",
    "H",
    "integrator",
    "sum",
    "in",
];
const NAMES: &[&str] = &[
    "M", "P", "N", "K", "q", "p", "x", "v", "u", "y", "W", "B", "b", "a", "s", "t", "i", "j", "k", "dt", "g",
    "alpha", "_", "q2", "Model", "H2", "lossy", "summer", "inside", "e",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "0.5",
    "1.0",
    "1e-3",
    "2E+2",
    "64",
    "4096",
    "268435456",
    "268435457",
    "18446744073709551616",
    "99999999999999999999999",
    "1e999",
    "1e308",
    "2e308",
    "1e-999",
    "0.0000001",
    "007",
    "1.",
    "1e",
    ".5",
    "1.5e3x",
];
const OPERATORS: &[&str] =
    &["+", "-", "*", "/", "%", "^", "=", ",", "..", "(", ")", "[", "]", "(", ")", "[", "]"];
const FUNCTIONS: &[&str] = &[
    "exp", "log", "sqrt", "sin", "cos", "tanh", "sinh", "cosh", "sigmoid", "softplus", "logcosh", "abs",
    "relu", "uniform", "normal", "leapfrog", "yoshida4",
];
/// Layout, comments, and characters that are not tokens: `;`, a control character, a letter
/// outside ASCII, and whitespace that the grammar does not skip (vertical tab, form feed,
/// no-break space, ideographic space, line separator).
const TRIVIA: &[&str] = &[
    "\n",
    "\n",
    "# a comment\n",
    "#",
    "\t",
    "\r\n",
    ";",
    "\u{0}",
    "é",
    "\u{b}",
    "\u{c}",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
];
/// Beginnings of declarations, for soups that look like programs line by line.
const LINE_STARTS: &[&str] = &[
    "model M",
    "dim P =",
    "dim N = 4",
    "const g =",
    "input u[N]",
    "input",
    "param W[P] =",
    "param k =",
    "param",
    "state q[P] momentum p",
    "state x momentum",
    "state",
    "let a[i] =",
    "let t =",
    "let",
    "target y[1]",
    "loss =",
    "H =",
    "H = sum(i,",
    "H = 0.5 * p[i]^2 +",
    "integrator leapfrog(dt =",
    "integrator yoshida4(dt = 0.1)",
    "",
];
/// A valid prefix: declarations that the soups and expressions can refer to.
const HEADER: &str = "model M\ndim P = 4\ndim N = 3\nparam k = 1\nparam W[P] = uniform(0, 1)\n\
                      input u[N]\nstate q[P] momentum p\n";

/// Names of `-D` overrides: the dims of the examples and of the generated models, other
/// declared names, and names that are not names at all.
const OVERRIDE_NAMES: &[&str] = &[
    "P", "P", "N", "N", "K", "M", "Q", "D0", "D5", "g", "k", "q", "p", "H", "model", "", "1P", "P Q", "P ",
    "p-q",
];
const OVERRIDE_VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "64",
    "4096",
    "268435456",
    "268435457",
    "-1",
    "abc",
    "99999999999999999999999",
    "18446744073709551616",
    "1e3",
    "1.5",
    "",
    " 3",
    "3 ",
    "0x10",
    "+4",
    "NaN",
    "inf",
    "\u{663}",
    "P",
];

fn pick(words: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    select(words).prop_map(str::to_owned)
}

fn overrides() -> impl Strategy<Value = Vec<Override>> {
    let name = prop_oneof![4 => pick(OVERRIDE_NAMES), 1 => any::<String>()];
    let value = prop_oneof![4 => pick(OVERRIDE_VALUES), 1 => any::<String>()];
    vec((name, value).prop_map(|(name, value)| Override { name, value }), 0..4)
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => pick(KEYWORDS),
        4 => pick(NAMES),
        1 => (select(&['a', 'z', 'P', 'q', '_'][..]), 0u32..100).prop_map(|(c, n)| format!("{c}{n}")),
        3 => pick(NUMBERS),
        6 => pick(OPERATORS),
        2 => pick(FUNCTIONS),
        1 => pick(TRIVIA),
    ]
}

/// Tokens with what follows each: mostly a space, sometimes nothing (gluing `q` and `[`, or
/// `1e` and `999`), sometimes a newline.
fn tokens(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let separator = prop_oneof![6 => Just(" "), 2 => Just(""), 1 => Just("\n")];
    vec((token(), separator), len)
        .prop_map(|ts| ts.into_iter().fold(String::new(), |acc, (t, s)| acc + &t + s))
}

// ---- 1. random bytes --------------------------------------------------------------------------

fn random_bytes() -> BoxedStrategy<Case> {
    let ascii = prop_oneof![3 => 0x20u8..0x7f, 1 => select(&b"\n\t\r#()[]=,.^-+*/%_"[..])];
    prop_oneof![
        2 => vec(any::<u8>(), 0..160),
        2 => vec(ascii.clone(), 0..160),
        1 => any::<String>().prop_map(String::into_bytes),
        // Valid text with one bad byte somewhere: the UTF-8 error is found late.
        1 => (vec(ascii, 0..80), 0x80u8..=0xff, vec(any::<u8>(), 0..8)).prop_map(
            |(mut text, bad, tail)| {
                text.push(bad);
                text.extend(tail);
                text
            }
        ),
    ]
    .prop_map(Case::new)
    .boxed()
}

#[test]
fn random_bytes_never_panic() {
    fuzz("random bytes", 1, 60_000, random_bytes);
}

// ---- 2. token soups ---------------------------------------------------------------------------

fn token_soup() -> BoxedStrategy<Case> {
    let prefix = prop_oneof![Just(""), Just("model M\n"), Just(HEADER)];
    let lines = vec((pick(LINE_STARTS), tokens(0..10)), 1..8).prop_map(|lines| {
        lines.into_iter().map(|(start, rest)| format!("{start} {rest}\n")).collect::<String>()
    });
    let body = prop_oneof![tokens(0..48), lines];
    let overrides = prop_oneof![3 => Just(Vec::new()), 1 => overrides()];
    (prefix, body, overrides)
        .prop_map(|(prefix, body, overrides)| Case { source: (prefix.to_owned() + &body).into(), overrides })
        .boxed()
}

#[test]
fn token_soups_never_panic() {
    fuzz("token soups", 2, 24_000, token_soup);
}

// ---- 3. random models -------------------------------------------------------------------------

/// Declarations a random model may have; each is left out now and then, so that some names
/// are unknown.
const DECL_POOL: &[&str] = &[
    "dim P = 4",
    "dim N = 3",
    "const g = 9.81",
    "input u[N]",
    "param W[P] = uniform(0.5, 1)",
    "param B[P, N] = normal(0, 0.1)",
    "param k = 1",
    "param dtp = 0.1",
    "state q[P] momentum p",
    "state x momentum v",
    "target y[P]",
    "let s[i] = sigmoid(W[i])",
    "let drive[i] = sum(j, B[i, j] * u[j])",
];
/// Leaves of a potential term `sum(i, ...)`: positions, params and inputs indexed by `i`.
const POTENTIAL: &[&str] = &[
    "q[i]",
    "q[i]",
    "q[i]",
    "W[i]",
    "s[i]",
    "drive[i]",
    "q[(i + 1) % P]",
    "q[(i - 1) % P]",
    "k",
    "g",
    "x",
    "0.5",
    "2",
    "1e-3",
    "P",
    "sum(j, B[i, j] * u[j])",
];
/// The lets of the random model, read by H and the loss as well.
const LETS: &[&str] = &["r[i]", "t"];
/// Leaves that break a rule: odd in p or mixed with q, unbound or out-of-range indices, wrong
/// ranks, unknown names, a target outside the loss, a number too large.
const WILD: &[&str] = &[
    "p[i]",
    "q[j]",
    "q[i + 1]",
    "u[i]",
    "y[i]",
    "B[i]",
    "q",
    "zz",
    "q[i, i]",
    "v",
    "1e999",
    "sum(i, q[i])",
    "q[P]",
    "q[-1]",
    "k[i]",
    "sum(n, q[n])",
    "H",
    "uniform(0, 1)",
];
/// Kinetic energies per index `i`, mostly even in p.
const KINETIC: &[&str] = &[
    "0.5 * p[i]^2",
    "0.5 * p[i]^2",
    "sqrt(1 + p[i]^2)",
    "W[i] * p[i]^2",
    "cosh(p[i])",
    "p[i]^4 / 4",
    "logcosh(p[i])",
    "(p[i]^2)^0.75",
    "exp(-p[i]^2)",
];
/// Kinetic terms that break separability or time-reversal symmetry.
const ODD_KINETIC: &[&str] = &["p[i]", "p[i] * q[i]", "p[i]^3", "p[i] * u[0]", "p[(i + 1) % P]"];
/// Whole scalar terms of H.
const SCALAR_TERMS: &[&str] = &["0.5 * v^2", "0.5 * x^2", "k * x^4", "cos(x)", "0.5 * v^2 + x", "0.5 * v^2"];
const CALLEES: &[&str] = &[
    "exp", "log", "sqrt", "sin", "cos", "tanh", "sinh", "cosh", "sigmoid", "softplus", "logcosh", "abs",
    "relu",
];
/// Callees that are not functions of expressions.
const ODD_CALLEES: &[&str] = &["foo", "normal", "uniform", "leapfrog", "W"];
const BINARY: &[&str] = &[" + ", " - ", " * ", " / ", " + ", " * "];
const EXPONENTS: &[&str] = &["2", "2", "3", "4", "0.5", "-1", "0.75", "k", "q[i]"];
/// Other ways a term may bind its index than `sum(i, ...)`: ranges, an index too many, the
/// wrong index, none at all.
const ODD_SUM_HEADS: &[&str] =
    &["sum(i in 0..P-1, ", "sum(i in 1..P, ", "sum(i in 0..P, ", "sum(i, j, ", "sum(j, ", "("];
const INTEGRATORS: &[&str] = &[
    "",
    "integrator leapfrog(dt = 0.1)",
    "integrator yoshida4(dt = 0.05)",
    "integrator leapfrog(dt = dtp)",
    "integrator leapfrog",
];
/// Integrator lines with a problem.
const ODD_INTEGRATORS: &[&str] = &[
    "integrator leapfrog(dt = t)",
    "integrator leapfrog(dt = k * 2)",
    "integrator leapfrog()",
    "integrator euler(dt = 1)",
    "integrator leapfrog(dt = -1)",
    "integrator leapfrog(dt = 0)",
    "integrator leapfrog(dt = 0.1, dt = 0.2)",
    "integrator leapfrog(h = 1)",
    "integrator yoshida4(dt = q[0])",
];

/// A random function of the position `q[i]` and its neighbours, params and inputs, made of
/// `leaves` and, now and then, a leaf that breaks a rule.
/// A random potential term; `with_lets` adds the random model's lets to its leaves.
fn potential(with_lets: bool) -> impl Strategy<Value = String> {
    let lets = if with_lets { 8 } else { 0 };
    let leaf = prop_oneof![60 => pick(POTENTIAL), lets => pick(LETS), 1 => pick(WILD)];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            4 => (inner.clone(), pick(BINARY), inner.clone())
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            2 => (inner.clone(), pick(EXPONENTS)).prop_map(|(a, e)| format!("({a})^{e}")),
            2 => (prop_oneof![30 => pick(CALLEES), 1 => pick(ODD_CALLEES)], inner.clone())
                .prop_map(|(f, a)| format!("{f}({a})")),
            1 => inner.prop_map(|a| format!("-({a})")),
        ]
    })
}

fn sum_head() -> impl Strategy<Value = String> {
    prop_oneof![30 => Just("sum(i, ".to_owned()), 1 => pick(ODD_SUM_HEADS)]
}

fn random_model() -> BoxedStrategy<Case> {
    let model = prop_oneof![60 => Just("model M\n"), 1 => Just(""), 1 => Just("model 3\n")];
    let decls = (Just(DECL_POOL.to_vec()).prop_shuffle(), vec(prop::bool::weighted(0.99), DECL_POOL.len()));
    let lets = (option::weighted(0.9, potential(false)), option::weighted(0.9, potential(false)));
    let kinetic = vec((sum_head(), prop_oneof![30 => pick(KINETIC), 1 => pick(ODD_KINETIC)]), 0..3);
    let potentials = vec((sum_head(), potential(true)), 0..3);
    let scalars = vec(pick(SCALAR_TERMS), 0..2);
    let loss = option::weighted(0.4, potential(true));
    let integrator = prop_oneof![20 => pick(INTEGRATORS), 1 => pick(ODD_INTEGRATORS)];
    let overrides = prop_oneof![3 => Just(Vec::new()), 1 => overrides()];
    ((model, decls, lets), (kinetic, potentials, scalars, loss, integrator), overrides)
        .prop_map(
            |(
                (model, (decls, keep), (r, t)),
                (kinetic, potentials, scalars, loss, integrator),
                overrides,
            )| {
                let mut source = model.to_owned();
                for (decl, keep) in decls.iter().zip(keep) {
                    if keep {
                        source += &format!("{decl}\n");
                    }
                }
                if let Some(r) = r {
                    source += &format!("let r[i] = q[i] * ({r})\n");
                }
                if let Some(t) = t {
                    source += &format!("let t = sum(i, q[i] * ({t}))\n");
                }
                let mut terms: Vec<String> = Vec::new();
                for (head, body) in &kinetic {
                    terms.push(format!("{head}{body})"));
                }
                // The first factor makes `i` index something, so that its range is known.
                for (head, body) in &potentials {
                    terms.push(format!("{head}0.5 * q[i]^2 + {body})"));
                }
                terms.extend(scalars);
                if terms.is_empty() {
                    terms.push("0".to_owned());
                }
                source += &format!("H = {}\n", terms.join("\n  + "));
                if let Some(loss) = loss {
                    source += &format!("loss = sum(i, ({loss} - y[i])^2) / P\n");
                }
                source += &format!("{integrator}\n");
                Case { source: source.into(), overrides }
            },
        )
        .boxed()
}

#[test]
fn random_models_never_panic() {
    fuzz("random models", 3, 6_000, random_model);
}

// ---- 4. mutations of the examples ---------------------------------------------------------------

/// The example models, read from `examples/` when the strategy is built.
fn examples() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("an entry of examples/").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ham"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .ham file in {}", dir.display());
    paths.iter().map(|p| std::fs::read(p).expect("read an example")).collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Replace(Index, u8),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    DeleteLine(Index),
    Truncate(Index),
}

/// A position in `0..=len`.
fn position(at: &Index, len: usize) -> usize {
    at.index(len + 1)
}

fn lines_of(source: &[u8]) -> Vec<Vec<u8>> {
    source.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

impl Mutation {
    fn apply(&self, source: &mut Vec<u8>) {
        match self {
            Mutation::Delete(at, n) => {
                let start = position(at, source.len());
                let end = (start + n).min(source.len());
                source.drain(start..end);
            }
            Mutation::Insert(at, bytes) => {
                let at = position(at, source.len());
                source.splice(at..at, bytes.iter().copied());
            }
            Mutation::Replace(at, byte) => {
                if !source.is_empty() {
                    let at = at.index(source.len());
                    source[at] = *byte;
                }
            }
            Mutation::DuplicateLine(at) => {
                let mut lines = lines_of(source);
                let line = lines[at.index(lines.len())].clone();
                lines.insert(at.index(lines.len()), line);
                *source = lines.join(&b'\n');
            }
            Mutation::SwapLines(a, b) => {
                let mut lines = lines_of(source);
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
                *source = lines.join(&b'\n');
            }
            Mutation::DeleteLine(at) => {
                let mut lines = lines_of(source);
                lines.remove(at.index(lines.len()));
                *source = lines.join(&b'\n');
            }
            Mutation::Truncate(at) => source.truncate(position(at, source.len())),
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = prop_oneof![
        3 => token().prop_map(String::into_bytes),
        1 => vec(0x20u8..0x7f, 1..6),
        1 => vec(any::<u8>(), 1..4),
    ];
    let byte = prop_oneof![6 => 0x20u8..0x7f, 1 => Just(b'\n'), 1 => any::<u8>()];
    prop_oneof![
        3 => (any::<Index>(), 1usize..12).prop_map(|(at, n)| Mutation::Delete(at, n)),
        3 => (any::<Index>(), inserted).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        3 => (any::<Index>(), byte).prop_map(|(at, b)| Mutation::Replace(at, b)),
        2 => any::<Index>().prop_map(Mutation::DuplicateLine),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        2 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutated_example() -> BoxedStrategy<Case> {
    let examples = Arc::new(examples());
    let count = examples.len();
    (0..count, vec(mutation(), 0..6), prop_oneof![1 => Just(Vec::new()), 2 => overrides()])
        .prop_map(move |(which, mutations, overrides)| {
            let mut source = examples[which].clone();
            for m in &mutations {
                m.apply(&mut source);
            }
            Case { source, overrides }
        })
        .boxed()
}

#[test]
fn mutated_examples_never_panic() {
    fuzz("example mutations", 4, 16_000, mutated_example);
}

// ---- 5. deep nesting and long chains ----------------------------------------------------------

/// The declarations that the deep expressions refer to.
const DEEP_HEADER: &str = "model Deep\ndim P = 4\nparam k = 1\nstate q[P] momentum p\n";

/// Openers and their closers, nested `n` deep around a core.
const NESTERS: &[(&str, &str)] = &[
    ("(", ")"),
    ("[", "]"),
    ("q[", "]"),
    ("sin(", ")"),
    ("exp(-", ")"),
    ("-(", ")"),
    ("(2 * ", ")"),
    ("sum(i, ", ")"),
    ("p[0] * (", ")"),
    ("normal(0, ", ")"),
];
const CORES: &[&str] = &["p[0]^2", "1", "p[i]^2", "k", "", "q[0]"];
const POW_LINKS: &[&str] = &["^2", "^-2", "^0.5", "^p[0]", "^--1", "^(1)", "^k"];
const TERMS: &[&str] =
    &["0.5 * p[0]^2", "k * q[1]^2", "p[i]^2", "sum(i, p[i]^2)", "1", "(q[0] - q[1])^2", "1e999"];
const CHAIN_OPS: &[&str] = &[" + ", " - ", " * ", " / ", " % ", "+"];

/// `n` levels of one nester around a core, with all, or all but one, closers.
fn nesting(n: usize, (open, close): (&str, &str), core: &str, balanced: bool) -> String {
    let closers = if balanced { n } else { n.saturating_sub(1) };
    format!("{DEEP_HEADER}H = {}{core}{}\n", open.repeat(n), close.repeat(closers))
}

fn pow_chain(n: usize, link: &str) -> String {
    format!("{DEEP_HEADER}H = 0.5 * p[0]{}\n", link.repeat(n))
}

fn minus_chain(n: usize, form: usize) -> String {
    match form {
        0 => format!("{DEEP_HEADER}H = {}p[0]^2\n", "-".repeat(n)),
        1 => format!("{DEEP_HEADER}H = p[0]^2{}\n", " - -p[1]^2".repeat(n)),
        _ => format!("{DEEP_HEADER}H = p[0]^2 + 2^{}q[0]\n", "-".repeat(n)),
    }
}

/// `n` terms joined by `op`, `per_line` of them to a line.
fn long_sum(n: usize, term: &str, op: &str, per_line: usize, place: usize) -> String {
    let lines: Vec<String> = vec![term; n].chunks(per_line).map(|line| line.join(op)).collect();
    let terms = lines.join(&format!("{}\n  ", op.trim_end()));
    match place {
        0 => format!("{DEEP_HEADER}H = {terms}\n"),
        1 => format!("{DEEP_HEADER}H = sum(i, 0.5 * p[i]^2 + {terms})\n"),
        2 => format!("{DEEP_HEADER}target y[1]\nH = p[0]^2\nloss = {terms}\n"),
        _ => format!("{DEEP_HEADER}let big = {terms}\nH = p[0]^2 + big\n"),
    }
}

fn nested_sums(n: usize, distinct: bool) -> String {
    let index = |k: usize| if distinct { format!("i{k}") } else { "i".to_owned() };
    let opens: String = (0..n).map(|k| format!("sum({}, ", index(k))).collect();
    let body: Vec<String> = (0..n).map(|k| format!("p[{}]", index(k))).collect();
    format!("{DEEP_HEADER}H = {opens}{}^2{}\n", body.join(" * "), ")".repeat(n))
}

/// `n` lets, each using the one before twice (so that inlining would double the size at
/// each step), declared in order, in reverse, or closed into a cycle.
fn let_chain(n: usize, form: usize) -> String {
    let mut lets: Vec<String> = (0..n)
        .map(|k| match (k, form) {
            (0, 0 | 1) => "let a0 = q[0]".to_owned(),
            (0, 3) => "let a0[i] = q[i]".to_owned(),
            (_, 3) => format!("let a{k}[i] = a{}[i] * a{}[i] + q[i]", k - 1, k - 1),
            (_, 2) => format!("let a{k} = a{} + q[0]", (k + 1) % n),
            _ => format!("let a{k} = a{} * a{} + 1", k - 1, k - 1),
        })
        .collect();
    if form == 1 {
        lets.reverse();
    }
    let last = n - 1;
    let h = if form == 3 {
        format!("H = 0.5 * sum(i, p[i]^2) + sum(i, a{last}[i])")
    } else {
        format!("H = 0.5 * p[0]^2 + a{last}")
    };
    format!("{DEEP_HEADER}{}\n{h}\n", lets.join("\n"))
}

/// `n` dims or consts, each defined by the one before, in order, in reverse or in a cycle.
fn number_chain(n: usize, dims: bool, form: usize) -> String {
    let (word, stem) = if dims { ("dim", "D") } else { ("const", "c") };
    let mut decls: Vec<String> = (0..n)
        .map(|k| match (k, form) {
            (_, 2) => format!("{word} {stem}{k} = {stem}{} + 0", (k + 1) % n),
            (0, _) => format!("{word} {stem}0 = 2"),
            _ => format!("{word} {stem}{k} = {stem}{} * 1 + 0", k - 1),
        })
        .collect();
    if form == 1 {
        decls.reverse();
    }
    let last = n - 1;
    format!(
        "model Chain\n{}\nstate q[{stem}{last}] momentum p\nH = sum(i, p[i]^2 + q[i]^2)\n",
        decls.join("\n")
    )
}

/// A wide model: `n` params, inputs or state pairs, each read by its own term of H.
fn wide(n: usize, kind: usize) -> String {
    let (decls, terms): (Vec<String>, Vec<String>) = (0..n)
        .map(|k| match kind {
            0 => (format!("param w{k} = 1"), format!("w{k} * q[0]^2")),
            1 => (format!("input u{k}"), format!("q[0] * u{k}")),
            _ => (format!("state x{k} momentum v{k}"), format!("v{k}^2 + x{k}^2")),
        })
        .unzip();
    format!("{DEEP_HEADER}{}\nH = 0.5 * p[0]^2\n  + {}\n", decls.join("\n"), terms.join("\n  + "))
}

fn deep_nesting() -> BoxedStrategy<Case> {
    // Depths cluster around the limits (64 brackets, 200 expression levels) and go well past.
    let bracket_depth = prop_oneof![2 => 0usize..72, 1 => 0usize..400];
    let expr_depth = prop_oneof![2 => 150usize..260, 1 => 1usize..1200];
    prop_oneof![
        3 => (bracket_depth, select(NESTERS), select(CORES), any::<bool>())
            .prop_map(|(n, nester, core, balanced)| nesting(n, nester, core, balanced)),
        2 => (expr_depth.clone(), select(POW_LINKS)).prop_map(|(n, link)| pow_chain(n, link)),
        2 => (expr_depth, 0usize..3).prop_map(|(n, form)| minus_chain(n, form)),
        // Thousands of terms, a few dozen to a line: each bad term is a diagnostic, and
        // rendering n diagnostics on one line of n terms takes time quadratic in n.
        2 => (1usize..2500, select(TERMS), select(CHAIN_OPS), 1usize..64, 0usize..4)
            .prop_map(|(n, term, op, per_line, place)| long_sum(n, term, op, per_line, place)),
        1 => (1usize..300, select(TERMS), select(CHAIN_OPS), 0usize..4)
            .prop_map(|(n, term, op, place)| long_sum(n, term, op, n, place)),
        2 => (1usize..90, any::<bool>()).prop_map(|(n, distinct)| nested_sums(n, distinct)),
        2 => (1usize..400, 0usize..4).prop_map(|(n, form)| let_chain(n, form)),
        2 => (1usize..400, any::<bool>(), 0usize..3)
            .prop_map(|(n, dims, form)| number_chain(n, dims, form)),
        1 => (1usize..400, 0usize..3).prop_map(|(n, kind)| wide(n, kind)),
    ]
    .prop_map(Case::new)
    .boxed()
}

#[test]
fn deep_nesting_never_panics() {
    fuzz("deep nesting", 5, 600, deep_nesting);
}
