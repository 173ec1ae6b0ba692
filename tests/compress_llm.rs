//! `compress --summarizer llm`, `--reader`, `--llm` and `--cassette`: the LLM tier against a
//! real OpenAI-compatible server (`fleetbench serve`, over HTTP on loopback), recorded, then
//! replayed without it; a reader's answers scored; bad input.

use std::path::Path;

use crate::common::{Running, fleetbench, generated_corpus};

/// `fleetbench serve` on a free port, and a scenario file whose one provider is it.
fn served(dir: &Path) -> (Running, std::path::PathBuf) {
    let mut server = Running::spawn(["serve", "--port", "0"]);
    // The URL as printed ends in /v1.
    let base = server.served_url();
    let path = dir.join("llm.toml");
    std::fs::write(
        &path,
        format!(
            "[[llm.providers]]\nname = \"small\"\nbase_url = \"{base}\"\nmodel = \"mock-small\"\n"
        ),
    )
    .expect("the temporary directory is writable");
    (server, path)
}

fn compress(corpus: &Path, extra: &[&str]) -> std::process::Output {
    fleetbench()
        .args(["compress", "--corpus"])
        .arg(corpus)
        .args([
            "--strategy",
            "rolling-summary",
            "--no-timing",
            "--format",
            "json",
        ])
        .args(extra)
        .output()
        .expect("fleetbench runs")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the report is JSON")
}

#[test]
fn answers_recorded_from_a_server_replay_without_it_to_the_same_report() {
    let (dir, corpus) = generated_corpus(&["--conversations", "2", "--turns", "24"]);
    let (server, scenario) = served(dir.path());
    let cassette = dir.path().join("answers.jsonl");
    let (s, c) = (scenario.to_str().unwrap(), cassette.to_str().unwrap());
    let flags = ["--summarizer", "llm", "--reader"];
    let recorded = compress(
        &corpus,
        &[&flags[..], &["--llm", s, "--cassette", c]].concat(),
    );
    let live = json(&recorded);
    let tier = &live["llm"];
    assert_eq!(tier["models"], serde_json::json!(["mock-small"]), "{tier}");
    assert!(tier["summary"]["calls"].as_u64().unwrap() > 0, "{tier}");
    // One reader call per conversation and row (none, rolling-summary).
    assert_eq!(tier["reader"]["calls"], 4, "{tier}");
    assert_eq!(tier["summary"]["failed"], 0, "{tier}");
    assert!(tier["summary"]["prompt_tokens"].as_u64().unwrap() > 0);
    let rows = live["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["reader"]["questions"].as_u64() > Some(0))
    );
    drop(server);

    // The server is gone: the cassette alone gives the same bytes.
    let replayed = compress(&corpus, &[&flags[..], &["--cassette", c]].concat());
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout),
        String::from_utf8_lossy(&recorded.stdout)
    );
    // A plan the cassette did not record fails, naming the cassette and the fix.
    let other = compress(
        &corpus,
        &[&flags[..], &["--cassette", c, "--trigger", "tokens=3000"]].concat(),
    );
    assert_eq!(other.status.code(), Some(2));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("no recorded answer") && err.contains(c) && err.contains("--llm SCENARIO"),
        "{err}"
    );
}

/// The reader's figures are those of its answers: a cassette whose reader answers are
/// rewritten to a perfect reader's (each value the context shows, `unknown` otherwise)
/// scores 100 % exact on the uncompressed baseline and exactly the values kept elsewhere.
#[test]
fn the_reader_is_scored_exact_and_f1_from_its_answers() {
    let (dir, corpus) = generated_corpus(&["--conversations", "2", "--turns", "24"]);
    let (server, scenario) = served(dir.path());
    let cassette = dir.path().join("answers.jsonl");
    let (s, c) = (scenario.to_str().unwrap(), cassette.to_str().unwrap());
    json(&compress(
        &corpus,
        &["--reader", "--llm", s, "--cassette", c],
    ));
    drop(server);
    // Per conversation: its task (the first user message, which every row keeps) and the
    // values of its current facts, in the order the reader asks about them.
    let conversations: Vec<(String, Vec<String>)> = std::fs::read_to_string(&corpus)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let task = v["messages"][1]["content"].as_str().unwrap().to_owned();
            let facts = v["facts"].as_array().unwrap();
            let stale: Vec<&str> = facts
                .iter()
                .filter_map(|f| f["supersedes"].as_str())
                .collect();
            let current = facts
                .iter()
                .filter(|f| !stale.contains(&f["id"].as_str().unwrap()))
                .map(|f| f["value"].as_str().unwrap().to_owned())
                .collect();
            (task, current)
        })
        .collect();
    // Rewrite each reader answer as a perfect reader would write it.
    let mut shown = Vec::new();
    let rewritten: Vec<String> = std::fs::read_to_string(&cassette)
        .unwrap()
        .lines()
        .map(|l| {
            let mut line: serde_json::Value = serde_json::from_str(l).unwrap();
            let user = line["call"]["user"].as_str().unwrap().to_owned();
            let (context, questions) = user.split_once("\nQuestions:\n").unwrap();
            let mut answer = String::new();
            let mut known = 0;
            let (_, values) = conversations
                .iter()
                .find(|(task, _)| context.contains(&format!("user: {task}\n")))
                .expect("every context keeps its task");
            assert_eq!(questions.lines().count(), values.len());
            for (i, value) in values.iter().enumerate() {
                if context.contains(value.as_str()) {
                    answer.push_str(&format!("{}: {value}\n", i + 1));
                    known += 1;
                } else {
                    answer.push_str(&format!("{}: unknown\n", i + 1));
                }
            }
            shown.push((questions.lines().count(), known));
            line["answer"]["text"] = answer.into();
            line.to_string()
        })
        .collect();
    std::fs::write(&cassette, rewritten.join("\n")).unwrap();
    let report = json(&compress(&corpus, &["--reader", "--cassette", c]));
    let rows = report["rows"].as_array().unwrap();
    let (baseline, summary) = (&rows[0]["reader"], &rows[1]["reader"]);
    assert_eq!(baseline["exact"], 1.0, "{baseline}");
    assert_eq!(baseline["f1"], 1.0, "{baseline}");
    assert_eq!(baseline["answered"], baseline["questions"]);
    // rolling-summary's contexts show some values and not others.
    let (questions, answered) = (
        summary["questions"].as_u64().unwrap(),
        summary["answered"].as_u64().unwrap(),
    );
    assert!(0 < answered && answered < questions, "{summary}");
    let exact = summary["exact"].as_f64().unwrap();
    assert!(
        (exact - answered as f64 / questions as f64).abs() < 1e-3,
        "{summary}"
    );
    let total: usize = shown.iter().map(|(_, k)| k).sum();
    assert_eq!(
        total as u64,
        answered + baseline["answered"].as_u64().unwrap()
    );
}

