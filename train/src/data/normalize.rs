//! Per-channel standardization.

use super::Dataset;

/// Per-channel mean and standard deviation over every non-missing value of a data set (the
/// training set).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Mean of each channel (0 for a channel with no values).
    pub mean: Vec<f64>,
    /// Population standard deviation of each channel (1 where it is below 1e-12 or there are
    /// no values).
    pub std: Vec<f64>,
}

impl Normalizer {
    /// Measures `data`'s channels.
    pub fn fit(data: &Dataset) -> Normalizer {
        let c = data.channels;
        let values =
            || data.series.iter().flat_map(|s| s.values.iter().enumerate().map(move |(i, &v)| (i % c, v)));
        let (mut sum, mut count) = (vec![0.0; c], vec![0usize; c]);
        for (ch, v) in values().filter(|(_, v)| !v.is_nan()) {
            sum[ch] += v;
            count[ch] += 1;
        }
        let mean: Vec<f64> =
            sum.iter().zip(&count).map(|(&s, &n)| if n == 0 { 0.0 } else { s / n as f64 }).collect();
        let mut squares = vec![0.0; c];
        for (ch, v) in values().filter(|(_, v)| !v.is_nan()) {
            squares[ch] += (v - mean[ch]) * (v - mean[ch]);
        }
        let std = squares
            .iter()
            .zip(&count)
            .map(|(&s, &n)| if n == 0 { 1.0 } else { (s / n as f64).sqrt() })
            .map(|s| if s < 1e-12 { 1.0 } else { s })
            .collect();
        Normalizer { mean, std }
    }

    /// Replaces each value `x` of `data` by `(x - mean) / std` of its channel; a missing value
    /// becomes 0.
    ///
    /// # Panics
    /// If `data` has a different number of channels than the set this was fitted on.
    pub fn apply(&self, data: &mut Dataset) {
        let c = self.mean.len();
        assert_eq!(data.channels, c, "normalizer fitted on {c} channels, data has {}", data.channels);
        for series in &mut data.series {
            for (i, v) in series.values.iter_mut().enumerate() {
                *v = if v.is_nan() { 0.0 } else { (*v - self.mean[i % c]) / self.std[i % c] };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Series;

    #[test]
    fn standardizes_each_channel() {
        let nan = f64::NAN;
        let mut data = Dataset {
            name: "x".into(),
            classes: vec!["a".into()],
            channels: 3,
            series: vec![
                Series { channels: 3, steps: 2, values: vec![1.0, 5.0, nan, 3.0, 5.0, nan] },
                Series { channels: 3, steps: 1, values: vec![nan, 5.0, nan] },
            ],
            labels: vec![0, 0],
            targets: Vec::new(),
        };
        let norm = Normalizer::fit(&data);
        assert_eq!(norm, Normalizer { mean: vec![2.0, 5.0, 0.0], std: vec![1.0, 1.0, 1.0] });
        norm.apply(&mut data);
        assert_eq!(data.series[0].values, vec![-1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(data.series[1].values, vec![0.0, 0.0, 0.0]);
    }
}
