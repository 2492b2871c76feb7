//! A small JIT harness for the math tests: builds, verifies and compiles one function at a
//! time, and lists every function of the language (the internal `sign` and `step` included).

use cranelift_codegen::ir::{AbiParam, Function, InstBuilder, UserFuncName, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::verify_function;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};
use hsc::ir::Func;

/// Every function, the internal ones included.
pub fn every_func() -> impl Iterator<Item = Func> {
    Func::ALL.into_iter().chain([Func::Sign, Func::Step])
}

/// A JIT module for the host at `opt_level = speed`, with the host's features (`native`) or
/// baseline x86-64 (SSE2 only); the functions it compiled stay valid as long as it lives.
pub struct Jit {
    pub module: JITModule,
    fctx: FunctionBuilderContext,
    pending: Vec<FuncId>,
}

impl Jit {
    pub fn new(native: bool) -> Jit {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").unwrap();
        flags.set("is_pic", "false").unwrap();
        flags.set("use_colocated_libcalls", "false").unwrap();
        let isa = cranelift_native::builder_with_options(native)
            .unwrap()
            .finish(settings::Flags::new(flags))
            .unwrap();
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        Jit { module, fctx: FunctionBuilderContext::new(), pending: Vec::new() }
    }

    /// Declares, builds, verifies and defines a function; `body` gets the builder (in its entry
    /// block) and the block's parameters, and returns the values to return. Returns the
    /// function and its number of IR instructions (the return left out).
    pub fn define(
        &mut self,
        name: &str,
        params: &[types::Type],
        returns: &[types::Type],
        body: impl FnOnce(&mut FunctionBuilder, &[Value]) -> Vec<Value>,
    ) -> (FuncId, usize) {
        let mut sig = self.module.make_signature();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.extend(returns.iter().map(|&t| AbiParam::new(t)));
        let id = self.module.declare_function(name, Linkage::Local, &sig).unwrap();
        let mut ctx = self.module.make_context();
        ctx.func = Function::with_name_signature(UserFuncName::user(0, id.as_u32()), sig);
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut self.fctx);
            let block = b.create_block();
            b.append_block_params_for_function_params(block);
            b.switch_to_block(block);
            let args = b.block_params(block).to_vec();
            let rets = body(&mut b, &args);
            b.ins().return_(&rets);
            b.seal_all_blocks();
            b.finalize(self.module.target_config());
        }
        if let Err(e) = verify_function(&ctx.func, self.module.isa()) {
            panic!("{name} does not verify:\n{e}\n{}", ctx.func.display());
        }
        let count =
            ctx.func.layout.blocks().map(|b| ctx.func.layout.block_insts(b).count()).sum::<usize>() - 1;
        if let Err(e) = self.module.define_function(id, &mut ctx) {
            panic!("{name} does not compile: {e:?}");
        }
        self.pending.push(id);
        (id, count)
    }

    /// The target's pointer type.
    pub fn pointer_type(&self) -> types::Type {
        self.module.target_config().pointer_type()
    }

    /// Makes every defined function callable.
    pub fn finalize(&mut self) {
        self.module.finalize_definitions().unwrap();
        self.pending.clear();
    }

    /// The code of a finalized function.
    pub fn ptr(&self, id: FuncId) -> *const u8 {
        assert!(self.pending.is_empty(), "finalize first");
        self.module.get_finalized_function(id)
    }
}
