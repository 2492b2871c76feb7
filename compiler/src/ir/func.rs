//! The built-in functions of the language: one entry per function.
//!
//! Each function's facts live in one place, [`Func::eval`] and its neighbours, so that adding
//! a function is one variant here and an exhaustive `match` everywhere else.

/// A built-in function of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Func {
    /// `exp(x)`
    Exp,
    /// `log(x)`, the natural logarithm
    Log,
    /// `sqrt(x)`
    Sqrt,
    /// `sin(x)`
    Sin,
    /// `cos(x)`
    Cos,
    /// `tanh(x)`
    Tanh,
    /// `sinh(x)`
    Sinh,
    /// `cosh(x)`
    Cosh,
    /// `sigmoid(x) = 1 / (1 + exp(-x))`
    Sigmoid,
    /// `softplus(x) = log(1 + exp(x))`
    Softplus,
    /// `logcosh(x) = log(cosh(x))`
    Logcosh,
    /// `abs(x)`; not smooth at 0
    Abs,
    /// `relu(x) = max(x, 0)`; not smooth at 0
    Relu,
    /// `sign(x)`, the derivative of `abs`; internal, not in the language
    Sign,
    /// `step(x)`, 1 for `x > 0` and 0 otherwise, the derivative of `relu`; internal
    Step,
}

/// How a function behaves when its argument changes sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symmetry {
    /// `f(-x) = f(x)`
    Even,
    /// `f(-x) = -f(x)`
    Odd,
    /// Neither.
    None,
}

/// A formula in one variable `X`, in which a function's derivative is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Formula {
    /// The argument.
    X,
    /// A number.
    Num(f64),
    /// A function of a formula.
    Apply(Func, Box<Formula>),
    /// A sum.
    Add(Box<Formula>, Box<Formula>),
    /// A product.
    Mul(Box<Formula>, Box<Formula>),
    /// A formula to a constant power.
    Pow(Box<Formula>, f64),
}

impl Formula {
    fn apply(f: Func) -> Formula {
        Formula::Apply(f, Box::new(Formula::X))
    }
    fn times(self, other: Formula) -> Formula {
        Formula::Mul(Box::new(self), Box::new(other))
    }
    fn plus(self, other: Formula) -> Formula {
        Formula::Add(Box::new(self), Box::new(other))
    }
    fn pow(self, n: f64) -> Formula {
        Formula::Pow(Box::new(self), n)
    }
}

impl Func {
    /// Every function, in the order of language.md.
    pub const ALL: [Func; 13] = [
        Func::Exp,
        Func::Log,
        Func::Sqrt,
        Func::Sin,
        Func::Cos,
        Func::Tanh,
        Func::Sinh,
        Func::Cosh,
        Func::Sigmoid,
        Func::Softplus,
        Func::Logcosh,
        Func::Abs,
        Func::Relu,
    ];

