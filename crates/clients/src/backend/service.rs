//! The HTTP service both OpenAI backends ([`super::HttpLlm`], [`super::HttpResponses`]) give
//! async-openai in place of its own: our transport (every attempt is ours, and counted: no
//! hidden retries), the endpoint's [`Extras`] (the only credential sent is the one its
//! `api_key_env` names: `backend::credentials`), a non-2xx answer carried out as a
//! [`StatusError`], and a 2xx in the wrong framing for the provider's `stream` as a
//! [`Mismatch`]. And how async-openai's failures are classified, the same for both APIs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use async_openai::Client;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::HttpRequestFactory;
use reqwest::header::CONTENT_TYPE;

use metrics::ErrorKind;

use super::Failure;
use super::credentials::{self, Extras, ProviderConfig};
use crate::backoff::parse_retry_after;
use crate::transport::{Transport, TransportError, classify_reqwest};

/// An HTTP error status, carried out of the transport past async-openai.
#[derive(Debug)]
pub(crate) struct StatusError {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: String,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the whole body: a server may echo the request's headers, the key among them.
        write!(
            f,
            "HTTP {} ({} bytes): {}",
            self.status,
            self.body.len(),
            credentials::excerpt(&self.body)
        )
    }
}

impl std::error::Error for StatusError {}

impl StatusError {
    /// Reads the error of a non-2xx response (its body bounded, for logs).
    pub(crate) async fn from_response(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(400)
            .collect();
        Self {
            status,
            retry_after,
            body,
        }
    }

    pub(crate) fn failure(&self) -> Failure {
        Failure {
            kind: ErrorKind::from_status(self.status),
            status: Some(self.status),
            retry_after: self.retry_after,
            ttft: None,
        }
    }
}

/// A 2xx whose framing is not the one asked for: a whole JSON answer to a streaming request,
/// or an event stream to a non-streaming one. The server ignores `stream`; read as the other
/// framing it would be `truncated` or `malformed`, which sends users hunting in the wrong
/// place.
#[derive(Debug)]
pub(crate) struct Mismatch {
    /// The status of the answer.
    pub(crate) status: u16,
    /// The `Content-Type` it came with.
    pub(crate) content_type: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} with `{}`, not the framing asked for",
            self.status, self.content_type
        )
    }
}

impl std::error::Error for Mismatch {}

/// The media type of a response (`Content-Type` without its parameters, lowercase).
fn media_type(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim();
    Some(media.to_ascii_lowercase())
}

/// What a provider's requests carry besides their body, and how their answers are checked.
struct Endpoint {
    /// The provider, for the mismatch warning.
    name: String,
    transport: Transport,
    extras: Extras,
    /// Whether the provider's requests ask for a stream (fixed per provider).
    stream: bool,
    /// Set by the first mismatch: the warning is logged once per provider, not per attempt.
    warned: AtomicBool,
}

impl Endpoint {
    fn new(name: &str, transport: Transport, extras: Extras, stream: bool) -> Self {
        Self {
            name: name.to_owned(),
            transport,
            extras,
            stream,
            warned: AtomicBool::new(false),
        }
    }

    /// One attempt on the wire: `Ok` only for a 2xx in the framing asked for.
    async fn send(&self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        self.send_request(factory.build().await?).await
    }

    /// [`Endpoint::send`] of a request already built.
    async fn send_request(
        &self,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response, OpenAIError> {
        self.extras.apply(request.headers_mut());
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| OpenAIError::Boxed(Box::new(e)))?;
        if !response.status().is_success() {
            return Err(OpenAIError::Boxed(Box::new(
                StatusError::from_response(response).await,
            )));
        }
        match media_type(&response) {
            Some(media) if self.mismatched(&media) => {
                self.warn(&media);
                Err(OpenAIError::Boxed(Box::new(Mismatch {
                    status: response.status().as_u16(),
                    content_type: media,
                })))
            }
            _ => Ok(response),
        }
    }

    /// Whether a 2xx of `media` is the other framing than the one asked for. Any other type
    /// (or none) is read as asked, and fails as `malformed` if it is not.
    fn mismatched(&self, media: &str) -> bool {
        if self.stream {
            media == "application/json"
        } else {
            media == "text/event-stream"
        }
    }

    /// The first mismatch of this provider: what came back, and the fix.
    fn warn(&self, media: &str) {
        if self.warned.swap(true, Ordering::Relaxed) {
            return;
        }
        let (asked, fix) = if self.stream {
            ("a stream (`stream = true`)", "`stream = false`")
        } else {
            ("a whole answer (`stream = false`)", "`stream = true`")
        };
        tracing::warn!(
            provider = %self.name,
            content_type = %media,
            "provider `{}` answered `{media}` to a request for {asked}: it ignores `stream`; \
             set {fix} on this provider (its calls fail as `stream_mismatch` until then)",
            self.name
        );
    }
}

