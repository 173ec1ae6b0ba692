//! The tool cache per tool in every report, and `[[targets.figure]]`: targets on any figure
//! judged, written to JUnit, and refused with a located error when they name no figure or a
//! limit of the wrong unit.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fleetbench, scenario};

/// smoke.toml with a cached tool that takes no arguments (every call is the same request, so
/// the cache hits and coalesces without popular arguments), a cache on `search`, and `targets`
/// appended to its `[targets]`.
fn cached_smoke(dir: &Path, targets: &str) -> PathBuf {
    let text = std::fs::read_to_string(scenario("smoke.toml")).expect("the fixture exists");
    let text = text.replace(
        "[tools.lookup_order]",
        "[tools.status]\ndescription = \"The service status\"\nargs = {}\ncache = { ttl = \"2s\", capacity = 10 }\n[tools.status.mock]\nlatency = \"30ms\"\nresponse_tokens = 20\n\n[tools.search.cache]\nttl = \"1m\"\ncapacity = 2\n\n[tools.lookup_order]",
    );
    let path = dir.join(format!(
        "cached-{}.toml",
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    ));
    std::fs::write(&path, format!("{text}\n{targets}\n")).expect("the temp dir is writable");
    path
}

fn run(path: &Path, out: &Path, code: i32) -> (Value, String) {
    let done = fleetbench()
        .arg("run")
        .arg(path)
        .args(["--clock", "virtual", "--format", "json,junit,md", "--out"])
        .arg(out)
        .assert()
        .code(code);
    let stdout = String::from_utf8_lossy(&done.get_output().stdout).into_owned();
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json was written");
    (
        serde_json::from_str(&text).expect("the report is JSON"),
        stdout,
    )
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let text = std::fs::read_to_string(path).expect("the schema exists");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["targets"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["target"] == name)
        .unwrap_or_else(|| panic!("no verdict {name}: {report:#}"))
}

#[test]
fn the_tool_cache_per_tool_and_targets_on_its_figures() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let targets = "[[targets.figure]]\nname = \"tool_cache_hit_rate\"\ntool = \"status\"\nmin = 0.5\n\n[[targets.figure]]\nname = \"retries_per_call\"\nmax = 0.1\n\n[[targets.figure]]\nname = \"tokens_per_s\"\nmin = 1\n";
    let path = cached_smoke(dir.path(), targets);
    let (report, stdout) = run(&path, &dir.path().join("a"), 0);
    assert_eq!(schema_errors(&report), Vec::<String>::new());

    let caches = report["tool_cache"]
        .as_array()
        .expect("a tool_cache section");
    let tools: Vec<&str> = caches.iter().map(|c| c["tool"].as_str().unwrap()).collect();
    assert_eq!(
        tools,
        ["search", "status"],
        "by name, only the cached tools"
    );
    let status = &caches[1];
    let n = |c: &Value, k: &str| c[k].as_u64().unwrap();
    let served = n(status, "hits") + n(status, "coalesced");
    let lookups = served + n(status, "misses");
    assert!(
        n(status, "hits") > 0 && n(status, "misses") > 0,
        "{status:#}"
    );
    assert_eq!(
        status["hit_rate"].as_f64(),
        Some(served as f64 / lookups as f64)
    );
    assert!(
        status["miss_p50_ms"].as_f64().unwrap() >= 30.0,
        "{status:#}"
    );
    assert!(
        status["latency_saved_ms"].as_f64().unwrap() > 0.0,
        "{status:#}"
    );
    // A capacity of 2 for searches with random arguments: evictions.
    assert!(n(&caches[0], "evictions") > 0, "{:#}", caches[0]);
    // The per-tool counts add up to the run's counters.
    let sum = |k: &str| caches.iter().map(|c| n(c, k)).sum::<u64>();
    let counters = &report["counters"];
    assert_eq!(
        sum("hits") + sum("coalesced"),
        counters["cache_hits"].as_u64().unwrap()
    );
    assert_eq!(sum("misses"), counters["cache_misses"].as_u64().unwrap());

    let hit_rate = verdict(&report, "tool_cache_hit_rate{tool:status}");
    assert_eq!(hit_rate["measured"], status["hit_rate"]);
    assert_eq!(
        (hit_rate["op"].as_str(), hit_rate["unit"].as_str()),
        (Some(">="), Some("ratio"))
    );
    assert_eq!(verdict(&report, "tokens_per_s")["unit"], "per_s");
    assert!(stdout.contains("latency saved"), "{stdout}");
    let md = std::fs::read_to_string(dir.path().join("a/report.md")).expect("report.md");
    assert!(md.contains("### Tool cache"), "{md}");

    // The same seed, the same cache figures.
    let (again, _) = run(&path, &dir.path().join("b"), 0);
    assert_eq!(again["tool_cache"], report["tool_cache"]);
}

#[test]
fn a_missed_figure_target_exits_1_with_its_junit_case() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let targets = "[[targets.figure]]\nname = \"tool_cache_misses\"\ntool = \"status\"\nmax = 0\n";
    let (report, stdout) = run(&cached_smoke(dir.path(), targets), &dir.path().join("a"), 1);
    let missed = verdict(&report, "tool_cache_misses{tool:status}");
    assert_eq!(
        (missed["passed"].as_bool(), missed["unit"].as_str()),
        (Some(false), Some("count"))
    );
    assert!(
        stdout.contains("tool_cache_misses{tool:status}"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(dir.path().join("a/junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("name=\"tool_cache_misses{tool:status}\"")
            && junit.contains("tool_cache_misses{tool:status}: measured"),
        "{junit}"
    );
}

#[test]
fn an_unknown_figure_or_a_misfit_unit_is_exit_2_with_file_line_key_and_fix() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (targets, key, wanted) in [
        (
            "[[targets.figure]]\nname = \"tool_cache_hitrate\"\nmin = 0.8\n",
            "targets.figure[0].name",
            "unknown figure `tool_cache_hitrate`: did you mean tool_cache_hit_rate",
        ),
        (
            "[[targets.figure]]\nname = \"tool_cache_hit_rate\"\nmin = \"250ms\"\n",
            "targets.figure[0].min",
            "figure `tool_cache_hit_rate` is a ratio; write a number like 0.8",
        ),
        (
            "[[targets.figure]]\nname = \"tool_cache_hit_rate\"\ntool = \"lookup_order\"\nmin = 0.8\n",
            "targets.figure[0].tool",
            "tool `lookup_order` has no cache",
        ),
    ] {
        let path = cached_smoke(dir.path(), targets);
        let done = fleetbench()
            .arg("run")
            .arg(&path)
            .args(["--clock", "virtual", "--out"])
            .arg(dir.path().join("never"))
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
        let located = format!("{}:", path.display());
        assert!(
            stderr.contains(&located)
                && stderr.contains(&format!("key `{key}`"))
                && stderr.contains(wanted),
            "{stderr}"
        );
        assert!(!dir.path().join("never").exists(), "refused before the run");
    }
}
