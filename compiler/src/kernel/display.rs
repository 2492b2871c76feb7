//! The text form of the kernel IR (`hsc emit --stage kernels`), which [`super::parse`] reads
//! back: a header with the kernel's pass and what it holds, the id spaces (`values v0..vN`:
//! the ids handed out so far, some of them perhaps no longer defined; `vars`: every loop
//! variable, in id order, used or not), one line per buffer, then the statements, two spaces
//! deeper per block. It holds everything a [`Kernel`] holds, so that `parse(print(k)) == k`:
//!
//! ```text
//! kernel forward (2 values, 1 loops)
//!   values v0..v2
//!   vars k0
//!   buffer b0 W[4]: param 0
//!   buffer b1 q[4]: state q0
//!   for k0 in 0..4 {
//!     v0 = load W[k0]
//!     v1 = tanh(v0)
//!     q[k0] = v1
//!   }
//! ```
//!
//! A loop variable prints as its name and its id (`k0`), with a `_` between them where the
//! name ends in a digit or a `_` (`x1_3`), so that the id is always the trailing digits. An
//! index prints as `clamp(((var + inner) mod wrap) + outer, n)`, leaving out what is zero or
//! absent; an offset added before a wrap that is absent stays in parentheses (`(k0 + 1)`,
//! unlike `k0 + 1`, where it is added after).

use std::fmt::{self, Write};

use super::{BinOp, Cond, Index, Kernel, LoopVar, Module, Op, Stmt};

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.kernels.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

/// The values a block defines and the loops it runs (sums and the time loop included),
/// nested blocks included.
pub(super) fn count(stmts: &[Stmt]) -> (usize, usize) {
    let (mut values, mut loops) = (0, 0);
    for s in stmts {
        let (v, l) = match s {
            Stmt::Let(..) => (1, 0),
            Stmt::Store { .. } => (0, 0),
            Stmt::Loop { body, .. } | Stmt::Steps { body, .. } => {
                let (v, l) = count(body);
                (v, l + 1)
            }
            Stmt::Reduce { body, .. } => {
                let (v, l) = count(body);
                (v + 1, l + 1)
            }
        };
        values += v;
        loops += l;
    }
    (values, loops)
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (values, loops) = count(&self.body);
        writeln!(f, "kernel {} ({values} values, {loops} loops)", self.pass.name())?;
        writeln!(f, "  values v0..v{}", self.values)?;
        let vars: Vec<String> = self.vars.keys().map(|v| var(self, v)).collect();
        writeln!(f, "  vars{}", vars.iter().map(|v| format!(" {v}")).collect::<String>())?;
        for (id, b) in &self.buffers {
            let mut shape: Vec<String> = b
                .time
                .map(|extra| if extra == 0 { "T".into() } else { format!("T+{extra}") })
                .into_iter()
                .collect();
            shape.extend(b.shape.iter().map(u64::to_string));
            let what = match b.slot {
                Some(slot) => slot.to_string(),
                None => "scratch".into(),
            };
            writeln!(f, "  buffer {id} {}[{}]: {what}", b.name, shape.join(", "))?;
        }
        let mut out = String::new();
        block(self, &self.body, 1, &mut out)?;
        f.write_str(&out)
    }
}

fn var(k: &Kernel, v: LoopVar) -> String {
    var_text(&k.vars[v], v.as_u32())
}

/// A loop variable's printed form: its name, then its id (after a `_` where the name would
/// run into it).
pub(super) fn var_text(name: &str, id: u32) -> String {
    let sep =
        if name.is_empty() || name.ends_with(|c: char| c.is_ascii_digit() || c == '_') { "_" } else { "" };
    format!("{name}{sep}{id}")
}

/// ` + n` or ` - n`.
fn offset(n: i64) -> String {
    format!(" {} {}", if n < 0 { '-' } else { '+' }, n.unsigned_abs())
}

