//! The Responses stream against the chat stream: the same tokens at the same times, the
//! events in OpenAI's order and numbering, and the ending of a cut answer.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::MockServer;
use crate::responses::tests::{bytes, chat_request_ending, response_events, responses_body};
use crate::tests::{FAST, config, events, json_of, post};

#[tokio::test(start_paused = true)]
async fn a_stream_sends_the_chat_tokens_at_the_chat_times() {
    let mut cfg = config(FAST);
    cfg.llm.tool_call_probability = scenario::Probability(0.5);
    let (mut texts, mut calls) = (0, 0);
    for i in 0..16 {
        let mut body = responses_body(true);
        body["input"][4]["content"][0]["text"] = json!(format!("Thanks {i}"));
        let chat = serde_json::to_vec(&chat_request_ending(true, &format!("Thanks {i}"))).unwrap();
        let t0 = Instant::now();
        let mock = MockServer::new(cfg.clone());
        let chunks = events(post(&mock.router(), "/v1/chat/completions", chat).await, t0).await;
        let t0 = Instant::now();
        let mock = MockServer::new(cfg.clone());
        let evs = response_events(
            post(&mock.router(), "/v1/responses", bytes(&body)).await,
            t0,
        )
        .await;
        // The chat tokens: every chunk with content or a tool call.
        let tokens: Vec<(Duration, Value)> = chunks
            .iter()
            .filter(|(_, e)| e != "[DONE]")
            .map(|(at, e)| (*at, serde_json::from_str::<Value>(e).unwrap()))
            .filter(|(_, c)| {
                let d = &c["choices"][0]["delta"];
                d["content"].is_string() || d["tool_calls"].is_array()
            })
            .map(|(at, c)| (at, c["choices"][0]["delta"].clone()))
            .collect();
        let names: Vec<&str> = evs.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(&names[..2], ["response.created", "response.in_progress"]);
        assert_eq!(evs[0].2["response"]["status"], "in_progress");
        assert_eq!(evs[0].2["response"]["output"], json!([]));
        let (_, last, done) = evs.last().unwrap();
        assert_eq!(last, "response.completed");
        let seq: Vec<u64> = evs
            .iter()
            .map(|(_, _, d)| d["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seq, (0..evs.len() as u64).collect::<Vec<_>>());
        let output = &done["response"]["output"];
        let is_token = |n: &str| {
            n == "response.output_text.delta"
                || n == "response.function_call_arguments.delta"
                || (n == "response.output_item.added"
                    && names.contains(&"response.function_call_arguments.delta"))
        };
        let token_times: Vec<Duration> = evs
            .iter()
            .filter(|(_, n, _)| is_token(n))
            .map(|(at, _, _)| *at)
            .collect();
        assert_eq!(
            token_times,
            tokens.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
            "{names:?}"
        );
        if names.contains(&"response.output_text.delta") {
            texts += 1;
            let deltas: String = evs
                .iter()
                .filter(|(_, n, _)| n == "response.output_text.delta")
                .map(|(_, _, d)| d["delta"].as_str().unwrap())
                .collect();
            let chat_text: String = tokens
                .iter()
                .map(|(_, d)| d["content"].as_str().unwrap())
                .collect();
            assert_eq!(deltas, chat_text);
            assert_eq!(output[0]["content"][0]["text"], deltas);
            let done_text = evs
                .iter()
                .find(|(_, n, _)| n == "response.output_text.done")
                .unwrap();
            assert_eq!(done_text.2["text"], deltas);
            assert_eq!(
                names[2..4],
                ["response.output_item.added", "response.content_part.added"]
            );
            assert_eq!(
                names[names.len() - 4..names.len() - 1],
                [
                    "response.output_text.done",
                    "response.content_part.done",
                    "response.output_item.done"
                ]
            );
        } else {
            calls += 1;
            for (index, item) in output.as_array().unwrap().iter().enumerate() {
                let of_item = |name: &str| {
                    evs.iter()
                        .filter(move |(_, n, d)| n == name && d["output_index"] == index)
                        .map(|(_, _, d)| d)
                        .collect::<Vec<_>>()
                };
                let args: String = of_item("response.function_call_arguments.delta")
                    .iter()
                    .map(|d| d["delta"].as_str().unwrap())
                    .collect();
                assert_eq!(item["arguments"], args);
                assert_eq!(
                    of_item("response.function_call_arguments.done")[0]["arguments"],
                    args
                );
                assert_eq!(
                    of_item("response.output_item.added")[0]["item"]["arguments"],
                    ""
                );
                assert_eq!(of_item("response.output_item.done")[0]["item"], *item);
            }
        }
        assert_eq!(done["response"]["usage"]["output_tokens"], tokens.len());
    }
    assert!(texts > 0 && calls > 0, "{texts} texts, {calls} calls");
}

#[tokio::test(start_paused = true)]
async fn max_output_tokens_makes_an_incomplete_response() {
    let mock = MockServer::new(config(FAST));
    let body = json!({"model": "mock-gpt", "input": "hi", "max_output_tokens": 3});
    let r = json_of(post(&mock.router(), "/v1/responses", bytes(&body)).await).await;
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(r["usage"]["output_tokens"], 3);
    assert_eq!(r["output"][0]["status"], "incomplete");
    assert!(r["completed_at"].is_null());
    let mut body = body;
    body["stream"] = json!(true);
    body["max_output_tokens"] = json!(0);
    let evs = response_events(
        post(&mock.router(), "/v1/responses", bytes(&body)).await,
        Instant::now(),
    )
    .await;
    let names: Vec<&str> = evs.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.incomplete"
        ]
    );
    assert_eq!(
        evs[7].2["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}
