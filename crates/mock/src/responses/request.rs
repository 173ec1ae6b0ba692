//! A `POST /v1/responses` body as the mock reads it, and the same conversation in the
//! chat-completions form the planner reads.
//!
//! Why a chat body: the answer is planned from a request's bytes (their hash seeds it) and
//! its parsed [`ChatRequest`], so writing the Responses conversation as the chat body a client
//! would send for it gives the same answer, prompt tokens and timing as the chat endpoint,
//! through the same code. The body is written as async-openai serializes a
//! `CreateChatCompletionRequest` (fleetbench's own client does: `MockLlm`'s body): `messages`,
//! `model`, `max_completion_tokens`, `stream` (always), `stream_options` (usage, with a
//! stream), `tools`, `tool_choice`, each message as async-openai writes it. Only what shapes a
//! conversation enters it; `store`, `metadata`, `temperature`, `top_p`, `user` and
//! `parallel_tool_calls` are read and echoed, not hashed.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::{ErrorReply, Rejection, bad_request};

/// A `POST /v1/responses` body. Unknown fields are ignored, as on the chat endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponsesRequest {
    model: String,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    conversation: Option<Value>,
}

/// `input`: a user message's text, or items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Items(Vec<Value>),
}

/// A message's `content`, or a function call's `output`: text, or parts whose `text` is read.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Debug, Deserialize)]
struct MessageItem {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
struct FunctionCallItem {
    call_id: String,
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct FunctionCallOutputItem {
    call_id: String,
    output: Content,
}

/// A function tool offered: `{"type": "function", "name", "description", "parameters",
/// "strict"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionTool {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Option<Value>,
    #[serde(default)]
    pub(crate) strict: Option<bool>,
}

/// `tool_choice` as the mock understands it; any other value means `auto`, as on the chat
/// endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    None,
    Auto,
    Required,
    Function(String),
}

impl Choice {
    fn read(value: &Value) -> Self {
        match value {
            Value::String(s) if s == "none" => Choice::None,
            Value::String(s) if s == "required" => Choice::Required,
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => o
                .get("name")
                .and_then(Value::as_str)
                .map_or(Choice::Auto, |n| Choice::Function(n.to_owned())),
            _ => Choice::Auto,
        }
    }

    /// The chat form: a mode string, or `{"type": "function", "function": {"name"}}`.
    fn chat(&self) -> ChatChoice<'_> {
        match self {
            Choice::None => ChatChoice::Mode("none"),
            Choice::Auto => ChatChoice::Mode("auto"),
            Choice::Required => ChatChoice::Mode("required"),
            Choice::Function(name) => ChatChoice::Named {
                kind: "function",
                function: ChatName { name },
            },
        }
    }
}

/// What the answer echoes of the request, OpenAI's defaults where it was silent.
#[derive(Debug)]
pub(crate) struct Echo {
    pub(crate) instructions: Option<String>,
    pub(crate) max_output_tokens: Option<u32>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) parallel_tool_calls: bool,
    pub(crate) store: bool,
    pub(crate) temperature: f64,
    pub(crate) top_p: f64,
    pub(crate) tool_choice: Choice,
    pub(crate) tools: Vec<FunctionTool>,
    pub(crate) user: Option<String>,
}

/// A request read: its conversation as a chat body, and what its answer echoes.
#[derive(Debug)]
pub(crate) struct Read {
    pub(crate) chat_body: Vec<u8>,
    pub(crate) echo: Echo,
}

