//! Turns a line's raw messages into a history the conversation model accepts, repairing what
//! real agents leave behind instead of refusing the line (docs/compression.md, "Reading real
//! logs"):
//! - Anthropic parts: `tool_use` parts are the assistant's tool calls; the `tool_result` parts
//!   of a user message become tool messages, placed before the rest of its text.
//! - A legacy `function_call` is a tool call, and a `function` message its tool result.
//! - A call without a result, when a later user or assistant message follows, gets a tool
//!   message `(no result)`: the model did make the call, and agents that are interrupted send
//!   such a stand-in, since the APIs refuse a history with an unanswered call.
//! - A call id used again is renumbered (`call_0~2`); its results follow it.
//! - System messages before anything else merge into one; a later one is a user message
//!   `[system message] …` (the model allows one system message, first), placed after the
//!   results of the tool round it interrupted.
//!
//! What cannot be repaired (a result that answers no call, a role that does not exist) is an
//! `Err` naming the message, and the line is skipped or refused.

use std::collections::HashSet;

use conversation::message::Role;
use serde_json::Value;

use super::raw::{self, RawFunction, RawMessage, RawToolCall};
use super::repairs::Repairs;
use super::wire::{WireMessage, WireToolCall};

/// What stands in for the result of a call that got none.
pub(crate) const NO_RESULT: &str = "(no result)";
/// How a late system message begins, once it is a user message.
pub(crate) const SYSTEM_NOTE: &str = "[system message] ";

/// A repaired history, and where each raw message went (facts name raw indices).
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) messages: Vec<WireMessage>,
    /// For each raw message, the indices of the messages made of it.
    pub(crate) placed: Vec<Vec<usize>>,
}

/// Builds the history of `system` (Anthropic's top-level prompt) and `messages`.
pub(crate) fn build(
    system: Option<Value>,
    messages: Vec<RawMessage>,
    repairs: &mut Repairs,
) -> Result<Built, String> {
    let mut h = History {
        out: Vec::new(),
        placed: vec![Vec::new(); messages.len()],
        open: Vec::new(),
        used: HashSet::new(),
        answered: HashSet::new(),
        notes: Vec::new(),
        repairs,
    };
    if let Some(system) = system {
        let parts = raw::parts(Some(system), true).map_err(|e| format!("`system`: {e}"))?;
        h.out.push(WireMessage::text(Role::System, parts.text));
    }
    for (i, m) in messages.into_iter().enumerate() {
        h.message(i, m).map_err(|e| format!("message {i}: {e}"))?;
    }
    if !h.notes.is_empty() {
        h.close_open();
        h.flush_notes();
    }
    Ok(Built {
        messages: h.out,
        placed: h.placed,
    })
}

/// A call waiting for its result.
#[derive(Debug)]
struct Open {
    /// The id in the log, which its results name.
    original: String,
    /// The id it has now (renumbered when the log used it before).
    id: String,
    name: String,
}

#[derive(Debug)]
struct History<'r> {
    out: Vec<WireMessage>,
    placed: Vec<Vec<usize>>,
    open: Vec<Open>,
    /// Every call id given so far (after renumbering).
    used: HashSet<String>,
    /// Log ids whose call got its result, to tell a second result from an orphan.
    answered: HashSet<String>,
    /// Late system messages waiting for the tool round to end, with their raw index.
    notes: Vec<(WireMessage, usize)>,
    repairs: &'r mut Repairs,
}

