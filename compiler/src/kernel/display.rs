//! The text form of the kernel IR (`hsc emit --stage kernels`).

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
fn count(stmts: &[Stmt]) -> (usize, usize) {
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
    format!("{}{}", k.vars[v], v.as_u32())
}

fn index(k: &Kernel, i: &Index) -> String {
    let mut s = match i.var {
        Some(v) => var(k, v),
        None => String::new(),
    };
    if i.inner != 0 {
        let _ = write!(s, " {} {}", if i.inner < 0 { '-' } else { '+' }, i.inner.abs());
    }
    if let Some(m) = i.wrap {
        s = format!("({s}) mod {m}");
    }
    if i.outer != 0 || i.var.is_none() {
        if i.var.is_none() {
            s = i.outer.to_string();
        } else {
            let _ = write!(s, " {} {}", if i.outer < 0 { '-' } else { '+' }, i.outer.abs());
        }
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
