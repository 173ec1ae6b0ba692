//! An [`LlmRequest`] (a chat conversation, as agents build it) as the Responses API's
//! `CreateResponse`, the prompt kept the same text in the same order:
//!
//! - system and developer messages are `message` items of their role where they stand
//!   (not `instructions`, which holds one text and always comes first: a summary inserted
//!   later, or a second system message, would move);
//! - user and assistant messages are `message` items (an assistant's text as a string, as
//!   the API takes previous answers back); an assistant's tool calls follow it as
//!   `function_call` items, its call ids kept, so tool results still refer to them;
//! - tool messages are `function_call_output` items of their `tool_call_id`;
//! - function tools are function tools, `strict` as in chat (chat's default is `false`, the
//!   Responses API's `true`: a tool that did not ask for strict schemas would be rejected);
//! - `max_completion_tokens` is `max_output_tokens`; `store` is `false`, since every call
//!   carries its whole conversation (no `previous_response_id`): a load test should not fill
//!   the account's stored responses.
//!
//! What the Responses API cannot carry is refused rather than dropped (the prompt would not
//! be what the agent built): images, audio and files in chat content, custom tools, the
//! deprecated `function` role, refusal parts. A message's `name` has no place in the
//! Responses API and is left out.

use std::borrow::Cow;

use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestAssistantMessageContentPart,
    ChatCompletionRequestDeveloperMessageContent, ChatCompletionRequestDeveloperMessageContentPart,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessageContent,
    ChatCompletionRequestSystemMessageContentPart, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestToolMessageContentPart,
    ChatCompletionRequestUserMessageContent, ChatCompletionRequestUserMessageContentPart,
    ChatCompletionTool, ChatCompletionTools,
};
use async_openai::types::responses::{
    CreateResponse, EasyInputContent, EasyInputMessage, FunctionCallOutput,
    FunctionCallOutputItemParam, FunctionTool, FunctionToolCall, InputContent, InputItem,
    InputParam, InputTextContent, Item, Role, Tool,
};

use crate::llm::LlmRequest;

/// Something in a chat request the Responses API has no form for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) &'static str);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cannot be sent to the Responses API (text conversations and function tools only)",
            self.0
        )
    }
}

