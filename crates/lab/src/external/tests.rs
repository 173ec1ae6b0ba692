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
            "no answer within 0.3 s (--strategy-cmd-timeout); it was stopped",
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
fn a_timeout_is_a_positive_number_of_seconds() {
    assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
    for bad in ["0", "-1", "soon", "NaN", "inf", "1e9", ""] {
        let error = parse_timeout(bad).expect_err(bad);
        assert!(error.contains("like 30 or 0.5"), "{error}");
    }
}

#[test]
fn a_hung_compressor_is_stopped_at_the_timeout_and_the_error_says_how_to_allow_more() {
    let (_, error) = compress_once(
        "python3 -c 'import time; time.sleep(60)'",
        Duration::from_millis(200),
    );
    let error = error.expect("the row stops").to_string();
    assert!(error.contains("no answer within 0.2 s"), "{error}");
    assert!(error.contains("--strategy-cmd-timeout SECS"), "{error}");
}

#[test]
fn the_tokens_a_compressor_reports_count_as_the_summarizers() {
    // An echo that says each answer cost 1,000 prompt and 100 completion tokens.
    let echo = |usage: &str| {
        python(&format!(
            r#"dict({{"messages": r["messages"]}}, **{usage})"#
        ))
    };
    let corpus = corpus::generate(Profile::Coding, 2, 20, 3);
    let base = Compression::default();
    let paid = ExternalCommand::start(
        spec(&format!(
            "paid={}",
            echo(r#"{"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}"#)
        )),
        TIMEOUT,
    )
    .unwrap();
    let free = ExternalCommand::start(spec(&format!("free={}", echo("{}"))), TIMEOUT).unwrap();
    let mut rows = eval::rows(&base, &[], &[]);
    rows.push(paid.row(&base));
    rows.push(free.row(&base));
    let report = eval::evaluate(&corpus, &rows);
    assert!(paid.take_error().is_none() && free.take_error().is_none());
    let (none, paid, free) = (&report.rows[0], &report.rows[1], &report.rows[2]);
    assert!(paid.compressions > 0);
    assert_eq!(paid.summarizer_tokens_in, 1000 * paid.compressions);
    assert_eq!(paid.summarizer_tokens_out, 100 * paid.compressions);
    // Without usage, an echo costs what the baseline does; with it, its prompts are counted.
    assert_eq!(
        (free.summarizer_tokens_in, free.compression_ratio),
        (0, 1.0)
    );
    assert_eq!(
        paid.cumulative_prompt_tokens,
        none.cumulative_prompt_tokens + paid.summarizer_tokens_in
    );
    assert!(paid.compression_ratio < 1.0, "{}", paid.compression_ratio);
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
