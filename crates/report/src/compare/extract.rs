//! The figures of one `report.json` that a comparison looks at, each with the direction that
//! is better and the kind of quantity it is (for printing): the lists of `metrics::figures`,
//! read from JSON.
//!
//! Read from the JSON value rather than the typed snapshot, so reports of older or newer
//! builds (a field added or gone) still compare on what they share. A known figure that is
//! there must have its type, though: a count that is a string is a damaged report, not a
//! missing figure. Sections whose fields grow over time (`agents`, `process`, each target's
//! `measured`) are read generically: every numeric field, nested objects included, arrays (the
//! per-agent list) left out; a field the lists know takes their direction and quantity, one
//! they do not (an older or newer build's) is judged by its name's unit suffix.

use metrics::figures::{
    AGENTS, COUNTERS, ERROR_SIDES, Field, HEADLINE, PERCENTILES, PROCESS, latency_of_the_machine,
    target_of_the_machine,
};
use metrics::{CallClass, MetricKind, Op, TargetId, Unit};
use serde_json::{Map, Value};

use super::checked::{BadFigure, bad, count, non_negative, object, ratio, string};

pub use metrics::{Better, Figure as Metric, Quantity};

/// Every compared figure of `report`, in report order (the generic sections' fields in the
/// JSON object's order); those that measure the machine (`process`, the harness's own
/// figures) only when `include_process` is set. Figures a report does not have, or has as
/// `null`, are left out; a known figure of the wrong type or range (a string for a count, a
/// negative latency, a number for a histogram) is an error naming its path, the machine's
/// included.
pub fn metrics(report: &Value, include_process: bool) -> Result<Vec<Metric>, BadFigure> {
    let mut out = all(report)?;
    out.retain(|m| include_process || !m.of_the_machine);
    Ok(out)
}

/// Every compared figure of `report`, the machine's flagged.
fn all(report: &Value) -> Result<Vec<Metric>, BadFigure> {
    let mut out = Vec::new();
    latency(&mut out, report)?;
    for f in &HEADLINE {
        let checked = match f.quantity {
            Quantity::Ratio => ratio(report.get(f.key), f.key)?,
            _ => non_negative(report.get(f.key), f.key)?,
        };
        if let Some(v) = checked {
            push(&mut out, f.key.to_owned(), v, (f.better, f.quantity), false);
        }
    }
    if let Some(counters) = object(report.get("counters"), "counters", AN_OBJECT)? {
        for f in &COUNTERS {
            let path = format!("counters.{}", f.key);
            if let Some(v) = count(counters.get(f.key), &path)? {
                push(&mut out, path, v, (f.better, f.quantity), false);
            }
        }
    }
    errors(&mut out, report)?;
    let targets = report.get("targets").filter(|t| !t.is_null());
    if let Some(targets) = targets {
        let verdicts = targets
            .as_array()
            .ok_or_else(|| bad("targets", targets, "an array of verdicts"))?;
        for (i, verdict) in verdicts.iter().enumerate() {
            target(&mut out, &format!("targets[{i}]"), verdict)?;
        }
    }
    if let Some(agents) = object(report.get("agents"), "agents", AN_OBJECT)? {
        numeric_fields(
            &mut out,
            "agents",
            agents,
            &|key| known(&AGENTS, key),
            false,
        );
    }
    if let Some(process) = object(report.get("process"), "process", AN_OBJECT)? {
        numeric_fields(
            &mut out,
            "process",
            process,
            &|key| known(&PROCESS, key),
            true,
        );
    }
    Ok(out)
}

const AN_OBJECT: &str = "an object";

/// The direction and quantity of `key` when `list` has it.
fn known<T>(list: &[Field<T>], key: &str) -> Option<(Better, Quantity)> {
    list.iter()
        .find(|f| f.key == key)
        .map(|f| (f.better, f.quantity))
}

