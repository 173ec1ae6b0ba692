//! Messages as OpenAI's chat API writes them (`tool_calls[{id, type, function{name,
//! arguments}}]`, `tool_call_id`), read leniently: content may be a string, null or a list of
//! text parts, `developer` is a system message, and arguments may be a JSON object.

use std::collections::HashMap;

use conversation::message::{Message, Role, ToolCall};
use conversation::tokens::TokenCounter;
use serde::{Deserialize, Deserializer, Serialize};

/// One message in OpenAI's chat shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireMessage {
    /// `system` (or `developer`), `user`, `assistant` or `tool`.
    #[serde(deserialize_with = "role")]
    pub role: Role,
    /// The text; empty for an assistant message that only calls tools.
    #[serde(default, deserialize_with = "content")]
    pub content: String,
    /// The tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A participant's or tool's name, when the log has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the images the log's message held would cost, a fixed estimate per image
    /// (docs/compression.md, "Reading real logs"): counted in its tokens, not in its text.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub image_tokens: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One tool call: `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireToolCall {
    /// The call's id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function called.
    pub function: WireFunction,
}

/// The function of a tool call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFunction {
    /// The tool's name.
    pub name: String,
    /// The arguments as a JSON text (an object in the log is written back as text).
    #[serde(deserialize_with = "arguments")]
    pub arguments: String,
}

fn function_type() -> String {
    "function".to_owned()
}

impl WireMessage {
    /// A message with only a role and a text.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            image_tokens: 0,
        }
    }
}

impl WireToolCall {
    /// A function call.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: String) -> Self {
        Self {
            id: id.into(),
            kind: function_type(),
            function: WireFunction {
                name: name.into(),
                arguments,
            },
        }
    }
}

/// Converts to [`Message`]s counted by `counter`. A tool message takes its tool's name from
/// the call it answers (OpenAI's tool messages carry none). Image tokens are added to the
/// message's count; a strategy that replaces its content recounts it without them, as the
/// images went with the content.
pub(crate) fn to_messages(wire: &[WireMessage], counter: &dyn TokenCounter) -> Vec<Message> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::with_capacity(wire.len());
    for m in wire {
        let message = match m.role {
            Role::System => Message::system(m.content.clone(), counter),
            Role::User => Message::user(m.content.clone(), counter),
            Role::Assistant => {
                let calls = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        names.insert(&c.id, &c.function.name);
                        ToolCall {
                            id: c.id.clone(),
                            name: c.function.name.clone(),
                            arguments: c.function.arguments.clone(),
                        }
                    })
                    .collect();
                Message::assistant(m.content.clone(), calls, counter)
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                let name = m
                    .name
                    .as_deref()
                    .or_else(|| names.get(id.as_str()).copied())
                    .unwrap_or("tool")
                    .to_owned();
                Message::tool(id, name, m.content.clone(), counter)
            }
        };
        let mut message = message;
        message.tokens += m.image_tokens;
        out.push(message);
    }
    out
}

fn role<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(serde::de::Error::custom(format!(
            "unknown role `{other}`: use system, developer, user, assistant or tool"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

fn content<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Content>::deserialize(d)? {
        None => String::new(),
        Some(Content::Text(s)) => s,
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .filter_map(|p| p.text)
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

fn arguments<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}
