//! A [`Verified`] module to C11: one function per kernel, with the
//! [`hsc_runtime::KernelFn`] signature
//! `void hsc_<model>_<pass>(uint8_t *const *buffers, int64_t steps, double eps0, double eps1)`.
//!
//! The translation is direct. An SSA value is a `const` local declared where the IR defines
//! it (the IR's scopes are C's blocks), a loop a `for`, a sum an accumulator, the time loop a
//! `for` over `steps` inside the kernel. Buffers are `restrict` pointers (the runtime passes
//! distinct arrays), `const` where the kernel only reads them. The streams (inputs, targets,
//! cotangents: the given buffers with a time axis) are `double` in both precisions, each
//! number rounded as it is loaded ([`hsc_runtime::KernelAbi::streams_f64`]): f32 kernels then
//! need no f32 copy of the caller's longest arrays, and compute with the same numbers. The
//! loops the kernel's [`Info`] finds lane-wise carry `#pragma omp simd` (a sum over such a loop,
//! `omp simd reduction(+:acc)`: partial sums per lane, added in another order, as
//! Cranelift's lane-wise sums do), and short sums inside them `#pragma GCC unroll`, so that
//! the C compiler vectorises them at the target's width; it may vectorise other loops
//! itself. The language's functions are `static inline` C functions generated from
//! [`crate::backend::math`], the algorithms Cranelift's functions use. Arithmetic follows the
//! interpreter operation by operation; in f32, powers are computed in f64 and rounded, as the
//! interpreter and Cranelift do.

use std::collections::BTreeSet;
use std::fmt::Write;

use hsc_runtime::Real;

use super::math::{self, literal};
use crate::ir::Func;
use crate::kernel::info::lanes::UNROLL;
use crate::kernel::{BinOp, Cond, Index, Info, Kernel, LoopVar, Op, Stmt, Value, Verified};

/// The C source of a module's kernels, and their symbols in kernel order.
#[derive(Clone, Debug)]
pub struct Source {
    /// The C translation unit.
    pub text: String,
    /// The header a C caller includes (`hsc compile --c`).
    pub header: String,
    /// Each kernel's symbol, in the module's kernel order.
    pub symbols: Vec<String>,
    /// Whether it may be compiled with multiplies and adds contracted into fused
    /// multiply-adds (`-ffp-contract=fast`): f32 kernels that call no f64 function (`pow`,
    /// whose double-double steps need every rounding).
    pub contract: bool,
}

/// What every translation unit starts with: the includes, and the macros for the pragmas
/// (defined only where the compiler is told to use them, so that the file compiles without
/// warnings anywhere) and the small helpers.
const PRELUDE: &str = r#"#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define HSC_INLINE inline __attribute__((always_inline, unused))
#define HSC_PRAGMA(x) _Pragma(#x)
#else
#define HSC_INLINE inline
#define HSC_PRAGMA(x)
#endif
/* -DHSC_SIMD (with -fopenmp-simd) turns the vectorisation hints on. */
#ifdef HSC_SIMD
#define HSC_LANES HSC_PRAGMA(omp simd)
#define HSC_LANE_SUM(acc) HSC_PRAGMA(omp simd reduction(+ : acc))
#define HSC_UNROLL HSC_PRAGMA(GCC unroll 16)
/* A hint the compiler cannot follow leaves the loop scalar: not worth a warning. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#else
#define HSC_LANES
#define HSC_LANE_SUM(acc)
#define HSC_UNROLL
#endif

/* -DHSC_PORTABLE (GCC, Clang, x86-64 with ifunc) builds each kernel for AVX-512, AVX2 and the
   baseline, the best chosen when the program loads; -march=native builds for this CPU. */
#if defined(HSC_PORTABLE) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HSC_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HSC_KERNEL
#endif

static HSC_INLINE uint64_t hsc_bits(double x) { uint64_t i; memcpy(&i, &x, sizeof i); return i; }
static HSC_INLINE double hsc_float(uint64_t i) { double x; memcpy(&x, &i, sizeof x); return x; }
static HSC_INLINE uint32_t hsc_bitsf(float x) { uint32_t i; memcpy(&i, &x, sizeof i); return i; }
static HSC_INLINE float hsc_floatf(uint32_t i) { float x; memcpy(&x, &i, sizeof x); return x; }
/* The Euclidean remainder of x by m > 0. */
static HSC_INLINE int64_t hsc_wrap(int64_t x, int64_t m) { int64_t r = x % m; return r < 0 ? r + m : r; }
/* x clamped into [0, hi]. */
static HSC_INLINE int64_t hsc_clamp(int64_t x, int64_t hi) { return x < 0 ? 0 : x > hi ? hi : x; }
"#;

