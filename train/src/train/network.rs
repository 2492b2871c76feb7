//! The stacked Hamiltonian SSM (the HSSM of the RHEL paper): a linear encoder to the hidden
//! width, `L` blocks, mean pooling over time and a linear head (a classifier's logits, or one
//! number for regression). A block is
//!
//! ```text
//! x ─ LayerNorm ─ x̂ ─ in (linear) ─ u ─ model ─ q ─ out (linear) + skip ⊙ x̂ ─ y
//!   ─ GELU ─ dropout ─ GLU ─ dropout ─ + x
//! ```
//!
//! The recurrent layer's gradients come from the chosen pass ([`GradMethod`]); every other
//! layer's are exact (`crate::nn`). One sequence at a time: a batch is a sum over sequences,
//! so sequences of different lengths need no padding.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::nn::{activation, dropout, glu, layer_norm, linear, loss, pool};
use hsc_runtime::{Model, Params, Walk};

use super::{Anchor, GradMethod, Target, TrainError, recurrent};

mod lockstep;

pub use lockstep::Stretches;

/// The shape of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    /// Channels of the data.
    pub channels: usize,
    /// The width between blocks.
    pub hidden: usize,
    /// Number of blocks.
    pub layers: usize,
    /// What the head predicts.
    pub head: Head,
    /// Probability that dropout zeroes an activation while training.
    pub dropout: f64,
}

/// What the network predicts from the pooled sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Head {
    /// One of this many classes: logits, cross-entropy.
    Classes(usize),
    /// One number. The head's output `z` stands for `mean + std · z`, with the mean and
    /// standard deviation of the training targets, and the loss is `(z − (y − mean)/std)²`:
    /// the squared error in units of the targets' spread.
    Regression {
        /// The training targets' mean.
        mean: f64,
        /// Their standard deviation (1 when they are all equal).
        std: f64,
    },
}

impl Head {
    /// Number of outputs.
    pub fn outputs(self) -> usize {
        match self {
            Head::Classes(n) => n,
            Head::Regression { .. } => 1,
        }
    }

    /// The regression head of `targets`.
    pub fn regression(targets: &[f64]) -> Head {
        let n = targets.len().max(1) as f64;
        let mean = targets.iter().sum::<f64>() / n;
        let var = targets.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
        let std = if var > 0.0 && var.is_finite() { var.sqrt() } else { 1.0 };
        Head::Regression { mean, std }
    }
}

/// A named array of trainable numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// `encoder.weight`, `block0.model.W`, ...
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f64>,
    /// Whether AdamW decays it (weights yes; biases, norms, skips and model params no).
    pub decay: bool,
}

/// Where one block's tensors are in [`Network::tensors`].
#[derive(Clone, Debug)]
struct Block {
    norm_gain: usize,
    norm_bias: usize,
    input_weight: usize,
    input_bias: usize,
    /// The model's params, in [`hsc_runtime::ModelSpec::params`] order.
    model: Vec<usize>,
    output_weight: usize,
    output_bias: usize,
    skip: usize,
    glu: [usize; 4],
}

/// The network: its architecture, the recurrent layers' model, and every trainable tensor.
#[derive(Clone)]
pub struct Network {
    /// Its shape.
    pub arch: Architecture,
    /// The model every block runs (each block has its own params).
    pub model: Model,
    /// Every trainable tensor, in a fixed order.
    pub tensors: Vec<Tensor>,
    encoder: [usize; 2],
    blocks: Vec<Block>,
    classifier: [usize; 2],
}

/// The loss of one sequence, its logits and the gradient of every tensor.
pub struct SequenceGrad {
    /// Cross-entropy, or the squared error of the standardised target.
    pub loss: f64,
    /// The head's output.
    pub logits: Vec<f64>,
    /// One array per tensor of [`Network::tensors`].
    pub grads: Vec<Vec<f64>>,
    /// How far the echoes ended from the state the sequence started in (rest), relative to
    /// the largest entry of the layers' final states: the reconstruction error of running
    /// the steps backwards, which anchors bound (0 for BPTT, which runs nothing backwards).
    pub stray: f64,
}

