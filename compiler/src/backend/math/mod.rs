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
