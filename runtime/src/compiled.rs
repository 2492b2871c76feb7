//! The [`Engine`] of compiled kernels (Cranelift JIT or an AOT object linked into the program):
//! every kernel is a native function with one signature, [`KernelFn`], and a buffer layout,
//! [`KernelAbi`]. The engine owns the buffers: it hands each kernel a pointer per buffer,
//! converting to `f32` and back when the kernels are single precision, and allocates the
//! kernel's scratch. Kernels never allocate.

use std::any::Any;
use std::sync::Arc;

use crate::model::{Engine, Frame, RunError};
use crate::spec::{Pass, Slot};

/// A compiled kernel: `buffers` holds one pointer per buffer of [`KernelAbi::buffers`], in
/// that order, each to `f32` or `f64` elements; `steps` is `T >= 1`; `eps0` and `eps1` are
/// the echo's nudges (unused by the other passes).
pub type KernelFn = unsafe extern "C" fn(buffers: *const *mut u8, steps: i64, eps0: f64, eps1: f64);

/// The element type of a kernel's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Real {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl Real {
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Real::F32 => "f32",
            Real::F64 => "f64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Real::F32 => 4,
            Real::F64 => 8,
        }
    }
}

/// One buffer of a compiled kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiBuffer {
    /// The runtime slot, or `None` for scratch (zeroed before each call).
    pub slot: Option<Slot>,
    /// Elements per row (all of them without a time axis).
    pub row_len: usize,
    /// With a time axis: how many rows beyond `T`.
    pub time: Option<usize>,
}

impl AbiBuffer {
    /// Number of elements for a sequence of `steps` steps.
    pub fn len(&self, steps: usize) -> usize {
        self.row_len * self.time.map_or(1, |extra| steps + extra)
    }
}

/// The buffers of one compiled kernel, in the order its pointer array lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelAbi {
    /// Which pass.
    pub pass: Pass,
    /// Its buffers.
    pub buffers: Vec<AbiBuffer>,
}

struct Entry {
    abi: KernelAbi,
    slots: Vec<Slot>,
    function: KernelFn,
}

/// Runs compiled kernels.
pub struct CompiledEngine {
    kernels: Vec<Entry>,
    real: Real,
    backend: &'static str,
    _code: Arc<dyn Any + Send + Sync>,
}

impl CompiledEngine {
    /// An engine over compiled kernels.
    ///
    /// # Safety
    /// Each function must have the [`KernelFn`] signature, read and write only the buffers its
    /// [`KernelAbi`] lists, within the lengths [`AbiBuffer::len`] gives, as `real` elements,
    /// and stay valid while `code` lives.
    pub unsafe fn new(
        kernels: Vec<(KernelAbi, KernelFn)>,
        real: Real,
        backend: &'static str,
        code: Arc<dyn Any + Send + Sync>,
    ) -> CompiledEngine {
        let kernels = kernels
            .into_iter()
            .map(|(abi, function)| {
                let slots = abi.buffers.iter().filter_map(|b| b.slot).collect();
                Entry { abi, slots, function }
            })
            .collect();
        CompiledEngine { kernels, real, backend, _code: code }
    }

    fn entry(&self, pass: Pass) -> Result<&Entry, RunError> {
        self.kernels.iter().find(|e| e.abi.pass == pass).ok_or_else(|| RunError::Engine {
            engine: self.backend.into(),
            message: format!("no {} kernel", pass.name()),
        })
    }
}

/// The buffers of one call, in the element type of the kernels.
enum Buffers {
    F32(Vec<Vec<f32>>),
    F64(Vec<Vec<f64>>),
}

impl Engine for CompiledEngine {
    fn slots(&self, pass: Pass) -> &[Slot] {
        self.kernels.iter().find(|e| e.abi.pass == pass).map_or(&[], |e| &e.slots)
    }

    fn run(&self, pass: Pass, frame: &mut Frame) -> Result<(), RunError> {
        let entry = self.entry(pass)?;
        let steps = frame.steps;
        if steps == 0 || steps > i64::MAX as usize {
            return Err(RunError::Invalid(format!("a kernel needs 1 or more steps, not {steps}")));
        }
        let mut taken = Vec::with_capacity(entry.abi.buffers.len());
        for b in &entry.abi.buffers {
            let len = b.len(steps);
            let data = match b.slot {
                Some(slot) => {
                    let data = frame.buffers.remove(&slot).ok_or_else(|| RunError::Engine {
                        engine: self.backend.into(),
                        message: format!("no buffer for {slot}"),
                    })?;
                    if data.len() != len {
                        return Err(RunError::Engine {
                            engine: self.backend.into(),
                            message: format!("{slot} has {} numbers, expected {len}", data.len()),
                        });
                    }
                    data
                }
                None => Vec::new(),
            };
            taken.push(data);
        }
        let mut buffers = match self.real {
            Real::F64 => Buffers::F64(
                std::mem::take(&mut taken)
                    .into_iter()
                    .zip(&entry.abi.buffers)
                    .map(|(data, b)| if b.slot.is_some() { data } else { vec![0.0; b.len(steps)] })
                    .collect(),
            ),
            Real::F32 => Buffers::F32(
                taken
                    .iter()
                    .zip(&entry.abi.buffers)
                    .map(|(data, b)| match b.slot {
                        Some(_) => data.iter().map(|&x| x as f32).collect(),
                        None => vec![0.0; b.len(steps)],
                    })
                    .collect(),
            ),
        };
        let pointers: Vec<*mut u8> = match &mut buffers {
            Buffers::F64(v) => v.iter_mut().map(|b| b.as_mut_ptr().cast()).collect(),
            Buffers::F32(v) => v.iter_mut().map(|b| b.as_mut_ptr().cast()).collect(),
        };
        // SAFETY: `new`'s contract: the kernel touches only these buffers, each of the length
        // its ABI gives for `steps` (checked above), of the engine's element type.
        unsafe { (entry.function)(pointers.as_ptr(), steps as i64, frame.eps[0], frame.eps[1]) };
        match buffers {
            Buffers::F64(v) => {
                for (data, b) in v.into_iter().zip(&entry.abi.buffers) {
                    if let Some(slot) = b.slot {
                        frame.buffers.insert(slot, data);
                    }
                }
            }
            Buffers::F32(v) => {
                for ((data, mut old), b) in v.into_iter().zip(taken).zip(&entry.abi.buffers) {
                    if let Some(slot) = b.slot {
                        old.clear();
                        old.extend(data.iter().map(|&x| x as f64));
                        frame.buffers.insert(slot, old);
                    }
                }
            }
        }
        Ok(())
    }

    fn precision(&self) -> &'static str {
        self.real.name()
    }
}
