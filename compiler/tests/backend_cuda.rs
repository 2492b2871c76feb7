//! The CUDA backend.

use hsc::backend::cuda::{self, nvrtc};
use hsc::kernel::Precision;

#[test]
fn every_example_compiles_to_ptx() {
    if let Err(e) = nvrtc::load() {
        eprintln!("skipped: {e}");
        return;
    }
    for entry in std::fs::read_dir("../examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ham") {
            continue;
        }
        let c = hsc::load(&path, &[]).unwrap();
        for precision in [Precision::F64, Precision::F32] {
            let source = cuda::emit(&c.module, precision);
            let started = std::time::Instant::now();
            let out = nvrtc::compile(&source.text, "model.cu", "compute_90", nvrtc::Output::Ptx)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("{} {}: {} bytes in {:?}\n{}", path.display(), precision.name(), out.bytes.len(), started.elapsed(), out.log.lines().filter(|l| l.contains("registers")).collect::<Vec<_>>().join("\n"));
        }
    }
}
