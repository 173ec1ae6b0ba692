//! `run --part I/N` and `merge`: parts run as processes of their own and merged give the
//! sharded run's report under the virtual clock; live parts against one mock merge exactly;
//! parts that do not belong together, or are missing or twice, are exit 2 naming the part.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;

use crate::common::{Running, fleetbench, scenario};

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// Runs `fleetbench` with `args`; its exit code must be one of `codes`.
fn fleetbench_ok(args: &[&str], codes: &[i32]) -> std::process::Output {
    let output = fleetbench().args(args).output().expect("fleetbench runs");
    let code = output.status.code().unwrap_or(-1);
    assert!(
        codes.contains(&code),
        "fleetbench {args:?} exited {code}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `report.json` of `dir` without its `process` section, as text.
fn without_process(dir: &Path) -> String {
    let mut report = read_json(&dir.join("report.json"));
    report
        .as_object_mut()
        .expect("an object")
        .remove("process")
        .expect("a process section");
    serde_json::to_string_pretty(&report).expect("serializes")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn virtual_parts_as_processes_merge_into_the_sharded_run_s_report() {
    for (file, agents) in [("default.toml", "16"), ("faults.toml", "12")] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (sharded, parts, merged) = (
            dir.path().join("sharded"),
            dir.path().join("parts"),
            dir.path().join("merged"),
        );
        let scenario = scenario(file);
        let common = [
            path(&scenario),
            "--clock",
            "virtual",
            "--agents",
            agents,
            "--duration",
            "90s",
            "--seed",
            "7",
        ];
        let run = |extra: &[&str]| {
            let mut args = vec!["run"];
            args.extend(common);
            args.extend(extra);
            fleetbench_ok(&args, &[0, 1]);
        };
        run(&["--shards", "2", "--out", path(&sharded)]);
        run(&["--part", "1/2", "--out", path(&parts)]);
        run(&["--part", "0/2", "--out", path(&parts)]);
        fleetbench_ok(&["merge", path(&parts), "--out", path(&merged)], &[0, 1]);
        assert_eq!(
            without_process(&merged),
            without_process(&sharded),
            "{file}: the merged parts are the sharded run"
        );
        for log in ["intervals.jsonl", "intervals.hlog"] {
            let (a, b) = (
                std::fs::read(sharded.join(log)).expect("the sharded run's log"),
                std::fs::read(merged.join(log)).expect("the merged log"),
            );
            assert!(
                a == b,
                "{file}: {log} differs between the sharded run and the merge"
            );
        }
        let process = &read_json(&merged.join("report.json"))["process"];
        let indices: Vec<u64> = process["parts"]
            .as_array()
            .expect("the parts' processes")
            .iter()
            .map(|p| p["index"].as_u64().expect("an index"))
            .collect();
        assert_eq!(indices, [0, 1], "{file}");
        assert!(
            process.get("start_spread_ms").is_none(),
            "virtual parts have no start"
        );
    }
}

/// `fleetbench serve` on a free port: the process and its base URL.
fn mock() -> (Running, String) {
    let mut server = Running::spawn(["serve", "--port", "0"]);
    let base = server.served_url();
    (server, base)
}

/// The histogram a report or part holds as `hdr`.
fn decode(hdr: &Value) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(hdr.as_str().expect("an hdr string"))
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("an HdrHistogram")
}

#[test]
fn live_parts_against_one_mock_merge_exactly() {
    let (_server, base) = mock();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("live.toml");
    std::fs::write(
        &file,
        format!(
            r#"name = "live-parts"
clock = "live"
[fleet]
agents = 6
duration = "2s"
grace = "2s"
[session]
turns = 3
think_time = "50ms"
[[llm.providers]]
name = "mock"
base_url = "{base}"
model = "mock-gpt"
"#
        ),
    )
    .expect("writable");
    let (parts, merged) = (dir.path().join("parts"), dir.path().join("merged"));
    let at = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3),
    )
    .to_string();
    let part = |i: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fleetbench"))
            .args(["run", path(&file), "--part", i, "--start-at", &at, "--out"])
            .arg(&parts)
            .env("CI", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("a part starts")
    };
    let (mut zero, mut one) = (part("0/2"), part("1/2"));
    for child in [&mut zero, &mut one] {
        let status = child.wait().expect("the part ends");
        assert_eq!(status.code(), Some(0), "a part that ran exits 0");
    }
    let out = fleetbench_ok(&["merge", path(&parts), "--out", path(&merged)], &[0, 1]);
    assert!(!out.stdout.is_empty(), "the merge prints the summary");
    let report = read_json(&merged.join("report.json"));
    let parts: Vec<Value> = (0..2)
        .map(|i| read_json(&parts.join(format!("part-{i}-of-2.json"))))
        .collect();
    // Every count is the sum of the parts'.
    let counters = report["counters"].as_object().expect("counters");
    for (name, value) in counters {
        let sum: u64 = parts
            .iter()
            .map(|p| {
                p["outcome"]["recorder"]["counters"][name]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(value.as_u64(), Some(sum), "counter {name}");
    }
    assert!(
        counters["llm_calls"].as_u64() > Some(6),
        "the parts called the mock"
    );
    // Percentiles from the merged histograms are those of every sample of both parts.
    for metric in ["llm_call", "agent_response"] {
        let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for p in &parts {
            let part = decode(&p["outcome"]["recorder"]["latency"][metric]["hdr"]);
            for v in part.iter_recorded() {
                all.record_n(v.value_iterated_to(), v.count_at_value())
                    .expect("in bounds");
            }
        }
        let got = &report["latency"][metric];
        assert_eq!(got["count"].as_u64(), Some(all.len()), "{metric} count");
        for (key, q) in [
            ("p50_ms", 0.5),
            ("p95_ms", 0.95),
            ("p99_ms", 0.99),
            ("p999_ms", 0.999),
        ] {
            let want = all.value_at_quantile(q) as f64 / 1000.0;
            assert_eq!(got[key].as_f64(), Some(want), "{metric} {key}");
        }
        assert_eq!(got["max_ms"].as_f64(), Some(all.max() as f64 / 1000.0));
        assert!(
            decode(&got["hdr"]) == all,
            "{metric}: the merged histogram is every sample"
        );
    }
    let errors = crate::run::schema_errors(&report);
    assert!(
        errors.is_empty(),
        "the merged report fits the schema: {errors:?}"
    );
    let process = &report["process"];
    assert_eq!(process["parts"].as_array().map(Vec::len), Some(2));
    let spread = process["start_spread_ms"].as_u64().expect("a start spread");
    assert!(
        spread < 1_000,
        "parts given one --start-at start together: {spread} ms"
    );
    assert_eq!(report["shards"], 2);
}

/// Two parts of `file` (virtual, 4 agents, 10 s) in `dir`, with `extra` flags on part 1.
fn two_parts(dir: &Path, extra: &[&str]) -> PathBuf {
    let scenario = scenario("default.toml");
    let out = dir.join("parts");
    for (i, more) in [("0/2", &[][..]), ("1/2", extra)] {
        let mut args = vec![
            "run",
            path(&scenario),
            "--clock",
            "virtual",
            "--agents",
            "4",
            "--duration",
            "10s",
            "--part",
            i,
            "--out",
            path(&out),
        ];
        args.extend(more);
        fleetbench_ok(&args, &[0]);
    }
    out
}

fn merge_fails(args: &[&str]) -> String {
    let output = fleetbench().arg("merge").args(args).output().expect("runs");
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn parts_that_do_not_belong_together_are_exit_2_naming_the_part_and_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let parts = two_parts(dir.path(), &["--seed", "99"]);
    let err = merge_fails(&[path(&parts)]);
    assert!(
        err.contains("part-1-of-2.json") && err.contains("`seed` is 99"),
        "{err}"
    );
    let other = tempfile::tempdir().expect("a temporary directory");
    let parts = two_parts(other.path(), &["--model", "mock-other"]);
    let err = merge_fails(&[path(&parts)]);
    assert!(
        err.contains("`scenario_hash`") && err.contains("scenario differs"),
        "{err}"
    );
}

#[test]
fn a_missing_or_repeated_part_is_named_and_allow_missing_merges_the_rest() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let parts = two_parts(dir.path(), &[]);
    let zero = parts.join("part-0-of-2.json");
    let err = merge_fails(&[path(&zero)]);
    assert!(
        err.contains("part 1 of 2 missing") && err.contains("--allow-missing"),
        "{err}"
    );
    let err = merge_fails(&[path(&zero), path(&zero)]);
    assert!(err.contains("part 0 of 2 is given twice"), "{err}");
    let out = dir.path().join("merged");
    let output = fleetbench()
        .args(["merge", "--allow-missing", path(&zero), "--out", path(&out)])
        .output()
        .expect("runs");
    assert!(matches!(output.status.code(), Some(0 | 1)));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing: 1"), "{stderr}");
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["missing_parts"], serde_json::json!([1]));
    let errors = crate::run::schema_errors(&report);
    assert!(
        errors.is_empty(),
        "a report with parts missing fits the schema: {errors:?}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("MISSING parts 1 of 2"));
    // A damaged part: its N or its index out of range.
    let edited = dir.path().join("part-9-of-2.json");
    for (field, value, says) in [
        ("of", 0, "`of` is 0"),
        ("of", 100_000, "`of` is 100000"),
        ("index", 7, "part index 7 is out of range for 2 parts"),
    ] {
        let mut part = read_json(&zero);
        part[field] = serde_json::json!(value);
        std::fs::write(&edited, part.to_string()).expect("writable");
        let err = merge_fails(&["--allow-missing", path(&edited)]);
        assert!(
            err.contains("part-9-of-2.json") && err.contains(says),
            "{err}"
        );
    }
}

