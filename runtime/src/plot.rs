//! Pictures: PNG plots drawn with plotters (no system libraries; the font is built in).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// DejaVu Sans (free licence, see assets/README.md).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A named series over time.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// One value per time point.
    pub values: Vec<f64>,
}

/// Draws a trajectory: the state series on top, the relative energy change
/// `(H_t - H_0) / |H_0|` below, against time `t·dt`.
pub fn trajectory(
    path: &Path,
    title: &str,
    dt: f64,
    states: &[Series],
    energy: &[f64],
) -> Result<(), String> {
    fonts();
    let root = BitMapBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 28)).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(560);
    let n = states.first().map_or(0, |s| s.values.len()).max(energy.len());
    let t_max = (n.max(2) - 1) as f64 * dt;
    let palette =
        [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK, &RGBColor(230, 140, 0), &RGBColor(120, 60, 160)];
    let finite = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)))
    };
    let padded = |(lo, hi): (f64, f64)| {
        if !lo.is_finite() || !hi.is_finite() {
            (-1.0, 1.0)
        } else if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            (lo - 1e-6 * (1.0 + lo.abs()), hi + 1e-6 * (1.0 + hi.abs()))
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
    };
    let all: Vec<f64> = states.iter().flat_map(|s| s.values.iter().copied()).collect();
    let (lo, hi) = padded(finite(&all));
    let mut chart = ChartBuilder::on(&top)
        .caption("state", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..t_max, lo..hi)
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc("time").draw().map_err(|e| e.to_string())?;
    for (i, s) in states.iter().enumerate() {
        let color = palette[i % palette.len()];
        let points = s.values.iter().enumerate().map(|(t, &v)| (t as f64 * dt, v));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    let h0 = energy.first().copied().unwrap_or(0.0);
    let scale = if h0 != 0.0 { h0.abs() } else { 1.0 };
    let change: Vec<f64> = energy.iter().map(|h| (h - h0) / scale).collect();
    let (lo, hi) = padded(finite(&change));
    let caption = format!("energy: (H - H_0) / |H_0|, H_0 = {h0:.6e}");
    let mut chart = ChartBuilder::on(&bottom)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..t_max, lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("time")
        .y_label_formatter(&|v| format!("{v:.1e}"))
        .draw()
        .map_err(|e| e.to_string())?;
    let points = change.iter().enumerate().map(|(t, &v)| (t as f64 * dt, v));
    chart.draw_series(LineSeries::new(points, BLACK.stroke_width(2))).map_err(|e| e.to_string())?;
    root.present().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
