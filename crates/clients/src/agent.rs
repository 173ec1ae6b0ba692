//! [`AgentEndpoint`]: a team's agent runtime behind HTTP (`[agent] kind = "http"`), one turn
//! one request. The chat shape speaks OpenAI's chat completions (the session's conversation
//! so far, the answer at `/choices/0/message/content` or in the streamed deltas); the template
//! shape fills the team's own JSON body and reads the answer at a JSON pointer, whole or from
//! server-sent events. A failure is classified like a provider's: the status, a timeout, a
//! reset, an answer that is not JSON or has no text where the pointer says.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use serde_json::{Value, json};
use tokio::time::Instant;

use metrics::ErrorKind;
use scenario::{AgentConfig, AgentShape};

use crate::backend::{Extras, StatusError};
use crate::transport::{Transport, classify_reqwest};

mod sse;
#[cfg(test)]
mod tests;

/// The runtime under test.
#[derive(Debug)]
pub struct AgentEndpoint {
    transport: Transport,
    /// The URL as written (the template shape's may hold `{{session}}` and `{{turn}}`).
    url: String,
    extras: Extras,
    shape: AgentShape,
    model: String,
    stream: bool,
    /// The template's body as JSON.
    body: Option<Value>,
    pointer: String,
    timeout: Duration,
}

/// One turn to send.
#[derive(Clone, Copy, Debug)]
pub struct AgentTurn<'a> {
    /// The session's id as the runtime sees it.
    pub session: &'a str,
    /// The turn's number in the session, from 1.
    pub turn: u32,
    /// The user's message.
    pub message: &'a str,
    /// The conversation before this turn, as `(user message, answer)` pairs (the chat
    /// shape sends it; a template sends only the message, the runtime keeps the session).
    pub history: &'a [(String, String)],
    /// The session's cookies, as a `Cookie` header value (empty: none).
    pub cookies: &'a str,
}

/// A runtime's answer.
#[derive(Clone, Debug, Default)]
pub struct AgentReply {
    /// The answer's text.
    pub text: String,
    /// The HTTP status.
    pub status: u16,
    /// Time to the first piece of the answer, when it was streamed.
    pub ttft: Option<Duration>,
    /// The `name=value` of each `Set-Cookie` of the response.
    pub cookies: Vec<String>,
}

/// Why a turn got no answer.
#[derive(Clone, Debug)]
pub struct AgentFailure {
    /// The class, as for a provider.
    pub kind: ErrorKind,
    /// The HTTP status, when a response head arrived.
    pub status: Option<u16>,
    /// What happened, for the log (never the whole body).
    pub detail: String,
    /// The answer was JSON but the pointer matched no text in it: the pointer is probably
    /// wrong (the driver stops the run when the first answer is like this).
    pub no_answer: bool,
}

impl AgentFailure {
    fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            detail: detail.into(),
            no_answer: false,
        }
    }
}

impl AgentEndpoint {
    /// The runtime `config` names, reached through `transport` with `extras`.
    pub(crate) fn new(config: &AgentConfig, transport: Transport, extras: Extras) -> Self {
        Self {
            transport,
            url: config.url.clone().unwrap_or_default(),
            extras,
            shape: config.shape,
            model: config.model.clone(),
            stream: config.stream,
            body: config
                .body
                .as_ref()
                .map(|t| serde_json::to_value(t).unwrap_or(Value::Null)),
            pointer: config.answer_pointer().to_owned(),
            timeout: config.timeout.0,
        }
    }