/// What a forward pass keeps for the backward pass.
pub struct Tape {
    steps: usize,
    input: Vec<f64>,
    blocks: Vec<BlockTape>,
    pooled: Vec<f64>,
    /// The head's output.
    pub logits: Vec<f64>,
}

struct BlockTape {
    norm: layer_norm::Cache,
    normed: Vec<f64>,
    u: Vec<f64>,
    q: Vec<f64>,
    y: Vec<f64>,
    mask: [Vec<f64>; 2],
    gated_input: Vec<f64>,
    glu: glu::Cache,
}

impl Network {
    /// A network with fresh params drawn from `seed`.
    pub fn new(arch: Architecture, model: Model, seed: u64) -> Result<Network, String> {
        recurrent::check(model.spec())?;
        let (inputs, positions) = recurrent::widths(model.spec());
        let mut b = Builder { tensors: Vec::new(), rng: ChaCha8Rng::seed_from_u64(seed) };
        let h = arch.hidden;
        let encoder = b.linear("encoder", arch.channels, h);
        let normal = Normal::new(0.0, 1.0).map_err(|e| e.to_string())?;
        let mut blocks = Vec::new();
        for l in 0..arch.layers {
            let norm_gain = b.add(format!("block{l}.norm.gain"), vec![h], vec![1.0; h], false);
            let norm_bias = b.add(format!("block{l}.norm.bias"), vec![h], vec![0.0; h], false);
            let [input_weight, input_bias] = b.linear(&format!("block{l}.in"), h, inputs);
            let params = model.init_params(seed.wrapping_add(1 + l as u64));
            let model_tensors = model
                .spec()
                .params
                .iter()
                .zip(params.values)
                .map(|(p, v)| b.add(format!("block{l}.model.{}", p.name), p.shape.clone(), v, false))
                .collect();
            let [output_weight, output_bias] = b.linear(&format!("block{l}.out"), positions, h);
            let skip_values = (0..h).map(|_| normal.sample(&mut b.rng)).collect();
            let skip = b.add(format!("block{l}.skip"), vec![h], skip_values, false);
            let [w1, b1] = b.linear(&format!("block{l}.glu.w1"), h, h);
            let [w2, b2] = b.linear(&format!("block{l}.glu.w2"), h, h);
            blocks.push(Block {
                norm_gain,
                norm_bias,
                input_weight,
                input_bias,
                model: model_tensors,
                output_weight,
                output_bias,
                skip,
                glu: [w1, b1, w2, b2],
            });
        }
        let classifier = b.linear("classifier", h, arch.head.outputs());
        Ok(Network { arch, model, tensors: b.tensors, encoder, blocks, classifier })
    }

    /// Number of trainable numbers.
    pub fn size(&self) -> usize {
        self.tensors.iter().map(|t| t.values.len()).sum()
    }

    fn t(&self, i: usize) -> &[f64] {
        &self.tensors[i].values
    }

    /// Block `l`'s recurrent layer's params.
    fn model_params(&self, l: usize) -> Params {
        Params { values: self.blocks[l].model.iter().map(|&i| self.tensors[i].values.clone()).collect() }
    }

    /// Runs one sequence (`[steps, channels]`, normalised), keeping every activation for
    /// [`Network::backward`]. With `dropout_seed`, dropout is on (training) and its masks are
    /// drawn from that seed.
    pub fn forward(
        &self,
        series: &[f64],
        steps: usize,
        dropout_seed: Option<u64>,
    ) -> Result<Tape, TrainError> {
        let mut x = self.encode(series, steps);
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for l in 0..self.blocks.len() {
            let (normed, norm, u) = self.block_in(l, &x, steps);
            let (q, _) = recurrent::run(&self.model, &self.model_params(l), &u, steps, None)?;
            let (next, tape) = self.block_out(l, x, (normed, norm, u, q), 0..steps, dropout_seed)?;
            blocks.push(tape);
            x = next;
        }
        let pooled = pool::mean(&x, steps);
        let logits = self.head(&pooled);
        Ok(Tape { steps, input: series.to_vec(), blocks, pooled, logits })
    }

