use super::*;

fn marker(session: u64, turn: u32) -> Option<SessionMarker> {
    Some(SessionMarker { session, turn })
}

#[test]
fn a_marker_prints_as_the_driver_writes_it_and_reads_back() {
    let m = SessionMarker {
        session: 17,
        turn: 3,
    };
    assert_eq!(m.to_string(), "[fb:s17t3]");
    assert_eq!(SessionMarker::find_last(m.to_string().as_bytes()), Some(m));
    let max = SessionMarker {
        session: u64::MAX,
        turn: u32::MAX,
    };
    assert_eq!(
        SessionMarker::find_last(max.to_string().as_bytes()),
        Some(max)
    );
}

#[test]
fn the_last_marker_of_a_body_is_found() {
    // A runtime's history: older turns' markers first, the current user message last, all
    // inside JSON strings with escapes around them.
    let body = br#"{"model":"m","messages":[{"role":"user","content":"where is \"ORD-1\"?\n[fb:s5t1]"},{"role":"assistant","content":"it left [x]"},{"role":"tool","content":"{\"order_id\":\"ORD-1 [fb:s5t1]\"}"},{"role":"user","content":"and now?\t[fb:s5t2]\\"}],"tools":[{"type":"function"}]}"#;
    assert_eq!(SessionMarker::find_last(body), marker(5, 2));
    assert_eq!(
        SessionMarker::find_last(b"[fb:s1t1] then [fb:s22t7][fb:s333t9]"),
        marker(333, 9)
    );
}

#[test]
fn malformed_candidates_are_skipped() {
    for bad in [
        "[fb:sX]",
        "[fb:s]",
        "[fb:s3]",
        "[fb:st3]",
        "[fb:s3t]",
        "[fb:s3t4",
        "[fb:s3t4x]",
        "[fb:s-3t4]",
        "[fb:s 3t4]",
        "[FB:s3t4]",
        "[fb:s18446744073709551616t1]",
        "[fb:s1t4294967296]",
        "[fb:s1t99999999999999999999999]",
        "[fb:",
        "[",
    ] {
        assert_eq!(SessionMarker::find_last(bad.as_bytes()), None, "{bad}");
        // After a good marker, a bad one leaves the good one found.
        let body = format!("[fb:s8t2] {bad}");
        assert_eq!(
            SessionMarker::find_last(body.as_bytes()),
            marker(8, 2),
            "{body}"
        );
        // A bad candidate whose tail is a good marker: the good one counts.
        let body = format!("{bad}[fb:s9t1]");
        assert_eq!(
            SessionMarker::find_last(body.as_bytes()),
            marker(9, 1),
            "{body}"
        );
    }
    // Nested: the inner marker is well formed.
    assert_eq!(SessionMarker::find_last(b"[fb:s[fb:s4t4]"), marker(4, 4));
}

#[test]
fn no_marker_is_none() {
    assert_eq!(SessionMarker::find_last(b""), None);
    assert_eq!(
        SessionMarker::find_last(
            br#"{"messages":[{"role":"user","content":"hello [b] fb:s1t2"}]}"#
        ),
        None
    );
}

