//! `compress --format html`: the compression lab's evaluation as one self-contained page
//! (like `report.html`): tokens saved against facts kept per strategy, the Pareto front of
//! the two drawn as a line, then the cost table (tokens, cache busting, the compressor's own
//! tokens, dollars at `--prices`, compressor latency). Drawn from the evaluation's JSON
//! document (`compress --format json`, docs/compression.md).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

use crate::charts::{self, FONT, builder};
use crate::html::{escape, page};
use crate::table::{Align, Table};

const INK: RGBColor = RGBColor(0x33, 0x66, 0x99);
const FRONT: RGBColor = RGBColor(0xd9, 0x73, 0x00);

/// The planted facts whose presence in the final context counts as "kept" (the mean of those
/// the corpus has): constraints, the head, middle and tail of tool outputs, decisions,
/// updates read as their latest value, and files.
const KEPT: [&str; 7] = [
    "constraint",
    "output_head",
    "output_middle",
    "output_tail",
    "decision",
    "update_correct",
    "files",
];

/// One row of the evaluation, as the chart and the table read it.
struct Row<'a> {
    name: String,
    row: &'a Value,
    /// Prompt tokens saved against the first row (the `none` baseline), in [0, 1].
    saved: f64,
    /// Mean share of the planted facts kept in the final context, in [0, 1].
    kept: Option<f64>,
}

/// The page of the evaluation document `doc`; `Err` names the field it lacks.
pub fn compress_html(doc: &Value) -> Result<String, String> {
    let rows = doc["rows"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| "`rows` is missing".to_owned())?;
    let baseline = rows[0]["cumulative_prompt_tokens"]
        .as_f64()
        .ok_or_else(|| "`rows[0].cumulative_prompt_tokens` is missing".to_owned())?
        .max(1.0);
    let rows: Vec<Row<'_>> = rows
        .iter()
        .map(|row| {
            let name = match row["sweep"].as_str() {
                Some(sweep) => format!("{} [{sweep}]", row["strategy"].as_str().unwrap_or("?")),
                None => row["strategy"].as_str().unwrap_or("?").to_owned(),
            };
            let cumulative = row["cumulative_prompt_tokens"].as_f64().unwrap_or(baseline);
            let kept: Vec<f64> = KEPT
                .iter()
                .filter_map(|k| row["retention_final"][k].as_f64())
                .collect();
            Row {
                name,
                row,
                saved: 1.0 - cumulative / baseline,
                kept: (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64),
            }
        })
        .collect();
    let corpus = &doc["corpus"];
    let mut body = format!(
        "<p>corpus: {} conversations, {} model calls, {} tokens ({}), {} planted facts; trigger {}</p>\n",
        corpus["conversations"],
        corpus["turns"],
        corpus["tokens"],
        escape(corpus["tokenizer"].as_str().unwrap_or("?")),
        corpus["facts"],
        escape(doc["settings"]["trigger"].as_str().unwrap_or("?")),
    );
    body.push_str("<h2>Tokens saved and facts kept</h2>\n");
    body.push_str(
        "<p>Each strategy's prompt tokens saved over every model call, against the first row, \
         and the mean share of the planted facts (constraints, tool outputs' head, middle and \
         tail, decisions, updates, files) still in the final context. The line joins the \
         strategies no other beats on both (the Pareto front).</p>\n",
    );
    body.push_str(&pareto(&rows));
    body.push_str("<h2>Cost</h2>\n");
    body.push_str(&cost_table(doc, &rows).html());
    Ok(page("compression lab", &body))
}

/// The strategies no other beats on both figures, by tokens saved.
fn front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, y)| {
            !points
                .iter()
                .any(|&(ox, oy)| ox >= x && oy >= y && (ox > x || oy > y))
        })
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    front.dedup();
    front
}

