//! Compiles the model ahead of time, in the manner of prost-build: `OUT_DIR/nonlin_hru.rs` is
//! the typed module, and the kernels, built from their C by this build's C compiler (for
//! AVX-512, AVX2 and the baseline, chosen when the program loads), are linked into this crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    hsc::build::Config::new().define("P", 32).c(true).compile("../nonlin_hru.ham")?;
    Ok(())
}
