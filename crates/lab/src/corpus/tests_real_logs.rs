//! Real logs: what the OpenAI SDK's `model_dump()` writes (nulls everywhere), Anthropic-style
//! content parts, images, and the histories real agents leave (interrupted calls, reused ids,
//! late system messages, the legacy `function` role), read or skipped with a reason; and
//! user-supplied facts checked against the text they name.

use conversation::message::Message;
use conversation::tokens::CharsPerToken;

use super::*;

const C: CharsPerToken = CharsPerToken(4.0);

/// One JSONL line from `json` (written over several lines in the tests, for reading).
fn line(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).expect("the fixture is JSON");
    format!("{v}\n")
}

fn one(json: &str) -> CorpusConversation {
    let mut convs = read_jsonl(&line(json)).unwrap();
    assert_eq!(convs.len(), 1);
    convs.remove(0)
}

fn err(json: &str) -> String {
    read_jsonl(&format!("\n{}", line(json)))
        .unwrap_err()
        .to_string()
}

/// The OpenAI Python SDK's `ChatCompletionMessage.model_dump()`: every optional field present,
/// `null` when unset.
const SDK_DUMP: &str = r#"{"messages": [
  {"role": "system", "content": "You are a coding agent.", "name": null},
  {"role": "user", "content": "fix the build", "name": null},
  {"role": "assistant", "content": null, "refusal": null, "audio": null, "function_call": null,
   "annotations": [], "tool_calls": [{"id": "call_1", "type": "function",
   "function": {"name": "run_tests", "arguments": "{}"}}]},
  {"role": "tool", "tool_call_id": "call_1", "content": "1 failed: test_ledger", "name": null},
  {"role": "assistant", "content": "test_ledger fails", "refusal": null, "audio": null,
   "function_call": null, "tool_calls": null, "annotations": []}
], "facts": null, "probes": null, "decoys": null}"#;

#[test]
fn an_openai_sdk_model_dump_with_nulls_reads() {
    let c = one(SDK_DUMP);
    assert_eq!(c.messages.len(), 5);
    assert_eq!(c.messages[2].tool_calls[0].function.name, "run_tests");
    assert!(c.messages[4].tool_calls.is_empty());
    assert_eq!(c.to_messages(&C)[3].name.as_deref(), Some("run_tests"));
}

#[test]
fn a_refusal_is_what_the_assistant_said() {
    let c = one(r#"{"messages": [{"role": "user", "content": "hi"},
        {"role": "assistant", "content": null, "refusal": "I cannot help with that."}]}"#);
    assert_eq!(c.messages[1].content, "I cannot help with that.");
}

/// Anthropic's Messages API: the system prompt at the top, `tool_use` parts in the assistant's
/// content, `tool_result` parts in the next user message.
const ANTHROPIC: &str = r#"{"system": "You are a coding agent.", "messages": [
  {"role": "user", "content": [{"type": "text", "text": "what is in src?"}]},
  {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
   {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"path": "src"}}]},
  {"role": "user", "content": [
   {"type": "tool_result", "tool_use_id": "toolu_1", "content": "main.rs\nledger_4471.rs"},
   {"type": "text", "text": "and be quick"}]},
  {"role": "assistant", "content": [{"type": "thinking", "thinking": "two files"},
   {"type": "text", "text": "Two files: main.rs and ledger_4471.rs"}]}
], "facts": [{"id": "f0", "kind": "output-head", "value": "ledger_4471.rs", "message": 2}]}"#;

