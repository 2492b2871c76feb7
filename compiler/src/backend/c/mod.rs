//! The C backend: a [`Verified`] module to C11 ([`emit`](mod@emit)), compiled by the
//! system's C compiler (GCC or Clang) to a shared object, loaded just in time. The C
//! compiler does what Cranelift does not: instruction selection and register allocation
//! for the widest vectors the host has (AVX-512, AVX2, NEON), and the kernel's loops
//! vectorised at that width.
//!
//! - `emit.rs`: one kernel to one C function; `math.rs`: the language's functions as C,
//!   from [`crate::backend::math`].
//! - [`Toolchain`]: the compiler (`$CC`, else `cc`), its identity, the flags, and the cache
//!   of compiled objects (`$HSC_CACHE_DIR`, else `$XDG_CACHE_HOME/hsc`, else
//!   `~/.cache/hsc`), keyed by the source, the compiler's identity and the flags; two
//!   processes compiling the same model at once each write their own file and rename it into
//!   place, so neither sees half an object.
//!
//! The flags ([`flags`]): `-O3 -march=native` (the host's vectors), `-fno-math-errno
//! -fno-trapping-math` (so `sqrt` and comparisons vectorise), `-fopenmp-simd -DHSC_SIMD` (the
//! kernels' `omp simd` hints), and the contraction of a multiply and an add into one fused
//! multiply-add ([`Source::contract`]): off for f64 kernels, whose functions' double-double
//! steps need every rounding (they then give Cranelift's bits, but for the order of
//! lane-wise sums), on for f32 kernels that call no f64 function (`pow`): about 12 % faster
//! on NonlinHRU, and each fused operation rounds once where two would round twice. Never
//! `-ffast-math`: it lets the compiler assume there is no NaN and no infinity (training
//! relies on finding them) and reassociates sums; the only reassociation the kernels make is
//! their own, in the lane-wise sums (partial sums per lane, added at the end).

pub mod emit;
pub mod math;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use hsc_runtime::{CompiledEngine, KernelFn, Real};

pub use emit::{Source, emit, library};

use super::Error;
use crate::kernel::Verified;

/// The flags of kernels built just in time, beyond `-shared -fPIC` and the output, for a
/// source that may contract multiplies and adds (`contract`, [`Source::contract`]) or not.
pub fn flags(contract: bool) -> [&'static str; 8] {
    [
        "-std=c11",
        "-O3",
        "-march=native",
        "-fno-math-errno",
        "-fno-trapping-math",
        if contract { "-ffp-contract=fast" } else { "-ffp-contract=off" },
        "-fopenmp-simd",
        "-DHSC_SIMD",
    ]
}

/// The system's C compiler, checked to work with [`flags`].
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// The command (`$CC`, else `cc`).
    pub command: String,
    /// The first line of its `--version`: what it is, for the cache key and the run's record.
    pub identity: String,
    /// What its engines call themselves: `c (<identity>)` (made once per toolchain).
    pub label: &'static str,
}

