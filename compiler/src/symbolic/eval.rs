//! Numerical evaluation of DAG nodes in f64: slow, direct, and the check that symbolic
//! derivatives are right (they must equal finite differences of the values).

use std::collections::HashMap;

use super::dag::{Dag, Ix, Leaf, Node, Term, Var};

/// Values of the leaf arrays: shape and row-major data.
#[derive(Clone, Debug, Default)]
pub struct Values {
    /// Each array's shape and elements.
    pub arrays: HashMap<Leaf, (Vec<usize>, Vec<f64>)>,
}

/// The value of `n` with the free variables bound in `env`. An element read outside its
/// array is NaN (guards make sure no correct derivative reads one).
pub fn eval(dag: &Dag, n: Node, values: &Values, env: &mut HashMap<Var, i64>) -> f64 {
    match dag.get(n) {
        Term::Const(c) => c.0,
        Term::Load { leaf, index } => {
            let Some((shape, data)) = values.arrays.get(leaf) else { return f64::NAN };
            let mut flat = 0usize;
            for (ix, &size) in index.iter().zip(shape) {
                let i = value(*ix, env);
                if i < 0 || i as usize >= size {
                    return f64::NAN;
                }
                flat = flat * size + i as usize;
            }
            data[flat]
        }
        Term::Add(xs) => xs.iter().map(|&x| eval(dag, x, values, env)).sum(),
        Term::Mul(xs) => {
            // Guards and deltas first: where they are 0, the rest is not evaluated.
            for &x in xs {
                if matches!(dag.get(x), Term::Guard(_) | Term::Delta(..)) && eval(dag, x, values, env) == 0.0
                {
                    return 0.0;
                }
            }
            xs.iter().map(|&x| eval(dag, x, values, env)).product()
        }
        Term::Pow(a, b) => eval(dag, *a, values, env).powf(eval(dag, *b, values, env)),
        Term::Call(f, a) => f.eval(eval(dag, *a, values, env)),
        Term::Sum { over, body } => {
            let mut total = 0.0;
            sum_over(dag, over, *body, values, env, &mut total);
            total
        }
        Term::Guard(conds) => {
            let ok = conds.iter().all(|c| (c.lo..c.hi).contains(&value(c.ix, env)));
            if ok { 1.0 } else { 0.0 }
        }
        Term::Delta(v, ix) => {
            if env.get(v).copied() == Some(value(*ix, env)) {
                1.0
            } else {
                0.0
            }
        }
    }
}

fn sum_over(
    dag: &Dag,
    over: &[Var],
    body: Node,
    values: &Values,
    env: &mut HashMap<Var, i64>,
    total: &mut f64,
) {
    let Some((&v, rest)) = over.split_first() else {
        *total += eval(dag, body, values, env);
        return;
    };
    for x in dag.vars[v].lo..dag.vars[v].hi {
        env.insert(v, x);
        sum_over(dag, rest, body, values, env, total);
    }
    env.remove(&v);
}

fn value(ix: Ix, env: &HashMap<Var, i64>) -> i64 {
    ix.at(ix.var.and_then(|v| env.get(&v).copied()).unwrap_or(0))
}
