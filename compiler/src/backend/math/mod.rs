//! The language's functions, written once over [`Ops`]: the few arithmetic, bitwise, compare
//! and select operations every backend has. Each backend implements `Ops` for its own code
//! (Cranelift: one IR instruction per operation, scalar or vector; C: one statement per
//! operation), so every backend computes each function by the same algorithm, the same
//! coefficients and the same operations in the same order: one source of each approximation.
//!
//! - [`f64`](mod@f64): accurate (about 1 ulp) double precision, with double-double steps.
//! - [`f32`](mod@f32): fast single precision (at most 2 ulp of f32).
//!
//! The code is branch-free: every path is computed and the right one picked with
//! [`Ops::select`], so a function vectorises lane-wise as it is.

pub mod f32;
pub mod f64;

/// The code being built, with the helpers both libraries use, each a few [`Ops`]. Constants
/// come in either precision: an f32 converts to f64 exactly, and [`Ops::fconst`] rounds to
/// the working precision. Each library adds the helpers only it uses (`f64.rs`, `f32.rs`).
struct Emitter<'a, O: Ops> {
    o: &'a mut O,
}

impl<O: Ops> Emitter<'_, O> {
    /// A float constant.
    fn c(&mut self, v: impl Into<f64>) -> O::V {
        self.o.fconst(v.into())
    }
    /// An integer constant.
    fn ci(&mut self, v: i64) -> O::V {
        self.o.iconst(v)
    }
    fn add(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.fadd(a, b)
    }
    fn sub(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.fsub(a, b)
    }
    fn mul(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.fmul(a, b)
    }
    fn div(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.fdiv(a, b)
    }
    fn neg(&mut self, a: O::V) -> O::V {
        self.o.fneg(a)
    }
    fn abs(&mut self, a: O::V) -> O::V {
        self.o.fabs(a)
    }
    /// `a + c`.
    fn addc(&mut self, a: O::V, c: impl Into<f64>) -> O::V {
        let c = self.c(c);
        self.add(a, c)
    }
    /// `c - a`.
    fn csub(&mut self, c: impl Into<f64>, a: O::V) -> O::V {
        let c = self.c(c);
        self.sub(c, a)
    }
    /// `a * c`.
    fn mulc(&mut self, a: O::V, c: impl Into<f64>) -> O::V {
        let c = self.c(c);
        self.mul(a, c)
    }
    /// The bits of a float, as an integer of the same shape.
    fn bits(&mut self, a: O::V) -> O::V {
        self.o.bits(a)
    }
    /// The float with these bits.
    fn float(&mut self, a: O::V) -> O::V {
        self.o.float(a)
    }
    fn iadd(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.iadd(a, b)
    }
    fn band(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.band(a, b)
    }
    fn bor(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.bor(a, b)
    }
    fn bxor(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.bxor(a, b)
    }
    fn bandc(&mut self, a: O::V, c: i64) -> O::V {
        let c = self.ci(c);
        self.band(a, c)
    }
    fn shl(&mut self, a: O::V, n: i64) -> O::V {
        self.o.shl(a, n)
    }
    fn ushr(&mut self, a: O::V, n: i64) -> O::V {
        self.o.ushr(a, n)
    }
    /// `a cc b`, as a condition for [`Emitter::sel`].
    fn cmp(&mut self, cc: Cc, a: O::V, b: O::V) -> O::V {
        self.o.fcmp(cc, a, b)
    }
    /// `a cc c`.
    fn cmpc(&mut self, cc: Cc, a: O::V, c: impl Into<f64>) -> O::V {
        let c = self.c(c);
        self.cmp(cc, a, c)
    }
    /// Both conditions.
    fn and(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.and(a, b)
    }
    /// Either condition.
    fn or(&mut self, a: O::V, b: O::V) -> O::V {
        self.o.or(a, b)
    }
    /// `cond ? a : b`, lane-wise; `a` and `b` are both floats or both integers.
    fn sel(&mut self, cond: O::V, a: O::V, b: O::V) -> O::V {
        self.o.select(cond, a, b)
    }
    /// `cond ? c : b`.
    fn csel(&mut self, cond: O::V, c: impl Into<f64>, b: O::V) -> O::V {
        let c = self.c(c);
        self.sel(cond, c, b)
    }
    /// `c[0] + z (c[1] + z (c[2] + ...))`.
    fn poly<T: Into<f64> + Copy>(&mut self, z: O::V, c: &[T]) -> O::V {
        let (last, rest) = c.split_last().expect("a polynomial has a coefficient");
        let mut acc = self.c(*last);
        for &ci in rest.iter().rev() {
            let t = self.mul(z, acc);
            acc = self.addc(t, ci);
        }
        acc
    }
}

/// How two floats compare (the names and meanings of Cranelift's `FloatCC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cc {
    /// `a == b` (false if either is NaN).
    Equal,
    /// `a != b` (true if either is NaN).
    NotEqual,
    /// `a < b` (false if either is NaN).
    LessThan,
    /// `a > b` (false if either is NaN).
    GreaterThan,
    /// `a >= b` (false if either is NaN).
    GreaterThanOrEqual,
    /// Either is NaN.
    Unordered,
    /// `!(a >= b)`: `a < b` or either is NaN.
    UnorderedOrLessThan,
}

/// The operations the functions are written in. A value is a float of the working precision
/// (f64 for [`f64`](mod@f64), f32 for [`f32`](mod@f32)), an integer of the same width (its
/// bits), or a condition; scalar or lane-wise, as the implementation chooses.
pub trait Ops {
    /// A value in the code being built.
    type V: Copy;
    /// A float constant (rounded to the working precision).
    fn fconst(&mut self, v: f64) -> Self::V;
    /// An integer constant: the low bits of `v`, as many as the float has.
    fn iconst(&mut self, v: i64) -> Self::V;
    /// `a + b`.
    fn fadd(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    fn fsub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b` (never contracted with an addition into a fused multiply-add).
    fn fmul(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    fn fdiv(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `-a`.
    fn fneg(&mut self, a: Self::V) -> Self::V;
    /// `|a|`.
    fn fabs(&mut self, a: Self::V) -> Self::V;
    /// `sqrt(a)`, correctly rounded.
    fn sqrt(&mut self, a: Self::V) -> Self::V;
    /// The larger of `a` and `b`; NaN if either is NaN.
    fn fmax(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// The smaller of `a` and `b`; NaN if either is NaN.
    fn fmin(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// The bits of a float, as an integer.
    fn bits(&mut self, a: Self::V) -> Self::V;
    /// The float with these bits.
    fn float(&mut self, a: Self::V) -> Self::V;
    /// `a + b`, wrapping.
    fn iadd(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`, wrapping.
    fn isub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a & b`.
    fn band(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a | b`.
    fn bor(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a ^ b`.
    fn bxor(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a << n`.
    fn shl(&mut self, a: Self::V, n: i64) -> Self::V;
    /// `a >> n`, logical.
    fn ushr(&mut self, a: Self::V, n: i64) -> Self::V;
    /// `a >> n`, arithmetic.
    fn sshr(&mut self, a: Self::V, n: i64) -> Self::V;
    /// `a cc b`, a condition.
    fn fcmp(&mut self, cc: Cc, a: Self::V, b: Self::V) -> Self::V;
    /// Whether two integers differ, a condition.
    fn ine(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// Both conditions.
    fn and(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// Either condition.
    fn or(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `cond ? a : b`, for `a` and `b` both floats or both integers.
    fn select(&mut self, cond: Self::V, a: Self::V, b: Self::V) -> Self::V;
}
