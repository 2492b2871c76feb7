//! Backends: code generation from the kernel IR.

pub mod cranelift;
pub mod cuda;
