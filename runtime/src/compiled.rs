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
    /// Every precision, the default first.
    pub const ALL: [Real; 2] = [Real::F64, Real::F32];

    /// `"f32"` or `"f64"`: the one name a precision has, on the command line, in a run
    /// folder and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Real::F32 => "f32",
            Real::F64 => "f64",
        }
    }

    /// A sentence on what the precision is for.
    pub fn about(self) -> &'static str {
        match self {
            Real::F32 => "32-bit floats: twice the lanes, about 7 significant digits",
            Real::F64 => "64-bit floats: about 16 significant digits",
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

impl std::fmt::Display for Real {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Real {
    type Err = String;

    /// The inverse of [`Real::name`].
    fn from_str(s: &str) -> Result<Real, String> {
        parse_name(s, &Real::ALL, Real::name, "precision")
    }
}

/// The value among `all` whose `name` is `s`, or a sentence naming `what` was asked and every
/// name there is: how every choice with one name per value (a precision, a backend, a stage)
/// is parsed.
pub fn parse_name<T: Copy>(s: &str, all: &[T], name: fn(T) -> &'static str, what: &str) -> Result<T, String> {
    all.iter().copied().find(|&v| name(v) == s).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|&v| name(v)).collect();
        format!("unknown {what} `{s}` (expected one of {})", names.join(", "))
    })
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
    /// The kernel reads the given buffers with a time axis (the streams: inputs, targets,
    /// cotangents, one row per step, which it never writes) as `f64` whatever its arithmetic,
    /// and rounds each number it loads (the C backend's kernels): f32 kernels then need no f32
    /// copy of them, and compute with the same numbers. Otherwise every buffer is of the
    /// kernel's type (params, read at every step, are copied to f32 once per call).
    pub streams_f64: bool,
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

impl Engine for CompiledEngine {
    fn slots(&self, pass: Pass) -> &[Slot] {
        self.kernels.iter().find(|e| e.abi.pass == pass).map_or(&[], |e| &e.slots)
    }

    fn run(&self, pass: Pass, frame: &mut Frame<'_>) -> Result<(), RunError> {
        let entry = self.entry(pass)?;
        let steps = frame.steps;
        if steps == 0 || steps > i64::MAX as usize {
            return Err(RunError::Invalid(format!("a kernel needs 1 or more steps, not {steps}")));
        }
        let fail = |message: String| RunError::Engine { engine: self.backend.into(), message };
        for b in &entry.abi.buffers {
            let Some(slot) = b.slot else { continue };
            let data = frame.get(slot).ok_or_else(|| fail(format!("no buffer for {slot}")))?;
            let len = b.len(steps);
            if data.len() != len {
                return Err(fail(format!("{slot} has {} numbers, expected {len}", data.len())));
            }
        }
        match self.real {
            Real::F64 => self.call_f64(entry, frame),
            Real::F32 => self.call_f32(entry, frame),
        }
        Ok(())
    }

    fn precision(&self) -> Real {
        self.real
    }

    fn name(&self) -> String {
        self.backend.into()
    }
}

impl CompiledEngine {
    /// f64 kernels work on the frame's arrays where they are: the given ones borrowed, the
    /// owned ones in place; only scratch is allocated.
    fn call_f64(&self, entry: &Entry, frame: &mut Frame<'_>) {
        let steps = frame.steps;
        let mut scratch: Vec<Vec<f64>> = Vec::new();
        let mut owned: Vec<(Slot, Vec<f64>)> = Vec::new();
        let mut pointers: Vec<*mut u8> = Vec::with_capacity(entry.abi.buffers.len());
        for b in &entry.abi.buffers {
            let pointer = match b.slot {
                // Kernels never write the model's own arrays (`kernel::verify` checks it).
                Some(slot) if slot.is_given() => {
                    frame.get(slot).unwrap_or_default().as_ptr().cast_mut().cast()
                }
                Some(slot) => {
                    let mut data = frame.buffers.remove(&slot).unwrap_or_default();
                    let p = data.as_mut_ptr().cast();
                    owned.push((slot, data));
                    p
                }
                None => {
                    let mut data = vec![0.0; b.len(steps)];
                    let p = data.as_mut_ptr().cast();
                    scratch.push(data);
                    p
                }
            };
            pointers.push(pointer);
        }
        // SAFETY: `new`'s contract: the kernel touches only these buffers, each of the length
        // its ABI gives for `steps` (checked by `run`), of the engine's element type, and
        // writes none of the given ones. Moving a `Vec` leaves its heap buffer where it is.
        unsafe { (entry.function)(pointers.as_ptr(), steps as i64, frame.eps[0], frame.eps[1]) };
        frame.buffers.extend(owned);
    }

    /// f32 kernels get f32 copies. Each owned array's f64 storage is released before the
    /// given arrays are copied and while the kernel runs, and the copies of the given arrays
    /// are dropped before the owned ones are widened again, so that a long sequence never
    /// holds an f64 and an f32 copy of anything at once, but for a moment.
    fn call_f32(&self, entry: &Entry, frame: &mut Frame<'_>) {
        let steps = frame.steps;
        let narrow = |data: &[f64]| -> Vec<f32> { data.iter().map(|&x| x as f32).collect() };
        let buffers = &entry.abi.buffers;
        let mut pointers: Vec<*mut u8> = vec![std::ptr::null_mut(); buffers.len()];
        let mut owned: Vec<(Slot, Vec<f32>)> = Vec::new();
        for (pointer, b) in pointers.iter_mut().zip(buffers) {
            if let Some(slot) = b.slot.filter(|s| !s.is_given()) {
                let mut data = narrow(&frame.buffers.remove(&slot).unwrap_or_default());
                *pointer = data.as_mut_ptr().cast();
                owned.push((slot, data));
            }
        }
        let mut read: Vec<Vec<f32>> = Vec::new();
        for (pointer, b) in pointers.iter_mut().zip(buffers) {
            let mut data = match b.slot {
                Some(slot) if slot.is_given() && b.time.is_some() && entry.abi.streams_f64 => {
                    // Kernels never write the model's own arrays (`kernel::verify` checks it).
                    *pointer = frame.get(slot).unwrap_or_default().as_ptr().cast_mut().cast();
                    continue;
                }
                Some(slot) if slot.is_given() => narrow(frame.get(slot).unwrap_or_default()),
                Some(_) => continue,
                None => vec![0.0; b.len(steps)],
            };
            *pointer = data.as_mut_ptr().cast();
            read.push(data);
        }
        // SAFETY: as in `call_f64`, over the f32 copies.
        unsafe { (entry.function)(pointers.as_ptr(), steps as i64, frame.eps[0], frame.eps[1]) };
        drop(read);
        for (slot, data) in owned {
            let wide: Vec<f64> = data.iter().map(|&x| f64::from(x)).collect();
            drop(data);
            frame.buffers.insert(slot, wide);
        }
    }
}