/// Reads a request: rejects what needs state the mock does not keep, an empty or unreadable
/// input, and tools other than functions.
pub(crate) fn read(req: ResponsesRequest) -> Result<Read, Rejection> {
    if req.previous_response_id.is_some() {
        return Err(stateless("previous_response_id"));
    }
    if req.conversation.is_some() {
        return Err(stateless("conversation"));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = &req.instructions {
        messages.push(ChatMessage::text(
            "system",
            Content::Text(instructions.clone()),
        ));
    }
    match req.input {
        None => return Err(bad_request(missing_input("`input` is missing"))),
        Some(Input::Text(text)) => messages.push(ChatMessage::text("user", Content::Text(text))),
        Some(Input::Items(items)) if items.is_empty() => {
            return Err(bad_request(missing_input("`input` is empty")));
        }
        Some(Input::Items(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                push_item(&mut messages, item)
                    .map_err(|why| bad_request(format!("invalid input[{i}]: {why}")))?;
            }
        }
    }
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            function_tool(tool).map_err(|why| bad_request(format!("invalid tools[{i}]: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let choice = req.tool_choice.as_ref().map(Choice::read);
    let stream = req.stream.unwrap_or(false);
    let chat_tools: Vec<ChatTool<'_>> = tools.iter().map(ChatTool::of).collect();
    let body = ChatBody {
        messages: &messages,
        model: &req.model,
        max_completion_tokens: req.max_output_tokens,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        tools: &chat_tools,
        tool_choice: choice.as_ref().map(Choice::chat),
    };
    let chat_body = serde_json::to_vec(&body).expect("a chat body always serializes");
    Ok(Read {
        chat_body,
        echo: Echo {
            instructions: req.instructions,
            max_output_tokens: req.max_output_tokens,
            metadata: req.metadata.unwrap_or_default(),
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            store: req.store.unwrap_or(true),
            temperature: req.temperature.unwrap_or(1.0),
            top_p: req.top_p.unwrap_or(1.0),
            tool_choice: choice.unwrap_or(Choice::Auto),
            tools,
            user: req.user,
        },
    })
}

/// The rejection of a field that refers to state kept between requests.
fn stateless(field: &'static str) -> Rejection {
    Rejection::Status(ErrorReply::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("unsupported_parameter"),
        format!(
            "`{field}` is not supported: the mock keeps no state between requests (`store` is \
             accepted and ignored); send the whole conversation in `input`"
        ),
    ))
}

fn missing_input(what: &str) -> String {
    format!("{what}: send at least one input item (a string, or messages and function items)")
}

/// Appends one input item to the chat messages: a message, a function call (joining the
/// assistant message before it, as a chat conversation carries calls), or a call's output.
fn push_item(messages: &mut Vec<ChatMessage>, item: Value) -> Result<(), String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
        .to_owned();
    match kind.as_str() {
        "message" => {
            let m: MessageItem = serde_json::from_value(item).map_err(|e| e.to_string())?;
            if !matches!(
                m.role.as_str(),
                "system" | "developer" | "user" | "assistant"
            ) {
                return Err(format!(
                    "role `{}` is not one of system, developer, user, assistant",
                    m.role
                ));
            }
            messages.push(ChatMessage::text(&m.role, m.content));
        }
        "function_call" => {
            let call: FunctionCallItem = serde_json::from_value(item).map_err(|e| e.to_string())?;
            let call = ChatToolCall {
                kind: "function",
                id: call.call_id,
                function: ChatFunctionCall {
                    name: call.name,
                    arguments: call.arguments,
                },
            };
            match messages.last_mut() {
                Some(last) if last.role == "assistant" => last.tool_calls.push(call),
                _ => messages.push(ChatMessage {
                    role: "assistant".to_owned(),
                    content: None,
                    tool_calls: vec![call],
                    tool_call_id: None,
                }),
            }
        }
        "function_call_output" => {
            let out: FunctionCallOutputItem =
                serde_json::from_value(item).map_err(|e| e.to_string())?;
            messages.push(ChatMessage {
                tool_call_id: Some(out.call_id),
                ..ChatMessage::text("tool", out.output)
            });
        }
        "item_reference" => {
            return Err(
                "an `item_reference` needs stored items, and the mock keeps none: \
                        send the item itself"
                    .to_owned(),
            );
        }
        other => {
            return Err(format!(
                "type `{other}` is not served: the mock reads `message`, `function_call` and \
                 `function_call_output` items"
            ));
        }
    }
    Ok(())
}

/// Reads one entry of `tools`: a function tool, or why not.
fn function_tool(tool: Value) -> Result<FunctionTool, String> {
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => serde_json::from_value(tool).map_err(|e| e.to_string()),
        Some(other) => Err(format!(
            "tool type `{other}` is not served: the mock offers function tools only \
             (`\"type\": \"function\"`)"
        )),
        None => Err("a tool needs `\"type\": \"function\"`".to_owned()),
    }
}

// ---- the chat form, as async-openai writes it ----

#[derive(Debug, Serialize)]
struct ChatBody<'a> {
    messages: &'a [ChatMessage],
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [ChatTool<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ChatChoice<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ChatChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: ChatName<'a>,
    },
}

#[derive(Debug, Serialize)]
struct ChatName<'a> {
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Serialize)]
struct ChatMessage {
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<ChatContent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ChatToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<String>,
}

impl ChatMessage {
    fn text(role: &str, content: Content) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(ChatContent::of(content)),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ChatContent {
    Text(String),
    Parts(Vec<TextPart>),
}

impl ChatContent {
    /// A string stays one; parts keep their texts (`input_text`, `output_text`; others, such
    /// as images, carry none the mock counts), and one text part is that text: a client may
    /// wrap a text or not, and the conversation is the same.
    fn of(content: Content) -> Self {
        match content {
            Content::Text(text) => ChatContent::Text(text),
            Content::Parts(parts) => {
                let mut texts: Vec<TextPart> = parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .map(|text| TextPart {
                        kind: "text",
                        text: text.to_owned(),
                    })
                    .collect();
                if texts.len() == 1 {
                    ChatContent::Text(texts.remove(0).text)
                } else {
                    ChatContent::Parts(texts)
                }
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct TextPart {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
}

#[derive(Debug, Serialize)]
struct ChatToolCall {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    function: ChatFunctionCall,
}

#[derive(Debug, Serialize)]
struct ChatFunctionCall {
    name: String,
    arguments: String,
}

#[derive(Debug, Serialize)]
struct ChatTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ChatFunction<'a>,
}

impl<'a> ChatTool<'a> {
    fn of(tool: &'a FunctionTool) -> Self {
        Self {
            kind: "function",
            function: ChatFunction {
                name: &tool.name,
                description: tool.description.as_deref(),
                parameters: tool.parameters.as_ref(),
                strict: tool.strict,
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct ChatFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}