    /// The URL as written in the scenario.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a connection to the runtime's host and port can be made now: the check
    /// before any traffic, so a runtime that is not up is an error naming `agent.url`.
    pub async fn reachable(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&fill(&self.url, "s", 1)).map_err(|e| e.to_string())?;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let port = url.port_or_known_default().unwrap_or(80);
        let connect = tokio::net::TcpStream::connect((host, port));
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("no answer to the connection within 5 s".to_owned()),
        }
    }

    /// Sends one turn and waits for the whole answer, at most the turn timeout.
    pub async fn send(&self, turn: &AgentTurn<'_>) -> Result<AgentReply, AgentFailure> {
        let started = Instant::now();
        match tokio::time::timeout(self.timeout, self.exchange(turn, started)).await {
            Ok(result) => result,
            Err(_) => Err(AgentFailure::new(
                ErrorKind::Timeout,
                format!("no whole answer within {:?}", self.timeout),
            )),
        }
    }

    async fn exchange(
        &self,
        turn: &AgentTurn<'_>,
        started: Instant,
    ) -> Result<AgentReply, AgentFailure> {
        let request = self.request(turn)?;
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| AgentFailure::new(e.kind, e.detail))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let err = StatusError::from_response(response).await;
            let mut failure = AgentFailure::new(err.failure().kind, err.to_string());
            failure.status = Some(status);
            return Err(failure);
        }
        let cookies = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(|v| v.trim().to_owned())
            .collect();
        let streamed = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let with_status = |mut f: AgentFailure| {
            f.status = Some(status);
            f
        };
        let (text, ttft) = if streamed {
            self.read_events(response, started)
                .await
                .map_err(with_status)?
        } else {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| AgentFailure::new(classify_reqwest(&e), e.to_string()))
                .map_err(with_status)?;
            (self.answer_of(&bytes).map_err(with_status)?, None)
        };
        Ok(AgentReply {
            text,
            status,
            ttft,
            cookies,
        })
    }

    /// The request of `turn`: the URL and body filled in, the endpoint's key, headers and
    /// query, the session's cookies.
    fn request(&self, turn: &AgentTurn<'_>) -> Result<reqwest::Request, AgentFailure> {
        let body = match self.shape {
            AgentShape::Chat => chat_body(&self.model, self.stream, turn),
            AgentShape::Template => fill_json(self.body.as_ref().unwrap_or(&Value::Null), turn),
        };
        let mut url = reqwest::Url::parse(&fill(&self.url, turn.session, turn.turn))
            .map_err(|e| AgentFailure::new(ErrorKind::ClientError, e.to_string()))?;
        self.extras.add_query(&mut url);
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        let headers = request.headers_mut();
        self.extras.apply(headers);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if !turn.cookies.is_empty()
            && let Ok(v) = HeaderValue::try_from(turn.cookies)
        {
            headers.insert(COOKIE, v);
        }
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        *request.body_mut() = Some(bytes.into());
        Ok(request)
    }

    /// The text at the pointer of a whole JSON answer.
    fn answer_of(&self, bytes: &[u8]) -> Result<String, AgentFailure> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            AgentFailure::new(
                ErrorKind::Malformed,
                format!("the answer is not JSON ({e}): {}", excerpt(bytes)),
            )
        })?;
        match text_at(&value, &self.pointer) {
            Some(text) => Ok(text),
            None => Err(AgentFailure {
                no_answer: true,
                ..AgentFailure::new(
                    ErrorKind::Malformed,
                    format!(
                        "the JSON pointer `{}` matches no text in the answer: {}",
                        self.pointer,
                        excerpt(bytes)
                    ),
                )
            }),
        }
    }

    /// The text of an event stream: each event's data read as JSON, the text at the pointer
    /// (the chat shape: each chunk's `/choices/0/delta/content`) appended.
    async fn read_events(
        &self,
        response: reqwest::Response,
        started: Instant,
    ) -> Result<(String, Option<Duration>), AgentFailure> {
        let pointer = match self.shape {
            AgentShape::Chat if self.pointer == "/choices/0/message/content" => {
                "/choices/0/delta/content"
            }
            _ => self.pointer.as_str(),
        };
        let mut events = sse::Events::default();
        let mut body = response.bytes_stream();
        let (mut text, mut ttft, mut matched, mut done) = (String::new(), None, false, false);
        let mut first_data = None;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| AgentFailure::new(classify_reqwest(&e), e.to_string()))?;
            for data in events.push(&chunk) {
                if data.trim() == "[DONE]" {
                    done = true;
                    continue;
                }
                first_data.get_or_insert_with(|| data.clone());
                let value: Value = serde_json::from_str(&data).map_err(|e| {
                    AgentFailure::new(
                        ErrorKind::Malformed,
                        format!(
                            "an event's data is not JSON ({e}): {}",
                            excerpt(data.as_bytes())
                        ),
                    )
                })?;
                if let Some(piece) = text_at(&value, pointer) {
                    matched = true;
                    if ttft.is_none() && !piece.is_empty() {
                        ttft = Some(started.elapsed());
                    }
                    text.push_str(&piece);
                }
            }
        }
        if self.shape == AgentShape::Chat && !done {
            return Err(AgentFailure::new(
                ErrorKind::Truncated,
                "the stream ended without `data: [DONE]`",
            ));
        }
        if !matched {
            return Err(AgentFailure {
                no_answer: true,
                ..AgentFailure::new(
                    ErrorKind::Malformed,
                    format!(
                        "the JSON pointer `{pointer}` matches no text in any event; the first was: {}",
                        excerpt(first_data.unwrap_or_default().as_bytes())
                    ),
                )
            });
        }
        Ok((text, ttft))
    }
}

/// OpenAI's chat body: the conversation so far and the message.
fn chat_body(model: &str, stream: bool, turn: &AgentTurn<'_>) -> Value {
    let mut messages = Vec::with_capacity(turn.history.len() * 2 + 1);
    for (user, answer) in turn.history {
        messages.push(json!({"role": "user", "content": user}));
        messages.push(json!({"role": "assistant", "content": answer}));
    }
    messages.push(json!({"role": "user", "content": turn.message}));
    let mut body = json!({"model": model, "messages": messages, "user": turn.session});
    if stream {
        body["stream"] = Value::Bool(true);
    }
    body
}

/// `template` with `{{session}}`, `{{turn}}` and `{{message}}` filled in (the scenario
/// checked that no other placeholder is there).
fn fill(template: &str, session: &str, turn: u32) -> String {
    template
        .replace("{{session}}", session)
        .replace("{{turn}}", &turn.to_string())
}

/// The template body with every string's placeholders filled in; a string that is exactly
/// `{{turn}}` becomes the number.
fn fill_json(v: &Value, turn: &AgentTurn<'_>) -> Value {
    match v {
        Value::String(s) if s.trim() == "{{turn}}" => Value::from(turn.turn),
        Value::String(s) => {
            Value::String(fill(s, turn.session, turn.turn).replace("{{message}}", turn.message))
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| fill_json(i, turn)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| (k.clone(), fill_json(i, turn)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The text at `pointer`: a string as it is, a number or boolean as written; nothing for
/// null, a missing value, an object or an array.
fn text_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The start of a body, for a message.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}
