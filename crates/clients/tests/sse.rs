//! SSE decoding of the LLM client, as a property: streams served from a tiny server on
//! `127.0.0.1:0` (one for every case), read through `Clients` over HTTP as a run reads them
//! (reqwest, async-openai's event-stream decoder, our chunk assembly).
//!
//! - A valid stream, split into writes at any bytes (inside a UTF-8 character, a line, a
//!   `data:` prefix), with comments and keep-alive events between its events, is read whole:
//!   the same text, tool calls, finish reason and usage as sent.
//! - The same stream cut anywhere before its end and the connection aborted is `truncated`;
//!   cut and ended cleanly (no `[DONE]`), it is read when its finish chunk came whole, and is
//!   `truncated` otherwise.
//! - One event's data replaced by something that is not a chunk is `malformed`.
//! - Random bytes are `truncated` or `malformed`.
//!
//! And nothing panics, in the test or in a task it spawned (a panic hook counts them).
//! Bounded: 128 cases, one attempt each, 10 s per attempt at most.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage, FinishReason,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use fleetbench_clients::{Clients, Embedded, ErrorKind, LlmRequest, LlmResponse, ToolCall};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// What the server answers to the next request.
#[derive(Clone, Debug)]
struct Reply {
    /// The body, written in these pieces, one write each.
    pieces: Vec<Bytes>,
    /// Abort the connection after the last piece instead of ending the body.
    abort: bool,
}

static NEXT: Mutex<Option<Reply>> = Mutex::new(None);