/// The C source of every kernel of `module`, computing in `real`.
pub fn emit(module: &Verified, real: Real) -> Source {
    let model = &module.spec.name;
    let mut functions = String::new();
    let mut used = Used::default();
    let mut symbols = Vec::new();
    let mut header = format!(
        "/* {model}: the kernels hsc generated, in {real}. Each runs one pass over one sequence of\n   \
         `steps` >= 1 steps; `buffers` holds one pointer per buffer, in the order listed. */\n\
         #ifndef HSC_{upper}_H\n#define HSC_{upper}_H\n#include <stdint.h>\n\n",
        upper = model.to_uppercase(),
    );
    for (kernel, info) in module.kernels() {
        let name = kernel.symbol(model);
        let mut e = Emitter {
            k: kernel,
            info,
            real,
            out: String::new(),
            depth: 1,
            simd: false,
            used: &mut used,
            temps: 0,
            accessed: vec![false; kernel.buffers.len()],
        };
        e.function(&name);
        functions += &e.out;
        header += &abi_comment(kernel, real);
        header +=
            &format!("void {name}(uint8_t *const *buffers, int64_t steps, double eps0, double eps1);\n\n");
        symbols.push(name);
    }
    header += "#endif\n";
    let contract = real == Real::F32 && !used.pow;
    let mut text = format!(
        "/* {model}: kernels generated by hsc, in {real}. Do not edit.\n   hsc builds it with {}. */\n{PRELUDE}\n",
        super::flags(contract).join(" ")
    );
    if used.pow {
        text += &math::define_pow();
        text += "\n";
    }
    for f in &used.funcs {
        text += &math::define(*f, real);
        text += "\n";
    }
    text += &functions;
    Source { text, header, symbols, contract }
}

/// The prelude and every function of the language in `real` (and `pow` in f64), as `static
/// inline` C functions `hsc_<name>` (`hsc_<name>_f32`) and `hsc_pow`: the C math library on
/// its own, for a translation unit that adds its own callers (the tests do).
pub fn library(real: Real) -> String {
    let mut text = PRELUDE.to_string() + &math::define_pow();
    for f in Func::ALL.into_iter().chain([Func::Sign, Func::Step]) {
        if !matches!(f, Func::Abs | Func::Sqrt) {
            text += &math::define(f, real);
        }
    }
    text
}

/// The comment above a kernel's prototype: its buffers, in the order of `buffers`.
fn abi_comment(kernel: &Kernel, real: Real) -> String {
    let mut s = format!("/* {} kernel; buffers:\n", kernel.pass.name());
    for (i, b) in kernel.buffers.values().enumerate() {
        let ty = buffer_type(b, real);
        let what = b.slot.map_or("scratch, zeroed".to_string(), |s| s.to_string());
        let rows = match b.time {
            Some(0) => "steps x ".to_string(),
            Some(extra) => format!("(steps + {extra}) x "),
            None => String::new(),
        };
        let _ = writeln!(s, "   [{i}] {}: {what}, {rows}{} {ty}s", b.name, b.row_len());
    }
    s + "*/\n"
}

/// The C type of a buffer's elements: `double` for the streams (given, with a time axis),
/// else the kernel's type.
fn buffer_type(b: &crate::kernel::Buffer, real: Real) -> &'static str {
    if b.slot.is_some_and(|s| s.is_given()) && b.time.is_some() { "double" } else { c_type(real) }
}

fn c_type(real: Real) -> &'static str {
    match real {
        Real::F64 => "double",
        Real::F32 => "float",
    }
}

/// The functions the kernels call.
#[derive(Default)]
struct Used {
    funcs: BTreeSet<Func>,
    pow: bool,
}

struct Emitter<'a> {
    k: &'a Kernel,
    info: &'a Info,
    real: Real,
    out: String,
    depth: usize,
    /// Inside a loop that carries `omp simd` (which may not nest).
    simd: bool,
    used: &'a mut Used,
    /// Temporaries made so far (the powers' partial products).
    temps: u32,
    /// The buffers the kernel reads or writes (the others get no local).
    accessed: Vec<bool>,
}