    /// The encoder's output for rows of the series.
    fn encode(&self, series: &[f64], rows: usize) -> Vec<f64> {
        let [ew, eb] = self.encoder;
        linear::forward(series, rows, self.t(ew), self.t(eb), self.arch.hidden)
    }

    /// The head's output for the pooled sequence.
    fn head(&self, pooled: &[f64]) -> Vec<f64> {
        let [cw, cb] = self.classifier;
        linear::forward(pooled, 1, self.t(cw), self.t(cb), self.arch.head.outputs())
    }

    /// Block `l`'s LayerNorm and the recurrent layer's input, for rows of its input `x`.
    fn block_in(&self, l: usize, x: &[f64], rows: usize) -> (Vec<f64>, layer_norm::Cache, Vec<f64>) {
        let block = &self.blocks[l];
        let (inputs, _) = recurrent::widths(self.model.spec());
        let (normed, norm) = layer_norm::forward(x, rows, self.t(block.norm_gain), self.t(block.norm_bias));
        let u = linear::forward(&normed, rows, self.t(block.input_weight), self.t(block.input_bias), inputs);
        (normed, norm, u)
    }

    /// The rest of block `l` over `rows` of the sequence, given its input `x`, what
    /// [`Network::block_in`] made of it and the recurrent layer's positions: the block's
    /// output, and what its backward pass needs. Dropout's masks are drawn per step, so a
    /// step's masks are the same whichever stretch of steps it is run in.
    fn block_out(
        &self,
        l: usize,
        x: Vec<f64>,
        (normed, norm, u, q): (Vec<f64>, layer_norm::Cache, Vec<f64>, Vec<f64>),
        rows: std::ops::Range<usize>,
        dropout_seed: Option<u64>,
    ) -> Result<(Vec<f64>, BlockTape), TrainError> {
        let block = &self.blocks[l];
        let (h, steps) = (self.arch.hidden, rows.len());
        finite(&q, || format!("the positions of block {l}'s {} layer", self.model.spec().name))?;
        let mut y = linear::forward(&q, steps, self.t(block.output_weight), self.t(block.output_bias), h);
        let skip = self.t(block.skip);
        for (row, xr) in y.chunks_mut(h).zip(normed.chunks(h)) {
            for ((y, s), x) in row.iter_mut().zip(skip).zip(xr) {
                *y += s * x;
            }
        }
        let mask = [0, 1].map(|k| self.mask(dropout_seed, 2 * l + k, rows.clone()));
        let gated_input = dropout::apply(&activation::gelu(&y), &mask[0]);
        let [w1, b1, w2, b2] = block.glu;
        let (gated, glu) =
            glu::forward(&gated_input, steps, self.t(w1), self.t(b1), self.t(w2), self.t(b2), h);
        let out = dropout::apply(&gated, &mask[1]);
        let next: Vec<f64> = x.iter().zip(&out).map(|(a, b)| a + b).collect();
        finite(&next, || format!("the output of block {l}"))?;
        Ok((next, BlockTape { norm, normed, u, q, y, mask, gated_input, glu }))
    }

    /// Dropout mask `which` over `rows` (`[rows, hidden]`), each step's from its own seed; all
    /// ones without a seed.
    fn mask(&self, dropout_seed: Option<u64>, which: usize, rows: std::ops::Range<usize>) -> Vec<f64> {
        let h = self.arch.hidden;
        match dropout_seed {
            Some(seed) if self.arch.dropout > 0.0 => rows
                .flat_map(|t| {
                    let mut rng = ChaCha8Rng::seed_from_u64(super::mix(seed, which as u64, t as u64));
                    dropout::mask(h, self.arch.dropout, &mut rng)
                })
                .collect(),
            _ => vec![1.0; rows.len() * h],
        }
    }

