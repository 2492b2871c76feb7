//! The parser of the kernel IR's text form (`display.rs`): [`parse_kernel`] reads one printed
//! kernel, [`parse_kernels`] the kernels of a printed module, so that kernels can be written
//! by hand (the optimiser's file tests, `tests/kernels/`) and `parse(print(k)) == k`.
//!
//! Line by line, by hand. Blank lines and whole-line comments (`;` first) are skipped, and
//! spaces between tokens and at the start of a line do not matter: the braces give the
//! structure. Names are resolved (buffers by name, loop variables by their printed form,
//! value ids within the `values` line's range) and the header's counts checked; every other
//! invariant is [`super::verify`]'s. Every error names its line and what was expected, and
//! nothing panics: blocks nest at most [`MAX_DEPTH`] deep.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use cranelift_entity::PrimaryMap;
use hsc_runtime::{Pass, Side, Slot};

use super::display::{count, var_text};
use super::{BinOp, Buf, Buffer, Cond, Index, Kernel, LoopVar, Op, Stmt, Value};
use crate::ir::Func;

/// Blocks (loops, sums, the time loop) nest at most this deep.
pub const MAX_DEPTH: usize = 64;

/// Why a text is not a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line (from 1).
    pub line: usize,
    /// What was expected, and what was found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

type Result<T> = std::result::Result<T, ParseError>;

/// Reads one kernel in the printed form.
pub fn parse_kernel(text: &str) -> Result<Kernel> {
    let mut p = Parser::new(text);
    let k = p.kernel()?;
    match p.lines.get(p.at) {
        Some(&(line, text)) => Err(ParseError { line, message: format!("expected the end, found `{text}`") }),
        None => Ok(k),
    }
}

/// Reads the kernels of a printed module, one after another.
pub fn parse_kernels(text: &str) -> Result<Vec<Kernel>> {
    let mut p = Parser::new(text);
    let mut kernels = Vec::new();
    while p.at < p.lines.len() {
        kernels.push(p.kernel()?);
    }
    Ok(kernels)
}

struct Parser<'a> {
    /// The lines that are not blank or comments: number and text, without leading spaces.
    lines: Vec<(usize, &'a str)>,
    at: usize,
    /// The last line's number, for an error at the end.
    last: usize,
}

/// What a kernel's statements refer to by name.
struct Names {
    buffers: HashMap<String, Buf>,
    vars: HashMap<String, LoopVar>,
    values: u32,
}

