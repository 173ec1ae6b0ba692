//! A comparison as people and programs read it: a fixed-width table for a terminal, Markdown
//! for a CI job summary, JSON for tools. Each lists every figure (base, new, change, class),
//! then the verdict and the notes.

use serde_json::json;

use super::{Class, Comparison, Quantity, Row, Trend};
use crate::readable;
use crate::table::{Align, Table};

/// The comparison as a plain-text table with a header and the verdict.
pub fn table(c: &Comparison) -> String {
    let mut out = header(c);
    out.push('\n');
    out.push_str(&rows(c).plain("  ", true));
    out.push('\n');
    out.push_str(&verdict(c));
    out.push('\n');
    for line in extras(c) {
        out.push_str(&format!("note: {line}\n"));
    }
    out
}

/// The comparison as GitHub-flavoured Markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "## fleetbench compare: scenario `{}`, {} clock\n\n",
        c.scenario, c.clock
    );
    out.push_str(&format!("{}\n\n", sides_and_thresholds(c)));
    out.push_str(&rows(c).markdown());
    out.push('\n');
    out.push_str(&format!("**{}**\n", verdict(c)));
    let extras = extras(c);
    if !extras.is_empty() {
        out.push('\n');
        for line in extras {
            out.push_str(&format!("> note: {}\n", crate::table::cell(&line)));
        }
    }
    out
}