#[test]
fn anthropic_tool_use_and_tool_result_parts_are_calls_and_results() {
    let c = one(ANTHROPIC);
    let m = c.to_messages(&C);
    let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
    use Role::*;
    assert_eq!(roles, [System, User, Assistant, Tool, User, Assistant]);
    assert_eq!(m[0].content, "You are a coding agent.");
    assert_eq!(m[2].content, "Let me look.");
    assert_eq!(m[2].tool_calls[0].id, "toolu_1");
    assert_eq!(m[2].tool_calls[0].arguments, r#"{"path":"src"}"#);
    assert_eq!(m[3].tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(m[3].name.as_deref(), Some("ls"));
    assert_eq!(m[3].content, "main.rs\nledger_4471.rs");
    assert_eq!(m[4].content, "and be quick");
    assert_eq!(m[5].content, "Two files: main.rs and ledger_4471.rs");
    // The fact named raw message 2; it is now in the tool message the part became.
    assert_eq!((c.facts[0].message, c.facts[0].turn), (3, 1));
}

#[test]
fn images_cost_their_documented_tokens() {
    let c = one(r#"{"messages": [{"role": "user", "content": [
          {"type": "text", "text": "what is this?"},
          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
          {"type": "image_url", "image_url": {"url": "https://example.com/y.png"}},
          {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
        {"role": "assistant", "content": "a cat"}]}"#);
    let m = c.to_messages(&C);
    let text = Message::user("what is this?", &C).tokens;
    assert_eq!(m[0].tokens, text + 85 + 765 + 1590);
    assert_eq!(m[0].content, "what is this?");
}

#[test]
fn an_interrupted_tool_call_gets_a_no_result_message() {
    let c = one(r#"{"messages": [{"role": "user", "content": "run it"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "run_tests", "arguments": "{}"}}]},
        {"role": "user", "content": "never mind"},
        {"role": "assistant", "content": "ok"}]}"#);
    assert_eq!(c.messages.len(), 5);
    assert_eq!(c.messages[2].role, Role::Tool);
    assert_eq!(c.messages[2].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(c.messages[2].content, "(no result)");
}

#[test]
fn a_reused_call_id_is_renumbered() {
    let c = one(r#"{"messages": [{"role": "user", "content": "look"},
        {"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "a.rs"},
        {"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": "grep", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "a.rs:1: fn main"},
        {"role": "assistant", "content": "done"}]}"#);
    let second = &c.messages[3].tool_calls[0].id;
    assert_ne!(second, "call_0");
    assert_eq!(c.messages[4].tool_call_id.as_ref(), Some(second));
    assert_eq!(c.to_messages(&C)[4].name.as_deref(), Some("grep"));
}

#[test]
fn a_late_system_message_becomes_a_user_note_and_leading_ones_merge() {
    let c = one(r#"{"messages": [{"role": "system", "content": "be brief"},
        {"role": "developer", "content": "use tools"},
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "now be terse"},
        {"role": "user", "content": "bye"}, {"role": "assistant", "content": "bye"}]}"#);
    assert_eq!(c.messages.len(), 6);
    assert_eq!(c.messages[0].role, Role::System);
    assert_eq!(c.messages[0].content, "be brief\n\nuse tools");
    assert_eq!(c.messages[3].role, Role::User);
    assert_eq!(c.messages[3].content, "[system message] now be terse");
}

#[test]
fn the_legacy_function_role_is_a_tool_result() {
    let c = one(
        r#"{"messages": [{"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": null,
         "function_call": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
        {"role": "function", "name": "get_weather", "content": "12C"},
        {"role": "assistant", "content": "12 degrees"}]}"#,
    );
    let m = c.to_messages(&C);
    assert_eq!(m[1].tool_calls[0].name, "get_weather");
    assert_eq!(m[2].role, Role::Tool);
    assert_eq!(m[2].tool_call_id, Some(m[1].tool_calls[0].id.clone()));
    assert_eq!(m[2].content, "12C");
}

const WITH_FACT: &str = r#"{"id": "mine", "messages": [
  {"role": "user", "content": "deploy to account QX7-4471-KP"},
  {"role": "assistant", "content": "deploying"}],
  "facts": [{"id": "acct", "kind": "constraint", "value": "VALUE", "message": MESSAGE}]}"#;

fn with_fact(value: &str, message: usize) -> String {
    WITH_FACT
        .replace("VALUE", value)
        .replace("MESSAGE", &message.to_string())
}

#[test]
fn user_facts_are_checked_against_the_text() {
    let good = one(&with_fact("QX7-4471-KP", 0));
    assert_eq!(good.facts[0].turn, 0);
    let e = err(&with_fact("QX7-0000-KP", 0));
    assert!(
        e.starts_with(
            "line 2: conversation `mine`: fact `acct`: value `QX7-0000-KP` is not in message 0"
        ),
        "{e}"
    );
    let e = err(&with_fact("QX7-4471-KP", 2));
    assert!(
        e.starts_with(
            "line 2: conversation `mine`: fact `acct` is in message 2, but there are 2 messages"
        ),
        "{e}"
    );
    let e = err(&with_fact("Q", 0));
    assert!(
        e.starts_with("line 2: conversation `mine`: fact `acct`: value `Q` is too short"),
        "{e}"
    );
    let wrong_turn =
        with_fact("deploying", 1).replace("\"message\": 1", "\"message\": 1, \"turn\": 3");
    let e = err(&wrong_turn);
    assert!(
        e.contains("fact `acct` says turn 3, but message 1 follows 0 assistant messages"),
        "{e}"
    );
}

