//! The human-readable reports of the fixed run, as reviewed snapshots.

use crate::fixture;

#[test]
fn terminal() {
    insta::assert_snapshot!(
        "terminal",
        fleetbench_report::terminal(&fixture::snapshot())
    );
}

#[test]
fn markdown() {
    insta::assert_snapshot!(
        "markdown",
        fleetbench_report::markdown(&fixture::snapshot())
    );
}

#[test]
fn junit() {
    insta::assert_snapshot!("junit", fleetbench_report::junit(&fixture::snapshot()));
}

#[test]
fn terminal_of_an_empty_run() {
    insta::assert_snapshot!(
        "terminal_empty",
        fleetbench_report::terminal(&fixture::empty())
    );
}

#[test]
fn a_run_that_meets_its_targets_says_pass() {
    let s = fixture::snapshot_with(&fixture::lenient_targets());
    assert!(s.passed, "{:#?}", s.targets);
    let text = fleetbench_report::terminal(&s);
    assert!(text.ends_with("\nPASS: all 6 targets met\n"), "{text}");
    assert!(fleetbench_report::markdown(&s).contains("**PASS: all 6 targets met**"));
    let xml = fleetbench_report::junit(&s);
    assert!(xml.contains("tests=\"6\" failures=\"0\""), "{xml}");
    assert!(!xml.contains("<failure"));
}

#[test]
fn a_failed_run_names_the_missed_targets() {
    let text = fleetbench_report::terminal(&fixture::snapshot());
    assert!(
        text.ends_with("\nFAIL: 2 of 7 targets missed: error_rate, ttft_p99\n"),
        "{text}"
    );
}

#[test]
fn junit_escapes_the_scenario_name() {
    let mut s = fixture::snapshot();
    s.scenario = r#"a<b>&"c'"#.to_owned();
    let xml = fleetbench_report::junit(&s);
    assert!(
        xml.contains(r#"<testsuite name="fleetbench: a&lt;b&gt;&amp;&quot;c&apos;""#),
        "{xml}"
    );
}
