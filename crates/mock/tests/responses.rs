//! `POST /v1/responses` over real sockets (`127.0.0.1:0`): async-openai's Responses client
//! (feature `responses`) reads every whole response and every streamed event into its own
//! types; the answers are the chat endpoint's for the same conversation and seed; every fault
//! kind; `previous_response_id`; `/stats`. Then the official OpenAI Python SDK
//! (`tests/python/responses_sdk.py`) against the same server.
//!
//! As in `loopback.rs`, every async-openai client is built without its retry layer
//! (`with_http_service(ReqwestService::new(..))`), so each call is one request; every test is
//! bounded in real time and nothing sleeps to wait for something.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::types::chat::ChatCompletionMessageToolCalls;
use async_openai::types::responses::{FunctionToolCall, OutputItem, ResponseStreamEvent, Status};
use futures_util::StreamExt;
use serde_json::{Value, json};

mod support;

use support::*;

#[tokio::test]
async fn whole_answers_parse_and_are_the_chat_answers() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let client = client(&mock);
        for tools in [false, true] {
            let prompt = "Where is my order ORD-12345?";
            let r = client
                .responses()
                .create(request(prompt, tools, false))
                .await
                .expect("a response");
            let c = client
                .chat()
                .create(chat_request(prompt, tools, false))
                .await
                .expect("a completion");
            assert_eq!(
                (r.object.as_str(), &r.status),
                ("response", &Status::Completed)
            );
            assert!(r.id.starts_with("resp_"), "{}", r.id);
            assert_eq!(r.id.strip_prefix("resp_"), c.id.strip_prefix("chatcmpl-"));
            assert_eq!(r.model, MODEL);
            let usage = r.usage.as_ref().expect("usage");
            let chat_usage = c.usage.as_ref().expect("usage");
            assert_eq!(usage.input_tokens, chat_usage.prompt_tokens);
            assert_eq!(usage.output_tokens, chat_usage.completion_tokens);
            assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
            assert_eq!(usage.input_tokens_details.cached_tokens, 0);
            assert_eq!(usage.output_tokens_details.reasoning_tokens, 0);
            let message = &c.choices[0].message;
            if tools {
                let chat_calls: Vec<_> = message
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|call| match call {
                        ChatCompletionMessageToolCalls::Function(f) => (
                            f.id.clone(),
                            f.function.name.clone(),
                            f.function.arguments.clone(),
                        ),
                        ChatCompletionMessageToolCalls::Custom(_) => panic!("a function call"),
                    })
                    .collect();
                assert!(!chat_calls.is_empty());
                assert_eq!(calls_of(&r), chat_calls);
                let fc =
                    |f: &FunctionToolCall| f.id.as_deref().is_some_and(|id| id.starts_with("fc_"));
                assert!(
                    r.output
                        .iter()
                        .all(|item| matches!(item, OutputItem::FunctionCall(f) if fc(f)))
                );
            } else {
                assert_eq!(Some(text_of(&r)), message.content.clone());
                assert!(!text_of(&r).is_empty());
            }
        }
        let stats = mock.stats();
        assert_eq!((stats.responses_requests, stats.chat_requests), (2, 2));
        assert_eq!(stats.by_model[MODEL].requests, 4);
    })
    .await;
}

