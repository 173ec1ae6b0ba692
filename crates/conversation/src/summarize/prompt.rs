//! What an LLM summarizer is asked, shared by the fleet (`summarizer = "llm"`, through the
//! shared client) and the lab (`compress --summarizer llm`): one system prompt, and the
//! previous summary and the evicted span as plain `role: content` lines.

use std::fmt::Write as _;

use crate::message::{Message, Role};

/// What the summarizing LLM is asked to do.
pub const SYSTEM_PROMPT: &str = "You summarize the earlier part of an agent's conversation so the \
agent can continue without it. Write a concise summary. Keep every identifier, number, file \
path, URL, decision made and task still open, exactly as written. No preamble.";

/// Most characters of conversation sent to be summarized; the newest are kept.
pub const MAX_SPAN_CHARS: usize = 24_000;

/// Most tokens the LLM may write for a summary.
pub const MAX_SUMMARY_TOKENS: u32 = 512;

/// `previous` and `span` as text for the LLM: one `role: content` line per message, a line per
/// tool call; at most [`MAX_SPAN_CHARS`], the newest kept.
pub fn span_text(previous: Option<&str>, span: &[Message]) -> String {
    let mut out = String::new();
    if let Some(previous) = previous {
        let _ = writeln!(out, "previous summary: {previous}");
    }
    for m in span {
        let who = role_name(m.role);
        match (&m.name, m.role) {
            (Some(name), Role::Tool) => {
                let _ = writeln!(out, "{who} {name}: {}", m.content);
            }
            _ => {
                let _ = writeln!(out, "{who}: {}", m.content);
            }
        }
        for call in &m.tool_calls {
            let _ = writeln!(out, "{who} calls {}: {}", call.name, call.arguments);
        }
    }
    keep_newest(out, MAX_SPAN_CHARS)
}

/// The role as the prompt writes it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// The last `max` bytes of `text` (moved forward to a character boundary).
pub fn keep_newest(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text[cut..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;
    use crate::tokens::CharsPerToken;

    #[test]
    fn a_span_is_one_line_per_message_and_per_call() {
        let c = CharsPerToken(4.0);
        let call = ToolCall {
            id: "c1".to_owned(),
            name: "lookup".to_owned(),
            arguments: r#"{"order":"QX7-4471-KP"}"#.to_owned(),
        };
        let span = vec![
            Message::user("Find order QX7-4471-KP.", &c),
            Message::assistant("", vec![call], &c),
            Message::tool("c1", "lookup", "shipped", &c),
        ];
        assert_eq!(
            span_text(Some("- user: earlier ID-1"), &span),
            "previous summary: - user: earlier ID-1\nuser: Find order QX7-4471-KP.\n\
             assistant: \nassistant calls lookup: {\"order\":\"QX7-4471-KP\"}\n\
             tool lookup: shipped\n"
        );
    }

    #[test]
    fn long_text_keeps_its_newest_part() {
        assert_eq!(keep_newest("abcdef".to_owned(), 3), "def");
        assert_eq!(keep_newest("aé".to_owned(), 1), "");
        let c = CharsPerToken(4.0);
        let span: Vec<Message> = (0..2_000)
            .map(|i| Message::user(format!("message number {i}"), &c))
            .collect();
        let text = span_text(None, &span);
        assert!(text.len() <= MAX_SPAN_CHARS && text.ends_with("message number 1999\n"));
    }
}