/// The async-openai client of provider `name` at `base_url` (ending in `/v1`), its requests
/// sent by `transport` with `extras`, asking for a stream or not.
pub(crate) fn client(
    name: &str,
    transport: Transport,
    base_url: &str,
    extras: Extras,
    stream: bool,
) -> Client<ProviderConfig> {
    let config = ProviderConfig::new(base_url, &extras);
    // Not `Client::with_config`: it builds a default reqwest client, which reads the
    // platform's CA store and panics on a machine without one, even for http://.
    let http_client = transport.reqwest_client();
    let endpoint = Arc::new(Endpoint::new(name, transport, extras, stream));
    let service = tower::service_fn(move |factory: HttpRequestFactory| {
        let endpoint = endpoint.clone();
        async move { endpoint.send(factory).await }
    });
    Client::build(http_client, config).with_http_service(service)
}

/// The kind of an async-openai failure, the same for both APIs. A body it could not read is
/// logged (at debug) only as its length and a short redacted excerpt: a server may echo the
/// request's headers.
pub(crate) fn classify(err: OpenAIError) -> Failure {
    match err {
        OpenAIError::Boxed(boxed) => {
            if let Some(status) = boxed.downcast_ref::<StatusError>() {
                status.failure()
            } else if let Some(transport) = boxed.downcast_ref::<TransportError>() {
                Failure::new(transport.kind)
            } else if let Some(mismatch) = boxed.downcast_ref::<Mismatch>() {
                Failure {
                    status: Some(mismatch.status),
                    ..Failure::new(ErrorKind::StreamMismatch)
                }
            } else {
                Failure::new(ErrorKind::Reset)
            }
        }
        OpenAIError::Reqwest(e) => Failure::new(classify_reqwest(&e)),
        OpenAIError::JSONDeserialize(_, body) => malformed(&body),
        OpenAIError::StreamError(e) => match *e {
            // The event stream's own decoder (eventsource-stream, as async-openai words it):
            // bytes that are not UTF-8 or not an event are malformed; a broken transport
            // is a cut connection. The decoder keeps bytes that are not yet a whole character
            // and says so only when the body ends: a body that ends inside a character was
            // cut short (std's "incomplete utf-8 byte sequence"), not malformed.
            StreamError::EventStream(e)
                if e.starts_with("UTF8 error") && e.contains("incomplete utf-8 byte sequence") =>
            {
                Failure::new(ErrorKind::Truncated)
            }
            StreamError::EventStream(e)
                if e.starts_with("UTF8 error") || e.starts_with("Parse error") =>
            {
                Failure::new(ErrorKind::Malformed)
            }
            StreamError::EventStream(_) => Failure::new(ErrorKind::Truncated),
            StreamError::UnknownEvent(event) => malformed(&event.data),
        },
        _ => Failure::new(ErrorKind::ClientError),
    }
}

/// A successful (2xx) response whose body is not the answer: logged as its length and a
/// redacted excerpt, never whole.
pub(crate) fn malformed(body: &str) -> Failure {
    tracing::debug!(
        bytes = body.len(),
        excerpt = %credentials::excerpt(body),
        "malformed 2xx response body"
    );
    Failure::new(ErrorKind::Malformed)
}

mod direct;

pub(crate) use direct::DirectChat;

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::*;

    /// The warnings logged while it is the default subscriber, each as its fields.
    #[derive(Clone, Default)]
    struct Warnings(Arc<Mutex<Vec<String>>>);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    impl Subscriber for Warnings {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() == Level::WARN {
                let mut fields = Fields(String::new());
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.0);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn endpoint(stream: bool) -> Endpoint {
        Endpoint::new(
            "gateway",
            Transport::InProcess(mock::MockServer::new(mock::MockConfig::default())),
            Extras::default(),
            stream,
        )
    }

    #[test]
    fn a_mismatch_is_told_once_per_provider_with_its_fix() {
        let warnings = Warnings::default();
        let (streamed, whole) = (endpoint(true), endpoint(false));
        tracing::subscriber::with_default(warnings.clone(), || {
            for _ in 0..3 {
                streamed.warn("application/json");
                whole.warn("text/event-stream");
            }
        });
        let logged = warnings.0.lock().unwrap().clone();
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(logged[0].contains("provider `gateway` answered `application/json`"));
        assert!(logged[0].contains("set `stream = false` on this provider"));
        assert!(logged[1].contains("answered `text/event-stream`"));
        assert!(logged[1].contains("set `stream = true` on this provider"));
    }

    #[test]
    fn only_the_other_framing_is_a_mismatch() {
        let (streamed, whole) = (endpoint(true), endpoint(false));
        assert!(streamed.mismatched("application/json"));
        assert!(!streamed.mismatched("text/event-stream"));
        assert!(!streamed.mismatched("text/plain"));
        assert!(whole.mismatched("text/event-stream"));
        assert!(!whole.mismatched("application/json"));
    }
}
