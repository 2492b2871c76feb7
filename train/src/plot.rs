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
    let timed = |label: &str, v: &[f64]| Line {
        label: label.to_owned(),
        points: v.iter().enumerate().map(|(t, &v)| (t as f64 * dt, v)).collect(),
        stroke: Stroke::Solid,
    };
    let lines: Vec<Line> = states.iter().map(|s| timed(&s.label, &s.values)).collect();
    let h0 = energy.first().copied().unwrap_or(0.0);
    let scale = if h0 != 0.0 { h0.abs() } else { 1.0 };
    let change: Vec<f64> = energy.iter().map(|h| (h - h0) / scale).collect();
    let caption = format!("energy: (H - H_0) / |H_0|, H_0 = {h0:.6e}");
    let panels = [
        Panel { caption: "state".into(), x: "time".into(), lines, scientific: false },
        Panel { caption, x: "time".into(), lines: vec![timed("", &change)], scientific: true },
    ];
    draw(path, title, &panels)
}

/// A named line of `(x, y)` points.
pub struct Line {
    /// Legend text (none when empty).
    pub label: String,
    /// The points, in order.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub stroke: Stroke,
}

/// How a [`Line`] is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stroke {
    /// A solid line.
    Solid,
    /// Dashed, in the colour of the line before it (the second of a pair, such as data beside
    /// a model).
    Dashed,
    /// A dot at each point, not joined (a scatter plot).
    Dots,
}

/// One chart of a figure.
pub struct Panel {
    /// Its title.
    pub caption: String,
    /// What the horizontal axis is.
    pub x: String,
    /// Its lines.
    pub lines: Vec<Line>,
    /// Label the vertical axis as `1.0e-3` rather than `0.001`.
    pub scientific: bool,
}

/// Draws `panels` one above the other into a PNG at `path`.
pub fn draw(path: &Path, title: &str, panels: &[Panel]) -> Result<(), String> {
    fonts();
    let height = 60 + 420 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 28)).map_err(|e| e.to_string())?;
    for (area, panel) in root.split_evenly((panels.len().max(1), 1)).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), String> {
    let palette =
        [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK, &RGBColor(230, 140, 0), &RGBColor(120, 60, 160)];
    let range = |values: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = values
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        if !lo.is_finite() || !hi.is_finite() {
            (-1.0, 1.0)
        } else if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            (lo - 1e-6 * (1.0 + lo.abs()), hi + 1e-6 * (1.0 + hi.abs()))
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
    };
    let (x_lo, x_hi) = range(&mut panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let (lo, hi) = range(&mut panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(x_lo..x_hi, lo..hi)
        .map_err(|e| e.to_string())?;
    let scientific = |v: &f64| format!("{v:.1e}");
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x.as_str());
    if panel.scientific {
        mesh.y_label_formatter(&scientific);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    let mut colour = 0;
    for (i, line) in panel.lines.iter().enumerate() {
        if i > 0 && line.stroke != Stroke::Dashed {
            colour += 1;
        }
        let color = palette[colour % palette.len()];
        let points = line.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
        let series = match line.stroke {
            Stroke::Dashed => chart.draw_series(DashedLineSeries::new(points, 8, 6, color.stroke_width(2))),
            Stroke::Solid => chart.draw_series(LineSeries::new(points, color.stroke_width(2))),
            Stroke::Dots => chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled()))),
        };
        let series = series.map_err(|e| e.to_string())?;
        if !line.label.is_empty() {
            series
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
    }
    if panel.lines.iter().any(|l| !l.label.is_empty()) {
        // Where the lines end high (a rising curve), the legend goes below them.
        let ends: Vec<f64> = panel.lines.iter().filter_map(|l| l.points.last().map(|p| p.1)).collect();
        let high = ends.iter().sum::<f64>() / ends.len().max(1) as f64 > (lo + hi) / 2.0;
        let corner = if high { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight };
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(corner)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
