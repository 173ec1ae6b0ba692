//! The CI gate: the CI scenario is reproducible and matches its baseline, a budget breach
//! fails the run and names the target in junit.xml, `compare` classes changes and exits 0, 1
//! or 2 (docs/ci.md).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fleetbench, scenario};

/// A path under `fixtures/ci/`.
fn ci(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/ci")
        .join(name)
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).expect("stderr is UTF-8")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the report file exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn write_json(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("a JSON value serializes");
    std::fs::write(path, text).expect("the temp dir is writable");
}

/// Runs the CI scenario with its budget into `out`, as `fixtures/ci/gate.sh` does; returns
/// report.json's text.
fn ci_run(out: &Path) -> String {
    fleetbench()
        .arg("run")
        .arg(ci("scenario.toml"))
        .arg("--budget")
        .arg(ci("budget.toml"))
        .args(["--format", "junit", "--out"])
        .arg(out)
        .assert()
        .code(0);
    std::fs::read_to_string(out.join("report.json")).expect("report.json was written")
}

/// A report's text with its `process` section zeroed, serialized as the binary writes it.
fn without_process(text: &str) -> String {
    let mut snapshot: metrics::RunSnapshot =
        serde_json::from_str(text).expect("the report parses as the snapshot of this build");
    snapshot.process = metrics::ProcessStats::default();
    report::json(&snapshot)
}