/// The request async-openai sends for one attempt.
pub(crate) fn build(
    model: &str,
    stream: bool,
    request: &LlmRequest,
) -> Result<CreateResponse, Unsupported> {
    let mut items = Vec::with_capacity(request.messages.len() + 2);
    for m in &request.messages {
        push(&mut items, m)?;
    }
    let tools = if request.tools.is_empty() {
        None
    } else {
        Some(
            request
                .tools
                .iter()
                .map(tool)
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    Ok(CreateResponse {
        model: Some(model.to_owned()),
        input: InputParam::Items(items),
        tools,
        max_output_tokens: Some(request.max_tokens),
        stream: Some(stream),
        store: Some(false),
        ..CreateResponse::default()
    })
}

/// The chat tools as the Responses request offers them, written back in chat form: `strict`
/// spelled out (`false` where chat left it out), as [`build`] sends it. The in-process mock
/// reads a Responses request as this chat request (`MockLlm` in Responses mode).
pub(crate) fn chat_tools_as_sent(tools: &[ChatCompletionTools]) -> Cow<'_, [ChatCompletionTools]> {
    let unset = |t: &ChatCompletionTools| matches!(t, ChatCompletionTools::Function(f) if f.function.strict.is_none());
    if !tools.iter().any(unset) {
        return Cow::Borrowed(tools);
    }
    Cow::Owned(
        tools
            .iter()
            .map(|t| match t {
                ChatCompletionTools::Function(f) => {
                    let mut function = f.function.clone();
                    function.strict = Some(function.strict.unwrap_or(false));
                    ChatCompletionTools::Function(ChatCompletionTool { function })
                }
                other => other.clone(),
            })
            .collect(),
    )
}

/// Appends the items of one chat message.
fn push(items: &mut Vec<InputItem>, m: &ChatCompletionRequestMessage) -> Result<(), Unsupported> {
    use ChatCompletionRequestMessage as M;
    let item = match m {
        M::System(m) => message(
            Role::System,
            match &m.content {
                ChatCompletionRequestSystemMessageContent::Text(t) => text(t),
                ChatCompletionRequestSystemMessageContent::Array(parts) => {
                    list(parts.iter().map(|p| {
                        let ChatCompletionRequestSystemMessageContentPart::Text(p) = p;
                        Some(p.text.as_str())
                    }))?
                }
            },
        ),
        M::Developer(m) => message(
            Role::Developer,
            match &m.content {
                ChatCompletionRequestDeveloperMessageContent::Text(t) => text(t),
                ChatCompletionRequestDeveloperMessageContent::Array(parts) => {
                    list(parts.iter().map(|p| {
                        let ChatCompletionRequestDeveloperMessageContentPart::Text(p) = p;
                        Some(p.text.as_str())
                    }))?
                }
            },
        ),
        M::User(m) => message(
            Role::User,
            match &m.content {
                ChatCompletionRequestUserMessageContent::Text(t) => text(t),
                ChatCompletionRequestUserMessageContent::Array(parts) => {
                    list(parts.iter().map(|p| match p {
                        ChatCompletionRequestUserMessageContentPart::Text(p) => {
                            Some(p.text.as_str())
                        }
                        _ => None,
                    }))?
                }
            },
        ),
        M::Assistant(m) => return assistant(items, m),
        M::Tool(m) => tool_output(m),
        M::Function(_) => {
            return Err(Unsupported(
                "a `function` message (deprecated function calling)",
            ));
        }
    };
    items.push(item);
    Ok(())
}

/// An assistant's message: its text (if any), then a `function_call` item per tool call.
fn assistant(
    items: &mut Vec<InputItem>,
    m: &ChatCompletionRequestAssistantMessage,
) -> Result<(), Unsupported> {
    match &m.content {
        None => {}
        Some(ChatCompletionRequestAssistantMessageContent::Text(t)) => {
            items.push(message(Role::Assistant, text(t)));
        }
        Some(ChatCompletionRequestAssistantMessageContent::Array(parts)) => {
            let mut joined = String::new();
            for part in parts {
                match part {
                    ChatCompletionRequestAssistantMessageContentPart::Text(p) => {
                        joined.push_str(&p.text);
                    }
                    ChatCompletionRequestAssistantMessageContentPart::Refusal(_) => {
                        return Err(Unsupported("an assistant's refusal part"));
                    }
                }
            }
            items.push(message(Role::Assistant, EasyInputContent::Text(joined)));
        }
    }
    for call in m.tool_calls.iter().flatten() {
        let ChatCompletionMessageToolCalls::Function(call) = call else {
            return Err(Unsupported("a custom tool call"));
        };
        items.push(InputItem::Item(Item::FunctionCall(FunctionToolCall {
            arguments: call.function.arguments.clone(),
            call_id: call.id.clone(),
            name: call.function.name.clone(),
            ..FunctionToolCall::default()
        })));
    }
    Ok(())
}

/// A tool's result: the `function_call_output` of its call.
fn tool_output(m: &ChatCompletionRequestToolMessage) -> InputItem {
    let output = match &m.content {
        ChatCompletionRequestToolMessageContent::Text(t) => FunctionCallOutput::Text(t.clone()),
        ChatCompletionRequestToolMessageContent::Array(parts) => FunctionCallOutput::Content(
            parts
                .iter()
                .map(|p| {
                    let ChatCompletionRequestToolMessageContentPart::Text(p) = p;
                    input_text(&p.text)
                })
                .collect(),
        ),
    };
    InputItem::Item(Item::FunctionCallOutput(FunctionCallOutputItemParam {
        call_id: Some(m.tool_call_id.clone()),
        output,
        id: None,
        status: None,
        name: None,
        namespace: None,
        caller: None,
    }))
}

/// A message item of `role`.
fn message(role: Role, content: EasyInputContent) -> InputItem {
    InputItem::EasyMessage(EasyInputMessage {
        role,
        content,
        ..EasyInputMessage::default()
    })
}

fn text(t: &str) -> EasyInputContent {
    EasyInputContent::Text(t.to_owned())
}

fn input_text(t: &str) -> InputContent {
    InputContent::InputText(InputTextContent {
        text: t.to_owned(),
        prompt_cache_breakpoint: None,
    })
}

/// A content list of text parts; `None` stands for a part that is not text.
fn list<'a>(parts: impl Iterator<Item = Option<&'a str>>) -> Result<EasyInputContent, Unsupported> {
    parts
        .map(|p| {
            p.map(input_text)
                .ok_or(Unsupported("an image, audio or file part"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(EasyInputContent::ContentList)
}

/// A chat tool as a Responses tool.
fn tool(t: &ChatCompletionTools) -> Result<Tool, Unsupported> {
    let ChatCompletionTools::Function(f) = t else {
        return Err(Unsupported("a custom tool"));
    };
    let f = &f.function;
    Ok(Tool::Function(FunctionTool {
        name: f.name.clone(),
        parameters: f.parameters.clone(),
        strict: Some(f.strict.unwrap_or(false)),
        description: f.description.clone(),
        ..FunctionTool::default()
    }))
}
