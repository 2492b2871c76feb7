//! The kernel IR's text form, and the optimiser's passes one at a time (in the manner of
//! Cranelift's filetests).
//!
//! - Every kernel of every example, as lowered and as optimised, prints to a text that parses
//!   back to the same kernel, and prints again to the same text; mutated texts parse or fail,
//!   never panic.
//! - `tests/kernels/<pass>/*.kir`: each file is one case of one pass. Its first line names the
//!   pass (`; pass: licm`); then come comments (`;`) saying what the case shows, the input
//!   kernel, a line `; expect:`, and the kernel the pass makes of it, printed. The runner
//!   checks that the input and the output verify, that the pass changes no value (the
//!   interpreter runs both on the same numbers, in f64 and in f32, and every runtime buffer
//!   must come out the same, bit for bit), and that the output prints as expected; it runs
//!   every file and reports every one that fails. Every pass has at least three cases, one
//!   of which it must leave as it is.
//!
//! After a change to a pass that is meant, `HSC_BLESS=1 cargo test -p hsc --test kir`
//! rewrites the expectations of the files whose output changed (their checks of verification
//! and values still apply); review the diff of `tests/kernels/` like code.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hsc::kernel::optimize::Pass;
use hsc::kernel::{Kernel, Precision, parse_kernel, parse_kernels, run_kernel, verify};
use hsc_runtime::Slot;

use common::{example_files, root};

/// The kernels of an example, as lowered and as optimised.
fn example_kernels(src: &str) -> (Vec<Kernel>, Vec<Kernel>) {
    let fe = hsc::front_end(src.as_bytes(), &[]);
    let program = fe.program.expect("the example checks");
    let eq = hsc::equations(&program, &fe.facts.expect("facts")).expect("the example differentiates");
    let lowered = hsc::kernel::lower(&program, &eq);
    let built = hsc::kernel::build(&program, &eq);
    (lowered.kernels, built.kernels)
}

#[test]
fn every_example_kernel_prints_and_parses_back_to_itself() {
    for f in example_files() {
        let src = std::fs::read_to_string(&f).unwrap();
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let (lowered, built) = example_kernels(&src);
        for (stage, kernels) in [("lowered", &lowered), ("optimised", &built)] {
            for k in kernels {
                let text = k.to_string();
                let what = format!("{name}, {} {stage}", k.pass.name());
                let back = parse_kernel(&text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
                assert!(back == *k, "{what}: parses to another kernel:\n{text}\n{back:?}\n{k:?}");
                assert_eq!(back.to_string(), text, "{what}: prints another text");
            }
            let module: String = kernels.iter().map(|k| k.to_string()).collect::<Vec<_>>().join("\n");
            let back = parse_kernels(&module).unwrap_or_else(|e| panic!("{name} {stage}: {e}"));
            assert!(back == *kernels, "{name} {stage}: the module parses to other kernels");
        }
    }
}

#[test]
fn mutated_kernel_texts_parse_or_fail_without_a_panic() {
    let src = std::fs::read_to_string(root().join("examples/nonlin_hru.ham")).unwrap();
    let (lowered, _) = example_kernels(&src);
    let text = lowered.iter().find(|k| k.pass == hsc_runtime::Pass::Echo).unwrap().to_string();
    let pieces = [
        "", "0", "9", "-", "v", "v9999", "k1", "{", "}", "[", "]", "(", ")", ",", "=", "+=", " ", "\n", "T",
        "é",
    ];
    let mut rng = common::Rng(0x6b69_7266);
    let (mut parsed, tries) = (0, 3000);
    for _ in 0..tries {
        let mut t = text.clone();
        for _ in 0..1 + rng.below(3) {
            let at = t.floor_char_boundary(rng.below(t.len() + 1));
            let end = t.floor_char_boundary((at + rng.below(12)).min(t.len()));
            t.replace_range(at..end, rng.pick(&pieces));
        }
        if let Ok(k) = parse_kernel(&t) {
            parsed += 1;
            let again = k.to_string();
            assert!(
                parse_kernel(&again).as_ref() == Ok(&k),
                "prints to a text that reads back otherwise:\n{t}"
            );
        }
    }
    println!("{parsed} of {tries} mutated texts parsed; the rest were errors");
}

/// The line between a case's input and its expected output.
const EXPECT: &str = "; expect:";

/// One `.kir` file.
struct Case {
    pass: Pass,
    /// Everything up to the `; expect:` line: the header, the comments, the input.
    head: String,
    input: Kernel,
    expected: String,
}

fn read_case(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("; pass:"))
        .ok_or("the first line should name the pass: `; pass: licm`")?
        .trim();
    let pass = Pass::from_name(name).ok_or_else(|| format!("no pass is named `{name}`"))?;
    let at = text.find(&format!("\n{EXPECT}\n")).ok_or_else(|| format!("no line `{EXPECT}`"))?;
    let (head, expected) = (&text[..at + 1], &text[at + EXPECT.len() + 2..]);
    let input = parse_kernel(head).map_err(|e| format!("the input does not parse: {e}"))?;
    Ok(Case { pass, head: head.to_owned(), input, expected: expected.to_owned() })
}