#[test]
fn bad_llm_input_exits_2_naming_the_flag_and_a_fix() {
    let (dir, corpus) = generated_corpus(&["--conversations", "1"]);
    let missing = dir.path().join("missing.jsonl");
    let out = compress(
        &corpus,
        &["--reader", "--cassette", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.jsonl") && err.contains("record one first"),
        "{err}"
    );

    let out = compress(&corpus, &["--summarizer", "llm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need a model"));

    // A provider that is not in the scenario.
    let scenario = dir.path().join("llm.toml");
    std::fs::write(
        &scenario,
        "[[llm.providers]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
    )
    .unwrap();
    let s = scenario.to_str().unwrap();
    let out = compress(&corpus, &["--reader", "--llm", s, "--reader-provider", "b"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--reader-provider `b`") && err.contains("use one of: a"),
        "{err}"
    );

    // Nothing listens on port 9: no call is answered, and the run says why.
    let out = compress(&corpus, &["--reader", "--llm", s]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no call was answered") && err.contains("base_url"),
        "{err}"
    );
}

/// The summaries go to the provider `[compression] summarizer_provider` names.
#[test]
fn summaries_go_to_the_summarizer_provider() {
    let (dir, corpus) = generated_corpus(&["--conversations", "1", "--turns", "24"]);
    let (_server, scenario) = served(dir.path());
    let text = std::fs::read_to_string(&scenario).unwrap();
    let second = text
        .replace("\"small\"", "\"cheap\"")
        .replace("mock-small", "mock-cheap");
    std::fs::write(
        &scenario,
        format!("[compression]\nsummarizer = \"llm\"\nsummarizer_provider = \"cheap\"\n\n{text}\n{second}"),
    )
    .unwrap();
    let s = scenario.to_str().unwrap();
    let report = json(&compress(&corpus, &["--summarizer", "llm", "--llm", s]));
    assert_eq!(report["llm"]["models"], serde_json::json!(["mock-cheap"]));
}

/// Under --seeds each seed's report counts its own calls; the in-process mock (a provider
/// without `base_url`) records a cassette the replay matches.
#[test]
fn each_seed_counts_its_own_llm_calls_and_replays() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let scenario = dir.path().join("llm.toml");
    std::fs::write(
        &scenario,
        "[[llm.providers]]\nname = \"m\"\nmodel = \"mock-gpt\"\n",
    )
    .expect("the temporary directory is writable");
    let cassette = dir.path().join("answers.jsonl");
    let (s, c) = (scenario.to_str().unwrap(), cassette.to_str().unwrap());
    let run = |extra: &[&str]| {
        fleetbench()
            .args(["compress", "--generate", "coding:1", "--seeds", "1,2"])
            .args(["--strategy", "rolling-summary", "--reader", "--no-timing"])
            .args(["--format", "json"])
            .args(extra)
            .output()
            .expect("fleetbench runs")
    };
    let recorded = run(&["--llm", s, "--cassette", c]);
    let spread = json(&recorded);
    for seed in spread["per_seed"].as_array().unwrap() {
        assert_eq!(seed["report"]["llm"]["reader"]["calls"], 2, "{seed}");
    }
    // The reader's figures have a mean and an interval like every other.
    let exact = &spread["summary"][1]["figures"]["reader.exact"];
    assert_eq!(exact["n"], 2, "{}", spread["summary"]);
    let replayed = run(&["--cassette", c]);
    assert_eq!(replayed.stdout, recorded.stdout);
}

/// docs/compression.md's example replays from the committed cassette: the prompts, the
/// generator and the strategies still make the calls it recorded (re-record it as the docs
/// say when this fails after such a change).
#[test]
fn the_documented_cassette_still_replays() {
    let (_dir, corpus) =
        generated_corpus(&["--conversations", "2", "--turns", "16", "--seed", "7"]);
    let cassette =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab/mock-answers.jsonl");
    let report = json(&compress(
        &corpus,
        &[
            "--summarizer",
            "llm",
            "--reader",
            "--cassette",
            cassette.to_str().unwrap(),
        ],
    ));
    assert_eq!(report["llm"]["summary"]["calls"], 3, "{}", report["llm"]);
    assert_eq!(report["llm"]["reader"]["calls"], 4, "{}", report["llm"]);
}
