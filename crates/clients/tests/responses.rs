//! The Responses API over real sockets, and stream mismatches on both APIs.
//!
//! - `Clients` built from a scenario with `api = "responses"` against the mock served on
//!   `127.0.0.1:0`: streamed and whole answers, tool calls, usage and TTFT, counted by the
//!   mock as Responses requests only.
//! - A server that ignores `stream` (a whole JSON answer to a streaming request, an event
//!   stream to a non-streaming one), on either API: each call fails at once as
//!   `stream_mismatch` with the answer's status, never retried, never `truncated` or
//!   `malformed`.

use std::net::SocketAddr;
use std::sync::Arc;

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage, ChatCompletionTool,
    ChatCompletionTools, FinishReason, FunctionObject,
};
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fleetbench_clients::{Clients, Embedded, ErrorKind, LlmRequest};
use mock::{MockConfig, MockServer};
use scenario::Scenario;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn request(text: &str, tools: bool) -> LlmRequest {
    let message: ChatCompletionRequestMessage = ChatCompletionRequestUserMessage::from(text).into();
    let tool = ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: "search".to_owned(),
            description: Some("Searches the docs.".to_owned()),
            parameters: Some(json!({"type": "object", "properties": {"q": {"type": "string"}}})),
            strict: None,
        },
    });
    LlmRequest {
        messages: vec![message],
        tools: if tools {
            vec![tool].into()
        } else {
            Default::default()
        },
        max_tokens: 64,
        prompt_tokens: 10,
    }
}

/// A scenario of one provider per `(name, api, stream)`, at `base` (or the embedded mock),
/// one attempt each; `mock` adds keys to `[mock]`.
fn scenario(base: &str, providers: &[(&str, &str, bool)], mock: &str) -> Scenario {
    let mut toml = String::from("[llm]\nrouting = \"round-robin\"\n");
    for (name, api, stream) in providers {
        toml.push_str(&format!(
            "[[llm.providers]]\nname = \"{name}\"\nmodel = \"m\"\napi = \"{api}\"\n\
             base_url = \"{base}\"\nstream = {stream}\ntimeout = \"10s\"\n\
             retry = {{ max_attempts = 1 }}\nbreaker = {{ enabled = false }}\n"
        ));
    }
    toml.push_str(&format!(
        "[mock]\nprefill_per_token = \"0s\"\nbase_latency = \"5ms\"\ninter_token = \"1ms\"\n\
         output_tokens = 12\n{mock}\n"
    ));
    Scenario::from_toml(&toml, "responses.rs").expect("a valid scenario")
}

/// Serves `router` on `127.0.0.1:0` until `stop`.
async fn serve(router: Router, stop: CancellationToken) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    addr
}

#[tokio::test]
async fn the_responses_api_against_the_mock_over_tcp() {
    for stream in [true, false] {
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("an address");
        let s = scenario(
            "embedded",
            &[("responses", "responses", stream)],
            "tool_call_probability = 0.5",
        );
        let mock = MockServer::new(MockConfig::from_scenario(&s));
        let served = mock.clone();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move { mock::serve_with(listener, served, shutdown).await });
        let clients = Arc::new(
            Clients::build(&s, &Embedded::Http(format!("http://{addr}"))).expect("clients build"),
        );
        let (mut texts, mut calls) = (0, 0);
        for i in 0..12 {
            let (record, result) = clients
                .llm
                .call(&request(&format!("question {i}"), true), i)
                .await;
            let answer = result.expect("answered");
            assert_eq!(record.attempts.len(), 1);
            assert!(record.tokens_in > 0 && record.tokens_out > 0, "{record:?}");
            assert_eq!(record.ttft.is_some(), stream, "{record:?}");
            match answer.finish_reason {
                Some(FinishReason::ToolCalls) => {
                    calls += 1;
                    assert!(answer.tool_calls.iter().all(|c| c.id.starts_with("call_")));
                    assert!(answer.tool_calls.iter().all(|c| c.name == "search"));
                }
                Some(FinishReason::Stop) => {
                    texts += 1;
                    assert!(!answer.content.is_empty());
                    if stream {
                        assert_eq!(record.inter_token.len() + 1, record.tokens_out as usize);
                    }
                }
                other => panic!("finish reason {other:?}"),
            }
        }
        assert!(texts > 0 && calls > 0, "texts {texts}, calls {calls}");
        let stats = mock.stats();
        assert_eq!((stats.responses_requests, stats.chat_requests), (12, 0));
        stop.cancel();
    }
}

/// Answers every request in the framing it did not ask for: JSON to `stream: true`, an
/// event stream to `stream: false` (each a well-formed answer of its kind).
async fn the_other_framing(body: Bytes) -> Response {
    let asked: Value = serde_json::from_slice(&body).unwrap_or_default();
    if asked["stream"].as_bool().unwrap_or(false) {
        (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}"#,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "Text/Event-Stream")],
            "event: response.created\ndata: {\"type\":\"response.created\"}\n\ndata: [DONE]\n\n",
        )
            .into_response()
    }
}

#[tokio::test]
async fn a_server_that_ignores_stream_is_a_stream_mismatch_on_both_apis() {
    let stop = CancellationToken::new();
    let router = Router::new()
        .route("/v1/chat/completions", post(the_other_framing))
        .route("/v1/responses", post(the_other_framing));
    let addr = serve(router, stop.clone()).await;
    let providers = [
        ("chat-streamed", "chat", true),
        ("chat-whole", "chat", false),
        ("responses-streamed", "responses", true),
        ("responses-whole", "responses", false),
    ];
    let s = scenario(&format!("http://{addr}/v1"), &providers, "");
    let clients = Clients::build(&s, &Embedded::Http(String::new())).expect("clients build");
    // Round-robin: each provider twice (the warning is logged once per provider).
    let mut seen = Vec::new();
    for i in 0..8 {
        let (record, result) = clients.llm.call(&request("hi", false), i).await;
        assert_eq!(result, Err(ErrorKind::StreamMismatch), "{record:?}");
        assert_eq!(record.attempts.len(), 1, "not retried: {record:?}");
        assert_eq!(record.attempts[0].status, Some(200));
        assert_eq!(record.attempts[0].error, Some(ErrorKind::StreamMismatch));
        seen.push(record.target);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "{seen:?}");
    stop.cancel();
}
