//! DAG nodes as readable math: infix with the fewest parentheses, `a - b` and `a / b` where
//! the canonical form holds `a + (-1) b` and `a b^-1`, sums with their index (and range, when
//! it is not a whole dim), guards as `[k >= 1]`.

use std::collections::HashMap;

use super::dag::{Cond, Dag, Ix, Leaf, Node, Term, Var};

/// Prints nodes of one DAG; `leaf_name` names the arrays.
pub struct Printer<'a> {
    dag: &'a Dag,
    leaf_name: &'a dyn Fn(Leaf) -> String,
    names: HashMap<Var, String>,
    /// Nodes written out so far; past [`MAX_NODES_SHOWN`] the rest print as handles.
    shown: usize,
}

/// Most nodes one expression is written out with: a DAG can share subexpressions so deeply
/// that writing it as a tree would be exponentially long, so past this, nodes print as their
/// handles (`%s12`).
pub const MAX_NODES_SHOWN: usize = 4000;

const ADD: u8 = 1;
const MUL: u8 = 2;
const NEG: u8 = 3;
const POW: u8 = 4;
const ATOM: u8 = 5;

impl<'a> Printer<'a> {
    /// A printer; free variables print under their own names.
    pub fn new(dag: &'a Dag, leaf_name: &'a dyn Fn(Leaf) -> String) -> Printer<'a> {
        Printer { dag, leaf_name, names: HashMap::new(), shown: 0 }
    }

    /// The text of `n`.
    pub fn print(&mut self, n: Node) -> String {
        for &v in self.dag.free(n) {
            self.names.entry(v).or_insert_with(|| self.dag.vars[v].name.clone());
        }
        self.expr(n).0
    }

    /// The name of a variable, as printed.
    pub fn var_name(&self, v: Var) -> String {
        self.names.get(&v).cloned().unwrap_or_else(|| self.dag.vars[v].name.clone())
    }

    fn ix(&self, ix: Ix) -> String {
        let Some(v) = ix.var else { return ix.outer.to_string() };
        let shifted = |name: String, c: i64| match c {
            0 => name,
            c if c > 0 => format!("{name} + {c}"),
            c => format!("{name} - {}", -c),
        };
        let inner = shifted(self.var_name(v), ix.inner);
        match ix.wrap {
            None => shifted(inner, ix.outer),
            Some(m) => {
                let wrapped =
                    if ix.inner == 0 { format!("{inner} % {m}") } else { format!("({inner}) % {m}") };
                if ix.outer == 0 { wrapped } else { shifted(format!("({wrapped})"), ix.outer) }
            }
        }
    }

    fn cond(&self, c: &Cond) -> String {
        let (lo, hi) = self.dag.range_of(c.ix);
        let ix = self.ix(c.ix);
        match (lo < c.lo, hi > c.hi) {
            (true, true) => format!("{} <= {ix} < {}", c.lo, c.hi),
            (true, false) => format!("{ix} >= {}", c.lo),
            (false, _) => format!("{ix} < {}", c.hi),
        }
    }

    /// The text and its precedence.
    fn expr(&mut self, n: Node) -> (String, u8) {
        self.shown += 1;
        if self.shown > MAX_NODES_SHOWN {
            return (n.to_string(), ATOM);
        }
        match self.dag.get(n).clone() {
            Term::Const(c) => {
                let text = c.0.to_string();
                (text, if c.0 < 0.0 { NEG } else { ATOM })
            }
            Term::Load { leaf, index } => {
                let name = (self.leaf_name)(leaf);
                if index.is_empty() {
                    (name, ATOM)
                } else {
                    let idx: Vec<String> = index.iter().map(|&i| self.ix(i)).collect();
                    (format!("{name}[{}]", idx.join(", ")), ATOM)
                }
            }
            Term::Add(xs) => {
                let mut out = String::new();
                for (k, &x) in xs.iter().enumerate() {
                    let (negative, text) = match self.dag.get(x).clone() {
                        Term::Mul(fs) if self.dag.constant(fs[0]).is_some_and(|c| c < 0.0) => {
                            let c = self.dag.constant(fs[0]).unwrap_or(-1.0);
                            (true, self.product(-c, &fs[1..]))
                        }
                        Term::Const(c) if c.0 < 0.0 => (true, (-c.0).to_string()),
                        _ => (false, self.wrap(x, ADD + 1)),
                    };
                    match (k, negative) {
                        (0, false) => out.push_str(&text),
                        (0, true) => out.push_str(&format!("-{text}")),
                        (_, false) => out.push_str(&format!(" + {text}")),
                        (_, true) => out.push_str(&format!(" - {text}")),
                    }
                }
                (out, ADD)
            }
            Term::Mul(xs) => match self.dag.constant(xs[0]) {
                Some(c) if c < 0.0 => {
                    let text = self.product(-c, &xs[1..]);
                    (format!("-{text}"), NEG)
                }
                Some(c) => (self.product(c, &xs[1..]), MUL),
                None => (self.product(1.0, &xs), MUL),
            },
            Term::Pow(b, e) => {
                if let Some(c) = self.dag.constant(e).filter(|c| *c < 0.0) {
                    let base = self.wrap(b, POW + 1);
                    let text = if c == -1.0 {
                        format!("1 / {}", self.wrap(b, POW))
                    } else {
                        format!("1 / {base}^{}", -c)
                    };
                    return (text, MUL);
                }
                let (base, exponent) = (self.wrap(b, POW + 1), self.wrap(e, POW));
                (format!("{base}^{exponent}"), POW)
            }
            Term::Call(f, a) => {
                let arg = self.expr(a).0;
                (format!("{}({arg})", f.name()), ATOM)
            }
            Term::Sum { over, body } => {
                let mut binders = Vec::new();
                let taken: Vec<String> = self.names.values().cloned().collect();
                for &v in &over {
                    let info = &self.dag.vars[v];
                    let mut name = info.name.clone();
                    let mut k = 2;
                    while taken.contains(&name) {
                        name = format!("{}{k}", info.name);
                        k += 1;
                    }
                    self.names.insert(v, name.clone());
                    binders.push(if info.dim.is_some() {
                        name
                    } else {
                        format!("{name} in {}..{}", info.lo, info.hi)
                    });
                }
                let body = self.expr(body).0;
                for v in &over {
                    self.names.remove(v);
                }
                (format!("sum({}, {body})", binders.join(", ")), ATOM)
            }
            Term::Guard(conds) => {
                let cs: Vec<String> = conds.iter().map(|c| self.cond(c)).collect();
                (format!("[{}]", cs.join(", ")), ATOM)
            }
            Term::Delta(v, ix) => (format!("[{} == {}]", self.var_name(v), self.ix(ix)), ATOM),
        }
    }

    /// `coefficient * factors`, with negative powers written as divisions.
    fn product(&mut self, coefficient: f64, factors: &[Node]) -> String {
        let mut numerator = Vec::new();
        if coefficient != 1.0 {
            numerator.push(coefficient.to_string());
        }
        let mut denominator = Vec::new();
        for &x in factors {
            match self.dag.get(x).clone() {
                Term::Pow(b, e) if self.dag.constant(e).is_some_and(|e| e < 0.0) => {
                    let e = -self.dag.constant(e).unwrap_or(-1.0);
                    let text =
                        if e == 1.0 { self.wrap(b, POW) } else { format!("{}^{e}", self.wrap(b, POW + 1)) };
                    denominator.push(text);
                }
                _ => numerator.push(self.wrap(x, MUL + 1)),
            }
        }
        if numerator.is_empty() {
            numerator.push("1".to_owned());
        }
        let mut text = numerator.join(" * ");
        for d in denominator {
            text.push_str(&format!(" / {d}"));
        }
        text
    }

    fn wrap(&mut self, n: Node, min: u8) -> String {
        let (text, prec) = self.expr(n);
        if prec < min { format!("({text})") } else { text }
    }
}
