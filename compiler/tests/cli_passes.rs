//! `hsc gradcheck`, `hsc simulate` and `hsc emit --stage kernels` as a user meets them.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{path, text};

fn hsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hsc")).args(args).output().expect("the hsc binary runs")
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsc-cli-passes-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn gradcheck_prints_every_method_and_exits_0() {
    let out = hsc(&["gradcheck", &path("examples/coupled_oscillators.ham"), "--steps", "40"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for expected in [
        "RHEL",
        "one-sided",
        "tangent",
        "BPTT",
        "finite diff",
        "k12",
        "initial x[2]",
        "worst",
        "tolerance",
        "ok:",
    ] {
        assert!(stdout.contains(expected), "missing `{expected}` in:\n{stdout}");
    }
}

#[test]
fn gradcheck_json_has_the_four_pairs_and_dump_writes_npy() {
    let dir = scratch_dir("dump");
    let out = hsc(&[
        "gradcheck",
        &path("examples/fput_chain.ham"),
        "-D",
        "P=6",
        "--steps",
        "20",
        "--json",
        "--dump",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for pair in ["rhel_vs_bptt", "tangent_vs_bptt", "bptt_vs_fd", "rhel_vs_fd"] {
        let e = v["max_rel_err"][pair].as_f64().unwrap_or_else(|| panic!("no {pair}"));
        assert!(e < 1e-5, "{pair} = {e}");
    }
    assert_eq!(v["ok"], true);
    for file in [
        "param_k.npy",
        "input_f.npy",
        "cotangent_q.npy",
        "initial_p.npy",
        "loss.npy",
        "grad_rhel_param_k.npy",
        "grad_bptt_input_f.npy",
        "grad_fd_initial_q.npy",
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(bytes.starts_with(b"\x93NUMPY"), "{file} is not .npy");
    }
}

#[test]
fn gradcheck_exits_1_when_a_method_disagrees() {
    // ε = 0.5 makes RHEL's O(ε²) bias far larger than its tolerance.
    let out = hsc(&[
        "gradcheck",
        &path("examples/nonlin_hru.ham"),
        "-D",
        "P=4",
        "-D",
        "N=2",
        "--steps",
        "30",
        "--eps",
        "0.5",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("FAILED: rhel_vs_bptt"), "{}", text(&out.stdout));
}

#[test]
fn gradcheck_refuses_a_bad_eps_and_a_bad_model() {
    let out = hsc(&["gradcheck", &path("examples/lin_hru.ham"), "--eps=-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--eps must be a positive number"), "{}", text(&out.stderr));
    let out = hsc(&["gradcheck", &path("examples/lin_hru.ham"), "--steps", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = hsc(&["gradcheck", "no/such/model.ham"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn simulate_reports_drift_and_reversibility_and_writes_files() {
    let dir = scratch_dir("simulate");
    let (npy, csv, png) = (dir.join("traj.npy"), dir.join("traj.csv"), dir.join("traj.png"));
    let model = path("examples/coupled_oscillators.ham");
    let out = hsc(&[
        "simulate",
        &model,
        "--steps",
        "300",
        "--out",
        &npy.to_string_lossy(),
        "--plot",
        &png.to_string_lossy(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("energy drift") && stdout.contains("reversibility"), "{stdout}");
    let bytes = std::fs::read(&npy).unwrap();
    assert!(
        bytes.starts_with(b"\x93NUMPY") && text(&bytes[..128]).contains("(301, 4"),
        "{}",
        text(&bytes[..128])
    );
    let png_bytes = std::fs::read(&png).unwrap();
    assert!(png_bytes.starts_with(b"\x89PNG") && png_bytes.len() > 10_000, "a real picture");
    let out = hsc(&["simulate", &model, "--steps", "10", "--dt", "0.02", "--out", &csv.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = std::fs::read_to_string(&csv).unwrap();
    assert!(table.starts_with("t,time,x[0],x[1],v[0],v[1],H\n"), "{table}");
    assert_eq!(table.lines().count(), 12);
}

#[test]
fn simulate_refuses_an_unknown_format_and_a_zero_dt() {
    let model = path("examples/coupled_oscillators.ham");
    let out = hsc(&["simulate", &model, "--steps", "5", "--out", "traj.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot tell the format"), "{}", text(&out.stderr));
    let out = hsc(&["simulate", &model, "--steps", "5", "--dt", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let out = hsc(&["simulate", &model]);
    assert_eq!(out.status.code(), Some(2), "--steps is required");
}

#[test]
fn emit_kernels_prints_every_pass() {
    let out = hsc(&["emit", &path("examples/lin_hru.ham"), "--stage", "kernels"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for k in [
        "kernel forward ",
        "kernel forward_grad ",
        "kernel forward_record ",
        "kernel echo ",
        "kernel tangent ",
        "kernel bptt ",
    ] {
        assert!(stdout.contains(k), "missing {k}");
    }
}

#[test]
fn compile_writes_the_object_the_module_and_the_description() {
    let dir = scratch_dir("compile");
    let out = hsc(&["compile", &path("examples/nonlin_hru.ham"), "-o", dir.to_str().unwrap(), "-D", "P=8"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("compiled NonlinHRU (9 kernels, f64"), "{}", text(&out.stdout));
    let object = std::fs::read(dir.join("nonlin_hru.o")).unwrap();
    assert_eq!(&object[..4], b"\x7fELF", "an ELF object file");
    let module = std::fs::read_to_string(dir.join("nonlin_hru.rs")).unwrap();
    for expected in [
        "pub const P: usize = 8;",
        "pub W: Vec<f64>,",
        "fn hsc_nonlinhru_echo(",
        "function: hsc_nonlinhru_echo,",
        "pub type Model = rt::linked::Model<Params>;",
    ] {
        assert!(module.contains(expected), "{expected} missing from\n{module}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("nonlin_hru.json")).unwrap()).unwrap();
    assert_eq!(json["kernels"].as_array().unwrap().len(), 9);
    assert_eq!(json["dims"][0]["value"], 8);

    // A bad model writes nothing and exits 1 with its diagnostic.
    let bad = dir.join("bad.ham");
    std::fs::write(&bad, "model Bad\nstate q momentum p\nH = p^2 + zz\n").unwrap();
    let out = hsc(&["compile", bad.to_str().unwrap(), "-o", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("zz"), "{}", text(&out.stderr));
    assert!(!dir.join("bad.o").exists());
}

/// `hsc bench --json` on NonlinHRU at P = 4, N = 2, one run per pass, with `args` added.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let model = path("examples/nonlin_hru.ham");
    let mut all = vec!["bench", &model, "-D", "P=4", "-D", "N=2", "--min-time", "0", "--json"];
    all.extend_from_slice(args);
    let out = hsc(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_str(&text(&out.stdout)).unwrap()
}

/// By default `hsc bench` measures the native backends (C and Cranelift where a C compiler
/// works, else Cranelift) and the interpreter, and times the C build, first and from the cache.
#[test]
fn bench_reports_every_pass_on_every_backend() {
    let json = bench_json(&["--steps", "20", "--batch", "2"]);
    let compile_ms = json["compile_ms"].as_f64().unwrap();
    let verify_ms = json["verify_ms"].as_f64().expect("the verifier's share of the compile time");
    assert!(compile_ms > 0.0 && verify_ms >= 0.0, "{json}");
    let rows = json["rows"].as_array().unwrap();
    let c = hsc::backend::c::Toolchain::find().is_ok();
    let backends = if c { vec!["c", "cranelift", "interp"] } else { vec!["cranelift", "interp"] };
    assert_eq!(rows.len(), 4 * backends.len(), "4 passes × {backends:?}");
    for b in &backends {
        assert_eq!(rows.iter().filter(|r| r["backend"] == *b).count(), 4, "{b}: {json}");
    }
    if c {
        let build = &json["c_build"];
        let (first, cached) = (build["first_ms"].as_f64().unwrap(), build["cached_ms"].as_f64().unwrap());
        assert!(first > 0.0 && cached > 0.0 && cached < first, "{build}");
    }
    for row in rows {
        assert!(row["ns_per_seq_step_state"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["peak_bytes"].as_u64().is_some(), "{row}");
    }
    let out = hsc(&["bench", &path("examples/nonlin_hru.ham"), "--steps", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn gradcheck_and_simulate_run_on_every_cpu_backend() {
    let c = hsc::backend::c::Toolchain::find().is_ok();
    for backend in ["interp", "cranelift", "c"].into_iter().filter(|b| c || *b != "c") {
        let out =
            hsc(&["gradcheck", &path("examples/ring_lattice.ham"), "--steps", "20", "--backend", backend]);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", text(&out.stdout));
        let out =
            hsc(&["simulate", &path("examples/ring_lattice.ham"), "--steps", "50", "--backend", backend]);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", text(&out.stderr));
    }
}

#[test]
fn emit_cuda_and_compile_cuda_write_the_cuda_c() {
    let out = hsc(&["emit", &path("examples/nonlin_hru.ham"), "--stage", "cuda", "--precision", "f32"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for pass in ["forward", "forward_grad", "forward_record", "echo", "tangent", "bptt"] {
        assert!(stdout.contains(&format!("__global__ void __launch_bounds__(HSC_MAX_THREADS) hsc_{pass}(")));
    }
    assert!(stdout.contains("typedef float real;"));
    let dir = scratch_dir("cuda");
    let out = hsc(&["compile", &path("examples/nonlin_hru.ham"), "-o", dir.to_str().unwrap(), "--cuda"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cu = std::fs::read_to_string(dir.join("nonlin_hru.cu")).unwrap();
    assert!(cu.contains("typedef double real;"));
    // The PTX where NVRTC is found (scripts/test.sh sets HSC_NVRTC), a line saying why not elsewhere.
    let stdout = text(&out.stdout);
    let why = if cfg!(feature = "cuda") {
        "no .ptx: NVRTC"
    } else {
        "no .ptx: hsc was built without the `cuda` feature"
    };
    assert!(dir.join("nonlin_hru.ptx").exists() || stdout.contains(why), "{stdout}");
    let out = hsc(&["compile", &path("examples/nonlin_hru.ham"), "--cuda", "--arch", "sm90"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected `compute_XY` (PTX) or `sm_XY` (CUBIN)"));
}

#[test]
fn the_cuda_backend_without_a_gpu_says_so_in_one_line() {
    #[cfg(feature = "cuda")]
    let why = {
        if hsc::backend::cuda::gpu::driver_present() {
            println!("skipped: this machine has a CUDA driver");
            return;
        }
        "no CUDA driver on this machine"
    };
    #[cfg(not(feature = "cuda"))]
    let why = "hsc was built without the `cuda` feature";
    let data = path("examples/data/BasicMotions");
    let run = scratch_dir("cuda-train").join("run").to_string_lossy().into_owned();
    for args in [
        vec!["gradcheck", "--backend", "cuda"],
        vec!["simulate", "--backend", "cuda", "--steps", "10"],
        vec!["bench", "--backends", "cuda", "--steps", "10"],
        vec!["train", "--backend", "cuda", "--data", &data, "--out", &run],
    ] {
        let mut args = args.clone();
        let model = path("examples/nonlin_hru.ham");
        args.insert(1, &model);
        let out = hsc(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("the CUDA backend cannot run here: {why}")), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!std::path::Path::new(&run).exists(), "a failed train leaves no run folder");
}

#[test]
fn emit_asm_lists_the_machine_code_of_every_kernel() {
    for precision in ["f32", "f64"] {
        let out =
            hsc(&["emit", &path("examples/nonlin_hru.ham"), "--stage", "asm", "--precision", precision]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        for pass in ["forward", "forward_grad", "forward_record", "echo", "tangent", "bptt"] {
            let head = format!("; hsc_nonlinhru_{pass}: ");
            let line =
                stdout.lines().find(|l| l.starts_with(&head)).unwrap_or_else(|| panic!("{head}: {stdout}"));
            assert!(line.ends_with(" bytes"), "{line}");
        }
        // Lane-wise code on x86-64: packed single or double precision arithmetic.
        if cfg!(target_arch = "x86_64") {
            let packed = if precision == "f32" { "mulps " } else { "mulpd " };
            assert!(stdout.contains(packed), "no `{packed}` in the {precision} listing");
        }
    }
}

#[test]
fn rhel_needs_no_memory_beyond_its_input_gradient_and_one_sequence() {
    // Peak heap beyond the batch's own arrays, measured by the binary's counting allocator:
    // the input gradient RHEL returns (as large as the inputs) and, on one thread, one
    // sequence's buffers at a time, whose own inputs are an eighth of the batch's. Copying the
    // inputs or the cotangents (twice the inputs here) per sequence, or keeping every
    // sequence's input gradient until the end, would each cost another batch's worth.
    for precision in ["f64", "f32"] {
        let args =
            ["--steps", "20000", "--batch", "8", "--threads", "1", "--passes", "rhel", "--no-baseline"];
        let json = bench_json(&[&args[..], &["--precision", precision]].concat());
        let inputs = json["input_bytes"].as_f64().unwrap();
        let peak = json["rows"][0]["peak_bytes"].as_f64().unwrap();
        assert!(peak >= inputs, "{precision}: the gradient itself is {inputs} bytes, the peak {peak}");
        assert!(peak <= 1.5 * inputs, "{precision}: peak {peak} bytes beyond the batch's {inputs}");
    }
}
