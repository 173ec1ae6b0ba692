use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Finished, Running, fleetbench, scenario};

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the report file exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

pub(crate) fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value =
        read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// A copy of smoke.toml with `extra` appended to its `[targets]`.
fn smoke_with_targets(dir: &Path, extra: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("smoke.toml")).expect("the fixture exists");
    let path = dir.join("smoke-targets.toml");
    std::fs::write(&path, format!("{text}{extra}\n")).expect("the temp dir is writable");
    path
}

#[test]
fn a_live_run_against_the_embedded_mock_writes_valid_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--duration", "3s", "--out"])
        .arg(&out)
        .args(["--format", "md,junit"])
        .assert()
        .code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stdout.contains("PASS: all 6 targets met"), "{stdout}");
    assert!(
        stderr.contains("agents") && stderr.contains("turns"),
        "plain progress lines under CI=true: {stderr}"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["clock"], "live");
    assert_eq!(report["passed"], true);
    assert!(
        report["counters"]["turns"].as_u64().unwrap() > 10,
        "{}",
        report["counters"]
    );
    assert!(report["process"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| agent_response_p95 |"), "{md}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 6, "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
}

#[test]
fn a_failed_target_exits_1_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let file = smoke_with_targets(dir.path(), "agent_response_p95 = \"1ms\"");
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(&file)
        .args([
            "--clock",
            "virtual",
            "--duration",
            "3s",
            "--format",
            "junit",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("FAIL: 1 of 6 targets missed: agent_response_p95"),
        "{stdout}"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["passed"], false);
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
}

#[test]
fn bad_run_input_exits_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .arg("--out")
        .arg(file.join("sub"))
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("--out") && err.contains("not-a-dir"), "{err}");
    let assert = fleetbench()
        .args(["run", "--format", "pdf", "--out", "x"])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("pdf") && err.contains("junit"), "{err}");
}

/// An existing directory nobody may write to fails at the start, before the run: creating it
/// succeeds (it exists), so a probe file tells. The tests run as root in CI, and root ignores
/// permission bits, so a `chmod` read-only directory would not do: `/proc` is a directory
/// where the kernel refuses new files to root too.
#[cfg(target_os = "linux")]
#[test]
fn an_existing_directory_that_cannot_be_written_fails_before_the_run() {
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--out", "/proc"])
        .assert()
        .code(2);
    let out = assert.get_output();
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains(
            "--out /proc: cannot write a file in the directory; give a directory you can write to"
        ) && err.contains("(os error"),
        "names the flag, the path, the fix and the OS reason: {err}"
    );
    // Nothing ran: no plan, no progress, no summary.
    assert!(!err.contains("scenario `smoke`"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A virtual run's report without the machine-dependent `process` section.
fn virtual_report(seed: u64, dir: &Path) -> (String, Value) {
    let out = dir.join(format!("seed-{seed}-{}", rand_suffix(dir)));
    fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--seed", &seed.to_string(), "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json was written");
    let mut value: Value = serde_json::from_str(&text).expect("the report is JSON");
    value
        .as_object_mut()
        .expect("the report is an object")
        .remove("process");
    (text, value)
}

fn rand_suffix(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_virtual_run_is_reproducible_and_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let (text_a, a) = virtual_report(7, dir.path());
    let (text_b, b) = virtual_report(7, dir.path());
    let (_, c) = virtual_report(8, dir.path());
    // Byte-identical apart from `process`, which is the last section.
    let cut = |t: &str| t[..t.find("\"process\"").unwrap()].to_owned();
    assert_eq!(cut(&text_a), cut(&text_b));
    assert_eq!(a, b);
    assert_ne!(a["latency"], c["latency"]);
    assert_ne!(a["counters"], c["counters"]);
    // The numbers themselves, pinned: a change to them is a change of behaviour to review.
    let mut pinned = a;
    for h in pinned["latency"].as_object_mut().unwrap().values_mut() {
        h.as_object_mut().unwrap().remove("hdr");
    }
    pinned["fleetbench_version"] = Value::from("[version]");
    insta::assert_json_snapshot!("virtual_smoke_seed_7", pinned);
}

/// How long a signalled run may take to end: the grace period is 2 s (smoke.toml) and the
/// calls in flight end in milliseconds, so this only catches a run the signal did not stop.
const STOPS_WITHIN: Duration = Duration::from_secs(30);

/// Checks a run a first `signal` stopped: exit 3, the note on stderr, the reports marked
/// interrupted (a failed JUnit case), the summary's line; returns report.json.
fn assert_interrupted(signal: &str, done: &Finished, out: &Path) -> Value {
    let Finished {
        status,
        stderr,
        stdout,
    } = done;
    assert_eq!(status.code(), Some(3), "{signal}: {status:?}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "interrupted by SIG{signal}: finishing calls in flight"
        )),
        "{signal}: {stderr}"
    );
    assert!(
        stdout.contains("\nINTERRUPTED: a signal stopped the run before its end"),
        "{signal}: {stdout}"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["stop"], "interrupted", "{signal}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml was written");
    assert!(
        junit.contains("name=\"run interrupted\"")
            && junit.contains("<failure message=\"the run was interrupted\""),
        "{signal}: {junit}"
    );
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .expect("report.md was written")
            .contains("| interrupted |"),
        "{signal}"
    );
    report
}

