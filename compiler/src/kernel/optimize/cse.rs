//! Common-subexpression elimination by value numbering over the statement tree.
//!
//! Every value gets the number of its expression: the operation and its operands' numbers (a
//! sum or product of two values in either order is one expression; IEEE `+` and `*`
//! commute exactly). A value whose expression already has a value in scope (defined earlier
//! in its block or in an enclosing one) is replaced by it.
//!
//! - A load's expression holds its buffer's *version*, renewed at every store to the buffer
//!   and around every loop that writes it, so two loads are one only where nothing can have
//!   written the buffer between them. A store (not `+=`) makes its value the value of a load
//!   of the same element at the new version.
//! - Loop variables are numbered by depth and range, so that the same expression in two
//!   sibling loops or sums is one expression; a whole sum is an expression of its range and
//!   its summand's number, so a sum computed twice is computed once.

use std::collections::HashMap;

use super::memory;
use crate::ir::Func;
use crate::kernel::{BinOp, Buf, Cond, Index, LoopVar, Op, Stmt, Value};

/// Replaces every value of `body` that repeats one in scope.
pub fn cse(body: &mut Vec<Stmt>) {
    Numbering::default().block(body, 0);
}

/// An index with its variable's number.
type IndexKey = (Option<u32>, i64, Option<u64>, i64, Option<u64>);

#[derive(Clone, PartialEq, Eq, Hash)]
enum CondKey {
    Range(IndexKey, i64, i64),
    Equal(IndexKey, IndexKey),
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Eps(u8),
    Load {
        buf: Buf,
        version: u32,
        index: Vec<IndexKey>,
    },
    Neg(u32),
    Binary(BinOp, u32, u32),
    Powi(u32, i32),
    Call(Func, u32),
    Select {
        conds: Vec<CondKey>,
        then: u32,
        otherwise: u32,
    },
    Sum {
        var: u32,
        summand: u32,
    },
    /// A loop variable: its depth and range.
    Var {
        depth: u32,
        lo: i64,
        hi: i64,
    },
    /// A value defined before the statements numbered.
    Outside(Value),
}

#[derive(Default)]
struct Numbering {
    numbers: HashMap<Key, u32>,
    /// The number of every value kept.
    number: HashMap<Value, u32>,
    /// The value in scope for a number.
    available: HashMap<u32, Value>,
    /// What `available` held before each change, to leave a block.
    undo: Vec<(u32, Option<Value>)>,
    /// Values replaced, and by what.
    replaced: HashMap<Value, Value>,
    vars: HashMap<LoopVar, u32>,
    versions: HashMap<Buf, u32>,
    next_version: u32,
}

impl Numbering {
    fn block(&mut self, stmts: &mut Vec<Stmt>, depth: u32) {
        let mark = self.undo.len();
        let mut kept = Vec::with_capacity(stmts.len());
        for mut s in stmts.drain(..) {
            match &mut s {
                Stmt::Let(v, op) => {
                    for a in op.operands_mut() {
                        *a = self.resolve(*a);
                    }
                    let key = self.key(op);
                    if self.reuse(*v, key) {
                        continue;
                    }
                }
                Stmt::Store { buf, index, value, add } => {
                    *value = self.resolve(*value);
                    let version = self.renew(*buf);
                    if !*add {
                        let index = self.index_keys(index);
                        let n = self.intern(Key::Load { buf: *buf, version, index });
                        self.make_available(n, *value);
                    }
                }
                Stmt::Loop { var, lo, hi, body } => {
                    let key = Key::Var { depth, lo: *lo, hi: *hi };
                    self.looped(*var, key, body, depth);
                }
                Stmt::Steps { var, body, .. } => {
                    let key = Key::Var { depth, lo: 0, hi: i64::MAX };
                    self.looped(*var, key, body, depth);
                }
                Stmt::Reduce { result, var, lo, hi, body, value } => {
                    let key = Key::Var { depth, lo: *lo, hi: *hi };
                    let var = self.looped(*var, key, body, depth);
                    *value = self.resolve(*value);
                    let summand = self.outside(*value);
                    if self.reuse(*result, Key::Sum { var, summand }) {
                        continue;
                    }
                }
            }
            kept.push(s);
        }
        *stmts = kept;
        while self.undo.len() > mark {
            let (n, before) = self.undo.pop().expect("an entry above the mark");
            match before {
                Some(v) => self.available.insert(n, v),
                None => self.available.remove(&n),
            };
        }
    }

