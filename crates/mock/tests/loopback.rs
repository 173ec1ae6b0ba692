//! Loopback tests of the mock over real sockets (`127.0.0.1:0`), with async-openai as the
//! client: text answers, SSE streaming with usage, streamed tool calls, every fault kind, the
//! tool server, `/v1/models` and `/stats`.
//!
//! No retries: async-openai's default transport (`Client::with_config`, `Client::build` and
//! `Client::with_http_client` all go through `ReqwestExecutor::new` in its `src/executor.rs`)
//! wraps the reqwest client in `OpenAIRetryLayer`, which retries 429, 5xx and connection
//! errors; so `with_http_client` alone does not help. Every async-openai client here is built
//! with `Client::with_config(..).with_http_service(ReqwestService::new(reqwest_client))`
//! instead: `ReqwestService` (`async_openai::middleware::ReqwestService`, available with the
//! `middleware` feature the workspace already enables) is the crate's own bare transport, which
//! builds and sends each request exactly once, and `with_http_service` installs it with no
//! layer around it. The fault tests check that the mock saw exactly one request per call.
//!
//! Every test runs under a 20 s `tokio::time::timeout`, mock latencies are a few
//! milliseconds, and nothing sleeps to wait for something: the only timings are a client-side
//! timeout (stall) and a lower bound on the first chunk (slow first token).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionToolChoiceOption,
    ChatCompletionTools, CreateChatCompletionRequest, CreateChatCompletionStreamResponse,
    FinishReason, FunctionObject, Role, ToolChoiceOptions,
};
use fleetbench_mock as mock;
use futures_util::StreamExt;
use mock::{Answer, MockConfig, StatsSnapshot};
use serde_json::{Value, json};
use testkit::MockHandle;
use tokio::time::Instant;

/// The real-time bound of every test.
const LIMIT: Duration = Duration::from_secs(20);
const MODEL: &str = "mock-gpt";
const KEY: &str = "sk-loopback-very-secret-0123456789";

/// A scenario with two tools and a fast mock; `mock_extra` goes at the end of `[mock]` (keys,
/// then `[[mock.faults]]` tables).
fn config(mock_extra: &str) -> MockConfig {
    config_with_gap("1ms", mock_extra)
}

/// [`config`] with another gap between tokens.
fn config_with_gap(inter_token: &str, mock_extra: &str) -> MockConfig {
    let toml = format!(
        r#"
name = "loopback"
seed = 42

[tools.search]
description = "Search the knowledge base"
args = {{ query = "string", limit = "integer" }}
[tools.search.mock]
latency = "1ms"
response_tokens = 25

[tools.lookup_order]
description = "Look up an order by id"
args = {{ order_id = "id" }}
[tools.lookup_order.mock]
latency = "1ms"
response_tokens = 10

[mock]
capacity = 16
base_latency = "5ms"
inter_token = "{inter_token}"
output_tokens = {{ dist = "uniform", min = 8, max = 24 }}
models = ["{MODEL}"]
{mock_extra}
"#
    );
    MockConfig::from_scenario(&testkit::scenario(&toml))
}

/// A `[[mock.faults]]` rule hitting every chat request.
fn chat_fault(kind: &str, extra: &str) -> String {
    format!("[[mock.faults]]\nendpoint = \"chat\"\nkind = \"{kind}\"\nprobability = 1.0\n{extra}\n")
}

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took longer than 20 s")
}

/// A plain reqwest client (no proxy: everything here is loopback).
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client")
}

/// An async-openai client without the retry layer (see the top of the file).
fn client(mock: &MockHandle, key: &str) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(mock.base_url.as_str())
        .with_api_key(key);
    Client::with_config(config).with_http_service(ReqwestService::new(http()))
}

fn user(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestUserMessage::from(text).into()
}

/// A text request, non-streaming.
fn text_request(prompt: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        model: MODEL.to_owned(),
        messages: vec![user(prompt)],
        max_completion_tokens: Some(16),
        ..Default::default()
    }
}

