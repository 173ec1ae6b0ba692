//! What the router turns away, through `Router::oneshot`: every rejection in OpenAI's error
//! shape (read back with async-openai's own error type); and, as a property, that no body or
//! tool name makes a handler panic or answer anything but a 2xx or a 4xx in that shape.

use async_openai::error::WrappedError;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{BODY_LIMIT, BODY_TIMEOUT};
use crate::MockServer;
use crate::tests::{FAST, chat_body, config};

/// A mock with one tool, `search`, that never fails.
fn mock() -> MockServer {
    MockServer::new(config(&format!("{FAST}\n[tools.search]\n")))
}

async fn send(router: &Router, method: &str, path: &str, body: impl Into<Body>) -> Response {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("a request");
    router.clone().oneshot(request).await.expect("infallible")
}

/// The error a response carries, checked to be OpenAI's shape: JSON, `type` set, `param`
/// null.
async fn openai_error(response: Response) -> (StatusCode, WrappedError) {
    let status = response.status();
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE),
        Some(&HeaderValue::from_static("application/json")),
        "{status}"
    );
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("an error body")
        .to_bytes();
    let raw: Value = serde_json::from_slice(&bytes).expect("an error body is JSON");
    let mut keys: Vec<&str> = raw["error"]
        .as_object()
        .expect("`error` is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "param", "type"], "{raw}");
    assert!(raw["error"]["param"].is_null());
    let error: WrappedError = serde_json::from_value(raw).expect("async-openai reads it");
    assert!(error.error.r#type.as_deref().is_some_and(|t| !t.is_empty()));
    assert!(!error.error.message.is_empty());
    (status, error)
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_limit_gets_413_in_the_error_shape() {
    let router = mock().router();
    for path in ["/v1/chat/completions", "/tools/search"] {
        let (status, error) =
            openai_error(send(&router, "POST", path, vec![b' '; BODY_LIMIT + 1]).await).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(error.error.r#type.as_deref(), Some("invalid_request_error"));
        assert_eq!(error.error.code.as_deref(), Some("request_too_large"));
        assert!(
            error.error.message.contains("2097152 bytes"),
            "{}",
            error.error.message
        );
    }
    // At the limit the body is read: not JSON for chat, any bytes for a tool.
    let at = send(
        &router,
        "POST",
        "/v1/chat/completions",
        vec![b' '; BODY_LIMIT],
    )
    .await;
    assert_eq!(at.status(), StatusCode::BAD_REQUEST);
    let at = send(&router, "POST", "/tools/search", vec![b' '; BODY_LIMIT]).await;
    assert_eq!(at.status(), StatusCode::OK);
    // A body whose declared length is over the limit, streamed: refused all the same.
    let chunks = futures_util::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(vec![b'x'; BODY_LIMIT / 2])),
    );
    let streamed = send(&router, "POST", "/tools/search", Body::from_stream(chunks)).await;
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(start_paused = true)]
async fn wrong_methods_unknown_paths_and_bad_names_get_the_error_shape() {
    let router = mock().router();
    for (method, path, allow) in [
        ("GET", "/v1/chat/completions", "POST"),
        ("POST", "/v1/models", "GET,HEAD"),
        ("GET", "/tools/search", "POST"),
        ("DELETE", "/stats", "GET,HEAD"),
    ] {
        let response = send(&router, method, path, Body::empty()).await;
        assert_eq!(
            response.headers().get(header::ALLOW),
            Some(&HeaderValue::from_static(allow)),
            "{method} {path}"
        );
        let (status, error) = openai_error(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(error.error.code.as_deref(), Some("method_not_allowed"));
        assert!(
            error
                .error
                .message
                .contains(&format!("{method} is not served on {path}")),
            "{}",
            error.error.message
        );
    }
    let (status, error) = openai_error(send(&router, "GET", "/nowhere", Body::empty()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error.error.code.as_deref(), Some("not_found"));
    assert!(error.error.message.contains("/nowhere"));
    // A tool name that is not UTF-8 once decoded.
    let (status, error) = openai_error(send(&router, "POST", "/tools/%FF", "{}").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error.error.code.as_deref(), Some("invalid_tool_name"));
    let (status, error) = openai_error(send(&router, "POST", "/tools/nope", "{}").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error.error.code.as_deref(), Some("unknown_tool"));
}

#[tokio::test(start_paused = true)]
async fn the_content_type_is_not_checked() {
    let router = mock().router();
    let request = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(chat_body(false)))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let request = Request::post("/tools/search")
        .body(Body::from("not json"))
        .expect("a request");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_breaks_off_gets_400_in_the_error_shape() {
    let router = mock().router();
    let chunks = futures_util::stream::iter([
        Ok(b"{\"model\":".to_vec()),
        Err(std::io::Error::other("the client went away")),
    ]);
    let response = send(
        &router,
        "POST",
        "/v1/chat/completions",
        Body::from_stream(chunks),
    )
    .await;
    let (status, error) = openai_error(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.error.message.contains("cannot read the request body"));
    // A body that never ends is answered at the body timeout.
    let t0 = tokio::time::Instant::now();
    let forever = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
    let response = send(&router, "POST", "/tools/search", Body::from_stream(forever)).await;
    let (status, error) = openai_error(response).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(error.error.code.as_deref(), Some("request_timeout"));
    assert_eq!(t0.elapsed(), BODY_TIMEOUT);
}

// ---- property: no body makes a handler panic or answer out of shape ----

/// A tool request's body, valid: two tools, one with a nested schema.
fn tool_request() -> Value {
    json!({
        "model": "mock-gpt",
        "messages": [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": [{"type": "text", "text": "Where is ORD-12345?"}], "name": "ann"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"query\":\"x\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "lookup_order", "description": "Look up", "parameters": {
                "type": "object", "properties": {"order_id": {"type": "string"}, "path": {"type": "string", "format": "path"}}}}},
            {"type": "function", "function": {"name": "search", "parameters": {
                "type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"enum": ["a", 1, null]}}}}}}}}
        ],
        "tool_choice": "required",
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_completion_tokens": 50
    })
}

/// Where a mutation may put a value in [`tool_request`].
const POINTERS: [&str; 22] = [
    "",
    "/model",
    "/messages",
    "/messages/0",
    "/messages/0/role",
    "/messages/0/content",
    "/messages/1/content",
    "/messages/1/content/0/text",
    "/messages/1/name",
    "/messages/2/tool_calls",
    "/messages/2/tool_calls/0/function",
    "/messages/2/tool_calls/0/function/arguments",
    "/tools",
    "/tools/0/function",
    "/tools/0/function/parameters",
    "/tools/1/function/parameters/properties",
    "/tools/1/function/parameters/properties/tags/items",
    "/tool_choice",
    "/stream",
    "/stream_options",
    "/max_completion_tokens",
    "/max_tokens",
];

/// Any JSON value, a few levels deep, with the numbers and strings that trip readers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("none".to_owned()),
            Just("auto".to_owned()),
            Just("required".to_owned()),
            Just("object".to_owned()),
            Just("array".to_owned()),
            Just("integer".to_owned()),
            Just("<|endoftext|>".to_owned()),
            ".{0,40}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("properties".to_owned()),
                    Just("items".to_owned()),
                    Just("enum".to_owned()),
                    Just("function".to_owned()),
                    Just("name".to_owned()),
                    Just("text".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: random bytes, a valid request with one value replaced or with random texts, or a
/// valid request's bytes cut, with a byte changed.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        4 => (prop::sample::select(&POINTERS[..]), any_json(), any::<bool>()).prop_map(
            |(pointer, value, stream)| {
                let mut request = tool_request();
                request["stream"] = json!(stream);
                match request.pointer_mut(pointer) {
                    Some(slot) => *slot = value,
                    None => request = value,
                }
                serde_json::to_vec(&request).expect("a value serializes")
            }
        ),
        2 => (".{0,200}", ".{0,200}", ".{0,24}", ".{0,24}", any::<bool>()).prop_map(
            |(content, arguments, name, tool, stream)| {
                let mut request = tool_request();
                request["stream"] = json!(stream);
                request["messages"][0]["content"] = json!(content);
                request["messages"][1]["name"] = json!(name);
                request["messages"][2]["tool_calls"][0]["function"]["arguments"] = json!(arguments);
                request["tools"][0]["function"]["name"] = json!(tool);
                request["tool_choice"] = json!({"type": "function", "function": {"name": tool}});
                serde_json::to_vec(&request).expect("a value serializes")
            }
        ),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(cut, at, byte)| {
                let mut bytes = serde_json::to_vec(&tool_request()).expect("serializes");
                bytes.truncate(cut.index(bytes.len() + 1));
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                bytes
            }
        ),
    ]
}

