//! CUDA C to PTX or CUBIN with NVRTC, loaded at run time through cudarc.
//!
//! cudarc opens `libnvrtc.so.*` by its bare name (so `LD_LIBRARY_PATH` finds it) and panics
//! when it is missing; [`load`] therefore checks first, and can also open the library from an
//! absolute path: `$HSC_NVRTC`, or the usual CUDA install folders. Once opened by path,
//! cudarc's own `dlopen` of the bare name finds the loaded library.

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cudarc::nvrtc::{result, sys};

/// What NVRTC produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// PTX text for a virtual architecture (`compute_90`), compiled further by the driver.
    Ptx,
    /// A CUBIN for one real architecture (`sm_90`), loaded as it is.
    Cubin,
}

/// The result of a compilation.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// PTX text or a CUBIN image.
    pub bytes: Vec<u8>,
    /// NVRTC's log (for a CUBIN: ptxas's register and spill report).
    pub log: String,
}

/// Why there is no NVRTC, or why it failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NvrtcError {
    /// The library could not be found or opened.
    #[error("{0}")]
    Missing(String),
    /// NVRTC refused the source (a compiler bug: the log says where).
    #[error("NVRTC could not compile the generated CUDA C ({arch}):\n{log}")]
    Compile {
        /// The architecture asked for.
        arch: String,
        /// NVRTC's log.
        log: String,
    },
    /// Another NVRTC call failed.
    #[error("NVRTC failed: {0}")]
    Call(String),
}

impl NvrtcError {
    /// Whether NVRTC refused the architecture asked for, rather than the code (an NVRTC older
    /// than the GPU, or a made-up `--arch`).
    pub fn arch_unknown(&self) -> bool {
        matches!(self, NvrtcError::Compile { log, .. } if log.contains("gpu-architecture"))
    }
}

impl From<NvrtcError> for crate::backend::Error {
    /// No NVRTC, or one that does not know the GPU, is unavailable; NVRTC refusing the
    /// generated code is a bug of hsc.
    fn from(e: NvrtcError) -> crate::backend::Error {
        match e {
            NvrtcError::Missing(why) => crate::backend::Error::Unavailable { why },
            e if e.arch_unknown() => crate::backend::Error::Unavailable { why: e.to_string() },
            e => crate::backend::Error::Internal(e.to_string()),
        }
    }
}

/// Makes NVRTC loadable, or says why it is not (once per process).
pub fn load() -> Result<(), NvrtcError> {
    static LOADED: OnceLock<Result<(), NvrtcError>> = OnceLock::new();
    LOADED.get_or_init(find).clone()
}

fn find() -> Result<(), NvrtcError> {
    let explicit = std::env::var_os("HSC_NVRTC").map(PathBuf::from);
    if let Some(path) = &explicit {
        open(path).map_err(|e| NvrtcError::Missing(format!("HSC_NVRTC={}: {e}", path.display())))?;
    } else if !present() {
        for dir in
            ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"]
        {
            for name in ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"] {
                let path = Path::new(dir).join(name);
                if path.exists() && open(&path).is_ok() && present() {
                    return Ok(());
                }
            }
        }
    }
    if present() {
        Ok(())
    } else {
        Err(NvrtcError::Missing(
            "NVRTC (libnvrtc.so) was not found: install the CUDA toolkit or `pip install nvidia-cuda-nvrtc`, \
             then put its lib folder on LD_LIBRARY_PATH or the library's path in HSC_NVRTC"
                .into(),
        ))
    }
}

fn present() -> bool {
    // SAFETY: opening a shared library runs its initialisers; NVRTC's are benign.
    unsafe { sys::is_culib_present() }
}

/// Opens NVRTC by path, globally, for the rest of the process, with the builtins library
/// beside it (which NVRTC itself opens by bare name, so it must be loaded first).
fn open(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("libnvrtc-builtins.so") {
                let _ = open_global(&entry.path());
            }
        }
    }
    open_global(path)
}

fn open_global(path: &Path) -> Result<(), String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: as in `present`.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| e.to_string())?;
    std::mem::forget(lib);
    Ok(())
}

/// NVRTC's version, `(major, minor)`.
pub fn version() -> Result<(i32, i32), NvrtcError> {
    load()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is loaded; the pointers are to live integers.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| NvrtcError::Call(format!("{e:?}")))?;
    Ok((major, minor))
}

/// Compiles `source` for `arch` (`compute_90` for PTX, `sm_90` for a CUBIN).
pub fn compile(source: &str, name: &str, arch: &str, output: Output) -> Result<Compiled, NvrtcError> {
    load()?;
    let call = |e: result::NvrtcError| NvrtcError::Call(format!("{e:?}"));
    let src = CString::new(source).map_err(|_| NvrtcError::Call("the source holds a NUL byte".into()))?;
    let cname = CString::new(name).map_err(|_| NvrtcError::Call("the name holds a NUL byte".into()))?;
    let prog = result::create_program(&src, Some(&cname)).map_err(call)?;
    let mut options = vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()];
    if output == Output::Cubin {
        options.push("--ptxas-options=-v".into());
    }
    // SAFETY: `prog` is a live program until it is destroyed below; every buffer is sized
    // by NVRTC's own size query.
    unsafe {
        let compiled = result::compile_program(prog, &options);
        let log = text(&result::get_program_log(prog).map_err(call)?);
        let bytes = match compiled {
            Err(_) => Err(NvrtcError::Compile { arch: arch.into(), log: log.clone() }),
            Ok(()) => match output {
                Output::Ptx => result::get_ptx(prog).map(|p| text(&p).into_bytes()).map_err(call),
                Output::Cubin => cubin(prog).map_err(call),
            },
        };
        let _ = result::destroy_program(prog);
        Ok(Compiled { bytes: bytes?, log })
    }
}

/// # Safety
/// `prog` must be a compiled program.
unsafe fn cubin(prog: sys::nvrtcProgram) -> Result<Vec<u8>, result::NvrtcError> {
    let mut size = 0usize;
    // SAFETY: per the caller; the buffer has the size NVRTC reports.
    unsafe {
        sys::nvrtcGetCUBINSize(prog, &mut size).result()?;
        let mut bytes = vec![0u8; size];
        sys::nvrtcGetCUBIN(prog, bytes.as_mut_ptr() as *mut c_char).result()?;
        Ok(bytes)
    }
}

/// NVRTC's NUL-terminated text as a string.
fn text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}