    /// The gradient of a loss with `dlogits` = d loss / d logits, one array per tensor.
    pub fn backward(
        &self,
        tape: &Tape,
        dlogits: &[f64],
        method: GradMethod,
    ) -> Result<Vec<Vec<f64>>, TrainError> {
        let mut grads: Vec<Vec<f64>> = self.tensors.iter().map(|t| vec![0.0; t.values.len()]).collect();
        let steps = tape.steps;
        let dpooled = self.head_backward(&tape.pooled, dlogits, &mut grads);
        let mut dx = pool::mean_backward(&dpooled, steps);
        for (l, bt) in tape.blocks.iter().enumerate().rev() {
            let (dq, dnormed) = self.block_out_backward(l, bt, &dx, &mut grads);
            let (model_grads, du) =
                recurrent::backward(&self.model, &self.model_params(l), &bt.u, &dq, steps, method)?;
            self.add_model_grads(l, model_grads, &mut grads)?;
            self.block_in_backward(l, bt, &du, dnormed, &mut dx, &mut grads)?;
        }
        self.encode_backward(&tape.input, steps, &dx, &mut grads);
        Ok(grads)
    }

    /// The head's gradients; returns the pooled sequence's.
    fn head_backward(&self, pooled: &[f64], dlogits: &[f64], grads: &mut [Vec<f64>]) -> Vec<f64> {
        let [cw, cb] = self.classifier;
        let (dw, db) = two(grads, cw, cb);
        linear::backward(pooled, 1, self.t(cw), self.arch.head.outputs(), dlogits, dw, db)
    }

    /// The encoder's gradients from rows of the series and of the blocks' input gradient.
    fn encode_backward(&self, series: &[f64], rows: usize, dx: &[f64], grads: &mut [Vec<f64>]) {
        let [ew, eb] = self.encoder;
        let (dw, db) = two(grads, ew, eb);
        linear::backward(series, rows, self.t(ew), self.arch.hidden, dx, dw, db);
    }

    /// Back through block `l`'s output side from the gradient `dx` of its output: the
    /// positions' cotangents, and the skip's part of the LayerNorm output's gradient.
    fn block_out_backward(
        &self,
        l: usize,
        bt: &BlockTape,
        dx: &[f64],
        grads: &mut [Vec<f64>],
    ) -> (Vec<f64>, Vec<f64>) {
        let block = &self.blocks[l];
        let h = self.arch.hidden;
        let steps = dx.len() / h;
        let dout = dropout::apply(dx, &bt.mask[1]);
        let [w1, b1, w2, b2] = block.glu;
        let [dw1, db1, dw2, db2] = four(grads, [w1, b1, w2, b2]);
        let dgated =
            glu::backward(&bt.glu, &bt.gated_input, self.t(w1), self.t(w2), &dout, dw1, db1, dw2, db2);
        let dy = activation::gelu_backward(&bt.y, &dropout::apply(&dgated, &bt.mask[0]));
        let skip = self.t(block.skip);
        let mut dnormed = vec![0.0; steps * h];
        for t in 0..steps {
            for k in 0..h {
                let i = t * h + k;
                grads[block.skip][k] += dy[i] * bt.normed[i];
                dnormed[i] = dy[i] * skip[k];
            }
        }
        let (dw, db) = two(grads, block.output_weight, block.output_bias);
        let dq = linear::backward(&bt.q, steps, self.t(block.output_weight), h, &dy, dw, db);
        (dq, dnormed)
    }

    /// Adds the recurrent layer of block `l`'s param gradients.
    fn add_model_grads(
        &self,
        l: usize,
        model: Vec<Vec<f64>>,
        grads: &mut [Vec<f64>],
    ) -> Result<(), TrainError> {
        for (&i, g) in self.blocks[l].model.iter().zip(model) {
            finite(&g, || format!("the gradient of {} (block {l})", self.tensors[i].name))?;
            for (a, b) in grads[i].iter_mut().zip(g) {
                *a += b;
            }
        }
        Ok(())
    }

