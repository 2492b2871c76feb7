//! The reference interpreter: executes the kernel IR statement by statement, in `f64` or in
//! `f32` (every load, operation and store rounded to `f32`). Slow, simple and direct: it is
//! the oracle every compiled backend is compared with.

use std::sync::Arc;

use hsc_runtime::{Engine, Frame, Pass, RunError, Slot};

use super::{BinOp, Cond, Index, Kernel, Module, Op, Stmt};

/// The arithmetic of a run: every value rounded to `f32` (functions evaluated in `f64`, then
/// rounded), or IEEE double throughout.
pub use hsc_runtime::Real as Precision;

fn round(p: Precision, x: f64) -> f64 {
    match p {
        Precision::F64 => x,
        Precision::F32 => x as f32 as f64,
    }
}

/// Runs a module's kernels.
pub struct Interpreter {
    module: Arc<Module>,
    slots: Vec<(Pass, Vec<Slot>)>,
    precision: Precision,
}

impl Interpreter {
    /// An interpreter for `module`.
    pub fn new(module: Arc<Module>, precision: Precision) -> Interpreter {
        let slots = module.kernels.iter().map(|k| (k.pass, k.slots())).collect();
        Interpreter { module, slots, precision }
    }
}

impl Engine for Interpreter {
    fn slots(&self, pass: Pass) -> &[Slot] {
        self.slots.iter().find(|(p, _)| *p == pass).map_or(&[], |(_, s)| s)
    }

    fn run(&self, pass: Pass, frame: &mut Frame<'_>) -> Result<(), RunError> {
        let kernel = self.module.kernel(pass);
        let steps = frame.steps;
        let mut buffers = Vec::with_capacity(kernel.buffers.len());
        for b in kernel.buffers.values() {
            let len = b.row_len() * b.time.map_or(1, |extra| steps + extra);
            let data = match b.slot {
                Some(slot) => {
                    let owned = if slot.is_given() { None } else { frame.buffers.remove(&slot) };
                    let data = owned
                        .as_deref()
                        .or_else(|| frame.get(slot))
                        .ok_or_else(|| engine(format!("no buffer for {slot:?}")))?;
                    if data.len() != len {
                        return Err(engine(format!("{slot:?} has {} numbers, expected {len}", data.len())));
                    }
                    data.iter().map(|&x| round(self.precision, x)).collect()
                }
                None => vec![0.0; len],
            };
            buffers.push(data);
        }
        let eps = frame.eps.map(|e| round(self.precision, e));
        let result = run_kernel(kernel, self.precision, steps, eps, &mut buffers);
        for (b, data) in kernel.buffers.values().zip(buffers) {
            if let Some(slot) = b.slot.filter(|s| !s.is_given()) {
                frame.buffers.insert(slot, data);
            }
        }
        result
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn name(&self) -> String {
        crate::Backend::Interp.name().into()
    }
}

/// Runs one kernel over `steps` steps on its buffers, in buffer order, scratch included
/// (each holding `row_len` numbers per row, `steps` plus its extra rows for one with a time
/// axis), with the echo's nudges `eps`. The numbers given should already be rounded to the
/// precision. (What [`Interpreter`] runs; the optimiser's file tests run it on one kernel.)
pub fn run_kernel(
    kernel: &Kernel,
    precision: Precision,
    steps: usize,
    eps: [f64; 2],
    buffers: &mut [Vec<f64>],
) -> Result<(), RunError> {
    if buffers.len() != kernel.buffers.len() {
        return Err(engine(format!(
            "{} buffers for the {} of the kernel",
            buffers.len(),
            kernel.buffers.len()
        )));
    }
    for (b, data) in kernel.buffers.values().zip(buffers.iter()) {
        let len = b.row_len() * b.time.map_or(1, |extra| steps + extra);
        if data.len() != len {
            return Err(engine(format!("{} has {} numbers, expected {len}", b.name, data.len())));
        }
    }
    let mut run = Run {
        k: kernel,
        p: precision,
        steps: steps as i64,
        eps,
        values: vec![0.0; kernel.values as usize],
        vars: vec![0; kernel.vars.len()],
        buffers,
    };
    run.block(&kernel.body)
}

fn engine(message: String) -> RunError {
    RunError::Engine { engine: "interpreter".into(), message }
}

struct Run<'a> {
    k: &'a Kernel,
    p: Precision,
    steps: i64,
    eps: [f64; 2],
    values: Vec<f64>,
    vars: Vec<i64>,
    buffers: &'a mut [Vec<f64>],
}

