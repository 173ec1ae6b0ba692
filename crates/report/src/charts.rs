//! The HTML report's charts, drawn with plotters' SVG backend into strings that the page
//! inlines: a latency metric's percentile curve, labelled bars, a histogram of values, lines
//! over the run's time and a timeline of states.
//!
//! Text stays `<text>` with a generic font family (nothing is loaded); the SVG namespace
//! attribute is dropped, as an `<svg>` inside HTML needs none, so the page holds no URL.

use plotters::coord::Shift;
use plotters::prelude::*;

use metrics::LatencyHistogram;

/// Width and height of every chart, in px.
const SIZE: (u32, u32) = (720, 320);
/// The generic font family of every label.
pub(crate) const FONT: &str = "sans-serif";
/// The fill of bars and the stroke of lines.
const INK: RGBColor = RGBColor(0x33, 0x66, 0x99);
/// The highest point of a percentile curve, in nines: 99.999.
const MAX_NINES: f64 = 5.0;
/// Points drawn per nine of a percentile curve.
const POINTS_PER_NINE: u32 = 20;

/// A drawing that failed (plotters' error, as text for the page).
pub(crate) type Drawn = Result<(), String>;

/// Draws `draw` on a fresh canvas and returns the `<svg>` element, or a `<p>` saying why
/// there is no chart.
pub(crate) fn svg(
    label: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> String {
    let mut buf = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match drawn {
        Ok(()) => buf
            .replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1)
            .replacen(
                "<svg ",
                &format!(
                    r#"<svg role="img" aria-label="{}" "#,
                    crate::html::escape(label)
                ),
                1,
            ),
        Err(e) => format!(
            "<p class=\"note\">The chart could not be drawn: {}</p>\n",
            crate::html::escape(&e)
        ),
    }
}

