//! The language's functions as C: [`crate::backend::math`]'s algorithms over [`CText`], one
//! statement per operation, each function a `static inline` C function of one scalar that
//! the C compiler inlines into the kernels' loops and vectorises there (the code has no
//! branches, no calls and no libm). Compiled with `-ffp-contract=off`, so that no
//! multiplication is fused with an addition, the functions give the bits Cranelift's give.

use hsc_runtime::Real;

use crate::backend::math::{self, Cc, Ops};
use crate::ir::Func;

/// The C name of `f` in precision `real` (`hsc_exp`, `hsc_exp_f32`, ...).
pub fn name(f: Func, real: Real) -> String {
    let suffix = if real == Real::F32 { "_f32" } else { "" };
    format!("hsc_{}{suffix}", f.name())
}

/// The C name of `pow` (f64 in both precisions, as the interpreter computes it).
pub const POW: &str = "hsc_pow";

/// The definition of `f` in precision `real`: `static inline T name(T x) { ... }`.
pub fn define(f: Func, real: Real) -> String {
    let mut c = CText::new(real);
    let x = c.param("x");
    let r = match real {
        Real::F64 => math::f64::apply(&mut c, f, x),
        Real::F32 => math::f32::apply(&mut c, f, x),
    };
    c.function(&name(f, real), &["x"], r)
}

/// The definition of [`POW`]: `x ^ y` in f64.
pub fn define_pow() -> String {
    let mut c = CText::new(Real::F64);
    let (x, y) = (c.param("x"), c.param("y"));
    let r = math::f64::powf(&mut c, x, y);
    c.function(POW, &["x", "y"], r)
}

/// What a C value is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Float,
    Int,
    Cond,
}

/// A named C value.
#[derive(Clone, Copy, Debug)]
pub struct CVal {
    id: u32,
    kind: Kind,
}

/// The body of a C function being written, in precision `real`: floats are `double` or
/// `float`, integers `uint64_t` or `uint32_t` (wrapping), conditions `int`.
pub struct CText {
    real: Real,
    names: Vec<String>,
    /// Each value's statement and the values it reads (`None` for parameters).
    defs: Vec<Option<(String, Vec<u32>)>>,
}

impl CText {
    fn new(real: Real) -> CText {
        CText { real, names: Vec::new(), defs: Vec::new() }
    }

    fn param(&mut self, name: &str) -> CVal {
        self.names.push(name.into());
        self.defs.push(None);
        CVal { id: self.names.len() as u32 - 1, kind: Kind::Float }
    }

    fn n(&self, v: CVal) -> &str {
        &self.names[v.id as usize]
    }

    fn ty(&self, kind: Kind) -> &'static str {
        match (kind, self.real) {
            (Kind::Float, Real::F64) => "double",
            (Kind::Float, Real::F32) => "float",
            (Kind::Int, Real::F64) => "uint64_t",
            (Kind::Int, Real::F32) => "uint32_t",
            (Kind::Cond, _) => "int",
        }
    }

    /// `const T t<n> = expr;`, where `expr` reads `reads`.
    fn def(&mut self, kind: Kind, expr: String, reads: &[CVal]) -> CVal {
        let name = format!("t{}", self.names.len());
        let line = format!("    const {} {name} = {expr};\n", self.ty(kind));
        self.names.push(name);
        self.defs.push(Some((line, reads.iter().map(|v| v.id).collect())));
        CVal { id: self.names.len() as u32 - 1, kind }
    }

    fn bin(&mut self, kind: Kind, a: CVal, op: &str, b: CVal) -> CVal {
        let e = format!("{} {op} {}", self.n(a), self.n(b));
        self.def(kind, e, &[a, b])
    }

    /// The function returning `result`, with the statements it needs (the algorithms compute
    /// some values they do not use, such as the rounded half of `round`).
    fn function(self, name: &str, params: &[&str], result: CVal) -> String {
        let mut live = vec![false; self.defs.len()];
        live[result.id as usize] = true;
        for id in (0..self.defs.len()).rev() {
            if let (true, Some((_, reads))) = (live[id], &self.defs[id]) {
                for &r in reads {
                    live[r as usize] = true;
                }
            }
        }
        let body: String = self
            .defs
            .iter()
            .zip(&live)
            .filter_map(|(d, &live)| d.as_ref().filter(|_| live).map(|(line, _)| line.as_str()))
            .collect();
        let ty = self.ty(Kind::Float);
        let params: Vec<String> = params.iter().map(|p| format!("{ty} {p}")).collect();
        format!(
            "static HSC_INLINE {ty} {name}({}) {{\n{body}    return {};\n}}\n",
            params.join(", "),
            self.n(result)
        )
    }

    fn suffix(&self) -> &'static str {
        if self.real == Real::F32 { "f" } else { "" }
    }
}

