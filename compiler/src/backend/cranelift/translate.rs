//! One kernel of the IR to one Cranelift function with the [`hsc_runtime::KernelFn`]
//! signature: `(buffers: *const *mut u8, steps: i64, eps0: f64, eps1: f64)`.
//!
//! The translation is direct: an IR value becomes one Cranelift value (the IR is already SSA
//! with structured scopes, so every use is dominated by its definition), a loop becomes a
//! do-while loop over an `i64` variable, a reduction a loop-carried accumulator, a load or a
//! store an address computed from the buffer's base pointer (loaded once, at entry) and
//! static strides, with what is constant in the index in the instruction's offset. Loads of
//! buffers that no longer change ([`frozen`]) are pure, so Cranelift places each where it is
//! used. Arithmetic follows the interpreter operation by operation (no
//! contraction into FMA), so f64 results differ from it only through the math functions.
//! In f32, functions, `powi` and `pow` are evaluated in f64 and rounded, as the interpreter
//! does.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, AbiParam, InstBuilder, MemFlagsData, types};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, Variable};
use hsc_runtime::Real;

use super::math;
use crate::ir::Func;
use crate::kernel::info::lanes::UNROLL;
use crate::kernel::{BinOp, Buf, Cond, Index, Info, Kernel, LoopVar, Op, Stmt, Value};

/// The signature of every kernel, for a target whose pointers are `ptr`.
pub fn signature(ptr: ir::Type, call_conv: cranelift_codegen::isa::CallConv) -> ir::Signature {
    let mut sig = ir::Signature::new(call_conv);
    sig.params.extend([
        AbiParam::new(ptr),
        AbiParam::new(types::I64),
        AbiParam::new(types::F64),
        AbiParam::new(types::F64),
    ]);
    sig
}

/// Fills `b` (a builder over a function with [`signature`]) with the body of `kernel`, whose
/// facts are `info`, for a target with the frontend config `target`.
pub fn translate(
    mut b: FunctionBuilder<'_>,
    kernel: &Kernel,
    info: &Info,
    real: Real,
    target: TargetFrontendConfig,
) {
    let ptr = target.pointer_type();
    let fty = match real {
        Real::F32 => types::F32,
        Real::F64 => types::F64,
    };
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let mut eps = [params[2], params[3]];
    if real == Real::F32 {
        eps = eps.map(|e| b.ins().fdemote(types::F32, e));
    }
    let size = ptr.bytes() as i32;
    let bases = (0..kernel.buffers.len() as i32)
        .map(|i| b.ins().load(ptr, MemFlagsData::trusted().with_readonly(), params[0], i * size))
        .collect();
    let mut t = Translator {
        b,
        k: kernel,
        info,
        real,
        fty,
        values: vec![None; kernel.values as usize],
        vars: vec![None; kernel.vars.len()],
        fixed: vec![None; kernel.vars.len()],
        bases,
        steps: params[1],
        eps,
        lanes: None,
    };
    t.block(&kernel.body);
    t.b.ins().return_(&[]);
    t.b.finalize(target);
}

/// The most statements in the body of a loop the translator unrolls.
const UNROLL_BODY: usize = 16;

/// Whether `stmts` hold no loop, time loop or sum.
fn straight(stmts: &[Stmt]) -> bool {
    stmts.iter().all(|s| matches!(s, Stmt::Let(..) | Stmt::Store { .. }))
}

struct Translator<'a, 'b> {
    b: FunctionBuilder<'b>,
    k: &'a Kernel,
    /// Its facts: which loops run lane-wise, which buffers never change once read.
    info: &'a Info,
    real: Real,
    /// `f32` or `f64`.
    fty: ir::Type,
    values: Vec<Option<ir::Value>>,
    vars: Vec<Option<Variable>>,
    /// The value of the variable of each unrolled loop or sum, while its body is translated.
    fixed: Vec<Option<i64>>,
    bases: Vec<ir::Value>,
    steps: ir::Value,
    eps: [ir::Value; 2],
    /// Inside a vectorized loop: its variable, whose consecutive values are the lanes.
    lanes: Option<LoopVar>,
}

