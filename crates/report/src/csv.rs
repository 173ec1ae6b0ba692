//! `--format csv`: two tables to paste into a spreadsheet (`docs/metrics.md`, "CSV").
//!
//! - `summary.csv`: a row per latency metric (`kind` = `latency`: count and percentiles, ms),
//!   per headline figure (`figure`: goodput, the rates, the error rate) and per target
//!   (`target`: measured, op, limit, passed, note).
//! - `agents.csv`: a row per agent, by id: turns, errors, response p50/p95/max (ms), peak and
//!   final memory (bytes, by `agents.memory_method`), largest conversation, targets met.
//!
//! A header row first; quoting follows RFC 4180 (a field with a comma, a quote or a line
//! break is quoted, its quotes doubled); lines end in CRLF, like the lab's CSV. An empty cell
//! is a figure the row does not have, or nothing measured.

use metrics::figures::PERCENTILES;
use metrics::{RunSnapshot, Unit};

/// The columns of `summary.csv`.
const SUMMARY: [&str; 14] = [
    "kind", "name", "count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "value", "unit",
    "op", "limit", "passed", "note",
];

/// The columns of `agents.csv`.
const AGENTS: [&str; 10] = [
    "id",
    "turns",
    "errors",
    "response_p50_ms",
    "response_p95_ms",
    "response_max_ms",
    "peak_memory_bytes",
    "final_memory_bytes",
    "conversation_tokens",
    "met_all_targets",
];

/// The content of `summary.csv`.
pub fn summary_csv(s: &RunSnapshot) -> String {
    let mut out = line(SUMMARY.iter().map(|c| (*c).to_owned()));
    for (metric, h) in s.latency.iter().filter(|(_, h)| h.count() > 0) {
        let mut row = vec![
            "latency".to_owned(),
            metric.as_str().to_owned(),
            h.count().to_string(),
        ];
        row.extend(
            PERCENTILES
                .iter()
                .map(|p| (p.of(h).as_micros() as f64 / 1000.0).to_string()),
        );
        row.resize(SUMMARY.len(), String::new());
        out.push_str(&line(row));
    }
    let r = &s.rates;
    let figures = [
        (
            "goodput_turns_per_s",
            Some(s.goodput_turns_per_s),
            Unit::PerS,
        ),
        ("llm_calls_per_s", Some(r.llm_calls_per_s), Unit::PerS),
        ("tool_calls_per_s", Some(r.tool_calls_per_s), Unit::PerS),
        ("tokens_in_per_s", Some(r.tokens_in_per_s), Unit::PerS),
        ("tokens_out_per_s", Some(r.tokens_out_per_s), Unit::PerS),
        ("error_rate", s.error_rate, Unit::Ratio),
    ];
    for (name, value, unit) in figures {
        let mut row = vec!["figure".to_owned(), name.to_owned()];
        row.resize(8, String::new());
        row.push(number(value));
        row.push(unit.as_str().to_owned());
        row.resize(SUMMARY.len(), String::new());
        out.push_str(&line(row));
    }
    for v in &s.targets {
        let mut row = vec!["target".to_owned(), v.target.to_string()];
        row.resize(8, String::new());
        row.extend([
            number(v.measured),
            v.unit.as_str().to_owned(),
            v.op.to_string(),
            v.limit.to_string(),
            v.passed.to_string(),
            v.note.clone().unwrap_or_default(),
        ]);
        out.push_str(&line(row));
    }
    out
}

/// The content of `agents.csv`.
pub fn agents_csv(s: &RunSnapshot) -> String {
    let mut out = line(AGENTS.iter().map(|c| (*c).to_owned()));
    for a in &s.agents.list {
        out.push_str(&line([
            a.id.to_string(),
            a.turns.to_string(),
            a.errors.to_string(),
            a.response_p50_ms.to_string(),
            a.response_p95_ms.to_string(),
            a.response_max_ms.to_string(),
            a.peak_memory_bytes.to_string(),
            a.final_memory_bytes.to_string(),
            a.conversation_tokens.to_string(),
            a.met_all_targets.to_string(),
        ]));
    }
    out
}

/// A number, or an empty cell for none.
fn number(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `fields` as one CSV line, CRLF-terminated.
fn line(fields: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    csv_record(
        &mut out,
        fields
            .into_iter()
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    );
    out
}

/// Appends `fields` to `out` as one CSV line (RFC 4180: fields quoted when they need it, CRLF
/// at the end): the one CSV writer of fleetbench, the run's and the lab's.
pub fn csv_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote(f));
    }
    out.push_str("\r\n");
}

/// `field` quoted per RFC 4180 when it holds a comma, a quote or a line break.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a, b"), "\"a, b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn every_line_has_the_header_s_columns_and_ends_in_crlf() {
        let mut s = crate::test_support::stopped_by(metrics::StopReason::Duration);
        s.targets[0].note = Some("nothing measured, so \"pass\"".to_owned());
        s.agents.list.push(metrics::AgentReport {
            id: 4,
            turns: 3,
            response_p95_ms: 12.5,
            peak_memory_bytes: 2048,
            ..metrics::AgentReport::default()
        });
        let summary = summary_csv(&s);
        assert!(summary.starts_with("kind,name,count,p50_ms,"), "{summary}");
        assert!(summary.ends_with("\r\n"));
        assert_eq!(
            summary.matches("\r\n").count(),
            1 + 6 + s.targets.len(),
            "a header, six figures and the targets: {summary}"
        );
        assert!(summary.contains("figure,llm_calls_per_s,,,,,,,0,per_s,,,,\r\n"));
        assert!(summary.contains("\"nothing measured, so \"\"pass\"\"\""));
        let agents = agents_csv(&s);
        assert_eq!(
            agents,
            "id,turns,errors,response_p50_ms,response_p95_ms,response_max_ms,peak_memory_bytes,final_memory_bytes,conversation_tokens,met_all_targets\r\n\
             4,3,0,0,12.5,0,2048,0,0,false\r\n"
        );
    }
}
