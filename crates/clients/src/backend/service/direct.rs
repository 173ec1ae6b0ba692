//! Chat completions without async-openai's request pipeline ([`DirectChat`]): the URL
//! parsed once, with its query; the body serialized once into bytes; then the same
//! [`Endpoint`] async-openai's requests go through (the credential, headers, status and
//! framing checks, failures carried as the same `OpenAIError`s). The request is the one
//! async-openai would send, byte for byte (the test below compares them on the wire).
//! async-openai formats its URL as a string per request (reqwest parses it again) and moves
//! the request through its factory and boxed futures; docs/performance.md has the cost.

use std::sync::Arc;

use async_openai::error::OpenAIError;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::Endpoint;
use crate::backend::credentials::Extras;
use crate::transport::Transport;

/// Provider `name`'s chat completions endpoint, requested without async-openai.
pub(crate) struct DirectChat {
    url: reqwest::Url,
    endpoint: Arc<Endpoint>,
}

impl std::fmt::Debug for DirectChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: its query may hold a value taken from the environment.
        f.debug_struct("DirectChat")
            .field("provider", &self.endpoint.name)
            .finish_non_exhaustive()
    }
}

impl DirectChat {
    /// The chat completions of provider `name` at `base_url` (ending in `/v1`), sent by
    /// `transport` with `extras`, asking for a stream or not; an error when `base_url` is not
    /// a URL.
    pub(crate) fn new(
        name: &str,
        transport: Transport,
        base_url: &str,
        extras: Extras,
        stream: bool,
    ) -> Result<Self, url::ParseError> {
        let mut url = reqwest::Url::parse(&format!("{base_url}/chat/completions"))?;
        extras.add_query(&mut url);
        Ok(Self {
            url,
            endpoint: Arc::new(Endpoint::new(name, transport, extras, stream)),
        })
    }

    /// POSTs `body` as JSON: `Ok` only for a 2xx in the framing asked for.
    pub(crate) async fn post(
        &self,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, OpenAIError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| OpenAIError::InvalidArgument(format!("the body: {e}")))?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, self.url.clone());
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *request.body_mut() = Some(bytes.into());
        self.endpoint.send_request(request).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// A server on 127.0.0.1 that keeps the bytes of each request it reads and answers every
    /// one with `answer` (one request a connection).
    async fn capture(answer: &'static str) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}/v1", listener.local_addr().expect("an address"));
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut bytes = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then as many body bytes as Content-Length says.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    bytes.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&bytes);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|n| n.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if bytes.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                kept.lock().expect("not poisoned").push(bytes);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        (base, seen)
    }

    #[tokio::test]
    async fn a_direct_request_is_async_openai_s_byte_for_byte() {
        use async_openai::types::chat::{
            ChatCompletionRequestUserMessage, CreateChatCompletionResponse,
        };
        const ANSWER: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
        let (base, seen) = capture(ANSWER).await;
        let connection = crate::transport::Connection {
            max_in_flight: 4,
            connect_timeout: Duration::from_secs(5),
            loopback: true,
            ca_cert: None,
            http2: false,
        };
        let transport =
            Transport::http("p", &connection, crate::transport::Trust::Plain).expect("a transport");
        let secrets = scenario::Secrets::from_pairs([("TEAM", "search team")]);
        let headers = [
            ("x-team".to_owned(), scenario::Param::Env("TEAM".to_owned())),
            (
                "x-trace".to_owned(),
                scenario::Param::Plain("on".to_owned()),
            ),
        ]
        .into();
        let query = [(
            "api-version".to_owned(),
            scenario::Param::Plain("2024 10".to_owned()),
        )]
        .into();
        let extras =
            Extras::new("p", Some("sk-test"), &headers, &query, &secrets).expect("the extras");
        let client = super::super::client("p", transport.clone(), &base, extras.clone(), false);
        let direct = DirectChat::new("p", transport, &base, extras, false).expect("a URL");
        let messages = vec![ChatCompletionRequestUserMessage::from("hello").into()];
        let body = super::super::super::openai::ChatBody::new("m", false, &messages, &[], 16);
        let through_async_openai: CreateChatCompletionResponse =
            client.chat().create_byot(&body).await.expect("an answer");
        let response = direct.post(&body).await.expect("an answer");
        let direct_answer: CreateChatCompletionResponse =
            serde_json::from_slice(&response.bytes().await.expect("the body")).expect("JSON");
        assert_eq!(direct_answer, through_async_openai);
        let seen = seen.lock().expect("not poisoned").clone();
        assert_eq!(seen.len(), 2);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(
            text(&seen[1]),
            text(&seen[0]),
            "the same request on the wire"
        );
        let first = text(&seen[0]);
        assert!(
            first.starts_with("POST /v1/chat/completions?api-version=2024+10 HTTP/1.1\r\n"),
            "{first}"
        );
        for header in [
            "authorization: Bearer sk-test",
            "x-team: search team",
            "content-type: application/json",
        ] {
            assert!(first.contains(header), "{header} in {first}");
        }
    }
}