impl History<'_> {
    fn message(&mut self, i: usize, m: RawMessage) -> Result<(), String> {
        let parts = raw::parts(m.content, false)?;
        let image_tokens = parts.image_tokens + m.image_tokens.unwrap_or(0);
        self.repairs.images += parts.images;
        self.repairs.image_tokens += u64::from(parts.image_tokens);
        for kind in parts.unread {
            *self.repairs.unread_parts.entry(kind).or_default() += 1;
        }
        let role = m.role.as_str();
        if role != "assistant" && !parts.calls.is_empty() {
            *self
                .repairs
                .unread_parts
                .entry("tool_use".into())
                .or_default() += parts.calls.len();
        }
        if !matches!(role, "user" | "tool" | "function") && !parts.results.is_empty() {
            *self
                .repairs
                .unread_parts
                .entry("tool_result".into())
                .or_default() += parts.results.len();
        }
        match role {
            "system" | "developer" => self.system(parts.text, i),
            "user" => {
                let results = parts.results.len();
                self.repairs.tool_result_parts += results;
                for r in parts.results {
                    self.tool(i, Some(r.id), None, r.text, r.image_tokens)?;
                }
                if results == 0 || !parts.text.is_empty() || image_tokens > 0 {
                    let mut user = WireMessage::text(Role::User, parts.text);
                    user.image_tokens = image_tokens;
                    self.close_open();
                    self.flush_notes();
                    self.push(user, i);
                }
            }
            "assistant" => {
                let mut text = parts.text;
                if text.is_empty() {
                    text = m
                        .refusal
                        .or_else(|| raw::transcript(m.audio.as_ref()))
                        .unwrap_or_default();
                }
                let mut calls = calls(i, m.tool_calls.unwrap_or_default(), m.function_call)?;
                self.repairs.tool_use_parts += parts.calls.len();
                for c in parts.calls {
                    calls.push(WireToolCall::new(c.id, c.name, c.arguments));
                }
                let mut msg = WireMessage::text(Role::Assistant, text);
                msg.image_tokens = image_tokens;
                self.assistant(msg, calls, i);
            }
            "tool" => self.tool(i, m.tool_call_id, m.name, parts.text, image_tokens)?,
            "function" => {
                self.repairs.function_messages += 1;
                self.tool(i, None, m.name, parts.text, image_tokens)?;
            }
            other => {
                return Err(format!(
                    "unknown role `{other}`: use system, developer, user, assistant, tool or function"
                ));
            }
        }
        Ok(())
    }

    fn push(&mut self, m: WireMessage, src: usize) {
        self.placed[src].push(self.out.len());
        self.out.push(m);
    }

    fn system(&mut self, text: String, src: usize) {
        let leading = self.notes.is_empty() && self.out.iter().all(|m| m.role == Role::System);
        match self.out.first_mut() {
            Some(first) if leading => {
                self.repairs.system_merged += 1;
                first.content.push_str("\n\n");
                first.content.push_str(&text);
                self.placed[src].push(0);
            }
            _ if leading => self.push(WireMessage::text(Role::System, text), src),
            _ => {
                self.repairs.system_notes += 1;
                let note = WireMessage::text(Role::User, format!("{SYSTEM_NOTE}{text}"));
                self.notes.push((note, src));
            }
        }
    }

    fn assistant(&mut self, mut m: WireMessage, calls: Vec<WireToolCall>, src: usize) {
        self.close_open();
        self.flush_notes();
        for mut call in calls {
            let original = call.id.clone();
            let mut n = 1;
            while self.used.contains(&call.id) {
                n += 1;
                call.id = format!("{original}~{n}");
            }
            if n > 1 {
                self.repairs.renumbered_ids += 1;
            }
            self.used.insert(call.id.clone());
            self.open.push(Open {
                original,
                id: call.id.clone(),
                name: call.function.name.clone(),
            });
            m.tool_calls.push(call);
        }
        self.push(m, src);
    }

    /// A result: for the open call with its id, or, without one, for the first open call of
    /// its tool (or the first open call).
    fn tool(
        &mut self,
        src: usize,
        id: Option<String>,
        name: Option<String>,
        text: String,
        image_tokens: u32,
    ) -> Result<(), String> {
        let id = id.filter(|id| !id.is_empty());
        let at = match &id {
            Some(id) => self.open.iter().position(|o| o.original == *id),
            None => name
                .as_ref()
                .and_then(|n| self.open.iter().position(|o| o.name == *n))
                .or((!self.open.is_empty()).then_some(0)),
        };
        let Some(at) = at else {
            return Err(match id {
                Some(id) if self.answered.contains(&id) => format!(
                    "tool result `{id}` answers a call that already has its result: remove the second"
                ),
                Some(id) => format!(
                    "tool result `{id}` answers no call: give it the `tool_call_id` of the \
                     assistant tool call it answers, right after that message, or remove it"
                ),
                None => "a tool result without `tool_call_id`, and no call waits for one: \
                         give it the id of the call it answers"
                    .to_owned(),
            });
        };
        let open = self.open.remove(at);
        self.answered.insert(open.original);
        let mut m = WireMessage::text(Role::Tool, text);
        m.tool_call_id = Some(open.id);
        m.name = name;
        m.image_tokens = image_tokens;
        self.push(m, src);
        Ok(())
    }

    /// Answers every open call with [`NO_RESULT`]: a later message follows them.
    fn close_open(&mut self) {
        for open in std::mem::take(&mut self.open) {
            self.repairs.interrupted_calls += 1;
            let mut m = WireMessage::text(Role::Tool, NO_RESULT);
            m.tool_call_id = Some(open.id);
            self.out.push(m);
        }
    }

    fn flush_notes(&mut self) {
        for (note, src) in std::mem::take(&mut self.notes) {
            self.push(note, src);
        }
    }
}

/// The calls of raw message `i`: OpenAI's `tool_calls` (an id made up where the log has none)
/// and the legacy `function_call` (which never has one).
fn calls(
    i: usize,
    tool_calls: Vec<RawToolCall>,
    function_call: Option<RawFunction>,
) -> Result<Vec<WireToolCall>, String> {
    let mut calls = Vec::new();
    for (k, c) in tool_calls.into_iter().enumerate() {
        let id =
            c.id.filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call-{i}-{k}"));
        let (name, arguments) = match (c.function, c.custom) {
            (Some(f), _) => (f.name, raw::arguments(f.arguments)),
            (None, Some(c)) => (c.name, c.input.unwrap_or_default()),
            (None, None) => {
                return Err(format!(
                    "tool call `{id}` has no `function`: write {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}"
                ));
            }
        };
        calls.push(WireToolCall::new(id, name, arguments));
    }
    if let Some(f) = function_call {
        calls.push(WireToolCall::new(
            format!("function-call-{i}"),
            f.name,
            raw::arguments(f.arguments),
        ));
    }
    Ok(calls)
}
