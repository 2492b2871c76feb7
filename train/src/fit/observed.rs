//! The data `hsc fit` fits to: a model's inputs, targets and initial state, and the states the
//! data give at every step, read by name from an `.npz` archive and checked against the model.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use hsc_runtime::spec::{ArraySpec, Side};
use hsc_runtime::{Batch, ModelSpec};

use crate::data::DataError;
use crate::data::npz::{Array, shape_text};

/// Observed sequences, every array row-major with the sequence first.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Number of sequences `S`.
    pub sequences: usize,
    /// Steps per sequence `T`.
    pub steps: usize,
    /// Per model input: `[S, T, ...]`.
    pub inputs: Vec<Vec<f64>>,
    /// Per model target: `[S, T, ...]`.
    pub targets: Vec<Vec<f64>>,
    /// Per state array (`ModelSpec::sides` order): `[S, ...]`, zero where the data give none.
    pub initial: Vec<Vec<f64>>,
    /// Per state array: `[S, T, ...]`, the state after each step where the data give it
    /// (`--force`); a window that starts at step `t > 0` starts from step `t - 1`'s value.
    pub forced: Vec<Option<Vec<f64>>>,
    /// Arrays of the file that nothing reads.
    pub unused: Vec<String>,
}

/// `S` and `T`, and which array first said so.
#[derive(Default)]
struct Sizes {
    sequences: Option<(usize, String)>,
    steps: Option<(usize, String)>,
}

impl Observed {
    /// The arrays of `arrays` (read from `path`) that `spec` reads: one per input and target,
    /// named after it, `[S, T, ...]` or `[T, ...]` (one sequence); initial states named after
    /// the state arrays, `[S, ...]` or `[...]`; and per `force` pair `(state array, data
    /// array)`, a per-step array of the state's shape.
    pub fn from_arrays(
        spec: &ModelSpec,
        mut arrays: BTreeMap<String, Array>,
        force: &[(String, String)],
        path: &Path,
    ) -> Result<Observed, DataError> {
        let error = |message: String| DataError::file(path, message);
        let names = |arrays: &BTreeMap<String, Array>| {
            let mut all: Vec<String> = arrays.keys().map(|k| format!("`{k}`")).collect();
            if all.is_empty() {
                all.push("none".into());
            }
            all.join(", ")
        };
        let mut sizes = Sizes::default();
        let mut per_step =
            |name: &str, what: &str, decl: &ArraySpec, arrays: &mut BTreeMap<String, Array>| {
                let Some(array) = arrays.remove(name) else {
                    return Err(error(format!(
                        "there is no array `{name}` for the model's {what} `{}` (the file has {})",
                        decl.describe(),
                        names(arrays)
                    )));
                };
                sizes
                    .per_step(name, &array, &decl.shape)
                    .map_err(|m| error(format!("array `{name}` ({what} `{}`): {m}", decl.describe())))?;
                finite(name, &array).map_err(error)?;
                Ok(array.values)
            };
        let inputs = spec
            .inputs
            .iter()
            .map(|i| per_step(&i.name, "input", i, &mut arrays))
            .collect::<Result<Vec<_>, _>>()?;
        let targets = spec
            .targets
            .iter()
            .map(|t| per_step(&t.name, "target", t, &mut arrays))
            .collect::<Result<Vec<_>, _>>()?;
        let sides = spec.sides();
        let mut forced = vec![None; sides.len()];
        for (state, data) in force {
            let Some(k) = sides.iter().position(|&s| spec.side(s).name == *state) else {
                let states: Vec<String> = sides.iter().map(|&s| format!("`{}`", spec.side(s).name)).collect();
                return Err(error(format!(
                    "--force names `{state}`, which is not a state array of the model ({})",
                    states.join(", ")
                )));
            };
            if forced[k].is_some() {
                return Err(error(format!("--force names `{state}` twice")));
            }
            forced[k] = Some(per_step(
                data,
                &format!("forced state `{state}`, the state after each step:"),
                spec.side(sides[k]),
                &mut arrays,
            )?);
        }
        let (Some((sequences, _)), Some((steps, _))) = (sizes.sequences.clone(), sizes.steps.clone()) else {
            return Err(error(format!(
                "the model reads no per-step array (no input, target or --force), so there is nothing to fit to (the file has {})",
                names(&arrays)
            )));
        };
        let initial = sides
            .iter()
            .map(|&s| initial_state(spec, s, sequences, &sizes, &mut arrays).map_err(error))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Observed {
            sequences,
            steps,
            inputs,
            targets,
            initial,
            forced,
            unused: arrays.into_keys().collect(),
        })
    }
}