/// The same request, streamed with a usage chunk.
fn streamed(mut req: CreateChatCompletionRequest) -> CreateChatCompletionRequest {
    req.stream = Some(true);
    req.stream_options = Some(ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    });
    req
}

/// The offered tools and their schemas' property names.
fn tools() -> Vec<(&'static str, Value)> {
    vec![
        (
            "search",
            json!({
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query", "limit"]
            }),
        ),
        (
            "lookup_order",
            json!({
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"]
            }),
        ),
    ]
}

fn tool_request(prompt: &str, choice: ToolChoiceOptions) -> CreateChatCompletionRequest {
    let tools = tools()
        .into_iter()
        .map(|(name, parameters)| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: name.to_owned(),
                    description: Some(format!("the {name} tool")),
                    parameters: Some(parameters),
                    strict: None,
                },
            })
        })
        .collect();
    CreateChatCompletionRequest {
        model: MODEL.to_owned(),
        messages: vec![user(prompt)],
        tools: Some(tools),
        tool_choice: Some(ChatCompletionToolChoiceOption::Mode(choice)),
        ..Default::default()
    }
}

/// What the mock plans for a request, from the exact bytes async-openai sends
/// (`serde_json::to_vec` of the request, after `create_stream` has set `stream: true`).
fn plan(config: &MockConfig, req: &CreateChatCompletionRequest) -> Answer {
    let body = serde_json::to_vec(req).expect("a request serializes");
    Answer::plan(config, &body).expect("the mock parses async-openai's request")
}

/// The words of a text, checking they are separated by single spaces.
fn words(text: &str) -> usize {
    let words: Vec<&str> = text.split(' ').collect();
    assert!(
        words.iter().all(|w| !w.is_empty()),
        "words must be separated by single spaces: {text:?}"
    );
    words.len()
}

/// Checks that `schema`'s property names are exactly the keys of the JSON object `arguments`.
fn assert_arguments_fit(name: &str, arguments: &str) {
    let schema = tools()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("`{name}` is not an offered tool"))
        .1;
    let wanted: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("the schema has properties")
        .keys()
        .map(String::as_str)
        .collect();
    let parsed: Value =
        serde_json::from_str(arguments).unwrap_or_else(|e| panic!("{name}: {arguments:?}: {e}"));
    let object = parsed
        .as_object()
        .unwrap_or_else(|| panic!("{name}: arguments are not an object: {arguments}"));
    let got: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(got, wanted, "{name}: {arguments}");
}

/// A whole stream, every item kept.
async fn collect_stream(
    client: &Client<OpenAIConfig>,
    req: CreateChatCompletionRequest,
) -> Vec<Result<CreateChatCompletionStreamResponse, OpenAIError>> {
    let stream = client
        .chat()
        .create_stream(req)
        .await
        .expect("the stream opens");
    stream.collect().await
}

/// The text of a stream's chunks, concatenated.
fn content_of(chunks: &[CreateChatCompletionStreamResponse]) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.content.as_deref())
        .collect()
}

/// A plain JSON chat request body.
fn raw_body() -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": "hello over plain HTTP"}]})
}

async fn raw_post(mock: &MockHandle) -> Result<reqwest::Response, reqwest::Error> {
    http()
        .post(format!("{}/chat/completions", mock.base_url))
        .bearer_auth(KEY)
        .json(&raw_body())
        .send()
        .await
}

