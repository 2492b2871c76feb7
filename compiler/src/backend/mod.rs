//! Backends: code generation from the kernel IR.
//!
//! Every backend takes a [`Verified`](crate::kernel::Verified) module, which only the
//! verifier makes (in every build), with the facts of each kernel: native code is made only
//! from kernels the verifier accepted, and no backend decides dependence itself. Failure is
//! one [`Error`], which tells a machine that lacks what the backend needs
//! ([`Error::Unavailable`]: tests skip on it, and only on it) from a bug of hsc.

pub mod c;
pub mod cranelift;
pub mod cuda;
pub mod math;

use hsc_grammar::Diagnostic;

/// Why a backend made no code or no engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the backend needs is not on this machine: no GPU or no driver, no NVRTC, no C++
    /// compiler, a host Cranelift does not support. Not a bug of hsc.
    #[error("{why}")]
    Unavailable {
        /// What is missing, in a sentence.
        why: String,
    },
    /// Code generation, the generated code's compiler or the device failed: a bug of hsc.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The error as the user sees it: a sentence on what is missing, or an internal error.
    pub fn diagnostic(&self, backend: crate::Backend) -> Diagnostic {
        match self {
            Error::Unavailable { why } => {
                let d = Diagnostic::error(format!("the {} backend cannot run here: {why}", backend.title()));
                match backend {
                    crate::Backend::Cuda => {
                        d.with_help("`--backend cranelift` runs the same kernels on the CPU")
                    }
                    crate::Backend::C => d.with_help(
                        "`--backend cranelift` runs the same kernels without a C compiler; `$CC` names the compiler",
                    ),
                    _ => d.with_help("`--backend interp` runs the same kernels on the reference interpreter"),
                }
            }
            e => Diagnostic::internal(format!("the {} backend failed: {e}", backend.title())),
        }
    }

    /// An internal error with `what` before the cause.
    pub(crate) fn internal<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Error + '_ {
        move |e| Error::Internal(format!("{what}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::{Module, Stmt, Verified};

    /// Widens every loop by one iteration, so that each reads or writes past its buffer.
    fn widen(stmts: &mut [Stmt]) {
        for s in stmts {
            match s {
                Stmt::Loop { hi, body, .. } => {
                    *hi += 1;
                    widen(body);
                }
                Stmt::Steps { body, .. } | Stmt::Reduce { body, .. } => widen(body),
                Stmt::Let(..) | Stmt::Store { .. } => {}
            }
        }
    }

    /// Backends take only a `Verified` module, and the verifier that makes one runs in every
    /// build (it is not a debug assertion): a kernel corrupted after it was built is refused,
    /// with every violation of every kernel, not the first.
    #[test]
    fn kernels_that_do_not_verify_make_no_verified_module() {
        let compiled = crate::load(std::path::Path::new("../examples/nonlin_hru.ham"), &[]).unwrap();
        let mut module: Module = (*compiled.module.shared()).clone();
        assert!(Verified::new(module.clone()).is_ok());
        for k in &mut module.kernels {
            widen(&mut k.body);
        }
        let errors = Verified::new(module.clone()).expect_err("the widened kernels were accepted");
        let kernels: std::collections::BTreeSet<&str> = errors.iter().map(|e| e.kernel).collect();
        assert_eq!(kernels.len(), module.kernels.len(), "{errors:?}");
        assert!(errors.len() > module.kernels.len(), "only {} violations", errors.len());
        assert!(errors.iter().any(|e| e.message.contains("is accessed at")), "{errors:?}");
    }
}