/// Two texts are the same; if not, the first differing line says where (reports are long).
fn assert_same(a: &str, b: &str) {
    if a == b {
        return;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let around = |l: &[&str]| l[at.saturating_sub(8)..(at + 3).min(l.len())].join("\n");
    panic!(
        "the reports differ from line {}:\n--- first run\n{}\n--- second run\n{}",
        at + 1,
        around(&la),
        around(&lb)
    );
}

/// `compare --format json` of two files: the exit code and the document.
fn compare_json(base: &Path, new: &Path, extra: &[&str]) -> (i32, Value) {
    let assert = fleetbench()
        .arg("compare")
        .arg(base)
        .arg(new)
        .args(["--format", "json"])
        .args(extra)
        .assert();
    let code = assert.get_output().status.code().expect("exited");
    let doc = serde_json::from_str(&stdout(&assert)).expect("compare --format json is JSON");
    (code, doc)
}

fn classes(doc: &Value) -> Vec<(String, String)> {
    doc["metrics"]
        .as_array()
        .expect("a metrics list")
        .iter()
        .map(|m| {
            (
                m["metric"].as_str().expect("a metric name").to_owned(),
                m["class"].as_str().expect("a class").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_ci_scenario_is_reproducible_and_matches_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // Two processes at once: the test takes one run's time.
    let (text_a, text_b) = std::thread::scope(|s| {
        let first = s.spawn(|| ci_run(&a));
        let second = ci_run(&b);
        (first.join().expect("the first run finished"), second)
    });
    // `process` (RSS, CPU and wall time, the shared heap) is the machine's and differs from
    // run to run; everything before it, the last section, is byte-identical.
    let cut = |t: &str| t[..t.find("\n  \"process\": {").expect("a process section")].to_owned();
    assert_same(&cut(&text_a), &cut(&text_b));
    // And the whole report without it, as the binary serializes a snapshot.
    assert_same(&without_process(&text_a), &without_process(&text_b));
    let junit = std::fs::read_to_string(a.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 6, "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");

    // The gate: a fresh run against the committed baseline is noise, figure by figure.
    let (code, doc) = compare_json(&ci("baseline.json"), &a.join("report.json"), &[]);
    let changed: Vec<(String, String)> = classes(&doc)
        .into_iter()
        .filter(|(_, class)| class != "noise")
        .collect();
    assert_eq!(
        changed,
        Vec::<(String, String)>::new(),
        "fixtures/ci/baseline.json is stale: regenerate it with `fixtures/ci/gate.sh --rebaseline` (fixtures/ci/README.md)"
    );
    assert_eq!(code, 0);
    assert!(classes(&doc).len() > 50, "{doc}");
    assert_eq!(doc["only_in_base"], Value::Array(Vec::new()), "{doc}");
    assert_eq!(doc["only_in_new"], Value::Array(Vec::new()), "{doc}");
}

#[test]
fn a_breached_budget_fails_the_run_and_names_the_target_in_junit() {
    let dir = tempfile::tempdir().unwrap();
    let budget = dir.path().join("budget.toml");
    std::fs::write(
        &budget,
        "[targets]\nagent_response_p95 = \"1ms\"\nerror_rate = 0.01\nagent_memory = \"2MB\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--duration", "3s", "--budget"])
        .arg(&budget)
        .args(["--format", "junit", "--out"])
        .arg(&out)
        .assert()
        .code(1);
    let err = stderr(&assert);
    assert!(
        err.contains("sets agent_response_p95, agent_memory, error_rate"),
        "{err}"
    );
    let text = stdout(&assert);
    assert!(
        text.contains("FAIL: 1 of 6 targets missed: agent_response_p95"),
        "{text}"
    );
    let report = read_json(&out.join("report.json"));
    let limit = |name: &str| {
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["target"] == name)
            .unwrap()["limit"]
            .clone()
    };
    assert_eq!(limit("agent_response_p95"), 1.0, "from the budget");
    assert_eq!(limit("error_rate"), 0.01, "from the budget");
    assert_eq!(limit("agent_memory"), 2_000_000.0, "from the budget");
    assert_eq!(limit("min_concurrent_agents"), 20.0, "the scenario's own");

    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 6, "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    let case = |name: &str| {
        let start = junit
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no test case {name}: {junit}"));
        let end = start + junit[start..].find("</testcase>").unwrap();
        junit[start..end].to_owned()
    };
    let breached = case("agent_response_p95");
    assert!(
        breached.contains("<failure message=\"measured ")
            && breached.contains("limit &lt; 1 ms")
            && breached.contains("agent_response_p95: measured ")
            && breached.contains("must be &lt; 1 ms"),
        "{breached}"
    );
    for passing in ["error_rate", "agent_memory", "tool_call_p90"] {
        let case = case(passing);
        assert!(
            !case.contains("<failure") && case.contains("<system-out>measured "),
            "{case}"
        );
    }
}

/// `report` with every agent_response percentile and its target's measured value divided by
/// `factor`.
fn faster(report: &Value, factor: f64) -> Value {
    let mut r = report.clone();
    for field in ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"] {
        let v = &mut r["latency"]["agent_response"][field];
        *v = Value::from(v.as_f64().expect("a latency percentile") / factor);
    }
    for verdict in r["targets"].as_array_mut().expect("a targets list") {
        if verdict["target"] == "agent_response_p95" {
            let m = verdict["measured"].as_f64().expect("a measured p95");
            verdict["measured"] = Value::from(m / factor);
        }
    }
    r
}

