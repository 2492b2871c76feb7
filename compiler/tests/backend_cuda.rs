//! The CUDA backend, three ways:
//! - NVRTC compiles the CUDA C of every example, f32 and f64, to PTX (no GPU needed; CI
//!   installs the `nvidia-cuda-nvrtc` wheel and sets `HSC_REQUIRE_NVRTC=1` so that this
//!   cannot skip there);
//! - the same CUDA C, built for the host (`emulate.rs`: blocks of host threads, real
//!   barriers), agrees with the interpreter on every pass of every example (with small blocks,
//!   and with the block sizes a GPU would use) and of random models, with the tolerances of
//!   the Cranelift test (`common/differential.rs`). The block
//!   reductions change the order of some sums, which those tolerances allow for;
//! - on a machine with a GPU, the same comparison on the GPU; elsewhere it says why it
//!   skipped.
//!
//! The NVRTC tests need the `cuda` feature (on by default); the host build does not.

mod common;

use hsc::backend::cuda;
#[cfg(feature = "cuda")]
use hsc::backend::cuda::nvrtc;
use hsc::kernel::Precision;

use common::differential::agree;
use common::{example_files, random_model};

#[cfg(feature = "cuda")]
#[test]
fn every_example_compiles_to_ptx_with_nvrtc() {
    if let Err(e) = nvrtc::load() {
        assert!(std::env::var_os("HSC_REQUIRE_NVRTC").is_none(), "HSC_REQUIRE_NVRTC is set, but: {e}");
        println!("skipped: {e}");
        return;
    }
    let (major, minor) = nvrtc::version().unwrap();
    println!("NVRTC {major}.{minor}");
    for path in example_files() {
        let c = hsc::load(&path, &[]).unwrap();
        for precision in [Precision::F64, Precision::F32] {
            let source = cuda::emit(&c.module, precision);
            let out = nvrtc::compile(&source.text, "model.cu", "compute_90", nvrtc::Output::Ptx)
                .unwrap_or_else(|e| panic!("{} {}: {e}", path.display(), precision.name()));
            let ptx = String::from_utf8(out.bytes).unwrap();
            for k in &source.kernels {
                assert!(
                    ptx.contains(&format!(".entry {}(", k.name)),
                    "{}: no {} in the PTX",
                    path.display(),
                    k.name
                );
            }
        }
    }
}

#[cfg(feature = "cuda")]
#[test]
fn nvrtc_errors_are_returned_with_the_log() {
    if nvrtc::load().is_err() {
        println!("skipped: no NVRTC");
        return;
    }
    let err = nvrtc::compile(
        "extern \"C\" __global__ void k() { undefined_fn(); }",
        "bad.cu",
        "compute_90",
        nvrtc::Output::Ptx,
    )
    .unwrap_err();
    assert!(err.to_string().contains("undefined_fn"), "{err}");
}

/// Checks one model's CUDA C, emulated, against the interpreter in f64 and f32.
fn check_emulated(src: &str, steps: usize, seed: u64, threads: u32) -> Result<[f64; 2], String> {
    let compiled = hsc::compile_source("model.ham", src.as_bytes(), &[])?;
    let mut worst = [0.0; 2];
    for (i, p) in [Precision::F64, Precision::F32].into_iter().enumerate() {
        let model = cuda::emulated(&compiled.module, p, threads).map_err(|e| e.to_string())?;
        let truth = compiled.interpreted(Precision::F64);
        worst[i] = agree(&compiled.interpreted(p), &model, &truth, steps, seed, p)
            .map_err(|e| format!("{}: {e}", p.name()))?;
    }
    Ok(worst)
}

/// Every example, emulated with at most `threads` per block, against the interpreter.
fn check_every_example(steps: usize, seed: u64, threads: u32) {
    for path in example_files() {
        let src = std::fs::read_to_string(&path).unwrap();
        let worst =
            check_emulated(&src, steps, seed, threads).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!(
            "{:<28} worst f64 {:.1e}, f32 {:.1e}",
            path.file_name().unwrap().to_string_lossy(),
            worst[0],
            worst[1]
        );
    }
}

#[test]
fn every_example_agrees_with_the_interpreter_emulated() {
    check_every_example(40, 7, 8);
}

/// The block sizes a GPU would use (a power of two at least the widest loop, at least a
/// warp): threads beyond a loop's end idle, and block sums add their zeros.
#[test]
fn every_example_agrees_with_the_interpreter_emulated_with_the_gpus_block_sizes() {
    check_every_example(12, 3, cuda::MAX_THREADS);
}

#[test]
fn random_models_agree_with_the_interpreter_emulated() {
    let count = 40;
    let mut worst = [0.0f64; 2];
    for seed in 1..=count {
        let (src, steps) = random_model(seed);
        // Blocks of 4 threads: every shared loop and sum wraps around the block.
        let w = check_emulated(&src, steps.min(60), seed, 4)
            .unwrap_or_else(|e| panic!("random model {seed}: {e}\n{src}"));
        worst = [worst[0].max(w[0]), worst[1].max(w[1])];
    }
    println!("{count} random models: worst f64 {:.1e}, f32 {:.1e}", worst[0], worst[1]);
}

#[test]
fn gpu_agrees_with_the_interpreter() {
    for path in example_files() {
        let c = hsc::load(&path, &[]).unwrap();
        for p in [Precision::F64, Precision::F32] {
            // Only a machine without a GPU, driver or NVRTC skips; any other failure is a bug.
            let model = match cuda::gpu(&c.module, p) {
                Ok(m) => m,
                Err(hsc::backend::Error::Unavailable { why }) => {
                    println!("skipped: {why}");
                    return;
                }
                Err(e) => panic!("{} {}: {e}", path.display(), p.name()),
            };
            let truth = c.interpreted(Precision::F64);
            let worst = agree(&c.interpreted(p), &model, &truth, 200, 7, p)
                .unwrap_or_else(|e| panic!("{} {}: {e}", path.display(), p.name()));
            println!("{:<28} {} worst {worst:.1e}", path.file_name().unwrap().to_string_lossy(), p.name());
        }
    }
}
