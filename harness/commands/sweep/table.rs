//! A sweep's steps for people (a table, a line per step on stderr) and for CI and charts
//! (JSON on stdout, `--format json`).

use std::fmt::Write;

use scenario::Scenario;
use serde_json::json;

use super::search::Range;
use super::vary::Variable;
use super::{Missed, Step};

/// `agent_response_p95 2.41 s >= 2 s`, … or `none`.
pub(crate) fn missed_list(missed: &[Missed]) -> String {
    if missed.is_empty() {
        return "none".to_owned();
    }
    missed
        .iter()
        .map(|m| {
            let measured = m
                .measured
                .map_or("nothing measured".to_owned(), |x| quantity(x, m.unit));
            format!(
                "{} (measured {measured}, limit {} {})",
                m.target,
                m.op,
                quantity(m.limit, m.unit)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn quantity(x: f64, unit: &str) -> String {
    match unit {
        "ms" => report::duration(std::time::Duration::from_secs_f64(x / 1000.0)),
        "ratio" => format!("{:.3} %", x * 100.0),
        "agents" => format!("{x} agents"),
        "bytes" => format!("{x} B"),
        other => format!("{x} {other}"),
    }
}

fn p95(step: &Step) -> String {
    step.p95_ms.map_or("-".to_owned(), |ms| {
        report::duration(std::time::Duration::from_secs_f64(ms / 1000.0))
    })
}

fn errors(step: &Step) -> String {
    step.error_rate
        .map_or("-".to_owned(), |e| format!("{:.3} %", e * 100.0))
}

fn bottleneck(step: &Step) -> String {
    step.bottleneck
        .as_ref()
        .map_or("-".to_owned(), |(name, share)| {
            format!("{name} {:.0} %", share * 100.0)
        })
}

fn verdict(step: &Step) -> &'static str {
    if step.passed { "pass" } else { "FAIL" }
}

/// One line on stderr as a step ends.
pub(crate) fn step_line(variable: Variable, step: &Step) -> String {
    format!(
        "{} {} {}: {}; p95 {}, errors {}, bottleneck {}; missed {}",
        step.phase.as_str(),
        variable.as_str(),
        variable.show(step.value),
        verdict(step),
        p95(step),
        errors(step),
        bottleneck(step),
        missed_list(&step.missed)
    )
}

/// The steps as a table, in the order run, and the answer.
pub(crate) fn table(
    variable: Variable,
    steps: &[Step],
    passing: f64,
    failing: Option<f64>,
) -> String {
    let head = [
        "step",
        "phase",
        variable.as_str(),
        "result",
        "p95 response",
        "errors",
        "bottleneck",
        "targets missed",
    ];
    let rows: Vec<[String; 8]> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let missed: Vec<&str> = s.missed.iter().map(|m| m.target.as_str()).collect();
            [
                (i + 1).to_string(),
                s.phase.as_str().to_owned(),
                variable.show(s.value),
                verdict(s).to_owned(),
                p95(s),
                errors(s),
                bottleneck(s),
                if missed.is_empty() {
                    "-".to_owned()
                } else {
                    missed.join(", ")
                },
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&head);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let _ = writeln!(out);
    let _ = match failing {
        Some(f) => writeln!(
            out,
            "largest passing {}: {} (the smallest failing: {})",
            variable.as_str(),
            variable.show(passing),
            variable.show(f)
        ),
        None => writeln!(
            out,
            "largest passing {}: {} (the upper end: the limit is above the range; raise it to find it)",
            variable.as_str(),
            variable.show(passing)
        ),
    };
    out
}

fn number(variable: Variable, x: f64) -> serde_json::Value {
    match variable {
        Variable::Agents => json!(x as u64),
        Variable::Rate => json!(x),
    }
}

/// The sweep as JSON: the range, every step in the order run, and the answer; the values a
/// chart of p95 or errors against the fleet size reads.
pub(crate) fn json(
    s: &Scenario,
    variable: Variable,
    range: Range,
    steps: &[Step],
    passing: f64,
    failing: Option<f64>,
) -> String {
    let steps: Vec<serde_json::Value> = steps
        .iter()
        .map(|step| {
            json!({
                "phase": step.phase.as_str(),
                "value": number(variable, step.value),
                "passed": step.passed,
                "p95_response_ms": step.p95_ms,
                "error_rate": step.error_rate,
                "bottleneck": step.bottleneck.as_ref().map(|b| &b.0),
                "bottleneck_share": step.bottleneck.as_ref().map(|b| b.1),
                "missed": step.missed.iter().map(|m| json!({
                    "target": m.target,
                    "measured": m.measured,
                    "op": m.op,
                    "limit": m.limit,
                    "unit": m.unit,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let value = json!({
        "scenario": s.name,
        "seed": s.seed,
        "clock": "virtual",
        "shards": s.fleet.shards,
        "variable": variable.as_str(),
        "from": number(variable, range.from),
        "to": number(variable, range.to),
        "resolution": number(variable, range.resolution),
        "steps": steps,
        "largest_passing": number(variable, passing),
        "smallest_failing": failing.map(|f| number(variable, f)),
        "limits": {
            "agent_response_p95_ms": s.targets.agent_response_p95.0.as_secs_f64() * 1000.0,
            "error_rate": s.targets.error_rate.0,
        },
    });
    serde_json::to_string_pretty(&value).expect("JSON values always serialize")
}
