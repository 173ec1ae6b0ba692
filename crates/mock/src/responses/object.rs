//! The Responses API's output: the `response` object, its output items and usage, written
//! with every field async-openai's `Response` requires and the official SDKs read.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::answer::Answer;
use crate::responses::request::{Choice, Echo, FunctionTool};
use crate::wire::FinishReason;

/// The ids of an answer's response and output items, derived from its chat id (the hash of
/// its conversation), so the same conversation gets the same ids on both endpoints.
#[derive(Debug)]
pub(crate) struct Ids {
    /// `resp_…`.
    pub(crate) response: String,
    /// `msg_…`: the message item, for a text answer.
    pub(crate) message: String,
    /// `fc_…`: each function call item.
    pub(crate) calls: Vec<String>,
}

impl Ids {
    pub(crate) fn of(answer: &Answer) -> Self {
        let hex = answer.id.strip_prefix("chatcmpl-").unwrap_or(&answer.id);
        Self {
            response: format!("resp_{hex}"),
            message: format!("msg_{hex}"),
            calls: answer
                .tool_calls
                .iter()
                .map(|c| format!("fc_{}", c.id.strip_prefix("call_").unwrap_or(&c.id)))
                .collect(),
        }
    }
}

/// Where a response is: just started (no output, no usage), or done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    InProgress,
    Done,
}

/// The `response` object.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u32,
    status: &'static str,
    background: bool,
    completed_at: Option<u32>,
    error: Option<()>,
    incomplete_details: Option<Incomplete>,
    instructions: Option<&'a str>,
    max_output_tokens: Option<u32>,
    max_tool_calls: Option<()>,
    metadata: &'a BTreeMap<String, String>,
    model: &'a str,
    output: Vec<Item<'a>>,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: Reasoning,
    service_tier: &'static str,
    store: bool,
    temperature: f64,
    text: TextConfig,
    tool_choice: Value,
    tools: Vec<ToolOut<'a>>,
    top_logprobs: u8,
    top_p: f64,
    truncation: &'static str,
    usage: Option<Usage>,
    user: Option<&'a str>,
}

/// The `response` of `answer` at `progress`; `text` is the answer's whole text (the caller
/// keeps it, as items borrow it), `created_at` when the request arrived and `now` when it
/// is written.
pub(crate) fn response<'a>(
    answer: &'a Answer,
    echo: &'a Echo,
    ids: &'a Ids,
    text: &'a str,
    progress: Progress,
    (created_at, now): (u32, u32),
) -> ResponseObject<'a> {
    let done = progress == Progress::Done;
    let incomplete = done && answer.finish_reason == FinishReason::Length;
    let status = match (done, incomplete) {
        (false, _) => "in_progress",
        (true, false) => "completed",
        (true, true) => "incomplete",
    };
    ResponseObject {
        id: &ids.response,
        object: "response",
        created_at,
        status,
        background: false,
        completed_at: (done && !incomplete).then_some(now),
        error: None,
        incomplete_details: incomplete.then_some(Incomplete {
            reason: "max_output_tokens",
        }),
        instructions: echo.instructions.as_deref(),
        max_output_tokens: echo.max_output_tokens,
        max_tool_calls: None,
        metadata: &echo.metadata,
        model: &answer.model,
        output: if done {
            (0..output_len(answer))
                .map(|i| item(answer, ids, i, text, ItemState::Done))
                .collect()
        } else {
            Vec::new()
        },
        parallel_tool_calls: echo.parallel_tool_calls,
        previous_response_id: None,
        reasoning: Reasoning {
            effort: None,
            summary: None,
        },
        service_tier: "default",
        store: echo.store,
        temperature: echo.temperature,
        text: TextConfig {
            format: Format { kind: "text" },
            verbosity: "medium",
        },
        tool_choice: tool_choice(&echo.tool_choice),
        tools: echo.tools.iter().map(ToolOut::of).collect(),
        top_logprobs: 0,
        top_p: echo.top_p,
        truncation: "disabled",
        usage: done.then(|| usage(answer)),
        user: echo.user.as_deref(),
    }
}

