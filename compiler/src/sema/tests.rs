//! One-line tests of sema: `ok(source)` must check, `err(source, message)` must be refused
//! with an error whose message contains `message`.

use hsc_grammar::{has_errors, render};

use crate::ir::{Dt, Expr, Index, Init, Method, Program, Role, verify};
use crate::{Override, front_end};

#[track_caller]
fn ok_with(source: &str, overrides: &[Override]) -> Program {
    let front = front_end(source.as_bytes(), overrides);
    let rendered = render(&front.diagnostics, "test.ham", &front.source, false);
    assert!(!has_errors(&front.diagnostics), "expected the model to check:\n{source}\n{rendered}");
    let program = front.program.expect("a program when there is no error");
    verify(&program).unwrap_or_else(|e| panic!("IR fails verification: {e:?}"));
    program
}

#[track_caller]
fn ok(source: &str) -> Program {
    ok_with(source, &[])
}

#[track_caller]
fn err(source: &str, message: &str) {
    let front = front_end(source.as_bytes(), &[]);
    let rendered = render(&front.diagnostics, "test.ham", &front.source, false);
    assert!(front.program.is_none(), "expected an error `{message}`, but the model checked:\n{source}");
    assert!(
        front.diagnostics.iter().any(|d| d.is_error() && d.message.contains(message)),
        "expected an error containing `{message}`, got:\n{rendered}"
    );
}

#[track_caller]
fn warns(source: &str, message: &str) {
    let front = front_end(source.as_bytes(), &[]);
    assert!(front.program.is_some(), "expected the model to check with a warning");
    assert!(
        front.diagnostics.iter().any(|d| !d.is_error() && d.message.contains(message)),
        "expected a warning containing `{message}`, got {:?}",
        front.diagnostics
    );
}

const HEAD: &str = "model M\ndim P = 8\ndim N = 3\ninput u[N]\nstate q[P] momentum p\n";

fn with_h(body: &str) -> String {
    format!("{HEAD}{body}\n")
}

#[test]
fn shapes_are_free_index_sets() {
    let prog = ok(&with_h("param B[P, N] = 0\nH = sum(i, 0.5 * p[i]^2 + q[i] * sum(j, B[i, j] * u[j]))"));
    let roots = prog.exprs.free(prog.hamiltonian);
    assert!(roots.is_empty());
    // The product B[i, j] * u[j] has type [i, j]; the inner sum has type [i].
    let (i, j) = (prog.indices.keys().next().unwrap(), prog.indices.keys().nth(1).unwrap());
    let product = prog
        .exprs
        .iter()
        .find(|(id, e)| matches!(e, Expr::Binary(..)) && prog.exprs.free(*id).len() == 2)
        .map(|(id, _)| id)
        .expect("a node of type [i, j]");
    assert_eq!(prog.exprs.free(product), &[i, j]);
}

#[test]
fn indices_bind_to_their_axes() {
    let prog = ok(&with_h("param B[P, N] = 0\nH = sum(i, j, B[i, j] * q[i] * u[j]) + sum(i, p[i]^2)"));
    let sizes: Vec<(String, i64, Option<String>)> =
        prog.indices.values().map(|v| (v.name.clone(), v.hi - v.lo, v.dim.clone())).collect();
    assert_eq!(sizes[0], ("i".into(), 8, Some("P".into())));
    assert_eq!(sizes[1], ("j".into(), 3, Some("N".into())));
}

#[test]
fn lets_may_be_used_before_they_are_declared() {
    let prog =
        ok(&with_h("H = sum(i, 0.5 * p[i]^2 + e[i])\nlet e[i] = 0.5 * s[i] * q[i]^2\nlet s[i] = exp(q[i])"));
    let names: Vec<&str> = prog.lets.values().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["s", "e"], "lets are ordered by their uses");
}

#[test]
fn offsets_need_ranges_that_keep_them_inside() {
    ok(&with_h("H = sum(i, p[i]^2) + sum(i in 0..P-1, (q[i + 1] - q[i])^2)"));
    ok(&with_h("H = sum(i, p[i]^2) + sum(i in 1..P, (q[i] - q[i - 1])^2)"));
    ok(&with_h("H = sum(i, p[i]^2) + sum(i in 1..P-1, q[i - 1] * q[i + 1])"));
    err(&with_h("H = sum(i, p[i]^2) + sum(i, (q[i + 1] - q[i])^2)"), "outside its bounds");
    err(&with_h("H = sum(i, p[i]^2) + sum(i in 0..P-1, q[i - 1])"), "outside its bounds");
    err(&with_h("H = sum(i in -1..P, p[i]^2)"), "outside its bounds");
}