/// The HTTP status of an async-openai API error.
fn api_status(err: &OpenAIError) -> u16 {
    match err {
        OpenAIError::ApiError(e) => e.status_code.as_u16(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A transport failure without any HTTP response: connect/request error or a reset.
fn assert_connection_error(err: &reqwest::Error) {
    assert!(
        !err.is_status() && err.status().is_none(),
        "not an HTTP status error: {err:?}"
    );
    let reset =
        std::iter::successors(Some(err as &dyn std::error::Error), |e| (*e).source()).any(|e| {
            e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionReset)
        });
    assert!(
        err.is_connect() || err.is_request() || reset,
        "expected a connection error: {err:?}"
    );
}

// ---- 1. non-streaming text ----

#[tokio::test]
async fn non_streaming_text_answer() {
    bounded(async {
        let config = config("");
        let mock = testkit::spawn_mock(config.clone()).await;
        let client = client(&mock, KEY);
        let req = text_request("Tell me about the loopback interface.");
        let expected = plan(&config, &req);
        let resp = client.chat().create(req).await.expect("a completion");

        assert_eq!(resp.object, "chat.completion");
        assert_eq!(resp.model, MODEL);
        assert_eq!(resp.choices.len(), 1);
        let choice = &resp.choices[0];
        assert!(
            matches!(
                choice.finish_reason,
                Some(FinishReason::Stop | FinishReason::Length)
            ),
            "{:?}",
            choice.finish_reason
        );
        assert_eq!(choice.message.role, Role::Assistant);
        assert!(choice.message.tool_calls.is_none());
        let content = choice
            .message
            .content
            .as_deref()
            .expect("a text answer has content");
        assert!(!content.is_empty());

        let usage = resp.usage.expect("usage");
        assert!(usage.prompt_tokens > 0);
        assert_eq!(
            usage.completion_tokens as usize,
            words(content),
            "{content:?}"
        );
        assert_eq!(
            usage.total_tokens,
            usage.prompt_tokens + usage.completion_tokens
        );
        assert!(
            usage.completion_tokens <= 16,
            "max_completion_tokens is respected"
        );

        // Deterministic: exactly what the mock plans for these bytes.
        assert_eq!(content, expected.text());
        assert_eq!(resp.id, expected.id);
        assert_eq!(usage.prompt_tokens, expected.prompt_tokens);
        assert_eq!(mock.stats().chat_requests, 1);
    })
    .await;
}

// ---- 2. streaming text ----

#[tokio::test]
async fn streaming_text_answer_with_usage_is_consistent_and_deterministic() {
    bounded(async {
        let config = config("");
        let mock = testkit::spawn_mock(config.clone()).await;
        let client = client(&mock, KEY);
        let req = streamed(text_request("Stream me a short answer, please."));
        let expected = plan(&config, &req);

        let items = collect_stream(&client, req.clone()).await;
        let chunks: Vec<CreateChatCompletionStreamResponse> = items
            .into_iter()
            .map(|r| r.expect("every chunk parses"))
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c.object == "chat.completion.chunk" && c.id == expected.id)
        );
        assert_eq!(
            chunks[0].choices[0].delta.role,
            Some(Role::Assistant),
            "the first delta has the role"
        );

        // The usage chunk: last, with no choices.
        let usage_chunks: Vec<usize> = (0..chunks.len())
            .filter(|&i| chunks[i].usage.is_some())
            .collect();
        assert_eq!(
            usage_chunks,
            vec![chunks.len() - 1],
            "exactly one usage chunk, the last"
        );
        let last = &chunks[chunks.len() - 1];
        assert!(last.choices.is_empty());
        let usage = last.usage.clone().expect("usage");
        assert!(usage.prompt_tokens > 0);
        assert_eq!(
            usage.total_tokens,
            usage.prompt_tokens + usage.completion_tokens
        );

        // The last chunk with choices finishes the answer, and only it.
        let with_choices: Vec<&CreateChatCompletionStreamResponse> =
            chunks.iter().filter(|c| !c.choices.is_empty()).collect();
        let (final_chunk, before) = with_choices.split_last().expect("chunks with choices");
        assert!(
            matches!(
                final_chunk.choices[0].finish_reason,
                Some(FinishReason::Stop | FinishReason::Length)
            ),
            "{:?}",
            final_chunk.choices[0].finish_reason
        );
        assert!(before.iter().all(|c| c.choices[0].finish_reason.is_none()));

        // One word per token.
        let content = content_of(&chunks);
        assert_eq!(
            words(&content),
            usage.completion_tokens as usize,
            "{content:?}"
        );
        let content_chunks = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter(|c| c.delta.content.as_deref().is_some_and(|t| !t.is_empty()));
        assert_eq!(
            content_chunks.count(),
            usage.completion_tokens as usize,
            "one chunk per token"
        );
        assert_eq!(
            content,
            expected.text(),
            "the deltas concatenate to the planned text"
        );

        // The same request streams the same answer again.
        let again: Vec<CreateChatCompletionStreamResponse> = collect_stream(&client, req)
            .await
            .into_iter()
            .map(|r| r.expect("every chunk parses"))
            .collect();
        assert_eq!(content_of(&again), content);
        assert_eq!(again.last().and_then(|c| c.usage.clone()), Some(usage));

        // The non-streamed twin is also exactly what the mock plans for its own bytes.
        let plain = text_request("Stream me a short answer, please.");
        let plain_expected = plan(&config, &plain);
        let resp = client.chat().create(plain).await.expect("a completion");
        assert_eq!(
            resp.choices[0].message.content.as_deref(),
            Some(plain_expected.text().as_str())
        );
        assert_eq!(mock.stats().chat_requests, 3);
    })
    .await;
}

