//! The runtime [`Engine`] of CUDA kernels: packs a batch's buffers into one array per kernel
//! parameter (params once, everything else one slice per sequence, in `f32` or `f64`),
//! launches one block per sequence on a [`Device`], and unpacks what the kernel wrote.

use std::time::Duration;

use hsc_runtime::{Engine, Frame, Pass, RunError, Slot};

use super::emit::{KernelInfo, MAX_THREADS, Source};
use super::limits::Limits;
use crate::kernel::Precision;

/// Where CUDA kernels run: a GPU (`gpu::Gpu`, with the `cuda` feature) or the host's threads
/// ([`super::emulate::Emulator`]).
pub trait Device: Send + Sync {
    /// What it is, in words.
    fn describe(&self) -> String;
    /// The threads a block of `kernel` runs (a power of two, at most [`MAX_THREADS`]).
    fn threads(&self, kernel: &KernelInfo) -> u32;
    /// Runs `kernel` over `grid` blocks: `arrays` holds one host array per pointer
    /// parameter (bytes of `f32` or `f64`); those the kernel writes are copied back. Returns
    /// the time the kernel itself took.
    fn launch(
        &self,
        kernel: &KernelInfo,
        grid: u32,
        arrays: &mut [Vec<u8>],
        steps: i64,
        eps: [f64; 2],
    ) -> Result<Duration, String>;
    /// The peak rates it can reach, where it knows them (a GPU, from its attributes).
    fn limits(&self) -> Option<Limits> {
        None
    }
}

/// What `hsc bench` reads of a CUDA engine beside its model.
pub trait Profiled: Send + Sync {
    /// The time spent in kernels since the engine was made (transfers excluded).
    fn kernel_time(&self) -> Duration;
    /// The device's peak rates, where known.
    fn limits(&self) -> Option<Limits>;
}

/// The threads for `width`: the next power of two, between 32 (a warp) and `cap` (rounded
/// down to a power of two, as the block sums need).
pub fn threads_for(width: u32, cap: u32) -> u32 {
    let cap = cap.clamp(1, MAX_THREADS);
    let cap = 1 << (31 - cap.leading_zeros());
    width.max(1).next_power_of_two().clamp(32.min(cap), cap)
}

/// Runs a module's CUDA kernels on a device.
pub struct CudaEngine<D> {
    source: Source,
    slots: Vec<(Pass, Vec<Slot>)>,
    device: D,
    kernel_time: std::sync::Mutex<Duration>,
}

impl<D: Device> CudaEngine<D> {
    /// An engine for `source` (emitted from `module`) on `device`.
    pub fn new(module: &crate::kernel::Verified, source: Source, device: D) -> CudaEngine<D> {
        let slots = module.kernels.iter().map(|k| (k.pass, k.slots())).collect();
        CudaEngine { source, slots, device, kernel_time: Default::default() }
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    fn error(&self, message: String) -> RunError {
        RunError::Engine { engine: format!("CUDA ({})", self.device.describe()), message }
    }

    fn pack(&self, values: &[f64], out: &mut Vec<u8>) {
        match self.source.precision {
            Precision::F64 => values.iter().for_each(|x| out.extend_from_slice(&x.to_ne_bytes())),
            Precision::F32 => values.iter().for_each(|x| out.extend_from_slice(&(*x as f32).to_ne_bytes())),
        }
    }

    fn unpack(&self, bytes: &[u8], into: &mut [f64]) {
        match self.source.precision {
            Precision::F64 => {
                for (x, b) in into.iter_mut().zip(bytes.chunks_exact(8)) {
                    *x = f64::from_ne_bytes(b.try_into().unwrap_or_default());
                }
            }
            Precision::F32 => {
                for (x, b) in into.iter_mut().zip(bytes.chunks_exact(4)) {
                    *x = f64::from(f32::from_ne_bytes(b.try_into().unwrap_or_default()));
                }
            }
        }
    }
}

impl<D: Device> Profiled for CudaEngine<D> {
    fn kernel_time(&self) -> Duration {
        *self.kernel_time.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn limits(&self) -> Option<Limits> {
        self.device.limits()
    }
}

impl<D: Device> Engine for CudaEngine<D> {
    fn slots(&self, pass: Pass) -> &[Slot] {
        self.slots.iter().find(|(p, _)| *p == pass).map_or(&[], |(_, s)| s)
    }

    fn run(&self, pass: Pass, frame: &mut Frame<'_>) -> Result<(), RunError> {
        self.run_batch(pass, std::slice::from_mut(frame))
    }

    fn precision(&self) -> hsc_runtime::Real {
        self.source.precision
    }

    fn name(&self) -> String {
        format!("{} ({})", crate::Backend::Cuda.name(), self.device.describe())
    }

    fn batched(&self) -> bool {
        true
    }

    fn run_batch(&self, pass: Pass, frames: &mut [Frame<'_>]) -> Result<(), RunError> {
        let Some(first) = frames.first() else { return Ok(()) };
        let (steps, eps) = (first.steps, first.eps);
        if frames.iter().any(|f| f.steps != steps) {
            return Err(self.error("the sequences of a batch differ in length".into()));
        }
        let kernel = self
            .source
            .kernels
            .iter()
            .find(|k| k.pass == pass)
            .ok_or_else(|| self.error(format!("no kernel for {}", pass.name())))?;
        let size = self.source.precision.size();
        let mut arrays = Vec::with_capacity(kernel.params.len());
        for param in &kernel.params {
            let len = param.buffer.len(steps);
            let mut bytes = Vec::new();
            match param.buffer.slot {
                None => bytes.resize(len * frames.len() * size, 0),
                Some(slot) => {
                    let shared = if param.per_sequence() { frames.len() } else { 1 };
                    bytes.reserve(len * shared * size);
                    for frame in &frames[..shared] {
                        let data =
                            frame.get(slot).ok_or_else(|| self.error(format!("no buffer for {slot}")))?;
                        if data.len() != len {
                            return Err(
                                self.error(format!("{slot} has {} numbers, expected {len}", data.len()))
                            );
                        }
                        self.pack(data, &mut bytes);
                    }
                }
            }
            arrays.push(bytes);
        }
        let grid = u32::try_from(frames.len())
            .map_err(|_| self.error("a batch of more than 2^32 sequences".into()))?;
        let took =
            self.device.launch(kernel, grid, &mut arrays, steps as i64, eps).map_err(|e| self.error(e))?;
        *self.kernel_time.lock().unwrap_or_else(|e| e.into_inner()) += took;
        for (param, bytes) in kernel.params.iter().zip(&arrays) {
            let Some(slot) = param.buffer.slot else { continue };
            if !param.written || !param.per_sequence() || param.buffer.row_len == 0 {
                continue;
            }
            let len = param.buffer.len(steps) * size;
            for (frame, chunk) in frames.iter_mut().zip(bytes.chunks_exact(len)) {
                if let Some(data) = frame.buffers.get_mut(&slot) {
                    self.unpack(chunk, data);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::threads_for;

    #[test]
    fn blocks_are_a_power_of_two_of_threads_within_the_cap() {
        let cases = [
            (1, 256, 32),
            (64, 256, 64),
            (100, 256, 128),
            (1000, 256, 256),
            (64, 8, 8),
            (64, 6, 4),
            (3, 4, 4),
            (0, 1000, 32),
        ];
        for (width, cap, threads) in cases {
            assert_eq!(threads_for(width, cap), threads, "width {width}, cap {cap}");
        }
    }
}
