//! A live run's `harness` section: in `report.json` (against the schema), and the saturation
//! warning in the terminal summary and the Markdown report.

use std::time::Duration;

use metrics::{HarnessFigures, HarnessSection, LatencyHistogram, MetricKind, RunSnapshot};
use serde_json::Value;

use crate::fixture;

/// The fixture run as if live, its probe having measured `lag_ms` at every wake-up and `cpu`.
fn probed(lag_ms: u64, cpu: f64) -> RunSnapshot {
    let mut s = fixture::snapshot_with(&fixture::lenient_targets());
    s.clock = metrics::Clock::Live;
    let mut lag = LatencyHistogram::default();
    for _ in 0..1000 {
        lag.record(Duration::from_millis(lag_ms));
    }
    let figures = HarnessFigures {
        probe_interval: Duration::from_millis(10),
        cores: 2,
        cpu_utilisation: cpu,
        cpu_utilisation_peak: (cpu + 0.05).min(1.0),
        cpu_window: Duration::from_secs(1),
    };
    s.harness = Some(HarnessSection::judge(&figures, &lag));
    s.latency.insert(MetricKind::SchedulerLag, lag);
    s
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report.schema.json");
    let text = std::fs::read_to_string(path).expect("docs/report.schema.json is readable");
    let schema: Value = serde_json::from_str(&text).expect("docs/report.schema.json is JSON");
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

#[test]
fn the_harness_section_matches_the_schema() {
    for s in [probed(1, 0.4), probed(38, 0.97)] {
        let doc: Value = serde_json::from_str(&fleetbench_report::json(&s)).unwrap();
        assert_eq!(schema_errors(&doc), Vec::<String>::new());
        assert!(doc["harness"]["saturated"].is_boolean());
        assert_eq!(doc["latency"]["scheduler_lag"]["count"], 1000);
    }
    // The schema knows the section's closed sets.
    let mut doc: Value = serde_json::from_str(&fleetbench_report::json(&probed(38, 0.5))).unwrap();
    doc["harness"]["reasons"] = serde_json::json!(["disk"]);
    assert_eq!(schema_errors(&doc).len(), 1);
}

#[test]
fn a_saturated_run_is_flagged_next_to_the_verdict() {
    let s = probed(38, 0.97);
    let text = fleetbench_report::terminal(&s);
    let lines: Vec<&str> = text.lines().collect();
    let warning = lines[lines.len() - 2];
    assert_eq!(
        warning,
        "WARNING: harness saturated: scheduler lag p99 38 ms > 10 ms, cpu 97 % of 2 cores > 90 % \
         — latencies measure the harness; use fewer agents per process or more cores",
        "{text}"
    );
    assert!(lines[lines.len() - 1].starts_with("PASS"), "{text}");
    assert!(
        text.contains(
            "harness: scheduler lag p99 38 ms (max 38 ms over 1,000 wake-ups every 10 ms), \
             cpu 97 % of 2 cores (busiest 1 s: 100 %): saturated"
        ),
        "{text}"
    );
    assert!(
        text.contains("scheduler_lag"),
        "the latency table lists it: {text}"
    );
    let md = fleetbench_report::markdown(&s);
    assert!(
        md.contains("⚠️ **harness saturated: scheduler lag p99 38 ms > 10 ms"),
        "{md}"
    );
}

#[test]
fn a_run_below_the_thresholds_has_figures_and_no_warning() {
    let s = probed(1, 0.4);
    let text = fleetbench_report::terminal(&s);
    assert!(!text.contains("WARNING"), "{text}");
    assert!(
        text.contains("harness: scheduler lag p99 1 ms (max 1 ms over 1,000 wake-ups every 10 ms), cpu 40 % of 2 cores (busiest 1 s: 45 %)\n"),
        "{text}"
    );
    assert!(!fleetbench_report::markdown(&s).contains("saturated"));
    // Only the CPU over its threshold: the warning names the CPU only.
    let busy = fleetbench_report::terminal(&probed(1, 0.95));
    assert!(
        busy.contains("WARNING: harness saturated: cpu 95 % of 2 cores > 90 % — "),
        "{busy}"
    );
}

#[test]
fn a_virtual_run_says_nothing_of_the_harness() {
    let s = fixture::snapshot();
    assert!(!fleetbench_report::terminal(&s).contains("harness"));
    assert!(!fleetbench_report::markdown(&s).contains("harness"));
    assert!(!fleetbench_report::json(&s).contains("harness"));
}
