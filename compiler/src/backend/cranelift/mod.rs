//! The Cranelift backend: kernel IR to machine code, just in time ([`jit`]) or ahead of time
//! into an object file ([`object`]). Both go through [`define_kernels`], generic over
//! `cranelift_module::Module`, so the code they contain is the same. Both take a
//! [`Verified`] module: code is made only from kernels the verifier accepted.
//!
//! - `translate.rs`: one kernel to one function.
//! - [`math`]: the language's functions as IR (no libm, so a kernel imports nothing).

pub mod math;
mod object;
mod translate;

use std::sync::Arc;

use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, isa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module as _};
use hsc_runtime::{CompiledEngine, KernelFn, Real};

pub use object::{ObjectTarget, object};

use super::Error;
use crate::kernel::{Kernel, Verified};

/// Cranelift has no code generator for this host.
fn unsupported(e: impl std::fmt::Display) -> Error {
    Error::Unavailable { why: format!("Cranelift does not support this host: {e}") }
}

/// The symbol of a kernel ([`Kernel::symbol`]).
pub fn symbol(model: &str, kernel: &Kernel) -> String {
    kernel.symbol(model)
}

/// Declares and defines every kernel of `module` in `m`; returns their ids in kernel order.
pub fn define_kernels<M: cranelift_module::Module>(
    m: &mut M,
    module: &Verified,
    real: Real,
    linkage: Linkage,
) -> Result<Vec<FuncId>, Error> {
    let mut ids = Vec::new();
    define_each(m, module, real, linkage, false, |id, _, _| ids.push(id))?;
    Ok(ids)
}

/// Cranelift's listing of the machine code of every kernel, compiled for this machine as the
/// JIT compiles it (`hsc emit --stage asm`): one section per kernel, headed by its symbol and
/// size.
pub fn disassemble(module: &Verified, real: Real) -> Result<String, Error> {
    let mut m =
        JITModule::new(JITBuilder::with_isa(native_isa()?, cranelift_module::default_libcall_names()));
    let mut text = String::new();
    define_each(&mut m, module, real, Linkage::Local, true, |_, name, ctx| {
        if let Some(code) = ctx.compiled_code() {
            let listing = code.vcode.as_deref().unwrap_or_default();
            text += &format!("; {name}: {} bytes\n{listing}\n", code.code_info().total_size);
        }
    })?;
    Ok(text)
}

/// Declares and defines every kernel, handing `each` its id, symbol and context (compiled,
/// with Cranelift's listing when `listing` asks for one) before the next kernel.
fn define_each<M: cranelift_module::Module>(
    m: &mut M,
    module: &Verified,
    real: Real,
    linkage: Linkage,
    listing: bool,
    mut each: impl FnMut(FuncId, &str, &Context),
) -> Result<(), Error> {
    let sig = translate::signature(m.target_config().pointer_type(), m.target_config().default_call_conv);
    let mut ctx = Context::new();
    let mut fctx = FunctionBuilderContext::new();
    for (kernel, info) in module.kernels() {
        let name = symbol(&module.spec.name, kernel);
        let id = m.declare_function(&name, linkage, &sig).map_err(Error::internal(&name))?;
        ctx.func.signature = sig.clone();
        ctx.set_disasm(listing);
        let builder = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        translate::translate(builder, kernel, info, real, m.target_config());
        if cfg!(debug_assertions) {
            cranelift_codegen::verify_function(&ctx.func, m.isa())
                .map_err(|e| Error::Internal(format!("{name} does not verify in Cranelift: {e}")))?;
        }
        m.define_function(id, &mut ctx).map_err(|e| Error::Internal(format!("{name}: {e:?}")))?;
        each(id, &name, &ctx);
        m.clear_context(&mut ctx);
    }
    // Cranelift's JIT panics on an unresolved import at `finalize`: make sure there is none.
    for (id, decl) in m.declarations().get_functions() {
        if decl.linkage == Linkage::Import {
            let name = decl.linkage_name(id);
            return Err(Error::Internal(format!("the kernels import `{name}`, which hsc does not provide")));
        }
    }
    Ok(())
}

/// The ISA of this machine, with every feature it has (AVX, FMA, ...), for the JIT.
fn native_isa() -> Result<Arc<dyn isa::TargetIsa>, Error> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(Error::internal("opt_level"))?;
    flags.set("is_pic", "false").map_err(Error::internal("is_pic"))?;
    flags.set("use_colocated_libcalls", "false").map_err(Error::internal("libcalls"))?;
    let builder = cranelift_native::builder().map_err(unsupported)?;
    builder.finish(settings::Flags::new(flags)).map_err(Error::internal("the host ISA"))
}

/// JIT code kept alive while an engine uses it.
struct Code(std::mem::ManuallyDrop<JITModule>);

// SAFETY: after `finalize_definitions` the module is never used again except to free its
// memory on drop; the code it holds is immutable and callable from any thread.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        // SAFETY: the engine holding the function pointers owns this `Code` and is dropped
        // with it, so no pointer outlives the memory.
        unsafe { std::mem::ManuallyDrop::take(&mut self.0).free_memory() };
    }
}

/// Compiles every kernel of `module` to native code in memory: an engine for the runtime.
pub fn jit(module: &Verified, real: Real) -> Result<CompiledEngine, Error> {
    let mut m =
        JITModule::new(JITBuilder::with_isa(native_isa()?, cranelift_module::default_libcall_names()));
    let ids = define_kernels(&mut m, module, real, Linkage::Local)?;
    m.finalize_definitions().map_err(Error::internal("linking"))?;
    let kernels = module
        .kernels()
        .zip(ids)
        .map(|((_, info), id)| {
            let code = m.get_finalized_function(id);
            // SAFETY: `define_kernels` gave it the `KernelFn` signature.
            let f = unsafe { std::mem::transmute::<*const u8, KernelFn>(code) };
            (info.abi.clone(), f)
        })
        .collect();
    let code = Arc::new(Code(std::mem::ManuallyDrop::new(m)));
    // SAFETY: each kernel reads and writes only its buffers, within the lengths of its ABI
    // (the module is `Verified`: the kernel verifier proved every index in bounds), and the
    // code lives in `code`.
    Ok(unsafe { CompiledEngine::new(kernels, real, crate::Backend::Cranelift.name(), code) })
}
