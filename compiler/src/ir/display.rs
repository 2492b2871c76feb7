//! The one textual form of the IR, used by `hsc emit --stage ir` and the `{example}@ir`
//! snapshots: declarations, index variables, then one node per line in arena order with its
//! type, each `let` printed right after its body.

use std::fmt;

use super::{Dt, Expr, Index, Program, Role, UnaryOp};

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model {}", self.name)?;
        for d in &self.dims {
            let note = if d.overridden { "  (set by -D)" } else { "" };
            writeln!(f, "dim {} = {}{note}", d.name, d.value)?;
        }
        for c in &self.consts {
            writeln!(f, "const {} = {}", c.name, c.value)?;
        }
        for (id, t) in self.tensors.iter() {
            let decl = match &t.role {
                Role::Param(init) => format!("param {}{} = {}", t.name, t.shape_text(), init),
                Role::Position(n) => {
                    let m = &self.tensors[self.pairs[*n].momentum];
                    format!("state {}{} momentum {}", t.name, t.shape_text(), m.name)
                }
                Role::Momentum(n) => {
                    let q = &self.tensors[self.pairs[*n].position];
                    format!("momentum {}{} of {}", t.name, t.shape_text(), q.name)
                }
                role => format!("{} {}{}", role.keyword(), t.name, t.shape_text()),
            };
            let n = t.len();
            writeln!(f, "{:<5} {decl:<44} {n} value{}", id.to_string(), if n == 1 { "" } else { "s" })?;
        }
        for (id, i) in self.indices.iter() {
            let dim = i.dim.as_deref().map(|d| format!("  ({d})")).unwrap_or_default();
            writeln!(f, "{:<5} index {} in {}..{}{dim}", id.to_string(), i.name, i.lo, i.hi)?;
        }
        for (id, e) in self.exprs.iter() {
            let free: Vec<String> = self.exprs.free(id).iter().map(|i| i.to_string()).collect();
            let text = self.node(e);
            writeln!(f, "{:<6} = {text:<40} : [{}]", id.to_string(), free.join(", "))?;
            for (lid, l) in self.lets.iter().filter(|(_, l)| l.body == id) {
                let idx: Vec<String> = l.indices.iter().map(|i| i.to_string()).collect();
                writeln!(f, "{:<6} let {}[{}] = {id}", lid.to_string(), l.name, idx.join(", "))?;
            }
        }
        writeln!(f, "H = {}", self.hamiltonian)?;
        match self.loss {
            Some(l) => writeln!(f, "loss = {l}")?,
            None => writeln!(f, "loss: none (per-step cotangents of the positions come from the caller)")?,
        }
        let dt = match self.integrator.dt {
            Dt::Fixed(h) => h.to_string(),
            Dt::Param(t) => format!("{} (trainable)", self.tensors[t].name),
        };
        writeln!(f, "integrator {}(dt = {dt})", self.integrator.method.name())
    }
}

impl Program {
    fn node(&self, e: &Expr) -> String {
        match e {
            Expr::Const(x) => format!("const {x}"),
            Expr::Load { tensor, index } => {
                format!("load {}{}", self.tensors[*tensor].name, indices(index))
            }
            Expr::LetRef { target, index } => {
                format!("let {}{}", self.lets[*target].name, indices(index))
            }
            Expr::Unary(UnaryOp::Neg, a) => format!("neg {a}"),
            Expr::Binary(op, a, b) => format!("{a} {} {b}", op.symbol()),
            Expr::Call(func, a) => format!("{}({a})", func.name()),
            Expr::Sum { over, body } => {
                let over: Vec<String> = over.iter().map(|i| i.to_string()).collect();
                format!("sum({}, {body})", over.join(", "))
            }
        }
    }
}

fn indices(index: &[Index]) -> String {
    if index.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = index.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match (self.var, self.offset) {
            (None, c) => c.to_string(),
            (Some(v), 0) => v.to_string(),
            (Some(v), c) if c > 0 => format!("{v} + {c}"),
            (Some(v), c) => format!("{v} - {}", c.unsigned_abs()),
        };
        match self.wrap {
            Some(m) if self.var.is_some() && self.offset != 0 => write!(f, "({base}) % {m}"),
            Some(m) => write!(f, "{base} % {m}"),
            None => f.write_str(&base),
        }
    }
}
