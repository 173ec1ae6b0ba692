//! The direct path against the router, without a client in between: the same frames at the
//! same times, the same rejections, the same `/stats`, and the slot held as long.

use std::time::Duration;

use axum::http::header;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};

use crate::tests::{FAST, chat_body, config, events, json_of, post, with_fault};
use crate::{Ending, MockServer, Rejection, ResetConnection};

/// Sub-millisecond gaps, so several tokens share a frame.
const GROUPED: &str = r#"
[mock]
capacity = 8
prefill_per_token = "13us"
base_latency = { dist = "lognormal", median = "30ms", p95 = "90ms" }
inter_token = { dist = "uniform", min = "50us", max = "2200us" }
output_tokens = { dist = "uniform", min = 1, max = 60 }
"#;

fn body(i: usize, stream: bool) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&chat_body(stream)).expect("JSON");
    body["messages"][1]["content"] = json!(format!("question number {i}"));
    serde_json::to_vec(&body).expect("serializes")
}

#[tokio::test(start_paused = true)]
async fn stream_arrivals_are_the_router_frames() {
    let mut shared = 0;
    for i in 0..20 {
        let (via_router, direct) = (
            MockServer::new(config(GROUPED)),
            MockServer::new(config(GROUPED)),
        );
        let t0 = Instant::now();
        let resp = post(&via_router.router(), "/v1/chat/completions", body(i, true)).await;
        let evs = events(resp, t0).await;
        let router_end = Instant::now() - t0;

        let t0 = Instant::now();
        let delivery = direct
            .chat_direct(&body(i, true), Some("sk-test-key"))
            .await
            .expect("answered");
        assert_eq!(Instant::now(), delivery.ended);
        assert_eq!(delivery.ending, Ending::Complete);
        let arrivals: Vec<Duration> = delivery.arrivals.iter().map(|at| *at - t0).collect();
        // Every event but the finish, usage and [DONE] ones carries a token.
        let tokens: Vec<Duration> = evs[..evs.len() - 3].iter().map(|(at, _)| *at).collect();
        assert_eq!(arrivals, tokens, "request {i}");
        assert_eq!(delivery.ended - t0, router_end);
        let text: String = evs[..evs.len() - 3]
            .iter()
            .map(|(_, e)| {
                let chunk: Value = serde_json::from_str(e).expect("a chunk");
                chunk["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, delivery.answer.text());
        assert_eq!(direct.stats().by_key, via_router.stats().by_key);
        shared += arrivals.windows(2).filter(|w| w[0] == w[1]).count();
    }
    assert!(shared > 0, "the test needs tokens that share a frame");
}

#[tokio::test(start_paused = true)]
async fn rejections_are_the_router_responses() {
    for (kind, extra) in [
        ("rate-limit", "retry_after = \"1500ms\""),
        ("server-error", ""),
        ("unavailable", ""),
    ] {
        let cfg = with_fault(kind, extra);
        let resp = post(
            &MockServer::new(cfg.clone()).router(),
            "/v1/chat/completions",
            chat_body(true),
        )
        .await;
        let mock = MockServer::new(cfg);
        let Err(Rejection::Status(reply)) = mock.chat_direct(&chat_body(true), None).await else {
            panic!("{kind}: an error status");
        };
        assert_eq!(resp.status(), reply.status, "{kind}");
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().expect("ASCII").to_owned());
        assert_eq!(
            retry_after,
            reply.retry_after.map(|d| d.as_secs().to_string())
        );
        let v = json_of(resp).await;
        assert_eq!(v["error"]["message"], reply.message.as_str());
        assert_eq!(v["error"]["type"], reply.kind);
        assert_eq!(v["error"]["code"].as_str(), reply.code);
        assert_eq!(mock.stats().faults[kind], 1);
    }
    let resp = post(
        &MockServer::new(with_fault("reset", "")).router(),
        "/v1/chat/completions",
        chat_body(false),
    )
    .await;
    assert!(resp.extensions().get::<ResetConnection>().is_some());
    let mock = MockServer::new(with_fault("reset", ""));
    let reset = mock.chat_direct(&chat_body(false), None).await;
    assert_eq!(reset.err(), Some(Rejection::Reset));

    let mock = MockServer::new(config(FAST));
    let bad = mock.chat_direct(b"{\"model\": 3}", None).await;
    let resp = post(
        &mock.router(),
        "/v1/chat/completions",
        b"{\"model\": 3}".to_vec(),
    )
    .await;
    let Some(Rejection::Status(reply)) = bad.err() else {
        panic!("a 400");
    };
    assert_eq!((reply.status.as_u16(), resp.status().as_u16()), (400, 400));
    assert_eq!(
        json_of(resp).await["error"]["message"],
        reply.message.as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn the_slot_is_held_to_the_end_and_freed_by_a_caller_going_away() {
    let mock = MockServer::new(config(
        "[mock]\ncapacity = 1\nprefill_per_token = \"0s\"\nbase_latency = \"100ms\"\ninter_token = \"10ms\"\noutput_tokens = 5\n",
    ));
    let t0 = Instant::now();
    let (one, two) = (body(1, true), body(2, true));
    let (first, second) = tokio::join!(mock.chat_direct(&one, None), mock.chat_direct(&two, None));
    // The first holds the only slot for 100 ms + 4 × 10 ms; the second queues behind it.
    let (first, second) = (first.expect("answered"), second.expect("answered"));
    assert_eq!(first.ended - t0, Duration::from_millis(140));
    assert_eq!(second.arrivals[0] - t0, Duration::from_millis(240));
    assert_eq!(mock.stats().by_model["mock-gpt"].max_in_flight, 2);

    // A caller that gives up mid-answer frees the slot and its in-flight mark at once.
    let t0 = Instant::now();
    let gave_up = timeout(
        Duration::from_millis(120),
        mock.chat_direct(&body(3, true), None),
    )
    .await;
    assert!(gave_up.is_err());
    assert_eq!(mock.stats().by_model["mock-gpt"].in_flight, 0);
    let next = mock
        .chat_direct(&body(4, false), None)
        .await
        .expect("answered");
    assert_eq!(next.ended - t0, Duration::from_millis(120 + 140));
    assert!(
        next.arrivals.is_empty(),
        "a whole answer has no token times"
    );
}
