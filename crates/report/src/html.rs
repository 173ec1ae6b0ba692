//! `--format html`: `report.html`, one self-contained page that opens offline
//! (`docs/metrics.md`, "HTML report"): inline CSS, inline SVG charts ([`crate::charts`]), no
//! script, no font, no URL.
//!
//! The verdict and the targets come first, then the percentile curve of each latency metric,
//! where the slowest turns spent their time, memory per agent, errors by kind, breakers, the
//! rates and counters as tables, and the run over time from its interval log. Every text the page takes from the run (the scenario's
//! name, target notes, ...) is escaped.

use metrics::{BreakerState, CallClass, ErrorKind, RunSnapshot};

use crate::charts;
use crate::sections;
use crate::table::Table;
use crate::timeline::{CHARTED, Point, Timeline};

/// The page's style: plain, readable, printable.
const STYLE: &str = "body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}\
th,td{border:1px solid #ccc;padding:.2rem .5rem}\
td.num{text-align:right}\
.pass{color:#060}.fail{color:#a00}.note{color:#555}\
svg{display:block;max-width:100%;height:auto;margin:.5rem 0}";

/// Bins of the memory-per-agent histogram.
const MEMORY_BINS: u32 = 20;

/// The page's start, up to its `<h1>`: `fleetbench: {title}`.
fn head(title: &str) -> String {
    let name = escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>fleetbench: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>fleetbench: {name}</h1>\n"
    )
}

/// A whole page of the report's style around `body` (HTML), titled `fleetbench: {title}`.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "{}{body}<p class=\"note\">fleetbench {}</p>\n</body>\n</html>\n",
        head(title),
        env!("CARGO_PKG_VERSION")
    )
}

/// `text` safe in HTML text and in a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The content of `report.html`, without the run's time series (see [`html_with`]).
pub fn html(s: &RunSnapshot) -> String {
    html_with(s, None)
}

/// The content of `report.html`, with the charts over time of `timeline` (the run's interval
/// log, [`crate::Timeline::of`]) when there is one.
pub fn html_with(s: &RunSnapshot, timeline: Option<&Timeline>) -> String {
    let mut out = head(&s.scenario);
    let class = if sections::passed(s) { "pass" } else { "fail" };
    out.push_str(&format!(
        "<p class=\"verdict {class}\"><strong>{}</strong></p>\n",
        escape(&sections::verdict(s))
    ));
    if let Some(warning) = sections::saturation_warning(s) {
        out.push_str(&format!("<p class=\"fail\">{}</p>\n", escape(&warning)));
    }
    out.push_str(&format!("<p>{}</p>\n", escape(&sections::header(s))));

    section(&mut out, "Targets");
    out.push_str(&sections::targets(s).html());

    section(&mut out, "Latency");
    out.push_str(&or_none(sections::latency(s), "Nothing was recorded."));
    for (metric, h) in s.latency.iter().filter(|(_, h)| h.count() > 0) {
        out.push_str(&charts::percentile_curve(metric.as_str(), h));
    }

    section(&mut out, "Slowest turns");
    out.push_str(&format!("<p>{}</p>\n", escape(&sections::tail_headline(s))));
    let parts: Vec<(String, f64)> = metrics::PARTS
        .iter()
        .filter_map(|name| {
            let p = s.breakdown.parts.get(*name)?;
            (p.mean_ms > 0.0).then(|| ((*name).to_owned(), p.mean_ms))
        })
        .collect();
    if !parts.is_empty() {
        out.push_str(&charts::bars(
            "slowest turns: mean time per part",
            "ms",
            &parts,
        ));
        out.push_str(&sections::tail_parts(s).html());
    }

    section(&mut out, "Memory per agent");
    out.push_str(&format!("<p>{}</p>\n", escape(&sections::memory(s))));
    let peaks: Vec<f64> = s
        .agents
        .list
        .iter()
        .map(|a| a.peak_memory_bytes as f64)
        .collect();
    if !peaks.is_empty() {
        out.push_str(&charts::histogram(
            "peak memory per agent",
            "bytes",
            &peaks,
            MEMORY_BINS,
            &|x| crate::readable::bytes(x),
        ));
    }

    section(&mut out, "Errors");
    let errors = errors_by_kind(s);
    if errors.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(&charts::bars("failed calls by kind", "calls", &errors));
        out.push_str(&sections::errors(s).html());
    }

    let breakers = sections::breakers(s);
    if !breakers.is_empty() {
        section(&mut out, "Breakers");
        out.push_str(&breakers.html());
    }

    section(&mut out, "Rates and counters");
    out.push_str(&format!("<p>{}</p>\n", escape(&crate::rates::line(s))));
    out.push_str(&format!("<p>{}</p>\n", escape(&sections::goodput(s))));
    out.push_str(&sections::counters(s).html());

    section(&mut out, "Over time");
    out.push_str("<div id=\"time-series\">\n");
    match timeline.filter(|t| !t.points.is_empty()) {
        Some(t) => over_time(&mut out, t),
        None => out.push_str(
            "<p class=\"note\">No interval log beside this report: a run with --out writes \
             one (intervals.hlog, intervals.jsonl), and fleetbench report DIR draws it.</p>\n",
        ),
    }
    out.push_str("</div>\n");

    section(&mut out, "Process");
    out.push_str(&format!("<p>{}</p>\n", escape(&sections::process(s))));
    out.push_str(&format!(
        "<p class=\"note\">fleetbench {}</p>\n</body>\n</html>\n",
        escape(&s.fleetbench_version)
    ));
    out
}