/// Runs the smoke scenario with `args` three times at once, sends SIGINT, SIGTERM and SIGHUP
/// to one run each once `started` accepts a line of its stderr, and checks each stopped
/// gracefully (`assert_interrupted`); returns the reports.
fn signalled_runs(args: &[&str], started: fn(&str) -> bool) -> Vec<(&'static str, Value)> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runs: Vec<_> = ["INT", "TERM", "HUP"]
        .into_iter()
        .map(|signal| {
            let out = dir.path().join(signal);
            let mut argv = vec!["run".into(), scenario("smoke.toml").into_os_string()];
            argv.extend(args.iter().map(Into::into));
            argv.extend(["--format".into(), "md,junit".into(), "--out".into()]);
            argv.push(out.clone().into_os_string());
            let mut run = Running::spawn(argv);
            run.wait_for(started);
            run.signal(signal);
            (signal, out, run)
        })
        .collect();
    runs.into_iter()
        .map(|(signal, out, run)| {
            let done = run.finish(STOPS_WITHIN);
            (signal, assert_interrupted(signal, &done, &out))
        })
        .collect()
}

#[test]
fn sigint_sigterm_and_sighup_stop_a_live_run_gracefully_with_exit_3_and_the_reports() {
    // The three at once, each on its own run (a live run is mostly waiting), each signalled at
    // its first progress line: the fleet is under way, calls are in flight.
    for (signal, report) in signalled_runs(&["--duration", "20s"], |line| line.starts_with('[')) {
        assert_eq!(report["clock"], "live");
        assert!(
            report["simulated_ms"].as_u64().unwrap() < 20_000,
            "{signal}"
        );
        assert!(
            report["counters"]["turns"].as_u64().unwrap() > 0,
            "{signal}"
        );
    }
}

#[test]
fn sigint_sigterm_and_sighup_stop_a_virtual_run_with_exit_3_and_the_reports() {
    // Ten simulated hours take many minutes here: each signal arrives mid-run. It is sent once
    // the plan is printed, which is once the signals are caught (the first progress line
    // would come after an hour of simulated time, minutes here).
    let args = ["--clock", "virtual", "--duration", "10h"];
    for (signal, report) in signalled_runs(&args, |line| line.starts_with("scenario `smoke`")) {
        assert_eq!(report["clock"], "virtual");
        assert!(
            report["simulated_ms"].as_u64().unwrap() < 10 * 3_600_000,
            "{signal}"
        );
    }
}

