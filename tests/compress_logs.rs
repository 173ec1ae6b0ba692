//! `compress` on users' logs (issue 15): bad lines are skipped with a count and their reasons
//! on stderr, `--strict` refuses the file at the first (exit 2 naming it), and repairs are said.

use std::fs;

use crate::common::fleetbench;

const GOOD: &str = r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x", "detail": "low"}}]}, {"role": "assistant", "content": "hello", "tool_calls": null, "function_call": null, "refusal": null}]}"#;

#[test]
fn compress_skips_bad_lines_and_strict_refuses_them() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("mine.jsonl");
    fs::write(&file, format!("{GOOD}\n{{oops\n{GOOD}\n")).expect("the corpus is written");
    let path = file.to_str().expect("a UTF-8 path");
    let args = ["compress", "--corpus", path, "--strategy", "window"];
    let assert = fleetbench()
        .args(args)
        .args(["--format", "json", "--no-timing"])
        .assert()
        .success();
    let out = assert.get_output();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["corpus"]["conversations"], 2);
    let err = String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8");
    assert!(
        err.contains(&format!("{path}: skipped 1 of 3 conversations")),
        "{err}"
    );
    assert!(
        err.contains(&format!("  {path}:2: not a conversation record (")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}: 2 image(s) counted as 170 tokens")),
        "{err}"
    );
    let assert = fleetbench().args(args).arg("--strict").assert().code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).expect("stderr is UTF-8");
    assert!(
        err.contains(&format!(
            "error: --corpus {path}: line 2: not a conversation record"
        )),
        "{err}"
    );
    fs::write(&file, "{oops\n").expect("the corpus is written");
    let assert = fleetbench().args(args).assert().code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).expect("stderr is UTF-8");
    assert!(
        err.contains("no conversation could be read: all 1 lines are bad; the first, line 1:"),
        "{err}"
    );
}
