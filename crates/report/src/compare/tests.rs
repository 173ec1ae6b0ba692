use serde_json::{Value, json};

use super::*;

mod figures;
mod lists;

pub(super) fn report(origin: &str, clock: &str, p95: f64, errors: u64, goodput: f64) -> Report {
    let errors = if errors == 0 {
        json!({"calls": {}, "attempts": {}})
    } else {
        json!({"calls": {"tool": {"timeout": errors}}, "attempts": {}})
    };
    let doc = json!({
        "schema_version": 1,
        "scenario": "ci",
        "clock": clock,
        "latency": {"agent_response": {"p50_ms": p95 / 2.0, "p90_ms": p95, "p95_ms": p95, "p99_ms": p95, "max_ms": p95}},
        "error_rate": 0.0,
        "goodput_turns_per_s": goodput,
        "counters": {"turns": 1000, "turns_failed": 0},
        "errors": errors,
        "targets": [{"target": "agent_response_p95", "measured": p95, "op": "<", "limit": 2000.0, "unit": "ms", "passed": true}],
        "agents": {"count": 200, "peak_memory_max_bytes": 40000, "list": []},
        "process": {"peak_rss_bytes": 1000, "wall_time_ms": 900}
    });
    Report::from_json(&doc.to_string(), origin).unwrap()
}

fn one_to_one(base: &Report, new: &Report, options: &Options) -> Result<Comparison, CompareError> {
    compare(
        std::slice::from_ref(base),
        std::slice::from_ref(new),
        options,
    )
}

fn row<'a>(c: &'a Comparison, metric: &str) -> &'a Row {
    c.rows
        .iter()
        .find(|r| r.metric == metric)
        .unwrap_or_else(|| panic!("no {metric}"))
}

fn one(base: f64, new: f64, better: Better) -> Row {
    Row::new(
        "m",
        better,
        Quantity::Number,
        &[base],
        &[new],
        &Thresholds::default(),
    )
}

#[test]
fn classes_by_size_at_the_boundaries() {
    let t = Thresholds::default();
    assert_eq!(t.classify(0.0), Class::Noise);
    assert_eq!(t.classify(4.999), Class::Noise);
    assert_eq!(t.classify(5.0), Class::Minor);
    assert_eq!(t.classify(-5.0), Class::Minor);
    assert_eq!(t.classify(9.999), Class::Minor);
    assert_eq!(t.classify(10.0), Class::Warning);
    assert_eq!(t.classify(20.0), Class::Warning);
    assert_eq!(t.classify(20.001), Class::Critical);
    assert_eq!(t.classify(-25.0), Class::Critical);
    assert_eq!(t.classify(f64::INFINITY), Class::Critical);
    // Floating point does not move a change across a boundary.
    assert_eq!(one(100.0, 120.0, Better::Lower).class, Class::Warning);
    assert_eq!(one(0.3, 0.315, Better::Lower).class, Class::Minor);
    assert_eq!(one(100.0, 120.1, Better::Lower).class, Class::Critical);
}