/// Runs one case; the pass's output, or what is wrong with the case.
fn run_case(case: &Case) -> Result<Kernel, String> {
    let errors = |e: Vec<hsc::kernel::VerifyError>| e.iter().map(|e| format!("\n  {e}")).collect::<String>();
    verify(&case.input).map_err(|e| format!("the input does not verify:{}", errors(e)))?;
    let mut output = case.input.clone();
    case.pass.run(&mut output);
    verify(&output).map_err(|e| format!("the output does not verify:{}\n{output}", errors(e)))?;
    for p in [Precision::F64, Precision::F32] {
        let (before, after) = (outputs(&case.input, p)?, outputs(&output, p)?);
        for (slot, a) in &before {
            let b = after.get(slot).filter(|b| b.len() == a.len());
            let b = b.ok_or_else(|| format!("the output has no buffer for {slot} of the same length"))?;
            if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                let (x, y) = (f64::from_bits(a[i]), f64::from_bits(b[i]));
                return Err(format!(
                    "{}: {slot}[{i}] is {x:e} before the pass, {y:e} after\n{output}",
                    p.name()
                ));
            }
        }
    }
    Ok(output)
}

/// Steps the interpreter runs a case for.
const STEPS: usize = 3;

/// The runtime buffers of `k` after a run of the interpreter, as bits, by slot. Every buffer
/// starts from numbers drawn from its slot (so that two kernels get the same), in `[0.5, 1.5)`
/// (so that no `log` or `sqrt` gives NaN); scratch starts at zero.
fn outputs(k: &Kernel, p: Precision) -> Result<HashMap<Slot, Vec<u64>>, String> {
    let round = |x: f64| if p == Precision::F32 { x as f32 as f64 } else { x };
    let mut buffers: Vec<Vec<f64>> = k
        .buffers
        .values()
        .map(|b| {
            let len = b.row_len() * b.time.map_or(1, |extra| STEPS + extra);
            let seed = b.slot.map_or(0, |s| hash(&format!("{s:?}")));
            (0..len).map(|i| if b.slot.is_some() { round(draw(seed, i)) } else { 0.0 }).collect()
        })
        .collect();
    run_kernel(k, p, STEPS, [round(0.01), round(-0.02)], &mut buffers).map_err(|e| e.to_string())?;
    let slots = k.buffers.values().zip(buffers);
    Ok(slots.filter_map(|(b, data)| Some((b.slot?, data.iter().map(|x| x.to_bits()).collect()))).collect())
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// A number in `[0.5, 1.5)` from a seed and a position (splitmix64).
fn draw(seed: u64, i: usize) -> f64 {
    let mut z = seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    0.5 + (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The `.kir` files of a pass's folder, sorted.
fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "kir")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_pass_does_what_its_kir_files_expect() {
    let bless = std::env::var_os("HSC_BLESS").is_some_and(|v| v == "1");
    let dir = root().join("compiler/tests/kernels");
    let mut failures = Vec::new();
    let mut blessed = Vec::new();
    for pass in Pass::ALL {
        let files = case_files(&dir.join(pass.name()));
        let mut unchanged = 0;
        for path in &files {
            let shown = path.strip_prefix(&dir).unwrap_or(path).display().to_string();
            let case = match read_case(path) {
                Ok(c) if c.pass == pass => c,
                Ok(c) => {
                    failures.push(format!(
                        "{shown}: names the pass {}, in the folder of {}",
                        c.pass.name(),
                        pass.name()
                    ));
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{shown}: {e}"));
                    continue;
                }
            };
            let output = match run_case(&case) {
                Ok(k) => k,
                Err(e) => {
                    failures.push(format!("{shown}: {e}"));
                    continue;
                }
            };
            unchanged += usize::from(output == case.input);
            let printed = output.to_string();
            if printed == case.expected {
                continue;
            }
            if bless {
                std::fs::write(path, format!("{}{EXPECT}\n{printed}", case.head)).unwrap();
                blessed.push(shown);
                continue;
            }
            failures.push(format!(
                "{shown}: the output differs from the expectation:\n{}",
                diff(&case.expected, &printed)
            ));
        }
        if files.len() < 3 || unchanged == 0 {
            failures.push(format!(
                "{}: {} cases, {unchanged} left unchanged; every pass needs three, one of them unchanged",
                pass.name(),
                files.len()
            ));
        }
    }
    for b in &blessed {
        println!("blessed {b}");
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// The lines of two texts side by side from the first that differs: `-` expected, `+` got.
fn diff(expected: &str, got: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    let same = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = format!("(from line {} of the expectation)\n", same + 1);
    for line in &a[same..] {
        out.push_str(&format!("- {line}\n"));
    }
    for line in &b[same..] {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}