/// The comparison as JSON: the inputs, the settings, the verdict and one object per figure.
pub fn json(c: &Comparison) -> String {
    let metrics: Vec<serde_json::Value> = c
        .rows
        .iter()
        .map(|r| {
            json!({
                "metric": r.metric,
                "better": r.better.as_str(),
                "base": r.base,
                "new": r.new,
                "base_min": r.base_range.0,
                "base_max": r.base_range.1,
                "change_pct": r.change_pct,
                "class": r.class.as_str(),
                "trend": r.trend.as_str(),
                "within_base_range": r.within_base_range,
                "fails": r.is_regression() && r.class >= c.options.fail_on,
            })
        })
        .collect();
    let t = c.options.thresholds;
    let doc = json!({
        "scenario": c.scenario,
        "clock": c.clock,
        "base": c.base,
        "new": c.new,
        "thresholds": {"minor": t.minor, "warning": t.warning, "critical": t.critical},
        "fail_on": c.options.fail_on.as_str(),
        "include_process": c.options.include_process,
        "failed": c.failed(),
        "metrics": metrics,
        "only_in_base": c.only_in_base,
        "only_in_new": c.only_in_new,
        "notes": c.notes,
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("a JSON value always serializes");
    out.push('\n');
    out
}

fn header(c: &Comparison) -> String {
    format!(
        "compare: scenario `{}`, {} clock\n{}\n",
        c.scenario,
        c.clock,
        sides_and_thresholds(c)
    )
}

fn sides_and_thresholds(c: &Comparison) -> String {
    let side = |files: &[String]| match files {
        [one] => one.clone(),
        many => format!("median of {} runs ({})", many.len(), many.join(", ")),
    };
    let t = c.options.thresholds;
    format!(
        "base: {}\nnew:  {}\nclasses: noise < {} %, minor < {} %, warning <= {} %, critical above; fails on a {} regression{}",
        side(&c.base),
        side(&c.new),
        t.minor,
        t.warning,
        t.critical,
        match c.options.fail_on {
            Class::Critical => "critical".to_owned(),
            class => format!("{class} or worse"),
        },
        if c.options.include_process {
            " (process figures included)"
        } else {
            ""
        }
    )
}

fn rows(c: &Comparison) -> Table {
    let mut t = Table::new(&[
        ("metric", Align::Left),
        ("base", Align::Right),
        ("new", Align::Right),
        ("change", Align::Right),
        ("class", Align::Left),
    ]);
    // Figures that are 0 on both sides (waits that never happened, timers the virtual clock
    // does not advance) are counted in a note, not listed: they would bury the rest.
    for r in c.rows.iter().filter(|r| !zero_on_both_sides(r)) {
        t.row(vec![
            r.metric.clone(),
            value(r.base, r.quantity),
            value(r.new, r.quantity),
            change(r),
            class(r, c.options.fail_on),
        ]);
    }
    t
}

/// A figure in its unit.
fn value(x: f64, q: Quantity) -> String {
    match q {
        Quantity::Ms => readable::ms(x),
        Quantity::Bytes => readable::bytes(x),
        Quantity::Ratio => readable::percent(x),
        Quantity::Count if x >= 0.0 && x.fract() == 0.0 && x < 1e15 => readable::count(x as u64),
        Quantity::Count | Quantity::Number => {
            let s = format!("{x:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }
}

/// The relative change: `+12.5 %`, `0 %`, or `new` from a base of 0.
fn change(r: &Row) -> String {
    match r.change_pct {
        None => "new".to_owned(),
        Some(0.0) => "0 %".to_owned(),
        Some(p) if p.abs() < 0.05 => format!("{} <0.1 %", if p > 0.0 { '+' } else { '-' }),
        Some(p) => format!("{p:+.1} %"),
    }
}

/// The class as a reader needs it: whether it is an improvement, noise only because of the
/// base runs' range, or a regression that fails.
fn class(r: &Row, fail_on: Class) -> String {
    if r.within_base_range {
        return "noise (within base range)".to_owned();
    }
    match (r.class, r.trend) {
        (Class::Noise, _) | (_, Trend::Same) => "noise".to_owned(),
        (class, Trend::Better) => format!("improved ({class})"),
        (class, Trend::Worse) if class >= fail_on => format!("{class} (fails)"),
        (class, Trend::Worse) => class.to_string(),
    }
}

/// `PASS: ...` or `FAIL: ...`, with the count of each class.
fn verdict(c: &Comparison) -> String {
    let count = |class: Class, pick: fn(&Row) -> bool| {
        c.rows
            .iter()
            .filter(|r| r.class == class && pick(r))
            .count()
    };
    let mut tally = Vec::new();
    for class in [Class::Critical, Class::Warning, Class::Minor] {
        let n = count(class, Row::is_regression);
        if n > 0 {
            tally.push(format!("{n} {class}"));
        }
    }
    let regressions = if tally.is_empty() {
        "no regression".to_owned()
    } else {
        format!("regressions: {}", tally.join(", "))
    };
    let improved = c.rows.iter().filter(|r| r.is_improvement()).count();
    let noise = c.rows.iter().filter(|r| r.class == Class::Noise).count();
    let summary = format!(
        "{} figures: {regressions}; {improved} improved; {noise} noise",
        c.rows.len()
    );
    let failures: Vec<String> = c
        .failures()
        .map(|r| format!("{} ({})", r.metric, change(r)))
        .collect();
    if failures.is_empty() {
        format!(
            "PASS: no regression reaches {} ({summary})",
            c.options.fail_on
        )
    } else {
        format!(
            "FAIL: {} regression(s) reach {}: {} ({summary})",
            failures.len(),
            c.options.fail_on,
            failures.join(", ")
        )
    }
}

/// Whether a figure is 0 in every run of both sides.
fn zero_on_both_sides(r: &Row) -> bool {
    r.base == 0.0 && r.new == 0.0 && r.base_range == (0.0, 0.0)
}

/// The notes, then the figures only one side has.
fn extras(c: &Comparison) -> Vec<String> {
    let mut out = c.notes.clone();
    let zeros = c.rows.iter().filter(|r| zero_on_both_sides(r)).count();
    if zeros > 0 {
        out.push(format!(
            "{zeros} figures are 0 in both reports and not listed (all noise; --format json lists them)"
        ));
    }
    if !c.only_in_base.is_empty() {
        out.push(format!(
            "not compared, missing from a new report: {}",
            c.only_in_base.join(", ")
        ));
    }
    if !c.only_in_new.is_empty() {
        out.push(format!(
            "not compared, missing from a base report: {}",
            c.only_in_new.join(", ")
        ));
    }
    out
}
