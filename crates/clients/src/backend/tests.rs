//! The policies wrap any backend the same way: one policy test, unchanged, over the HTTP
//! backends (async-openai through the mock's router: the wire format, in-process so paused
//! time stays exact), chat completions and the Responses API, and over the in-process mock
//! backend speaking either; and each pair gives the same records.

use std::time::Duration;

use async_openai::types::chat::ChatCompletionRequestUserMessage;
use tokio::time::sleep;

use metrics::ErrorKind;
use mock::{MockConfig, MockServer};
use scenario::Scenario;

use super::{Extras, HttpLlm, HttpResponses, LlmBackend, MockLlm};
use crate::llm::{LlmClient, LlmRequest};
use crate::record::CallRecord;
use crate::transport::Transport;
use crate::{BreakerState, ConversationCache};

/// Two providers: `primary` (model `m-bad`) fails with 500s for its first 5 s, `backup`
/// answers. The primary's breaker opens after 3 failures in a row and probes after 2 s;
/// two retries a call; at most 2 calls in flight to each.
const POLICIES: &str = r#"
seed = 11
[llm]
routing = "priority"
[[llm.providers]]
name = "primary"
model = "m-bad"
limits = { max_in_flight = 2, max_queue = 64 }
retry = { max_attempts = 3, initial_backoff = "100ms", max_backoff = "400ms", budget_ratio = 1.0 }
breaker = { consecutive_failures = 3, open_for = "2s", half_open_probes = 1 }
[[llm.providers]]
name = "backup"
model = "m-good"
limits = { max_in_flight = 2, max_queue = 64 }
[mock]
prefill_per_token = "0s"
base_latency = "40ms"
inter_token = "2ms"
output_tokens = 12
tool_call_probability = 0.0
[[mock.faults]]
endpoint = "chat"
kind = "server-error"
probability = 1.0
model = "m-bad"
until = "5s"
"#;

fn request(text: &str) -> LlmRequest {
    LlmRequest {
        messages: vec![ChatCompletionRequestUserMessage::from(text).into()],
        tools: Default::default(),
        max_tokens: 32,
        prompt_tokens: 8,
    }
}

/// A backend for each provider of `s`, reaching `mock`.
type Make<B> = fn(&MockServer, &scenario::Provider) -> B;

fn in_process(mock: &MockServer, p: &scenario::Provider) -> MockLlm {
    MockLlm::new(mock.clone(), None, p.model.clone(), p.stream)
}

fn over_http(mock: &MockServer, p: &scenario::Provider) -> HttpLlm {
    HttpLlm::new(
        &p.name,
        Transport::InProcess(mock.clone()),
        "http://mock.in-process/v1",
        Extras::default(),
        p.model.clone(),
        p.stream,
    )
    .expect("the base URL parses")
}

fn in_process_responses(mock: &MockServer, p: &scenario::Provider) -> MockLlm {
    in_process(mock, p).with_api(scenario::Api::Responses)
}

fn over_http_responses(mock: &MockServer, p: &scenario::Provider) -> HttpResponses {
    HttpResponses::new(
        &p.name,
        Transport::InProcess(mock.clone()),
        "http://mock.in-process/v1",
        Extras::default(),
        p.model.clone(),
        p.stream,
    )
}

