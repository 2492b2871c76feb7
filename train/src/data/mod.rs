//! Labelled time-series data sets (classification or regression): the sktime/UEA `.ts` loader ([`ts`]), NumPy's `.npz`
//! archives ([`npz`]), train/test pairs
//! ([`load_pair`]), per-channel normalization ([`Normalizer`]) and stratified splits ([`split`]).

mod normalize;
pub mod npz;
mod pair;
mod split;
pub mod ts;

use std::fmt;
use std::path::PathBuf;

pub use normalize::Normalizer;
pub use pair::load_pair;
pub use split::split;

/// One case: `steps` rows of `channels` values, row-major `[steps, channels]`; NaN marks a
/// missing value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Values per time step (the `.ts` file's dimensions).
    pub channels: usize,
    /// Number of time steps.
    pub steps: usize,
    /// `steps * channels` values; the value of channel `c` at step `t` is `values[t * channels + c]`.
    pub values: Vec<f64>,
}

impl Series {
    /// The values of step `t`, one per channel.
    pub fn step(&self, t: usize) -> &[f64] {
        &self.values[t * self.channels..(t + 1) * self.channels]
    }
}

/// A labelled set of series: a classification set (`classes` and `labels`) or a regression
/// set (`targets`; no classes, no labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The problem's name (`@problemName`, else the file name without `_TRAIN`/`_TEST`).
    pub name: String,
    /// The class names; a label is an index into this list. Empty for a regression set.
    pub classes: Vec<String>,
    /// Channels of every series.
    pub channels: usize,
    /// The cases.
    pub series: Vec<Series>,
    /// One label per case of a classification set: an index into `classes`.
    pub labels: Vec<usize>,
    /// One number per case of a regression set (`@targetLabel true`).
    pub targets: Vec<f64>,
}

impl Dataset {
    /// Number of cases.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether each case has a number to predict rather than a class.
    pub fn is_regression(&self) -> bool {
        self.classes.is_empty()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The longest series' number of steps (0 when empty).
    pub fn max_steps(&self) -> usize {
        self.series.iter().map(|s| s.steps).max().unwrap_or(0)
    }

    /// The shortest series' number of steps (0 when empty).
    pub fn min_steps(&self) -> usize {
        self.series.iter().map(|s| s.steps).min().unwrap_or(0)
    }

    /// The cases at `indices` (in that order, repeats allowed), with the same classes.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        fn pick<T: Copy>(all: &[T], indices: &[usize]) -> Vec<T> {
            if all.is_empty() { Vec::new() } else { indices.iter().map(|&i| all[i]).collect() }
        }
        Dataset {
            name: self.name.clone(),
            classes: self.classes.clone(),
            channels: self.channels,
            series: indices.iter().map(|&i| self.series[i].clone()).collect(),
            labels: pick(&self.labels, indices),
            targets: pick(&self.targets, indices),
        }
    }

    /// Number of cases of each class, indexed like `classes`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }
}

/// A malformed or unreadable data file. Display: `{path}:{line}: {message}`, or
/// `{path}: {message}` when there is no line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DataError {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// The 1-based line at fault, if the error is about one line.
    pub line: Option<usize>,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl DataError {
    /// An error about line `line` (1-based) of `path`.
    pub fn at(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> DataError {
        DataError { path: path.into(), line: Some(line), message: message.into() }
    }

    /// An error about `path` as a whole.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> DataError {
        DataError { path: path.into(), line: None, message: message.into() }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(steps: usize) -> Series {
        Series { channels: 2, steps, values: (0..2 * steps).map(|v| v as f64).collect() }
    }

    fn dataset() -> Dataset {
        Dataset {
            name: "x".into(),
            classes: vec!["a".into(), "b".into(), "c".into()],
            channels: 2,
            series: vec![series(3), series(5), series(1)],
            labels: vec![1, 0, 1],
            targets: Vec::new(),
        }
    }

    #[test]
    fn dataset_summaries() {
        let d = dataset();
        assert_eq!((d.len(), d.is_empty(), d.max_steps(), d.min_steps()), (3, false, 5, 1));
        assert_eq!(d.class_counts(), vec![1, 2, 0]);
        let s = d.subset(&[2, 0]);
        assert_eq!(s.labels, vec![1, 1]);
        assert_eq!(s.series, vec![series(1), series(3)]);
        assert_eq!(s.classes, d.classes);
        let e = d.subset(&[]);
        assert_eq!((e.len(), e.is_empty(), e.max_steps(), e.min_steps()), (0, true, 0, 0));
        assert_eq!(series(3).step(1), &[2.0, 3.0]);
    }

    #[test]
    fn error_display() {
        assert_eq!(DataError::at("a/b.ts", 17, "bad").to_string(), "a/b.ts:17: bad");
        assert_eq!(DataError::file("a/b.ts", "bad").to_string(), "a/b.ts: bad");
    }
}
