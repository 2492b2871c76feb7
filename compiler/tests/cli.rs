//! The `hsc` binary as a user meets it: exit codes, output streams, colour, `-D`.

mod common;

use std::process::{Command, Output};

use common::{path, root, text};

fn hsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hsc"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("the hsc binary runs")
}

/// A scratch file holding `contents`, unique per test.
fn scratch(name: &str, contents: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("hsc-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, contents).unwrap();
    file.to_string_lossy().into_owned()
}

#[test]
fn check_prints_a_summary_and_exits_0() {
    let out = hsc(&["check", &path("examples/nonlin_hru.ham")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "model NonlinHRU",
        "P = 64, N = 16",
        "B[P, N]",
        "1024",
        "1217  trainable values",
        "q[P] momentum p",
        "leapfrog, dt = 0.1",
    ] {
        assert!(stdout.contains(expected), "summary lacks `{expected}`:\n{stdout}");
    }
    assert!(out.stderr.is_empty(), "no diagnostics expected: {}", text(&out.stderr));
}

#[test]
fn every_example_checks() {
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "ham") {
            let out = hsc(&["check", &p.to_string_lossy()]);
            assert_eq!(out.status.code(), Some(0), "{}: {}", p.display(), text(&out.stderr));
        }
    }
}

#[test]
fn overrides_change_dims() {
    let out = hsc(&["check", &path("examples/nonlin_hru.ham"), "-D", "P=256", "-D", "N=4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("P = 256 (-D), N = 4 (-D)"), "{}", text(&out.stdout));
}

#[test]
fn a_bad_override_is_a_user_error() {
    for bad in ["P=0", "P=abc", "Q=3", "P=99999999999999999999999"] {
        let out = hsc(&["check", &path("examples/nonlin_hru.ham"), "-D", bad]);
        assert_eq!(out.status.code(), Some(1), "-D {bad}");
        assert!(text(&out.stderr).contains("error: -D"), "-D {bad}: {}", text(&out.stderr));
    }
}

#[test]
fn errors_exit_1_with_line_and_column_on_stderr() {
    let out = hsc(&["check", &path("snapshot-tests/errors/unknown_name.ham")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: unknown name `alpah`"), "{stderr}");
    assert!(stderr.contains("unknown_name.ham:5:33"), "{stderr}");
    assert!(stderr.contains("did you mean `alpha`?"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(hsc(&[]).status.code(), Some(2));
    assert_eq!(hsc(&["check"]).status.code(), Some(2));
    assert_eq!(hsc(&["frobnicate", "x.ham"]).status.code(), Some(2));
    assert_eq!(hsc(&["emit", &path("examples/nonlin_hru.ham"), "--stage", "nope"]).status.code(), Some(2));
    let out = hsc(&["check", &path("examples/nonlin_hru.ham"), "-D", "P"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NAME=VALUE"), "{}", text(&out.stderr));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = hsc(&["check", "/nonexistent/model.ham"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read `/nonexistent/model.ham`"), "{}", text(&out.stderr));
}

#[test]
fn emit_prints_each_stage() {
    let ast = hsc(&["emit", &path("examples/fput_chain.ham"), "--stage", "ast"]);
    assert_eq!(ast.status.code(), Some(0));
    assert!(text(&ast.stdout).contains("binder i @9:9"), "{}", text(&ast.stdout));
    let ir = hsc(&["emit", &path("examples/fput_chain.ham"), "--stage", "ir"]);
    assert_eq!(ir.status.code(), Some(0));
    let ir = text(&ir.stdout);
    assert!(ir.contains("index i in 0..31"), "{ir}");
    assert!(ir.contains("load q[%i1 + 1]"), "{ir}");
    let ir_big = hsc(&["emit", &path("examples/fput_chain.ham"), "--stage", "ir", "-D", "P=4096"]);
    assert!(text(&ir_big.stdout).contains("index i in 0..4095"));
    // The kernels before the optimiser: what the `@lowered` snapshot holds.
    let lowered = hsc(&["emit", &path("examples/fput_chain.ham"), "--stage", "lowered"]);
    assert_eq!(lowered.status.code(), Some(0), "{}", text(&lowered.stderr));
    let snapshot = std::fs::read_to_string(path("snapshot-tests/snapshots/fput_chain@lowered.snap")).unwrap();
    let body = snapshot.splitn(3, "---\n").nth(2).unwrap();
    assert_eq!(text(&lowered.stdout).trim_end(), body.trim_end());
}

#[test]
fn plain_text_when_piped_or_no_color() {
    // Output captured by a pipe is never coloured.
    let out = hsc(&["check", &path("snapshot-tests/errors/unknown_name.ham")]);
    assert!(!text(&out.stderr).contains('\u{1b}'), "ANSI codes in piped output");
    let out = Command::new(env!("CARGO_BIN_EXE_hsc"))
        .args(["check", &path("snapshot-tests/errors/unknown_name.ham")])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains('\u{1b}'));
}

#[test]
fn windows_line_endings_and_tabs_are_fine() {
    let src = "model Crlf\r\n\tdim P = 4   # four\r\nstate q[P] momentum p\r\nH = sum(i, 0.5 * p[i]^2\r\n\t+ 0.5 * q[i]^2)\r\n";
    let out = hsc(&["check", &scratch("crlf.ham", src.as_bytes())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn invalid_utf8_is_a_diagnostic() {
    let out = hsc(&["check", &scratch("bad.ham", b"model M\n\xc3\x28 = 1\n")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not valid UTF-8"), "{}", text(&out.stderr));
}

/// The CPU backend defaults to C where a C compiler works; where none does (here `$CC` names
/// a missing one), to Cranelift with one line saying why, and `--backend c` is an error that
/// says what is missing, never a panic.
#[test]
fn the_default_backend_is_c_or_cranelift_with_a_reason() {
    let run = |cc: Option<&str>, backend: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hsc"));
        cmd.args(["simulate", &path("examples/coupled_oscillators.ham"), "--steps", "5"]).args(backend);
        if let Some(cc) = cc {
            cmd.env("CC", cc);
        }
        cmd.output().unwrap()
    };
    let out = run(Some("/nonexistent/cc"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("the C backend is not used") && stderr.contains("Cranelift"), "{stderr}");
    let out = run(Some("/nonexistent/cc"), &["--backend", "c"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the C backend cannot run here") && stderr.contains("/nonexistent/cc"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    if hsc::backend::c::Toolchain::find().is_ok() {
        let out = run(None, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("not used"), "{}", text(&out.stderr));
    }
}