    /// Numbers a loop's variable and its body; returns the variable's number.
    fn looped(&mut self, var: LoopVar, key: Key, body: &mut Vec<Stmt>, depth: u32) -> u32 {
        let n = self.intern(key);
        self.vars.insert(var, n);
        let written: Vec<Buf> = memory(body).writes.into_iter().collect();
        for &buf in &written {
            self.renew(buf);
        }
        self.block(body, depth + 1);
        for &buf in &written {
            self.renew(buf);
        }
        n
    }

    /// Numbers `v` as `key`; true when an earlier value has that number (`v` is then replaced
    /// by it).
    fn reuse(&mut self, v: Value, key: Key) -> bool {
        let n = self.intern(key);
        if let Some(&earlier) = self.available.get(&n) {
            self.replaced.insert(v, earlier);
            return true;
        }
        self.number.insert(v, n);
        self.make_available(n, v);
        false
    }

    /// The number of `v`; a value from outside the statements numbered is its own expression.
    fn outside(&mut self, v: Value) -> u32 {
        if let Some(&n) = self.number.get(&v) {
            return n;
        }
        let n = self.intern(Key::Outside(v));
        self.number.insert(v, n);
        n
    }

    fn resolve(&self, mut v: Value) -> Value {
        while let Some(&w) = self.replaced.get(&v) {
            v = w;
        }
        v
    }

    fn intern(&mut self, key: Key) -> u32 {
        let next = self.numbers.len() as u32;
        *self.numbers.entry(key).or_insert(next)
    }

    fn make_available(&mut self, n: u32, v: Value) {
        let before = self.available.insert(n, v);
        self.undo.push((n, before));
    }

    fn renew(&mut self, buf: Buf) -> u32 {
        self.next_version += 1;
        self.versions.insert(buf, self.next_version);
        self.next_version
    }

    fn key(&mut self, op: &Op) -> Key {
        for a in op.operands() {
            self.outside(a);
        }
        let n = |v: &Value| self.number[v];
        match op {
            Op::Const(c) => Key::Const(c.to_bits()),
            Op::Eps(i) => Key::Eps(*i),
            Op::Load { buf, index } => Key::Load {
                buf: *buf,
                version: self.versions.get(buf).copied().unwrap_or(0),
                index: self.index_keys(index),
            },
            Op::Neg(a) => Key::Neg(n(a)),
            Op::Binary(op, a, b) => {
                let (mut a, mut b) = (n(a), n(b));
                if matches!(op, BinOp::Add | BinOp::Mul) && a > b {
                    std::mem::swap(&mut a, &mut b);
                }
                Key::Binary(*op, a, b)
            }
            Op::Powi(a, e) => Key::Powi(n(a), *e),
            Op::Call(f, a) => Key::Call(*f, n(a)),
            Op::Select { conds, then, otherwise } => Key::Select {
                conds: conds.iter().map(|c| self.cond_key(c)).collect(),
                then: n(then),
                otherwise: n(otherwise),
            },
        }
    }

    fn index_keys(&self, index: &[Index]) -> Vec<IndexKey> {
        index.iter().map(|i| self.index_key(i)).collect()
    }

    fn index_key(&self, i: &Index) -> IndexKey {
        // A variable bound outside the statements numbered is numbered from the top down
        // (far from the expressions' numbers, which count up from 0).
        let var = i.var.map(|v| self.vars.get(&v).copied().unwrap_or(u32::MAX - v.as_u32()));
        (var, i.inner, i.wrap, i.outer, i.clamp)
    }

    fn cond_key(&self, c: &Cond) -> CondKey {
        match c {
            Cond::Range { index, lo, hi } => CondKey::Range(self.index_key(index), *lo, *hi),
            Cond::Equal(a, b) => CondKey::Equal(self.index_key(a), self.index_key(b)),
        }
    }
}
