//! `POST /v1/responses` without sockets: the chat form of a request, the whole and streamed
//! answers against the chat endpoint's for the same conversation (text, calls, usage, token
//! times), rejections, faults and `/stats`.

use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionToolChoiceOption, ChatCompletionTools, CreateChatCompletionRequest, FunctionCall,
    FunctionObject, ToolChoiceOptions,
};
use axum::http::StatusCode;
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::request;
use crate::tests::{FAST, config, json_of, post, with_fault};
use crate::{LlmApi, MockServer, ResetConnection};

const ORDER_SCHEMA: &str = r#"{"type":"object","properties":{"order_id":{"type":"string"}}}"#;

/// A conversation with every kind of input item, as a Responses body.
pub(super) fn responses_body(stream: bool) -> Value {
    json!({
        "model": "mock-gpt",
        "instructions": "You are a support agent.",
        "input": [
            {"role": "user", "content": "Where is my order?"},
            {"type": "function_call", "call_id": "call_1", "name": "lookup_order",
             "arguments": "{\"order_id\":\"ORD-1\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "shipped"},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "It shipped.", "annotations": []}]},
            {"role": "user", "content": [{"type": "input_text", "text": "Thanks"}]}
        ],
        "tools": [{"type": "function", "name": "lookup_order", "description": "Look up an order",
                   "parameters": serde_json::from_str::<Value>(ORDER_SCHEMA).unwrap(),
                   "strict": false}],
        "tool_choice": "auto",
        "max_output_tokens": 50,
        "stream": stream,
        "store": false,
        "metadata": {"team": "search"},
        "temperature": 0.5,
        "some_future_field": {"ignored": true}
    })
}

/// The same conversation as async-openai's chat request: what a chat client sends.
fn chat_request(stream: bool) -> CreateChatCompletionRequest {
    chat_request_ending(stream, "Thanks")
}

/// [`chat_request`] whose last user message is `last`.
pub(super) fn chat_request_ending(stream: bool, last: &str) -> CreateChatCompletionRequest {
    let call = ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
        id: "call_1".into(),
        function: FunctionCall {
            name: "lookup_order".into(),
            arguments: "{\"order_id\":\"ORD-1\"}".into(),
        },
    });
    let messages: Vec<ChatCompletionRequestMessage> = vec![
        ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
        ChatCompletionRequestUserMessage::from("Where is my order?").into(),
        ChatCompletionRequestAssistantMessage {
            tool_calls: Some(vec![call]),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
        ChatCompletionRequestToolMessage {
            content: "shipped".into(),
            tool_call_id: "call_1".into(),
        }
        .into(),
        ChatCompletionRequestAssistantMessage::from("It shipped.").into(),
        ChatCompletionRequestUserMessage::from(last).into(),
    ];
    CreateChatCompletionRequest {
        messages,
        model: "mock-gpt".into(),
        max_completion_tokens: Some(50),
        stream: Some(stream),
        stream_options: stream.then_some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        }),
        tools: Some(vec![ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: "lookup_order".into(),
                description: Some("Look up an order".into()),
                parameters: Some(serde_json::from_str(ORDER_SCHEMA).unwrap()),
                strict: Some(false),
            },
        })]),
        tool_choice: Some(ChatCompletionToolChoiceOption::Mode(
            ToolChoiceOptions::Auto,
        )),
        ..CreateChatCompletionRequest::default()
    }
}

pub(super) fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

async fn body_bytes(resp: Response) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

/// The SSE events of a streamed body as sent (`event: …\ndata: …`), with the (paused-clock)
/// time each arrived.
async fn raw_events(resp: Response, t0: Instant) -> Vec<(Duration, String)> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        let at = Instant::now() - t0;
        for event in std::str::from_utf8(&data)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
        {
            out.push((at, event.to_owned()));
        }
    }
    out
}

/// The events of a streamed Responses body: (arrival, `event:` name, parsed `data:`).
pub(super) async fn response_events(resp: Response, t0: Instant) -> Vec<(Duration, String, Value)> {
    raw_events(resp, t0)
        .await
        .into_iter()
        .map(|(at, raw)| {
            let (name, data) = raw
                .strip_prefix("event: ")
                .and_then(|r| r.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("an event and its data: {raw}"));
            let data: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
            assert_eq!(data["type"], name);
            (at, name.to_owned(), data)
        })
        .collect()
}

