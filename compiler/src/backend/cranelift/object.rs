//! Ahead of time: every kernel of a model in one relocatable object file, each an exported
//! symbol `hsc_<model>_<pass>` with the `KernelFn` signature, importing nothing.

use cranelift_codegen::settings::{self, Configurable};
use cranelift_module::Linkage;
use cranelift_object::{ObjectBuilder, ObjectModule};
use hsc_runtime::Real;

use super::{define_kernels, unsupported};
use crate::backend::Error;
use crate::kernel::Verified;

/// Which CPUs an object file runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectTarget {
    /// Any CPU of this architecture from the last fifteen years (on x86-64: SSE4.2, no AVX,
    /// no FMA): what a library shipped to users needs.
    Portable,
    /// This machine's CPU, with every feature it has.
    Native,
}

/// Compiles every kernel of `module` into the bytes of an object file for this machine's
/// architecture and operating system.
pub fn object(module: &Verified, real: Real, target: ObjectTarget) -> Result<Vec<u8>, Error> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(Error::internal("opt_level"))?;
    // Rust executables on Linux are position independent.
    flags.set("is_pic", "true").map_err(Error::internal("is_pic"))?;
    let mut isa =
        cranelift_native::builder_with_options(target == ObjectTarget::Native).map_err(unsupported)?;
    if target == ObjectTarget::Portable && isa.triple().architecture.to_string() == "x86_64" {
        for feature in ["has_sse3", "has_ssse3", "has_sse41", "has_sse42"] {
            isa.enable(feature).map_err(Error::internal(feature))?;
        }
    }
    let isa = isa.finish(settings::Flags::new(flags)).map_err(Error::internal("the target ISA"))?;
    let name = format!("hsc_{}", module.spec.name.to_lowercase());
    let builder = ObjectBuilder::new(isa, name, cranelift_module::default_libcall_names())
        .map_err(Error::internal("the object file"))?;
    let mut m = ObjectModule::new(builder);
    define_kernels(&mut m, module, real, Linkage::Export)?;
    m.finish().emit().map_err(Error::internal("writing the object file"))
}
