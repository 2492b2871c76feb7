//! Every bad model in `errors/` is refused, and its rendered diagnostics are a snapshot:
//! `snapshots/errors/{name}.snap`. A first line `# args: -D P=0` passes dim overrides.

use hsc_grammar::{has_errors, render};
use hsc_snapshot_tests::{ham_files, overrides_of, root, settings};

#[test]
fn every_bad_model_is_refused_with_its_diagnostic() {
    let cases = ham_files(&root().join("snapshot-tests/errors"));
    assert!(cases.len() >= 30, "errors/ should hold at least 30 bad models, has {}", cases.len());
    settings("errors").bind(|| {
        for path in &cases {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let file_name = format!("errors/{name}.ham");
            let bytes = std::fs::read(path).unwrap();
            let front = hsc::front_end(&bytes, &overrides_of(&bytes));
            let rendered = render(&front.diagnostics, &file_name, &front.source, false);
            assert!(
                has_errors(&front.diagnostics),
                "{file_name} was accepted; it should be refused:\n{rendered}"
            );
            assert!(front.program.is_none(), "{file_name}: a program was produced despite errors");
            insta::assert_snapshot!(name, rendered);
        }
    });
}