/// A `<h2>` heading.
fn section(out: &mut String, title: &str) {
    out.push_str(&format!("<h2>{}</h2>\n", escape(title)));
}

/// `t` as HTML, or `none` in a paragraph when it has no row.
fn or_none(t: Table, none: &str) -> String {
    if t.is_empty() {
        format!("<p>{}</p>\n", escape(none))
    } else {
        t.html()
    }
}

/// The charts over time: latency percentiles of the charted metrics, agents alive,
/// throughput, the breakers' states and failed calls by kind.
fn over_time(out: &mut String, t: &Timeline) {
    let n: usize = t.points.len();
    out.push_str(&format!(
        "<p>{n} points of {} interval(s) of {} ms each.</p>\n",
        t.per_point, t.interval_ms
    ));
    // Each point at its end: what it measured is known then.
    let series = |f: &dyn Fn(&Point) -> Option<f64>| -> Vec<(f64, f64)> {
        t.points
            .iter()
            .filter_map(|p| f(p).map(|v| (p.end, v)))
            .collect()
    };
    for kind in CHARTED {
        if !t.points.iter().any(|p| p.latency.contains_key(&kind)) {
            continue;
        }
        let lines: Vec<(String, Vec<(f64, f64)>)> = [("p50", 0), ("p95", 1), ("p99", 2)]
            .into_iter()
            .map(|(name, i)| {
                let points = series(&|p: &Point| p.latency.get(&kind).map(|l| l[i]));
                (name.to_owned(), points)
            })
            .collect();
        out.push_str(&charts::lines(
            &format!("{} over time", kind.as_str()),
            "ms",
            &lines,
        ));
    }
    out.push_str(&charts::lines(
        "agents alive",
        "agents",
        &[(
            "alive".to_owned(),
            series(&|p: &Point| Some(p.alive as f64)),
        )],
    ));
    out.push_str(&charts::lines(
        "throughput",
        "per s",
        &[
            ("turns".to_owned(), series(&|p: &Point| Some(p.turns))),
            (
                "LLM calls".to_owned(),
                series(&|p: &Point| Some(p.llm_calls)),
            ),
            (
                "tool calls".to_owned(),
                series(&|p: &Point| Some(p.tool_calls)),
            ),
        ],
    ));
    if !t.breakers.is_empty() {
        let spans: Vec<(f64, f64, Vec<BreakerState>)> = t
            .points
            .iter()
            .map(|p| (p.start, p.end, p.breakers.clone()))
            .collect();
        out.push_str(&charts::states("breakers over time", &t.breakers, &spans));
    }
    let kinds: Vec<ErrorKind> = ErrorKind::ALL
        .into_iter()
        .filter(|k| t.points.iter().any(|p| p.errors.contains_key(k)))
        .collect();
    if kinds.is_empty() {
        out.push_str("<p>No failed call over the run.</p>\n");
    } else {
        let lines: Vec<(String, Vec<(f64, f64)>)> = kinds
            .iter()
            .map(|k| {
                let points = series(&|p: &Point| Some(p.errors.get(k).copied().unwrap_or(0.0)));
                (k.as_str().to_owned(), points)
            })
            .collect();
        out.push_str(&charts::lines(
            "failed calls by kind over time",
            "per s",
            &lines,
        ));
    }
}

/// Failed calls per error kind, all call classes together, kinds in their declared order.
fn errors_by_kind(s: &RunSnapshot) -> Vec<(String, f64)> {
    ErrorKind::ALL
        .iter()
        .filter_map(|kind| {
            let n: u64 = CallClass::ALL
                .iter()
                .filter_map(|c| s.errors.calls.get(c)?.get(kind))
                .sum();
            (n > 0).then(|| (kind.as_str().to_owned(), n as f64))
        })
        .collect()
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