// ---- 3. tool calls ----

/// One tool call reassembled from stream deltas.
#[derive(Debug, Default)]
struct StreamedCall {
    id: Option<String>,
    name: Option<String>,
    arguments: String,
    deltas: usize,
}

#[tokio::test]
async fn streamed_tool_calls_reassemble_into_valid_calls() {
    bounded(async {
        let config = config("tool_call_probability = 1.0\nmax_tool_calls = 2");
        let mock = testkit::spawn_mock(config.clone()).await;
        let client = client(&mock, KEY);
        let req = streamed(tool_request(
            "Find order 42 and search the docs.",
            ToolChoiceOptions::Required,
        ));
        let expected = plan(&config, &req);

        let chunks: Vec<CreateChatCompletionStreamResponse> = collect_stream(&client, req)
            .await
            .into_iter()
            .map(|r| r.expect("every chunk parses"))
            .collect();
        let mut calls: BTreeMap<u32, StreamedCall> = BTreeMap::new();
        let mut finish = None;
        let mut call_chunks = 0_usize;
        for chunk in &chunks {
            for choice in &chunk.choices {
                assert!(
                    choice.delta.content.as_deref().is_none_or(str::is_empty),
                    "a tool answer has no text"
                );
                if let Some(reason) = choice.finish_reason {
                    assert!(finish.is_none(), "one finish_reason");
                    finish = Some(reason);
                }
                let Some(deltas) = &choice.delta.tool_calls else {
                    continue;
                };
                call_chunks += 1;
                for delta in deltas {
                    let call = calls.entry(delta.index).or_default();
                    let first = call.deltas == 0;
                    call.deltas += 1;
                    let function = delta.function.clone().unwrap_or_default();
                    if first {
                        call.id = Some(
                            delta
                                .id
                                .clone()
                                .expect("the first delta of a call has its id"),
                        );
                        call.name = Some(
                            function
                                .name
                                .clone()
                                .expect("the first delta of a call has its name"),
                        );
                    } else {
                        assert!(
                            delta.id.is_none() && function.name.is_none(),
                            "id and name only come once"
                        );
                    }
                    call.arguments
                        .push_str(function.arguments.as_deref().unwrap_or(""));
                }
            }
        }
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        assert!((1..=2).contains(&calls.len()), "{calls:?}");
        assert_eq!(
            calls.keys().copied().collect::<Vec<_>>(),
            (0..calls.len() as u32).collect::<Vec<_>>()
        );
        let offered: Vec<&str> = tools().iter().map(|(n, _)| *n).collect();
        let mut names = BTreeSet::new();
        for call in calls.values() {
            let name = call.name.as_deref().expect("a name");
            assert!(offered.contains(&name), "{name} was not offered");
            assert!(names.insert(name), "a tool is called once per answer");
            assert!(
                call.id.as_deref().is_some_and(|id| id.starts_with("call_")),
                "{call:?}"
            );
            assert_arguments_fit(name, &call.arguments);
        }

        // One token per tool-call delta, and exactly the planned calls.
        let usage = chunks
            .last()
            .and_then(|c| c.usage.clone())
            .expect("a usage chunk");
        assert_eq!(usage.completion_tokens as usize, call_chunks);
        assert_eq!(expected.tool_calls.len(), calls.len());
        for (planned, got) in expected.tool_calls.iter().zip(calls.values()) {
            assert_eq!(Some(&planned.id), got.id.as_ref());
            assert_eq!(Some(&planned.name), got.name.as_ref());
            assert_eq!(planned.arguments, got.arguments);
        }
    })
    .await;
}

