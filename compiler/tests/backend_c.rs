//! Differential test of the C backend against the reference interpreter, for every pass
//! (forward, trajectory and energy, the unnudged and nudged echo states, RHEL, the tangent
//! echo, BPTT), on every example and on 120 random models per compiler (T up to 200), with every C compiler
//! this machine has among `cc`, `gcc` and `clang` (each found once: `cc` is GCC here; CI
//! installs both). Compiling is the slow part (about a second a model at `-O3`).
//!
//! The tolerances are those of `backend_cranelift.rs`, for the same reasons: the C kernels do
//! the interpreter's arithmetic operation by operation (`-ffp-contract=off`: nothing is fused
//! into a multiply-add) and differ only in the math functions, which are Cranelift's, and in
//! the order of the lane-wise sums.
//!
//! Also: the C compiles without a warning under `-Wall -Wextra -std=c11` (what `hsc compile
//! --c` promises), and the lane-wise loops of NonlinHRU's kernels are vectorised (the
//! assembly uses vector instructions on the packed type).

mod common;

use std::path::{Path, PathBuf};

use hsc::Compiled;
use hsc::backend::c::Toolchain;
use hsc::kernel::Precision;
use hsc_runtime::Model;

use common::differential::agree;
use common::{example_files, fixed_runner, random_model};

/// The distinct C compilers of this machine (by identity), or none, with the reason printed.
fn compilers() -> Vec<Toolchain> {
    let mut found: Vec<Toolchain> = Vec::new();
    for command in ["cc", "gcc", "clang"] {
        match Toolchain::named(command) {
            // `cc` and `gcc` name the same GCC: their versions differ in the first word only.
            Ok(t) if !found.iter().any(|f| same_compiler(&f.identity, &t.identity)) => found.push(t),
            Ok(_) => {}
            Err(e) => println!("skipping {command}: {e}"),
        }
    }
    if found.is_empty() {
        println!("skipping: no C compiler on this machine");
    }
    found
}

fn same_compiler(a: &str, b: &str) -> bool {
    let rest = |s: &str| s.split_once(' ').map_or(s.to_string(), |(_, r)| r.to_string());
    rest(a) == rest(b)
}

