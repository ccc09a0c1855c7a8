//! The report's charts: lines through measured points, as SVG.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// One line: its legend and its points (x, y).
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A chart's title and axes; an axis is logarithmic when its `log_` flag
/// is set.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    pub log_x: bool,
    pub log_y: bool,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

impl Chart<'_> {
    /// Draw `series` into the SVG file `path`: their points that the axes
    /// can show (finite; positive on a logarithmic axis).
    pub fn draw(&self, path: &Path, series: &[Series]) {
        let shown = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
        let series: Vec<Series> = series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: (s.points.iter().copied())
                    .filter(|&(x, y)| shown(x, self.log_x) && shown(y, self.log_y))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        let series: Vec<&Series> = series.iter().collect();
        let xs = span(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
            self.log_x,
        );
        let ys = span(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            self.log_y,
        );
        let drawn = match (self.log_x, self.log_y) {
            (true, true) => self.axes(path, &series, xs.log_scale(), ys.log_scale()),
            (true, false) => self.axes(path, &series, xs.log_scale(), ys),
            (false, true) => self.axes(path, &series, xs, ys.log_scale()),
            (false, false) => self.axes(path, &series, xs, ys),
        };
        if let Err(e) = drawn {
            panic!("{}: {e}", path.display());
        }
    }

    fn axes<X, Y>(
        &self,
        path: &Path,
        series: &[&Series],
        x: X,
        y: Y,
    ) -> Result<(), Box<dyn std::error::Error>>
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let root = SVGBackend::new(path, (720, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 20))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc(self.x)
            .y_desc(self.y)
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .draw()?;
        for (s, color) in series.iter().zip(COLORS.iter().cycle()) {
            let color = *color;
            let mut points = s.points.clone();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

/// The range the values span, widened a little (by a factor on a
/// logarithmic axis), never empty.
fn span(values: impl Iterator<Item = f64>, log: bool) -> Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return if log { 1.0..10.0 } else { 0.0..1.0 };
    }
    if log {
        let (lo, hi) = (lo / 1.5, hi * 1.5);
        // A power of ten inside, so that the axis has a labelled tick;
        // else whole decades.
        if lo.log10().ceil() <= hi.log10().floor() {
            lo..hi
        } else {
            10f64.powf(lo.log10().floor())..10f64.powf(hi.log10().ceil())
        }
    } else {
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
        lo - pad..hi + pad
    }
}

/// A tick label: 1.5M, 20k, 0.85, 0.003.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}
