//! The CUDA C run on the host, for testing where there is no GPU: the same source compiled
//! by the host's C++ compiler with `-DHSC_HOST_EMULATION`, which turns the prelude's
//! stand-ins on (a block is a set of host threads, `__syncthreads` a `std::barrier`,
//! `__shared__` a static array; blocks run one after another). Every statement, index,
//! barrier and reduction of the generated code runs as written; only CUDA's own math
//! library is replaced by the host's.

use std::ffi::c_void;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::emit::{KernelInfo, Source};
use super::engine::{Device, threads_for};
use crate::backend::Error;

/// The emulation build of a module's CUDA C, loaded.
pub struct Emulator {
    library: libloading::Library,
    threads: u32,
}

type Entry = unsafe extern "C" fn(args: *mut *mut c_void, grid: u32, threads: u32);

impl Emulator {
    /// Compiles `source` with `$CXX` (or `c++`) and loads it; blocks run at most
    /// `max_threads` threads (few keep tests fast while still sharing every loop).
    /// [`Error::Unavailable`] where there is no C++ compiler to run.
    pub fn new(source: &Source, max_threads: u32) -> Result<Emulator, Error> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hsc-emulate-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(Error::internal(&dir.display().to_string()))?;
        let (cu, so): (PathBuf, PathBuf) = (dir.join("model.cu"), dir.join("model.so"));
        let result = (|| {
            std::fs::write(&cu, &source.text).map_err(Error::internal(&cu.display().to_string()))?;
            let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
            let output = Command::new(&cxx)
                .args([
                    "-std=c++20",
                    "-O1",
                    "-fPIC",
                    "-shared",
                    "-pthread",
                    "-DHSC_HOST_EMULATION",
                    "-x",
                    "c++",
                ])
                .arg(&cu)
                .arg("-o")
                .arg(&so)
                .output()
                .map_err(|e| Error::Unavailable { why: format!("could not run {cxx}: {e}") })?;
            if !output.status.success() {
                return Err(Error::Internal(format!(
                    "{cxx} failed on the generated CUDA C:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
            // SAFETY: the library is ours; its initialisers only set up the statics above.
            unsafe { libloading::Library::new(&so) }.map_err(Error::internal("loading the emulation"))
        })();
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Emulator { library: result?, threads: max_threads.max(1) })
    }
}

impl Device for Emulator {
    fn describe(&self) -> String {
        format!("host emulation, {} threads per block", self.threads)
    }

    fn threads(&self, kernel: &KernelInfo) -> u32 {
        threads_for(kernel.width, self.threads)
    }

    fn launch(
        &self,
        kernel: &KernelInfo,
        grid: u32,
        arrays: &mut [Vec<u8>],
        steps: i64,
        eps: [f64; 2],
    ) -> Result<Duration, String> {
        let symbol = format!("{}_emulated", kernel.name);
        // SAFETY: the generated entry has exactly this signature.
        let entry: libloading::Symbol<Entry> =
            unsafe { self.library.get(symbol.as_bytes()) }.map_err(|e| e.to_string())?;
        let mut pointers: Vec<*mut u8> = arrays.iter_mut().map(|a| a.as_mut_ptr()).collect();
        let (mut steps, mut eps0, mut eps1) = (steps, eps[0], eps[1]);
        let mut args: Vec<*mut c_void> =
            pointers.iter_mut().map(|p| p as *mut *mut u8 as *mut c_void).collect();
        args.extend([
            &mut steps as *mut i64 as *mut c_void,
            &mut eps0 as *mut f64 as *mut c_void,
            &mut eps1 as *mut f64 as *mut c_void,
        ]);
        let started = Instant::now();
        // SAFETY: one argument per kernel parameter, each pointing at a live value of its
        // type; the arrays have the lengths the kernel indexes (checked by the engine).
        unsafe { entry(args.as_mut_ptr(), grid, self.threads(kernel)) };
        Ok(started.elapsed())
    }
}
