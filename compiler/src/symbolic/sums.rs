//! Sums and index substitution: where Kronecker deltas are eliminated.
//!
//! Differentiating `sum(i, q[i + 1] * w[i])` by `q[k]` gives `sum(i, [k == i + 1] * w[i])`.
//! [`Dag::sum`] solves the delta for the summed index (`i = k - 1`), substitutes it into the
//! other factors and keeps the range of `i` as a guard on `k`: `[1 <= k < P + 1] * w[k - 1]`.
//! Wrap-around indices solve the same way, modulo their size. The result is a loop over `k`
//! whose size does not depend on the dims: nothing is expanded into scalars.

use std::collections::HashMap;

use super::dag::{Cond, Dag, Ix, Node, Term, Var};

impl Dag {
    /// The sum of `body` over `over`: distributed over `+`, with factors that do not depend
    /// on the summed variables taken out, unused variables turned into a count, and deltas on
    /// summed variables eliminated.
    pub fn sum(&mut self, over: Vec<Var>, body: Node) -> Node {
        if self.exhausted() {
            return self.num(0.0);
        }
        let used: Vec<Var> = over.iter().copied().filter(|v| self.free(body).contains(v)).collect();
        // A variable the body does not use multiplies the sum by the length of its range.
        let count: f64 = over
            .iter()
            .filter(|v| !used.contains(v))
            .map(|&v| (self.vars[v].hi - self.vars[v].lo) as f64)
            .product();
        let count = self.num(count);
        let inner = self.sum_used(used, body);
        self.mul2(count, inner)
    }

    fn sum_used(&mut self, mut over: Vec<Var>, body: Node) -> Node {
        if over.is_empty() {
            return body;
        }
        over.sort();
        match self.get(body).clone() {
            Term::Add(terms) => {
                let parts: Vec<Node> = terms.into_iter().map(|t| self.sum(over.clone(), t)).collect();
                self.add(parts)
            }
            Term::Mul(factors) => {
                // A factor that is a sum holding a delta on a summed variable is distributed,
                // so that each delta meets the sum that eliminates it.
                if let Some(k) = factors
                    .iter()
                    .position(|&f| matches!(self.get(f), Term::Add(_)) && self.holds_delta_on(f, &over))
                {
                    let Term::Add(terms) = self.get(factors[k]).clone() else { unreachable!() };
                    let parts: Vec<Node> = terms
                        .into_iter()
                        .map(|t| {
                            let mut fs = factors.clone();
                            fs[k] = t;
                            let product = self.mul(fs);
                            self.sum(over.clone(), product)
                        })
                        .collect();
                    return self.add(parts);
                }
                // Factors free of the summed variables go outside.
                let (inside, outside): (Vec<Node>, Vec<Node>) =
                    factors.into_iter().partition(|&f| self.free(f).iter().any(|v| over.contains(v)));
                if let Some(reduced) = self.eliminate_delta(&over, &inside) {
                    let mut all = outside;
                    all.push(reduced);
                    return self.mul(all);
                }
                let body = self.mul(inside);
                let s = self.intern_sum(over, body);
                let mut all = outside;
                all.push(s);
                self.mul(all)
            }
            Term::Delta(..) => {
                self.eliminate_delta(&over, &[body]).unwrap_or_else(|| self.intern_sum(over, body))
            }
            _ => self.intern_sum(over, body),
        }
    }

    /// Whether `n` holds, through sums and products, a delta that involves one of `over`.
    fn holds_delta_on(&self, n: Node, over: &[Var]) -> bool {
        if !self.free(n).iter().any(|v| over.contains(v)) {
            return false;
        }
        match self.get(n) {
            Term::Delta(v, ix) => over.contains(v) || ix.var.is_some_and(|w| over.contains(&w)),
            Term::Add(xs) | Term::Mul(xs) => xs.iter().any(|&x| self.holds_delta_on(x, over)),
            Term::Sum { body, .. } => self.holds_delta_on(*body, over),
            _ => false,
        }
    }

    fn intern_sum(&mut self, over: Vec<Var>, body: Node) -> Node {
        self.intern(Term::Sum { over, body })
    }

