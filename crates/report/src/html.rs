//! `--format html`: `report.html`, one self-contained page that opens offline
//! (`docs/metrics.md`, "HTML report"): inline CSS, inline SVG charts ([`crate::charts`]), no
//! script, no font, no URL.
//!
//! The verdict and the targets come first, then the percentile curve of each latency metric,
//! where the slowest turns spent their time, memory per agent, errors by kind, breakers, and
//! the rates and counters as tables. Every text the page takes from the run (the scenario's
//! name, target notes, ...) is escaped.

use metrics::{CallClass, ErrorKind, RunSnapshot};

use crate::charts;
use crate::sections;
use crate::table::Table;

/// The page's style: plain, readable, printable.
const STYLE: &str = "body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}\
th,td{border:1px solid #ccc;padding:.2rem .5rem}\
td.num{text-align:right}\
.pass{color:#060}.fail{color:#a00}.note{color:#555}\
svg{display:block;max-width:100%;height:auto;margin:.5rem 0}";

/// Bins of the memory-per-agent histogram.
const MEMORY_BINS: u32 = 20;

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

/// The content of `report.html`.
pub fn html(s: &RunSnapshot) -> String {
    let name = escape(&s.scenario);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>fleetbench: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>fleetbench: {name}</h1>\n"
    );
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
    // Issue 17, "Time series": the run's intervals are on disk (`interval_log`); drawing them
    // here is the next step.
    out.push_str(
        "<p class=\"note\" id=\"time-series\">Not drawn yet: latency percentiles over time, \
         agents alive and throughput over time, the breaker state timeline and errors over \
         time. The run's intervals are in intervals.hlog and intervals.jsonl beside this \
         page.</p>\n",
    );

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
