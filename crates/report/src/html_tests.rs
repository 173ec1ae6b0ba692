use std::time::Duration;

use metrics::{AgentReport, LatencyHistogram, MetricKind, StopReason, TailPart};

use super::*;
use crate::test_support::stopped_by;

/// A run with latency, a breakdown, agents and errors, named `name`.
fn full(name: &str) -> RunSnapshot {
    let mut s = stopped_by(StopReason::Duration);
    s.scenario = name.to_owned();
    let mut h = LatencyHistogram::default();
    for ms in 1..=500 {
        h.record(Duration::from_millis(ms));
    }
    s.latency.insert(MetricKind::AgentResponse, h);
    s.breakdown.turns = 25;
    s.breakdown.parts.insert(
        "pool_wait".to_owned(),
        TailPart {
            mean_ms: 120.0,
            share: 0.6,
        },
    );
    for id in 0..8 {
        let mut a = AgentReport::new(&metrics::AgentSummary::default(), true);
        a.id = id;
        a.peak_memory_bytes = 10_000 + id * 1_000;
        s.agents.list.push(a);
    }
    s.errors
        .calls
        .entry(CallClass::Llm)
        .or_default()
        .insert(ErrorKind::Timeout, 3);
    s
}

#[test]
fn escapes_text_for_html() {
    assert_eq!(
        escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

#[test]
fn the_scenario_name_is_escaped_everywhere() {
    let page = html(&full("<script>alert('x')</script>"));
    assert!(!page.contains("<script"), "a raw tag from the scenario");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[test]
fn the_verdict_and_targets_come_before_the_charts() {
    let page = html(&full("smoke"));
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.ends_with("</body>\n</html>\n"));
    let verdict = page.find("class=\"verdict").expect("a verdict");
    let targets = page.find("<h2>Targets</h2>").expect("a targets section");
    let chart = page.find("<svg").expect("a chart");
    assert!(verdict < targets && targets < chart);
    for heading in [
        "Latency",
        "Slowest turns",
        "Memory per agent",
        "Errors",
        "Rates and counters",
        "Over time",
    ] {
        assert!(page.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    assert!(page.contains("aria-label=\"percentile curve of agent_response\""));
    assert!(page.contains("aria-label=\"slowest turns: mean time per part\""));
    assert!(page.contains("aria-label=\"peak memory per agent\""));
    assert!(page.contains("aria-label=\"failed calls by kind\""));
    assert!(page.contains("<td>timeout</td>"), "the errors table");
    assert!(
        page.contains("id=\"time-series\""),
        "the place kept for time series"
    );
    // Every target is a row with PASS or FAIL.
    for v in &default_target_names() {
        assert!(page.contains(&format!("<td>{v}</td>")), "{v}");
    }
}

/// The default targets' names.
fn default_target_names() -> Vec<String> {
    stopped_by(StopReason::Duration)
        .targets
        .iter()
        .map(|v| v.target.to_string())
        .collect()
}

#[test]
fn an_empty_run_has_no_charts_but_says_so() {
    let page = html(&stopped_by(StopReason::Duration));
    assert!(!page.contains("<svg"));
    assert!(page.contains("Nothing was recorded."));
    assert!(page.contains("<h2>Errors</h2>\n<p>None.</p>"));
}

#[test]
fn a_failed_run_is_marked_failed() {
    let mut s = full("smoke");
    s.passed = false;
    assert!(html(&s).contains("<p class=\"verdict fail\">"));
}

#[test]
fn nothing_is_fetched_from_anywhere() {
    let page = html(&full("smoke"));
    for needle in [
        "http:", "https:", "//", "<script", "<link", "@import", "url(", "src=", "href=",
    ] {
        assert!(!page.contains(needle), "found {needle:?}");
    }
}

#[test]
fn the_same_snapshot_gives_the_same_bytes() {
    assert_eq!(html(&full("smoke")), html(&full("smoke")));
}

/// A log of `n` one-second intervals: turns and an agent_response value each, the breaker
/// of `llm:primary` open from the middle on, a timeout in the last interval.
fn log_of(n: u64) -> crate::interval_log::ReadLog {
    let intervals = (0..n)
        .map(|i| {
            let mut interval = metrics::Interval {
                index: i,
                start: Duration::from_secs(i),
                end: Duration::from_secs(i + 1),
                alive: 10,
                ..metrics::Interval::default()
            };
            interval.recorder.counters.turns = 5;
            interval
                .recorder
                .record(MetricKind::AgentResponse, Duration::from_millis(100 + i));
            interval.breakers.push(metrics::BreakerSummary {
                target: "llm:primary".to_owned(),
                state: if i >= n / 2 {
                    metrics::BreakerState::Open
                } else {
                    metrics::BreakerState::Closed
                },
                opened: 0,
                half_opened: 0,
                closed: 0,
                rejected: 0,
            });
            if i + 1 == n {
                interval.recorder.error(CallClass::Llm, ErrorKind::Timeout);
            }
            interval
        })
        .collect();
    crate::interval_log::ReadLog {
        header: crate::interval_log::LogHeader {
            fleetbench_intervals: 1,
            fleetbench_version: "0".to_owned(),
            scenario: "t".to_owned(),
            seed: 1,
            clock: metrics::Clock::Virtual,
            shards: 1,
            interval_ms: 1000,
            started_unix_ms: None,
            targets: scenario::Targets::default(),
        },
        intervals,
        cut_off: false,
    }
}

#[test]
fn the_run_over_time_is_drawn_from_its_interval_log() {
    let without = html(&full("smoke"));
    assert!(without.contains("No interval log beside this report"));
    let timeline = Timeline::of(&log_of(1_000));
    // A thousand intervals draw as at most 240 points, five to a point.
    assert_eq!(timeline.points.len(), 200);
    assert_eq!(timeline.points[0].turns, 5.0, "per second over the point");
    let page = html_with(&full("smoke"), Some(&timeline));
    for label in [
        "agent_response over time",
        "agents alive",
        "throughput",
        "breakers over time",
        "failed calls by kind over time",
    ] {
        assert!(page.contains(&format!("aria-label=\"{label}\"")), "{label}");
    }
    assert!(!page.contains("No interval log"));
    // The breaker's row turns red (open) halfway.
    assert!(page.contains("#B22222") || page.contains("#b22222"));
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
}

#[test]
fn a_timeline_read_from_disk_an_interval_at_a_time_is_the_one_of_the_whole_log() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = log_of(1_001);
    let mut writer =
        crate::interval_log::IntervalLog::create(dir.path(), &log.header).expect("the log");
    for interval in &log.intervals {
        writer.append(interval).expect("written");
    }
    let streamed = Timeline::read(dir.path()).expect("the log reads");
    let whole = Timeline::of(&log);
    assert_eq!(streamed.points.len(), 201, "1,001 intervals, 5 to a point");
    assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
}