/// Each histogram's percentiles.
fn latency(out: &mut Vec<Metric>, report: &Value) -> Result<(), BadFigure> {
    let Some(latency) = object(report.get("latency"), "latency", AN_OBJECT)? else {
        return Ok(());
    };
    for (kind, histogram) in latency {
        let machine = MetricKind::parse(kind).is_some_and(latency_of_the_machine);
        let path = format!("latency.{kind}");
        let Some(histogram) = object(
            Some(histogram),
            &path,
            "a histogram, an object like {\"p95_ms\": 12.5, ...}",
        )?
        else {
            continue;
        };
        for p in PERCENTILES {
            let path = format!("{path}.{}", p.key);
            if let Some(v) = non_negative(histogram.get(p.key), &path)? {
                push(out, path, v, (Better::Lower, Quantity::Ms), machine);
            }
        }
    }
    Ok(())
}

/// Errors by side (calls, attempts) and class, summed over their kinds; every
/// [`CallClass`] even when absent (0), then any other class a report has.
fn errors(out: &mut Vec<Metric>, report: &Value) -> Result<(), BadFigure> {
    let Some(errors) = object(report.get("errors"), "errors", AN_OBJECT)? else {
        return Ok(());
    };
    let usual = CallClass::ALL.map(CallClass::as_str);
    for side in ERROR_SIDES {
        let path = format!("errors.{}", side.key);
        let Some(by_class) = object(errors.get(side.key), &path, "an object of error classes")?
        else {
            continue;
        };
        let others = by_class.keys().filter(|c| !usual.contains(&c.as_str()));
        let classes: Vec<&str> = usual
            .into_iter()
            .chain(others.map(String::as_str))
            .collect();
        for class in classes {
            let path = format!("{path}.{class}");
            let kinds = object(
                by_class.get(class),
                &path,
                "an object of error kinds and counts, like {\"timeout\": 2}",
            )?;
            let mut total = 0.0;
            for (kind, n) in kinds.into_iter().flatten() {
                total += count(Some(n), &format!("{path}.{kind}"))?.unwrap_or(0.0);
            }
            push(out, path, total, (Better::Lower, Quantity::Count), false);
        }
    }
    Ok(())
}

/// A verdict's measured value (or each numeric field of it), better in the direction of its
/// comparison ([`Op::better`]), in its unit. A comparison or unit this build does not know
/// (a newer report's) reads as lower-is-better, a plain number.
fn target(out: &mut Vec<Metric>, at: &str, verdict: &Value) -> Result<(), BadFigure> {
    let verdict = verdict.as_object().ok_or_else(|| {
        bad(
            at,
            verdict,
            "a verdict, an object like {\"target\": \"error_rate\", \"measured\": 0.001, ...}",
        )
    })?;
    let field = |key: &str| string(verdict.get(key), &format!("{at}.{key}"));
    let Some(name) = field("target")? else {
        return Ok(());
    };
    let machine = name
        .parse::<TargetId>()
        .is_ok_and(|t| target_of_the_machine(&t));
    let better = field("op")?
        .and_then(Op::parse)
        .map_or(Better::Lower, Op::better);
    let quantity = field("unit")?
        .and_then(Unit::parse)
        .map_or(Quantity::Number, Quantity::from);
    let path = format!("targets.{name}");
    match verdict.get("measured") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_f64() {
                push(out, path, v, (better, quantity), machine);
            }
        }
        Some(Value::Object(fields)) => {
            numeric_fields(out, &path, fields, &|_| Some((better, quantity)), machine);
        }
        Some(other) => {
            return Err(bad(
                &format!("{at}.measured"),
                other,
                "a number, an object of numbers, or null",
            ));
        }
    }
    Ok(())
}

/// Every numeric field of `object`, nested objects included, arrays left out. `fixed` gives
/// the direction and quantity of a field when they are known; otherwise they follow from the
/// field's name ([`better_of`], [`quantity_of`]).
fn numeric_fields(
    out: &mut Vec<Metric>,
    prefix: &str,
    object: &Map<String, Value>,
    fixed: &dyn Fn(&str) -> Option<(Better, Quantity)>,
    machine: bool,
) {
    for (key, value) in object {
        let path = format!("{prefix}.{key}");
        match value {
            Value::Number(n) => {
                if let Some(v) = n.as_f64() {
                    let kind = fixed(key)
                        .unwrap_or_else(|| (better_of(key), quantity_of(key, n.is_f64())));
                    push(out, path, v, kind, machine);
                }
            }
            Value::Object(inner) => numeric_fields(out, &path, inner, fixed, machine),
            _ => {}
        }
    }
}

