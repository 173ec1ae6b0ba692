use std::time::Duration;

use conversation::invariants;
use conversation::message::{Message, Origin, ToolCall};
use conversation::tokens::CharsPerToken;
use scenario::Compression;

use super::*;
use crate::corpus::{self, Profile};
use crate::eval;

const C: CharsPerToken = CharsPerToken(4.0);

fn spec(command: &str) -> CommandSpec {
    command.parse().unwrap()
}

fn conversation() -> Vec<Message> {
    let call = ToolCall {
        id: "a".to_owned(),
        name: "read_file".to_owned(),
        arguments: "{}".to_owned(),
    };
    vec![
        Message::system("be brief", &C),
        Message::user("fix the build", &C),
        Message::assistant("", vec![call], &C),
        Message::tool("a", "read_file", "x".repeat(400), &C),
    ]
}

/// Runs one compression of `conversation()` through `command`.
fn compress_once(command: &str, timeout: Duration) -> (Vec<Message>, Option<ExternalError>) {
    let cmd = ExternalCommand::start(spec(command), timeout).unwrap();
    let mut pipeline = cmd.row(&Compression::default()).pipeline();
    let mut messages = conversation();
    let mut cold = conversation::cold::ColdStore::default();
    let mut summarizer = conversation::summarize::Extractive::default();
    let mut ctx = Ctx {
        counter: &C,
        target_tokens: 10,
        cold: &mut cold,
        summarizer: &mut summarizer,
        work: conversation::strategy::Work::default(),
    };
    pipeline.compress(&mut messages, &mut ctx);
    (messages, cmd.take_error())
}

/// A compressor in Python that answers every request with `answer`, a Python expression over
/// the request `r`.
fn python(answer: &str) -> String {
    format!(
        "python3 -c 'import json,sys\nfor line in sys.stdin:\n    r = json.loads(line)\n    \
         print(json.dumps({answer}), flush=True)'"
    )
}

#[test]
fn a_name_is_given_with_name_equals_and_a_command_keeps_its_equals_signs() {
    assert_eq!(
        spec("last=python3 keep_last.py"),
        CommandSpec {
            name: "last".to_owned(),
            command: "python3 keep_last.py".to_owned(),
        }
    );
    for whole in ["python3 x.py --k=v", "FOO=1 ./c", "./c"] {
        assert_eq!(spec(whole).name, whole);
        assert_eq!(spec(whole).command, whole);
    }
    assert!(" ".parse::<CommandSpec>().is_err());
}

#[test]
fn an_echo_keeps_every_message_as_it_was() {
    let (after, error) = compress_once(&python(r#"{"messages": r["messages"]}"#), TIMEOUT);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(after, conversation());
}

#[test]
fn a_tool_output_rewritten_in_place_is_a_reduction_the_invariants_accept() {
    let answer = r#"{"messages": r["messages"][:3] + [dict(r["messages"][3], content="[cut]")]}"#;
    let (after, error) = compress_once(&python(answer), TIMEOUT);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(after[3].content, "[cut]");
    assert_eq!(after[3].name.as_deref(), Some("read_file"));
    assert!(matches!(after[3].origin, Origin::Reduced { .. }));
    assert_eq!(invariants::check_against(&conversation(), &after), vec![]);
}

#[test]
fn garbage_a_crash_and_silence_are_errors_naming_the_command_and_the_request() {
    let cases = [
        (
            "python3 -c 'input(); print(\"garbage\", flush=True)'",
            5000,
            "is not",
        ),
        (
            "python3 -c 'import sys; sys.exit(3)'",
            5000,
            "exited (exit status: 3)",
        ),
        (
            "python3 -c 'import time; time.sleep(30)'",
            300,
            "no answer within 0.3 s",
        ),
    ];
    for (command, ms, says) in cases {
        let (after, error) = compress_once(command, Duration::from_millis(ms));
        let error = error.expect("the row stops").to_string();
        assert!(error.contains(command), "{error}");
        assert!(error.contains("request 1:"), "{error}");
        assert!(error.contains(says), "{error}");
        assert_eq!(after, conversation(), "a failed request changes nothing");
    }
}

#[test]
fn the_python_example_keeps_the_invariants_and_compresses() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/compressors/keep_last.py"
    );
    let cmd = ExternalCommand::start(spec(&format!("python3 {script}")), TIMEOUT).unwrap();
    let corpus = corpus::generate(Profile::Coding, 2, 20, 3);
    let base = Compression::default();
    let mut rows = eval::rows(&base, &[], &[]);
    rows.push(cmd.row(&base));
    let report = eval::evaluate(&corpus, &rows);
    assert!(cmd.take_error().is_none());
    let row = &report.rows[1];
    assert!(row.compressions > 0);
    assert_eq!(row.violations, 0, "{:?}", row.first_violation);
    assert!(row.compression_ratio > 1.0, "{}", row.compression_ratio);
}