#[test]
fn compare_fails_on_a_critical_regression_and_passes_identical_reports() {
    let dir = tempfile::tempdir().unwrap();
    let new = ci("baseline.json");
    let report = read_json(&new);

    let (code, doc) = compare_json(&new, &new, &[]);
    assert_eq!(code, 0, "{doc}");
    assert!(classes(&doc).iter().all(|(_, class)| class == "noise"));
    assert_eq!(doc["failed"], false);

    // A base 25 % better than the new run: the new run's response is 25 % slower.
    let base = dir.path().join("base.json");
    write_json(&base, &faster(&report, 1.25));
    let assert = fleetbench()
        .arg("compare")
        .arg(&base)
        .arg(&new)
        .assert()
        .code(1);
    let text = stdout(&assert);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("latency.agent_response.p95_ms "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("+25.0 %") && line.ends_with("critical (fails)"),
        "{line}"
    );
    assert!(
        text.contains("FAIL: 6 regression(s) reach critical"),
        "{text}"
    );
    let (code, doc) = compare_json(&base, &new, &[]);
    assert_eq!(code, 1);
    let changed: Vec<(String, String)> = classes(&doc)
        .into_iter()
        .filter(|(_, class)| class != "noise")
        .collect();
    assert!(
        changed.contains(&(
            "targets.agent_response_p95".to_owned(),
            "critical".to_owned()
        )),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .all(|(m, _)| m.starts_with("latency.agent_response.")
                || m == "targets.agent_response_p95"),
        "{changed:?}"
    );

    // The other way round it is an improvement: shown, never failing.
    let assert = fleetbench()
        .arg("compare")
        .arg(&new)
        .arg(&base)
        .assert()
        .code(0);
    // (-20 %: a warning's size, shown as an improvement.)
    assert!(stdout(&assert).contains("improved (warning)"));

    // --fail-on warning fails a 12.5 % regression that the default lets pass.
    let slightly = dir.path().join("slightly.json");
    write_json(&slightly, &faster(&report, 1.125));
    assert_eq!(compare_json(&slightly, &new, &[]).0, 0);
    assert_eq!(
        compare_json(&slightly, &new, &["--fail-on", "warning"]).0,
        1
    );
    assert_eq!(
        compare_json(&slightly, &new, &["--thresholds", "1,2,10"]).0,
        1
    );
}

#[test]
fn compare_takes_several_runs_a_side_and_notes_live_clocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut live = read_json(&ci("baseline.json"));
    live["clock"] = Value::from("live");
    // Two base runs, one 25 % faster than the other; the new run is the slower one again: 11 %
    // slower than the base median, but within the base runs' own range, so noise.
    let paths: Vec<PathBuf> = [1.0, 1.25, 1.0]
        .iter()
        .enumerate()
        .map(|(i, factor)| {
            let path = dir.path().join(format!("live-{i}.json"));
            write_json(&path, &faster(&live, *factor));
            path
        })
        .collect();
    let assert = fleetbench()
        .arg("compare")
        .arg("--base")
        .arg(&paths[0])
        .arg("--base")
        .arg(&paths[1])
        .arg("--new")
        .arg(&paths[2])
        .args(["--format", "json"])
        .assert()
        .code(0);
    let doc: Value = serde_json::from_str(&stdout(&assert)).unwrap();
    let p95 = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "latency.agent_response.p95_ms")
        .unwrap();
    let change = p95["change_pct"].as_f64().unwrap();
    assert!((change - 11.111).abs() < 0.01, "{p95}");
    assert_eq!(p95["trend"], "worse", "{p95}");
    assert_eq!(p95["class"], "noise", "{p95}");
    assert_eq!(p95["within_base_range"], true, "{p95}");
    assert!(doc["notes"][0].as_str().unwrap().contains("noisy"), "{doc}");
    // Against a virtual baseline: different clocks are refused, unless forced.
    let assert = fleetbench()
        .arg("compare")
        .arg(ci("baseline.json"))
        .arg(&paths[0])
        .assert()
        .code(2);
    let err = stderr(&assert);
    assert!(
        err.contains("clock `virtual`") && err.contains("`live`") && err.contains("--force"),
        "{err}"
    );
    fleetbench()
        .arg("compare")
        .arg(ci("baseline.json"))
        .arg(&paths[0])
        .arg("--force")
        .assert()
        .code(0);
}