impl Toolchain {
    /// The C compiler of this machine, found and tested once per process (it must compile a
    /// small vectorisable function with [`flags`]); [`Error::Unavailable`] with the
    /// compiler's own message where there is none or it fails.
    pub fn find() -> Result<&'static Toolchain, Error> {
        static FOUND: OnceLock<Result<Toolchain, String>> = OnceLock::new();
        let command =
            std::env::var("CC").ok().filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "cc".into());
        FOUND.get_or_init(|| probe(&command)).as_ref().map_err(|why| Error::Unavailable { why: why.clone() })
    }

    /// The C compiler `command` (`gcc`, `clang`, a path), tested as [`Toolchain::find`] tests
    /// the default one.
    pub fn named(command: &str) -> Result<Toolchain, Error> {
        probe(command).map_err(|why| Error::Unavailable { why })
    }

    /// Compiles every kernel of `module` with this compiler (or takes them from the cache in
    /// `dir`) and loads them: an engine, and whether the kernels were in the cache.
    pub fn jit(&self, module: &Verified, real: Real, dir: &Path) -> Result<(CompiledEngine, bool), Error> {
        let source = emit(module, real);
        let (mut so, mut cached) = self.shared_object(dir, &module.spec.name, &source)?;
        // SAFETY: the library is ours, made from the source above; it has no initialisers.
        let load = |so: &Path| unsafe { libloading::Library::new(so) };
        let library = match load(&so) {
            Ok(library) => library,
            // A cached object that does not load (a damaged file): built again, once.
            Err(_) if cached => {
                let _ = std::fs::remove_file(&so);
                (so, cached) = self.shared_object(dir, &module.spec.name, &source)?;
                load(&so).map_err(Error::internal(&so.display().to_string()))?
            }
            Err(e) => return Err(Error::internal(&so.display().to_string())(e)),
        };
        let mut kernels = Vec::new();
        for ((_, info), name) in module.kernels().zip(&source.symbols) {
            // SAFETY: the generated function has exactly the `KernelFn` signature.
            let f: libloading::Symbol<KernelFn> =
                unsafe { library.get(name.as_bytes()) }.map_err(Error::internal(name))?;
            let abi = hsc_runtime::KernelAbi { streams_f64: true, ..info.abi.clone() };
            kernels.push((abi, *f));
        }
        // SAFETY: each kernel reads and writes only its buffers, within the lengths of its ABI
        // (the module is `Verified`: every index is in bounds), and the code lives in `library`.
        let engine = unsafe { CompiledEngine::new(kernels, real, self.label, Arc::new(library)) };
        Ok((engine, cached))
    }

    /// The shared object of `source` in the cache `dir`: there already (`true`), or compiled
    /// now and put there (`false`).
    fn shared_object(&self, dir: &Path, model: &str, source: &Source) -> Result<(PathBuf, bool), Error> {
        let flags = flags(source.contract);
        std::fs::create_dir_all(dir).map_err(Error::internal(&format!("creating {}", dir.display())))?;
        let key = fnv1a([source.text.as_str(), &self.identity, &flags.join(" ")]);
        let so = dir.join(format!("{}-{key:016x}.so", model.to_lowercase()));
        if so.exists() {
            return Ok((so, true));
        }
        // Each writer (process and call) writes its own files, then renames the object into
        // place: a reader sees no object or a whole one.
        let stem = format!("{}-{key:016x}.{}", model.to_lowercase(), unique());
        let (c, out) = (dir.join(format!("{stem}.c")), dir.join(format!("{stem}.so.part")));
        std::fs::write(&c, &source.text).map_err(Error::internal(&c.display().to_string()))?;
        let result = self.run(&c, &out, &flags, &["-shared", "-fPIC"]).map_err(|e| match e {
            Error::Internal(why) => Error::Internal(format!("the generated C of {model}: {why}")),
            unavailable => unavailable,
        });
        let _ = std::fs::remove_file(&c);
        if let Err(e) = result {
            let _ = std::fs::remove_file(&out);
            return Err(e);
        }
        std::fs::rename(&out, &so).map_err(Error::internal(&so.display().to_string()))?;
        Ok((so, false))
    }

    /// `cc flags extra -o out c`; a failure of the compiler is [`Error::Internal`] with its
    /// messages (a bug of hsc, once the compiler passed the probe).
    fn run(&self, c: &Path, out: &Path, flags: &[&str], extra: &[&str]) -> Result<(), Error> {
        let output =
            Command::new(&self.command)
                .args(flags)
                .args(extra)
                .arg("-o")
                .arg(out)
                .arg(c)
                .output()
                .map_err(|e| Error::Unavailable { why: format!("could not run `{}`: {e}", self.command) })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::Internal(format!(
                "`{}` failed:\n{}",
                self.command,
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }
}

/// The assembly the C compiler makes of `module`'s kernels for this machine
/// (`hsc emit --stage c-asm`), with its [`flags`].
pub fn assembly(module: &Verified, real: Real) -> Result<String, Error> {
    let toolchain = Toolchain::find()?;
    let dir = std::env::temp_dir().join(format!("hsc-c-asm-{}", unique()));
    std::fs::create_dir_all(&dir).map_err(Error::internal(&dir.display().to_string()))?;
    let (c, s) = (dir.join("kernels.c"), dir.join("kernels.s"));
    let source = emit(module, real);
    let result = std::fs::write(&c, &source.text)
        .map_err(Error::internal(&c.display().to_string()))
        .and_then(|()| toolchain.run(&c, &s, &flags(source.contract), &["-S"]))
        .and_then(|()| std::fs::read_to_string(&s).map_err(Error::internal(&s.display().to_string())));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Checks that the compiler `command` builds a shared object with [`flags`].
fn probe(command: &str) -> Result<Toolchain, String> {
    let command = command.to_string();
    let version = Command::new(&command)
        .arg("--version")
        .output()
        .map_err(|e| format!("no C compiler: could not run `{command}` ($CC names another): {e}"))?;
    let identity = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or("").trim().to_string();
    if !version.status.success() || identity.is_empty() {
        return Err(format!(
            "`{command} --version` failed: {}",
            String::from_utf8_lossy(&version.stderr).trim()
        ));
    }
    // One string per toolchain found, alive as long as the program: engines name themselves by it.
    let label: &'static str = Box::leak(format!("c ({identity})").into_boxed_str());
    let toolchain = Toolchain { command, identity, label };
    let dir = std::env::temp_dir().join(format!("hsc-cc-probe-{}", unique()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (c, so) = (dir.join("probe.c"), dir.join("probe.so"));
    let test = "#include <stdint.h>\nvoid probe(double *restrict a, const double *restrict b, int64_t n) {\n\
                #pragma omp simd\n  for (int64_t i = 0; i < n; i++) a[i] = a[i] * b[i] + 1.0;\n}\n";
    let result = std::fs::write(&c, test).map_err(|e| format!("{}: {e}", c.display())).and_then(|()| {
        toolchain
            .run(&c, &so, &flags(false), &["-shared", "-fPIC"])
            .map_err(|e| format!("{} cannot build kernels: {e}", toolchain.identity))
    });
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| toolchain)
}

/// A name no other writer uses at the same time: the process and a count within it.
fn unique() -> String {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("{}-{}", std::process::id(), COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Where compiled objects are kept.
pub fn cache_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("HSC_CACHE_DIR") {
        return dir;
    }
    let base = env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")));
    base.unwrap_or_else(std::env::temp_dir).join("hsc")
}

/// FNV-1a over the parts (each followed by a 0 byte): a stable key, the same in every build.
fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain([&0u8]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Compiles every kernel of `module` with the system's C compiler (or takes them from the
/// cache, [`cache_dir`]) and loads them: an engine for the runtime.
pub fn jit(module: &Verified, real: Real) -> Result<CompiledEngine, Error> {
    Ok(jit_cached_in(module, real, &cache_dir())?.0)
}

/// [`jit`] with the cache in `dir`; also whether the kernels were found there.
pub fn jit_cached_in(module: &Verified, real: Real, dir: &Path) -> Result<(CompiledEngine, bool), Error> {
    Toolchain::find()?.jit(module, real, dir)
}
