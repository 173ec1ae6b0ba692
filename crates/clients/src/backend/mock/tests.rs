//! The direct path against the router path. The same request goes through both, each to a
//! fresh mock with the same configuration, under paused time: the results (answer, usage,
//! TTFT, gaps; or the failure with its kind, status, `Retry-After` and TTFT), the time taken
//! and the mock's `/stats` must be equal.

use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools, FinishReason,
    FunctionCall, FunctionObject,
};
use serde_json::json;
use tokio::time::{Instant, sleep, timeout};

use metrics::ErrorKind;
use mock::{MockConfig, MockServer, StatsSnapshot};

use scenario::Api;

use super::MockLlm;
use crate::backend::{
    AnyLlm, ConversationCache, Extras, Failure, HttpLlm, HttpResponses, LlmBackend, Measured,
};
use crate::llm::{LlmRequest, LlmResponse};
use crate::transport::Transport;

/// Gaps under a millisecond, so several tokens often share one frame (one network read).
const MOCK: &str = r#"
[mock]
prefill_per_token = "7us"
base_latency = { dist = "lognormal", median = "40ms", p95 = "120ms" }
inter_token = { dist = "uniform", min = "100us", max = "2500us" }
"#;

type Outcome = (Outcome0, Duration);

/// The mock with `extra` keys of `[mock]` (and tables after them).
fn config(extra: &str) -> MockConfig {
    let mut toml = MOCK.to_owned();
    for (key, default) in [
        ("capacity", "4"),
        ("output_tokens", "{ dist = \"uniform\", min = 8, max = 40 }"),
        ("tool_call_probability", "0.0"),
    ] {
        if !extra.contains(key) {
            toml.push_str(&format!("{key} = {default}\n"));
        }
    }
    toml.push_str(extra);
    MockConfig::from_scenario(&testkit::scenario(&toml))
}

/// Both APIs a provider may speak: every comparison runs for each.
const APIS: [Api; 2] = [Api::Chat, Api::Responses];

/// The in-process backend.
fn mock_llm(mock: &MockServer, stream: bool, api: Api) -> MockLlm {
    MockLlm::new(mock.clone(), Some("sk-test"), "mock-gpt".to_owned(), stream).with_api(api)
}

/// The HTTP backend through the mock's router: the oracle.
fn router_llm(mock: &MockServer, stream: bool) -> HttpLlm {
    HttpLlm::new(
        "mock",
        Transport::InProcess(mock.clone()),
        "http://mock.in-process/v1",
        Extras::bearer(Some("sk-test")),
        "mock-gpt".to_owned(),
        stream,
    )
    .expect("the base URL parses")
}

/// The HTTP backend of `api` through the mock's router.
fn router(mock: &MockServer, stream: bool, api: Api) -> AnyLlm {
    match api {
        Api::Chat => AnyLlm::Http(router_llm(mock, stream)),
        Api::Responses => AnyLlm::Responses(HttpResponses::new(
            "mock",
            Transport::InProcess(mock.clone()),
            "http://mock.in-process/v1",
            Extras::bearer(Some("sk-test")),
            "mock-gpt".to_owned(),
            stream,
        )),
    }
}

fn provider(mock: &MockServer, stream: bool, direct: bool, api: Api) -> AnyLlm {
    if direct {
        AnyLlm::Mock(mock_llm(mock, stream, api))
    } else {
        router(mock, stream, api)
    }
}

/// One attempt without a kept conversation.
async fn attempt(provider: &impl LlmBackend, request: &LlmRequest) -> Outcome0 {
    provider.attempt(request, &ConversationCache::new()).await
}

type Outcome0 = Result<(LlmResponse, Measured), Failure>;

fn request(text: &str, max_tokens: u32, tools: bool) -> LlmRequest {
    let message: ChatCompletionRequestMessage = ChatCompletionRequestUserMessage::from(text).into();
    let tool = |name: &str| {
        ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: name.to_owned(),
                description: None,
                parameters: Some(json!({"type": "object", "properties": {
                    "query": {"type": "string"}, "limit": {"type": "integer"}}})),
                strict: None,
            },
        })
    };
    LlmRequest {
        messages: vec![message],
        tools: if tools {
            vec![tool("search"), tool("lookup_order")].into()
        } else {
            Default::default()
        },
        max_tokens,
        prompt_tokens: 20,
    }
}