fn tool() -> ObservedCall {
    ObservedCall::Tool {
        name: "search".to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn calls_are_recorded_when_they_finish_and_taken_once() {
    let a = Arc::new(Attribution::default());
    let first = a.watch(tool(), b"{\"q\":\"x [fb:s5t2]\"}");
    assert_eq!(first.marker(), marker(5, 2));
    let mut second = a.watch(
        ObservedCall::Llm {
            model: String::new(),
        },
        b"hi [fb:s5t3]",
    );
    let started = Instant::now();
    tokio::time::advance(std::time::Duration::from_millis(40)).await;
    second.answered("gpt", 12, 7);
    second.inject(Injected::Fault(FaultKind::ServerError));
    second.reject(&Rejection::Reset);
    drop(second);
    tokio::time::advance(std::time::Duration::from_millis(10)).await;
    drop(first);
    drop(a.watch(tool(), b"{\"q\":\"no marker\"}"));
    let taken = a.take(5);
    assert_eq!(taken.len(), 2, "{taken:?}");
    // In the order they finished.
    assert_eq!(taken[0].turn, 3);
    assert_eq!(
        taken[0].call,
        ObservedCall::Llm {
            model: "gpt".to_owned()
        }
    );
    assert_eq!((taken[0].tokens_in, taken[0].tokens_out), (12, 7));
    assert_eq!(
        taken[0].injected,
        Some(Injected::Fault(FaultKind::ServerError))
    );
    assert_eq!(taken[0].status, 0);
    assert_eq!(
        taken[0].finished - taken[0].started,
        std::time::Duration::from_millis(40)
    );
    assert_eq!(taken[1].turn, 2);
    assert_eq!(taken[1].call, tool());
    assert_eq!(taken[1].status, 200);
    assert_eq!(taken[1].started, started);
    assert_eq!(
        taken[1].finished - started,
        std::time::Duration::from_millis(50)
    );
    assert!(a.take(5).is_empty());
    assert!(a.take(6).is_empty());
    assert_eq!(
        a.counts(),
        AttributionStats {
            llm_attributed: 1,
            llm_unattributed: 0,
            tool_attributed: 1,
            tool_unattributed: 1,
            dropped: 0,
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_stamped_finish_wins_over_the_drop() {
    let a = Arc::new(Attribution::default());
    let mut watch = a.watch(tool(), b"[fb:s1t1]");
    tokio::time::advance(std::time::Duration::from_millis(5)).await;
    watch.finish();
    tokio::time::advance(std::time::Duration::from_millis(5)).await;
    watch.finish();
    drop(watch);
    let taken = a.take(1);
    assert_eq!(
        taken[0].finished - taken[0].started,
        std::time::Duration::from_millis(5)
    );
}

#[test]
fn a_forgotten_session_is_not_kept_and_memory_stays_flat() {
    let a = Arc::new(Attribution::default());
    let in_flight = a.watch(tool(), b"[fb:s9t1]");
    drop(a.watch(tool(), b"[fb:s9t1]"));
    assert_eq!(a.held(), (1, 1));
    a.forget(9);
    assert_eq!(a.held(), (0, 0));
    // Finishing after the session was forgotten: let go, not held.
    drop(in_flight);
    assert_eq!(a.held(), (0, 0));
    assert!(a.take(9).is_empty());
    // A driver that drains after every turn and forgets each session holds nothing.
    for session in 0..1_000 {
        for turn in 0..3 {
            let body = format!("[fb:s{session}t{turn}]");
            drop(a.watch(tool(), body.as_bytes()));
            assert_eq!(a.take(session).len(), 1);
        }
        a.forget(session);
    }
    assert_eq!(a.held(), (0, 0));
    assert_eq!(a.counts().dropped, 0);
}

#[test]
fn what_nobody_drains_is_bounded() {
    let a = Arc::new(Attribution::default());
    for _ in 0..MAX_HELD + 3 {
        drop(a.watch(tool(), b"[fb:s1t1]"));
    }
    assert_eq!(a.held(), (1, MAX_HELD));
    assert_eq!(a.counts().dropped, 3);
    assert_eq!(a.take(1).len(), MAX_HELD);
    assert_eq!(a.held(), (1, 0));
}

/// A streamed chat request with the marker `[fb:s3t1]`, in-process through the router.
async fn open_stream(server: &crate::MockServer) -> axum::body::Body {
    use tower::ServiceExt;
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "mock-gpt",
        "messages": [{"role": "user", "content": "tell me [fb:s3t1]"}],
        "stream": true,
    }))
    .unwrap();
    let request = axum::http::Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = server.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body()
}

#[tokio::test(start_paused = true)]
async fn a_stream_the_client_drops_is_recorded_when_dropped() {
    use http_body_util::BodyExt;
    let mut config = crate::tests::config(crate::tests::FAST);
    config.attribution = true;
    let server = crate::MockServer::new(config);
    let mut body = open_stream(&server).await;
    body.frame().await.unwrap().unwrap();
    // 12 tokens 2 ms apart: the stream is far from its end when the client goes away.
    let first = Instant::now();
    assert!(server.take_observed(3).is_empty(), "still streaming");
    drop(body);
    let observed = server.take_observed(3);
    assert_eq!(observed.len(), 1, "{observed:?}");
    assert_eq!(observed[0].finished, first);
    assert_eq!((observed[0].turn, observed[0].status), (1, 200));
    // Read to its end, the stream is recorded at its last event (paused time: nothing
    // passes between it and the end of the body).
    let mut body = open_stream(&server).await;
    let started = Instant::now();
    while body.frame().await.is_some() {}
    let observed = server.take_observed(3);
    assert_eq!(observed.len(), 1, "{observed:?}");
    assert_eq!(observed[0].started, started);
    assert!(observed[0].finished - started >= std::time::Duration::from_millis(50 + 11 * 2));
}
