//! The IR verifier: checks every invariant listed in the module doc of `ir` and reports all
//! violations, not just the first. Sema's output always passes; a failure is a compiler bug.

use std::fmt;

use cranelift_entity::EntityRef;

use super::{Dt, Expr, ExprId, Index, IndexId, Program, Role};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The node concerned, when there is one.
    pub expr: Option<ExprId>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expr {
            Some(e) => write!(f, "{e}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Checks `program` against the IR's invariants.
pub fn verify(program: &Program) -> Result<(), Vec<VerifyError>> {
    let mut errors = Vec::new();
    let mut fail = |expr: Option<ExprId>, message: String| errors.push(VerifyError { expr, message });
    let exprs = &program.exprs;

    for (id, e) in exprs.iter() {
        // Children before parents.
        for c in e.children() {
            if c >= id {
                fail(Some(id), format!("operand {c} does not come before its user"));
            }
        }
        // Types: the union of the operands' types, minus what a sum binds, plus the access's
        // own index variables.
        let mut expect: Vec<IndexId> = e.children().iter().flat_map(|&c| exprs.free(c).to_vec()).collect();
        if let Some(index) = e.access() {
            expect.extend(index.iter().filter_map(|i| i.var));
        }
        if let Expr::Sum { over, .. } = e {
            expect.retain(|i| !over.contains(i));
        }
        expect.sort();
        expect.dedup();
        if exprs.free(id) != expect.as_slice() {
            fail(Some(id), format!("recorded type {:?} is not the computed {:?}", exprs.free(id), expect));
        }
        // Accesses: arity and bounds.
        match e {
            Expr::Load { tensor, index } => {
                let t = &program.tensors[*tensor];
                if index.len() != t.shape.len() {
                    fail(
                        Some(id),
                        format!("{} has {} axes but {} indices", t.name, t.shape.len(), index.len()),
                    );
                }
                for (ix, axis) in index.iter().zip(&t.shape) {
                    if let Err(m) = in_bounds(program, ix, axis.size) {
                        fail(Some(id), format!("{}: {m}", t.name));
                    }
                }
            }
            Expr::LetRef { target, index } => {
                let l = &program.lets[*target];
                if index.len() != l.indices.len() {
                    fail(
                        Some(id),
                        format!("let {} has {} indices, used with {}", l.name, l.indices.len(), index.len()),
                    );
                }
                for (ix, &var) in index.iter().zip(&l.indices) {
                    let v = &program.indices[var];
                    let size = u64::try_from(v.hi - v.lo).unwrap_or(0);
                    if let Err(m) = in_bounds(program, ix, size) {
                        fail(Some(id), format!("let {}: {m}", l.name));
                    }
                }
            }
            _ => {}
        }
    }

    // Roots.
    let valid = |e: ExprId| e.index() < exprs.len();
    for (name, root) in [("H", Some(program.hamiltonian)), ("loss", program.loss)] {
        match root {
            Some(r) if !valid(r) => fail(None, format!("{name} is {r}, outside the arena")),
            Some(r) if !exprs.free(r).is_empty() => fail(Some(r), format!("{name} is not a scalar")),
            _ => {}
        }
    }
    for (lid, l) in program.lets.iter() {
        if !valid(l.body) {
            fail(None, format!("let {} has its body outside the arena", l.name));
            continue;
        }
        let mut want = l.indices.clone();
        want.sort();
        if exprs.free(l.body) != want.as_slice() {
            fail(
                Some(l.body),
                format!("the body of let {} does not have the let's indices as its type", l.name),
            );
        }
        // Lets refer only to earlier lets: every LetRef in the arena before the body's end
        // that the body reaches must be earlier. A simpler sufficient check: a let's body
        // node comes after the bodies of all the lets it refers to.
        for (id, e) in exprs.iter().take(l.body.index() + 1) {
            if let Expr::LetRef { target, .. } = e
                && *target >= lid
                && reaches(program, l.body, id)
            {
                fail(Some(id), format!("let {} refers to a let that is not declared before it", l.name));
            }
        }
    }
    // Pairs and the step.
    for pair in &program.pairs {
        let (q, p) = (&program.tensors[pair.position], &program.tensors[pair.momentum]);
        if q.shape != p.shape {
            fail(None, format!("{} and {} differ in shape", q.name, p.name));
        }
    }
    if let Dt::Param(t) = program.integrator.dt {
        let t = &program.tensors[t];
        if !matches!(t.role, Role::Param(_)) || !t.shape.is_empty() {
            fail(None, format!("the step {} is not a scalar param", t.name));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Whether every value the index takes lies in `0..size`.
fn in_bounds(program: &Program, ix: &Index, size: u64) -> Result<(), String> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let (lo, hi) = match ix.var {
        Some(v) => (program.indices[v].lo + ix.offset, program.indices[v].hi - 1 + ix.offset),
        None => (ix.offset, ix.offset),
    };
    let ok = match ix.wrap {
        Some(m) => m >= 1 && i64::try_from(m).is_ok_and(|m| m <= size),
        None => lo >= 0 && hi < size,
    };
    if ok { Ok(()) } else { Err(format!("index {ix} leaves 0..{size}")) }
}

/// Whether `node` is reachable from `root` through operands.
fn reaches(program: &Program, root: ExprId, node: ExprId) -> bool {
    let mut stack = vec![root];
    let mut seen = vec![false; root.index() + 1];
    while let Some(e) = stack.pop() {
        if e == node {
            return true;
        }
        if e.index() < seen.len() && !std::mem::replace(&mut seen[e.index()], true) {
            stack.extend(program.exprs.get(e).children());
        }
    }
    false
}