/// The direction of a field the lists do not know (an older or newer build's): successes and
/// goodput are "more is better"; everything else there is memory, latency or a failure
/// count, where less is better.
pub(crate) fn better_of(field: &str) -> Better {
    if field.contains("succeeded") || field.contains("goodput") {
        Better::Higher
    } else {
        Better::Lower
    }
}

/// The quantity of a field the lists do not know, by its name's unit suffix.
pub(crate) fn quantity_of(field: &str, is_float: bool) -> Quantity {
    if field.ends_with("_ms") {
        Quantity::Ms
    } else if field.ends_with("bytes") {
        Quantity::Bytes
    } else if field.ends_with("rate") {
        Quantity::Ratio
    } else if is_float {
        Quantity::Number
    } else {
        Quantity::Count
    }
}

fn push(out: &mut Vec<Metric>, name: String, value: f64, kind: (Better, Quantity), machine: bool) {
    if value.is_finite() {
        out.push(Metric {
            name,
            value,
            better: kind.0,
            quantity: kind.1,
            of_the_machine: machine,
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn find<'a>(m: &'a [Metric], name: &str) -> &'a Metric {
        m.iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("no {name} in {m:#?}"))
    }

    fn sample() -> Value {
        json!({
            "scenario": "ci",
            "clock": "virtual",
            "latency": {
                "agent_response": {"count": 10, "p50_ms": 100.0, "p90_ms": 150.0, "p95_ms": 180.0,
                                   "p99_ms": 200.0, "p999_ms": 210.0, "max_ms": 210.0, "hdr": "AAA="}
            },
            "error_rate": 0.001,
            "goodput_turns_per_s": 12.5,
            "counters": {"turns": 100, "turns_failed": 1, "tokens_in": 5000},
            "errors": {"calls": {"tool": {"timeout": 2, "server_error": 1}}, "attempts": {}},
            "targets": [
                {"target": "agent_response_p95", "measured": 180.0, "op": "<", "limit": 2000.0, "unit": "ms", "passed": true},
                {"target": "min_concurrent_agents", "measured": 200.0, "op": ">=", "limit": 200.0, "unit": "agents", "passed": true},
                {"target": "tool_call_p90", "measured": null, "op": "<", "limit": 5000.0, "unit": "ms", "passed": true},
                {"target": "agent_memory", "measured": {"p95_bytes": 5, "max_bytes": 9}, "op": "<", "limit": 10.0, "unit": "bytes", "passed": true}
            ],
            "agents": {
                "count": 200, "with_turns": 199, "meeting_all_targets": 0.99,
                "response_p95_max_ms": 300.0, "memory_method": "allocator",
                "peak_memory_p95_bytes": 40000, "heap": {"final_total_bytes": 7},
                "worst_memory": [{"id": 1, "peak_memory_bytes": 50000}],
                "list": [{"id": 0, "turns": 3}]
            },
            "process": {"peak_rss_bytes": 123456, "agents_alive_peak": 200}
        })
    }

    #[test]
    fn every_section_with_its_direction() {
        let m = metrics(&sample(), false).unwrap();
        let p95 = find(&m, "latency.agent_response.p95_ms");
        assert_eq!(
            (p95.value, p95.better, p95.quantity),
            (180.0, Better::Lower, Quantity::Ms)
        );
        assert!(m.iter().all(|x| x.name != "latency.agent_response.p999_ms"));
        assert_eq!(find(&m, "error_rate").better, Better::Lower);
        assert_eq!(find(&m, "goodput_turns_per_s").better, Better::Higher);
        assert_eq!(find(&m, "counters.turns").better, Better::Higher);
        assert_eq!(find(&m, "counters.turns_failed").better, Better::Lower);
        assert!(m.iter().all(|x| x.name != "counters.tokens_in"));
        assert_eq!(find(&m, "errors.calls.tool").value, 3.0);
        assert_eq!(find(&m, "errors.calls.llm").value, 0.0, "absent means none");
        assert_eq!(find(&m, "errors.attempts.turn").value, 0.0);
    }

    #[test]
    fn figure_targets_are_read_like_the_others() {
        let mut report = sample();
        report["targets"].as_array_mut().unwrap().extend([
            json!({"target": "tool_cache_hit_rate{tool:kb_search}", "measured": 0.85, "op": ">=", "limit": 0.8, "unit": "ratio", "passed": true}),
            json!({"target": "tokens_per_s", "measured": 950.0, "op": ">=", "limit": 1000.0, "unit": "per_s", "passed": false}),
            json!({"target": "retries", "measured": 3.0, "op": "<=", "limit": 10.0, "unit": "count", "passed": true}),
        ]);
        let m = metrics(&report, false).unwrap();
        let hit_rate = find(&m, "targets.tool_cache_hit_rate{tool:kb_search}");
        assert_eq!(
            (hit_rate.value, hit_rate.better, hit_rate.quantity),
            (0.85, Better::Higher, Quantity::Ratio)
        );
        let tokens = find(&m, "targets.tokens_per_s");
        assert_eq!(
            (tokens.better, tokens.quantity),
            (Better::Higher, Quantity::Number)
        );
        let retries = find(&m, "targets.retries");
        assert_eq!(
            (retries.better, retries.quantity),
            (Better::Lower, Quantity::Count)
        );
    }

    #[test]
    fn targets_follow_their_comparison_and_skip_nothing_measured() {
        let m = metrics(&sample(), false).unwrap();
        assert_eq!(find(&m, "targets.agent_response_p95").better, Better::Lower);
        let agents = find(&m, "targets.min_concurrent_agents");
        assert_eq!(
            (agents.better, agents.quantity),
            (Better::Higher, Quantity::Count)
        );
        assert!(m.iter().all(|x| x.name != "targets.tool_call_p90"));
        let nested = find(&m, "targets.agent_memory.p95_bytes");
        assert_eq!(
            (nested.value, nested.better, nested.quantity),
            (5.0, Better::Lower, Quantity::Bytes)
        );
    }

    #[test]
    fn the_harness_own_figures_compare_only_with_the_process() {
        let mut report = sample();
        report["latency"]["scheduler_lag"] = json!({"count": 5, "p50_ms": 1.0, "p99_ms": 30.0});
        report["targets"].as_array_mut().unwrap().push(json!(
            {"target": "harness_not_saturated", "measured": 30.0, "op": "<=", "limit": 10.0, "unit": "ms", "passed": false}
        ));
        let names = |include| -> Vec<String> {
            metrics(&report, include)
                .unwrap()
                .into_iter()
                .map(|m| m.name)
                .collect()
        };
        let without = names(false);
        assert!(
            without
                .iter()
                .all(|n| !n.contains("scheduler_lag") && !n.contains("harness")),
            "{without:?}"
        );
        let with = names(true);
        assert!(with.contains(&"latency.scheduler_lag.p99_ms".to_owned()));
        assert!(with.contains(&"targets.harness_not_saturated".to_owned()));
    }

    #[test]
    fn agents_numeric_fields_generically_but_not_the_list() {
        let m = metrics(&sample(), false).unwrap();
        assert_eq!(find(&m, "agents.count").better, Better::Higher);
        assert_eq!(
            find(&m, "agents.meeting_all_targets").quantity,
            Quantity::Ratio
        );
        assert_eq!(
            find(&m, "agents.meeting_all_targets").better,
            Better::Higher
        );
        let heap = find(&m, "agents.peak_memory_p95_bytes");
        assert_eq!(
            (heap.better, heap.quantity),
            (Better::Lower, Quantity::Bytes)
        );
        assert_eq!(find(&m, "agents.heap.final_total_bytes").value, 7.0);
        assert!(m.iter().all(|x| !x.name.starts_with("agents.list")
            && !x.name.starts_with("agents.worst_memory")
            && x.name != "agents.memory_method"));
    }

    #[test]
    fn process_only_when_asked() {
        assert!(
            metrics(&sample(), false)
                .unwrap()
                .iter()
                .all(|x| !x.name.starts_with("process."))
        );
        let m = metrics(&sample(), true).unwrap();
        assert_eq!(find(&m, "process.peak_rss_bytes").better, Better::Lower);
        assert_eq!(find(&m, "process.agents_alive_peak").better, Better::Higher);
    }

    #[test]
    fn a_null_error_rate_is_left_out() {
        let m = metrics(&json!({"error_rate": null}), false).unwrap();
        assert!(m.is_empty(), "{m:#?}");
    }
}
