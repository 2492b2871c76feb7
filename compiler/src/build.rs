//! For a user's `build.rs`, in the manner of prost-build: compile a model ahead of time, write
//! its typed Rust module into `OUT_DIR`, and link its kernels into the crate.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     hsc::build::compile("model.ham")?;
//!     Ok(())
//! }
//! // src/main.rs
//! // mod model { include!(concat!(env!("OUT_DIR"), "/model.rs")); }
//! ```
//!
//! The generated module depends on the crate `hsc-runtime` only.

use std::path::{Path, PathBuf};

use hsc_runtime::Real;

use crate::Override;
use crate::backend::cranelift::ObjectTarget;

/// Why a model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The model has errors: the diagnostics, rendered.
    #[error("{0}")]
    Model(String),
    /// Code generation failed.
    #[error("code generation failed: {0}")]
    Backend(#[from] crate::backend::Error),
    /// A file could not be written, or `OUT_DIR` is not set.
    #[error("{0}")]
    Io(String),
}

/// What to build, and how.
#[derive(Clone, Debug)]
pub struct Config {
    overrides: Vec<Override>,
    real: Real,
    target: ObjectTarget,
    c: bool,
    out_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            overrides: Vec::new(),
            real: Real::F64,
            target: ObjectTarget::Portable,
            c: false,
            out_dir: None,
        }
    }
}

impl Config {
    /// f64 kernels for any CPU of the build machine's architecture, written to `OUT_DIR`.
    pub fn new() -> Config {
        Config::default()
    }

    /// Overrides a dim, as `-D name=value` does.
    pub fn define(mut self, name: &str, value: u64) -> Config {
        self.overrides.push(Override { name: name.to_owned(), value: value.to_string() });
        self
    }

    /// The kernels' arithmetic.
    pub fn precision(mut self, real: Real) -> Config {
        self.real = real;
        self
    }

    /// Kernels for the CPU of the building machine (AVX, FMA, ...) instead of any CPU.
    pub fn native(mut self, native: bool) -> Config {
        self.target = if native { ObjectTarget::Native } else { ObjectTarget::Portable };
        self
    }

    /// Build the kernels from their C with the build's C compiler (the `cc` crate: `$CC`, the
    /// target's compiler), at `-O3` with the flags of `--backend c`, instead of linking
    /// Cranelift's object: the fast kernels (vectorised at the widest width the target has;
    /// without [`Config::native`], built for AVX-512, AVX2 and the baseline and chosen at load
    /// time on x86-64). Off by default: Cranelift's object needs no C compiler for the
    /// target, so cross builds work with nothing installed; the generated Rust module has the
    /// same API either way.
    pub fn c(mut self, c: bool) -> Config {
        self.c = c;
        self
    }

    /// Where to write, instead of `OUT_DIR`; the files are then only written (not archived,
    /// and nothing is said to Cargo).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.out_dir = Some(dir.into());
        self
    }

    /// Compiles `model`: writes `<stem>.rs`, `<stem>.json` and `<stem>.o` (with
    /// [`Config::c`]: `<stem>.c` and `<stem>.h`) into the output directory, builds the
    /// kernels into `libhsc_<stem>.a` and tells Cargo to link it and to build again when the
    /// model changes. Returns the path of the Rust module.
    // Talking to Cargo on stdout is what a build script's helper is for.
    #[allow(clippy::print_stdout)]
    pub fn compile(&self, model: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
        let model = model.as_ref();
        if self.out_dir.is_none() {
            println!("cargo:rerun-if-changed={}", model.display());
        }
        let out =
            match &self.out_dir {
                Some(d) => d.clone(),
                None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                    BuildError::Io("OUT_DIR is not set: call this from a build script".into())
                })?),
            };
        let compiled = crate::load(model, &self.overrides).map_err(BuildError::Model)?;
        let files = crate::aot::artifacts(&compiled, self.real, self.target)?;
        let stem = stem(model);
        let write = |name: String, bytes: &[u8]| -> Result<PathBuf, BuildError> {
            let path = out.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| BuildError::Io(format!("cannot write `{}`: {e}", path.display())))?;
            Ok(path)
        };
        write(format!("{stem}.json"), files.json.as_bytes())?;
        // The C kernels read the streams in f64 (`KernelAbi::streams_f64`).
        let module = if self.c { crate::aot::rust(&compiled, self.real, true) } else { files.rust };
        let rust = write(format!("{stem}.rs"), module.as_bytes())?;
        let mut build = cc::Build::new();
        let kernels = if self.c {
            let source = crate::backend::c::emit(&compiled.module, self.real);
            write(format!("{stem}.h"), source.header.as_bytes())?;
            let c = write(format!("{stem}.c"), source.text.as_bytes())?;
            let target = match self.target {
                ObjectTarget::Native => "-march=native",
                ObjectTarget::Portable => "-DHSC_PORTABLE",
            };
            build.file(&c).opt_level(3).flag(target).define("HSC_SIMD", None);
            let flags = crate::backend::c::flags(source.contract);
            for flag in flags
                .iter()
                .filter(|f| !f.starts_with("-O") && !f.starts_with("-march") && !f.starts_with("-D"))
            {
                build.flag_if_supported(flag);
            }
            c
        } else {
            let object = write(format!("{stem}.o"), &files.object)?;
            build.object(&object);
            object
        };
        // Compiling, archiving and linking are Cargo's business: only inside a build script.
        if self.out_dir.is_none() {
            build
                .out_dir(&out)
                .try_compile(&format!("hsc_{stem}"))
                .map_err(|e| BuildError::Io(format!("cannot build `{}`: {e}", kernels.display())))?;
        }
        Ok(rust)
    }
}

/// Compiles `model` with the defaults of [`Config::new`].
pub fn compile(model: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
    Config::new().compile(model)
}

/// The file stem of a model as a file name: `nonlin_hru` for `examples/nonlin_hru.ham`.
pub fn stem(model: &Path) -> String {
    let stem = model.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}
