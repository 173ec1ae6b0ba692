//! The Responses request a conversation becomes, and how answers and events are read. The
//! whole path against the mock (streamed and whole, faults, tool calls, the policies) is
//! tested beside chat's: `backend::tests` and `backend::mock::tests` run over both APIs.

use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessageContentPartImage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionRequestUserMessageContentPart, ChatCompletionTool, ChatCompletionTools,
    FinishReason, FunctionCall, FunctionObject, ImageUrl,
};
use async_openai::types::responses::{Response, ResponseStreamEvent};
use serde_json::{Value, json};
use tokio::time::{Instant, advance};

use metrics::ErrorKind;

use super::stream::{Reader, used};
use super::{answer, error_event_kind, request};
use crate::backend::Failure;
use crate::llm::{LlmRequest, ToolCall};

fn tool(name: &str, strict: Option<bool>) -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: name.to_owned(),
            description: Some(format!("{name} things")),
            parameters: Some(json!({"type": "object", "properties": {"q": {"type": "string"}}})),
            strict,
        },
    })
}

/// An agent's conversation: instructions, a question, a tool call and its result, an answer,
/// a summary inserted as a second system message, and the next question.
fn conversation() -> LlmRequest {
    let call = ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
        id: "call_7".to_owned(),
        function: FunctionCall {
            name: "search".to_owned(),
            arguments: "{\"q\":\"refund\"}".to_owned(),
        },
    });
    LlmRequest {
        messages: vec![
            ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
            ChatCompletionRequestUserMessage::from("where is my refund?").into(),
            ChatCompletionRequestAssistantMessage {
                content: Some("Let me look.".into()),
                tool_calls: Some(vec![call]),
                ..ChatCompletionRequestAssistantMessage::default()
            }
            .into(),
            ChatCompletionRequestToolMessage {
                content: "refunds take 30 days".into(),
                tool_call_id: "call_7".to_owned(),
            }
            .into(),
            ChatCompletionRequestAssistantMessage::from("Refunds take 30 days.").into(),
            ChatCompletionRequestSystemMessage::from("Summary: a refund question.").into(),
            ChatCompletionRequestUserMessage::from("thanks").into(),
        ],
        tools: vec![tool("search", None), tool("lookup", Some(true))].into(),
        max_tokens: 300,
        prompt_tokens: 40,
    }
}

#[test]
fn a_conversation_is_sent_as_its_items_in_order() {
    let body = request::build("gpt-x", true, &conversation()).expect("a text conversation");
    let sent = serde_json::to_value(&body).expect("serializes");
    let message =
        |role: &str, text: &str| json!({"type": "message", "role": role, "content": text});
    assert_eq!(
        sent["input"],
        json!([
            message("system", "You are a support agent."),
            message("user", "where is my refund?"),
            message("assistant", "Let me look."),
            {"type": "function_call", "call_id": "call_7", "name": "search",
             "arguments": "{\"q\":\"refund\"}"},
            {"type": "function_call_output", "call_id": "call_7",
             "output": "refunds take 30 days"},
            message("assistant", "Refunds take 30 days."),
            message("system", "Summary: a refund question."),
            message("user", "thanks"),
        ])
    );
    let parameters = json!({"type": "object", "properties": {"q": {"type": "string"}}});
    assert_eq!(
        sent["tools"],
        json!([
            {"type": "function", "name": "search", "parameters": parameters,
             "strict": false, "description": "search things"},
            {"type": "function", "name": "lookup", "parameters": parameters,
             "strict": true, "description": "lookup things"},
        ])
    );
    assert_eq!(
        (&sent["model"], &sent["max_output_tokens"], &sent["stream"]),
        (&json!("gpt-x"), &json!(300), &json!(true))
    );
    assert_eq!(sent["store"], json!(false));
    assert!(sent.get("instructions").is_none() && sent.get("stream_options").is_none());
}