fn pareto(rows: &[Row<'_>]) -> String {
    let points: Vec<(f64, f64, &str)> = rows
        .iter()
        .filter_map(|r| Some((r.saved * 100.0, r.kept? * 100.0, r.name.as_str())))
        .collect();
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
    let front = front(&xy);
    let x_lo = xy.iter().map(|p| p.0).fold(0.0, f64::min);
    charts::svg("tokens saved and facts kept per strategy", |root| {
        let mut chart = builder(root, "tokens saved and facts kept", 60)
            .build_cartesian_2d(x_lo.min(0.0)..100f64, 0f64..105f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("prompt tokens saved (%)")
            .y_desc("facts kept (%)")
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                FRONT.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(points.iter().map(|(x, y, name)| {
                // Right of the point, or left of it in the right half, so the name stays in.
                let (anchor, dx) = if *x > 50.0 {
                    (HPos::Right, -7)
                } else {
                    (HPos::Left, 7)
                };
                let style = TextStyle::from((FONT, 12)).pos(Pos::new(anchor, VPos::Bottom));
                EmptyElement::at((*x, *y))
                    + Circle::new((0, 0), 5, INK.filled())
                    + Text::new((*name).to_owned(), (dx, -4), style)
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn cost_table(doc: &Value, rows: &[Row<'_>]) -> Table {
    let priced = doc["prices"]["name"].as_str();
    let cost_head = priced.map(|name| format!("cost $ ({name})"));
    let mut head: Vec<(&str, Align)> = vec![
        ("strategy", Align::Left),
        ("prompt tokens", Align::Right),
        ("saved", Align::Right),
        ("cache-busted", Align::Right),
        ("compressor tokens in/out", Align::Right),
        ("facts kept", Align::Right),
    ];
    if let Some(h) = &cost_head {
        head.push((h.as_str(), Align::Right));
    }
    let timing = doc["timing"].as_array();
    if timing.is_some() {
        head.push(("compressor p50/p99 µs", Align::Right));
    }
    let mut table = Table::new(&head);
    for (i, r) in rows.iter().enumerate() {
        let n = |key: &str| r.row[key].as_u64().unwrap_or(0);
        let mut cells = vec![
            r.name.clone(),
            n("cumulative_prompt_tokens").to_string(),
            format!("{:.1} %", r.saved * 100.0),
            n("cache_busted_tokens").to_string(),
            format!(
                "{}/{}",
                n("summarizer_tokens_in"),
                n("summarizer_tokens_out")
            ),
            r.kept
                .map_or_else(|| "-".to_owned(), |k| format!("{:.1} %", k * 100.0)),
        ];
        if priced.is_some() {
            cells.push(
                r.row["cost_usd"]["total"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |c| format!("{c:.4}")),
            );
        }
        if let Some(t) = timing.and_then(|t| t.get(i)) {
            cells.push(format!(
                "{:.1}/{:.1}",
                t["compressor_p50_us"].as_f64().unwrap_or(0.0),
                t["compressor_p99_us"].as_f64().unwrap_or(0.0)
            ));
        }
        table.row(cells);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_keeps_what_nothing_beats_on_both() {
        let points = [
            (0.0, 1.0),
            (50.0, 0.8),
            (40.0, 0.7),
            (80.0, 0.2),
            (80.0, 0.1),
        ];
        assert_eq!(front(&points), [(0.0, 1.0), (50.0, 0.8), (80.0, 0.2)]);
    }

    #[test]
    fn a_page_per_evaluation_with_a_point_and_a_row_per_strategy() {
        let doc = serde_json::json!({
            "corpus": {"conversations": 2, "turns": 10, "tokens": 1000, "tokenizer": "o200k", "facts": 4},
            "settings": {"trigger": "tokens=8000"},
            "prices": {"name": "gpt-4o-mini"},
            "rows": [
                {"strategy": "none", "cumulative_prompt_tokens": 1000, "retention_final": {"constraint": 1.0, "files": 1.0}, "cost_usd": {"total": 0.5}},
                {"strategy": "window", "cumulative_prompt_tokens": 400, "retention_final": {"constraint": 0.0, "files": 0.5}, "cost_usd": {"total": 0.2}},
                {"strategy": "<b>", "cumulative_prompt_tokens": 500, "retention_final": {"constraint": 1.0, "files": 0.5}, "cost_usd": {"total": 0.3}},
            ],
        });
        let page = compress_html(&doc).expect("a page");
        assert_eq!(page.matches("<circle").count(), 3);
        assert!(
            page.contains("<td>60.0 %</td>") || page.contains(">60.0 %<"),
            "saved by window"
        );
        assert!(page.contains("cost $ (gpt-4o-mini)"));
        assert!(!page.contains("<b>"), "names are escaped");
        assert!(!page.contains("http"));
        assert_eq!(
            compress_html(&serde_json::json!({})).unwrap_err(),
            "`rows` is missing"
        );
    }
}
