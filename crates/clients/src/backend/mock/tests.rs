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

use super::MockLlm;
use crate::backend::{AnyLlm, ConversationCache, Extras, Failure, HttpLlm, LlmBackend, Measured};
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

/// The in-process backend.
fn mock_llm(mock: &MockServer, stream: bool) -> MockLlm {
    MockLlm::new(mock.clone(), Some("sk-test"), "mock-gpt".to_owned(), stream)
}

/// The HTTP backend through the mock's router: the oracle.
fn router_llm(mock: &MockServer, stream: bool) -> HttpLlm {
    HttpLlm::new(
        Transport::InProcess(mock.clone()),
        "http://mock.in-process/v1",
        Extras::bearer(Some("sk-test")),
        "mock-gpt".to_owned(),
        stream,
    )
}

fn provider(mock: &MockServer, stream: bool, direct: bool) -> AnyLlm {
    if direct {
        AnyLlm::Mock(mock_llm(mock, stream))
    } else {
        AnyLlm::Http(router_llm(mock, stream))
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
    cfg: &MockConfig,
    stream: bool,
    direct: bool,
    requests: &[LlmRequest],
    limit: Duration,
) -> (Vec<Outcome>, StatsSnapshot) {
    let mock = MockServer::new(cfg.clone());
    let provider = provider(&mock, stream, direct);
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
    cfg: &MockConfig,
    stream: bool,
    requests: &[LlmRequest],
    limit: Duration,
) -> Vec<Outcome> {
    let (router, router_stats) = once(cfg, stream, false, requests, limit).await;
    let (direct, direct_stats) = once(cfg, stream, true, requests, limit).await;
    assert_eq!(direct, router, "stream: {stream}");
    assert_eq!(direct_stats, router_stats, "stream: {stream}");
    direct
}

async fn same(cfg: &MockConfig, stream: bool, request: &LlmRequest) -> Outcome {
    let mut outcomes = same_with(cfg, stream, std::slice::from_ref(request), LIMIT).await;
    outcomes.pop().expect("one outcome")
}

const LIMIT: Duration = Duration::from_secs(30);

fn ok(outcome: &Outcome) -> &(LlmResponse, Measured) {
    outcome.0.as_ref().expect("the attempt succeeds")
}

#[tokio::test(start_paused = true)]
async fn answers_match_the_router_path() {
    let plain = config("");
    let tools = config("tool_call_probability = 1.0\nmax_tool_calls = 2\n");
    let mut grouped = 0;
    for stream in [true, false] {
        for i in 0..6 {
            let text = same(
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

            let called = same(&tools, stream, &request(&format!("look {i} up"), 512, true)).await;
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
        let cut = same(&plain, stream, &request("cut short", 5, false)).await;
        let (answer, measured) = ok(&cut);
        assert_eq!(answer.finish_reason, Some(FinishReason::Length));
        assert_eq!(measured.tokens_out, 5);
        assert_eq!(answer.content.split(' ').count(), 5);

        let empty = same(&plain, stream, &request("say nothing", 0, false)).await;
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
    for stream in [true, false] {
        let outcomes = same_with(&cfg, stream, &requests, LIMIT).await;
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
    for stream in [true, false] {
        for tokens in [1, 2, 13] {
            let check = |kind: &str, extra: &str| with_fault(kind, extra, tokens);
            let limited = same(
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
                let outcome = same(&check(kind, ""), stream, &req).await;
                assert_eq!(
                    (failure(&outcome).kind, failure(&outcome).status),
                    (want, status)
                );
                assert_eq!(outcome.1, Duration::ZERO, "{kind}");
            }
            // A stall ends in a reset at the stall limit, or the caller's timeout first.
            let stalled = same(&check("stall", ""), stream, &req).await;
            assert_eq!(failure(&stalled).kind, ErrorKind::Reset);
            assert_eq!(stalled.1, Duration::from_secs(7));
            let gave_up = same_with(
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
                let outcome = same(&check(kind, ""), stream, &req).await;
                let f = failure(&outcome);
                assert_eq!(f.kind, want, "{kind} stream: {stream} tokens: {tokens}");
                // The tokens before the middle one arrived first.
                assert_eq!(f.ttft.is_some(), stream && tokens > 1, "{kind}");
            }
            let slow = same(&check("slow-first-token", "delay = \"3s\""), stream, &req).await;
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
    for stream in [true, false] {
        let outcome = same(&config(""), stream, &req).await;
        let f = failure(&outcome);
        assert_eq!((f.kind, f.status), (ErrorKind::ClientError, Some(400)));
    }
}

#[tokio::test]
async fn the_body_is_what_async_openai_sends() {
    let mock = MockServer::new(config(""));
    let mut req = request("where is my \"order\"?\nline two", 300, true);
    req.messages.insert(
        0,
        ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
    );
    let call = ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
        id: "call_1".to_owned(),
        function: FunctionCall {
            name: "search".to_owned(),
            arguments: "{\"query\":\"refund\",\"limit\":3}".to_owned(),
        },
    });
    req.messages.push(
        ChatCompletionRequestAssistantMessage {
            tool_calls: Some(vec![call]),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
    );
    req.messages.push(
        ChatCompletionRequestToolMessage {
            content: "refund policy: 30 days".into(),
            tool_call_id: "call_1".to_owned(),
        }
        .into(),
    );
    req.messages.push(
        ChatCompletionRequestAssistantMessage {
            content: Some("Refunds take 30 days.".into()),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
    );
    let mut no_tools = req.clone();
    no_tools.tools = Default::default();
    for stream in [true, false] {
        let (http, direct) = (router_llm(&mock, stream), mock_llm(&mock, stream));
        for r in [&req, &no_tools, &request("x", 0, false)] {
            let sent = serde_json::to_vec(&http.build(r)).expect("serializes");
            let direct = direct.body(r).expect("serializes");
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&sent)
            );
        }
    }
}

/// A conversation resent call after call with its digest kept, and cut back when an earlier
/// message changes: every call gets the router's answer for the whole body.
#[tokio::test(start_paused = true)]
async fn a_kept_digest_matches_the_router_path() {
    let cfg = config("tool_call_probability = 0.5\n");
    for stream in [true, false] {
        let (router_mock, direct_mock) =
            (MockServer::new(cfg.clone()), MockServer::new(cfg.clone()));
        let (router, direct) = (
            router_llm(&router_mock, stream),
            mock_llm(&direct_mock, stream),
        );
        let mut request = request("first question", 256, true);
        let mut kept = ConversationCache::new();
        for i in 0..8 {
            if i == 5 {
                // An earlier message rewritten, as a compression does.
                request.messages[1] = ChatCompletionRequestUserMessage::from("rewritten").into();
                kept.truncate(1);
            }
            direct.prepare(&mut kept, &request);
            assert_eq!(kept.mock.0.len(), request.messages.len());
            let t0 = Instant::now();
            let via_router = attempt(&router, &request).await;
            let router_took = t0.elapsed();
            let t0 = Instant::now();
            let via_digest = direct.attempt(&request, &kept).await;
            assert_eq!(via_digest, via_router, "call {i}, stream: {stream}");
            assert_eq!(t0.elapsed(), router_took);
            let answer = via_digest.expect("answered").0;
            request
                .messages
                .push(ChatCompletionRequestAssistantMessage::from(answer.content.as_str()).into());
            request.messages.push(
                ChatCompletionRequestUserMessage::from(format!("question {i}").as_str()).into(),
            );
        }
        sleep(Duration::from_millis(1)).await;
        // The calls alternate between the mocks, so only totals compare (not rate windows).
        let totals = |s: StatsSnapshot| (s.chat_requests, s.prompt_tokens, s.completion_tokens);
        assert_eq!(totals(direct_mock.stats()), totals(router_mock.stats()));
    }
}

/// Messages folded from their parts (the agents' kinds) and from their JSON (any other kind)
/// give the same digest: the same answer for the body of all of them.
#[tokio::test(start_paused = true)]
async fn messages_read_from_their_parts_fold_as_their_json() {
    use async_openai::types::chat::{
        ChatCompletionRequestMessageContentPartText, ChatCompletionRequestUserMessageContent,
        ChatCompletionRequestUserMessageContentPart,
    };

    let call = |id: &str, name: &str| {
        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
            id: id.to_owned(),
            function: FunctionCall {
                name: name.to_owned(),
                arguments: format!("{{\"query\":\"{name} \\\"quoted\\\"\"}}"),
            },
        })
    };
    let named_user = ChatCompletionRequestUserMessage {
        name: Some("alice".to_owned()),
        ..ChatCompletionRequestUserMessage::from("hi, it's me")
    };
    let parts_user = ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Array(vec![
            ChatCompletionRequestUserMessageContentPart::Text(
                ChatCompletionRequestMessageContentPartText {
                    text: "a part".to_owned(),
                    prompt_cache_breakpoint: None,
                },
            ),
        ]),
        name: None,
    };
    let mut req = request("where is my order?", 128, true);
    let messages: [(ChatCompletionRequestMessage, bool); 6] = [
        (
            ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
            true,
        ),
        (named_user.into(), true),
        (
            ChatCompletionRequestAssistantMessage {
                tool_calls: Some(vec![call("call_1", "search"), call("call_2", "lookup")]),
                ..ChatCompletionRequestAssistantMessage::default()
            }
            .into(),
            true,
        ),
        (
            ChatCompletionRequestToolMessage {
                content: "refund policy: 30 days".into(),
                tool_call_id: "call_1".to_owned(),
            }
            .into(),
            true,
        ),
        (parts_user.into(), false),
        (
            ChatCompletionRequestAssistantMessage::from("Refunds take 30 days.").into(),
            true,
        ),
    ];
    for (m, from_parts) in &messages {
        assert_eq!(super::parts(m).is_some(), *from_parts, "{m:?}");
    }
    req.messages
        .extend(messages.into_iter().map(|(message, _)| message));
    for stream in [true, false] {
        let (router_mock, direct_mock) = (MockServer::new(config("")), MockServer::new(config("")));
        let (router, direct) = (
            router_llm(&router_mock, stream),
            mock_llm(&direct_mock, stream),
        );
        let mut kept = ConversationCache::new();
        direct.prepare(&mut kept, &req);
        assert_eq!(kept.mock.0.len(), req.messages.len());
        let via_router = attempt(&router, &req).await;
        let via_digest = direct.attempt(&req, &kept).await;
        assert!(via_router.is_ok());
        assert_eq!(via_digest, via_router, "stream: {stream}");
    }
}