#[test]
fn a_probe_found_in_the_text_is_refused() {
    let json = with_fact("QX7-4471-KP", 0).replace("}]}", "}], \"probes\": [\"deploying\"]}");
    let e = err(&json);
    assert!(e.contains("probe `deploying` occurs in message 1"), "{e}");
}

#[test]
fn a_lenient_read_skips_bad_lines_with_their_reason_and_a_strict_one_refuses() {
    let good = line(r#"{"messages": [{"role": "user", "content": "hi"}]}"#);
    let orphan = line(
        r#"{"id": "o", "messages": [{"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "x", "content": "r"}]}"#,
    );
    let text = format!(
        "{good}{{oops\n\n{orphan}{}{good}",
        line(r#"{"messages": [{"role": "robot"}]}"#)
    );
    let corpus = read_corpus(&text, ReadMode::Lenient).unwrap();
    assert_eq!(corpus.conversations.len(), 2);
    assert_eq!(corpus.conversations[1].id, "line-6");
    let lines: Vec<usize> = corpus.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, [2, 4, 5]);
    let notes = corpus.notes("mine.jsonl");
    assert!(
        notes[0].starts_with("mine.jsonl: skipped 3 of 5 conversations (bad lines; --strict"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("  mine.jsonl:2: not a conversation record ("),
        "{notes:?}"
    );
    assert!(
        notes[2].starts_with(
            "  mine.jsonl:4: conversation `o` is not a valid history: message 1: tool result `x` answers no call: give it"
        ),
        "{notes:?}"
    );
    assert!(
        notes[3].contains("message 0: unknown role `robot`: use system"),
        "{notes:?}"
    );
    let e = read_corpus(&text, ReadMode::Strict)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("line 2: not a conversation record"), "{e}");
    let e = read_corpus("{oops\n", ReadMode::Lenient)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "no conversation could be read: all 1 lines are bad; the first, line 1: not a"
        ),
        "{e}"
    );
}

#[test]
fn every_repair_is_counted_and_said() {
    let text = [
        SDK_DUMP,
        ANTHROPIC,
        r#"{"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}},
          {"type": "image_url", "image_url": {"url": "x", "detail": "low"}}]},
          {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "ls"}}]},
          {"role": "system", "content": "late"},
          {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
          {"role": "function", "name": "f", "content": "r"},
          {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "ls"}}]},
          {"role": "tool", "tool_call_id": "a", "content": "r"}]}"#,
    ]
    .map(line)
    .concat();
    let corpus = read_corpus(&text, ReadMode::Strict).unwrap();
    let r = &corpus.repairs;
    assert_eq!((r.images, r.image_tokens), (1, 85));
    assert_eq!((r.tool_use_parts, r.tool_result_parts), (1, 1));
    let unread: Vec<(&str, usize)> = r
        .unread_parts
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(unread, [("input_audio", 1), ("thinking", 1)]);
    assert_eq!((r.interrupted_calls, r.renumbered_ids), (1, 1));
    assert_eq!(
        (r.system_merged, r.system_notes, r.function_messages),
        (0, 1, 1)
    );
    let notes = corpus.notes("f");
    assert_eq!(notes.len(), 7, "{notes:?}");
    assert!(notes.iter().all(|n| n.starts_with("f: ")), "{notes:?}");
    // The late system note waits for the interrupted round to be answered.
    let m = &corpus.conversations[2].messages;
    let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
    use Role::*;
    assert_eq!(
        roles,
        [
            User, Assistant, Tool, User, Assistant, Tool, Assistant, Tool
        ]
    );
    assert_eq!(m[2].content, "(no result)");
    assert_eq!(m[7].tool_call_id.as_deref(), Some("a~2"));
}

#[test]
fn a_generated_corpus_is_read_as_written_with_nothing_to_say() {
    let convs = generate(Profile::Coding, 2, MIN_TURNS, 3);
    let corpus = read_corpus(&write_jsonl(&convs), ReadMode::Lenient).unwrap();
    assert_eq!(corpus.conversations, convs);
    assert!(corpus.notes("c.jsonl").is_empty());
    // A corpus with images, written back by the lab, keeps their cost.
    let c =
        one(r#"{"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}"#);
    let again = read_jsonl(&write_jsonl(std::slice::from_ref(&c))).unwrap();
    assert_eq!(again[0].messages[0].image_tokens, 1590);
    assert_eq!(
        again[0].to_messages(&C)[0].tokens,
        c.to_messages(&C)[0].tokens
    );
}
