//! `compare` reads a report by the lists of `metrics::figures`: in a report this build wrote,
//! it finds exactly the figures those lists give for the same snapshot, with the same
//! directions and quantities, and the machine's only when asked.

use std::time::Duration;

use metrics::{
    LatencyHistogram, MetricKind, Op, RunSnapshot, StatedTarget, TargetId, Unit, Verdict,
};

use super::one_to_one;
use crate::compare::{Metric, Options, Report, extract};

/// The CI baseline (a real virtual-clock report) with the harness's own figures added (a
/// scheduler lag histogram and the target judged on it) and an extra target.
fn snapshot() -> RunSnapshot {
    let text = include_str!("../../../../../fixtures/ci/baseline.json");
    let mut s: RunSnapshot = serde_json::from_str(text).expect("the baseline is a report");
    let mut lag = LatencyHistogram::default();
    lag.record(Duration::from_micros(1500));
    s.latency.insert(MetricKind::SchedulerLag, lag);
    let verdict = |target: TargetId, measured: f64| Verdict {
        target,
        measured: Some(measured),
        op: Op::Below,
        limit: 10.0,
        unit: Unit::Ms,
        passed: true,
        note: None,
    };
    s.targets
        .push(verdict(StatedTarget::HarnessNotSaturated.into(), 1.5));
    s.targets.push(verdict(
        TargetId::Extra {
            metric: MetricKind::Ttft,
            percentile: 99.9,
        },
        4.0,
    ));
    s
}

fn by_name(mut figures: Vec<Metric>) -> Vec<Metric> {
    figures.sort_by(|a, b| a.name.cmp(&b.name));
    figures
}

#[test]
fn figures_match_what_compare_reads() {
    let s = snapshot();
    let value = serde_json::to_value(&s).unwrap();
    let read = by_name(extract::metrics(&value, true).unwrap());
    let listed = by_name(metrics::figures::figures(&s));
    let names = |f: &[Metric]| f.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&read), names(&listed));
    for (r, l) in read.iter().zip(&listed) {
        assert_eq!(
            (r.better, r.quantity, r.of_the_machine),
            (l.better, l.quantity, l.of_the_machine),
            "{}",
            r.name
        );
        assert!(
            (r.value - l.value).abs() <= 1e-9 * l.value.abs().max(1.0),
            "{}: {} read, {} listed",
            r.name,
            r.value,
            l.value
        );
    }
    for machine in [
        "latency.scheduler_lag.p99_ms",
        "targets.harness_not_saturated",
        "process.peak_rss_bytes",
    ] {
        let m = listed.iter().find(|m| m.name == machine).unwrap();
        assert!(m.of_the_machine, "{machine}");
    }
    let extra = listed
        .iter()
        .find(|m| m.name == "targets.ttft_p99.9")
        .unwrap();
    assert!(!extra.of_the_machine);
}

#[test]
fn the_harness_own_figures_are_compared_only_with_the_process() {
    let text = serde_json::to_string(&snapshot()).unwrap();
    let base = Report::from_json(&text, "base.json").unwrap();
    let new = Report::from_json(&text, "new.json").unwrap();
    let rows = |include_process| {
        let options = Options {
            include_process,
            ..Options::default()
        };
        one_to_one(&base, &new, &options)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.metric)
            .collect::<Vec<_>>()
    };
    let without = rows(false);
    assert!(
        without.iter().all(|m| !m.contains("scheduler_lag")
            && !m.contains("harness_not_saturated")
            && !m.starts_with("process.")),
        "{without:?}"
    );
    let with = rows(true);
    for machine in [
        "latency.scheduler_lag.p99_ms",
        "targets.harness_not_saturated",
        "process.peak_rss_bytes",
    ] {
        assert!(with.iter().any(|m| m == machine), "{machine}: {with:?}");
    }
}
