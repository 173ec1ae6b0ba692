//! `[agent]`: who the simulated users talk to. fleetbench's own scripted agent (the default),
//! or a team's agent runtime over HTTP (`kind = "http"`): the users' messages go to its
//! endpoint, and the runtime points its LLM and its tools at the built-in mock, which
//! attributes every call back to the session that caused it (`docs/agents.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::schema::Param;
use crate::units::Dur;

/// Which agents run the sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    /// fleetbench's built-in tool-using agent, calling the scenario's providers and tools
    /// through the shared clients.
    #[default]
    Scripted,
    /// A team's agent runtime behind an HTTP endpoint (`url`).
    Http,
}

impl AgentKind {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Scripted => "scripted",
            AgentKind::Http => "http",
        }
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a turn is sent to an HTTP agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentShape {
    /// An OpenAI-compatible chat endpoint: `{"model", "messages", "stream"}` with the
    /// session's conversation so far, the answer at `/choices/0/message/content` (or the
    /// streamed deltas).
    #[default]
    Chat,
    /// A JSON body of the team's own shape (`body`), with placeholders for the session, the
    /// turn and the message; the answer at the JSON pointer `answer`.
    Template,
}

impl AgentShape {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentShape::Chat => "chat",
            AgentShape::Template => "template",
        }
    }
}

/// The placeholders a template's `url` and `body` strings may hold.
pub const PLACEHOLDERS: [&str; 3] = ["session", "turn", "message"];

/// `[agent]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// `scripted` (fleetbench's own agents) or `http` (a runtime at `url`).
    pub kind: AgentKind,
    /// `http`: the endpoint each turn is `POST`ed to. In the template shape it may hold
    /// `{{session}}` and `{{turn}}` (like `http://127.0.0.1:8000/sessions/{{session}}/messages`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `chat` (OpenAI-compatible) or `template` (`body` and `answer`).
    pub shape: AgentShape,
    /// `chat`: the `model` field sent (many agent servers ignore it).
    pub model: String,
    /// `chat`: ask for a stream (`"stream": true`) and read the deltas. `template`: the
    /// answer comes as server-sent events; `answer` is looked up in each event's JSON and the
    /// strings found are joined.
    pub stream: bool,
    /// `template`: the JSON body, as a TOML table. A string may hold `{{session}}`,
    /// `{{turn}}` and `{{message}}`; a string that is exactly `"{{turn}}"` becomes a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<toml::Table>,
    /// The JSON pointer (RFC 6901) to the answer's text; `template` needs it, `chat`
    /// defaults to `/choices/0/message/content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Name of the environment variable that holds the runtime's key, sent as
    /// `Authorization: Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// A PEM file of the CA that signed the runtime's certificate; relative to the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// HTTP/2 with prior knowledge on plain `http://` (h2c).
    pub http2: bool,
    /// Extra headers of every request, by name (a session's cookies are kept and sent back
    /// by themselves).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Param>,
    /// Query parameters added to every request's URL.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, Param>,
    /// Limit of one turn: a slower answer is a `timeout`.
    pub timeout: Dur,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            kind: AgentKind::Scripted,
            url: None,
            shape: AgentShape::Chat,
            model: "agent".to_owned(),
            stream: false,
            body: None,
            answer: None,
            api_key_env: None,
            ca_cert: None,
            http2: false,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            timeout: Dur::secs(60),
        }
    }
}

impl AgentConfig {
    /// The default, scripted agents: not printed back (a scenario without `[agent]`).
    pub fn is_scripted_default(&self) -> bool {
        *self == Self::default()
    }

    /// Whether the sessions go to a runtime over HTTP.
    pub fn is_http(&self) -> bool {
        self.kind == AgentKind::Http
    }

    /// The JSON pointer of the answer's text.
    pub fn answer_pointer(&self) -> &str {
        match (&self.answer, self.shape) {
            (Some(p), _) => p,
            (None, _) => "/choices/0/message/content",
        }
    }
}

/// The placeholders `{{name}}` in `s`, in order, as `(name, byte range)`; a `{{` without a
/// closing `}}` is not one.
pub fn placeholders(s: &str) -> Vec<(&str, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| from + i) {
        let Some(close) = s[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        out.push((&s[open + 2..close], open..close + 2));
        from = close + 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_order_with_their_ranges() {
        let s = "/s/{{session}}/t/{{ turn }}/{{oops";
        let found = placeholders(s);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "session");
        assert_eq!(&s[found[0].1.clone()], "{{session}}");
        // Written exactly: ` turn ` is not `turn` (the driver fills in exact names only).
        assert_eq!(found[1].0, " turn ");
        assert!(placeholders("no braces").is_empty());
    }
}
