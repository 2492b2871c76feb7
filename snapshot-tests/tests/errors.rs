//! Every bad model in `errors/` is refused, and its rendered diagnostics are a snapshot:
//! `snapshots/errors/{name}.snap`. A first line `# args: -D P=0` passes dim overrides.
//!
//! The models run under insta's `glob!`: every one is checked, and the test fails at the end
//! with the count of every snapshot that changed, each reported as it is met.

use std::path::Path;

use hsc_grammar::{has_errors, render};
use hsc_snapshot_tests::{glob_settings, ham_files, overrides_of, root};

#[test]
fn every_bad_model_is_refused_with_its_diagnostic() {
    let cases = ham_files(&root().join("snapshot-tests/errors"));
    assert!(cases.len() >= 30, "errors/ should hold at least 30 bad models, has {}", cases.len());
    insta::glob!("../errors", "*.ham", |path| {
        glob_settings("errors").bind(|| refused_with_its_diagnostic(path));
    });
}

/// Checks that one bad model is refused, and asserts its diagnostics' snapshot.
fn refused_with_its_diagnostic(path: &Path) {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let file_name = format!("errors/{name}.ham");
    let bytes = std::fs::read(path).unwrap();
    let front = hsc::front_end(&bytes, &overrides_of(&bytes));
    let rendered = render(&front.diagnostics, &file_name, &front.source, false);
    assert!(has_errors(&front.diagnostics), "{file_name} was accepted; it should be refused:\n{rendered}");
    assert!(front.program.is_none(), "{file_name}: a program was produced despite errors");
    insta::assert_snapshot!(name, rendered);
}
