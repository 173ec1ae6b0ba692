//! The agent endpoint against small real servers on 127.0.0.1: what it sends in each shape,
//! how it reads whole and streamed answers, and how each failure is classified.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use metrics::ErrorKind;
use scenario::{Scenario, Secrets};

use crate::{AgentEndpoint, AgentTurn, Clients, Embedded};

/// What the server saw: the path, the `Cookie` header and the body of each request.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Serves `answer` (called with the request's body) on 127.0.0.1:0; returns its address.
async fn server<F>(answer: F) -> (String, Seen)
where
    F: Fn(Value) -> Response + Clone + Send + Sync + 'static,
{
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/{*path}",
        post(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let answer = answer.clone();
                let log = log.clone();
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let cookie = headers
                        .get(header::COOKIE)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .push((uri.path().to_owned(), cookie, body.clone()));
                    answer(body)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn endpoint(agent_toml: &str) -> AgentEndpoint {
    crate::install_crypto_provider();
    let s = Scenario::from_toml(&format!("[agent]\nkind = \"http\"\n{agent_toml}"), "t").unwrap();
    let embedded = Embedded::Http("http://127.0.0.1:9".to_owned());
    let clients = Clients::build_with(&s, &embedded, &Secrets::new()).unwrap();
    clients.agent.unwrap()
}

fn turn<'a>(history: &'a [(String, String)], cookies: &'a str) -> AgentTurn<'a> {
    AgentTurn {
        session: "fb-1-7",
        turn: 2,
        message: "where is my order? [fb:s7t2]",
        history,
        cookies,
    }
}

fn sse(events: &[&str]) -> Response {
    let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

#[tokio::test]
async fn chat_shape_sends_the_conversation_and_reads_the_message() {
    let (base, seen) = server(|_| {
        axum::Json(
            json!({"choices": [{"message": {"role": "assistant", "content": "on its way"}}]}),
        )
        .into_response()
    })
    .await;
    let agent = endpoint(&format!(
        "url = \"{base}/v1/chat/completions\"\nmodel = \"m\"\n"
    ));
    let history = [("hi".to_owned(), "hello".to_owned())];
    let reply = agent.send(&turn(&history, "")).await.unwrap();
    assert_eq!(reply.text, "on its way");
    assert_eq!(reply.status, 200);
    let (path, _, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(body["model"], "m");
    assert_eq!(body["user"], "fb-1-7");
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(
        body["messages"][2]["content"],
        "where is my order? [fb:s7t2]"
    );
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn chat_shape_streams_deltas_until_done() {
    let (base, seen) = server(|_| {
        sse(&[
            r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"delta":{"content":"on its "}}]}"#,
            r#"{"choices":[{"delta":{"content":"way"}}]}"#,
            "[DONE]",
        ])
    })
    .await;
    let agent = endpoint(&format!(
        "url = \"{base}/v1/chat/completions\"\nstream = true\n"
    ));
    let reply = agent.send(&turn(&[], "")).await.unwrap();
    assert_eq!(reply.text, "on its way");
    assert!(reply.ttft.is_some());
    assert_eq!(seen.lock().unwrap()[0].2["stream"], true);
}

#[tokio::test]
async fn a_chat_stream_without_done_is_truncated() {
    let (base, _) = server(|_| sse(&[r#"{"choices":[{"delta":{"content":"on"}}]}"#])).await;
    let agent = endpoint(&format!(
        "url = \"{base}/v1/chat/completions\"\nstream = true\n"
    ));
    let err = agent.send(&turn(&[], "")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Truncated);
}

const TEMPLATE: &str = "shape = \"template\"\nanswer = \"/out/text\"\nbody = { id = \"{{session}}\", n = \"{{turn}}\", input = { text = \"{{message}}\", tags = [\"t{{turn}}\"] } }\n";

#[tokio::test]
async fn template_shape_fills_url_and_body_and_reads_the_pointer() {
    let (base, seen) = server(|body| {
        let text = format!("echo {}", body["input"]["text"].as_str().unwrap());
        (
            [(header::SET_COOKIE, "sid=abc; Path=/; HttpOnly")],
            axum::Json(json!({"out": {"text": text}})),
        )
            .into_response()
    })
    .await;
    let agent = endpoint(&format!(
        "url = \"{base}/sessions/{{{{session}}}}/turns/{{{{turn}}}}\"\n{TEMPLATE}"
    ));
    let reply = agent.send(&turn(&[], "a=1; b=2")).await.unwrap();
    assert_eq!(reply.text, "echo where is my order? [fb:s7t2]");
    assert_eq!(reply.cookies, ["sid=abc"]);
    let (path, cookie, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/sessions/fb-1-7/turns/2");
    assert_eq!(cookie, "a=1; b=2");
    assert_eq!(
        body,
        json!({"id": "fb-1-7", "n": 2, "input": {"text": "where is my order? [fb:s7t2]", "tags": ["t2"]}})
    );
}

#[tokio::test]
async fn template_events_join_the_text_at_the_pointer() {
    let (base, _) = server(|_| {
        sse(&[
            r#"{"type":"start"}"#,
            r#"{"out":{"text":"on its "}}"#,
            r#"{"out":{"text":"way"}}"#,
        ])
    })
    .await;
    let agent = endpoint(&format!("url = \"{base}/chat\"\nstream = true\n{TEMPLATE}"));
    let reply = agent.send(&turn(&[], "")).await.unwrap();
    assert_eq!(reply.text, "on its way");
}

#[tokio::test]
async fn a_pointer_that_matches_nothing_is_malformed_and_says_so() {
    let (base, _) = server(|_| axum::Json(json!({"answer": "yes"})).into_response()).await;
    let agent = endpoint(&format!("url = \"{base}/chat\"\n{TEMPLATE}"));
    let err = agent.send(&turn(&[], "")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(err.no_answer);
    assert!(err.detail.contains("`/out/text`"), "{}", err.detail);
    assert!(
        err.detail.contains("{\"answer\":\"yes\"}"),
        "{}",
        err.detail
    );
}

#[tokio::test]
async fn failures_are_classified_like_a_providers() {
    let (base, _) = server(|body| match body["input"]["text"].as_str().unwrap() {
        "busy" => (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
        "html" => "<html>oops</html>".into_response(),
        // A head, then a body that never ends.
        _ => axum::body::Body::from_stream(futures_util::stream::pending::<
            Result<Bytes, std::io::Error>,
        >())
        .into_response(),
    })
    .await;
    let agent = endpoint(&format!(
        "url = \"{base}/chat\"\ntimeout = \"100ms\"\n{TEMPLATE}"
    ));
    let send = |message| {
        let agent = &agent;
        async move {
            let t = AgentTurn {
                message,
                ..turn(&[], "")
            };
            agent.send(&t).await.unwrap_err()
        }
    };
    let busy = send("busy").await;
    assert_eq!(
        (busy.kind, busy.status),
        (ErrorKind::Unavailable, Some(503))
    );
    let html = send("html").await;
    assert_eq!(html.kind, ErrorKind::Malformed);
    assert!(!html.no_answer);
    assert_eq!(send("slow").await.kind, ErrorKind::Timeout);
}

#[tokio::test]
async fn an_agent_that_is_not_listening_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let agent = endpoint(&format!("url = \"http://127.0.0.1:{port}/chat\"\n"));
    assert!(agent.reachable().await.is_err());
    let (base, _) = server(|_| "".into_response()).await;
    assert!(
        endpoint(&format!("url = \"{base}/chat\"\n"))
            .reachable()
            .await
            .is_ok()
    );
}