#[tokio::test]
async fn non_streamed_tool_calls_are_valid_calls() {
    bounded(async {
        let config = config("tool_call_probability = 1.0\nmax_tool_calls = 2");
        let mock = testkit::spawn_mock(config.clone()).await;
        let client = client(&mock, KEY);
        let offered: Vec<&str> = tools().iter().map(|(n, _)| *n).collect();
        // `auto` with probability 1.0 and `required` both call tools.
        for (prompt, choice) in [
            ("Which orders are late?", ToolChoiceOptions::Auto),
            ("Look up order 7.", ToolChoiceOptions::Required),
        ] {
            let req = tool_request(prompt, choice);
            let expected = plan(&config, &req);
            let resp = client.chat().create(req).await.expect("a completion");
            let choice = &resp.choices[0];
            assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
            assert!(
                choice.message.content.is_none(),
                "{:?}",
                choice.message.content
            );
            let calls = choice.message.tool_calls.as_deref().expect("tool calls");
            assert!((1..=2).contains(&calls.len()), "{calls:?}");
            assert_eq!(calls.len(), expected.tool_calls.len());
            for (call, planned) in calls.iter().zip(&expected.tool_calls) {
                let ChatCompletionMessageToolCalls::Function(call) = call else {
                    panic!("a function call expected: {call:?}")
                };
                assert!(
                    offered.contains(&call.function.name.as_str()),
                    "{}",
                    call.function.name
                );
                assert_arguments_fit(&call.function.name, &call.function.arguments);
                assert_eq!(call.id, planned.id);
                assert_eq!(call.function.name, planned.name);
                assert_eq!(call.function.arguments, planned.arguments);
            }
            let usage = resp.usage.expect("usage");
            assert!(usage.prompt_tokens > 0);
            assert_eq!(usage.completion_tokens, expected.completion_tokens());
        }
    })
    .await;
}

// ---- 4. faults, one per kind ----

#[tokio::test]
async fn fault_rate_limit_is_429_with_retry_after() {
    bounded(async {
        let mock =
            testkit::spawn_mock(config(&chat_fault("rate-limit", "retry_after = \"2s\""))).await;
        let resp = raw_post(&mock).await.expect("a response");
        assert_eq!(resp.status().as_u16(), 429);
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .expect("a Retry-After header");
        assert_eq!(retry_after.to_str().expect("ASCII"), "2");
        let body: Value = resp.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");

        let err = client(&mock, KEY)
            .chat()
            .create(text_request("rate limited"))
            .await
            .expect_err("a rate-limit error");
        assert_eq!(api_status(&err), 429);
        let OpenAIError::ApiError(api) = &err else {
            unreachable!()
        };
        assert_eq!(api.api_error.code.as_deref(), Some("rate_limit_exceeded"));
        let stats = mock.stats();
        assert_eq!(stats.chat_requests, 2, "no retries");
        assert_eq!(stats.faults.get("rate-limit"), Some(&2));
    })
    .await;
}