/// What ends a block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// The next kernel or the end of the text.
    Kernel,
    /// `}`.
    Brace,
    /// `yield v` then `}` (a sum's body).
    Yield,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with(';'))
            .collect();
        Parser { lines, at: 0, last: text.lines().count().max(1) }
    }

    /// The next line, as a cursor; an error naming `what` at the end of the text.
    fn next(&mut self, what: &str) -> Result<Cursor<'a>> {
        let &(line, text) = self.lines.get(self.at).ok_or_else(|| ParseError {
            line: self.last,
            message: format!("expected {what}, found the end"),
        })?;
        self.at += 1;
        Ok(Cursor { line, text, pos: 0 })
    }

    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.at).map(|l| l.1)
    }

    fn kernel(&mut self) -> Result<Kernel> {
        let mut c = self.next("`kernel`")?;
        let header = c.line;
        c.expect("kernel")?;
        let pass = c.word_as("a pass (forward, forward_grad, forward_record, echo, tangent, bptt)", |w| {
            Pass::ALL.into_iter().find(|p| p.name() == w)
        })?;
        c.expect("(")?;
        let said_values: usize = c.int("a number of values")?;
        c.expect("values")?;
        c.expect(",")?;
        let said_loops: usize = c.int("a number of loops")?;
        c.expect("loops")?;
        c.expect(")")?;
        c.end()?;

        let mut c = self.next("`values v0..vN`")?;
        c.expect("values")?;
        c.expect("v0..v")?;
        let values: u32 = c.int("the number of value ids")?;
        c.end()?;

        let mut c = self.next("`vars`")?;
        c.expect("vars")?;
        let mut vars = PrimaryMap::new();
        let mut var_names = HashMap::new();
        while !c.at_end() {
            let id = vars.len();
            let token = c.word();
            if token.is_empty() {
                return Err(c.error(format_args!("loop variable {id}")));
            }
            let name = var_name(token, id).ok_or_else(|| {
                c.error_at(token, format!("loop variable {id}, printed as its name then `{id}`"))
            })?;
            var_names.insert(token.to_owned(), vars.push(name));
        }

        let mut buffers = PrimaryMap::new();
        let mut buffer_names: HashMap<String, Buf> = HashMap::new();
        while self.peek().is_some_and(|l| l.starts_with("buffer ")) {
            let mut c = self.next("a buffer")?;
            c.expect("buffer")?;
            c.expect(&format!("b{}", buffers.len()))?;
            let (name, buffer) = c.buffer()?;
            if buffer_names.contains_key(&name) {
                return Err(c.error(format!("a buffer named other than `{name}` (declared already)")));
            }
            buffer_names.insert(name, buffers.push(buffer));
        }

        let names = Names { buffers: buffer_names, vars: var_names, values };
        let (body, _) = self.block(&names, 0, End::Kernel)?;
        let kernel = Kernel { pass, buffers, vars, values, body };
        let (counted_values, counted_loops) = count(&kernel.body);
        if (counted_values, counted_loops) != (said_values, said_loops) {
            return Err(ParseError {
                line: header,
                message: format!(
                    "expected `({counted_values} values, {counted_loops} loops)` (what the body holds), \
                     found `({said_values} values, {said_loops} loops)`"
                ),
            });
        }
        Ok(kernel)
    }

    /// The statements of a block up to its end; for a sum's body, the summand too.
    fn block(&mut self, n: &Names, depth: usize, end: End) -> Result<(Vec<Stmt>, Option<Value>)> {
        let mut stmts = Vec::new();
        loop {
            let next = self.peek();
            if end == End::Kernel && next.is_none_or(|l| l.starts_with("kernel ")) {
                return Ok((stmts, None));
            }
            let expected = match end {
                End::Brace => "a statement or `}`",
                End::Yield => "a statement or `yield`",
                End::Kernel => "a statement",
            };
            let mut c = self.next(expected)?;
            if c.eat("}") {
                if end != End::Brace {
                    c.pos = 0;
                    return Err(c.error(expected));
                }
                c.end()?;
                return Ok((stmts, None));
            }
            if end == End::Yield && c.keyword("yield") {
                let value = c.value(n)?;
                c.end()?;
                let mut close = self.next("`}`")?;
                close.expect("}")?;
                close.end()?;
                return Ok((stmts, Some(value)));
            }
            stmts.push(self.stmt(c, n, depth)?);
        }
    }

    fn stmt(&mut self, mut c: Cursor<'a>, n: &Names, depth: usize) -> Result<Stmt> {
        if c.keyword("for") {
            let var = c.var(n)?;
            c.expect("in")?;
            let lo: i64 = c.int("the first value")?;
            c.expect("..")?;
            let steps = c.eat("T");
            let (hi, reverse) = if steps {
                if lo != 0 {
                    return Err(c.error("a time loop over `0..T`"));
                }
                (0, c.eat_word("reversed"))
            } else {
                (c.int("one past the last value, or `T`")?, false)
            };
            c.expect("{")?;
            c.end()?;
            let body = self.nested(&c, n, depth, End::Brace)?.0;
            return Ok(if steps {
                Stmt::Steps { var, reverse, body }
            } else {
                Stmt::Loop { var, lo, hi, body }
            });
        }
        let start = c.pos;
        let is_let = is_value(c.word()) && c.eat("=");
        c.pos = start;
        if is_let {
            let v = c.value(n)?;
            c.expect("=")?;
            if c.keyword("sum") {
                let var = c.var(n)?;
                c.expect("in")?;
                let lo: i64 = c.int("the first value")?;
                c.expect("..")?;
                let hi: i64 = c.int("one past the last value")?;
                c.expect("{")?;
                c.end()?;
                let (body, value) = self.nested(&c, n, depth, End::Yield)?;
                let value = value.ok_or_else(|| c.error("a sum's body to end with `yield`"))?;
                return Ok(Stmt::Reduce { result: v, var, lo, hi, body, value });
            }
            let op = c.op(n)?;
            c.end()?;
            return Ok(Stmt::Let(v, op));
        }
        let (buf, index) = c.access(n)?;
        let add = if c.eat("+=") {
            true
        } else if c.eat("=") {
            false
        } else {
            return Err(c.error("`=` or `+=`"));
        };
        let value = c.value(n)?;
        c.end()?;
        Ok(Stmt::Store { buf, index, value, add })
    }

    /// The body of a block opened on `c`'s line.
    fn nested(
        &mut self,
        c: &Cursor<'a>,
        n: &Names,
        depth: usize,
        end: End,
    ) -> Result<(Vec<Stmt>, Option<Value>)> {
        if depth + 1 > MAX_DEPTH {
            return Err(ParseError {
                line: c.line,
                message: format!("blocks nest more than {MAX_DEPTH} deep"),
            });
        }
        self.block(n, depth + 1, end)
    }
}

