//! Compiles the model ahead of time, in the manner of prost-build: `OUT_DIR/nonlin_hru.rs` is
//! the typed module, and the kernels are linked into this crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    hsc::build::Config::new().define("P", 32).compile("../nonlin_hru.ham")?;
    Ok(())
}