#[tokio::test]
async fn fault_server_error_is_500() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("server-error", ""))).await;
        assert_eq!(
            raw_post(&mock).await.expect("a response").status().as_u16(),
            500
        );
        let err = client(&mock, KEY)
            .chat()
            .create(text_request("boom"))
            .await
            .expect_err("a 500");
        assert_eq!(api_status(&err), 500);
        assert_eq!(mock.stats().chat_requests, 2, "no retries");
    })
    .await;
}

#[tokio::test]
async fn fault_unavailable_is_503() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("unavailable", ""))).await;
        assert_eq!(
            raw_post(&mock).await.expect("a response").status().as_u16(),
            503
        );
        let err = client(&mock, KEY)
            .chat()
            .create(text_request("busy"))
            .await
            .expect_err("a 503");
        assert_eq!(api_status(&err), 503);
        assert_eq!(mock.stats().chat_requests, 2, "no retries");
    })
    .await;
}

#[tokio::test]
async fn fault_reset_is_a_connection_error() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("reset", ""))).await;
        let err = raw_post(&mock).await.expect_err("the connection is reset");
        assert_connection_error(&err);

        let err = client(&mock, KEY)
            .chat()
            .create(text_request("reset me"))
            .await
            .expect_err("a reset");
        match &err {
            OpenAIError::Reqwest(e) => assert_connection_error(e),
            other => panic!("expected a transport error, got {other:?}"),
        }
        assert_eq!(mock.stats().chat_requests, 2, "no retries");
    })
    .await;
}

#[tokio::test]
async fn fault_stall_never_completes() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&format!(
            "stall_limit = \"60s\"\n{}",
            chat_fault("stall", "")
        )))
        .await;
        let client = client(&mock, KEY);
        let outcome = tokio::time::timeout(
            Duration::from_millis(300),
            client.chat().create(text_request("stall")),
        )
        .await;
        assert!(
            outcome.is_err(),
            "the stalled request completed: {outcome:?}"
        );
        let stream = tokio::time::timeout(
            Duration::from_millis(300),
            client.chat().create_stream(streamed(text_request("stall"))),
        )
        .await;
        assert!(stream.is_err(), "a stalled stream opened");
    })
    .await;
}

/// The contract of `truncate` ("the response stops halfway and the connection is cut"): the
/// status line and headers arrive, then the body breaks off.
#[tokio::test]
async fn fault_truncate_non_streaming_cuts_the_body() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("truncate", ""))).await;
        let resp = raw_post(&mock).await.expect("the response head arrives");
        assert_eq!(resp.status().as_u16(), 200);
        let err = resp.bytes().await.expect_err("the body is cut");
        assert!(err.is_body() || err.is_decode(), "{err:?}");
    })
    .await;
}

/// Whatever the bytes on the wire, async-openai sees a transport failure (not an API or JSON
/// error) and does not retry.
#[tokio::test]
async fn fault_truncate_non_streaming_fails_the_request() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("truncate", ""))).await;
        let err = client(&mock, KEY)
            .chat()
            .create(text_request("truncate me"))
            .await
            .expect_err("cut");
        match &err {
            OpenAIError::Reqwest(e) => assert!(e.status().is_none(), "{e:?}"),
            other => panic!("expected a transport error, got {other:?}"),
        }
        let stats = mock.stats();
        assert_eq!(stats.chat_requests, 1, "no retries");
        assert_eq!(stats.faults.get("truncate"), Some(&1));
    })
    .await;
}