#[test]
fn wrap_around_is_euclidean() {
    let prog = ok(&with_h("H = sum(i, p[i]^2 + (q[(i + 1) % P] - q[(i - 1) % P])^2)"));
    let wraps: Vec<Index> = prog
        .exprs
        .iter()
        .filter_map(|(_, e)| e.access())
        .flatten()
        .copied()
        .filter(|i| i.wrap.is_some())
        .collect();
    assert_eq!(wraps.len(), 2);
    assert_eq!((wraps[0].offset, wraps[0].wrap), (1, Some(8)));
    assert_eq!((wraps[1].offset, wraps[1].wrap), (-1, Some(8)));
    // A constant index wraps at compile time.
    let prog = ok(&with_h("H = sum(i, p[i]^2) + q[(0 - 1) % P]"));
    assert!(
        prog.exprs.iter().any(|(_, e)| e.access() == Some(&[Index { var: None, offset: 7, wrap: None }]))
    );
    err(&with_h("H = sum(i, p[i]^2 + q[(i + 1) % 9])"), "can leave");
}

#[test]
fn constant_indices_may_use_dims() {
    ok(&with_h("H = sum(i, p[i]^2) + q[P - 1] * q[0] + q[P / 2]"));
    err(&with_h("H = sum(i, p[i]^2) + q[P]"), "outside `q`");
    err(&with_h("H = sum(i, p[i]^2) + q[P / 3]"), "unsupported index");
}

#[test]
fn dims_and_consts_are_numbers() {
    let prog = ok(
        "model M\ndim P = 4\nconst g = 2 * half\nconst half = 0.5\nstate q[P] momentum p\nH = sum(i, p[i]^2) / P + g * q[0]\n",
    );
    let consts: Vec<f64> =
        prog.exprs.iter().filter_map(|(_, e)| if let Expr::Const(c) = e { Some(*c) } else { None }).collect();
    assert!(consts.contains(&4.0) && consts.contains(&1.0), "{consts:?}");
}

#[test]
fn overrides_reach_dims_defined_from_dims() {
    let src = "model M\ndim P = 4\ndim M2 = 2 * P\nstate q[M2] momentum p\nH = sum(i, p[i]^2 + q[i]^2)\n";
    let prog = ok_with(src, &[Override { name: "P".into(), value: "10".into() }]);
    assert_eq!(prog.tensors.values().next().unwrap().shape[0].size, 20);
    assert!(prog.dims.iter().any(|d| d.name == "P" && d.value == 10 && d.overridden));
}

#[test]
fn several_state_pairs_and_a_trainable_step() {
    let prog = ok(
        "model M\ndim P = 3\ndim Q = 2\nparam h = 0.1\nstate x[P] momentum px\nstate y[Q] momentum py\nH = sum(i, px[i]^2 + x[i]^2) + sum(j, py[j]^2 + y[j]^2)\nintegrator yoshida4(dt = h)\n",
    );
    assert_eq!(prog.pairs.len(), 2);
    assert_eq!(prog.integrator.method, Method::Yoshida4);
    let Dt::Param(h) = prog.integrator.dt else { panic!("dt should be the param h") };
    assert_eq!(prog.tensors[h].name, "h");
    let roles: Vec<&Role> = prog.tensors.values().map(|t| &t.role).collect();
    assert!(matches!(
        roles[..],
        [Role::Param(_), Role::Position(0), Role::Momentum(0), Role::Position(1), Role::Momentum(1)]
    ));
}

#[test]
fn initialisers() {
    let prog = ok(
        "model M\nparam a = -1.5\nparam b = uniform(-1, 1)\nparam c = normal(0, 0.1)\nparam d\nstate q momentum p\nH = a * b * c * d * q^2 + p^2\n",
    );
    let inits: Vec<Init> = prog
        .tensors
        .values()
        .filter_map(|t| if let Role::Param(i) = t.role { Some(i) } else { None })
        .collect();
    assert_eq!(
        inits,
        [
            Init::Constant(-1.5),
            Init::Uniform { low: -1.0, high: 1.0 },
            Init::Normal { mean: 0.0, std: 0.1 },
            Init::Constant(0.0)
        ]
    );
    err(
        "model M\nparam a = normal(0, -1)\nstate q momentum p\nH = a * q^2 + p^2\n",
        "negative standard deviation",
    );
    err("model M\nparam a = uniform(1)\nstate q momentum p\nH = a * q^2 + p^2\n", "takes 2 arguments");
}