fn index(k: &Kernel, i: &Index) -> String {
    let mut s = match (i.var, i.inner, i.wrap) {
        (None, 0, None) => i.outer.to_string(),
        (Some(v), 0, None) => var(k, v),
        (v, inner, wrap) => {
            let mut s = match v {
                Some(v) => var(k, v),
                None => inner.to_string(),
            };
            if v.is_some() && inner != 0 {
                s.push_str(&offset(inner));
            }
            match wrap {
                Some(m) => format!("({s}) mod {m}"),
                None => format!("({s})"),
            }
        }
    };
    if i.outer != 0 && (i.var.is_some() || i.inner != 0 || i.wrap.is_some()) {
        s.push_str(&offset(i.outer));
    }
    if let Some(n) = i.clamp {
        s = format!("clamp({s}, {n})");
    }
    s
}

fn access(k: &Kernel, buf: super::Buf, idx: &[Index]) -> String {
    let parts: Vec<String> = idx.iter().map(|i| index(k, i)).collect();
    format!("{}[{}]", k.buffers[buf].name, parts.join(", "))
}

fn cond(k: &Kernel, c: &Cond) -> String {
    match c {
        Cond::Range { index: i, lo, hi } => {
            let i = index(k, i);
            match (*lo == i64::MIN, *hi == i64::MAX) {
                (true, _) => format!("{i} < {hi}"),
                (_, true) => format!("{i} >= {lo}"),
                _ => format!("{lo} <= {i} < {hi}"),
            }
        }
        Cond::Equal(a, b) => format!("{} == {}", index(k, a), index(k, b)),
    }
}

fn block(k: &Kernel, stmts: &[Stmt], depth: usize, out: &mut String) -> fmt::Result {
    let pad = "  ".repeat(depth);
    for s in stmts {
        match s {
            Stmt::Let(v, op) => writeln!(out, "{pad}{v} = {}", op_text(k, op))?,
            Stmt::Loop { var: v, lo, hi, body } => {
                writeln!(out, "{pad}for {} in {lo}..{hi} {{", var(k, *v))?;
                block(k, body, depth + 1, out)?;
                writeln!(out, "{pad}}}")?;
            }
            Stmt::Steps { var: v, reverse, body } => {
                let dir = if *reverse { " reversed" } else { "" };
                writeln!(out, "{pad}for {} in 0..T{dir} {{", var(k, *v))?;
                block(k, body, depth + 1, out)?;
                writeln!(out, "{pad}}}")?;
            }
            Stmt::Reduce { result, var: v, lo, hi, body, value } => {
                writeln!(out, "{pad}{result} = sum {} in {lo}..{hi} {{", var(k, *v))?;
                block(k, body, depth + 1, out)?;
                writeln!(out, "{pad}  yield {value}")?;
                writeln!(out, "{pad}}}")?;
            }
            Stmt::Store { buf, index: idx, value, add } => {
                writeln!(out, "{pad}{} {} {value}", access(k, *buf, idx), if *add { "+=" } else { "=" })?;
            }
        }
    }
    Ok(())
}

fn op_text(k: &Kernel, op: &Op) -> String {
    match op {
        Op::Const(c) => format!("{c:?}"),
        Op::Eps(i) => format!("eps_{}", if *i == 0 { 'a' } else { 'b' }),
        Op::Load { buf, index } => format!("load {}", access(k, *buf, index)),
        Op::Neg(a) => format!("-{a}"),
        Op::Binary(op, a, b) => {
            let s = match op {
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::Div => "/",
                BinOp::Pow => "^",
            };
            format!("{a} {s} {b}")
        }
        Op::Powi(a, n) => format!("{a} ^ {n}"),
        Op::Call(func, a) => format!("{}({a})", func.name()),
        Op::Select { conds, then, otherwise } => {
            let c: Vec<String> = conds.iter().map(|c| cond(k, c)).collect();
            format!("select({}, {then}, {otherwise})", c.join(" && "))
        }
    }
}