#[test]
fn a_second_signal_quits_at_once_with_128_plus_its_number_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    // Every LLM call takes a minute and the grace period is a minute: after the first signal
    // the run waits for its calls in flight, so the second one arrives during the grace.
    let text = std::fs::read_to_string(scenario("smoke.toml")).unwrap();
    let slow = dir.path().join("slow.toml");
    let text = text.replace("grace = \"2s\"", "grace = \"60s\"").replace(
        "base_latency = { dist = \"lognormal\", median = \"20ms\", p95 = \"60ms\" }",
        "base_latency = \"60s\"",
    );
    assert!(text.contains("grace = \"60s\"") && text.contains("base_latency = \"60s\""));
    std::fs::write(&slow, text).unwrap();
    let runs: Vec<_> = [
        ("TERM", "TERM", 143),
        ("HUP", "INT", 130),
        ("INT", "HUP", 129),
    ]
    .into_iter()
    .map(|(first, second, code)| {
        let out = dir.path().join(format!("{first}-{second}"));
        let mut run = Running::spawn([
            "run".as_ref(),
            slow.as_os_str(),
            "--duration".as_ref(),
            "20s".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        run.wait_for(|line| line.starts_with('['));
        run.signal(first);
        run.wait_for(|line| line.starts_with("interrupted by"));
        run.signal(second);
        (second, code, out, run)
    })
    .collect();
    for (second, code, out, run) in runs {
        // Within STOPS_WITHIN: well before the minute the grace would last.
        let done = run.finish(STOPS_WITHIN);
        assert_eq!(done.status.code(), Some(code), "{second}: {}", done.stderr);
        assert!(
            done.stderr
                .contains(&format!("SIG{second}: quitting without a report")),
            "{}",
            done.stderr
        );
        assert!(!out.join("report.json").exists(), "{second}");
    }
}

#[test]
fn shards_split_a_virtual_run_and_are_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = fleetbench()
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--shards", "2", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("virtual clock in 2 shards"), "{stdout}");
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new());
    assert_eq!(report["shards"], 2);
    assert_eq!(report["agents"]["count"], 20);
    for (args, says) in [
        (
            &["--clock", "live", "--shards", "2"][..],
            "applies to the virtual clock only",
        ),
        (
            &["--clock", "virtual", "--shards", "0"][..],
            "invalid shards `0`",
        ),
        (
            &["--clock", "virtual", "--shards", "21"][..],
            "more than the 20 agents",
        ),
    ] {
        let assert = fleetbench()
            .arg("run")
            .arg(scenario("smoke.toml"))
            .args(args)
            .assert()
            .code(2);
        let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(
            err.contains("fleet.shards") && err.contains(says) && err.contains("--shards"),
            "{args:?}: {err}"
        );
    }
}

/// `fixtures/scenarios/compression.toml` with `offload` and `extra` in `[compression]`, run
/// for 30 virtual seconds with 10 agents: its report, checked against the schema.
fn offload_report(dir: &Path, name: &str, extra: &str) -> Value {
    let text = std::fs::read_to_string(scenario("compression.toml")).expect("the fixture exists");
    let text = text
        .replace(
            "strategy = \"observation-masking+rolling-summary\"",
            &format!("strategy = \"offload\"\n{extra}"),
        )
        .replace("mask_keep_last = 3\n", "")
        .replace("min_concurrent_agents = 200", "min_concurrent_agents = 10");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("the temp dir is writable");
    let out = dir.join(name);
    fleetbench()
        .arg("run")
        .arg(&path)
        .args(["--clock", "virtual", "--agents", "10", "--duration", "30s"])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    let report = read_json(&out.join("report.json"));
    assert_eq!(schema_errors(&report), Vec::<String>::new(), "{name}");
    report
}

#[test]
fn offloading_agents_report_their_cold_stores_recalls_and_shared_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let plain = offload_report(dir.path(), "plain", "");
    let dict = offload_report(dir.path(), "dict", "zstd_dictionary = 16384");
    let recall = offload_report(dir.path(), "recall", "recall_probability = 0.2");
    let n = |r: &Value, key: &str| r["counters"][key].as_u64();
    // Offloading fills the stores; no recall without recall_probability (the key is absent).
    let (bytes, raw) = (
        n(&plain, "cold_bytes").unwrap(),
        n(&plain, "cold_raw_bytes").unwrap(),
    );
    assert!(bytes > 0 && raw > 2 * bytes, "{}", plain["counters"]);
    assert_eq!(n(&plain, "recalls"), None);
    // The dictionary stores the same spans in fewer bytes and changes nothing else.
    assert_eq!(n(&dict, "cold_raw_bytes"), Some(raw));
    assert!(
        n(&dict, "cold_bytes").unwrap() < bytes,
        "{}",
        dict["counters"]
    );
    assert_eq!(n(&dict, "tokens_in"), n(&plain, "tokens_in"));
    // Recalls are counted, with the tokens they bring back.
    assert!(n(&recall, "recalls").unwrap() > 0, "{}", recall["counters"]);
    assert!(n(&recall, "recalled_tokens").unwrap() > n(&recall, "recalls").unwrap());
}
