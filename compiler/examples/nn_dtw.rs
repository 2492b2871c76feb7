//! The baseline every time-series classification user knows: 1-nearest-neighbour with
//! dynamic time warping (full window; multivariate series by DTW_D, the squared Euclidean
//! distance between steps), on a UEA/UCR problem's train/test pair, the series as the files
//! hold them (a missing value counts as 0).
//!
//! Run: `cargo run --release -p hsc --example nn_dtw -- DIR [DIR ...]`: one line per data set.

use hsc_train::data::{Series, load_pair};

/// The DTW distance between two series of the same channels (squared Euclidean steps).
fn dtw(a: &Series, b: &Series) -> f64 {
    let (n, m) = (a.steps, b.steps);
    let mut prev = vec![f64::INFINITY; m + 1];
    let mut row = vec![f64::INFINITY; m + 1];
    prev[0] = 0.0;
    for i in 1..=n {
        row[0] = f64::INFINITY;
        for j in 1..=m {
            let cost: f64 = a
                .step(i - 1)
                .iter()
                .zip(b.step(j - 1))
                .map(|(x, y)| zero_nan(x) - zero_nan(y))
                .map(|d| d * d)
                .sum();
            row[j] = cost + prev[j].min(row[j - 1]).min(prev[j - 1]);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[m]
}

fn zero_nan(x: &f64) -> f64 {
    if x.is_nan() { 0.0 } else { *x }
}

fn main() {
    for dir in std::env::args().skip(1) {
        let (train, test) = match load_pair(std::path::Path::new(&dir)) {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let right = test
            .series
            .iter()
            .zip(&test.labels)
            .filter(|&(s, &label)| {
                let nearest = train
                    .series
                    .iter()
                    .map(|t| dtw(s, t))
                    .enumerate()
                    .fold((0, f64::INFINITY), |best, (i, d)| if d < best.1 { (i, d) } else { best });
                train.labels[nearest.0] == label
            })
            .count();
        println!(
            "{}: 1-NN DTW test accuracy {:.1} % ({right} of {})",
            train.name,
            100.0 * right as f64 / test.len() as f64,
            test.len()
        );
    }
}