#[test]
fn the_mock_reads_the_tools_as_sent() {
    let req = conversation();
    let as_sent = request::chat_tools_as_sent(&req.tools);
    let strict: Vec<_> = as_sent
        .iter()
        .map(|t| match t {
            ChatCompletionTools::Function(f) => f.function.strict,
            ChatCompletionTools::Custom(_) => None,
        })
        .collect();
    assert_eq!(strict, [Some(false), Some(true)]);
    let spelled = [tool("a", Some(false))];
    assert!(matches!(
        request::chat_tools_as_sent(&spelled),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn what_the_responses_api_cannot_carry_is_refused() {
    let mut req = conversation();
    req.messages.push(
        ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Array(vec![
                ChatCompletionRequestUserMessageContentPart::ImageUrl(
                    ChatCompletionRequestMessageContentPartImage {
                        image_url: ImageUrl {
                            url: "https://example.invalid/a.png".to_owned(),
                            detail: None,
                        },
                        prompt_cache_breakpoint: None,
                    },
                ),
            ]),
            name: None,
        }
        .into(),
    );
    let refused = request::build("m", false, &req).expect_err("an image is not text");
    assert!(refused.to_string().contains("image"), "{refused}");
}

/// A `Response` object as the API sends it, with `extra` fields.
fn response(status: &str, output: Value, extra: Value) -> Response {
    let mut r = json!({
        "id": "resp_1", "object": "response", "created_at": 1, "model": "m",
        "status": status, "output": output,
        "usage": {"input_tokens": 21, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 25},
    });
    for (k, v) in extra.as_object().expect("an object") {
        r[k] = v.clone();
    }
    serde_json::from_value(r).expect("a response")
}

fn text_item(text: &str) -> Value {
    json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

fn call_item(call_id: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "search",
           "arguments": arguments, "status": "completed"})
}

#[test]
fn a_whole_answer_is_its_text_calls_and_status() {
    let done = answer(&response(
        "completed",
        json!([text_item("Hello there.")]),
        json!({}),
    ));
    let done = done.expect("an answer");
    assert_eq!(done.content, "Hello there.");
    assert_eq!(done.finish_reason, Some(FinishReason::Stop));

    let output = json!([text_item("Looking."), call_item("call_9", "{}")]);
    let called = answer(&response("completed", output, json!({}))).expect("an answer");
    assert_eq!(called.finish_reason, Some(FinishReason::ToolCalls));
    let call = ToolCall {
        id: "call_9".to_owned(),
        name: "search".to_owned(),
        arguments: "{}".to_owned(),
    };
    assert_eq!(called.tool_calls, [call]);

    let cut = json!({"incomplete_details": {"reason": "max_output_tokens"}});
    let cut = answer(&response("incomplete", json!([text_item("Hel")]), cut));
    assert_eq!(
        cut.expect("an answer").finish_reason,
        Some(FinishReason::Length)
    );
    let filtered = json!({"incomplete_details": {"reason": "content_filter"}});
    let filtered = answer(&response("incomplete", json!([]), filtered)).expect("an answer");
    assert_eq!(filtered.finish_reason, Some(FinishReason::ContentFilter));

    let kind = |extra: Value| answer(&response("failed", json!([]), extra)).map_err(|f| f.kind);
    let error = |code: &str| json!({"error": {"code": code, "message": "no"}});
    assert_eq!(kind(json!({})), Err(ErrorKind::ServerError));
    assert_eq!(kind(error("server_error")), Err(ErrorKind::ServerError));
    assert_eq!(
        kind(error("rate_limit_exceeded")),
        Err(ErrorKind::RateLimited)
    );
    assert_eq!(kind(error("invalid_prompt")), Err(ErrorKind::ClientError));
    assert_eq!(kind(error("something_new")), Err(ErrorKind::ServerError));
    let queued = answer(&response("queued", json!([]), json!({})));
    assert_eq!(queued.map_err(|f| f.kind), Err(ErrorKind::Malformed));
}

#[test]
fn an_error_event_is_a_server_error_unless_its_code_says_otherwise() {
    assert_eq!(error_event_kind(None), ErrorKind::ServerError);
    assert_eq!(
        error_event_kind(Some("server_error")),
        ErrorKind::ServerError
    );
    assert_eq!(
        error_event_kind(Some("ERR_SOMETHING")),
        ErrorKind::ServerError
    );
    assert_eq!(
        error_event_kind(Some("rate_limit_exceeded")),
        ErrorKind::RateLimited
    );
}

fn event(value: Value) -> ResponseStreamEvent {
    serde_json::from_value(value).expect("an event")
}

fn delta(text: &str) -> ResponseStreamEvent {
    event(
        json!({"type": "response.output_text.delta", "sequence_number": 3,
                 "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}),
    )
}

fn end(kind: &str, status: &str, output: Value) -> ResponseStreamEvent {
    let response = serde_json::to_value(response(status, output, json!({}))).expect("a value");
    event(json!({"type": kind, "sequence_number": 9, "response": response}))
}

/// Reads `events`, `gap` apart.
async fn read(events: Vec<ResponseStreamEvent>, gap: Duration) -> Result<Reader, Failure> {
    let mut reader = Reader::new(Instant::now(), 7);
    for e in events {
        advance(gap).await;
        reader.event(e)?;
    }
    Ok(reader)
}

#[tokio::test(start_paused = true)]
async fn text_deltas_are_the_tokens_and_completed_the_usage() {
    let opened = event(
        json!({"type": "response.output_item.added", "sequence_number": 1,
        "output_index": 0, "item": {"type": "message", "id": "msg_1", "role": "assistant",
        "status": "in_progress", "content": []}}),
    );
    let events = vec![
        opened,
        delta("Hello"),
        delta(""),
        delta(" there"),
        end(
            "response.completed",
            "completed",
            json!([text_item("Hello there")]),
        ),
    ];
    let reader = read(events, Duration::from_millis(10)).await.expect("read");
    let (answer, measured) = reader.finish().expect("whole");
    assert_eq!(answer.content, "Hello there");
    assert_eq!(answer.finish_reason, Some(FinishReason::Stop));
    // The message's opening is not a token; the first delta is, 20 ms after sending.
    assert_eq!(measured.ttft, Some(Duration::from_millis(20)));
    assert_eq!(measured.inter_token, [Duration::from_millis(20)]);
    assert_eq!((measured.tokens_in, measured.tokens_out), (21, 4));
}

#[tokio::test(start_paused = true)]
async fn a_call_is_a_token_from_its_opening_and_ends_whole() {
    let opened = event(
        json!({"type": "response.output_item.added", "sequence_number": 1,
        "output_index": 0, "item": {"type": "function_call", "id": "fc_1",
        "call_id": "call_3", "name": "search", "arguments": "", "status": "in_progress"}}),
    );
    let args = |piece: &str| {
        event(
            json!({"type": "response.function_call_arguments.delta", "sequence_number": 2,
                     "item_id": "fc_1", "output_index": 0, "delta": piece}),
        )
    };
    let events = vec![
        opened,
        args("{\"q\":"),
        args("\"x\"}"),
        end(
            "response.completed",
            "completed",
            json!([call_item("call_3", "{\"q\":\"x\"}")]),
        ),
    ];
    let reader = read(events, Duration::from_millis(5)).await.expect("read");
    let (answer, measured) = reader.finish().expect("whole");
    let call = ToolCall {
        id: "call_3".to_owned(),
        name: "search".to_owned(),
        arguments: "{\"q\":\"x\"}".to_owned(),
    };
    assert_eq!(answer.tool_calls, [call]);
    assert_eq!(answer.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(measured.ttft, Some(Duration::from_millis(5)));
    assert_eq!(measured.inter_token.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stream_without_its_end_is_truncated_and_failures_keep_the_ttft() {
    let cut = read(vec![delta("Hel")], Duration::from_millis(3)).await;
    let failure = cut.expect("read").finish().expect_err("no end event");
    assert_eq!(failure.kind, ErrorKind::Truncated);
    assert_eq!(failure.ttft, Some(Duration::from_millis(3)));

    let error = event(json!({"type": "error", "sequence_number": 4,
        "code": "rate_limit_exceeded", "message": "slow down", "param": null}));
    let failure = read(vec![delta("Hel"), error], Duration::from_millis(3)).await;
    let failure = failure.err().expect("an error event fails");
    assert_eq!(failure.kind, ErrorKind::RateLimited);
    assert_eq!(failure.ttft, Some(Duration::from_millis(3)));

    let failed = read(
        vec![end("response.failed", "failed", json!([]))],
        Duration::ZERO,
    )
    .await;
    assert_eq!(failed.err().map(|f| f.kind), Some(ErrorKind::ServerError));

    let incomplete = end(
        "response.incomplete",
        "incomplete",
        json!([text_item("Hel")]),
    );
    let cut = read(vec![delta("Hel"), incomplete], Duration::ZERO).await;
    let (answer, _) = cut.expect("read").finish().expect("whole");
    assert_eq!(answer.finish_reason, Some(FinishReason::Length));
}

#[test]
fn events_the_reader_does_not_use_are_skipped_even_unparsed() {
    assert!(!used(
        r#"{"type":"response.something_new","sequence_number":1}"#
    ));
    assert!(!used(r#"{"type":"response.created","response":{"id":1}}"#));
    assert!(used(r#"{"type":"response.completed","response":{}}"#));
    assert!(used(
        r#"{"type":"response.output_text.delta","delta":"unterminated"#
    ));
    assert!(used("not json"));
}