/// Held for the whole of a call: the tests run on parallel threads, the server is one.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Panics anywhere in the process, the tasks async-openai spawns included.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// The runtime of the server and of every call; the server runs on its workers.
static RUNTIME: LazyLock<(Runtime, SocketAddr)> = LazyLock::new(|| {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        hook(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("an address");
    let router = Router::new().route("/v1/chat/completions", post(serve_next));
    // No Nagle: small pieces go out as separate segments, so the client reads them apart.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    runtime.spawn(async move { axum::serve(listener, router).await });
    (runtime, addr)
});

/// The LLM client: one provider at the server, streaming, one attempt, no breaker.
static CLIENTS: LazyLock<Clients> = LazyLock::new(|| {
    let addr = RUNTIME.1;
    let toml = format!(
        r#"
[[llm.providers]]
name = "sse"
model = "m"
base_url = "http://{addr}/v1"
stream = true
timeout = "10s"
deadline = "10s"
retry = {{ max_attempts = 1 }}
breaker = {{ enabled = false }}
"#
    );
    let scenario = scenario::Scenario::from_toml(&toml, "sse.rs").expect("a valid scenario");
    // Building needs the runtime (reqwest's client).
    let _guard = RUNTIME.0.enter();
    Clients::build(&scenario, &Embedded::Http(String::new())).expect("clients build")
});

async fn serve_next() -> Response {
    let Some(reply) = NEXT.lock().expect("the reply slot").take() else {
        // A second request for one call: the test fails on the 500.
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let abort = reply.abort;
    let pieces = reply.pieces.into_iter().map(Some).chain([None]);
    let body = futures_util::stream::unfold(pieces, move |mut pieces| async move {
        // One piece per poll, with a yield between, so each is its own write.
        tokio::task::yield_now().await;
        match pieces.next()? {
            Some(piece) => Some((Ok(piece), pieces)),
            // The error that aborts the connection (after the yield above, so the pieces
            // before it were flushed).
            None if abort => Some((Err(std::io::Error::other("aborted by the test")), pieces)),
            None => None,
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Serves `body` in pieces cut at `splits` (and aborted after, with `abort`) to one call.
fn call(
    body: &[u8],
    splits: &[prop::sample::Index],
    abort: bool,
) -> Result<LlmResponse, ErrorKind> {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut at: Vec<usize> = splits.iter().map(|s| s.index(body.len() + 1)).collect();
    at.extend([0, body.len()]);
    at.sort_unstable();
    at.dedup();
    let pieces = at
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&body[w[0]..w[1]]))
        .collect();
    *NEXT.lock().expect("the reply slot") = Some(Reply { pieces, abort });
    let message: ChatCompletionRequestMessage = ChatCompletionRequestUserMessage::from("hi").into();
    let request = LlmRequest {
        messages: vec![message],
        tools: Default::default(),
        max_tokens: 50,
        prompt_tokens: 5,
    };
    let (_, result) = RUNTIME.0.block_on(CLIENTS.llm.call(&request, 7));
    result
}

/// A body that ends inside a character was cut short (found by the property test below: a
/// cut inside `®` was read as malformed); bytes that can never be a character are malformed.
#[test]
fn a_body_ending_inside_a_character_is_truncated_and_invalid_bytes_are_malformed() {
    let chunk = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\
                 \"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\u{e9}\"},\
                 \"finish_reason\":null}]}\n\n";
    let inside = chunk.find('\u{e9}').expect("the accented letter") + 1;
    for abort in [false, true] {
        assert_eq!(
            call(&chunk.as_bytes()[..inside], &[], abort),
            Err(ErrorKind::Truncated),
            "abort: {abort}"
        );
    }
    let mut invalid = chunk.as_bytes()[..inside - 1].to_vec();
    invalid.extend_from_slice(b"\xff\xfe\"}}]}\n\n");
    assert_eq!(call(&invalid, &[], false), Err(ErrorKind::Malformed));
}

/// A valid stream: its events (each a `data:` value), the answer they make, and the events
/// to interleave noise with.
#[derive(Clone, Debug)]
struct Stream {
    words: Vec<String>,
    calls: Vec<(String, Vec<String>)>,
    finish: FinishReason,
    usage: Option<(u32, u32)>,
    /// Comments and keep-alive events, each before the event of its index.
    noise: Vec<(prop::sample::Index, &'static str)>,
    crlf: bool,
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-sse", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
    .to_string()
}

impl Stream {
    /// The `data:` values, in order, `[DONE]` last; and the index of the finish chunk.
    fn events(&self) -> (Vec<String>, usize) {
        let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        for word in &self.words {
            events.push(chunk(json!({"content": word}), None));
        }
        for (i, (name, pieces)) in self.calls.iter().enumerate() {
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            for piece in pieces {
                events.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        let finish = events.len();
        let reason = match self.finish {
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            _ => "stop",
        };
        events.push(chunk(json!({}), Some(reason)));
        if let Some((prompt, completion)) = self.usage {
            events.push(
                json!({"id": "chatcmpl-sse", "object": "chat.completion.chunk", "created": 1,
                    "model": "m", "choices": [],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                        "total_tokens": prompt + completion}})
                .to_string(),
            );
        }
        events.push("[DONE]".to_owned());
        (events, finish)
    }

    /// The body with `events` (one replaced, maybe), noise between them; and where the
    /// finish chunk's event ends in it.
    fn body(&self, events: &[String], finish: usize) -> (Vec<u8>, usize) {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut body = String::new();
        let mut finish_end = 0;
        for (i, event) in events.iter().enumerate() {
            for (at, noise) in &self.noise {
                if at.index(events.len()) == i {
                    body.push_str(&noise.replace('\n', eol));
                }
            }
            body.push_str(&format!("data: {event}{eol}{eol}"));
            if i == finish {
                finish_end = body.len();
            }
        }
        (body.into_bytes(), finish_end)
    }

    fn answer(&self) -> LlmResponse {
        LlmResponse {
            content: self.words.concat(),
            tool_calls: self
                .calls
                .iter()
                .enumerate()
                .map(|(i, (name, pieces))| ToolCall {
                    id: format!("call_{i}"),
                    name: name.clone(),
                    arguments: pieces.concat(),
                })
                .collect(),
            finish_reason: Some(self.finish),
        }
    }
}

fn any_stream() -> impl Strategy<Value = Stream> {
    let noise = prop_oneof![
        Just(": keep-alive comment\n\n"),
        Just(":\n"),
        Just("event: keepalive\ndata: {}\n\n"),
        Just("id: 42\nretry: 1000\n\n"),
    ];
    (
        prop::collection::vec("\\PC{0,6}", 0..8),
        prop::collection::vec(
            ("[a-z_]{1,10}", prop::collection::vec("[ -~]{0,5}", 0..4)),
            0..3,
        ),
        prop::sample::select(vec![
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
        ]),
        prop::option::of((0..100_000_u32, 0..4_000_u32)),
        prop::collection::vec((any::<prop::sample::Index>(), noise), 0..3),
        any::<bool>(),
    )
        .prop_map(|(words, calls, finish, usage, noise, crlf)| Stream {
            words,
            calls,
            finish,
            usage,
            noise,
            crlf,
        })
}

/// Something that is not a chunk, for one event's data.
fn not_a_chunk() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{\"id\": 1}".to_owned()),
        Just("{\"choices\": [{\"delta\": 3}]}".to_owned()),
        Just("[1, 2]".to_owned()),
        "[ -~]{0,30}".prop_map(|s| format!("x{s}")),
        "\\PC{0,30}".prop_map(|s| format!("{{\"choices\": \"{}", s.replace('"', ""))),
    ]
}

fn splits() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 0..12)
}

/// Runs one call, and checks that nothing panicked meanwhile.
fn no_panic(
    body: &[u8],
    splits: &[prop::sample::Index],
    abort: bool,
) -> Result<Result<LlmResponse, ErrorKind>, TestCaseError> {
    LazyLock::force(&RUNTIME);
    let before = PANICS.load(Ordering::SeqCst);
    let out = call(body, splits, abort);
    prop_assert_eq!(
        PANICS.load(Ordering::SeqCst),
        before,
        "a panic during the call"
    );
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn a_valid_stream_split_anywhere_is_read_whole(stream in any_stream(), splits in splits()) {
        let (events, finish) = stream.events();
        let (body, _) = stream.body(&events, finish);
        let result = no_panic(&body, &splits, false)?;
        prop_assert_eq!(result, Ok(stream.answer()));
    }

    #[test]
    fn a_stream_cut_short_is_truncated_unless_its_finish_came_whole(
        stream in any_stream(),
        cut in any::<prop::sample::Index>(),
        abort in any::<bool>(),
        splits in splits(),
    ) {
        let (events, finish) = stream.events();
        let (body, finish_end) = stream.body(&events, finish);
        let cut = cut.index(body.len());
        let result = no_panic(&body[..cut], &splits, abort)?;
        if !abort && cut >= finish_end {
            // No `[DONE]`, but the answer and its reason came whole.
            prop_assert_eq!(result, Ok(stream.answer()));
        } else {
            prop_assert_eq!(result, Err(ErrorKind::Truncated));
        }
    }

    #[test]
    fn an_event_that_is_not_a_chunk_is_malformed(
        stream in any_stream(),
        which in any::<prop::sample::Index>(),
        bad in not_a_chunk(),
        splits in splits(),
    ) {
        let (mut events, finish) = stream.events();
        // Any event before `[DONE]`.
        let which = which.index(events.len() - 1);
        events[which] = bad;
        let (body, _) = stream.body(&events, finish);
        let result = no_panic(&body, &splits, false)?;
        prop_assert_eq!(result, Err(ErrorKind::Malformed));
    }

    #[test]
    fn random_bytes_are_truncated_or_malformed(
        body in prop::collection::vec(any::<u8>(), 0..512),
        abort in any::<bool>(),
        splits in splits(),
    ) {
        let result = no_panic(&body, &splits, abort)?;
        prop_assert!(
            matches!(result, Err(ErrorKind::Truncated | ErrorKind::Malformed)),
            "{result:?}"
        );
    }
}

#[test]
fn bytes_that_are_not_utf8_are_malformed_not_truncated() {
    // A complete stream whose one content chunk holds a byte that is not UTF-8: the server
    // sent it whole, so it is a malformed answer, not a cut connection.
    let mut body = Vec::new();
    body.extend_from_slice(b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a");
    body.push(0xFF);
    body.extend_from_slice(b"b\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n");
    assert_eq!(call(&body, &[], false), Err(ErrorKind::Malformed));
}
