use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{Running, fleetbench, scenario, with_stdout_closed};

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

/// Every override flag, given a bad value: exit 2, and stderr names the flag, the value and a
/// fix (the loader's own rules, run with the flag's value in place of the file's).
#[test]
fn a_bad_value_of_each_override_flag_names_the_flag_the_value_and_a_fix() {
    let cases: [(&[&str], &[&str]); 9] = [
        (
            &["--agents", "0"],
            &["command line (--agents)", "`0`", "must be at least 1"],
        ),
        (
            &["--agents", "2000000"],
            &["command line (--agents)", "`2000000`", "at most 1000000"],
        ),
        (
            &["--shards", "0"],
            &["command line (--shards)", "`0`", "give 1 to 256"],
        ),
        (
            &["--shards", "2", "--clock", "live"],
            &["command line (--shards)", "`2`", "clock = \"virtual\""],
        ),
        (
            &["--duration", "0s"],
            &["command line (--duration)", "`0s`", "longer than zero"],
        ),
        (
            &["--duration", "2y"],
            &["--duration", "`2y`", "use a shorter one"],
        ),
        (
            &["--base-url", "http://127.0.0.1:0/v1"],
            &["command line (--base-url)", "127.0.0.1:0", "use 1 to 65535"],
        ),
        (&["--model", ""], &["--model", "''", "give a name like"]),
        (
            &["--clock", "sundial"],
            &["--clock", "sundial", "possible values: live, virtual"],
        ),
    ];
    for (flags, want) in cases {
        let assert = fleetbench()
            .arg("run")
            .arg(scenario("smoke.toml"))
            .args(flags)
            .arg("--plan")
            .assert()
            .code(2);
        let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        for w in want {
            assert!(err.contains(w), "{flags:?}: `{w}` missing from: {err}");
        }
        // The flag's value has no place in the file: no file position is given for it.
        assert!(!err.contains("smoke.toml:"), "{flags:?}: {err}");
    }
}

/// Flags replace the file's values before they are checked: a file value a flag replaces is
/// never judged, and a problem the flags cause elsewhere says which flags were given.
#[test]
fn flags_are_laid_over_the_file_before_it_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[fleet]\nagents = 0\nduration = \"99y\"\n").unwrap();
    fleetbench()
        .arg("run")
        .arg(&bad)
        .arg("--plan")
        .assert()
        .code(2);
    let out = fleetbench()
        .arg("run")
        .arg(&bad)
        .args(["--agents", "3", "--duration", "4s", "--plan"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("3 agents") && text.contains("stop after 4s"),
        "{text}"
    );

    let sharded = dir.path().join("sharded.toml");
    fs::write(
        &sharded,
        "clock = \"virtual\"\n[fleet]\nagents = 4\nshards = 2\n",
    )
    .unwrap();
    let assert = fleetbench()
        .arg("run")
        .arg(&sharded)
        .args(["--clock", "live", "--plan"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let want = format!("{}:4:10: key `fleet.shards`", sharded.display());
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("(with --clock live from the command line)"),
        "{err}"
    );
}

#[test]
fn print_scenario_shows_the_flags_values() {
    let out = fleetbench()
        .arg("print-scenario")
        .arg(scenario("smoke.toml"))
        .args(["--agents", "7", "--seed", "9", "--clock", "virtual"])
        .args(["--base-url", "http://127.0.0.1:8000/v1", "--model", "m1"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for want in [
        "seed = 9\n",
        "clock = \"virtual\"\n",
        "agents = 7\n",
        "base_url = \"http://127.0.0.1:8000/v1\"\n",
        "model = \"m1\"\n",
    ] {
        assert!(text.contains(want), "`{want}` missing from: {text}");
    }
    assert!(!text.contains("base_url = \"embedded\""), "{text}");
}

fn ci_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/ci")
        .join(name)
}

/// `fleetbench … | head -c1`: every command that prints to stdout ends with its own exit code
/// when the reader has gone, instead of panicking (exit 101).
#[test]
fn a_closed_stdout_is_no_panic_and_keeps_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.jsonl");
    fleetbench()
        .args([
            "corpus",
            "generate",
            "--conversations",
            "2",
            "--turns",
            "8",
            "--out",
        ])
        .arg(&corpus)
        .assert()
        .success();
    let smoke = scenario("smoke.toml");
    let baseline = ci_fixture("baseline.json");
    let commands: [Vec<&std::ffi::OsStr>; 6] = [
        vec!["print-scenario".as_ref(), smoke.as_os_str()],
        vec!["validate".as_ref(), smoke.as_os_str()],
        vec!["run".as_ref(), "--plan".as_ref()],
        vec!["corpus".as_ref(), "generate".as_ref()],
        vec![
            "compress".as_ref(),
            "--corpus".as_ref(),
            corpus.as_os_str(),
            "--strategy".as_ref(),
            "rolling-summary".as_ref(),
        ],
        vec![
            "compare".as_ref(),
            baseline.as_os_str(),
            baseline.as_os_str(),
        ],
    ];
    for args in commands {
        let out = with_stdout_closed(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// A run whose stdout is closed still writes its reports (they come before the summary) and
/// exits with the run's code.
#[test]
fn a_run_with_a_closed_stdout_writes_its_reports_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let smoke = scenario("smoke.toml");
    let out = with_stdout_closed([
        "run".as_ref(),
        smoke.as_os_str(),
        "--clock".as_ref(),
        "virtual".as_ref(),
        "--format".as_ref(),
        "md,junit".as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for file in ["report.json", "report.md", "junit.xml"] {
        assert!(out_dir.join(file).is_file(), "{file} is missing: {stderr}");
    }
}

/// `serve` stops cleanly, with its summary and exit 0, on each of the signals that end a run.
#[test]
fn serve_stops_cleanly_on_sigint_sigterm_and_sighup() {
    for signal in ["INT", "TERM", "HUP"] {
        let mut server = Running::spawn(["serve", "--port", "0"]);
        // Its first line is on stdout; stderr says nothing until it stops, so wait on stdout.
        let first = server.first_stdout_line();
        assert!(first.starts_with("fleetbench mock serving on"), "{first}");
        server.signal(signal);
        let done = server.finish(Duration::from_secs(30));
        assert_eq!(done.status.code(), Some(0), "SIG{signal}: {}", done.stderr);
        assert!(
            done.stdout
                .contains("served 0 chat, 0 responses and 0 tool requests"),
            "SIG{signal}: {}",
            done.stdout
        );
        assert!(
            done.stderr.contains(&format!("SIG{signal}: stopping")),
            "{}",
            done.stderr
        );
    }
}
