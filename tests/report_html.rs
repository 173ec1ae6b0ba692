//! `run --format html` (issue 17): a virtual smoke run writes one self-contained
//! `report.html` (verdict and targets first, SVG charts, nothing fetched) that agrees with
//! report.json (`--format html` without `--out`: tests/run_outputs.rs, with csv).

use serde_json::Value;

use crate::common::{fleetbench, scenario};

#[test]
fn a_virtual_run_writes_a_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args([
            "--clock", "virtual", "--seed", "7", "--format", "html", "--out",
        ])
        .arg(&out)
        .assert()
        .code(0);
    let page = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();

    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.ends_with("</html>\n"));
    for needle in [
        "http:", "https:", "//", "<script", "<link", "@import", "url(", "src=",
    ] {
        assert!(!page.contains(needle), "report.html holds {needle:?}");
    }
    let scenario = report["scenario"].as_str().unwrap();
    assert!(page.contains(&format!("<h1>fleetbench: {scenario}</h1>")));
    let verdict = if report["passed"].as_bool().unwrap() {
        "<p class=\"verdict pass\"><strong>PASS"
    } else {
        "<p class=\"verdict fail\">"
    };
    let at = page.find(verdict).expect("the verdict");
    assert!(
        at < page.find("<svg").expect("a chart"),
        "the verdict comes first"
    );
    // A row per target of report.json, and a percentile curve per latency metric recorded.
    for t in report["targets"].as_array().unwrap() {
        let name = t["target"].as_str().unwrap();
        assert!(page.contains(&format!("<tr><td>{name}</td>")), "{name}");
    }
    for (metric, h) in report["latency"].as_object().unwrap() {
        let label = format!("aria-label=\"percentile curve of {metric}\"");
        assert_eq!(
            page.contains(&label),
            h["count"].as_u64() > Some(0),
            "{metric}"
        );
    }
    assert!(page.contains("aria-label=\"peak memory per agent\""));
    // The run over time, from the interval log written beside the page.
    for label in ["agent_response over time", "agents alive", "throughput"] {
        assert!(page.contains(&format!("aria-label=\"{label}\"")), "{label}");
    }
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
}

/// The default run's page in a real browser: headless Chromium (Debian's `chromium`, which
/// `.ci/run` installs) renders it with no console message and no network request, and takes a
/// screenshot (tests/browser/check_page.py, whose control pages prove it would see either).
#[test]
fn the_default_runs_page_opens_in_headless_chromium_with_no_console_message_or_request() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out");
    fleetbench()
        .args([
            "run",
            "--clock",
            "virtual",
            "--duration",
            "10s",
            "--format",
            "html",
        ])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    let shot = dir.path().join("report.png");
    chromium_check(&out.join("report.html"), &shot);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

/// The compression lab's page (`compress --format html`) in headless Chromium too: no console
/// message, no network request.
#[test]
fn the_lab_page_opens_in_headless_chromium_with_no_console_message_or_request() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let done = fleetbench()
        .args([
            "compress",
            "--generate",
            "coding:2",
            "--strategy",
            "window",
            "--strategy",
            "observation-masking+rolling-summary",
            "--prices",
            "gpt-4o-mini",
            "--format",
            "html",
        ])
        .assert()
        .code(0);
    let page = dir.path().join("lab.html");
    std::fs::write(&page, &done.get_output().stdout).expect("the page is written");
    let shot = dir.path().join("lab.png");
    chromium_check(&page, &shot);
    assert!(
        std::fs::read(&shot)
            .expect("the screenshot")
            .starts_with(b"\x89PNG")
    );
}

/// tests/browser/check_page.py on `page`: headless Chromium renders it with no console message
/// and no network request, and writes the screenshot `shot`.
fn chromium_check(page: &std::path::Path, shot: &std::path::Path) {
    let check = std::process::Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check_page.py"))
        .arg(page)
        .arg(shot)
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
