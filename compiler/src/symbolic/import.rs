//! The typed IR into the DAG: lets inlined, `-` and `/` into canonical sums and products,
//! every IR index variable one DAG variable with the same range.

use std::collections::HashMap;

use cranelift_entity::SecondaryMap;

use super::dag::{Dag, Ix, Leaf, Node, StopReason, Var};
use crate::ir::{BinaryOp, Expr, ExprId, Index, IndexId, Program, UnaryOp};

/// Every node of the program's arena, in the DAG.
pub(super) struct Imported {
    pub nodes: SecondaryMap<ExprId, Option<Node>>,
}

/// Deepest DAG node accepted from the IR (lets inlined), so that the recursive walks of the
/// symbolic stage stay within a thread's stack.
pub const MAX_DEPTH: u32 = 2000;

/// One DAG variable per IR index variable, with the same range.
pub(super) fn index_vars(dag: &mut Dag, program: &Program) -> HashMap<IndexId, Var> {
    program.indices.iter().map(|(id, v)| (id, dag.var(&v.name, v.lo, v.hi, v.dim.clone()))).collect()
}

/// Imports the whole arena of `program` into `dag`, its index variables as `vars`, reading
/// every expression `zero` names as the number 0 (how the symbolic stage takes the potential
/// terms out of `H` to get `K`).
pub(super) fn import(
    dag: &mut Dag,
    program: &Program,
    vars: &HashMap<IndexId, Var>,
    zero: &dyn Fn(ExprId) -> bool,
) -> Result<Imported, StopReason> {
    let ix = |i: &Index| match i.var {
        Some(v) => Ix { var: Some(vars[&v]), inner: i.offset, wrap: i.wrap, outer: 0 },
        None => Ix::constant(i.offset),
    };
    let mut nodes: SecondaryMap<ExprId, Option<Node>> = SecondaryMap::new();
    for (id, e) in program.exprs.iter() {
        let get = |x: &ExprId| nodes[*x].expect("operands come first");
        let n = match e {
            _ if zero(id) => dag.num(0.0),
            Expr::Const(c) => dag.num(*c),
            Expr::Load { tensor, index } => dag.load(Leaf::Tensor(*tensor), index.iter().map(ix).collect()),
            Expr::LetRef { target, index } => {
                // The let's body with its own indices replaced by the indices of this use.
                let l = &program.lets[*target];
                let mut n = get(&l.body);
                for (v, i) in l.indices.iter().zip(index) {
                    n = dag.substitute(n, vars[v], ix(i), &mut HashMap::new()).unwrap_or_else(|| {
                        dag.unsupported = true;
                        n
                    });
                }
                n
            }
            Expr::Unary(UnaryOp::Neg, a) => dag.neg(get(a)),
            Expr::Binary(op, a, b) => {
                let (a, b) = (get(a), get(b));
                match op {
                    BinaryOp::Add => dag.add2(a, b),
                    BinaryOp::Sub => dag.sub(a, b),
                    BinaryOp::Mul => dag.mul2(a, b),
                    BinaryOp::Div => dag.div(a, b),
                    BinaryOp::Pow => dag.pow(a, b),
                }
            }
            Expr::Call(f, a) => dag.call(*f, get(a)),
            Expr::Sum { over, body } => dag.sum(over.iter().map(|v| vars[v]).collect(), get(body)),
        };
        if dag.depth(n) > MAX_DEPTH {
            return Err(StopReason::DepthLimit(MAX_DEPTH));
        }
        nodes[id] = Some(n);
    }
    Ok(Imported { nodes })
}