/// One attempt under a 30 s timeout (as `drive` runs it), and the mock's stats after it.
async fn attempt_on(provider: &AnyLlm, request: &LlmRequest, limit: Duration) -> Outcome {
    let t0 = Instant::now();
    let result = timeout(limit, attempt(provider, request))
        .await
        .unwrap_or_else(|_| Err(Failure::new(ErrorKind::Timeout)));
    (result, t0.elapsed())
}

async fn once(
    api: Api,
    cfg: &MockConfig,
    stream: bool,
    direct: bool,
    requests: &[LlmRequest],
    limit: Duration,
) -> (Vec<Outcome>, StatsSnapshot) {
    let mock = MockServer::new(cfg.clone());
    let provider = provider(&mock, stream, direct, api);
    let outcomes = futures_util::future::join_all(
        requests
            .iter()
            .map(|request| attempt_on(&provider, request, limit)),
    )
    .await;
    // Let the router path's stream tasks end before reading the stats.
    sleep(Duration::from_millis(1)).await;
    (outcomes, mock.stats())
}

/// `requests`, sent at once, through the router and directly: the outcomes must be equal.
async fn same_with(
    api: Api,
    cfg: &MockConfig,
    stream: bool,
    requests: &[LlmRequest],
    limit: Duration,
) -> Vec<Outcome> {
    let (router, router_stats) = once(api, cfg, stream, false, requests, limit).await;
    let (direct, direct_stats) = once(api, cfg, stream, true, requests, limit).await;
    assert_eq!(direct, router, "{api} stream: {stream}");
    assert_eq!(direct_stats, router_stats, "{api} stream: {stream}");
    let counted = match api {
        Api::Chat => (direct_stats.chat_requests, 0),
        Api::Responses => (0, direct_stats.responses_requests),
    };
    assert_eq!(
        (direct_stats.chat_requests, direct_stats.responses_requests),
        counted,
        "counted under {api} only"
    );
    direct
}

async fn same(api: Api, cfg: &MockConfig, stream: bool, request: &LlmRequest) -> Outcome {
    let mut outcomes = same_with(api, cfg, stream, std::slice::from_ref(request), LIMIT).await;
    outcomes.pop().expect("one outcome")
}

const LIMIT: Duration = Duration::from_secs(30);

/// Each API, streamed and whole.
fn modes() -> impl Iterator<Item = (Api, bool)> {
    APIS.into_iter()
        .flat_map(|api| [true, false].map(|stream| (api, stream)))
}

fn ok(outcome: &Outcome) -> &(LlmResponse, Measured) {
    outcome.0.as_ref().expect("the attempt succeeds")
}

#[tokio::test(start_paused = true)]
async fn answers_match_the_router_path() {
    let plain = config("");
    let tools = config("tool_call_probability = 1.0\nmax_tool_calls = 2\n");
    let mut grouped = 0;
    for (api, stream) in modes() {
        for i in 0..6 {
            let text = same(
                api,
                &plain,
                stream,
                &request(&format!("question {i}"), 512, false),
            )
            .await;
            let (answer, measured) = ok(&text);
            assert_eq!(answer.finish_reason, Some(FinishReason::Stop));
            assert!(!answer.content.is_empty() && answer.tool_calls.is_empty());
            assert!(measured.tokens_out >= 8 && measured.tokens_in > 0);
            if stream {
                assert!(measured.ttft.is_some());
                assert_eq!(measured.inter_token.len() + 1, measured.tokens_out as usize);
                grouped += measured.inter_token.iter().filter(|g| g.is_zero()).count();
            } else {
                assert_eq!((measured.ttft, measured.inter_token.len()), (None, 0));
            }

            let called = same(
                api,
                &tools,
                stream,
                &request(&format!("look {i} up"), 512, true),
            )
            .await;
            let (answer, measured) = ok(&called);
            assert_eq!(answer.finish_reason, Some(FinishReason::ToolCalls));
            assert!(answer.content.is_empty() && !answer.tool_calls.is_empty());
            for call in &answer.tool_calls {
                assert!(call.id.starts_with("call_"), "{call:?}");
                let args: serde_json::Value =
                    serde_json::from_str(&call.arguments).expect("JSON arguments");
                assert!(args.is_object());
            }
            assert_eq!(measured.ttft.is_some(), stream);
        }
        let cut = same(api, &plain, stream, &request("cut short", 5, false)).await;
        let (answer, measured) = ok(&cut);
        assert_eq!(answer.finish_reason, Some(FinishReason::Length));
        assert_eq!(measured.tokens_out, 5);
        assert_eq!(answer.content.split(' ').count(), 5);

        let empty = same(api, &plain, stream, &request("say nothing", 0, false)).await;
        let (answer, measured) = ok(&empty);
        assert_eq!((answer.content.as_str(), measured.ttft), ("", None));
    }
    assert!(grouped > 0, "the test needs tokens that share a frame");
}

