//! hsc-runtime: what hsc-generated kernels and JIT models run on.
//!
//! - [`spec`]: a model seen from outside: its arrays and the buffers ([`Slot`]) its kernels
//!   read and write (the kernel ABI).
//! - [`model`]: the [`Model`] API (params, forward, RHEL, tangent and BPTT gradients over a
//!   batch of sequences) over an [`Engine`] that runs the kernels.
//! - [`compiled`]: the [`Engine`] of native kernels (JIT or linked ahead of time).

#![warn(missing_docs)]

pub mod compiled;
pub mod model;
pub mod spec;

pub use compiled::{AbiBuffer, CompiledEngine, KernelAbi, KernelFn, Real};
pub use model::{Batch, Echo, Engine, Forward, Frame, Gradients, Model, Params, RunError, Trajectory};
pub use spec::{ArraySpec, Init, ModelSpec, PairSpec, Pass, Side, Slot, Step};
