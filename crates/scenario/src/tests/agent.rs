//! `[agent]`: an HTTP agent's keys, and the errors a wrong one gets before any traffic.

use super::problem;
use crate::{AgentKind, AgentShape, Scenario};

const TEMPLATE: &str = "[agent]\nkind = \"http\"\nurl = \"http://127.0.0.1:8700/chat\"\nshape = \"template\"\nanswer = \"/answer\"\nbody = { session_id = \"{{session}}\", message = \"{{message}}\", turn = \"{{turn}}\" }\n";

#[test]
fn a_template_agent_reads_and_prints_back() {
    let s = Scenario::from_toml(
        &format!("{TEMPLATE}[mock]\nlisten = \"127.0.0.1:8790\"\n"),
        "s",
    )
    .unwrap();
    assert_eq!(s.agent.kind, AgentKind::Http);
    assert_eq!(s.agent.shape, AgentShape::Template);
    assert_eq!(s.agent.answer_pointer(), "/answer");
    assert_eq!(s.mock.listen.unwrap().port(), 8790);
    let printed = s.to_toml();
    assert!(printed.contains("[agent]"), "{printed}");
    assert_eq!(Scenario::from_toml(&printed, "again").unwrap(), s);
}

#[test]
fn a_scenario_without_agent_prints_no_agent_table() {
    let s = Scenario::from_toml("[fleet]\nagents = 1\n", "s").unwrap();
    assert_eq!(s.agent.kind, AgentKind::Scripted);
    assert!(!s.to_toml().contains("[agent]"));
}

#[test]
fn an_unknown_placeholder_names_the_key_and_the_known_ones() {
    let src = TEMPLATE.replace("{{turn}}", "{{turn_id}}");
    let (p, text) = problem(&src);
    assert_eq!(p.key, "agent.body.turn");
    assert!(text.contains("unknown placeholder `{{turn_id}}`"), "{text}");
    assert!(
        text.contains("{{session}}, {{turn}}, {{message}}"),
        "{text}"
    );
}

#[test]
fn a_template_needs_a_body_with_the_message_and_an_answer_pointer() {
    let (p, text) = problem(
        "[agent]\nkind = \"http\"\nurl = \"http://127.0.0.1:1/x\"\nshape = \"template\"\nanswer = \"/a\"\n",
    );
    assert_eq!(p.key, "agent.body");
    assert!(text.contains("needs the request body"), "{text}");
    let (p, text) = problem(&TEMPLATE.replace("message = \"{{message}}\", ", ""));
    assert_eq!(p.key, "agent.body");
    assert!(text.contains("never sends the user's message"), "{text}");
    let (p, text) = problem(&TEMPLATE.replace("answer = \"/answer\"\n", ""));
    assert_eq!(p.key, "agent.answer");
    assert!(text.contains("answer = \"/answer\""), "{text}");
    let (p, text) = problem(&TEMPLATE.replace("\"/answer\"", "\"answer\""));
    assert_eq!(p.key, "agent.answer");
    assert!(text.contains("invalid JSON pointer `answer`"), "{text}");
}

#[test]
fn an_http_agent_needs_a_url_and_the_live_clock() {
    let (p, text) = problem("[agent]\nkind = \"http\"\n");
    assert_eq!(p.key, "agent.url");
    assert!(text.contains("needs the runtime's endpoint"), "{text}");
    let (p, text) = problem(&format!("clock = \"virtual\"\n{TEMPLATE}"));
    assert_eq!(p.key, "clock");
    assert!(text.contains("clock = \"live\""), "{text}");
    let (p, text) = problem("[agent]\nkind = \"http\"\nurl = \"ftp://x\"\n");
    assert_eq!(p.key, "agent.url");
    assert!(text.contains("invalid url `ftp://x`"), "{text}");
}

#[test]
fn chat_shape_takes_no_body_and_no_url_placeholders() {
    let (p, text) = problem(
        "[agent]\nkind = \"http\"\nurl = \"http://h:1/v1/chat/completions\"\nbody = { a = \"{{message}}\" }\n",
    );
    assert_eq!(p.key, "agent.body");
    assert!(text.contains("shape = \"template\""), "{text}");
    let (p, _) = problem("[agent]\nkind = \"http\"\nurl = \"http://h:1/s/{{session}}\"\n");
    assert_eq!(p.key, "agent.url");
}

#[test]
fn a_bad_listen_address_is_located() {
    let (p, text) = problem("[mock]\nlisten = \"localhost\"\n");
    assert_eq!(p.key, "mock.listen");
    assert!(!text.is_empty());
}