#[test]
fn the_chat_form_is_what_async_openai_sends_for_the_conversation() {
    for stream in [false, true] {
        let req = serde_json::from_value(responses_body(stream)).unwrap();
        let read = request::read(req).unwrap();
        let expected = serde_json::to_vec(&chat_request(stream)).unwrap();
        assert_eq!(
            String::from_utf8(read.chat_body).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
    // A string input is one user message; a named tool choice takes the chat form.
    let req = serde_json::from_value(json!({"model": "m", "input": "hi",
        "tool_choice": {"type": "function", "name": "f"}}))
    .unwrap();
    assert_eq!(
        String::from_utf8(request::read(req).unwrap().chat_body).unwrap(),
        r#"{"messages":[{"role":"user","content":"hi"}],"model":"m","stream":false,"tool_choice":{"type":"function","function":{"name":"f"}}}"#
    );
}

#[tokio::test(start_paused = true)]
async fn a_whole_response_is_the_chat_answer_in_responses_form() {
    let mut cfg = config(FAST);
    cfg.llm.tool_call_probability = scenario::Probability(0.5);
    let mut texts = 0;
    let mut calls = 0;
    for i in 0..16 {
        let mut body = responses_body(false);
        body["input"][4]["content"][0]["text"] = json!(format!("Thanks {i}"));
        let chat = serde_json::to_vec(&chat_request_ending(false, &format!("Thanks {i}"))).unwrap();
        let mock = MockServer::new(cfg.clone());
        let c = json_of(post(&mock.router(), "/v1/chat/completions", chat).await).await;
        let resp = post(&mock.router(), "/v1/responses", bytes(&body)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let r = json_of(resp).await;
        let hex = c["id"].as_str().unwrap().strip_prefix("chatcmpl-").unwrap();
        assert_eq!(r["id"], format!("resp_{hex}"));
        assert_eq!(
            (&r["object"], &r["status"]),
            (&json!("response"), &json!("completed"))
        );
        assert_eq!(r["usage"]["input_tokens"], c["usage"]["prompt_tokens"]);
        assert_eq!(r["usage"]["output_tokens"], c["usage"]["completion_tokens"]);
        assert_eq!(r["usage"]["total_tokens"], c["usage"]["total_tokens"]);
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 0);
        assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(
            (&r["metadata"]["team"], &r["temperature"]),
            (&json!("search"), &json!(0.5))
        );
        assert_eq!(r["tools"][0]["name"], "lookup_order");
        let message = &c["choices"][0]["message"];
        match message["tool_calls"].as_array() {
            None => {
                texts += 1;
                let item = &r["output"][0];
                assert_eq!(
                    (&item["type"], &item["role"]),
                    (&json!("message"), &json!("assistant"))
                );
                assert_eq!(item["id"], format!("msg_{hex}"));
                assert_eq!(item["content"][0]["type"], "output_text");
                assert_eq!(item["content"][0]["text"], message["content"]);
                assert_eq!(item["content"][0]["annotations"], json!([]));
            }
            Some(chat_calls) => {
                calls += 1;
                assert_eq!(r["output"].as_array().unwrap().len(), chat_calls.len());
                for (item, call) in r["output"].as_array().unwrap().iter().zip(chat_calls) {
                    assert_eq!(item["type"], "function_call");
                    assert_eq!(item["call_id"], call["id"]);
                    assert!(item["id"].as_str().unwrap().starts_with("fc_"));
                    assert_eq!(item["name"], call["function"]["name"]);
                    assert_eq!(item["arguments"], call["function"]["arguments"]);
                    assert_eq!(item["status"], "completed");
                }
            }
        }
        let stats = mock.stats();
        assert_eq!((stats.chat_requests, stats.responses_requests), (1, 1));
        assert_eq!(stats.by_model["mock-gpt"].requests, 2);
    }
    assert!(texts > 0 && calls > 0, "{texts} texts, {calls} calls");
}

#[tokio::test(start_paused = true)]
async fn stateful_fields_and_unreadable_inputs_are_400() {
    let mock = MockServer::new(config(FAST));
    let cases = [
        (
            json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"}),
            "`previous_response_id` is not supported",
        ),
        (
            json!({"model": "m", "input": "hi", "conversation": "conv_1"}),
            "`conversation` is not supported",
        ),
        (json!({"model": "m"}), "`input` is missing"),
        (json!({"model": "m", "input": []}), "`input` is empty"),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "invalid input[0]: an `item_reference`",
        ),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "invalid input[0]: role `tool`",
        ),
        (
            json!({"model": "m", "input": [
                {"role": "user", "content": "x"},
                {"type": "reasoning"}
            ]}),
            "invalid input[1]: type `reasoning`",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}),
            "invalid input[0]: missing field `call_id`",
        ),
        (
            json!({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}),
            "invalid tools[0]: tool type `web_search`",
        ),
        (
            json!({"input": "hi"}),
            "invalid responses request: missing field `model`",
        ),
    ];
    for (body, message) in cases {
        let resp = post(&mock.router(), "/v1/responses", bytes(&body)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let v = json_of(resp).await;
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let got = v["error"]["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{got}");
    }
    let v = json_of(post(&mock.router(), "/v1/responses", bytes(&cases_stateful())).await).await;
    assert_eq!(v["error"]["code"], "unsupported_parameter");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send the whole conversation")
    );
    let stats = mock.stats();
    assert_eq!((stats.responses_requests, stats.chat_requests), (0, 0));
}

