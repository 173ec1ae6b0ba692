use std::fs;

use crate::common::{fleetbench, scenario};

#[test]
fn help_lists_the_commands() {
    let out = fleetbench()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for cmd in ["run", "serve", "validate", "print-scenario"] {
        assert!(text.contains(cmd), "{text}");
    }
}

#[test]
fn validate_accepts_the_shipped_scenarios() {
    let out = fleetbench()
        .arg("validate")
        .args(["smoke.toml", "default.toml", "support-fleet.toml"].map(scenario))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok: ")).count(),
        3,
        "{text}"
    );
}

#[test]
fn validate_rejects_bad_input_with_exit_2_and_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[fleet]\nagents = 10\n\n[session]\nthink_time = { dist = \"lognormal\", median = \"3s\", p95 = \"1s\" }\n").unwrap();
    let assert = fleetbench().arg("validate").arg(&bad).assert().code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let want = format!(
        "{}:5:14: key `session.think_time`: invalid lognormal distribution",
        bad.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("p95 `1s` is below the median `3s`"), "{err}");
}

#[test]
fn a_missing_file_is_exit_2_and_names_the_path() {
    let assert = fleetbench()
        .args(["validate", "no/such/file.toml"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("cannot read scenario file `no/such/file.toml`"),
        "{err}"
    );
}

#[test]
fn unknown_flags_are_usage_errors() {
    fleetbench().args(["serve", "--prot", "1"]).assert().code(2);
}

#[test]
fn print_scenario_output_is_a_valid_scenario_with_defaults_filled() {
    let out = fleetbench()
        .arg("print-scenario")
        .arg(scenario("smoke.toml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("[targets]") && text.contains("error_rate = 0.001"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("effective.toml");
    fs::write(&path, &text).unwrap();
    fleetbench().arg("validate").arg(&path).assert().success();
    let again = fleetbench()
        .arg("print-scenario")
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(again).unwrap(), text);
}

#[test]
fn the_default_scenario_plans_a_large_fleet() {
    // `fleetbench` alone runs this plan (30 s, 2,000 agents): the e2e tests run small fleets.
    let out = fleetbench()
        .args(["run", "--plan"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("scenario `default`") && text.contains("2000 agents"),
        "{text}"
    );
}

#[test]
fn run_flags_are_checked_and_name_the_flag() {
    let assert = fleetbench().args(["run", "--agents", "0"]).assert().code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("command line (--agents): key `fleet.agents`: invalid value `0`"),
        "{err}"
    );
    let assert = fleetbench()
        .args(["run", "--base-url", "localhost:8000"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("--base-url") && err.contains("invalid base_url `localhost:8000`"),
        "{err}"
    );
    let assert = fleetbench()
        .args(["run", "--duration", "soon"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("--duration") && err.contains("soon"), "{err}");
    // Ten agents cannot meet the default's 1,000-agent target: the run completes and exits 1.
    let assert = fleetbench()
        .args([
            "run",
            "--agents",
            "10",
            "--duration",
            "5s",
            "--clock",
            "virtual",
            "--seed",
            "3",
        ])
        .assert()
        .code(1);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        out.lines()
            .last()
            .is_some_and(|l| l.starts_with("FAIL") && l.contains("min_concurrent_agents")),
        "{out}"
    );
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("ramping up over 1s 666ms"), "{err}");
}
