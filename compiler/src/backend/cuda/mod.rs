//! The CUDA backend: kernel IR to CUDA C ([`emit`]), compiled at run time by NVRTC
//! ([`nvrtc`]), run on a GPU through cudarc's driver API, or on the host's threads by the
//! emulation build ([`emulate`]) that tests the same source where there is no GPU.

pub mod emit;
mod schedule;

pub use emit::{KernelInfo, MAX_THREADS, Param, Source, emit};
pub mod nvrtc;