impl Sizes {
    /// Checks a per-step array of a declared `shape`: `[S, T, ...]` or `[T, ...]`.
    fn per_step(&mut self, name: &str, array: &Array, shape: &[usize]) -> Result<(), String> {
        let rank = array.shape.len();
        let expected = |s: &str| {
            let tail: Vec<String> = shape.iter().map(usize::to_string).collect();
            let tail = if tail.is_empty() { String::new() } else { format!(", {}", tail.join(", ")) };
            format!("{s}{tail})")
        };
        let wanted = format!("{} or {}", expected("(S, T"), expected("(T"));
        let (sequences, steps) = match rank.checked_sub(shape.len()) {
            Some(2) if array.shape[2..] == *shape => (array.shape[0], array.shape[1]),
            Some(1) if array.shape[1..] == *shape => (1, array.shape[0]),
            _ => return Err(format!("its shape is {}, expected {wanted}", array.describe_shape())),
        };
        if steps == 0 || sequences == 0 {
            return Err(format!("its shape is {}: no steps or no sequences", array.describe_shape()));
        }
        for (slot, n, what) in [(&mut self.sequences, sequences, "S"), (&mut self.steps, steps, "T")] {
            match slot {
                Some((m, from)) if *m != n => {
                    return Err(format!(
                        "its shape is {} ({what} = {n}), but `{from}` has {what} = {m}",
                        array.describe_shape()
                    ));
                }
                Some(_) => {}
                None => *slot = Some((n, name.to_owned())),
            }
        }
        Ok(())
    }
}

/// The initial state of `side`: the array named after it, `[S, ...]` or `[...]` (with
/// `S = 1`), or zeros.
fn initial_state(
    spec: &ModelSpec,
    side: Side,
    sequences: usize,
    sizes: &Sizes,
    arrays: &mut BTreeMap<String, Array>,
) -> Result<Vec<f64>, String> {
    let decl = spec.side(side);
    let Some(array) = arrays.remove(&decl.name) else { return Ok(vec![0.0; sequences * decl.len()]) };
    let mut with_s = vec![sequences];
    with_s.extend(&decl.shape);
    let fits = array.shape == with_s || (sequences == 1 && array.shape == decl.shape);
    if !fits {
        let from =
            sizes.sequences.as_ref().map_or(String::new(), |(_, f)| format!(", S = {sequences} from `{f}`"));
        return Err(format!(
            "array `{}` (the initial state `{}`): its shape is {}, expected {}{from}; a state given at every step is named with --force {}=ARRAY",
            decl.name,
            decl.describe(),
            array.describe_shape(),
            shape_text(&with_s),
            decl.name
        ));
    }
    finite(&decl.name, &array)?;
    Ok(array.values)
}

/// An error naming the first NaN or infinity of `array`.
fn finite(name: &str, array: &Array) -> Result<(), String> {
    let Some(at) = array.values.iter().position(|x| !x.is_finite()) else { return Ok(()) };
    let mut index = Vec::with_capacity(array.shape.len());
    let mut rest = at;
    for &n in array.shape.iter().rev() {
        index.push(rest % n.max(1));
        rest /= n.max(1);
    }
    index.reverse();
    let index: Vec<String> = index.iter().map(usize::to_string).collect();
    Err(format!(
        "array `{name}` holds {} at [{}]; every value must be finite",
        array.values[at],
        index.join(", ")
    ))
}

impl Observed {
    /// The first sequence alone.
    pub fn first(&self) -> Observed {
        let take = |a: &Vec<f64>| a[..a.len() / self.sequences].to_vec();
        Observed {
            sequences: 1,
            steps: self.steps,
            inputs: self.inputs.iter().map(take).collect(),
            targets: self.targets.iter().map(take).collect(),
            initial: self.initial.iter().map(take).collect(),
            forced: self.forced.iter().map(|f| f.as_ref().map(take)).collect(),
            unused: Vec::new(),
        }
    }

    /// Steps `start..start + len` of every sequence, as a batch (no initial state).
    pub fn slice<'a>(&'a self, start: usize, len: usize) -> Batch<'a> {
        let cuts: Vec<(usize, usize)> = (0..self.sequences).map(|s| (s, start)).collect();
        let cut = |arrays: &'a [Vec<f64>]| -> Vec<Cow<'a, [f64]>> {
            arrays
                .iter()
                .map(|a| self.window(a, a.len() / (self.sequences * self.steps), &cuts, len))
                .collect()
        };
        Batch {
            steps: len,
            size: self.sequences,
            inputs: cut(&self.inputs),
            targets: cut(&self.targets),
            cotangents: Vec::new(),
            initial: None,
        }
    }

    /// Of one per-step array `a` (`[S, T, n]`), steps `start..start + len` of sequence
    /// `sequence` for each `(sequence, start)` of `cuts`, one after the other: `[cuts, len, n]`,
    /// borrowed when that is one stretch of `a`.
    pub fn window<'a>(&self, a: &'a [f64], n: usize, cuts: &[(usize, usize)], len: usize) -> Cow<'a, [f64]> {
        let at = |&(sequence, start): &(usize, usize)| (sequence * self.steps + start) * n;
        if let [one] = cuts {
            return Cow::Borrowed(&a[at(one)..at(one) + len * n]);
        }
        let mut out = Vec::with_capacity(cuts.len() * len * n);
        for c in cuts {
            out.extend_from_slice(&a[at(c)..at(c) + len * n]);
        }
        Cow::Owned(out)
    }
}
