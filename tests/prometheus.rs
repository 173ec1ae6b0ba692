use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Running, fleetbench, scenario};

/// `GET /metrics` over plain HTTP/1.1: status line and body.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("the metrics endpoint accepts");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: fleetbench\r\nconnection: close\r\n\r\n")
        .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("content-type: text/plain; version=0.0.4"),
        "{response}"
    );
    response
}

/// The value of the sample line `name` (no labels) in a scrape.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

#[test]
fn a_live_runs_metrics_grow_between_scrapes_and_end_at_the_reports_counters() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out");
    let mut run = Running::spawn([
        "run".into(),
        scenario("smoke.toml").into_os_string(),
        "--duration".into(),
        "4s".into(),
        "--metrics-listen".into(),
        "127.0.0.1:0".into(),
        "--metrics-linger".into(),
        "2m".into(),
        "--out".into(),
        out.clone().into_os_string(),
    ]);
    let line = run.wait_for(|l| l.starts_with("metrics: http://"));
    let addr = line
        .trim()
        .strip_prefix("metrics: http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .expect("metrics: http://ADDR/metrics")
        .to_owned();
    // Scrapes at two progress lines: the fleet is under way, a second of it apart.
    run.wait_for(|l| l.starts_with('['));
    let first = scrape(&addr);
    run.wait_for(|l| l.starts_with('['));
    let second = scrape(&addr);
    assert!(
        second.contains("# TYPE fleetbench_latency_seconds histogram"),
        "{second}"
    );
    assert!(
        second.contains("fleetbench_latency_seconds_bucket{metric=\"agent_response\",le=\"+Inf\"}"),
        "{second}"
    );
    assert!(sample(&second, "fleetbench_agents_alive") > 0, "{second}");
    assert_eq!(sample(&second, "fleetbench_run_done"), 0);
    for counter in [
        "turns",
        "llm_calls",
        "tool_calls",
        "tokens_in",
        "tokens_out",
    ] {
        let name = format!("fleetbench_{counter}_total");
        let (a, b) = (sample(&first, &name), sample(&second, &name));
        assert!(b > a, "{name} grows between scrapes: {a} then {b}");
    }
    // --metrics-linger: once the reports are written, the endpoint serves the final figures.
    run.wait_for(|l| l.starts_with("metrics: the run is done"));
    let last = scrape(&addr);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json is written"),
    )
    .expect("the report is JSON");
    assert_eq!(sample(&last, "fleetbench_run_done"), 1, "{last}");
    assert_eq!(sample(&last, "fleetbench_agents_alive"), 0, "{last}");
    // Every counter of the report is exported under its key, equal to the report's.
    let counters = report["counters"].as_object().expect("counters");
    assert!(counters.len() > 10, "{counters:?}");
    for (key, value) in counters {
        let Some(total) = value.as_u64() else {
            continue;
        };
        let name = format!("fleetbench_{key}_total");
        assert!(
            sample(&second, &name) <= total,
            "{key}: mid-run above the report"
        );
        assert_eq!(sample(&last, &name), total, "{key}");
    }
    assert!(sample(&last, "fleetbench_turns_total") > sample(&second, "fleetbench_turns_total"));
    // A signal ends the wait; the run itself was not interrupted: it exits 0.
    run.signal("TERM");
    let done = run.finish(Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
}

#[test]
fn a_metrics_address_that_cannot_be_bound_exits_2_before_the_run() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds loopback");
    let addr = taken.local_addr().expect("bound").to_string();
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--metrics-listen", &addr])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("--metrics-listen {addr}")) && stderr.contains("pick a free port"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("scenario `smoke`"),
        "the plan is not printed: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.is_empty(), "no run, no summary: {stdout}");
}
