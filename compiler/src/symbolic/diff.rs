//! Differentiation on the DAG, with index notation.
//!
//! - [`gradient`]: `d e / d x[k, ...]` for a leaf array `x`, with fresh free variables `k`.
//!   An element `x[idx]` differentiates to the delta `[k == idx]`; sums eliminate the deltas
//!   (see `sums.rs`), so `d/dq[k] sum(i, j, K[i, j] * q[i] * q[j])` is
//!   `sum(j, K[k, j] * q[j]) + sum(i, K[i, k] * q[i])`.
//! - [`directional`]: `sum(idx, d e / d x[idx] * v[idx])`, the derivative along a direction
//!   `v` (forward mode). Applied to a gradient it gives a Hessian-vector product, with no
//!   delta at all.
//!
//! Both read the derivative of each function from its one rule entry, [`Func::derivative`].

use std::collections::HashMap;

use super::dag::{Dag, Ix, Leaf, Node, Term, Var};
use crate::ir::func::Formula;

/// `d e / d wrt[out]`: one variable of `out` per axis of `wrt`.
pub fn gradient(dag: &mut Dag, e: Node, wrt: Leaf, out: &[Var]) -> Node {
    let mut memo = HashMap::new();
    derive(
        dag,
        e,
        &|dag: &mut Dag, leaf, index: &[Ix]| {
            if leaf != wrt {
                return dag.num(0.0);
            }
            let deltas: Vec<Node> = out.iter().zip(index).map(|(&k, &ix)| dag.delta(k, ix)).collect();
            dag.mul(deltas)
        },
        &mut memo,
    )
}

/// The derivative of `e` along `direction` for the leaf `wrt`: every `wrt[idx]` varies as
/// `direction[idx]`.
pub fn directional(dag: &mut Dag, e: Node, wrt: Leaf, direction: Leaf) -> Node {
    let mut memo = HashMap::new();
    derive(
        dag,
        e,
        &|dag: &mut Dag, leaf, index: &[Ix]| {
            if leaf == wrt { dag.load(direction, index.to_vec()) } else { dag.num(0.0) }
        },
        &mut memo,
    )
}

/// The derivative of a leaf element, given by the caller.
type Seed<'a> = dyn Fn(&mut Dag, Leaf, &[Ix]) -> Node + 'a;

/// The chain rule over the DAG, memoised per node; `seed` differentiates the elements.
fn derive(dag: &mut Dag, e: Node, seed: &Seed<'_>, memo: &mut HashMap<Node, Node>) -> Node {
    if let Some(&d) = memo.get(&e) {
        return d;
    }
    if dag.exhausted() {
        return dag.num(0.0);
    }
    let d = match dag.get(e).clone() {
        Term::Const(_) | Term::Guard(_) | Term::Delta(..) => dag.num(0.0),
        Term::Load { leaf, index } => seed(dag, leaf, &index),
        Term::Add(xs) => {
            let ds: Vec<Node> = xs.iter().map(|&x| derive(dag, x, seed, memo)).collect();
            dag.add(ds)
        }
        Term::Mul(xs) => {
            // d(x1 x2 ... xn) = sum_i dxi * prod_{j != i} xj
            let mut terms = Vec::new();
            for (i, &x) in xs.iter().enumerate() {
                let dx = derive(dag, x, seed, memo);
                if dag.constant(dx) == Some(0.0) {
                    continue;
                }
                let mut factors: Vec<Node> =
                    xs.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &y)| y).collect();
                factors.push(dx);
                terms.push(dag.mul(factors));
            }
            dag.add(terms)
        }
        Term::Pow(a, b) => {
            let (da, db) = (derive(dag, a, seed, memo), derive(dag, b, seed, memo));
            // d(a^b) = b a^(b-1) da + a^b log(a) db
            let one = dag.num(1.0);
            let b1 = dag.sub(b, one);
            let a_b1 = dag.pow(a, b1);
            let first = dag.mul(vec![b, a_b1, da]);
            if dag.constant(db) == Some(0.0) {
                first
            } else {
                let log_a = dag.call(crate::ir::Func::Log, a);
                let second = dag.mul(vec![e, log_a, db]);
                dag.add2(first, second)
            }
        }
        Term::Call(f, a) => {
            let da = derive(dag, a, seed, memo);
            if dag.constant(da) == Some(0.0) {
                da
            } else {
                let fp = formula(dag, &f.derivative(), a);
                dag.mul2(fp, da)
            }
        }
        Term::Sum { over, body } => {
            let db = derive(dag, body, seed, memo);
            dag.sum(over, db)
        }
    };
    memo.insert(e, d);
    d
}

/// Builds a function's derivative formula at the argument `x`.
fn formula(dag: &mut Dag, f: &Formula, x: Node) -> Node {
    match f {
        Formula::X => x,
        Formula::Num(c) => dag.num(*c),
        Formula::Apply(g, a) => {
            let a = formula(dag, a, x);
            dag.call(*g, a)
        }
        Formula::Add(a, b) => {
            let (a, b) = (formula(dag, a, x), formula(dag, b, x));
            dag.add2(a, b)
        }
        Formula::Mul(a, b) => {
            let (a, b) = (formula(dag, a, x), formula(dag, b, x));
            dag.mul2(a, b)
        }
        Formula::Pow(a, n) => {
            let a = formula(dag, a, x);
            let n = dag.num(*n);
            dag.pow(a, n)
        }
    }
}
