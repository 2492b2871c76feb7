//! The kernel IR's text form and the optimiser's passes, one at a time.
//!
//! - Every kernel of every example, as lowered and as optimised, prints to a text that parses
//!   back to the same kernel, and prints again to the same text.

mod common;

use hsc::kernel::{Kernel, parse_kernel, parse_kernels};

use common::example_files;

/// The kernels of an example, as lowered and as optimised.
fn example_kernels(src: &str) -> (Vec<Kernel>, Vec<Kernel>) {
    let fe = hsc::front_end(src.as_bytes(), &[]);
    let program = fe.program.expect("the example checks");
    let eq = hsc::equations(&program).expect("the example differentiates");
    let lowered = hsc::kernel::lower(&program, &eq).expect("the example lowers");
    let built = hsc::kernel::build(&program, &eq).expect("the example builds");
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
