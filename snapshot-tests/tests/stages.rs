//! Every example at every stage: `snapshots/{example}@{stage}.snap` (ast, ir, equations,
//! check, the kernels as lowered and as optimised, and the CUDA C in f32).

use hsc_grammar::{ast, has_errors, render};
use hsc_snapshot_tests::{ham_files, root, settings};

#[test]
fn every_example_at_every_stage() {
    let examples = ham_files(&root().join("examples"));
    assert!(examples.len() >= 8, "examples/ should hold at least 8 models");
    settings("").bind(|| {
        for path in &examples {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let file_name = format!("examples/{name}.ham");
            let bytes = std::fs::read(path).unwrap();
            let front = hsc::front_end(&bytes, &[]);
            let rendered = render(&front.diagnostics, &file_name, &front.source, false);
            assert!(!has_errors(&front.diagnostics), "{file_name} does not check:\n{rendered}");
            let program = front.program.as_ref().expect("a checked program");
            hsc::ir::verify(program).unwrap_or_else(|e| panic!("{file_name}: IR fails verification: {e:?}"));

            insta::assert_snapshot!(
                format!("{name}@ast"),
                ast::Printer::new(&front.ast, &front.source).to_string()
            );
            insta::assert_snapshot!(format!("{name}@ir"), program.to_string());
            let facts = front.facts.as_ref().expect("facts of a valid model");
            let equations =
                hsc::equations(program, facts).unwrap_or_else(|d| panic!("{file_name}: {}", d.message));
            insta::assert_snapshot!(format!("{name}@equations"), equations.to_string());
            insta::assert_snapshot!(
                format!("{name}@check"),
                format!("{rendered}{}", hsc::summary(program, facts, &equations))
            );
            let lowered = hsc::kernel::lower(program, &equations);
            insta::assert_snapshot!(format!("{name}@lowered"), lowered.to_string());
            let compiled =
                hsc::compile(program.clone(), facts).unwrap_or_else(|d| panic!("{file_name}: {}", d.message));
            insta::assert_snapshot!(format!("{name}@kernels"), compiled.module.to_string());
            let cuda = hsc::backend::cuda::emit(&compiled.module, hsc::kernel::Precision::F32);
            insta::assert_snapshot!(format!("{name}@cuda"), cuda.text);
        }
    });
}