impl Translator<'_, '_> {
    fn block(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            match s {
                Stmt::Let(v, op) => {
                    let x = self.op(op);
                    self.values[v.as_u32() as usize] = Some(x);
                }
                Stmt::Loop { var, lo, hi, body } => {
                    let mut lo = *lo;
                    let width = self.width();
                    // A short loop with a small straight-line body is unrolled: constant
                    // indices, no counter.
                    let unroll = hi - lo <= UNROLL && straight(body) && body.len() <= UNROLL_BODY;
                    if self.lanes.is_none() && hi - lo >= width && self.info.lanes.contains(var) {
                        let end = lo + (hi - lo) / width * width;
                        self.lanes = Some(*var);
                        if unroll {
                            self.unrolled(*var, (lo..end).step_by(width as usize), |t| t.block(body));
                        } else {
                            let from = self.b.ins().iconst(types::I64, lo);
                            let to = self.b.ins().iconst(types::I64, end);
                            self.counted(*var, from, to, width, |t| t.block(body));
                        }
                        self.lanes = None;
                        lo = end;
                    }
                    if lo < *hi && unroll {
                        self.unrolled(*var, lo..*hi, |t| t.block(body));
                    } else if lo < *hi {
                        let from = self.b.ins().iconst(types::I64, lo);
                        let to = self.b.ins().iconst(types::I64, *hi);
                        self.counted(*var, from, to, 1, |t| t.block(body));
                    }
                }
                Stmt::Steps { var, reverse, body } => {
                    let go = self.b.create_block();
                    let done = self.b.create_block();
                    let any = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, self.steps, 0);
                    self.b.ins().brif(any, go, &[], done, &[]);
                    self.b.seal_block(go);
                    self.b.switch_to_block(go);
                    let (first, end, by) = if *reverse {
                        let last = self.b.ins().iadd_imm_s(self.steps, -1);
                        (last, self.b.ins().iconst(types::I64, -1), -1)
                    } else {
                        (self.b.ins().iconst(types::I64, 0), self.steps, 1)
                    };
                    self.counted(*var, first, end, by, |t| t.block(body));
                    self.b.ins().jump(done, &[]);
                    self.b.seal_block(done);
                    self.b.switch_to_block(done);
                }
                Stmt::Reduce { result, var, lo, hi, body, value } => {
                    // In a lane-wise loop each lane adds its own terms, in order.
                    let lane_wise = self.lanes.is_some();
                    let acc = self.b.declare_var(if lane_wise { self.vector_type() } else { self.fty });
                    let zero = self.constant(0.0);
                    let start = if lane_wise { self.splat(zero) } else { zero };
                    self.b.def_var(acc, start);
                    let mut lo = *lo;
                    let width = self.width();
                    if self.lanes.is_none() && hi - lo >= width && self.info.lanes.contains(var) {
                        // Partial sums per lane, then the lanes in order: the sum's order
                        // changes (by rounding only), the work is a vector's per element.
                        let end = lo + (hi - lo) / width * width;
                        let lanes = self.b.declare_var(self.vector_type());
                        let zeros = self.splat(zero);
                        self.b.def_var(lanes, zeros);
                        let from = self.b.ins().iconst(types::I64, lo);
                        let to = self.b.ins().iconst(types::I64, end);
                        self.lanes = Some(*var);
                        self.counted(*var, from, to, width, |t| {
                            t.block(body);
                            let x = t.value(*value);
                            let x = t.splat(x);
                            let total = t.b.use_var(lanes);
                            let next = t.b.ins().fadd(total, x);
                            t.b.def_var(lanes, next);
                        });
                        self.lanes = None;
                        let partial = self.b.use_var(lanes);
                        let mut total = self.b.ins().extractlane(partial, 0);
                        for lane in 1..width as u8 {
                            let x = self.b.ins().extractlane(partial, lane);
                            total = self.b.ins().fadd(total, x);
                        }
                        self.b.def_var(acc, total);
                        lo = end;
                    }
                    let term = |t: &mut Self| {
                        t.block(body);
                        let (total, mut x) = (t.b.use_var(acc), t.value(*value));
                        if lane_wise {
                            x = t.splat(x);
                        }
                        let next = t.b.ins().fadd(total, x);
                        t.b.def_var(acc, next);
                    };
                    if lane_wise && hi - lo <= UNROLL {
                        // Unrolled: constant indices (folded into the addresses), no counter.
                        self.unrolled(*var, lo..*hi, term);
                    } else if lo < *hi {
                        let from = self.b.ins().iconst(types::I64, lo);
                        let to = self.b.ins().iconst(types::I64, *hi);
                        self.counted(*var, from, to, 1, term);
                    }
                    let total = self.b.use_var(acc);
                    self.values[result.as_u32() as usize] = Some(total);
                }
                Stmt::Store { buf, index, value, add } => {
                    let (at, offset) = self.address(*buf, index);
                    let (ty, flags) = self.access(index);
                    let mut x = self.value(*value);
                    if ty.is_vector() {
                        x = self.splat(x);
                    }
                    if *add {
                        let old = self.b.ins().load(ty, flags, at, offset);
                        x = self.b.ins().fadd(old, x);
                    }
                    self.b.ins().store(flags, x, at, offset);
                }
            }
        }
    }

    /// `for var = from; var != end; var += by { body }`, entered at least once (the caller
    /// knows `from != end`).
    fn counted(
        &mut self,
        var: LoopVar,
        from: ir::Value,
        end: ir::Value,
        by: i64,
        body: impl FnOnce(&mut Self),
    ) {
        let v = self.var(var);
        self.b.def_var(v, from);
        let head = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        body(self);
        let i = self.b.use_var(v);
        let next = self.b.ins().iadd_imm_s(i, by);
        self.b.def_var(v, next);
        let more = self.b.ins().icmp(IntCC::NotEqual, next, end);
        self.b.ins().brif(more, head, &[], exit, &[]);
        self.b.seal_block(head);
        self.b.seal_block(exit);
        self.b.switch_to_block(exit);
    }

    /// `body` once for each value of `var` in `values`, with `var` a constant each time.
    fn unrolled(&mut self, var: LoopVar, values: impl Iterator<Item = i64>, mut body: impl FnMut(&mut Self)) {
        for i in values {
            self.fixed[var.as_u32() as usize] = Some(i);
            body(self);
        }
        self.fixed[var.as_u32() as usize] = None;
    }

    fn var(&mut self, var: LoopVar) -> Variable {
        let slot = &mut self.vars[var.as_u32() as usize];
        *slot.get_or_insert_with(|| self.b.declare_var(types::I64))
    }

    fn value(&self, v: Value) -> ir::Value {
        self.values[v.as_u32() as usize].expect("the verifier checks that every value is defined before use")
    }

    fn constant(&mut self, c: f64) -> ir::Value {
        match self.real {
            Real::F32 => self.b.ins().f32const(c as f32),
            Real::F64 => self.b.ins().f64const(c),
        }
    }

    fn op(&mut self, op: &Op) -> ir::Value {
        match op {
            Op::Const(c) => self.constant(*c),
            Op::Eps(i) => self.eps[*i as usize],
            Op::Load { buf, index } => {
                let (at, offset) = self.address(*buf, index);
                let (ty, mut flags) = self.access(index);
                // Loads of a buffer that never changes once read (the model's own arrays,
                // scratch filled before use) are pure: Cranelift computes each where it is used
                // (it would otherwise load all a long sum reads before adding any of it, which
                // runs out of registers) and may share them.
                if self.info.frozen[buf.as_u32() as usize] {
                    flags = flags.with_notrap().with_readonly().with_can_move();
                }
                self.b.ins().load(ty, flags, at, offset)
            }
            Op::Neg(a) => {
                let a = self.value(*a);
                self.b.ins().fneg(a)
            }
            Op::Binary(op, a, c) => {
                let (mut a, mut c) = (self.value(*a), self.value(*c));
                if self.is_vector(a) || self.is_vector(c) {
                    (a, c) = (self.splat(a), self.splat(c));
                }
                match op {
                    BinOp::Add => self.b.ins().fadd(a, c),
                    BinOp::Sub => self.b.ins().fsub(a, c),
                    BinOp::Mul => self.b.ins().fmul(a, c),
                    BinOp::Div => self.b.ins().fdiv(a, c),
                    BinOp::Pow if self.is_vector(a) && self.real == Real::F32 => {
                        self.per_lane(&[a, c], |t, x| math::powf(&mut t.b, x[0], x[1]))
                    }
                    BinOp::Pow => {
                        let (a, c) = (self.wide(a), self.wide(c));
                        let r = math::powf(&mut self.b, a, c);
                        self.narrow(r)
                    }
                }
            }
            Op::Powi(a, n) => {
                let a = self.value(*a);
                if self.is_vector(a) && self.real == Real::F32 {
                    if [1, 2, -1].contains(n) {
                        // f32 arithmetic gives the bits of f64 arithmetic rounded to f32.
                        return self.powi(a, *n);
                    }
                    return self.per_lane(&[a], |t, x| t.powi(x[0], *n));
                }
                let a = self.wide(a);
                let r = self.powi(a, *n);
                self.narrow(r)
            }
            Op::Call(f, a) => {
                let a = self.value(*a);
                match f {
                    Func::Abs => self.b.ins().fabs(a),
                    Func::Sqrt => self.b.ins().sqrt(a),
                    _ if self.real == Real::F32 => math::emit_f32(&mut self.b, *f, a),
                    _ => {
                        let a = self.wide(a);
                        let r = math::emit(&mut self.b, *f, a);
                        self.narrow(r)
                    }
                }
            }
            Op::Select { conds, then, otherwise } => {
                let mut all: Option<ir::Value> = None;
                for c in conds {
                    let holds = self.cond(c);
                    all = Some(match all {
                        Some(a) => self.b.ins().band(a, holds),
                        None => holds,
                    });
                }
                let (mut then, mut otherwise) = (self.value(*then), self.value(*otherwise));
                if self.is_vector(then) || self.is_vector(otherwise) {
                    // A scalar condition picks whole vectors: `vectorizable` allows only
                    // conditions that do not depend on the lanes.
                    (then, otherwise) = (self.splat(then), self.splat(otherwise));
                }
                match all {
                    Some(c) => self.b.ins().select(c, then, otherwise),
                    None => then,
                }
            }
        }
    }

    /// Lanes of a vector of the kernel's type: 4 for f32, 2 for f64 (128-bit vectors, the
    /// widest Cranelift lowers on x86-64).
    fn width(&self) -> i64 {
        match self.real {
            Real::F32 => 4,
            Real::F64 => 2,
        }
    }

    fn vector_type(&self) -> ir::Type {
        self.fty.by(self.width() as u32).expect("a 128-bit vector type")
    }

    fn is_vector(&self, x: ir::Value) -> bool {
        self.b.func.dfg.value_type(x).is_vector()
    }

    /// `x` as a vector (every lane the same when it is a scalar).
    fn splat(&mut self, x: ir::Value) -> ir::Value {
        let ty = self.vector_type();
        if self.is_vector(x) { x } else { self.b.ins().splat(ty, x) }
    }

    /// The type and flags of an access: a vector (maybe unaligned) where the index runs over
    /// the lanes, else a scalar.
    fn access(&self, index: &[Index]) -> (ir::Type, MemFlagsData) {
        match self.lanes {
            Some(v) if index.iter().any(|i| i.var == Some(v)) => {
                (self.vector_type(), MemFlagsData::new().with_notrap())
            }
            _ => (self.fty, MemFlagsData::trusted()),
        }
    }

    /// `x` in f64 (promoted from f32).
    fn wide(&mut self, x: ir::Value) -> ir::Value {
        match self.real {
            Real::F32 => self.b.ins().fpromote(types::F64, x),
            Real::F64 => x,
        }
    }

    /// An f64 result in the kernel's type.
    fn narrow(&mut self, x: ir::Value) -> ir::Value {
        match self.real {
            Real::F32 => self.b.ins().fdemote(types::F32, x),
            Real::F64 => x,
        }
    }

    /// `f` of the lanes of f32 vectors, each lane promoted to f64, computed as a scalar and
    /// rounded back: the bits of the scalar path (which evaluates powers in f64).
    fn per_lane(
        &mut self,
        args: &[ir::Value],
        f: impl Fn(&mut Self, &[ir::Value]) -> ir::Value,
    ) -> ir::Value {
        let args: Vec<ir::Value> = args.iter().map(|&x| self.splat(x)).collect();
        let mut out = args[0];
        for lane in 0..self.width() as u8 {
            let x: Vec<ir::Value> = args
                .iter()
                .map(|&v| {
                    let x = self.b.ins().extractlane(v, lane);
                    self.b.ins().fpromote(types::F64, x)
                })
                .collect();
            let r = f(self, &x);
            let r = self.b.ins().fdemote(types::F32, r);
            out = self.b.ins().insertlane(out, r, lane);
        }
        out
    }

    /// `a^n` by repeated squaring, in the order of compiler-rt's `__powidf2` (which Rust's
    /// `powi` calls), so the result is the same bits.
    fn powi(&mut self, a: ir::Value, n: i32) -> ir::Value {
        let ty = self.b.func.dfg.value_type(a);
        let one = match ty.lane_type() {
            types::F32 => self.b.ins().f32const(1.0),
            _ => self.b.ins().f64const(1.0),
        };
        let one = if ty.is_vector() { self.b.ins().splat(ty, one) } else { one };
        let (mut base, mut r, mut e) = (a, one, n.unsigned_abs());
        loop {
            if e & 1 == 1 {
                r = self.b.ins().fmul(r, base);
            }
            e /= 2;
            if e == 0 {
                break;
            }
            base = self.b.ins().fmul(base, base);
        }
        if n < 0 { self.b.ins().fdiv(one, r) } else { r }
    }

    fn cond(&mut self, c: &Cond) -> ir::Value {
        match c {
            Cond::Range { index, lo, hi } => {
                let i = self.index(index);
                let above = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, i, *lo);
                let below = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, *hi);
                self.b.ins().band(above, below)
            }
            Cond::Equal(a, c) => {
                let (a, c) = (self.index(a), self.index(c));
                self.b.ins().icmp(IntCC::Equal, a, c)
            }
        }
    }

    /// The value of an index, as an `i64`.
    fn index(&mut self, i: &Index) -> ir::Value {
        if let Some(c) = self.constant_index(i) {
            return self.b.ins().iconst(types::I64, c);
        }
        let Some(var) = i.var else { return self.b.ins().iconst(types::I64, i.outer) };
        let v = self.var(var);
        let mut x = self.b.use_var(v);
        if i.inner != 0 {
            x = self.b.ins().iadd_imm_s(x, i.inner);
        }
        if let Some(m) = i.wrap {
            let r = self.b.ins().srem_imm_s(x, m as i64);
            let up = self.b.ins().iadd_imm_s(r, m as i64);
            let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, r, 0);
            x = self.b.ins().select(negative, up, r);
        }
        if i.outer != 0 {
            x = self.b.ins().iadd_imm_s(x, i.outer);
        }
        if let Some(n) = i.clamp {
            let lo = self.b.ins().iconst(types::I64, 0);
            let hi = self.b.ins().iconst(types::I64, n as i64 - 1);
            x = self.b.ins().smax(x, lo);
            x = self.b.ins().smin(x, hi);
        }
        x
    }

    /// The value of an index that is known here: one without a variable, or over the
    /// variable of an unrolled sum.
    fn constant_index(&self, i: &Index) -> Option<i64> {
        let x = match i.var {
            None => return Some(i.outer),
            Some(v) => self.fixed[v.as_u32() as usize]? + i.inner,
        };
        let x = i.wrap.map_or(x, |m| x.rem_euclid(m as i64));
        let x = x + i.outer;
        Some(i.clamp.map_or(x, |n| x.clamp(0, n as i64 - 1)))
    }

    /// The address of an element, as a pointer and a constant byte offset: the base plus the
    /// row-major offset (the time axis first). What is constant in the index (a variable's
    /// offsets where nothing wraps or clamps, an unrolled sum's variable) goes into the offset,
    /// so that neighbouring elements share one pointer.
    fn address(&mut self, buf: Buf, index: &[Index]) -> (ir::Value, i32) {
        let b = &self.k.buffers[buf];
        let mut strides = Vec::with_capacity(index.len());
        let mut stride = 1i64;
        for &s in b.shape.iter().rev() {
            strides.push(stride);
            stride *= s as i64;
        }
        if b.time.is_some() {
            strides.push(stride);
        }
        strides.reverse();
        let mut flat: Option<ir::Value> = None;
        let mut constant = 0i64;
        for (i, stride) in index.iter().zip(strides) {
            if let Some(c) = self.constant_index(i) {
                constant += c * stride;
                continue;
            }
            let x = if i.wrap.is_none() && i.clamp.is_none() {
                constant += (i.inner + i.outer) * stride;
                let v = self.var(i.var.expect("a constant index is handled above"));
                self.b.use_var(v)
            } else {
                self.index(i)
            };
            let term = if stride == 1 { x } else { self.b.ins().imul_imm_s(x, stride) };
            flat = Some(match flat {
                Some(f) => self.b.ins().iadd(f, term),
                None => term,
            });
        }
        let size = self.fty.bytes() as i64;
        let base = self.bases[buf.as_u32() as usize];
        let at = match flat {
            Some(f) => {
                let bytes = self.b.ins().imul_imm_s(f, size);
                self.b.ins().iadd(base, bytes)
            }
            None => base,
        };
        // Buffers are far smaller than 2 GiB, but stay correct if one is not.
        match i32::try_from(constant * size) {
            Ok(offset) => (at, offset),
            Err(_) => (self.b.ins().iadd_imm_s(at, constant * size), 0),
        }
    }
}