#[test]
fn the_loss_reads_targets_and_h_does_not() {
    ok(
        "model M\ntarget y[1]\nstate x[2] momentum v\nlet err = x[1] - y[0]\nH = v[0]^2 + v[1]^2 + x[0]^2\nloss = err^2\n",
    );
    err(
        "model M\ntarget y[1]\nstate x[2] momentum v\nlet err = x[1] - y[0]\nH = v[0]^2 + x[0]^2 + err\nloss = err^2\n",
        "reads target",
    );
    err("model M\ntarget y[1]\nstate x momentum v\nH = v^2 + x^2 * y[0]\n", "used in H");
}

#[test]
fn warnings() {
    warns(&with_h("let unused = 1\nH = sum(i, p[i]^2 + q[i]^2) + u[0]"), "let `unused` is never used");
    warns(&with_h("param w = 1\nH = sum(i, p[i]^2 + q[i]^2) + u[0]"), "param `w` is never used");
    warns(&with_h("H = sum(i, p[i]^2 + q[i]^2)"), "input `u` is never used");
    warns(&with_h("H = sum(i, p[i]^2 + relu(q[i])) + u[0]"), "`relu` is not smooth");
    warns(&with_h("H = sum(i, p[i]^2 + abs(q[i])) + u[0]"), "`abs` is not smooth");
}

#[test]
fn names_and_scopes() {
    err(&with_h("H = sum(i, p[i]^2 + sum(i, q[i]))"), "already bound");
    err(&with_h("H = sum(i, p[i]^2 + u[i])"), "two different sizes");
    err(
        "model M\ndim P = 3\ndim N = 3\ninput u[N]\nstate q[P] momentum p\nH = sum(i, p[i]^2 + u[i])\n",
        "two different dims",
    );
    err(&with_h("H = sum(N, p[N]^2)"), "has the name of a dim");
    err(&with_h("let s[i, i] = q[i]\nH = sum(i, p[i]^2)"), "appears twice");
    err(&with_h("H = sum(i, p[i]^2 + i)"), "used as a value");
    err(&with_h("H = sum(i, p[i]^2 + P[i])"), "has no elements");
    err(&with_h("H = sum(i, p[i]^2) + z"), "unknown name `z`");
    err(&with_h("let a = b\nlet b = a\nH = sum(i, p[i]^2) + a"), "in terms of each other");
    err(&with_h("let a = a\nH = sum(i, p[i]^2) + a"), "in terms of itself");
}

#[test]
fn sizes_are_checked_without_allocating() {
    err("model M\ndim P = 268435457\nstate q[P] momentum p\nH = sum(i, p[i]^2)\n", "too large");
    err(
        "model M\ndim P = 20000\nparam J[P, P, P]\nstate q[P] momentum p\nH = sum(i, p[i]^2 + J[i, i, i])\n",
        "too large to allocate",
    );
    // The largest allowed dim compiles instantly: nothing is enumerated.
    ok(
        "model M\ndim P = 268435456\nstate q[P] momentum p\nH = sum(i in 0..P-1, p[i]^2 + (q[i + 1] - q[i])^2)\n",
    );
}

#[test]
fn the_verifier_catches_broken_programs() {
    let good = ok(&with_h("H = sum(i, p[i]^2 + q[i]^2) + u[0]"));
    // An access pushed outside its axis.
    let mut bad = good.clone();
    let (id, _) = bad.exprs.iter().find(|(_, e)| matches!(e, Expr::Load { .. })).unwrap();
    let mut exprs = crate::ir::Exprs::default();
    for (k, e) in bad.exprs.iter() {
        let mut e = e.clone();
        if k == id
            && let Expr::Load { index, .. } = &mut e
        {
            index[0].offset = 1;
        }
        exprs.push(e, bad.exprs.span(k), bad.exprs.free(k).to_vec());
    }
    bad.exprs = exprs;
    let errors = verify(&bad).unwrap_err();
    assert!(errors.iter().any(|e| e.message.contains("leaves 0..8")), "{errors:?}");
    // A root that is not a scalar.
    let mut bad = good.clone();
    bad.hamiltonian = id;
    let errors = verify(&bad).unwrap_err();
    assert!(errors.iter().any(|e| e.message.contains("H is not a scalar")), "{errors:?}");
    // A momentum whose shape differs from its position's.
    let mut bad = good;
    let p = bad.pairs[0].momentum;
    bad.tensors[p].shape.clear();
    let errors = verify(&bad).unwrap_err();
    assert!(errors.iter().any(|e| e.message.contains("differ in shape")), "{errors:?}");
}

#[test]
fn the_default_integrator_is_leapfrog_with_unit_step() {
    let prog = ok("model M\nstate q momentum p\nH = p^2 + q^2\n");
    assert_eq!(prog.integrator.method, Method::Leapfrog);
    assert_eq!(prog.integrator.dt, Dt::Fixed(1.0));
}