#[tokio::test(start_paused = true)]
async fn queued_requests_match_the_router_path() {
    // One slot: three requests at once are answered one after the other, FIFO.
    let cfg = config("capacity = 1\n");
    let requests: Vec<_> = (0..3)
        .map(|i| request(&format!("queued {i}"), 64, false))
        .collect();
    for (api, stream) in modes() {
        let outcomes = same_with(api, &cfg, stream, &requests, LIMIT).await;
        let mut took: Vec<Duration> = outcomes.iter().map(|(_, took)| *took).collect();
        took.dedup();
        assert_eq!(took.len(), 3, "each waited for the one before: {took:?}");
    }
}

fn with_fault(kind: &str, extra: &str, tokens: u32) -> MockConfig {
    config(&format!(
        "output_tokens = {tokens}\nstall_limit = \"7s\"\n\
         [[mock.faults]]\nendpoint = \"chat\"\nkind = \"{kind}\"\nprobability = 1.0\n{extra}\n"
    ))
}

fn failure(outcome: &Outcome) -> &Failure {
    outcome.0.as_ref().expect_err("the attempt fails")
}

#[tokio::test(start_paused = true)]
async fn faults_match_the_router_path() {
    let req = request("x", 512, false);
    for (api, stream) in modes() {
        for tokens in [1, 2, 13] {
            let check = |kind: &str, extra: &str| with_fault(kind, extra, tokens);
            let limited = same(
                api,
                &check("rate-limit", "retry_after = \"2500ms\""),
                stream,
                &req,
            )
            .await;
            let f = failure(&limited);
            assert_eq!(f.kind, ErrorKind::RateLimited);
            assert_eq!(
                (f.status, f.retry_after),
                (Some(429), Some(Duration::from_secs(3)))
            );
            for (kind, want, status) in [
                ("server-error", ErrorKind::ServerError, Some(500)),
                ("unavailable", ErrorKind::Unavailable, Some(503)),
                ("reset", ErrorKind::Reset, None),
            ] {
                let outcome = same(api, &check(kind, ""), stream, &req).await;
                assert_eq!(
                    (failure(&outcome).kind, failure(&outcome).status),
                    (want, status)
                );
                assert_eq!(outcome.1, Duration::ZERO, "{kind}");
            }
            // A stall ends in a reset at the stall limit, or the caller's timeout first.
            let stalled = same(api, &check("stall", ""), stream, &req).await;
            assert_eq!(failure(&stalled).kind, ErrorKind::Reset);
            assert_eq!(stalled.1, Duration::from_secs(7));
            let gave_up = same_with(
                api,
                &check("stall", ""),
                stream,
                std::slice::from_ref(&req),
                Duration::from_secs(2),
            )
            .await;
            assert_eq!(failure(&gave_up[0]).kind, ErrorKind::Timeout);

            for (kind, want) in [
                ("truncate", ErrorKind::Truncated),
                ("malformed", ErrorKind::Malformed),
            ] {
                let outcome = same(api, &check(kind, ""), stream, &req).await;
                let f = failure(&outcome);
                assert_eq!(f.kind, want, "{kind} stream: {stream} tokens: {tokens}");
                // The tokens before the middle one arrived first.
                assert_eq!(f.ttft.is_some(), stream && tokens > 1, "{kind}");
            }
            let slow = same(
                api,
                &check("slow-first-token", "delay = \"3s\""),
                stream,
                &req,
            )
            .await;
            let (_, measured) = ok(&slow);
            assert!(slow.1 > Duration::from_secs(3));
            assert_eq!(
                measured.ttft.is_some_and(|t| t > Duration::from_secs(3)),
                stream
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_is_the_same_client_error() {
    let mut req = request("x", 16, false);
    req.messages.clear();
    for (api, stream) in modes() {
        let outcome = same(api, &config(""), stream, &req).await;
        let f = failure(&outcome);
        assert_eq!((f.kind, f.status), (ErrorKind::ClientError, Some(400)));
    }
}

/// A conversation resent call after call with its digest kept, and cut back when an earlier
/// message changes: every call gets the router's answer for the whole body. The answers go
/// back into the conversation as an agent sends them (tool calls, then their results), so
/// over the Responses API the call ids, `function_call` and `function_call_output` items
/// make the same conversation as in chat.
#[tokio::test(start_paused = true)]
async fn a_kept_digest_matches_the_router_path() {
    let cfg = config("tool_call_probability = 0.5\n");
    for (api, stream) in modes() {
        let (router_mock, direct_mock) =
            (MockServer::new(cfg.clone()), MockServer::new(cfg.clone()));
        let (router, direct) = (
            router(&router_mock, stream, api),
            mock_llm(&direct_mock, stream, api),
        );
        let mut request = request("first question", 256, true);
        request.messages.insert(
            0,
            ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
        );
        let mut kept = ConversationCache::new();
        let mut called = 0;
        for i in 0..8 {
            if i == 5 {
                // An earlier message rewritten, as a compression does.
                request.messages[2] = ChatCompletionRequestUserMessage::from("rewritten").into();
                kept.truncate(2);
            }
            direct.prepare(&mut kept, &request);
            assert_eq!(kept.mock.0.len(), request.messages.len());
            let t0 = Instant::now();
            let via_router = attempt(&router, &request).await;
            let router_took = t0.elapsed();
            let t0 = Instant::now();
            let via_digest = direct.attempt(&request, &kept).await;
            assert_eq!(via_digest, via_router, "call {i}, {api} stream: {stream}");
            assert_eq!(t0.elapsed(), router_took);
            let answer = via_digest.expect("answered").0;
            called += usize::from(!answer.tool_calls.is_empty());
            push_answer(&mut request.messages, &answer, i);
        }
        assert!(called > 0, "the test needs tool calls");
        sleep(Duration::from_millis(1)).await;
        // The calls alternate between the mocks, so only totals compare (not rate windows).
        let totals = |s: StatsSnapshot| {
            let requests = (s.chat_requests, s.responses_requests);
            (requests, s.prompt_tokens, s.completion_tokens)
        };
        assert_eq!(totals(direct_mock.stats()), totals(router_mock.stats()));
    }
}

/// The answer as an agent adds it: the assistant's message (its text, its calls), each
/// call's result, then the next question.
fn push_answer(messages: &mut Vec<ChatCompletionRequestMessage>, answer: &LlmResponse, i: u32) {
    let calls: Vec<_> = answer
        .tool_calls
        .iter()
        .map(|c| {
            ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                id: c.id.clone(),
                function: FunctionCall {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            })
        })
        .collect();
    messages.push(
        ChatCompletionRequestAssistantMessage {
            content: (!answer.content.is_empty()).then(|| answer.content.as_str().into()),
            tool_calls: (!calls.is_empty()).then_some(calls),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
    );
    for call in &answer.tool_calls {
        messages.push(
            ChatCompletionRequestToolMessage {
                content: format!("{} found 3 results", call.name).into(),
                tool_call_id: call.id.clone(),
            }
            .into(),
        );
    }
    messages.push(ChatCompletionRequestUserMessage::from(format!("question {i}").as_str()).into());
}

mod bodies;
