//! Every example at every stage: `snapshots/{example}@{stage}.snap` (ast, ir, equations,
//! check, the kernels as lowered and as optimised, and the C and the CUDA C in f32), printed by
//! [`hsc::stage()`] and [`hsc::stage::check`], as `hsc emit` and `hsc check` print them.
//!
//! The examples (`examples/*.ham` and `examples/fit/*.ham`) run under insta's `glob!`: every one is checked, and the test fails at the
//! end with the count of every snapshot that changed, each reported as it is met.

use std::path::Path;

use hsc::Stage;
use hsc::kernel::Precision;
use hsc_grammar::{has_errors, render};
use hsc_snapshot_tests::{glob_settings, ham_files, root};

/// The stages snapshotted besides `check`, each as `hsc emit --stage` prints it.
const STAGES: [Stage; 7] =
    [Stage::Ast, Stage::Ir, Stage::Equations, Stage::Lowered, Stage::Kernels, Stage::C, Stage::Cuda];

#[test]
fn every_example_at_every_stage() {
    let examples = ham_files(&root().join("examples"));
    assert!(examples.len() >= 8, "examples/ should hold at least 8 models");
    insta::glob!("../../examples", "{*.ham,fit/*.ham}", |path| {
        glob_settings("").bind(|| snapshot_every_stage(path));
    });
}

/// Checks one example and asserts each of its snapshots.
fn snapshot_every_stage(path: &Path) {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let relative = path.strip_prefix(root().join("examples")).unwrap_or(path);
    let file_name = format!("examples/{}", relative.display());
    let bytes = std::fs::read(path).unwrap();
    let front = hsc::front_end(&bytes, &[]);
    let rendered = render(&front.diagnostics, &file_name, &front.source, false);
    assert!(!has_errors(&front.diagnostics), "{file_name} does not check:\n{rendered}");
    let program = front.program.as_ref().expect("a checked program");
    hsc::ir::verify(program).unwrap_or_else(|e| panic!("{file_name}: IR fails verification: {e:?}"));
    let or_panic = |text: Result<String, hsc_grammar::Diagnostic>| {
        text.unwrap_or_else(|d| panic!("{file_name}: {}", render(&[d], &file_name, &front.source, false)))
    };
    for stage in STAGES {
        let text = or_panic(hsc::stage(&front, stage, Precision::F32));
        insta::assert_snapshot!(format!("{name}@{stage}"), text);
    }
    let summary = or_panic(hsc::stage::check(&front));
    insta::assert_snapshot!(format!("{name}@check"), format!("{rendered}{summary}"));
}
