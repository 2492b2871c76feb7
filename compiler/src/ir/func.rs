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
        }
    }

    /// The function of that name.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the function has derivatives of every order everywhere it is defined.
    pub fn is_smooth(self) -> bool {
        !matches!(self, Func::Abs | Func::Relu)
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
            Func::Relu => x.max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Func;

    #[test]
    fn names_round_trip() {
        for f in Func::ALL {
            assert_eq!(Func::from_name(f.name()), Some(f));
        }
        assert_eq!(Func::from_name("tanhh"), None);
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