#[test]
fn unreadable_and_foreign_part_files_are_exit_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let junk = dir.path().join("part-0-of-1.json");
    std::fs::write(&junk, "not json").expect("writable");
    let err = merge_fails(&[path(&junk)]);
    assert!(
        err.contains("part-0-of-1.json") && err.contains("not JSON"),
        "{err}"
    );
    std::fs::write(&junk, r#"{"summary": 1}"#).expect("writable");
    let err = merge_fails(&[path(&junk)]);
    assert!(err.contains("no `fleetbench_part` field"), "{err}");
    let err = merge_fails(&[path(&dir.path().join("nowhere.json"))]);
    assert!(
        err.contains("nowhere.json") && err.contains("cannot read"),
        "{err}"
    );
    let empty = tempfile::tempdir().expect("a temporary directory");
    let err = merge_fails(&[path(empty.path())]);
    assert!(err.contains("holds no part report"), "{err}");
}

#[test]
fn bad_part_flags_are_exit_2_with_the_fix() {
    let scenario = scenario("default.toml");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = path(dir.path());
    let fails = |args: &[&str], env: Option<&str>| {
        let mut command = fleetbench();
        command.arg("run").arg(&scenario).args(args);
        command.env_remove("JOB_COMPLETION_INDEX");
        if let Some(index) = env {
            command.env("JOB_COMPLETION_INDEX", index);
        }
        let output = command.output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = fails(&["--part", "2/2", "--out", out], None);
    assert!(
        err.contains("out of range") && err.contains("0 to 1"),
        "{err}"
    );
    let err = fails(&["--part", "0/2", "--shards", "2", "--out", out], None);
    assert!(err.contains("--shards") && err.contains("--part"), "{err}");
    let err = fails(&["--part", "auto/2", "--out", out], None);
    assert!(err.contains("JOB_COMPLETION_INDEX is not set"), "{err}");
    let err = fails(&["--part", "auto/2", "--out", out], Some("5"));
    assert!(err.contains("JOB_COMPLETION_INDEX=\"5\""), "{err}");
    let err = fails(&["--part", "0/2"], None);
    assert!(err.contains("--out"), "{err}");
    let err = fails(&["--start-at", "tomorrow", "--out", out], None);
    assert!(err.contains("RFC 3339"), "{err}");
    let err = fails(&["--part", "0/500", "--agents", "10", "--out", out], None);
    assert!(err.contains("leave a part without one"), "{err}");
}

#[test]
fn a_live_part_without_a_start_time_is_warned() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = fleetbench()
        .args([
            "run",
            path(&scenario("default.toml")),
            "--clock",
            "live",
            "--part",
            "0/2",
        ])
        .args(["--out", path(dir.path()), "--plan"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without --start-at"), "{stderr}");
}

#[test]
fn the_kubernetes_manifests_pass_the_api_s_own_schemas() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let output = std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output();
    let output = output.unwrap_or_else(|e| {
        panic!("kubernetes-validate runs (pip install kubernetes-validate; .ci/run does): {e}")
    });
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    // One line per resource, each `passed`: 6 resources in 5 files.
    assert_eq!(said.matches(" passed for resource ").count(), 6, "{said}");
}