impl Emitter<'_> {
    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.out += "    ";
        }
        self.out += text;
        self.out += "\n";
    }

    fn function(&mut self, name: &str) {
        let ty = c_type(self.real);
        let body = &self.k.body;
        self.block(body);
        let body = std::mem::take(&mut self.out);
        self.out += &format!(
            "HSC_KERNEL void {name}(uint8_t *const *buffers, int64_t steps, double eps0, double eps1) {{\n"
        );
        let accessed = std::mem::take(&mut self.accessed);
        for (i, (b, buf)) in self.k.buffers.iter().enumerate().filter(|(i, _)| accessed[*i]) {
            let constness = if self.info.written[i] { "" } else { "const " };
            let ty = buffer_type(buf, self.real);
            let line = format!(
                "{constness}{ty} *restrict {} = ({constness}{ty} *)buffers[{i}]; /* {} */",
                buf_name(b),
                buf.name
            );
            self.line(&line);
        }
        self.line(&format!("const {ty} e0 = ({ty})eps0, e1 = ({ty})eps1;"));
        self.line("(void)buffers; (void)e0; (void)e1; (void)steps;");
        self.out += &body;
        self.out += "}\n\n";
    }

    fn block(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let ty = c_type(self.real);
        match s {
            Stmt::Let(v, op) => {
                let e = self.op(op);
                self.line(&format!("const {ty} {} = {e};", val(*v)));
            }
            Stmt::Loop { var, lo, hi, body } => self.counted(*var, *lo, *hi, "HSC_LANES", body, None),
            Stmt::Steps { var, reverse, body } => {
                let i = var.to_string();
                if *reverse {
                    self.line(&format!("for (int64_t {i} = steps - 1; {i} >= 0; {i}--) {{"));
                } else {
                    self.line(&format!("for (int64_t {i} = 0; {i} < steps; {i}++) {{"));
                }
                self.nested(false, body, None);
                self.line("}");
            }
            Stmt::Reduce { result, var, lo, hi, body, value } => {
                let acc = val(*result);
                self.line(&format!("{ty} {acc} = 0;"));
                let add = format!("{acc} += {};", val(*value));
                self.counted(*var, *lo, *hi, &format!("HSC_LANE_SUM({acc})"), body, Some(&add));
            }
            Stmt::Store { buf, index, value, add } => {
                let at = self.element(*buf, index);
                let op = if *add { "+=" } else { "=" };
                self.line(&format!("{at} {op} {};", val(*value)));
            }
        }
    }

    /// `for (var = lo; var < hi; var++) { body last }`, headed by `lanes` (the loop's
    /// `omp simd` hint) where [`Info`] finds it lane-wise outside any other such loop, or by an
    /// unroll hint where it is a short loop inside one.
    fn counted(&mut self, var: LoopVar, lo: i64, hi: i64, lanes: &str, body: &[Stmt], last: Option<&str>) {
        let simd = !self.simd && self.info.lanes.contains(&var);
        if simd {
            self.line(lanes);
        } else if self.simd && hi - lo <= UNROLL {
            self.line("HSC_UNROLL");
        }
        self.line(&format!("for (int64_t {var} = {lo}; {var} < {hi}; {var}++) {{"));
        self.nested(simd, body, last);
        self.line("}");
    }

    /// `body`, then `last`, one level deeper; `simd`: inside a loop that carries `omp simd`.
    fn nested(&mut self, simd: bool, body: &[Stmt], last: Option<&str>) {
        let was = self.simd;
        self.simd |= simd;
        self.depth += 1;
        self.block(body);
        if let Some(last) = last {
            self.line(last);
        }
        self.depth -= 1;
        self.simd = was;
    }

    fn op(&mut self, op: &Op) -> String {
        match op {
            Op::Const(c) => literal(*c, self.real),
            Op::Eps(i) => format!("e{i}"),
            Op::Load { buf, index } => {
                let element = self.element(*buf, index);
                let wide = buffer_type(&self.k.buffers[*buf], self.real) != c_type(self.real);
                if wide { format!("({}){element}", c_type(self.real)) } else { element }
            }
            Op::Neg(a) => format!("-{}", val(*a)),
            Op::Binary(op, a, c) => {
                let (a, c) = (val(*a), val(*c));
                match op {
                    BinOp::Add => format!("{a} + {c}"),
                    BinOp::Sub => format!("{a} - {c}"),
                    BinOp::Mul => format!("{a} * {c}"),
                    BinOp::Div => format!("{a} / {c}"),
                    BinOp::Pow => {
                        self.used.pow = true;
                        match self.real {
                            Real::F64 => format!("{}({a}, {c})", math::POW),
                            Real::F32 => format!("(float){}((double){a}, (double){c})", math::POW),
                        }
                    }
                }
            }
            Op::Powi(a, n) => self.powi(*a, *n),
            Op::Call(f, a) => {
                let a = val(*a);
                let suffix = if self.real == Real::F32 { "f" } else { "" };
                match f {
                    Func::Abs => format!("__builtin_fabs{suffix}({a})"),
                    Func::Sqrt => format!("__builtin_sqrt{suffix}({a})"),
                    f => {
                        self.used.funcs.insert(*f);
                        format!("{}({a})", math::name(*f, self.real))
                    }
                }
            }
            Op::Select { conds, then, otherwise } => {
                if conds.is_empty() {
                    return val(*then);
                }
                let conds: Vec<String> = conds.iter().map(|c| self.cond(c)).collect();
                format!("({}) ? {} : {}", conds.join(" && "), val(*then), val(*otherwise))
            }
        }
    }

    /// `a^n` by repeated squaring in the order of compiler-rt's `__powidf2` (as Rust's `powi`
    /// and the interpreter), in f64: the expression, after the statements it needs. In f32,
    /// `a`, `a*a` and `1/a` are the same bits in f32 arithmetic; other powers are computed in
    /// f64 and rounded.
    fn powi(&mut self, a: Value, n: i32) -> String {
        let a = val(a);
        if self.real == Real::F32 {
            match n {
                1 => return a,
                2 => return format!("{a} * {a}"),
                -1 => return format!("1.0f / {a}"),
                _ => {}
            }
        }
        let wide = |x: &str| if self.real == Real::F32 { format!("(double){x}") } else { x.to_string() };
        let (mut base, mut r, mut e) = (wide(&a), None::<String>, n.unsigned_abs());
        let tmp = |s: &mut Self, expr: String| {
            s.temps += 1;
            let name = format!("p{}", s.temps);
            s.line(&format!("const double {name} = {expr};"));
            name
        };
        loop {
            if e & 1 == 1 {
                r = Some(match r {
                    None => base.clone(),
                    Some(r) => tmp(self, format!("{r} * {base}")),
                });
            }
            e /= 2;
            if e == 0 {
                break;
            }
            base = tmp(self, format!("{base} * {base}"));
        }
        let r = r.unwrap_or_else(|| "1.0".into());
        let r = if n < 0 { format!("1.0 / {r}") } else { r };
        if self.real == Real::F32 { format!("(float)({r})") } else { r }
    }

    fn cond(&self, c: &Cond) -> String {
        match c {
            Cond::Range { index, lo, hi } => {
                let i = index_expr(index);
                format!("({i} >= {lo} && {i} < {hi})")
            }
            Cond::Equal(a, b) => format!("({} == {})", index_expr(a), index_expr(b)),
        }
    }

    /// `b<n>[flat index]`: row-major, the time axis first.
    fn element(&mut self, buf: crate::kernel::Buf, index: &[Index]) -> String {
        self.accessed[buf.as_u32() as usize] = true;
        let b = &self.k.buffers[buf];
        let mut strides = Vec::with_capacity(index.len());
        let mut stride = 1u64;
        for &s in b.shape.iter().rev() {
            strides.push(stride);
            stride *= s;
        }
        if b.time.is_some() {
            strides.push(stride);
        }
        strides.reverse();
        let mut terms = Vec::new();
        let mut constant = 0i64;
        for (i, stride) in index.iter().zip(strides) {
            let stride = stride as i64;
            if i.var.is_none() {
                constant += i.outer * stride;
                continue;
            }
            let x = if i.wrap.is_none() && i.clamp.is_none() {
                constant += (i.inner + i.outer) * stride;
                i.var.expect("checked above").to_string()
            } else {
                index_expr(i)
            };
            terms.push(if stride == 1 { x } else { format!("{x} * {stride}") });
        }
        if constant != 0 || terms.is_empty() {
            terms.push(constant.to_string());
        }
        format!("{}[{}]", buf_name(buf), terms.join(" + "))
    }
}

fn val(v: Value) -> String {
    format!("v{}", v.as_u32())
}

fn buf_name(b: crate::kernel::Buf) -> String {
    format!("b{}", b.as_u32())
}

/// The value of an index, as a C `int64_t` expression.
fn index_expr(i: &Index) -> String {
    let Some(var) = i.var else { return i.outer.to_string() };
    let mut x = var.to_string();
    if i.inner != 0 {
        x = format!("({x} + {})", i.inner);
    }
    if let Some(m) = i.wrap {
        x = format!("hsc_wrap({x}, {m})");
    }
    if i.outer != 0 {
        x = format!("({x} + {})", i.outer);
    }
    if let Some(n) = i.clamp {
        x = format!("hsc_clamp({x}, {})", n - 1);
    }
    x
}
