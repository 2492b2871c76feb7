//! The GPU [`Device`]: cudarc's driver API. The CUDA C is compiled by NVRTC to a CUBIN for
//! the device's own architecture (PTX from an NVRTC newer than the driver would not load),
//! buffers are copied in and out around each launch, and the kernel is timed alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};

use super::emit::{KernelInfo, Source};
use super::engine::{Device, threads_for};
use super::limits::Limits;
use super::nvrtc;
use crate::backend::Error;

/// A GPU with a module's kernels loaded.
pub struct Gpu {
    name: String,
    arch: String,
    /// Its peak rates, where its attributes tell them.
    pub limits: Option<Limits>,
    stream: Arc<CudaStream>,
    functions: Vec<(String, CudaFunction)>,
    /// NVRTC's log: ptxas's registers, spills and shared memory per kernel.
    pub log: String,
}

/// Whether a CUDA driver can be opened, without panicking where there is none.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

impl Gpu {
    /// Opens GPU `ordinal` and loads `source` on it; [`Error::Unavailable`] where there is no
    /// driver, no device or no NVRTC.
    pub fn new(source: &Source, ordinal: usize) -> Result<Gpu, Error> {
        let unavailable = |why: String| Error::Unavailable { why };
        if !driver_present() {
            return Err(unavailable(
                "no CUDA driver on this machine (libcuda.so could not be opened)".into(),
            ));
        }
        nvrtc::load()?;
        let ctx =
            CudaContext::new(ordinal).map_err(|e| unavailable(format!("no CUDA device {ordinal}: {e}")))?;
        let name = ctx.name().unwrap_or_else(|_| "an unnamed GPU".into());
        let (major, minor) =
            ctx.compute_capability().map_err(|e| unavailable(format!("GPU {ordinal}: {e}")))?;
        let arch = format!("sm_{major}{minor}");
        let attribute = |a| ctx.attribute(a).unwrap_or(0);
        use cudarc::driver::sys::CUdevice_attribute as A;
        let limits = Limits::new(
            attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            attribute(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
            attribute(A::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
            attribute(A::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH),
            (major, minor),
        );
        let compiled = nvrtc::compile(&source.text, "model.cu", &arch, nvrtc::Output::Cubin)?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(compiled.bytes))
            .map_err(Error::internal("the driver could not load the kernels"))?;
        let functions = source
            .kernels
            .iter()
            .map(|k| Ok((k.name.clone(), module.load_function(&k.name).map_err(Error::internal(&k.name))?)))
            .collect::<Result<_, Error>>()?;
        Ok(Gpu { name, arch, limits, stream: ctx.default_stream(), functions, log: compiled.log })
    }
}

impl Device for Gpu {
    fn describe(&self) -> String {
        format!("{}, {}", self.name, self.arch)
    }

    fn threads(&self, kernel: &KernelInfo) -> u32 {
        threads_for(kernel.width, super::MAX_THREADS)
    }

    fn limits(&self) -> Option<Limits> {
        self.limits
    }

    fn launch(
        &self,
        kernel: &KernelInfo,
        grid: u32,
        arrays: &mut [Vec<u8>],
        steps: i64,
        eps: [f64; 2],
    ) -> Result<Duration, String> {
        let function = self
            .functions
            .iter()
            .find(|(n, _)| *n == kernel.name)
            .map(|(_, f)| f)
            .ok_or_else(|| format!("no kernel {}", kernel.name))?;
        let stream = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let slices: Vec<CudaSlice<u8>> =
            arrays.iter().map(|a| stream.clone_htod(a.as_slice())).collect::<Result<_, _>>().map_err(e)?;
        stream.synchronize().map_err(e)?;
        let (eps0, eps1) = (eps[0], eps[1]);
        let mut launch = stream.launch_builder(function);
        for s in &slices {
            launch.arg(s);
        }
        launch.arg(&steps).arg(&eps0).arg(&eps1);
        let config = LaunchConfig {
            grid_dim: (grid, 1, 1),
            block_dim: (self.threads(kernel), 1, 1),
            shared_mem_bytes: 0,
        };
        let started = Instant::now();
        // SAFETY: one argument per kernel parameter in order (a device pointer per buffer,
        // then `long long`, `double`, `double`), every buffer as long as the kernel indexes.
        unsafe { launch.launch(config) }.map_err(e)?;
        stream.synchronize().map_err(e)?;
        let took = started.elapsed();
        for ((param, slice), array) in kernel.params.iter().zip(&slices).zip(arrays.iter_mut()) {
            if param.written {
                *array = stream.clone_dtoh(slice).map_err(e)?;
            }
        }
        Ok(took)
    }
}
