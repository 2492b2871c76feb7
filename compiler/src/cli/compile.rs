//! `hsc compile`: the object file, typed Rust module and JSON of a model, its C and its CUDA C.

use std::path::{Path, PathBuf};

use hsc::FrontEnd;
use hsc::backend::cranelift::ObjectTarget;
use hsc::kernel::Precision;
use hsc_grammar::Diagnostic;

use super::{Dims, Output, compiled, named};

/// Compile a model ahead of time: an object file with every kernel, a typed Rust module
/// over hsc-runtime, and a JSON description of the kernel ABI.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    /// Where to write `<stem>.o`, `<stem>.rs` and `<stem>.json`.
    #[arg(short = 'o', long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// The kernels' arithmetic.
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    /// Use every feature of this machine's CPU (AVX, FMA, ...); the object then runs only
    /// on CPUs that have them. Without it, the object runs on any CPU of the architecture.
    #[arg(long)]
    native: bool,
    /// Also write `<stem>.c` and `<stem>.h`: every kernel as portable C11 with the same C ABI
    /// (`-DHSC_SIMD -fopenmp-simd` turns the vectorisation hints on, `-DHSC_PORTABLE` builds
    /// each kernel for AVX-512, AVX2 and the baseline, chosen at load time).
    #[arg(long)]
    c: bool,
    /// Also write `<stem>.cu`, the CUDA C of every pass, and where NVRTC is found,
    /// `<stem>.ptx` (or `<stem>.cubin` for a real architecture given with `--arch`).
    #[arg(long)]
    cuda: bool,
    /// The GPU architecture for `--cuda`: `compute_XY` for PTX, `sm_XY` for a CUBIN.
    #[arg(long, default_value = "compute_90", requires = "cuda", value_parser = parse_arch)]
    arch: String,
    #[command(flatten)]
    pub dims: Dims,
}

/// Writes the files and says what was written.
pub fn compile(front: &FrontEnd, args: &Args) -> Result<Output, Diagnostic> {
    let Args { model, out, precision, native, c: c_files, cuda, arch, .. } = args;
    let (precision, native) = (*precision, *native);
    let started = std::time::Instant::now();
    let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
    let target = if native { ObjectTarget::Native } else { ObjectTarget::Portable };
    let files =
        hsc::aot::artifacts(&c, precision, target).map_err(|e| e.diagnostic(hsc::Backend::Cranelift))?;
    let took = started.elapsed();
    std::fs::create_dir_all(out)
        .map_err(|e| Diagnostic::error(format!("cannot create `{}`: {e}", out.display())))?;
    let stem = hsc::build::stem(model);
    let mut text = format!(
        "compiled {} ({} kernels, {}, {}) in {:.1} ms\n",
        c.module.spec.name,
        c.module.kernels.len(),
        precision.name(),
        if native { "this CPU" } else { "any CPU of this architecture" },
        took.as_secs_f64() * 1e3
    );
    for (ext, bytes) in
        [("o", &files.object[..]), ("rs", files.rust.as_bytes()), ("json", files.json.as_bytes())]
    {
        let path = out.join(format!("{stem}.{ext}"));
        std::fs::write(&path, bytes)
            .map_err(|e| Diagnostic::error(format!("cannot write `{}`: {e}", path.display())))?;
        text += &format!("  wrote {} ({} bytes)\n", path.display(), bytes.len());
    }
    if *c_files {
        let source = hsc::backend::c::emit(&c.module, precision);
        for (ext, body) in [("c", &source.text), ("h", &source.header)] {
            let path = out.join(format!("{stem}.{ext}"));
            std::fs::write(&path, body)
                .map_err(|e| Diagnostic::error(format!("cannot write `{}`: {e}", path.display())))?;
            text += &format!("  wrote {} ({} bytes)\n", path.display(), body.len());
        }
    }
    if *cuda {
        text += &compile_cuda(&c, precision, arch, &out.join(&stem))?;
    }
    Ok(text.into())
}

fn parse_arch(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix("sm_").or_else(|| text.strip_prefix("compute_"));
    match digits {
        Some(d) if !d.is_empty() && d.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(text.to_owned()),
        _ => Err(format!("expected `compute_XY` (PTX) or `sm_XY` (CUBIN), as in `sm_90`, not `{text}`")),
    }
}

/// `hsc compile --cuda`: the `.cu`, then the `.ptx` or `.cubin` where NVRTC is found.
fn compile_cuda(
    c: &hsc::Compiled,
    precision: Precision,
    arch: &str,
    stem: &Path,
) -> Result<String, Diagnostic> {
    let write = |ext: &str, bytes: &[u8]| -> Result<String, Diagnostic> {
        let path = stem.with_extension(ext);
        std::fs::write(&path, bytes)
            .map_err(|e| Diagnostic::error(format!("cannot write `{}`: {e}", path.display())))?;
        Ok(format!("  wrote {} ({} bytes)\n", path.display(), bytes.len()))
    };
    let source = hsc::backend::cuda::emit(&c.module, precision);
    let text = write("cu", source.text.as_bytes())?;
    Ok(text + &ptx(&source.text, arch, write)?)
}

/// The `.ptx` or `.cubin` of `hsc compile --cuda`, or why there is none: the line it prints.
#[cfg(feature = "cuda")]
fn ptx(
    source: &str,
    arch: &str,
    write: impl Fn(&str, &[u8]) -> Result<String, Diagnostic>,
) -> Result<String, Diagnostic> {
    use hsc::backend::cuda::nvrtc;
    if let Err(e) = nvrtc::load() {
        return Ok(format!("  no .ptx: {e}\n"));
    }
    let (ext, output) =
        if arch.starts_with("sm_") { ("cubin", nvrtc::Output::Cubin) } else { ("ptx", nvrtc::Output::Ptx) };
    let compiled = nvrtc::compile(source, "model.cu", arch, output).map_err(|e| match e {
        e if e.arch_unknown() => Diagnostic::error(format!("NVRTC does not know the architecture `{arch}`")),
        e => Diagnostic::internal(e),
    })?;
    write(ext, &compiled.bytes)
}

/// Without the `cuda` feature there is no NVRTC: `hsc compile --cuda` writes the `.cu` alone.
#[cfg(not(feature = "cuda"))]
fn ptx(
    _: &str,
    _: &str,
    _: impl Fn(&str, &[u8]) -> Result<String, Diagnostic>,
) -> Result<String, Diagnostic> {
    Ok("  no .ptx: hsc was built without the `cuda` feature\n".into())
}
