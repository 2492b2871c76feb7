//! The facts of a verified kernel, computed once and handed to every backend, in the manner
//! of naga's `ModuleInfo`: [`Verified::new`] runs the verifier and, where it accepts every
//! kernel, computes each kernel's [`Info`]. Backends take a [`Verified`] module, so native
//! code is made only from kernels the verifier accepted, and they decide nothing about
//! dependence themselves: which loops run lane-wise (CPU) and which the threads of a block
//! share (GPU) are two questions asked of one independence test, [`independent`].
//!
//! - `lanes.rs`: the CPU's question; `threads.rs`: the GPU's; `cost.rs`: the work of a step.

pub mod cost;
pub mod lanes;
pub mod threads;

use std::collections::HashSet;
use std::sync::Arc;

use hsc_runtime::{AbiBuffer, KernelAbi, Pass};

use super::walk::{Access, memory};
use super::{Index, Kernel, LoopVar, Module, Stmt, VerifyError, verify_module};

/// What the backends need to know about one verified kernel.
#[derive(Clone, Debug)]
pub struct Info {
    /// The buffers as the runtime sees them, in the order of the kernel's pointer array.
    pub abi: KernelAbi,
    /// Per buffer: whether the kernel writes it.
    pub written: Vec<bool>,
    /// Per buffer: whether no statement writes it after one has read it (the model's own
    /// arrays, and scratch filled once before it is used): loads of it may move freely.
    pub frozen: Vec<bool>,
    /// The loops and sums that may run over vectors of lanes ([`lanes::vectorizable`]).
    pub lanes: HashSet<LoopVar>,
    /// The loops whose iterations the threads of a block may share ([`threads::parallel`]).
    pub threads: HashSet<LoopVar>,
    /// The loops every thread runs itself, sharing the loop nested in them
    /// ([`threads::shared_inner`]).
    pub shared_inner: HashSet<LoopVar>,
    /// The sums whose summands store nothing (a GPU runs them as block reductions).
    pub pure_sums: HashSet<LoopVar>,
    /// The work of one step.
    pub step: cost::Cost,
}

impl Info {
    /// The facts of `k`, which the verifier accepted.
    fn new(k: &Kernel) -> Info {
        let mut info = Info {
            abi: KernelAbi {
                pass: k.pass,
                buffers: k
                    .buffers
                    .values()
                    .map(|b| AbiBuffer { slot: b.slot, row_len: b.row_len(), time: b.time })
                    .collect(),
                // Every buffer of the kernel's type; a backend whose kernels read the given
                // ones in f64 says so on its copy (the C backend).
                streams_f64: false,
            },
            written: vec![false; k.buffers.len()],
            frozen: frozen(k),
            lanes: HashSet::new(),
            threads: HashSet::new(),
            shared_inner: HashSet::new(),
            pure_sums: HashSet::new(),
            step: cost::per_step(k),
        };
        for b in memory(&k.body).writes {
            info.written[b.as_u32() as usize] = true;
        }
        super::walk::walk(&k.body, &mut |s| match s {
            Stmt::Loop { var, lo, hi, body } => {
                for (holds, set) in [
                    (lanes::vectorizable(*var, body), &mut info.lanes),
                    (threads::parallel(*var, *lo, *hi, body), &mut info.threads),
                    (threads::shared_inner(body), &mut info.shared_inner),
                ] {
                    if holds {
                        set.insert(*var);
                    }
                }
            }
            Stmt::Reduce { var, body, .. } => {
                if lanes::vectorizable(*var, body) {
                    info.lanes.insert(*var);
                }
                if memory(body).writes.is_empty() {
                    info.pure_sums.insert(*var);
                }
            }
            _ => {}
        });
        info
    }
}

/// Per buffer, whether no top-level statement writes it after one has read it.
fn frozen(k: &Kernel) -> Vec<bool> {
    let mut frozen = vec![true; k.buffers.len()];
    let mut read = vec![false; k.buffers.len()];
    for s in &k.body {
        let m = memory(std::slice::from_ref(s));
        for b in &m.writes {
            if read[b.as_u32() as usize] || m.reads.contains(b) {
                frozen[b.as_u32() as usize] = false;
            }
        }
        for b in m.reads {
            read[b.as_u32() as usize] = true;
        }
    }
    frozen
}

/// Whether the iterations of a loop over `var` (`trip` of them) touch disjoint elements:
/// every store names an element only its own iteration names (an axis indexed by `var`
/// itself, neither clamped nor wrapped by less than `trip`), and a buffer the loop writes is
/// read and written at that one element only. The one independence test of the compiler.
pub fn independent(var: LoopVar, trip: i64, accesses: &[Access<'_>]) -> bool {
    let own = |i: &Index| i.var == Some(var) && i.clamp.is_none() && i.wrap.is_none_or(|m| m as i64 >= trip);
    accesses.iter().filter(|a| a.write).all(|store| {
        store.index.iter().any(own) && accesses.iter().all(|a| a.buf != store.buf || a.index == store.index)
    })
}

/// A module whose every kernel the verifier accepted, with the facts of each: what the
/// native backends take. Only [`Verified::new`] makes one.
#[derive(Clone, Debug)]
pub struct Verified {
    module: Arc<Module>,
    info: Arc<[Info]>,
}

impl Verified {
    /// Verifies every kernel of `module` and computes their facts; every violation of every
    /// kernel where it does not verify.
    pub fn new(module: Module) -> Result<Verified, Vec<VerifyError>> {
        verify_module(&module)?;
        let info = module.kernels.iter().map(Info::new).collect();
        Ok(Verified { module: Arc::new(module), info })
    }

    /// The module, shared (for the interpreter, which needs no facts).
    pub fn shared(&self) -> Arc<Module> {
        self.module.clone()
    }

    /// Every kernel with its facts, in [`Pass::ALL`] order.
    pub fn kernels(&self) -> impl Iterator<Item = (&Kernel, &Info)> {
        self.module.kernels.iter().zip(self.info.iter())
    }

    /// The facts of the kernel of `pass`.
    pub fn info(&self, pass: Pass) -> &Info {
        let i = self.module.kernels.iter().position(|k| k.pass == pass).expect("every pass has a kernel");
        &self.info[i]
    }
}

impl std::ops::Deref for Verified {
    type Target = Module;

    fn deref(&self) -> &Module {
        &self.module
    }
}