#[tokio::test]
async fn every_streamed_event_parses_and_the_deltas_make_the_answer() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let client = client(&mock);
        for tools in [false, true] {
            let prompt = "Stream me an answer.";
            let items = collect(&client, request(prompt, tools, true)).await;
            let events: Vec<ResponseStreamEvent> = items
                .into_iter()
                .map(|e| e.expect("every event parses"))
                .collect();
            let kinds: Vec<String> = events.iter().map(kind).collect();
            assert_eq!(kinds[..2], ["response.created", "response.in_progress"]);
            assert_eq!(kinds.last().map(String::as_str), Some("response.completed"));
            let Some(ResponseStreamEvent::ResponseCompleted(done)) = events.last() else {
                panic!("the stream ends with response.completed: {kinds:?}");
            };
            let numbers: Vec<u64> = events
                .iter()
                .map(|e| {
                    serde_json::to_value(e).expect("serializes")["sequence_number"]
                        .as_u64()
                        .expect("a number")
                })
                .collect();
            assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());
            let mut text = String::new();
            let mut arguments: BTreeMap<u32, String> = BTreeMap::new();
            for event in &events {
                match event {
                    ResponseStreamEvent::ResponseOutputTextDelta(d) => text.push_str(&d.delta),
                    ResponseStreamEvent::ResponseFunctionCallArgumentsDelta(d) => {
                        arguments
                            .entry(d.output_index)
                            .or_default()
                            .push_str(&d.delta);
                    }
                    ResponseStreamEvent::ResponseFunctionCallArgumentsDone(d) => {
                        assert_eq!(arguments[&d.output_index], d.arguments);
                        assert_eq!(d.name.as_deref(), Some("lookup_order"));
                    }
                    ResponseStreamEvent::ResponseOutputTextDone(d) => assert_eq!(d.text, text),
                    _ => {}
                }
            }
            assert_eq!(text, text_of(&done.response));
            let calls = calls_of(&done.response);
            assert_eq!(calls.len(), arguments.len());
            for ((_, _, args), streamed) in calls.iter().zip(arguments.values()) {
                assert_eq!(args, streamed);
            }
            // The same conversation streamed on the chat endpoint: the same answer.
            let chunks: Vec<_> = client
                .chat()
                .create_stream(chat_request(prompt, tools, true))
                .await
                .expect("a stream")
                .map(|c| c.expect("a chunk"))
                .collect()
                .await;
            let chat_text: String = chunks
                .iter()
                .flat_map(|c| &c.choices)
                .filter_map(|c| c.delta.content.as_deref())
                .collect();
            assert_eq!(text, chat_text);
            let chat_usage = chunks.iter().find_map(|c| c.usage.clone()).expect("usage");
            let usage = done.response.usage.as_ref().expect("usage");
            assert_eq!(usage.output_tokens, chat_usage.completion_tokens);
            assert_eq!(usage.input_tokens, chat_usage.prompt_tokens);
            assert_eq!(tools, !calls.is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn a_function_call_round_trip_gets_a_followup_answer() {
    bounded(async {
        let mock = testkit::spawn_mock(config("tool_followup_probability = 0.0")).await;
        let client = client(&mock);
        let first = client
            .responses()
            .create(request("Look up ORD-1.", true, false))
            .await
            .expect("a response");
        let calls = calls_of(&first);
        assert!(!calls.is_empty());
        let mut input = vec![json!({"role": "user", "content": "Look up ORD-1."})];
        // The output items go back as they came, as the SDKs pass them on.
        input.extend(
            first
                .output
                .iter()
                .map(|item| serde_json::to_value(item).expect("an item")),
        );
        input.extend(calls.iter().map(|(id, _, _)| {
            let output = "{\"status\":\"shipped\"}";
            json!({"type": "function_call_output", "call_id": id, "output": output})
        }));
        let mut body = serde_json::to_value(request("", true, false)).expect("a request");
        body["input"] = Value::Array(input);
        body["tool_choice"] = json!("auto");
        let second = client
            .responses()
            .create(serde_json::from_value(body).expect("a request"))
            .await
            .expect("a followup");
        assert!(
            calls_of(&second).is_empty(),
            "the followup probability is 0"
        );
        assert!(!text_of(&second).is_empty());
        let (a, b) = (first.usage.expect("usage"), second.usage.expect("usage"));
        assert!(b.input_tokens > a.input_tokens, "{b:?} vs {a:?}");
    })
    .await;
}

#[tokio::test]
async fn previous_response_id_is_a_400_saying_to_send_the_conversation() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let mut body = serde_json::to_value(request("again", false, false)).expect("a request");
        body["previous_response_id"] = json!("resp_0123");
        let err = client(&mock)
            .responses()
            .create(serde_json::from_value(body).expect("a request"))
            .await
            .expect_err("a 400");
        let OpenAIError::ApiError(api) = &err else {
            panic!("an API error, got {err:?}");
        };
        assert_eq!(api.status_code.as_u16(), 400);
        assert_eq!(api.api_error.code.as_deref(), Some("unsupported_parameter"));
        assert!(
            api.api_error.message.contains("keeps no state"),
            "{}",
            api.api_error.message
        );
        assert_eq!(mock.stats().responses_requests, 0);
    })
    .await;
}

#[tokio::test]
async fn stats_count_responses_apart_from_chat() {
    bounded(async {
        let mock = testkit::spawn_mock(config("")).await;
        let client = client(&mock);
        client
            .responses()
            .create(request("one", false, false))
            .await
            .expect("a response");
        collect(&client, request("two", false, true)).await;
        client
            .chat()
            .create(chat_request("three", false, false))
            .await
            .expect("a completion");
        let stats: Value = http()
            .get(mock.url("/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("JSON");
        assert_eq!(stats["responses_requests"], 2, "{stats}");
        assert_eq!(stats["chat_requests"], 1, "{stats}");
        let key = fleetbench_mock::key_fingerprint(Some(KEY));
        assert_eq!(stats["by_key"][&key]["requests"], 3, "{stats}");
        assert_eq!(stats["by_model"][MODEL]["max_requests_60s"], 3, "{stats}");
    })
    .await;
}

/// The official Python SDK: `tests/python/responses_sdk.py` against the mock. It fails (never
/// skips) without python3 and the `openai` package, which `.ci/run` installs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_reads_the_mock() {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/responses_sdk.py");
    let probe = Command::new("python3")
        .args(["-c", "import openai; print(openai.__version__)"])
        .output();
    match &probe {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "this test needs python3 with the `openai` package (`.ci/run` installs it: \
             python3 -m pip install 'openai>=1.66,<4'); probe: {probe:?}"
        ),
    }
    let mock = testkit::spawn_mock(config("")).await;
    let base_url = mock.base_url.clone();
    // The script bounds itself (an alarm); this bound is the test's.
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(&script).arg(&base_url).output()
    });
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the SDK script finished within 120 s")
        .expect("the script's thread")
        .expect("python3 runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the SDK script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
    let stats = mock.stats();
    assert!(stats.responses_requests >= 6, "{stats:?}");
    assert_eq!(stats.chat_requests, 0);
}