#[tokio::test]
async fn fault_truncate_streaming_errors_before_done() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("truncate", ""))).await;
        let req = streamed(text_request("truncate my stream"));
        let stream = client(&mock, KEY).chat().create_stream(req).await.expect("the stream opens before the cut");
        let items: Vec<_> = stream.collect().await;
        let (ok, errors): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let err = errors.into_iter().next().and_then(Result::err).expect("an error");
        assert!(
            matches!(&err, OpenAIError::StreamError(e) if matches!(**e, StreamError::EventStream(_))),
            "expected a stream transport error, got {err:?}"
        );
        let ok: Vec<CreateChatCompletionStreamResponse> = ok.into_iter().map(Result::unwrap).collect();
        assert!(ok.iter().flat_map(|c| &c.choices).all(|c| c.finish_reason.is_none()), "no finish before the cut");
        assert!(ok.iter().all(|c| c.usage.is_none()), "no usage before the cut");
        assert_eq!(mock.stats().chat_requests, 1, "no retries");
    })
    .await;
}

/// The chunks sent before the cut reach the client. With no gap between tokens every chunk is
/// due at once, which is also what a loaded machine produces with any gap.
#[tokio::test]
async fn fault_truncate_streaming_delivers_the_first_half() {
    bounded(async {
        let config = config_with_gap("0ms", &chat_fault("truncate", ""));
        let mock = testkit::spawn_mock(config.clone()).await;
        let req = streamed(text_request("truncate my stream"));
        let expected = plan(&config, &req);
        let items = collect_stream(&client(&mock, KEY), req).await;
        let (ok, errors): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let half = expected.completion_tokens() as usize / 2;
        assert_eq!(ok.len(), half, "the {half} chunks before the cut arrive");
    })
    .await;
}

#[tokio::test]
async fn fault_malformed_non_streaming_is_a_json_error() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("malformed", ""))).await;
        let err = client(&mock, KEY)
            .chat()
            .create(text_request("malformed"))
            .await
            .expect_err("bad JSON");
        assert!(
            matches!(err, OpenAIError::JSONDeserialize(..)),
            "expected a JSON error, got {err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn fault_malformed_streaming_is_a_json_error_for_one_chunk() {
    bounded(async {
        let config = config(&chat_fault("malformed", ""));
        let mock = testkit::spawn_mock(config.clone()).await;
        let req = streamed(text_request("malformed stream"));
        let expected = plan(&config, &req);
        let items = collect_stream(&client(&mock, KEY), req).await;
        let bad: Vec<usize> = (0..items.len()).filter(|&i| items[i].is_err()).collect();
        assert_eq!(bad.len(), 1, "{items:?}");
        let bad = bad[0];
        assert!(
            bad > 0 && bad < items.len() - 1,
            "the bad chunk is in the middle: {bad} of {}",
            items.len()
        );
        let err = items[bad].as_ref().expect_err("the bad chunk");
        assert!(
            matches!(err, OpenAIError::JSONDeserialize(..)),
            "expected a JSON error, got {err:?}"
        );
        // The stream goes on to its end after the bad chunk.
        let ok: Vec<&CreateChatCompletionStreamResponse> =
            items.iter().filter_map(|r| r.as_ref().ok()).collect();
        let finish = ok
            .iter()
            .flat_map(|c| &c.choices)
            .find_map(|c| c.finish_reason);
        assert!(
            matches!(finish, Some(FinishReason::Stop | FinishReason::Length)),
            "{finish:?}"
        );
        let usage = ok
            .last()
            .and_then(|c| c.usage.clone())
            .expect("a usage chunk");
        assert_eq!(usage.completion_tokens, expected.completion_tokens());
    })
    .await;
}

#[tokio::test]
async fn fault_slow_first_token_delays_the_first_chunk() {
    bounded(async {
        let mock =
            testkit::spawn_mock(config(&chat_fault("slow-first-token", "delay = \"300ms\""))).await;
        let client = client(&mock, KEY);
        let started = Instant::now();
        let mut stream = client
            .chat()
            .create_stream(streamed(text_request("slowly")))
            .await
            .expect("a stream");
        let first = stream
            .next()
            .await
            .expect("a first chunk")
            .expect("it parses");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300),
            "first chunk after {waited:?}"
        );
        assert_eq!(first.choices[0].delta.role, Some(Role::Assistant));
        let rest: Vec<_> = stream.collect().await;
        assert!(rest.iter().all(Result::is_ok), "{rest:?}");
        assert!(
            rest.last()
                .and_then(|r| r.as_ref().ok())
                .is_some_and(|c| c.usage.is_some())
        );
    })
    .await;
}