/// A chart on `root` with the report's caption, margin and label areas (`y_area` px for the
/// y labels: 60 for numbers, 140 for names).
pub(crate) fn builder<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: impl AsRef<str>,
    y_area: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut chart = ChartBuilder::on(root);
    chart
        .caption(caption, (FONT, 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(y_area);
    chart
}

/// The percentile `q` at `nines` on the "nines" scale: 0 is p0, 1 is p90, 2 is p99.
fn quantile_at(nines: f64) -> f64 {
    1.0 - 10f64.powf(-nines)
}

/// The label of a point on the "nines" scale, as a percentile (`99.9`).
fn nines_label(nines: &f64) -> String {
    let p = quantile_at(*nines) * 100.0;
    let text = format!("{p:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The percentile curve of `h` (`metric` names it): x on the "nines" scale up to the
/// percentile its count can resolve (at most 99.999), y in ms.
pub(crate) fn percentile_curve(metric: &str, h: &LatencyHistogram) -> String {
    let top = (h.count().max(10) as f64).log10().clamp(1.0, MAX_NINES);
    let steps = (top * f64::from(POINTS_PER_NINE)).ceil() as u32;
    let points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = top * f64::from(i) / f64::from(steps);
            (x, h.quantile(quantile_at(x)).as_micros() as f64 / 1000.0)
        })
        .collect();
    let y_top = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.05;
    let label = format!("percentile curve of {metric}");
    svg(&label, |root| {
        let mut chart = builder(root, format!("{metric}: latency by percentile"), 60)
            .build_cartesian_2d(0f64..top, 0f64..y_top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .x_labels(top as usize + 1)
            .x_label_formatter(&nines_label)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(points, INK.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Horizontal bars, one per `(name, value)`, in the order given, the x axis in `unit`.
pub(crate) fn bars(title: &str, unit: &str, items: &[(String, f64)]) -> String {
    let n = items.len().max(1) as u32;
    let x_top = items.iter().map(|i| i.1).fold(0.0, f64::max).max(0.001) * 1.05;
    svg(title, |root| {
        let mut chart = builder(root, title, 140)
            .build_cartesian_2d(0f64..x_top, (0u32..n).into_segmented())
            .map_err(|e| e.to_string())?;
        let name = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => items
                .get(*i as usize)
                .map_or_else(String::new, |i| i.0.clone()),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(unit)
            .y_labels(n as usize)
            .y_label_formatter(&name)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(items.iter().zip(0u32..).map(|((_, v), i)| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    INK.filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// A histogram of `values` in `bins` equal bins from their least to their largest, the
/// x axis labelled by `label` and described as `unit`, the y axis counting them.
pub(crate) fn histogram(
    title: &str,
    unit: &str,
    values: &[f64],
    bins: u32,
    label: &dyn Fn(f64) -> String,
) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        let lo = if lo.is_finite() { lo } else { 0.0 };
        (lo, lo + 1.0)
    };
    let width = (hi - lo) / f64::from(bins);
    let mut counts = vec![0u64; bins as usize];
    for v in values {
        let bin = (((v - lo) / width) as usize).min(bins as usize - 1);
        counts[bin] += 1;
    }
    let y_top = counts.iter().copied().max().unwrap_or(0).max(1) + 1;
    svg(title, |root| {
        let mut chart = builder(root, title, 60)
            .build_cartesian_2d(lo..hi, 0u64..y_top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(unit)
            .y_desc("agents")
            .x_labels(6)
            .x_label_formatter(&|x: &f64| label(*x))
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(counts.iter().zip(0u32..).map(|(c, i)| {
                let x0 = lo + width * f64::from(i);
                let mut bar = Rectangle::new([(x0, 0), (x0 + width, *c)], INK.filled());
                bar.set_margin(0, 0, 1, 1);
                bar
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Line colours, in the order of the series.
const PALETTE: [RGBColor; 6] = [
    INK,
    RGBColor(0xd9, 0x73, 0x00),
    RGBColor(0x2e, 0x8b, 0x57),
    RGBColor(0xb2, 0x22, 0x22),
    RGBColor(0x6a, 0x3d, 0x9a),
    RGBColor(0x55, 0x55, 0x55),
];

/// A line per `(name, points)` over the run's time (x in s from the start, y in `unit`),
/// with a legend.
pub(crate) fn lines(title: &str, unit: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let points = || series.iter().flat_map(|(_, p)| p.iter());
    let x_top = points().map(|p| p.0).fold(0.0, f64::max).max(0.001);
    let y_top = points().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.05;
    svg(title, |root| {
        let mut chart = builder(root, title, 60)
            .build_cartesian_2d(0f64..x_top, 0f64..y_top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("s")
            .y_desc(unit)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        for ((name, points), color) in series.iter().zip(PALETTE.iter().cycle()) {
            let color = *color;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// The colour of a breaker state: green closed, amber half-open, red open.
fn state_color(state: metrics::BreakerState) -> RGBColor {
    match state {
        metrics::BreakerState::Closed => RGBColor(0x2e, 0x8b, 0x57),
        metrics::BreakerState::HalfOpen => RGBColor(0xe6, 0xa1, 0x00),
        metrics::BreakerState::Open => RGBColor(0xb2, 0x22, 0x22),
    }
}

/// A row per `rows` name, coloured along the run's time by its state in each
/// `(start s, end s, states)` span (a state per row): green closed, amber half-open, red open.
pub(crate) fn states(
    title: &str,
    rows: &[String],
    spans: &[(f64, f64, Vec<metrics::BreakerState>)],
) -> String {
    let n = u32::try_from(rows.len()).unwrap_or(u32::MAX).max(1);
    let x_top = spans.iter().map(|s| s.1).fold(0.0, f64::max).max(0.001);
    svg(title, |root| {
        let mut chart = builder(root, title, 140)
            .build_cartesian_2d(0f64..x_top, (0u32..n).into_segmented())
            .map_err(|e| e.to_string())?;
        let name = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => rows.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("s (green closed, amber half-open, red open)")
            .y_labels(n as usize)
            .y_label_formatter(&name)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(spans.iter().flat_map(|(start, end, states)| {
                states.iter().zip(0u32..).map(move |(state, i)| {
                    let mut bar = Rectangle::new(
                        [
                            (*start, SegmentValue::Exact(i)),
                            (*end, SegmentValue::Exact(i + 1)),
                        ],
                        state_color(*state).filled(),
                    );
                    bar.set_margin(4, 4, 0, 0);
                    bar
                })
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_nines_scale() {
        assert_eq!(nines_label(&0.0), "0");
        assert_eq!(nines_label(&1.0), "90");
        assert_eq!(nines_label(&2.0), "99");
        assert_eq!(nines_label(&3.0), "99.9");
    }

    #[test]
    fn charts_are_inline_svg_without_a_namespace_url() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=200 {
            h.record(Duration::from_millis(ms));
        }
        let curve = percentile_curve("response", &h);
        let bars = bars("errors", "calls", &[("timeout".to_owned(), 3.0)]);
        let hist = histogram("memory", "bytes", &[1.0, 2.0, 9.0], 4, &|x| x.to_string());
        let lines = lines(
            "p95",
            "ms",
            &[("a".to_owned(), vec![(0.0, 1.0), (1.0, 3.0)])],
        );
        let states = states(
            "breakers",
            &["llm:a".to_owned()],
            &[(0.0, 1.0, vec![metrics::BreakerState::Open])],
        );
        for chart in [curve, bars, hist, lines, states] {
            assert!(chart.starts_with("<svg role=\"img\""), "{chart:.80}");
            assert!(chart.contains("<text"), "labels are text");
            assert!(!chart.contains("http"), "no URL: {chart:.200}");
        }
    }

    #[test]
    fn a_histogram_of_one_value_or_none_still_draws() {
        for values in [&[][..], &[5.0][..]] {
            let svg = histogram("m", "bytes", values, 4, &|x| x.to_string());
            assert!(svg.starts_with("<svg"), "{svg:.80}");
        }
    }
}