fn cache(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsc-backend-c-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn c_model(t: &Toolchain, compiled: &Compiled, p: Precision, dir: &Path) -> Result<Model, String> {
    let (engine, _) = t.jit(&compiled.module, p, dir).map_err(|e| e.to_string())?;
    Ok(Model::new(compiled.module.spec.clone(), std::sync::Arc::new(engine)))
}

fn check_model(t: &Toolchain, src: &str, steps: usize, seed: u64, dir: &Path) -> Result<[f64; 2], String> {
    let compiled = hsc::compile_source("model.ham", src.as_bytes(), &[])?;
    let mut worst = [0.0; 2];
    for (i, p) in [Precision::F64, Precision::F32].into_iter().enumerate() {
        let reference = compiled.interpreted(p);
        let truth = compiled.interpreted(Precision::F64);
        let c = c_model(t, &compiled, p, dir)?;
        worst[i] = agree(&reference, &c, &truth, steps, seed, p).map_err(|e| format!("{}: {e}", p.name()))?;
    }
    Ok(worst)
}

#[test]
fn every_example_agrees_with_the_interpreter() {
    for t in compilers() {
        let dir = cache("examples");
        for f in example_files() {
            let src = std::fs::read_to_string(&f).unwrap();
            let worst = check_model(&t, &src, 60, 7, &dir)
                .unwrap_or_else(|e| panic!("{} with {}: {e}", f.display(), t.identity));
            println!(
                "{:<28} {:<40} worst f64 {:.1e}, f32 {:.1e}",
                f.file_name().unwrap().to_string_lossy(),
                t.identity,
                worst[0],
                worst[1]
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Random models per C compiler: each compiles nine kernels in two precisions, the slow part
/// of the test; with GCC and Clang, 240 in all.
const RANDOM_MODELS: u32 = 120;

/// The random models' C is compiled on every core first (compiling is the slow part), then
/// each model is checked.
#[test]
fn random_models_agree_with_the_interpreter() {
    for (i, t) in compilers().into_iter().enumerate() {
        let dir = cache("random");
        let mut runner = fixed_runner(RANDOM_MODELS, 0x6363_6363 + i as u64);
        let models = std::cell::RefCell::new(Vec::new());
        runner
            .run(&(1u64..u64::MAX), |seed| {
                models.borrow_mut().push((seed, random_model(seed)));
                Ok(())
            })
            .unwrap();
        let models = models.into_inner();
        let compiled: Vec<Compiled> = models
            .iter()
            .map(|(_, (src, _))| hsc::compile_source("model.ham", src.as_bytes(), &[]).unwrap())
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|s| {
            for w in 0..threads {
                let (t, dir, compiled) = (&t, &dir, &compiled);
                s.spawn(move || {
                    for c in compiled.iter().skip(w).step_by(threads) {
                        for p in [Precision::F64, Precision::F32] {
                            t.jit(&c.module, p, dir)
                                .unwrap_or_else(|e| panic!("{}: {e}", c.module.spec.name));
                        }
                    }
                });
            }
        });
        let mut worst = [0.0f64; 2];
        for (seed, (src, steps)) in &models {
            let w = check_model(&t, src, *steps, *seed, &dir)
                .unwrap_or_else(|e| panic!("{src}\n{}: {e}", t.identity));
            worst = [worst[0].max(w[0]), worst[1].max(w[1])];
        }
        println!(
            "{RANDOM_MODELS} random models, {}: worst relative difference f64 {:.1e}, f32 {:.1e}",
            t.identity, worst[0], worst[1]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// What `hsc compile --c` writes compiles without a warning under `-Wall -Wextra -Werror
/// -std=c11`, as it is and with the vectorisation hints and the load-time choice of the
/// instruction set turned on; so does a file that includes the header.
#[test]
fn the_c_compiles_without_warnings() {
    for t in compilers() {
        let dir = cache("warnings");
        for f in example_files() {
            let compiled = hsc::compile_source("model.ham", &std::fs::read(&f).unwrap(), &[]).unwrap();
            for p in [Precision::F64, Precision::F32] {
                let source = hsc::backend::c::emit(&compiled.module, p);
                let (c, h, user) = (dir.join("kernels.c"), dir.join("kernels.h"), dir.join("user.c"));
                std::fs::write(&c, &source.text).unwrap();
                std::fs::write(&h, &source.header).unwrap();
                std::fs::write(&user, "#include \"kernels.h\"\n").unwrap();
                let strict = ["-std=c11", "-Wall", "-Wextra", "-Werror"];
                let runs: [(&Path, &[&str]); 3] = [
                    (&c, &["-fsyntax-only"]),
                    (&c, &["-O1", "-c", "-DHSC_SIMD", "-fopenmp-simd", "-DHSC_PORTABLE", "-o", "/dev/null"]),
                    (&user, &["-fsyntax-only"]),
                ];
                for (file, extra) in runs {
                    let out = std::process::Command::new(&t.command)
                        .args(strict)
                        .args(extra)
                        .arg(file)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{} {} with {} {extra:?}:\n{}",
                        f.display(),
                        p.name(),
                        t.identity,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The lane-wise loops of NonlinHRU's f32 kernels are vectorised by the C compiler: its
/// assembly multiplies packed singles (`mulps`, `vmulps` on x86-64; `fmul v.4s` on AArch64)
/// far more often than scalar ones.
#[test]
fn lane_wise_loops_are_vectorised() {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) || Toolchain::find().is_err() {
        println!("skipping: needs a C compiler on x86-64 or AArch64");
        return;
    }
    let compiled = hsc::load(Path::new(&common::path("examples/nonlin_hru.ham")), &[]).unwrap();
    let asm = hsc::backend::c::assembly(&compiled.module, Precision::F32).unwrap();
    let count = |needle: &str| asm.lines().filter(|l| l.contains(needle)).count();
    let (packed, scalar) = if cfg!(target_arch = "x86_64") {
        (count("mulps"), count("mulss"))
    } else {
        (count(".4s"), count("fmul\ts"))
    };
    println!("packed multiplies {packed}, scalar {scalar}");
    assert!(packed > 100 && packed > 2 * scalar, "packed {packed}, scalar {scalar}");
}

/// Builds of one model at once (threads here; processes alike) each compile into their own
/// files and rename the object into place: one object is left in the cache, no partial file,
/// and the next build loads it from there. A damaged object in the cache is built again.
#[test]
fn concurrent_builds_leave_one_cached_object() {
    let Ok(t) = Toolchain::find() else {
        println!("skipping: no C compiler");
        return;
    };
    let dir = cache("concurrent");
    let compiled = hsc::load(Path::new(&common::path("examples/coupled_oscillators.ham")), &[]).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| t.jit(&compiled.module, Precision::F32, &dir).unwrap());
        }
    });
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.len() == 1 && files[0].ends_with(".so"), "{files:?}");
    let (_, cached) = t.jit(&compiled.module, Precision::F32, &dir).unwrap();
    assert!(cached, "the second build did not come from the cache");
    std::fs::write(dir.join(&files[0]), b"not an object").unwrap();
    let (engine, cached) = t.jit(&compiled.module, Precision::F32, &dir).unwrap();
    assert!(!cached, "a damaged object was used");
    let model = hsc_runtime::Model::new(compiled.module.spec.clone(), std::sync::Arc::new(engine));
    agree(
        &compiled.interpreted(Precision::F32),
        &model,
        &compiled.interpreted(Precision::F64),
        20,
        3,
        Precision::F32,
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
