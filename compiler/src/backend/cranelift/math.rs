//! The language's functions as plain Cranelift IR: [`crate::backend::math`]'s algorithms
//! over [`Clif`], one instruction per operation, for scalars (`F64`, `F32`) and vectors
//! (`F64X2`, `F32X4`) alike. No calls, no libm, no `fma`, no `fcvt`, no `nearest`: only
//! instructions that lower for 128-bit vectors on x86-64 down to SSE2 (`fadd fsub fmul fdiv
//! fneg fabs sqrt fmin fmax fcmp select bitselect bitcast band bor bxor iadd isub ishl ushr
//! sshr icmp`), so scalar and vector code, and baseline and AVX-512 hosts, give the same bits
//! (NaN payloads aside).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use crate::backend::math::{self, Cc, Ops};
use crate::ir::Func;

/// `f(x)` lane-wise in f64 arithmetic, for `x` of type `F64` or `F64X2`.
pub fn emit(b: &mut FunctionBuilder<'_>, f: Func, x: Value) -> Value {
    math::f64::apply(&mut Clif::new(b, x), f, x)
}

/// `x ^ y` lane-wise in f64 arithmetic ([`math::f64::powf`]), for `F64` or `F64X2`.
pub fn powf(b: &mut FunctionBuilder<'_>, x: Value, y: Value) -> Value {
    math::f64::powf(&mut Clif::new(b, x), x, y)
}

/// `f(x)` lane-wise in f32 arithmetic, for `x` of type `F32` or `F32X4`.
pub fn emit_f32(b: &mut FunctionBuilder<'_>, f: Func, x: Value) -> Value {
    math::f32::apply(&mut Clif::new(b, x), f, x)
}

/// A [`FunctionBuilder`] and the float type computed in (`F64`, `F64X2`, `F32` or `F32X4`).
/// Conditions are `I8` for scalars and all-ones lane masks for vectors; `select` picks with
/// `select` or `bitselect` accordingly.
pub struct Clif<'a, 'f> {
    b: &'a mut FunctionBuilder<'f>,
    /// The float type.
    ty: Type,
    /// The integer type of the same shape.
    ity: Type,
}

impl<'a, 'f> Clif<'a, 'f> {
    /// Code computing in the type of `x`.
    pub fn new(b: &'a mut FunctionBuilder<'f>, x: Value) -> Self {
        let ty = b.func.dfg.value_type(x);
        let ity = match ty {
            types::F64 => types::I64,
            types::F64X2 => types::I64X2,
            types::F32 => types::I32,
            types::F32X4 => types::I32X4,
            other => panic!("the math functions work on F64, F64X2, F32 and F32X4, not {other}"),
        };
        Clif { b, ty, ity }
    }

    fn splat(&mut self, ty: Type, s: Value) -> Value {
        if self.ty.is_vector() { self.b.ins().splat(ty, s) } else { s }
    }
}

fn float_cc(cc: Cc) -> FloatCC {
    match cc {
        Cc::Equal => FloatCC::Equal,
        Cc::NotEqual => FloatCC::NotEqual,
        Cc::LessThan => FloatCC::LessThan,
        Cc::GreaterThan => FloatCC::GreaterThan,
        Cc::GreaterThanOrEqual => FloatCC::GreaterThanOrEqual,
        Cc::Unordered => FloatCC::Unordered,
        Cc::UnorderedOrLessThan => FloatCC::UnorderedOrLessThan,
    }
}

impl Ops for Clif<'_, '_> {
    type V = Value;

    fn fconst(&mut self, v: f64) -> Value {
        let s = match self.ty.lane_type() {
            types::F32 => self.b.ins().f32const(v as f32),
            _ => self.b.ins().f64const(v),
        };
        self.splat(self.ty, s)
    }
    fn iconst(&mut self, v: i64) -> Value {
        let s = match self.ity.lane_type() {
            // Cranelift wants narrow immediates zero-extended.
            types::I32 => self.b.ins().iconst(types::I32, i64::from(v as u32)),
            _ => self.b.ins().iconst(types::I64, v),
        };
        self.splat(self.ity, s)
    }
    fn fadd(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }
    fn fsub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }
    fn fmul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }
    fn fdiv(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }
    fn fneg(&mut self, a: Value) -> Value {
        self.b.ins().fneg(a)
    }
    fn fabs(&mut self, a: Value) -> Value {
        self.b.ins().fabs(a)
    }
    fn sqrt(&mut self, a: Value) -> Value {
        self.b.ins().sqrt(a)
    }
    fn fmax(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmax(a, b)
    }
    fn fmin(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmin(a, b)
    }
    fn bits(&mut self, a: Value) -> Value {
        self.b.ins().bitcast(self.ity, MemFlagsData::new(), a)
    }
    fn float(&mut self, a: Value) -> Value {
        self.b.ins().bitcast(self.ty, MemFlagsData::new(), a)
    }
    fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().iadd(a, b)
    }
    fn isub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().isub(a, b)
    }
    fn band(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    fn bor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn bxor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bxor(a, b)
    }
    fn shl(&mut self, a: Value, n: i64) -> Value {
        self.b.ins().ishl_imm_s(a, n)
    }
    fn ushr(&mut self, a: Value, n: i64) -> Value {
        self.b.ins().ushr_imm_s(a, n)
    }
    fn sshr(&mut self, a: Value, n: i64) -> Value {
        self.b.ins().sshr_imm_s(a, n)
    }
    fn fcmp(&mut self, cc: Cc, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(float_cc(cc), a, b)
    }
    fn ine(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().icmp(IntCC::NotEqual, a, b)
    }
    fn and(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    fn or(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn select(&mut self, cond: Value, a: Value, b: Value) -> Value {
        if self.ty.is_vector() {
            let vty = self.b.func.dfg.value_type(a);
            let mask = if vty == self.b.func.dfg.value_type(cond) {
                cond
            } else {
                self.b.ins().bitcast(vty, MemFlagsData::new(), cond)
            };
            self.b.ins().bitselect(mask, a, b)
        } else {
            self.b.ins().select(cond, a, b)
        }
    }
}
