//! The CUDA backend: a [`Verified`] module to CUDA C ([`emit`](mod@emit)), compiled at run time by NVRTC
//! (`nvrtc`), run on a GPU through cudarc's driver API (`gpu`), or on the host's threads
//! by the emulation build ([`emulate`]) that tests the same source where there is no GPU.
//! [`engine`] is the runtime engine over either.
//!
//! Only `nvrtc` and `gpu` need cudarc: they are built with the `cuda` feature (on by
//! default). Without it, [`gpu()`] and [`gpu_engine`] are [`Error::Unavailable`]; the CUDA C
//! and its host build are the same.

pub mod emit;
pub mod emulate;
pub mod engine;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod limits;
#[cfg(feature = "cuda")]
pub mod nvrtc;
mod schedule;

use std::sync::Arc;

use hsc_runtime::Model;

pub use emit::{KernelInfo, MAX_THREADS, Param, Source, emit};
pub use engine::{CudaEngine, Device, Profiled};

use crate::backend::Error;
use crate::kernel::{Precision, Verified};

/// A runtime model whose kernels run on GPU 0; [`Error::Unavailable`] where there is none.
pub fn gpu(module: &Verified, precision: Precision) -> Result<Model, Error> {
    Ok(gpu_engine(module, precision)?.0)
}

/// [`gpu()`], with its engine (which counts the time spent in kernels).
#[cfg(feature = "cuda")]
pub fn gpu_engine(module: &Verified, precision: Precision) -> Result<(Model, Arc<dyn Profiled>), Error> {
    let source = emit(module, precision);
    let device = gpu::Gpu::new(&source, 0)?;
    let engine = Arc::new(CudaEngine::new(module, source, device));
    Ok((Model::new(module.spec.clone(), engine.clone()), engine))
}

/// [`gpu()`], with its engine: hsc was built without the `cuda` feature, so there is none.
#[cfg(not(feature = "cuda"))]
pub fn gpu_engine(_: &Verified, _: Precision) -> Result<(Model, Arc<dyn Profiled>), Error> {
    Err(Error::Unavailable { why: "hsc was built without the `cuda` feature".into() })
}

/// A runtime model whose CUDA kernels run on the host's threads (at most `threads` per
/// block): the generated code, tested without a GPU.
pub fn emulated(module: &Verified, precision: Precision, threads: u32) -> Result<Model, Error> {
    let source = emit(module, precision);
    let device = emulate::Emulator::new(&source, threads)?;
    Ok(Model::new(module.spec.clone(), Arc::new(CudaEngine::new(module, source, device))))
}