#[test]
fn thresholds_parse_and_reject() {
    assert_eq!(
        "5,10,20".parse::<Thresholds>().unwrap(),
        Thresholds::default()
    );
    let t: Thresholds = " 1 , 2.5%, 50 ".parse().unwrap();
    assert_eq!((t.minor, t.warning, t.critical), (1.0, 2.5, 50.0));
    assert_eq!(t.classify(2.0), Class::Minor);
    for bad in [
        "10,5,20",
        "5,10",
        "5,10,20,30",
        "a,b,c",
        "-1,2,3",
        "5,5,20",
        "",
        "5,10,inf",
    ] {
        let err = bad.parse::<Thresholds>().unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{bad}`")) && err.contains("like 5,10,20"),
            "{err}"
        );
    }
}

#[test]
fn direction_decides_regression_or_improvement() {
    let faster = one(100.0, 75.0, Better::Lower);
    assert_eq!(
        (faster.trend, faster.class),
        (Trend::Better, Class::Critical)
    );
    assert!(faster.is_improvement() && !faster.is_regression());
    let slower = one(100.0, 125.0, Better::Lower);
    assert!(slower.is_regression());
    let less_goodput = one(10.0, 7.0, Better::Higher);
    assert_eq!(
        (less_goodput.trend, less_goodput.class),
        (Trend::Worse, Class::Critical)
    );
    let more_goodput = one(10.0, 13.0, Better::Higher);
    assert!(more_goodput.is_improvement());
    let same = one(10.0, 10.0, Better::Higher);
    assert_eq!(
        (same.trend, same.class, same.change_pct),
        (Trend::Same, Class::Noise, Some(0.0))
    );
    let tiny = one(100.0, 101.0, Better::Lower);
    assert_eq!((tiny.trend, tiny.class), (Trend::Worse, Class::Noise));
    assert!(!tiny.is_regression());
}

#[test]
fn a_zero_base() {
    let still = one(0.0, 0.0, Better::Lower);
    assert_eq!((still.class, still.change_pct), (Class::Noise, Some(0.0)));
    let errors = one(0.0, 3.0, Better::Lower);
    assert_eq!(
        (errors.class, errors.change_pct, errors.trend),
        (Class::Critical, None, Trend::Worse)
    );
    assert!(errors.is_regression());
    let turns = one(0.0, 3.0, Better::Higher);
    assert!(turns.is_improvement() && !turns.is_regression());
    let gone = one(5.0, 0.0, Better::Lower);
    assert_eq!((gone.change_pct, gone.trend), (Some(-100.0), Trend::Better));
}

#[test]
fn medians_and_the_base_range() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median(&[7.0]), 7.0);
    assert_eq!(median(&[]), 0.0);
    let t = Thresholds::default();
    let base = [100.0, 120.0, 110.0];
    let within = Row::new("m", Better::Lower, Quantity::Ms, &base, &[118.0], &t);
    assert_eq!((within.base, within.base_range), (110.0, (100.0, 120.0)));
    assert_eq!(within.class, Class::Noise);
    assert!(within.within_base_range && !within.is_regression());
    let above = Row::new("m", Better::Lower, Quantity::Ms, &base, &[125.0], &t);
    assert_eq!(above.class, Class::Warning);
    assert!(!above.within_base_range && above.is_regression());
    let medians = Row::new(
        "m",
        Better::Lower,
        Quantity::Ms,
        &base,
        &[90.0, 160.0, 130.0],
        &t,
    );
    assert_eq!(medians.new, 130.0);
    // A single base run has no range to hide in.
    let single = Row::new("m", Better::Lower, Quantity::Ms, &[100.0], &[108.0], &t);
    assert_eq!(single.class, Class::Minor);
}

#[test]
fn identical_reports_are_all_noise() {
    let a = report("a.json", "virtual", 200.0, 0, 10.0);
    let c = one_to_one(&a, &a, &Options::default()).unwrap();
    assert!(c.rows.len() > 10, "{:#?}", c.rows);
    assert!(
        c.rows
            .iter()
            .all(|r| r.class == Class::Noise && r.trend == Trend::Same)
    );
    assert!(!c.failed());
    assert!(c.notes.is_empty() && c.only_in_base.is_empty() && c.only_in_new.is_empty());
    assert!(c.rows.iter().all(|r| !r.metric.starts_with("process.")));
}

#[test]
fn a_25_percent_slower_run_fails_critical_and_a_faster_one_passes() {
    let base = report("base.json", "virtual", 200.0, 0, 10.0);
    let slow = report("new.json", "virtual", 250.0, 0, 10.0);
    let c = one_to_one(&base, &slow, &Options::default()).unwrap();
    assert!(c.failed());
    let p95 = row(&c, "latency.agent_response.p95_ms");
    assert_eq!((p95.class, p95.change_pct), (Class::Critical, Some(25.0)));
    assert_eq!(row(&c, "targets.agent_response_p95").class, Class::Critical);
    let names: Vec<&str> = c.failures().map(|r| r.metric.as_str()).collect();
    assert!(
        names.contains(&"latency.agent_response.p95_ms"),
        "{names:?}"
    );
    // The other way round it is an improvement, which never fails.
    let c = one_to_one(&slow, &base, &Options::default()).unwrap();
    assert!(!c.failed());
    assert!(row(&c, "latency.agent_response.p95_ms").is_improvement());
}

#[test]
fn fail_on_picks_the_failing_class() {
    let base = report("base.json", "virtual", 200.0, 0, 10.0);
    let new = report("new.json", "virtual", 225.0, 0, 10.0);
    let c = one_to_one(&base, &new, &Options::default()).unwrap();
    assert_eq!(
        row(&c, "latency.agent_response.p95_ms").class,
        Class::Warning
    );
    assert!(!c.failed());
    let warning = Options {
        fail_on: Class::Warning,
        ..Options::default()
    };
    assert!(one_to_one(&base, &new, &warning).unwrap().failed());
}

#[test]
fn errors_appearing_fail_and_goodput_lost_fails() {
    let base = report("base.json", "virtual", 200.0, 0, 10.0);
    let new = report("new.json", "virtual", 200.0, 4, 7.0);
    let c = one_to_one(&base, &new, &Options::default()).unwrap();
    let errors = row(&c, "errors.calls.tool");
    assert_eq!(
        (errors.base, errors.new, errors.class),
        (0.0, 4.0, Class::Critical)
    );
    assert!(row(&c, "goodput_turns_per_s").is_regression());
    assert!(c.failed());
}

#[test]
fn different_scenarios_or_clocks_need_force() {
    let base = report("base.json", "virtual", 200.0, 0, 10.0);
    let live = report("live.json", "live", 200.0, 0, 10.0);
    let err = one_to_one(&base, &live, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("base.json")
            && err.contains("live.json")
            && err.contains("clock")
            && err.contains("--force"),
        "{err}"
    );
    let mut other: Value = base.value().clone();
    other["scenario"] = json!("smoke");
    let other = Report::from_json(&other.to_string(), "smoke.json").unwrap();
    let err = one_to_one(&base, &other, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scenario `ci`") && err.contains("`smoke`"),
        "{err}"
    );
    // A report without `shards` is one fleet: equal to `shards: 1`, not to 2.
    let mut sharded: Value = base.value().clone();
    sharded["shards"] = json!(1);
    let one = Report::from_json(&sharded.to_string(), "one.json").unwrap();
    assert!(one_to_one(&base, &one, &Options::default()).is_ok());
    sharded["shards"] = json!(2);
    let two = Report::from_json(&sharded.to_string(), "two.json").unwrap();
    let err = one_to_one(&base, &two, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("shards `1`") && err.contains("shards `2`") && err.contains("--force"),
        "{err}"
    );
    let forced = Options {
        force: true,
        ..Options::default()
    };
    let c = one_to_one(&base, &live, &forced).unwrap();
    assert!(
        c.notes.iter().any(|n| n.starts_with("--force")),
        "{:?}",
        c.notes
    );
}

#[test]
fn live_runs_get_a_note_until_there_are_several() {
    let runs: Vec<Report> = (0..3)
        .map(|i| report(&format!("r{i}.json"), "live", 200.0 + f64::from(i), 0, 10.0))
        .collect();
    let c = compare(&runs[..1], &runs[1..2], &Options::default()).unwrap();
    assert!(c.notes.iter().any(|n| n.contains("noisy")), "{:?}", c.notes);
    let c = compare(&runs, &runs, &Options::default()).unwrap();
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn bad_files_are_named() {
    let err = Report::from_json("{", "a.json").unwrap_err();
    assert!(err.to_string().starts_with("a.json: not JSON"), "{err}");
    let err = Report::from_json("[1]", "b.json").unwrap_err().to_string();
    assert!(err.contains("b.json: not a fleetbench report"), "{err}");
    let err = Report::from_json(r#"{"scenario": "x", "clock": "live"}"#, "c.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("c.json") && err.contains("schema_version"),
        "{err}"
    );
    let err = compare(&[], &[], &Options::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--base"), "{err}");
}

#[test]
fn figures_one_side_lacks_are_listed_not_compared() {
    let base = report("base.json", "virtual", 200.0, 0, 10.0);
    let mut newer: Value = base.value().clone();
    newer["agents"]["peak_memory_p95_bytes"] = json!(30000);
    newer["error_rate"] = Value::Null;
    let newer = Report::from_json(&newer.to_string(), "new.json").unwrap();
    let c = one_to_one(&base, &newer, &Options::default()).unwrap();
    assert_eq!(c.only_in_new, ["agents.peak_memory_p95_bytes"]);
    assert_eq!(c.only_in_base, ["error_rate"]);
    assert!(c.rows.iter().all(|r| r.metric != "error_rate"));
}

#[test]
fn process_only_when_asked() {
    let a = report("a.json", "virtual", 200.0, 0, 10.0);
    let opts = Options {
        include_process: true,
        ..Options::default()
    };
    let c = one_to_one(&a, &a, &opts).unwrap();
    assert_eq!(row(&c, "process.wall_time_ms").class, Class::Noise);
}

#[test]
fn renders_table_markdown_and_json() {
    let base = report("base.json", "virtual", 200.0, 0, 10.0);
    let new = report("new.json", "virtual", 250.0, 0, 13.0);
    let c = one_to_one(&base, &new, &Options::default()).unwrap();
    let text = table(&c);
    assert!(
        text.starts_with(
            "compare: scenario `ci`, virtual clock\nbase: base.json\nnew:  new.json\n"
        ),
        "{text}"
    );
    assert!(text.contains("latency.agent_response.p95_ms"), "{text}");
    assert!(
        text.contains("200 ms") && text.contains("250 ms") && text.contains("+25.0 %"),
        "{text}"
    );
    assert!(text.contains("critical (fails)"), "{text}");
    assert!(
        text.contains("improved (critical)"),
        "goodput +30 %: {text}"
    );
    assert!(
        text.contains("FAIL: 6 regression(s) reach critical"),
        "{text}"
    );
    let md = markdown(&c);
    assert!(
        md.contains("| metric | base | new | change | class |\n|---|---:|---:|---:|---|\n"),
        "{md}"
    );
    assert!(md.contains("**FAIL:"), "{md}");
    let doc: Value = serde_json::from_str(&json(&c)).unwrap();
    assert_eq!(doc["failed"], true);
    assert_eq!(doc["fail_on"], "critical");
    let p95 = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "latency.agent_response.p95_ms")
        .unwrap();
    assert_eq!(p95["class"], "critical");
    assert_eq!(p95["change_pct"], 25.0);
    assert_eq!(p95["better"], "lower");
    assert_eq!(p95["fails"], true);
}