/// The policy test: failures retried, the breaker opening, failover to the backup while it
/// is open, a probe after `open_for` that fails while the fault lasts, and one that closes
/// the breaker after it; four calls at once wait for the backup's two slots. Returns every
/// call's record, in order.
async fn policies_hold<B: LlmBackend>(make: Make<B>) -> Vec<CallRecord> {
    let s: Scenario = testkit::scenario(POLICIES);
    let mock = MockServer::new(MockConfig::from_scenario(&s));
    let backends = s.llm.providers.iter().map(|p| make(&mock, p)).collect();
    let llm = LlmClient::with_backends(&s.llm, backends);
    let mut records = Vec::new();

    // 1. The first call: three 500s from the primary (retried after backoff), which opens
    //    its breaker after the third; the call fails with the primary's error.
    let (first, result) = llm.call(&request("one"), 1).await;
    assert_eq!(result, Err(ErrorKind::ServerError), "{first:?}");
    assert_eq!(first.attempts.len(), 3);
    assert!(first.attempts.iter().all(|a| a.target == "primary"));
    assert!(first.attempts.iter().all(|a| a.status == Some(500)));
    assert!(first.backoff >= Duration::from_millis(100));
    assert_eq!(llm.breakers()[0].1, BreakerState::Open);
    records.push(first);

    // 2. While it is open, calls fail over to the backup at once; four at once share its two
    //    slots, so two of them wait for the pool.
    let calls: Vec<_> = (0..4).map(|i| request(&format!("q{i}"))).collect();
    let mut cache = ConversationCache::new();
    let (one, _) = llm.call_in(&mut cache, &calls[0], 2).await;
    assert!(one.failover && one.target == "backup" && one.breaker_rejections == 1);
    assert!(one.error.is_none() && one.tokens_out > 0, "{one:?}");
    records.push(one);
    let together = futures_util::future::join_all(
        calls
            .iter()
            .enumerate()
            .map(|(i, r)| llm.call(r, 10 + i as u64)),
    )
    .await;
    let waited = together
        .iter()
        .filter(|(r, _)| r.pool_wait > Duration::ZERO)
        .count();
    assert_eq!(waited, 2, "{together:?}");
    records.extend(together.into_iter().map(|(r, _)| r));

    // 3. After `open_for`, one probe goes to the primary; the fault still lasts, so it fails
    //    and the breaker opens again; the call is retried on the backup.
    sleep(Duration::from_millis(2100)).await;
    let (probed, result) = llm.call(&request("probe"), 3).await;
    assert!(result.is_ok(), "{probed:?}");
    assert!(probed.attempts[0].probe && probed.attempts[0].target == "primary");
    assert_eq!(probed.target, "backup");
    assert_eq!(llm.breakers()[0].1, BreakerState::Open);
    records.push(probed);

    // 4. Past the fault and `open_for` again: the probe succeeds and the breaker closes.
    sleep(Duration::from_secs(3)).await;
    let (healed, result) = llm.call(&request("healed"), 4).await;
    assert!(result.is_ok(), "{healed:?}");
    assert!(!healed.failover && healed.target == "primary" && healed.attempts[0].probe);
    assert_eq!(llm.breakers()[0].1, BreakerState::Closed);
    records.push(healed);
    records
}

#[tokio::test(start_paused = true)]
async fn the_policies_hold_over_http() {
    policies_hold(over_http).await;
}

#[tokio::test(start_paused = true)]
async fn the_policies_hold_over_the_in_process_mock() {
    policies_hold(in_process).await;
}

#[tokio::test(start_paused = true)]
async fn both_backends_give_the_same_records() {
    let http = policies_hold(over_http).await;
    let direct = policies_hold(in_process).await;
    assert_eq!(direct, http);
}

#[tokio::test(start_paused = true)]
async fn the_policies_hold_over_the_responses_api() {
    policies_hold(over_http_responses).await;
}

#[tokio::test(start_paused = true)]
async fn the_policies_hold_over_the_in_process_mock_as_responses() {
    policies_hold(in_process_responses).await;
}

/// Both APIs: the same answers, timings and failures; and the in-process mock speaking the
/// Responses API gives what its router gives.
#[tokio::test(start_paused = true)]
async fn both_apis_give_the_same_records() {
    let chat = policies_hold(over_http).await;
    let responses = policies_hold(over_http_responses).await;
    assert_eq!(responses, chat);
    let direct = policies_hold(in_process_responses).await;
    assert_eq!(direct, responses);
}