impl Run<'_> {
    fn block(&mut self, stmts: &[Stmt]) -> Result<(), RunError> {
        for s in stmts {
            match s {
                Stmt::Let(v, op) => {
                    let x = self.op(op)?;
                    self.values[v.as_u32() as usize] = round(self.p, x);
                }
                Stmt::Loop { var, lo, hi, body } => {
                    for i in *lo..*hi {
                        self.vars[var.as_u32() as usize] = i;
                        self.block(body)?;
                    }
                }
                Stmt::Steps { var, reverse, body } => {
                    for i in 0..self.steps {
                        self.vars[var.as_u32() as usize] = if *reverse { self.steps - 1 - i } else { i };
                        self.block(body)?;
                    }
                }
                Stmt::Reduce { result, var, lo, hi, body, value } => {
                    let mut total = 0.0;
                    for i in *lo..*hi {
                        self.vars[var.as_u32() as usize] = i;
                        self.block(body)?;
                        total = round(self.p, total + self.values[value.as_u32() as usize]);
                    }
                    self.values[result.as_u32() as usize] = total;
                }
                Stmt::Store { buf, index, value, add } => {
                    let at = self.offset(*buf, index)?;
                    let x = self.values[value.as_u32() as usize];
                    let slot = &mut self.buffers[buf.as_u32() as usize][at];
                    *slot = if *add { round(self.p, *slot + x) } else { x };
                }
            }
        }
        Ok(())
    }

    fn op(&self, op: &Op) -> Result<f64, RunError> {
        let v = |x: &super::Value| self.values[x.as_u32() as usize];
        Ok(match op {
            Op::Const(c) => *c,
            Op::Eps(i) => self.eps[*i as usize],
            Op::Load { buf, index } => self.buffers[buf.as_u32() as usize][self.offset(*buf, index)?],
            Op::Neg(a) => -v(a),
            Op::Binary(op, a, b) => {
                let (a, b) = (v(a), v(b));
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Pow => a.powf(b),
                }
            }
            Op::Powi(a, n) => v(a).powi(*n),
            Op::Call(f, a) => f.eval(v(a)),
            Op::Select { conds, then, otherwise } => {
                if conds.iter().all(|c| self.holds(c)) {
                    v(then)
                } else {
                    v(otherwise)
                }
            }
        })
    }

    fn index(&self, i: &Index) -> i64 {
        i.at(i.var.map_or(0, |v| self.vars[v.as_u32() as usize]))
    }

    fn holds(&self, c: &Cond) -> bool {
        match c {
            Cond::Range { index, lo, hi } => (*lo..*hi).contains(&self.index(index)),
            Cond::Equal(a, b) => self.index(a) == self.index(b),
        }
    }

    /// The flat offset of an element; an error (a compiler bug) when it is outside.
    fn offset(&self, buf: super::Buf, index: &[Index]) -> Result<usize, RunError> {
        let b = &self.k.buffers[buf];
        let mut flat: i64 = 0;
        let rows = b.time.map(|extra| self.steps + extra as i64);
        let sizes = rows.into_iter().chain(b.shape.iter().map(|&s| s as i64));
        for (i, size) in index.iter().zip(sizes) {
            let x = self.index(i);
            if x < 0 || x >= size {
                return Err(engine(format!(
                    "{} read at {x}, outside 0..{size}, in kernel {}",
                    b.name,
                    self.k.pass.name()
                )));
            }
            flat = flat * size + x;
        }
        Ok(flat as usize)
    }
}
