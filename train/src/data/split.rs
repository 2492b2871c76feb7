//! Stratified train/validation splits.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use super::Dataset;

/// A stratified split: from each class, `round(fraction · count)` cases (at most `count − 1`,
/// so every class keeps one training case; 0 if `count` is 1) go to the second set, chosen by a
/// ChaCha8 generator seeded with `seed`. A regression set is one stratum. Returns `(train, validation)`, each in the original
/// order. The same seed gives the same split. `fraction` is clamped to `[0, 1]` (NaN counts
/// as 0).
pub fn split(data: &Dataset, fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
    let mut by_class = vec![Vec::new(); data.classes.len()];
    for (i, &label) in data.labels.iter().enumerate() {
        by_class[label].push(i);
    }
    if data.is_regression() {
        by_class = vec![(0..data.len()).collect()];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut held_out = vec![false; data.len()];
    for members in &mut by_class {
        let take = ((fraction * members.len() as f64).round() as usize).min(members.len().saturating_sub(1));
        members.shuffle(&mut rng);
        for &i in &members[..take] {
            held_out[i] = true;
        }
    }
    let (validation, train): (Vec<usize>, Vec<usize>) = (0..data.len()).partition(|&i| held_out[i]);
    (data.subset(&train), data.subset(&validation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Series;

    fn data(labels: Vec<usize>) -> Dataset {
        Dataset {
            name: "x".into(),
            classes: vec!["a".into(), "b".into(), "c".into()],
            channels: 1,
            series: (0..labels.len())
                .map(|i| Series { channels: 1, steps: 1, values: vec![i as f64] })
                .collect(),
            labels,
            targets: Vec::new(),
        }
    }

    #[test]
    fn counts_per_class() {
        let d = data(vec![0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 0, 0]);
        let (train, val) = split(&d, 0.25, 7);
        // round(10 · 0.25) = 3, round(2 · 0.25) = 1, and the lone case of class c stays.
        assert_eq!(val.class_counts(), vec![3, 1, 0]);
        assert_eq!(train.class_counts(), vec![7, 1, 1]);
        let (train, val) = split(&d, 1.0, 7);
        assert_eq!((train.class_counts(), val.class_counts()), (vec![1, 1, 1], vec![9, 1, 0]));
        let (train, val) = split(&d, 0.0, 7);
        assert_eq!((train.len(), val.len()), (13, 0));
        assert_eq!(split(&d, 0.5, 3), split(&d, 0.5, 3));
    }

    #[test]
    fn regression_is_one_stratum() {
        let mut d = data(vec![]);
        d.classes.clear();
        d.series = (0..10).map(|i| Series { channels: 1, steps: 1, values: vec![i as f64] }).collect();
        d.targets = (0..10).map(|i| i as f64 / 2.0).collect();
        let (train, val) = split(&d, 0.3, 5);
        assert_eq!((train.len(), val.len(), train.labels.len()), (7, 3, 0));
        for set in [&train, &val] {
            for (s, &y) in set.series.iter().zip(&set.targets) {
                assert_eq!(s.values[0] / 2.0, y);
            }
        }
    }
}