    /// The name in .ham.
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sqrt => "sqrt",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tanh => "tanh",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Sigmoid => "sigmoid",
            Func::Softplus => "softplus",
            Func::Logcosh => "logcosh",
            Func::Abs => "abs",
            Func::Relu => "relu",
            Func::Sign => "sign",
            Func::Step => "step",
        }
    }

    /// The functions the language has no name for: derivatives of others.
    pub const INTERNAL: [Func; 2] = [Func::Sign, Func::Step];

    /// The function of that name (internal functions have none).
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function of that name, internal functions included (the kernel IR's text form).
    pub fn from_any_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().chain(Func::INTERNAL).find(|f| f.name() == name)
    }

    /// Its derivative, as a formula in its argument `X`.
    pub fn derivative(self) -> Formula {
        use Formula::{Num, X};
        match self {
            Func::Exp => Formula::apply(Func::Exp),
            Func::Log => X.pow(-1.0),
            Func::Sqrt => Num(0.5).times(Formula::apply(Func::Sqrt).pow(-1.0)),
            Func::Sin => Formula::apply(Func::Cos),
            Func::Cos => Num(-1.0).times(Formula::apply(Func::Sin)),
            Func::Tanh => Num(1.0).plus(Num(-1.0).times(Formula::apply(Func::Tanh).pow(2.0))),
            Func::Sinh => Formula::apply(Func::Cosh),
            Func::Cosh => Formula::apply(Func::Sinh),
            Func::Sigmoid => Formula::apply(Func::Sigmoid)
                .times(Num(1.0).plus(Num(-1.0).times(Formula::apply(Func::Sigmoid)))),
            Func::Softplus => Formula::apply(Func::Sigmoid),
            Func::Logcosh => Formula::apply(Func::Tanh),
            Func::Abs => Formula::apply(Func::Sign),
            Func::Relu => Formula::apply(Func::Step),
            Func::Sign | Func::Step => Num(0.0),
        }
    }

    /// Whether it is even, odd or neither.
    pub fn symmetry(self) -> Symmetry {
        match self {
            Func::Cos | Func::Cosh | Func::Logcosh | Func::Abs => Symmetry::Even,
            Func::Sin | Func::Sinh | Func::Tanh | Func::Sign => Symmetry::Odd,
            Func::Exp | Func::Log | Func::Sqrt | Func::Sigmoid | Func::Softplus | Func::Relu | Func::Step => {
                Symmetry::None
            }
        }
    }

    /// Whether the function has derivatives of every order everywhere it is defined.
    pub fn is_smooth(self) -> bool {
        !matches!(self, Func::Abs | Func::Relu | Func::Sign | Func::Step)
    }

    /// The value at `x`, in f64, computed stably (no overflow for large `|x|`).
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tanh => x.tanh(),
            Func::Sinh => x.sinh(),
            Func::Cosh => x.cosh(),
            Func::Sigmoid => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                }
            }
            Func::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Func::Logcosh => x.abs() + (-2.0 * x.abs()).exp().ln_1p() - std::f64::consts::LN_2,
            Func::Abs => x.abs(),
            Func::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            } // -0 and NaN pass through (`f64::max` may give either zero)
            Func::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Func::Step => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Func;

    /// Each derivative formula, evaluated, equals a central difference of the value.
    #[test]
    fn derivatives_match_finite_differences() {
        fn eval(f: &super::Formula, x: f64) -> f64 {
            use super::Formula::*;
            match f {
                X => x,
                Num(c) => *c,
                Apply(g, a) => g.eval(eval(a, x)),
                Add(a, b) => eval(a, x) + eval(b, x),
                Mul(a, b) => eval(a, x) * eval(b, x),
                Pow(a, n) => eval(a, x).powf(*n),
            }
        }
        for f in Func::ALL {
            for x in [-2.3, -0.7, 0.4, 1.1, 2.9] {
                if matches!(f, Func::Log | Func::Sqrt) && x <= 0.0 {
                    continue;
                }
                let h = 1e-6;
                let fd = (f.eval(x + h) - f.eval(x - h)) / (2.0 * h);
                let d = eval(&f.derivative(), x);
                assert!(
                    (d - fd).abs() <= 1e-8 * (1.0 + fd.abs()),
                    "{}'({x}) = {d}, differences give {fd}",
                    f.name()
                );
            }
        }
    }

    #[test]
    fn symmetries_hold() {
        for f in Func::ALL {
            for x in [0.3, 1.7] {
                match f.symmetry() {
                    super::Symmetry::Even => assert_eq!(f.eval(-x), f.eval(x), "{}", f.name()),
                    super::Symmetry::Odd => assert_eq!(f.eval(-x), -f.eval(x), "{}", f.name()),
                    super::Symmetry::None => {}
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for f in Func::ALL {
            assert_eq!(Func::from_name(f.name()), Some(f));
        }
        assert_eq!(Func::from_name("tanhh"), None);
        for f in Func::INTERNAL {
            assert_eq!((Func::from_name(f.name()), Func::from_any_name(f.name())), (None, Some(f)));
        }
    }

    #[test]
    fn stable_forms_match_the_definitions() {
        for x in [-30.0, -2.5, -1e-3, 0.0, 0.7, 3.0, 30.0] {
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
            assert!(close(Func::Sigmoid.eval(x), 1.0 / (1.0 + (-x).exp())), "sigmoid {x}");
            assert!(close(Func::Softplus.eval(x), (1.0 + x.exp()).ln()), "softplus {x}");
            assert!(close(Func::Logcosh.eval(x), x.cosh().ln()), "logcosh {x}");
        }
        // Far out, the naive forms overflow; the stable ones do not.
        assert_eq!(Func::Logcosh.eval(1000.0), 1000.0 - std::f64::consts::LN_2);
        assert_eq!(Func::Softplus.eval(1000.0), 1000.0);
        assert_eq!(Func::Sigmoid.eval(-1000.0), 0.0);
    }
}
