//! `sweep --out DIR`: `sweep.html`, the capacity search as one self-contained page (like
//! `report.html`): the answer first, then the 95th-percentile response and the error rate of
//! each step against the varied setting (passing steps green, failing red, the target as a
//! dashed line), then the steps as a table. Drawn from the sweep's JSON document (`sweep.json`,
//! docs/capacity.md), so `fleetbench report DIR` redraws it.

use plotters::prelude::*;
use serde_json::Value;

use crate::charts::{self, FONT, builder};
use crate::html::{escape, page};
use crate::table::{Align, Table};

/// Green for a step that passed, red for one that failed.
const PASS: RGBColor = RGBColor(0x2e, 0x8b, 0x57);
const FAIL: RGBColor = RGBColor(0xb2, 0x22, 0x22);

/// The page of the sweep document `doc`; `Err` names the field it lacks.
pub fn sweep_html(doc: &Value) -> Result<String, String> {
    let text = |key: &str| {
        doc[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("`{key}` is missing"))
    };
    let scenario = text("scenario")?;
    let variable = text("variable")?;
    let steps = doc["steps"]
        .as_array()
        .ok_or_else(|| "`steps` is missing".to_owned())?;
    let value = |step: &Value| step["value"].as_f64().unwrap_or(0.0);
    let mut body = String::new();
    let answer = match (
        doc["largest_passing"].as_f64(),
        doc["smallest_failing"].as_f64(),
    ) {
        (Some(p), Some(f)) => format!(
            "{variable} = {p} is the largest that meets every target (the next step up, {f}, missed one)."
        ),
        (Some(p), None) => {
            format!("Every step passed: the limit lies above the range; {p} {variable} passed.")
        }
        _ => "No answer: the lower end of the range missed a target.".to_owned(),
    };
    body.push_str(&format!(
        "<p class=\"verdict\"><strong>{}</strong></p>\n<p>seed {}, virtual clock, {} shard(s), {variable} from {} to {}, resolution {}</p>\n",
        escape(&answer),
        doc["seed"],
        doc["shards"],
        doc["from"],
        doc["to"],
        doc["resolution"],
    ));
    body.push_str("<h2>Steps</h2>\n");
    let limits = &doc["limits"];
    let points = |field: &str, scale: f64| -> Vec<(f64, f64, bool)> {
        steps
            .iter()
            .filter_map(|s| {
                let y = s[field].as_f64()? * scale;
                Some((value(s), y, s["passed"].as_bool().unwrap_or(false)))
            })
            .collect()
    };
    body.push_str(&scatter(
        "p95 response by step",
        &variable,
        "ms",
        &points("p95_response_ms", 1.0),
        limits["agent_response_p95_ms"].as_f64(),
    ));
    body.push_str(&scatter(
        "error rate by step",
        &variable,
        "%",
        &points("error_rate", 100.0),
        limits["error_rate"].as_f64().map(|r| r * 100.0),
    ));
    let mut table = Table::new(&[
        ("step", Align::Left),
        (variable.as_str(), Align::Right),
        ("verdict", Align::Left),
        ("p95 ms", Align::Right),
        ("errors %", Align::Right),
        ("bottleneck", Align::Left),
        ("missed", Align::Left),
    ]);
    for s in steps {
        let missed: Vec<String> = s["missed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["target"].as_str().map(str::to_owned))
            .collect();
        table.row(vec![
            s["phase"].as_str().unwrap_or_default().to_owned(),
            s["value"].to_string(),
            if s["passed"].as_bool().unwrap_or(false) {
                "pass".to_owned()
            } else {
                "FAIL".to_owned()
            },
            s["p95_response_ms"]
                .as_f64()
                .map_or_else(String::new, |v| format!("{v:.1}")),
            s["error_rate"]
                .as_f64()
                .map_or_else(String::new, |v| format!("{:.3}", v * 100.0)),
            s["bottleneck"].as_str().unwrap_or_default().to_owned(),
            missed.join(", "),
        ]);
    }
    body.push_str(&table.html());
    Ok(page(&format!("sweep: {scenario}"), &body))
}

/// The steps as points (x the varied value, y in `unit`), green when they passed, red when
/// not, and the target's `limit` as a dashed line.
fn scatter(
    title: &str,
    x_desc: &str,
    unit: &str,
    points: &[(f64, f64, bool)],
    limit: Option<f64>,
) -> String {
    let x_top = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1.0) * 1.05;
    let y_top = points
        .iter()
        .map(|p| p.1)
        .chain(limit)
        .fold(0.0, f64::max)
        .max(0.001)
        * 1.1;
    charts::svg(title, |root| {
        let mut chart = builder(root, title, 60)
            .build_cartesian_2d(0f64..x_top, 0f64..y_top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(unit)
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(limit) = limit {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, limit), (x_top, limit)],
                    6,
                    4,
                    FAIL.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(points.iter().map(|(x, y, passed)| {
                Circle::new((*x, *y), 5, if *passed { PASS } else { FAIL }.filled())
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_page_draws_every_step_and_its_answer() {
        let doc: Value = serde_json::from_str(include_str!("../../../docs/capacity-default.json"))
            .expect("the documented sweep is JSON");
        let page = sweep_html(&doc).expect("a page");
        assert!(
            page.contains("agents = 3250 is the largest that meets every target"),
            "{page:.400}"
        );
        assert!(page.contains("aria-label=\"p95 response by step\""));
        assert!(page.contains("aria-label=\"error rate by step\""));
        let steps = doc["steps"].as_array().unwrap().len();
        assert_eq!(page.matches("<circle").count(), 2 * steps);
        assert!(!page.contains("http"), "nothing fetched");
        assert_eq!(
            sweep_html(&serde_json::json!({"variable": "agents"})).unwrap_err(),
            "`scenario` is missing"
        );
    }
}
