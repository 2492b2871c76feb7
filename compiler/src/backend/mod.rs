//! Backends: code generation from the kernel IR.
//!
//! Every backend's entry points pass [`verified`] first, so native code is made only from
//! kernels the verifier accepts, in every build, and report failure as one [`Error`], which
//! tells a machine that lacks what the backend needs ([`Error::Unavailable`]: tests skip on
//! it, and only on it) from a bug of hsc.

pub mod cranelift;
pub mod cuda;

use hsc_grammar::Diagnostic;

use crate::kernel::{Module, VerifyError, verify_module};

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
    /// The kernels break an invariant of the kernel IR, so no native code was made from them
    /// (a bug of hsc, caught before it could write out of bounds).
    #[error("the kernels do not verify: {}", list(.0))]
    Unverified(Vec<VerifyError>),
    /// Code generation, the generated code's compiler or the device failed: a bug of hsc.
    #[error("{0}")]
    Internal(String),
}

/// The first violations, one per line, and how many more there are.
fn list(errors: &[VerifyError]) -> String {
    const SHOWN: usize = 10;
    let mut lines: Vec<String> = errors.iter().take(SHOWN).map(|e| e.to_string()).collect();
    if errors.len() > SHOWN {
        lines.push(format!("... and {} more", errors.len() - SHOWN));
    }
    lines.join("; ")
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

/// The guard every backend passes before it makes code: every kernel of `module` verifies.
pub fn verified(module: &Module) -> Result<(), Error> {
    verify_module(module).map_err(Error::Unverified)
}

#[cfg(test)]
mod tests {
    use super::{Error, cranelift, cuda};
    use crate::kernel::{Module, Precision, Stmt};

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

    /// The guard holds in every build (it is not a debug assertion): a kernel corrupted after
    /// it was verified reaches no backend, and the error lists every violation, of every
    /// kernel, not the first.
    #[test]
    fn kernels_that_do_not_verify_reach_no_backend() {
        let compiled = crate::load(std::path::Path::new("../examples/nonlin_hru.ham"), &[]).unwrap();
        let mut module: Module = (*compiled.module).clone();
        assert!(super::verified(&module).is_ok());
        for k in &mut module.kernels {
            widen(&mut k.body);
        }
        let tried: [(&str, Result<(), Error>); 4] = [
            ("jit", cranelift::jit(&module, Precision::F32).map(drop)),
            (
                "object",
                cranelift::object(&module, Precision::F64, cranelift::ObjectTarget::Portable).map(drop),
            ),
            ("asm", cranelift::disassemble(&module, Precision::F32).map(drop)),
            ("cuda", cuda::emit(&module, Precision::F32).map(drop)),
        ];
        for (what, result) in tried {
            let Err(Error::Unverified(errors)) = result else {
                panic!("{what}: the corrupted kernels were not refused")
            };
            let kernels: std::collections::BTreeSet<&str> = errors.iter().map(|e| e.kernel).collect();
            assert_eq!(kernels.len(), module.kernels.len(), "{what}: {errors:?}");
            assert!(errors.len() > module.kernels.len(), "{what}: only {} violations", errors.len());
            assert!(errors.iter().any(|e| e.message.contains("is accessed at")), "{what}: {errors:?}");
        }
    }
}