    /// Finds a delta among `factors` that fixes one of the summed variables, and returns the
    /// sum with that variable substituted away (and its range kept as a guard).
    fn eliminate_delta(&mut self, over: &[Var], factors: &[Node]) -> Option<Node> {
        for (k, &f) in factors.iter().enumerate() {
            let Term::Delta(var, ix) = *self.get(f) else { continue };
            // Which summed variable does it fix, and to what?
            let solved = if over.contains(&var) && ix.var != Some(var) {
                // [var == ix]: var := ix, which must lie in var's range.
                let info = &self.vars[var];
                Some((var, ix, vec![Cond { ix, lo: info.lo, hi: info.hi }]))
            } else if let Some(w) = ix.var.filter(|w| over.contains(w) && *w != var) {
                self.solve(w, ix, var)
            } else {
                None
            };
            let Some((v, by, conds)) = solved else { continue };
            let mut rest = Vec::new();
            for (j, &g) in factors.iter().enumerate() {
                if j != k {
                    rest.push(self.substitute(g, v, by, &mut HashMap::new())?);
                }
            }
            let guard = self.guard(conds);
            rest.push(guard);
            let body = self.mul(rest);
            let remaining: Vec<Var> = over.iter().copied().filter(|&u| u != v).collect();
            return Some(self.sum(remaining, body));
        }
        None
    }

    /// Solves `k == ix` for the variable `w` of `ix`: the index to put in place of `w`, with
    /// the conditions under which a solution lies in `w`'s range.
    fn solve(&self, w: Var, ix: Ix, k: Var) -> Option<(Var, Ix, Vec<Cond>)> {
        let (lo, hi) = (self.vars[w].lo, self.vars[w].hi);
        match ix.wrap {
            None => {
                // k = w + inner + outer  =>  w = k - inner - outer.
                let by = Ix { var: Some(k), inner: -(ix.inner + ix.outer), wrap: None, outer: 0 };
                Some((w, by, vec![Cond { ix: by, lo, hi }]))
            }
            Some(m) => {
                let m_i = m as i64;
                if hi - lo > m_i {
                    return None; // several solutions
                }
                // k = ((w + inner) mod m) + outer  =>  0 <= k - outer < m and
                // w = lo + ((k - outer - inner - lo) mod m), which must be below hi.
                let shifted = Ix { var: Some(k), inner: -ix.outer, wrap: None, outer: 0 };
                let by = Ix { var: Some(k), inner: -ix.outer - ix.inner - lo, wrap: Some(m), outer: lo };
                let mut conds = vec![Cond { ix: shifted, lo: 0, hi: m_i }];
                if hi - lo < m_i {
                    conds.push(Cond { ix: by, lo, hi });
                }
                Some((w, by, conds))
            }
        }
    }

    /// `n` with the variable `v` replaced by the index `by`; `None` when an index of the
    /// result would leave the forms the DAG represents.
    pub fn substitute(&mut self, n: Node, v: Var, by: Ix, memo: &mut HashMap<Node, Node>) -> Option<Node> {
        if !self.free(n).contains(&v) {
            return Some(n);
        }
        if let Some(&done) = memo.get(&n) {
            return Some(done);
        }
        let sub = |ix: Ix| if ix.var == Some(v) { ix.substitute(by) } else { Some(ix) };
        let out = match self.get(n).clone() {
            Term::Const(_) => n,
            Term::Load { leaf, index } => {
                let index = index.into_iter().map(sub).collect::<Option<Vec<Ix>>>()?;
                self.load(leaf, index)
            }
            Term::Add(xs) => {
                let xs =
                    xs.into_iter().map(|x| self.substitute(x, v, by, memo)).collect::<Option<Vec<_>>>()?;
                self.add(xs)
            }
            Term::Mul(xs) => {
                let xs =
                    xs.into_iter().map(|x| self.substitute(x, v, by, memo)).collect::<Option<Vec<_>>>()?;
                self.mul(xs)
            }
            Term::Pow(a, b) => {
                let (a, b) = (self.substitute(a, v, by, memo)?, self.substitute(b, v, by, memo)?);
                self.pow(a, b)
            }
            Term::Call(f, a) => {
                let a = self.substitute(a, v, by, memo)?;
                self.call(f, a)
            }
            Term::Sum { over, body } => {
                let body = self.substitute(body, v, by, memo)?;
                self.sum(over, body)
            }
            Term::Guard(conds) => {
                let conds = conds
                    .into_iter()
                    .map(|c| sub(c.ix).map(|ix| Cond { ix, ..c }))
                    .collect::<Option<Vec<Cond>>>()?;
                self.guard(conds)
            }
            Term::Delta(var, ix) => {
                let ix = sub(ix)?;
                if var != v {
                    self.delta(var, ix)
                } else if by.wrap.is_none() {
                    // [u + c == ix]  =>  [u == ix - c]
                    let u = by.var?;
                    let shift = by.inner + by.outer;
                    self.delta(u, Ix { outer: ix.outer - shift, ..ix })
                } else {
                    return None;
                }
            }
        };
        memo.insert(n, out);
        Some(out)
    }
}