    /// Back through block `l`'s input side from the recurrent layer's input gradient `du`
    /// and the skip's `dnormed`: adds the block input's gradient into `dx` (which holds the
    /// residual's).
    fn block_in_backward(
        &self,
        l: usize,
        bt: &BlockTape,
        du: &[f64],
        mut dnormed: Vec<f64>,
        dx: &mut [f64],
        grads: &mut [Vec<f64>],
    ) -> Result<(), TrainError> {
        let block = &self.blocks[l];
        let (inputs, _) = recurrent::widths(self.model.spec());
        let steps = dx.len() / self.arch.hidden;
        finite(du, || format!("the input gradient of block {l}'s {} layer", self.model.spec().name))?;
        let (dw, db) = two(grads, block.input_weight, block.input_bias);
        let dn = linear::backward(&bt.normed, steps, self.t(block.input_weight), inputs, du, dw, db);
        for (a, b) in dnormed.iter_mut().zip(dn) {
            *a += b;
        }
        let (dg, dbias) = two(grads, block.norm_gain, block.norm_bias);
        let dinput = layer_norm::backward(&bt.norm, self.t(block.norm_gain), &dnormed, dg, dbias);
        for (a, b) in dx.iter_mut().zip(dinput) {
            *a += b;
        }
        Ok(())
    }

    /// The loss of the head's output against `target`, and its gradient: cross-entropy for a
    /// class, the squared error of the standardised target for a number ([`Head`]).
    ///
    /// # Panics
    /// If the target is not of the head's kind.
    pub fn loss(&self, logits: &[f64], target: Target) -> (f64, Vec<f64>) {
        match (self.arch.head, target) {
            (Head::Classes(_), Target::Class(label)) => loss::cross_entropy(logits, label),
            (Head::Regression { mean, std }, Target::Value(y)) => {
                let error = logits[0] - (y - mean) / std;
                (error * error, vec![2.0 * error])
            }
            (head, target) => panic!("a {target:?} target for a {head:?} head"),
        }
    }

    /// The loss of one labelled sequence and its gradient: BPTT through the stored
    /// activations of the whole network, or RHEL's or the tangent echoes of every layer in
    /// lockstep over the stretches `anchor` gives (memory that does not grow with `steps`).
    pub fn loss_and_grad(
        &self,
        series: &[f64],
        steps: usize,
        target: Target,
        dropout_seed: Option<u64>,
        method: GradMethod,
        anchor: Anchor,
    ) -> Result<SequenceGrad, TrainError> {
        let walk = match method {
            GradMethod::Rhel { eps } => Some(Walk::Rhel(eps)),
            GradMethod::Tangent => Some(Walk::Tangent),
            GradMethod::Bptt => None,
        };
        if let Some(walk) = walk {
            return self.lockstep_grad(series, steps, target, dropout_seed, walk, anchor.stretches(steps));
        }
        let tape = self.forward(series, steps, dropout_seed)?;
        let (loss, dlogits) = self.loss(&tape.logits, target);
        let grads = self.backward(&tape, &dlogits, method)?;
        Ok(SequenceGrad { loss, logits: tape.logits, grads, stray: 0.0 })
    }
}

/// Appends tensors in order, drawing their initial values.
struct Builder {
    tensors: Vec<Tensor>,
    rng: ChaCha8Rng,
}

impl Builder {
    fn add(&mut self, name: String, shape: Vec<usize>, values: Vec<f64>, decay: bool) -> usize {
        self.tensors.push(Tensor { name, shape, values, decay });
        self.tensors.len() - 1
    }

    /// `{name}.weight` `[out, inp]` and `{name}.bias` `[out]`.
    fn linear(&mut self, name: &str, inp: usize, out: usize) -> [usize; 2] {
        let (w, bias) = linear::init(inp, out, &mut self.rng);
        [
            self.add(format!("{name}.weight"), vec![out, inp], w, true),
            self.add(format!("{name}.bias"), vec![out], bias, false),
        ]
    }
}

/// An error naming `what` when `values` holds a NaN or an infinity.
fn finite(values: &[f64], what: impl FnOnce() -> String) -> Result<(), TrainError> {
    match values.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(TrainError::NonFinite { what: format!("{} is {x}", what()) }),
        None => Ok(()),
    }
}

/// Two distinct gradient arrays, mutably.
fn two(grads: &mut [Vec<f64>], a: usize, b: usize) -> (&mut [f64], &mut [f64]) {
    let [x, y] = grads.get_disjoint_mut([a, b]).expect("distinct tensors");
    (x, y)
}

fn four(grads: &mut [Vec<f64>], i: [usize; 4]) -> [&mut [f64]; 4] {
    let [a, b, c, d] = grads.get_disjoint_mut(i).expect("distinct tensors");
    [a, b, c, d]
}