#[test]
fn bad_budgets_and_bad_reports_exit_2_and_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let budget = dir.path().join("budget.toml");
    let run_with_budget = |text: &str| {
        std::fs::write(&budget, text).unwrap();
        let assert = fleetbench()
            .arg("run")
            .arg(ci("scenario.toml"))
            .arg("--budget")
            .arg(&budget)
            .assert()
            .code(2);
        let err = stderr(&assert);
        assert!(
            err.contains(budget.to_str().unwrap()),
            "names the file: {err}"
        );
        assert!(
            !err.contains("agents ·"),
            "fails before the run starts: {err}"
        );
        err
    };
    let err = run_with_budget("[targets]\nagent_response_p59 = \"2s\"\n");
    assert!(
        err.contains(":2:1: key `targets.agent_response_p59`: unknown field")
            && err.contains("expected one of `agent_response_p95`"),
        "{err}"
    );
    let err = run_with_budget("[targets]\ntool_call_p90 = \"soon\"\n");
    assert!(
        err.contains("key `targets.tool_call_p90`")
            && err.contains("`soon`")
            && err.contains("like \"250ms\""),
        "{err}"
    );
    let err = run_with_budget("[targets]\nerror_rate = 2\n");
    assert!(
        err.contains("key `targets.error_rate`") && err.contains("`2`"),
        "{err}"
    );
    let err = run_with_budget("[fleet]\nagents = 2\n");
    assert!(err.contains("only a [targets] table"), "{err}");

    let missing = dir.path().join("missing.toml");
    let assert = fleetbench()
        .arg("run")
        .arg(ci("scenario.toml"))
        .arg("--budget")
        .arg(&missing)
        .assert()
        .code(2);
    let err = stderr(&assert);
    assert!(
        err.contains("--budget") && err.contains("missing.toml") && err.contains("[targets]"),
        "{err}"
    );

    let gone = dir.path().join("gone.json");
    let assert = fleetbench()
        .arg("compare")
        .arg(ci("baseline.json"))
        .arg(&gone)
        .assert()
        .code(2);
    let err = stderr(&assert);
    assert!(
        err.contains("gone.json") && err.contains("cannot read the report"),
        "{err}"
    );
    let assert = fleetbench()
        .arg("compare")
        .arg(ci("budget.toml"))
        .arg(ci("baseline.json"))
        .assert()
        .code(2);
    let err = stderr(&assert);
    assert!(
        err.contains("budget.toml: not JSON") && err.contains("line 1"),
        "{err}"
    );
    let other = dir.path().join("other.json");
    let mut report = read_json(&ci("baseline.json"));
    report["scenario"] = Value::from("smoke");
    write_json(&other, &report);
    let assert = fleetbench()
        .arg("compare")
        .arg(ci("baseline.json"))
        .arg(&other)
        .assert()
        .code(2);
    let err = stderr(&assert);
    assert!(
        err.contains("scenario `ci`") && err.contains("`smoke`") && err.contains("--force"),
        "{err}"
    );
    fleetbench()
        .args(["compare", "a.json", "b.json", "--thresholds", "20,10,5"])
        .assert()
        .code(2);
}

#[test]
fn compare_refuses_a_figure_of_the_wrong_type_naming_file_path_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.json");
    let mut report = read_json(&ci("baseline.json"));
    report["counters"]["turns"] = Value::from("many");
    write_json(&damaged, &report);
    for (base, new) in [
        (ci("baseline.json"), damaged.clone()),
        (damaged.clone(), ci("baseline.json")),
    ] {
        let assert = fleetbench()
            .arg("compare")
            .arg(&base)
            .arg(&new)
            .assert()
            .code(2);
        let err = stderr(&assert);
        assert!(
            err.contains(&format!(
                "{}: `counters.turns` is \"many\", expected a whole number",
                damaged.display()
            )) && err.contains("fleetbench run --out DIR"),
            "{err}"
        );
        assert!(stdout(&assert).is_empty(), "no table for a damaged report");
    }
    // A figure the report lacks is still only left out (an older report).
    report["counters"].as_object_mut().unwrap().remove("turns");
    write_json(&damaged, &report);
    fleetbench()
        .arg("compare")
        .arg(ci("baseline.json"))
        .arg(&damaged)
        .assert()
        .code(0);
}
