//! Training a stacked Hamiltonian SSM on a classification or regression data set (what
//! `hsc train` runs).
//!
//! - [`network`]: the stacked model (encoder, blocks around the user's model, pooling,
//!   head), its forward and backward pass over one sequence.
//! - [`recurrent`]: the user's model as a layer: positions out, and the chosen gradient pass
//!   driven by per-step cotangents of them.
//! - [`trainer`]: epochs, minibatches across threads, AdamW, evaluation.
//! - [`checkpoint`]: the whole training state in one safetensors file, written atomically.
//! - [`metrics`]: per-epoch figures as JSON.

pub mod checkpoint;
pub mod metrics;
pub mod network;
pub mod recurrent;
pub mod trainer;

pub use network::{Architecture, Head, Network, Stretches, Tensor};
pub(crate) use trainer::mix;
pub use trainer::{
    Config, EpochRecord, Errors, Example, Observer, Progress, Score, Target, Trainer, evaluate,
    mean_baseline, predicted,
};

use hsc_runtime::RunError;

/// How the recurrent layers' gradients are computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GradMethod {
    /// Two echoes nudged by `±eps` (relative to the largest cotangent of the sequence).
    Rhel {
        /// The nudge.
        eps: f64,
    },
    /// The tangent echo (RHEL's `ε → 0` limit).
    Tangent,
    /// Backpropagation through time over a stored trajectory (the reference).
    Bptt,
}

impl GradMethod {
    /// `rhel`, `tangent` or `bptt`.
    pub fn name(self) -> &'static str {
        match self {
            GradMethod::Rhel { .. } => "rhel",
            GradMethod::Tangent => "tangent",
            GradMethod::Bptt => "bptt",
        }
    }
}

/// Where the echoes of `hsc train`'s network re-anchor to states the forward pass kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Anchor {
    /// Never: nothing is kept, memory does not grow with the sequence (stretches of 256).
    Never,
    /// At every `K` steps: memory `O(T / K + K)`.
    Every(usize),
    /// At every `⌈√T⌉` steps (at least 16): memory `O(√T)`.
    Sqrt,
}

impl Anchor {
    /// The stretches of a sequence of `steps` steps.
    pub fn stretches(self, steps: usize) -> Stretches {
        match self {
            Anchor::Never => Stretches { len: 256, anchored: false },
            Anchor::Every(k) => Stretches { len: k.max(1), anchored: true },
            Anchor::Sqrt => Stretches::anchored(steps),
        }
    }

    /// `never`, `sqrt` or `K`.
    pub fn name(self) -> String {
        match self {
            Anchor::Never => "never".into(),
            Anchor::Every(k) => k.to_string(),
            Anchor::Sqrt => "sqrt".into(),
        }
    }
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(s: &str) -> Result<Anchor, String> {
        match s {
            "never" => Ok(Anchor::Never),
            "sqrt" => Ok(Anchor::Sqrt),
            k => match k.parse::<usize>() {
                Ok(k) if k > 0 => Ok(Anchor::Every(k)),
                _ => Err(format!(
                    "`{k}` is not an anchor spacing; expected never, sqrt or a number of steps K > 0"
                )),
            },
        }
    }
}

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A model pass failed.
    #[error("{0}")]
    Run(RunError),
    /// A NaN or an infinity (inside one sequence; [`TrainError::Stopped`] adds where).
    #[error("{what}")]
    NonFinite {
        /// What was not finite, and its value.
        what: String,
    },
    /// A NaN or an infinity during an update.
    #[error("epoch {epoch}, step {step}: {what}")]
    Stopped {
        /// The epoch (from 1).
        epoch: usize,
        /// The optimizer step within the run (from 1).
        step: u64,
        /// What was not finite, naming the layer.
        what: String,
    },
    /// A file could not be read or written, or holds something else.
    #[error("{0}")]
    File(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse_and_give_stretches() {
        assert_eq!("never".parse(), Ok(Anchor::Never));
        assert_eq!("sqrt".parse(), Ok(Anchor::Sqrt));
        assert_eq!("64".parse(), Ok(Anchor::Every(64)));
        for bad in ["0", "-3", "often", ""] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad}");
        }
        for a in [Anchor::Never, Anchor::Sqrt, Anchor::Every(9)] {
            assert_eq!(a.name().parse(), Ok(a));
        }
        assert_eq!(Anchor::Sqrt.stretches(10_000), Stretches { len: 100, anchored: true });
        assert_eq!(Anchor::Sqrt.stretches(10), Stretches { len: 16, anchored: true });
        assert_eq!(Anchor::Every(7).stretches(10), Stretches { len: 7, anchored: true });
        assert!(!Anchor::Never.stretches(10).anchored);
    }
}