fn cases_stateful() -> Value {
    json!({"model": "m", "input": "hi", "previous_response_id": "resp_1", "store": true})
}

#[tokio::test(start_paused = true)]
async fn faults_apply_as_on_chat() {
    let body = bytes(&json!({"model": "mock-gpt", "input": "hi", "max_output_tokens": 8}));
    let streamed = bytes(&json!({"model": "mock-gpt", "input": "hi", "stream": true}));
    let mock = MockServer::new(with_fault("rate-limit", "retry_after = \"2s\""));
    let resp = post(&mock.router(), "/v1/responses", body.clone()).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(json_of(resp).await["error"]["code"], "rate_limit_exceeded");
    for (kind, status) in [("server-error", 500), ("unavailable", 503)] {
        let mock = MockServer::new(with_fault(kind, ""));
        let resp = post(&mock.router(), "/v1/responses", streamed.clone()).await;
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(json_of(resp).await["error"]["type"], "server_error");
    }
    let mock = MockServer::new(with_fault("reset", ""));
    let resp = post(&mock.router(), "/v1/responses", body.clone()).await;
    assert!(resp.extensions().get::<ResetConnection>().is_some());

    let mock = MockServer::new(with_fault("truncate", ""));
    let resp = post(&mock.router(), "/v1/responses", body.clone()).await;
    assert!(resp.into_body().collect().await.is_err());
    let resp = post(&mock.router(), "/v1/responses", streamed.clone()).await;
    let mut sent = Vec::new();
    let mut stream = resp.into_body();
    let cut = loop {
        match stream.frame().await {
            Some(Ok(frame)) => sent.extend_from_slice(&frame.into_data().unwrap()),
            Some(Err(_)) => break true,
            None => break false,
        }
    };
    let sent = String::from_utf8(sent).unwrap();
    assert!(cut && sent.contains("response.output_text.delta"), "{sent}");
    assert!(!sent.contains("response.completed"));

    let mock = MockServer::new(with_fault("malformed", ""));
    let whole = body_bytes(post(&mock.router(), "/v1/responses", body.clone()).await).await;
    assert!(serde_json::from_slice::<Value>(&whole).is_err());
    let raw = raw_events(
        post(&mock.router(), "/v1/responses", streamed.clone()).await,
        Instant::now(),
    )
    .await;
    let broken = raw
        .iter()
        .filter(|(_, e)| {
            let data = e.split_once("\ndata: ").unwrap().1;
            serde_json::from_str::<Value>(data).is_err()
        })
        .count();
    assert_eq!(broken, 1);
    assert!(
        raw.last()
            .unwrap()
            .1
            .starts_with("event: response.completed")
    );

    let cfg = with_fault("slow-first-token", "delay = \"3s\"");
    let mock = MockServer::new(cfg);
    let t0 = Instant::now();
    let evs = response_events(
        post(&mock.router(), "/v1/responses", streamed.clone()).await,
        t0,
    )
    .await;
    let first = evs
        .iter()
        .find(|(_, n, _)| n == "response.output_text.delta")
        .unwrap();
    assert!(first.0 >= Duration::from_secs(3), "{:?}", first.0);
    assert_eq!(evs[0].0, Duration::ZERO, "created goes out at once");
    assert_eq!(mock.stats().faults["slow-first-token"], 1);
}

#[tokio::test(start_paused = true)]
async fn the_direct_path_counts_as_the_api_it_stands_for() {
    let mock = MockServer::new(config(FAST));
    let chat = serde_json::to_vec(&chat_request(false)).unwrap();
    let direct = mock
        .chat_direct_as(LlmApi::Responses, &chat, Some("sk-test-key"))
        .await
        .unwrap();
    let r = json_of(
        post(
            &mock.router(),
            "/v1/responses",
            bytes(&responses_body(false)),
        )
        .await,
    )
    .await;
    assert_eq!(r["usage"]["input_tokens"], direct.answer.prompt_tokens);
    assert_eq!(
        r["usage"]["output_tokens"],
        direct.answer.completion_tokens()
    );
    let text = r["output"][0]["content"][0]["text"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(text.unwrap_or_default(), direct.answer.text());
    mock.chat_direct(&chat, None).await.unwrap();
    let stats = mock.stats();
    assert_eq!((stats.responses_requests, stats.chat_requests), (2, 1));
    let key = crate::key_fingerprint(Some("sk-test-key"));
    assert_eq!(stats.by_key[&key].requests, 2);
}
