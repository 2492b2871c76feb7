//! The short description of a checked model that `hsc check` prints.

use std::fmt::Write as _;

use crate::analysis::Facts;
use crate::ir::{Dt, Program, Role, TensorId};
use crate::symbolic::Equations;

/// Dims, inputs, params (shapes, initialisers, element counts), state pairs, targets, the
/// structure of the energy, Hamilton's equations, integrator and loss, one topic per line.
pub fn summary(program: &Program, facts: &Facts, equations: &Equations) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model {}", program.name);
    let dims: Vec<String> = program
        .dims
        .iter()
        .map(|d| format!("{} = {}{}", d.name, d.value, if d.overridden { " (-D)" } else { "" }))
        .collect();
    line(&mut out, "dims", if dims.is_empty() { "none".into() } else { dims.join(", ") });
    if !program.consts.is_empty() {
        let consts: Vec<String> =
            program.consts.iter().map(|c| format!("{} = {}", c.name, c.value)).collect();
        line(&mut out, "consts", consts.join(", "));
    }
    for (title, keep) in [
        ("inputs", &(|r: &Role| *r == Role::Input) as &dyn Fn(&Role) -> bool),
        ("targets", &|r: &Role| *r == Role::Target),
    ] {
        let items: Vec<String> = program
            .tensors
            .values()
            .filter(|t| keep(&t.role))
            .map(|t| format!("{}{} ({} per step)", t.name, t.shape_text(), t.len()))
            .collect();
        if !items.is_empty() || title == "inputs" {
            line(&mut out, title, if items.is_empty() { "none".into() } else { items.join(", ") });
        }
    }
    let params: Vec<_> = program.tensors.values().filter(|t| matches!(t.role, Role::Param(_))).collect();
    if params.is_empty() {
        line(&mut out, "params", "none".into());
    }
    let width = params.iter().map(|t| t.name.len() + t.shape_text().len()).max().unwrap_or(0);
    for (k, t) in params.iter().enumerate() {
        let Role::Param(init) = &t.role else { continue };
        let decl = format!("{}{}", t.name, t.shape_text());
        let text = format!("{decl:<width$}  {:>9}  = {init}", t.len());
        line(&mut out, if k == 0 { "params" } else { "" }, text);
    }
    if !params.is_empty() {
        let total: u64 = params.iter().map(|t| t.len()).sum();
        line(&mut out, "", format!("{:<width$}  {total:>9}  trainable values", "total"));
    }
    for (k, pair) in program.pairs.iter().enumerate() {
        let (q, p) = (&program.tensors[pair.position], &program.tensors[pair.momentum]);
        let text =
            format!("{}{} momentum {} ({} + {} values)", q.name, q.shape_text(), p.name, q.len(), p.len());
        line(&mut out, if k == 0 { "state" } else { "" }, text);
    }
    let params = |ids: &[TensorId]| -> String {
        let names: Vec<&str> = ids.iter().map(|&t| program.tensors[t].name.as_str()).collect();
        if names.is_empty() { String::new() } else { format!("; {}", names.join(", ")) }
    };
    let mut v_args: Vec<&str> = vec!["q"];
    if program.tensors.values().any(|t| t.role == Role::Input) {
        v_args.push("u");
    }
    line(
        &mut out,
        "energy",
        format!(
            "H = K(p{}) + V({}{}), even in p (time-reversal symmetric)",
            params(&facts.kinetic_params),
            v_args.join(", "),
            params(&facts.potential_params)
        ),
    );
    for (k, eq) in equations.hamilton().iter().enumerate() {
        line(&mut out, if k == 0 { "equations" } else { "" }, eq.clone());
    }
    let dt = match program.integrator.dt {
        Dt::Fixed(h) => format!("dt = {h}"),
        Dt::Param(t) => format!("dt = {} (a trainable param)", program.tensors[t].name),
    };
    line(&mut out, "integrator", format!("{}, {dt}", program.integrator.method.name()));
    let loss = if program.loss.is_some() {
        "in the model: the compiler derives the nudges".to_owned()
    } else {
        let q: Vec<&str> = program.pairs.iter().map(|p| program.tensors[p.position].name.as_str()).collect();
        format!("none: the caller passes per-step cotangents of {}", q.join(", "))
    };
    line(&mut out, "loss", loss);
    out
}

fn line(out: &mut String, title: &str, text: String) {
    let _ = writeln!(out, "  {title:<11} {text}");
}