/// The name of loop variable `id` from its printed form, if `token` is that form.
fn var_name(token: &str, id: usize) -> Option<String> {
    let rest = token.strip_suffix(&id.to_string())?;
    let name = match rest.strip_suffix('_') {
        Some(r) if r.is_empty() || r.ends_with(|c: char| c.is_ascii_digit() || c == '_') => r,
        _ => rest,
    };
    (var_text(name, id as u32) == token).then(|| name.to_owned())
}

/// Whether a word is a value's name, `vN`.
fn is_value(word: &str) -> bool {
    word.strip_prefix('v').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// One line, read token by token.
struct Cursor<'a> {
    line: usize,
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        self.pos = self.text.len() - self.rest().trim_start().len();
    }

    fn at_end(&mut self) -> bool {
        self.skip_spaces();
        self.rest().is_empty()
    }

    /// An error: `expected` was expected where the cursor is.
    fn error(&mut self, expected: impl fmt::Display) -> ParseError {
        self.skip_spaces();
        let found = match self.rest() {
            "" => "the end of the line".to_owned(),
            rest => format!("`{}`", rest.chars().take(40).collect::<String>()),
        };
        ParseError { line: self.line, message: format!("expected {expected}, found {found}") }
    }

    /// An error about a token just read.
    fn error_at(&self, token: &str, expected: impl fmt::Display) -> ParseError {
        ParseError { line: self.line, message: format!("expected {expected}, found `{token}`") }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        match self.rest().strip_prefix(token) {
            Some(_) => {
                self.pos += token.len();
                true
            }
            None => false,
        }
    }

    /// Eats `word` followed by a space (a statement's first word, which a buffer's name could
    /// also be).
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_spaces();
        let rest = self.rest();
        if rest.strip_prefix(word).is_some_and(|r| r.starts_with(' ')) {
            self.pos += word.len();
            return true;
        }
        false
    }

    /// Eats `word` where it is a whole word.
    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_spaces();
        let start = self.pos;
        if self.word() == word {
            return true;
        }
        self.pos = start;
        false
    }

    fn expect(&mut self, token: &str) -> Result<()> {
        if self.eat(token) { Ok(()) } else { Err(self.error(format_args!("`{token}`"))) }
    }

    fn end(&mut self) -> Result<()> {
        if self.at_end() { Ok(()) } else { Err(self.error("the end of the line")) }
    }

    /// A run of letters, digits and `_`.
    fn word(&mut self) -> &'a str {
        self.skip_spaces();
        let rest = self.rest();
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// A word that `look_up` knows.
    fn word_as<T>(&mut self, what: &str, look_up: impl FnOnce(&str) -> Option<T>) -> Result<T> {
        self.skip_spaces();
        let start = self.pos;
        let word = self.word();
        look_up(word).ok_or_else(|| {
            self.pos = start;
            self.error(what)
        })
    }

    /// An integer: an optional `-`, then digits.
    fn int<T: FromStr>(&mut self, what: &str) -> Result<T> {
        self.skip_spaces();
        let rest = self.rest();
        let sign = usize::from(rest.starts_with('-'));
        let len = sign + rest[sign..].find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len() - sign);
        match rest[..len].parse() {
            Ok(x) if len > sign => {
                self.pos += len;
                Ok(x)
            }
            _ => Err(self.error(what)),
        }
    }

    fn starts_int(&mut self) -> bool {
        self.skip_spaces();
        let rest = self.rest().strip_prefix('-').unwrap_or(self.rest());
        rest.starts_with(|c: char| c.is_ascii_digit())
    }

    /// `vN`, if the cursor is at one: `v`, digits, then no other letter.
    fn try_value(&mut self, n: &Names) -> Result<Option<Value>> {
        self.skip_spaces();
        let start = self.pos;
        let word = self.word();
        if !is_value(word) {
            self.pos = start;
            return Ok(None);
        }
        match word[1..].parse::<u32>() {
            Ok(id) if id < n.values => Ok(Some(Value::from_u32(id))),
            _ => Err(self.error_at(word, format_args!("a value below v{} (the `values` line)", n.values))),
        }
    }

    fn value(&mut self, n: &Names) -> Result<Value> {
        match self.try_value(n)? {
            Some(v) => Ok(v),
            None => Err(self.error("a value `vN`")),
        }
    }

    fn var(&mut self, n: &Names) -> Result<LoopVar> {
        self.word_as("a loop variable of the `vars` line", |w| n.vars.get(w).copied())
    }

    /// `name[dims]: slot` of a buffer line.
    fn buffer(&mut self) -> Result<(String, Buffer)> {
        self.skip_spaces();
        let rest = self.rest();
        let len = rest.find(|c: char| c == '[' || c.is_whitespace()).unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("a buffer name"));
        }
        let name = rest[..len].to_owned();
        self.pos += len;
        self.expect("[")?;
        let mut time = None;
        let mut shape = Vec::new();
        if !self.eat("]") {
            loop {
                if shape.is_empty() && time.is_none() && self.eat("T") {
                    time = Some(if self.eat("+") { self.int("rows beyond T")? } else { 0 });
                } else {
                    shape.push(self.int("a size")?);
                }
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        self.expect(":")?;
        let slot = if self.eat_word("scratch") { None } else { Some(self.slot()?) };
        self.end()?;
        Ok((name.clone(), Buffer { name, slot, time, shape }))
    }

    /// A runtime slot, as `Slot`'s `Display` writes it.
    fn slot(&mut self) -> Result<Slot> {
        let kind = self.word();
        Ok(match kind {
            "param" | "input" if self.eat_word("grad") => {
                let i = self.int("an index")?;
                if kind == "param" { Slot::ParamGrad(i) } else { Slot::InputGrad(i) }
            }
            "param" | "input" if self.eat_word("accumulator") => {
                let i = self.int("an index")?;
                if kind == "param" { Slot::ParamAcc(i) } else { Slot::InputAcc(i) }
            }
            "param" if self.eat_word("costate") => Slot::ParamCostate(self.int("an index")?),
            "param" if self.eat_word("update") => Slot::ParamUpdate(self.int("an index")?),
            "param" => Slot::Param(self.int("an index")?),
            "input" => Slot::Input(self.int("an index")?),
            "target" => Slot::Target(self.int("an index")?),
            "cotangent" => match self.side()? {
                Side { pair, momentum: false } => Slot::Cotangent(pair),
                _ => return Err(self.error("the positions of a pair, `q0`")),
            },
            "state" => Slot::State(self.side()?),
            "trajectory" => Slot::Trajectory(self.side()?),
            "energy" => Slot::Energy,
            "loss" => Slot::Loss,
            "echo" => Slot::Echo(self.int("an echo copy")?, self.side()?),
            "tangent" => Slot::Tangent(self.side()?),
            "initial" if self.eat_word("grad") => Slot::InitialGrad(self.side()?),
            "costate" => Slot::Costate(self.side()?),
            "forced" => Slot::Forced(self.side()?),
            "forcing" => Slot::Forcing,
            _ => return Err(self.error_at(kind, "`scratch` or a runtime slot (`param 0`, `state q0`, ...)")),
        })
    }

    /// `q0` or `p0`: a pair's positions or momenta.
    fn side(&mut self) -> Result<Side> {
        self.word_as("a side of a pair (`q0`, `p0`)", |w| {
            let momentum = match w.chars().next() {
                Some('p') => true,
                Some('q') => false,
                _ => return None,
            };
            let pair = w[1..].parse().ok().filter(|_| w[1..].bytes().all(|b| b.is_ascii_digit()))?;
            Some(Side { pair, momentum })
        })
    }

    /// `name[index, ...]`.
    fn access(&mut self, n: &Names) -> Result<(Buf, Vec<Index>)> {
        self.skip_spaces();
        let rest = self.rest();
        let len = rest.find(|c: char| c == '[' || c.is_whitespace()).unwrap_or(rest.len());
        let buf = *n
            .buffers
            .get(&rest[..len])
            .ok_or_else(|| self.error("a statement, or a buffer of the kernel"))?;
        self.pos += len;
        self.expect("[")?;
        let mut index = Vec::new();
        if !self.eat("]") {
            loop {
                index.push(self.index(n)?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok((buf, index))
    }

    /// `clamp(core, n)` or `core`.
    fn index(&mut self, n: &Names) -> Result<Index> {
        if self.eat("clamp(") {
            let mut i = self.core(n)?;
            self.expect(",")?;
            i.clamp = Some(self.int("the size clamped to")?);
            self.expect(")")?;
            return Ok(i);
        }
        self.core(n)
    }

    /// `(var ± inner) mod wrap ± outer` and its shorter forms, or a constant.
    fn core(&mut self, n: &Names) -> Result<Index> {
        let mut i = Index::constant(0);
        if self.eat("(") {
            if self.starts_int() {
                i.inner = self.int("an offset")?;
            } else {
                i.var = Some(self.var(n)?);
                i.inner = self.offset()?.unwrap_or(0);
            }
            self.expect(")")?;
            if self.eat_word("mod") {
                i.wrap = Some(self.int("a modulus")?);
            }
        } else if self.starts_int() {
            i.outer = self.int("an index")?;
            return Ok(i);
        } else {
            i.var = Some(self.var(n)?);
        }
        i.outer = self.offset()?.unwrap_or(0);
        Ok(i)
    }

    /// ` + n` or ` - n`, if there is one.
    fn offset(&mut self) -> Result<Option<i64>> {
        let negative = if self.eat("+") {
            false
        } else if self.eat("-") {
            true
        } else {
            return Ok(None);
        };
        let n: u64 = self.int("an offset")?;
        let signed = if negative { 0i64.checked_sub_unsigned(n) } else { i64::try_from(n).ok() };
        signed.map(Some).ok_or_else(|| self.error("an offset that fits 64 bits"))
    }

    /// A condition of a select.
    fn cond(&mut self, n: &Names) -> Result<Cond> {
        let first = self.index(n)?;
        if self.eat("<=") {
            let lo = match first {
                Index { var: None, inner: 0, wrap: None, outer, clamp: None } => outer,
                _ => return Err(self.error("a number before `<=`")),
            };
            let index = self.index(n)?;
            self.expect("<")?;
            return Ok(Cond::Range { index, lo, hi: self.int("a bound")? });
        }
        if self.eat("<") {
            return Ok(Cond::Range { index: first, lo: i64::MIN, hi: self.int("a bound")? });
        }
        if self.eat(">=") {
            return Ok(Cond::Range { index: first, lo: self.int("a bound")?, hi: i64::MAX });
        }
        self.expect("==")?;
        Ok(Cond::Equal(first, self.index(n)?))
    }

    /// The operation of a `let`.
    fn op(&mut self, n: &Names) -> Result<Op> {
        if self.eat_word("load") {
            let (buf, index) = self.access(n)?;
            return Ok(Op::Load { buf, index });
        }
        if self.eat("select(") {
            let mut conds = Vec::new();
            if !self.eat(",") {
                loop {
                    conds.push(self.cond(n)?);
                    if self.eat(",") {
                        break;
                    }
                    self.expect("&&")?;
                }
            }
            let then = self.value(n)?;
            self.expect(",")?;
            let otherwise = self.value(n)?;
            self.expect(")")?;
            return Ok(Op::Select { conds, then, otherwise });
        }
        if self.eat_word("eps_a") {
            return Ok(Op::Eps(0));
        }
        if self.eat_word("eps_b") {
            return Ok(Op::Eps(1));
        }
        let start = self.pos;
        if self.eat("-")
            && let Some(a) = self.try_value(n)?
        {
            return Ok(Op::Neg(a));
        }
        self.pos = start;
        if let Some(a) = self.try_value(n)? {
            return self.binary(n, a);
        }
        let word = self.word();
        if let Some(func) = Func::from_any_name(word)
            && self.eat("(")
        {
            let a = self.value(n)?;
            self.expect(")")?;
            return Ok(Op::Call(func, a));
        }
        self.pos = start;
        self.skip_spaces();
        let number = self.rest().split_whitespace().next().unwrap_or("");
        match number.parse::<f64>() {
            Ok(c) => {
                self.pos += number.len();
                Ok(Op::Const(c))
            }
            Err(_) => {
                Err(self.error("an operation (a number, `load`, `vN + vM`, `-vN`, `f(vN)`, `select(..)`)"))
            }
        }
    }

    /// `a op b` or `a ^ n`.
    fn binary(&mut self, n: &Names, a: Value) -> Result<Op> {
        let op =
            [("+", BinOp::Add), ("-", BinOp::Sub), ("*", BinOp::Mul), ("/", BinOp::Div), ("^", BinOp::Pow)]
                .into_iter()
                .find(|(s, _)| self.eat(s))
                .map(|(_, op)| op)
                .ok_or_else(|| self.error("an operator (`+ - * / ^`)"))?;
        if op == BinOp::Pow && self.starts_int() {
            return Ok(Op::Powi(a, self.int("an integer exponent")?));
        }
        Ok(Op::Binary(op, a, self.value(n)?))
    }
}

#[cfg(test)]
mod tests {
    use hsc_runtime::{Side, Slot};

    use super::{parse_kernel, var_name};

    const SMALL: &str = "kernel forward (2 values, 1 loops)
  values v0..v2
  vars k0
  buffer b0 W[4]: param 0
  buffer b1 q[4]: state q0
  for k0 in 0..4 {
    v0 = load W[k0]
    v1 = tanh(v0)
    q[k0] = v1
  }
";

    #[test]
    fn a_printed_kernel_reads_back() {
        let k = parse_kernel(SMALL).unwrap();
        assert_eq!(k.to_string(), SMALL);
    }

    /// The message of the error on `text`, with its line.
    fn error(text: &str) -> String {
        parse_kernel(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let cases = [
            ("v1 = tanh(v0)", "v1 = tank(v0)", "line 8: expected an operation"),
            ("q[k0] = v1", "q[k0] = v7", "line 9: expected a value below v2 (the `values` line), found `v7`"),
            (
                "q[k0] = v1",
                "r[k0] = v1",
                "line 9: expected a statement, or a buffer of the kernel, found `r[k0] = v1`",
            ),
            ("load W[k0]", "load W[j0]", "line 7: expected a loop variable of the `vars` line, found `j0]`"),
            ("(2 values", "(3 values", "line 1: expected `(2 values, 1 loops)` (what the body holds)"),
            ("state q0", "state x0", "line 5: expected a side of a pair (`q0`, `p0`), found `x0`"),
            ("  }\n", "", "line 9: expected a statement or `}`, found the end"),
            (
                "vars k0",
                "vars k1",
                "line 3: expected loop variable 0, printed as its name then `0`, found `k1`",
            ),
            ("for k0 in 0..4 {", "for k0 in 0..4", "line 6: expected `{`, found the end of the line"),
        ];
        for (from, to, expected) in cases {
            let text = SMALL.replacen(from, to, 1);
            let message = error(&text);
            assert!(message.starts_with(expected), "{to}: {message}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_an_error() {
        let deep = 100;
        let mut text = "kernel forward (0 values, 100 loops)\nvalues v0..v0\nvars".to_owned();
        for i in 0..deep {
            text.push_str(&format!(" k{i}"));
        }
        text.push('\n');
        for i in 0..deep {
            text.push_str(&format!("for k{i} in 0..1 {{\n"));
        }
        text.push_str(&"}\n".repeat(deep));
        assert!(error(&text).contains("blocks nest more than 64 deep"), "{}", error(&text));
    }

    #[test]
    fn loop_variables_keep_their_names() {
        assert_eq!(var_name("k12", 12).as_deref(), Some("k"));
        assert_eq!(var_name("x1_3", 3).as_deref(), Some("x1"));
        assert_eq!(var_name("x___3", 3).as_deref(), Some("x__"));
        assert_eq!(var_name("_3", 3).as_deref(), Some(""));
        assert_eq!(var_name("x_3", 3), None, "the name `x_` prints as `x__3`");
        assert_eq!(var_name("k12", 2), None);
    }

    #[test]
    fn every_kind_of_slot_reads_back() {
        let side = |pair, momentum| Side { pair, momentum };
        let slots = [
            Slot::Param(2),
            Slot::Input(1),
            Slot::Target(0),
            Slot::Cotangent(1),
            Slot::State(side(0, true)),
            Slot::Trajectory(side(1, false)),
            Slot::Energy,
            Slot::Loss,
            Slot::ParamGrad(3),
            Slot::InputGrad(0),
            Slot::ParamAcc(1),
            Slot::InputAcc(2),
            Slot::Echo(1, side(0, true)),
            Slot::Tangent(side(0, false)),
            Slot::InitialGrad(side(2, true)),
            Slot::Costate(side(1, true)),
            Slot::ParamCostate(4),
            Slot::ParamUpdate(0),
            Slot::Forced(side(1, false)),
            Slot::Forcing,
        ];
        for slot in slots {
            let text = SMALL.replacen("param 0", &slot.to_string(), 1);
            let k = parse_kernel(&text).unwrap_or_else(|e| panic!("{slot}: {e}"));
            assert_eq!(k.buffers.values().next().unwrap().slot, Some(slot));
        }
    }

    #[test]
    fn every_form_of_index_condition_and_operation_reads_back() {
        let body = "    v0 = load W[clamp((k0 + 1) mod 4 - 2, 4)]
    v1 = load W[(k0 - 1) + 1]
    v2 = load W[(3) mod 4 + 1]
    v3 = select(k0 < 3 && k0 >= 1 && 0 <= (k0) mod 4 < 4 && k0 == 1, v0, v1)
    v4 = select(, v2, v3)
    v5 = -v4
    v6 = v5 ^ -2
    v7 = v6 ^ v5
    v8 = -0.0
    v9 = 1e-300
    v10 = inf
    v11 = v9 / v10
    q[k0] += v11
";
        let text = SMALL
            .replace("(2 values", "(12 values")
            .replace("v0..v2", "v0..v12")
            .replace("    v0 = load W[k0]\n    v1 = tanh(v0)\n    q[k0] = v1\n", body);
        let k = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.to_string(), text);
    }
}