/// Output items: one message for a text answer, one function call per tool call otherwise.
pub(crate) fn output_len(answer: &Answer) -> usize {
    answer.tool_calls.len().max(1)
}

/// Whether an item is just opened (nothing in it yet) or complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemState {
    Added,
    Done,
}

/// Output item `index` of `answer`, as added (empty, `in_progress`) or done (whole).
pub(crate) fn item<'a>(
    answer: &'a Answer,
    ids: &'a Ids,
    index: usize,
    text: &'a str,
    state: ItemState,
) -> Item<'a> {
    let added = state == ItemState::Added;
    let done_status = if answer.finish_reason == FinishReason::Length {
        "incomplete"
    } else {
        "completed"
    };
    let status = if added { "in_progress" } else { done_status };
    match answer.tool_calls.get(index) {
        Some(call) => Item::FunctionCall {
            id: &ids.calls[index],
            status,
            arguments: if added { "" } else { &call.arguments },
            call_id: &call.id,
            name: &call.name,
        },
        None => Item::Message {
            id: &ids.message,
            status,
            role: "assistant",
            content: if added {
                Vec::new()
            } else {
                vec![OutputText::of(text)]
            },
        },
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Item<'a> {
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText<'a>>,
    },
    FunctionCall {
        id: &'a str,
        status: &'static str,
        arguments: &'a str,
        call_id: &'a str,
        name: &'a str,
    },
}

/// An `output_text` content part.
#[derive(Debug, Serialize)]
pub(crate) struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
    logprobs: [(); 0],
}

impl<'a> OutputText<'a> {
    pub(crate) fn of(text: &'a str) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

#[derive(Debug, Serialize)]
struct Incomplete {
    reason: &'static str,
}

#[derive(Debug, Serialize)]
struct Reasoning {
    effort: Option<()>,
    summary: Option<()>,
}

#[derive(Debug, Serialize)]
struct TextConfig {
    format: Format,
    verbosity: &'static str,
}

#[derive(Debug, Serialize)]
struct Format {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A function tool as the answer echoes it.
#[derive(Debug, Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    description: Option<&'a str>,
    parameters: Option<&'a Value>,
    strict: Option<bool>,
}

impl<'a> ToolOut<'a> {
    fn of(tool: &'a FunctionTool) -> Self {
        Self {
            kind: "function",
            name: &tool.name,
            description: tool.description.as_deref(),
            parameters: tool.parameters.as_ref(),
            strict: tool.strict,
        }
    }
}

/// `tool_choice` as the answer echoes it: a mode, or `{"type": "function", "name"}`.
fn tool_choice(choice: &Choice) -> Value {
    match choice {
        Choice::None => Value::from("none"),
        Choice::Auto => Value::from("auto"),
        Choice::Required => Value::from("required"),
        Choice::Function(name) => serde_json::json!({"type": "function", "name": name}),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    input_tokens: u32,
    input_tokens_details: InputDetails,
    output_tokens: u32,
    output_tokens_details: OutputDetails,
    total_tokens: u32,
}

#[derive(Debug, Serialize)]
struct InputDetails {
    cached_tokens: u32,
}

#[derive(Debug, Serialize)]
struct OutputDetails {
    reasoning_tokens: u32,
}

/// The chat usage under the Responses names: the same counts.
fn usage(answer: &Answer) -> Usage {
    let output = answer.completion_tokens();
    Usage {
        input_tokens: answer.prompt_tokens,
        input_tokens_details: InputDetails { cached_tokens: 0 },
        output_tokens: output,
        output_tokens_details: OutputDetails {
            reasoning_tokens: 0,
        },
        total_tokens: answer.prompt_tokens.saturating_add(output),
    }
}