// ---- 5. tool server and models ----

#[tokio::test]
async fn tool_server_answers_known_tools_and_404s_unknown_ones() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let http = http();
        let resp = http
            .post(mock.url("/tools/search"))
            .bearer_auth(KEY)
            .json(&json!({"query": "loopback sockets", "limit": 3}))
            .send()
            .await
            .expect("a response");
        assert_eq!(resp.status().as_u16(), 200);
        let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
        assert_eq!(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let body: Value = resp.json().await.expect("JSON");
        let output = body["output"].as_str().expect("an output string");
        let tokens = body["tokens"].as_u64().expect("a token count");
        assert_eq!(tokens, 25, "{body}");
        assert_eq!(words(output) as u64, tokens, "{output:?}");

        let resp = http
            .post(mock.url("/tools/no_such_tool"))
            .json(&json!({}))
            .send()
            .await
            .expect("a response");
        assert_eq!(resp.status().as_u16(), 404);
        let body: Value = resp.json().await.expect("JSON");
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("OpenAI error shape: {body}"));
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("no_such_tool")),
            "{body}"
        );
        assert!(error["type"].is_string(), "{body}");
        assert!(
            error.contains_key("param") && error.contains_key("code"),
            "{body}"
        );

        let stats = mock.stats();
        assert_eq!(stats.tool_requests, 1, "an unknown tool is not counted");
        assert_eq!(stats.by_tool.get("search").map(|s| s.requests), Some(1));
    })
    .await;
}

#[tokio::test]
async fn models_are_listed() {
    // async-openai's `models()` group needs its `model` feature, which the workspace does not
    // enable: plain reqwest instead.
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let resp = http()
            .get(format!("{}/models", mock.base_url))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("a response");
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(body["object"], "list");
        let ids: Vec<&str> = body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| {
                assert_eq!(m["object"], "model");
                m["id"].as_str().expect("an id")
            })
            .collect();
        assert!(ids.contains(&MODEL), "{ids:?}");
    })
    .await;
}

// ---- 6. /stats ----

#[tokio::test]
async fn stats_count_requests_per_key_without_revealing_it() {
    bounded(async {
        const N: u64 = 5;
        let mock = testkit::spawn_mock(config("")).await;
        let client = client(&mock, KEY);
        for i in 0..N {
            client
                .chat()
                .create(text_request(&format!("request {i}")))
                .await
                .expect("a completion");
        }
        let text = http()
            .get(mock.url("/stats"))
            .send()
            .await
            .expect("a response")
            .error_for_status()
            .expect("200")
            .text()
            .await
            .expect("a body");
        assert!(!text.contains(KEY), "/stats reveals the API key: {text}");
        assert!(
            !text.contains("very-secret"),
            "/stats reveals part of the API key: {text}"
        );

        let stats: StatsSnapshot = serde_json::from_str(&text).expect("a StatsSnapshot");
        assert_eq!(stats.chat_requests, N);
        let fingerprint = mock::key_fingerprint(Some(KEY));
        assert_ne!(fingerprint, KEY);
        let by_key = stats
            .by_key
            .get(&fingerprint)
            .unwrap_or_else(|| panic!("{fingerprint} in {:?}", stats.by_key));
        assert_eq!(by_key.requests, N);
        assert_eq!(by_key.in_flight, 0);
        assert_eq!(stats.by_key.len(), 1, "{:?}", stats.by_key);
        assert_eq!(stats.by_model.get(MODEL).map(|s| s.requests), Some(N));
        assert!(stats.prompt_tokens > 0 && stats.completion_tokens > 0);
    })
    .await;
}
