//! Every fault kind on `POST /v1/responses` over real sockets, read by async-openai's
//! Responses client without retries: statuses with OpenAI's error body, a reset, a stall, a
//! cut or broken body or stream, a slow first token. Faults with `endpoint = "chat"` hit both
//! LLM endpoints.

use std::time::Duration;

use async_openai::error::{OpenAIError, StreamError};
use async_openai::types::responses::ResponseStreamEvent;
use futures_util::StreamExt;
use tokio::time::Instant;

mod support;

use support::*;

#[tokio::test]
async fn status_faults_reset_and_stall() {
    bounded(async {
        for (kind, status) in [
            ("rate-limit", 429),
            ("server-error", 500),
            ("unavailable", 503),
        ] {
            let mock = testkit::spawn_mock(config(&chat_fault(kind, ""))).await;
            let err = client(&mock)
                .responses()
                .create(request("fail", false, false))
                .await
                .expect_err("an error status");
            let OpenAIError::ApiError(api) = &err else {
                panic!("{kind}: an API error, got {err:?}");
            };
            assert_eq!(api.status_code.as_u16(), status, "{kind}");
            let stats = mock.stats();
            assert_eq!(
                (stats.responses_requests, stats.faults[kind]),
                (1, 1),
                "no retries"
            );
        }
        let mock = testkit::spawn_mock(config(&chat_fault("reset", ""))).await;
        let err = client(&mock)
            .responses()
            .create(request("reset", false, false))
            .await
            .expect_err("a reset");
        assert!(
            matches!(&err, OpenAIError::Reqwest(e) if e.status().is_none()),
            "{err:?}"
        );

        let mock = testkit::spawn_mock(config(&chat_fault("stall", ""))).await;
        let stalled = tokio::time::timeout(
            Duration::from_millis(300),
            client(&mock)
                .responses()
                .create(request("stall", false, false)),
        )
        .await;
        assert!(stalled.is_err(), "a stalled request completed: {stalled:?}");
    })
    .await;
}

#[tokio::test]
async fn truncate_and_malformed_break_bodies_and_streams() {
    bounded(async {
        let mock = testkit::spawn_mock(config(&chat_fault("truncate", ""))).await;
        let err = client(&mock)
            .responses()
            .create(request("cut", false, false))
            .await
            .expect_err("cut");
        assert!(
            matches!(&err, OpenAIError::Reqwest(e) if e.status().is_none()),
            "{err:?}"
        );
        let items = collect(&client(&mock), request("cut my stream", false, true)).await;
        let last = items.last().expect("some events");
        assert!(
            matches!(last, Err(OpenAIError::StreamError(e))
                if matches!(**e, StreamError::EventStream(_))),
            "the stream ends in a transport error: {last:?}"
        );
        let kinds: Vec<String> = items.iter().flatten().map(kind).collect();
        assert!(
            kinds.iter().any(|k| k == "response.output_text.delta"),
            "{kinds:?}"
        );
        assert!(
            !kinds.iter().any(|k| k == "response.completed"),
            "{kinds:?}"
        );

        let mock = testkit::spawn_mock(config(&chat_fault("malformed", ""))).await;
        let err = client(&mock)
            .responses()
            .create(request("bad", false, false))
            .await
            .expect_err("bad JSON");
        assert!(matches!(err, OpenAIError::JSONDeserialize(..)), "{err:?}");
        let items = collect(&client(&mock), request("bad stream", false, true)).await;
        let bad: Vec<usize> = (0..items.len()).filter(|&i| items[i].is_err()).collect();
        assert_eq!(bad.len(), 1, "one event is not JSON: {items:?}");
        assert!(matches!(
            items[bad[0]],
            Err(OpenAIError::JSONDeserialize(..))
        ));
        assert!(matches!(
            items.last(),
            Some(Ok(ResponseStreamEvent::ResponseCompleted(_)))
        ));
    })
    .await;
}

#[tokio::test]
async fn slow_first_token_delays_the_first_delta() {
    bounded(async {
        let mock =
            testkit::spawn_mock(config(&chat_fault("slow-first-token", "delay = \"400ms\""))).await;
        let started = Instant::now();
        let mut stream = client(&mock)
            .responses()
            .create_stream(request("slowly", false, true))
            .await
            .expect("the stream opens");
        let mut created = None;
        while let Some(event) = stream.next().await {
            match event.expect("an event") {
                ResponseStreamEvent::ResponseCreated(_) => created = Some(started.elapsed()),
                ResponseStreamEvent::ResponseOutputTextDelta(_) => break,
                _ => {}
            }
        }
        let first = started.elapsed();
        assert!(first >= Duration::from_millis(400), "{first:?}");
        assert!(created.expect("created came first") < Duration::from_millis(400));
        assert_eq!(mock.stats().faults["slow-first-token"], 1);
    })
    .await;
}