/// A float literal of `real` that C reads back to the same bits.
pub fn literal(v: f64, real: Real) -> String {
    let (v, suffix) = match real {
        Real::F64 => (v, ""),
        Real::F32 => (f64::from(v as f32), "f"),
    };
    if v.is_nan() {
        format!("__builtin_nan{suffix}(\"\")")
    } else if v.is_infinite() {
        let sign = if v < 0.0 { "-" } else { "" };
        format!("({sign}__builtin_inf{suffix}())")
    } else {
        // The shortest decimal that reads back to the value (exact for an f32 too).
        let text = match real {
            Real::F64 => format!("{v:e}"),
            Real::F32 => format!("{:e}", v as f32),
        };
        format!("({text}{suffix})")
    }
}

impl Ops for CText {
    type V = CVal;

    fn fconst(&mut self, v: f64) -> CVal {
        let e = literal(v, self.real);
        self.def(Kind::Float, e, &[])
    }
    fn iconst(&mut self, v: i64) -> CVal {
        let e = match self.real {
            Real::F64 => format!("UINT64_C({})", v as u64),
            Real::F32 => format!("UINT32_C({})", v as u32),
        };
        self.def(Kind::Int, e, &[])
    }
    fn fadd(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Float, a, "+", b)
    }
    fn fsub(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Float, a, "-", b)
    }
    fn fmul(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Float, a, "*", b)
    }
    fn fdiv(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Float, a, "/", b)
    }
    fn fneg(&mut self, a: CVal) -> CVal {
        let e = format!("-{}", self.n(a));
        self.def(Kind::Float, e, &[a])
    }
    fn fabs(&mut self, a: CVal) -> CVal {
        let e = format!("__builtin_fabs{}({})", self.suffix(), self.n(a));
        self.def(Kind::Float, e, &[a])
    }
    fn sqrt(&mut self, a: CVal) -> CVal {
        let e = format!("__builtin_sqrt{}({})", self.suffix(), self.n(a));
        self.def(Kind::Float, e, &[a])
    }
    fn fmax(&mut self, a: CVal, b: CVal) -> CVal {
        // NaN in `a` gives `a`; NaN in `b` fails the comparison and gives `b`.
        let (x, y) = (self.n(a), self.n(b));
        let e = format!("({x} > {y} || {x} != {x}) ? {x} : {y}");
        self.def(Kind::Float, e, &[a, b])
    }
    fn fmin(&mut self, a: CVal, b: CVal) -> CVal {
        let (x, y) = (self.n(a), self.n(b));
        let e = format!("({x} < {y} || {x} != {x}) ? {x} : {y}");
        self.def(Kind::Float, e, &[a, b])
    }
    fn bits(&mut self, a: CVal) -> CVal {
        let e = format!("hsc_bits{}({})", self.suffix(), self.n(a));
        self.def(Kind::Int, e, &[a])
    }
    fn float(&mut self, a: CVal) -> CVal {
        let e = format!("hsc_float{}({})", self.suffix(), self.n(a));
        self.def(Kind::Float, e, &[a])
    }
    fn iadd(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Int, a, "+", b)
    }
    fn isub(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Int, a, "-", b)
    }
    fn band(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Int, a, "&", b)
    }
    fn bor(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Int, a, "|", b)
    }
    fn bxor(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Int, a, "^", b)
    }
    fn shl(&mut self, a: CVal, n: i64) -> CVal {
        let e = format!("{} << {n}", self.n(a));
        self.def(Kind::Int, e, &[a])
    }
    fn ushr(&mut self, a: CVal, n: i64) -> CVal {
        let e = format!("{} >> {n}", self.n(a));
        self.def(Kind::Int, e, &[a])
    }
    fn sshr(&mut self, a: CVal, n: i64) -> CVal {
        let (s, u) = match self.real {
            Real::F64 => ("int64_t", "uint64_t"),
            Real::F32 => ("int32_t", "uint32_t"),
        };
        let e = format!("({u})(({s}){} >> {n})", self.n(a));
        self.def(Kind::Int, e, &[a])
    }
    fn fcmp(&mut self, cc: Cc, x: CVal, y: CVal) -> CVal {
        let (a, b) = (self.n(x), self.n(y));
        let e = match cc {
            Cc::Equal => format!("{a} == {b}"),
            Cc::NotEqual => format!("{a} != {b}"),
            Cc::LessThan => format!("{a} < {b}"),
            Cc::GreaterThan => format!("{a} > {b}"),
            Cc::GreaterThanOrEqual => format!("{a} >= {b}"),
            Cc::Unordered => format!("({a} != {a}) | ({b} != {b})"),
            Cc::UnorderedOrLessThan => format!("!({a} >= {b})"),
        };
        self.def(Kind::Cond, e, &[x, y])
    }
    fn ine(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Cond, a, "!=", b)
    }
    fn and(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Cond, a, "&", b)
    }
    fn or(&mut self, a: CVal, b: CVal) -> CVal {
        self.bin(Kind::Cond, a, "|", b)
    }
    fn select(&mut self, cond: CVal, a: CVal, b: CVal) -> CVal {
        debug_assert_eq!(a.kind, b.kind);
        debug_assert_eq!(cond.kind, Kind::Cond);
        let e = format!("{} ? {} : {}", self.n(cond), self.n(a), self.n(b));
        self.def(a.kind, e, &[cond, a, b])
    }
}