/// Sends `body` to `path` and reads the whole answer, as a client would.
async fn answer(router: &Router, path: &str, body: Vec<u8>) -> Result<(), TestCaseError> {
    let response = send(router, "POST", path, body).await;
    let status = response.status();
    if status.is_client_error() {
        openai_error(response).await;
        return Ok(());
    }
    prop_assert!(status.is_success(), "{status}");
    let stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a whole answer")
        .to_bytes();
    if stream {
        let text = std::str::from_utf8(&bytes).expect("SSE is UTF-8");
        prop_assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        for event in text
            .split("\n\n")
            .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        {
            let chunk = event.strip_prefix("data: ").expect("a data line");
            serde_json::from_str::<Value>(chunk).expect("a chunk is JSON");
        }
    } else {
        serde_json::from_slice::<Value>(&bytes).expect("an answer is JSON");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_body_makes_a_handler_panic_or_answer_out_of_shape(
        body in any_body(),
        path in prop::sample::select(&[
            "/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions",
            "/tools/search", "/tools/nope",
        ][..]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let router = mock().router();
            answer(&router, path, body).await
        })?;
    }

    #[test]
    fn no_tool_name_makes_the_router_panic_or_answer_out_of_shape(
        name in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let encoded: String = name.iter().map(|b| format!("%{b:02X}")).collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let router = mock().router();
            answer(&router, &format!("/tools/{encoded}"), b"{}".to_vec()).await
        })?;
    }
}
