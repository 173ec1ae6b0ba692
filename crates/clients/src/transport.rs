//! How the HTTP backends' requests travel: a pooled reqwest client. In this crate's tests also
//! straight into the mock's router in-process with no sockets (paused time treats a socket
//! wait as idle, so only in-process calls keep virtual time exact): the router path, the oracle
//! the in-process backends (`backend::mock`) are checked against. Both take and return
//! reqwest types, so async-openai and the HTTP backends above them are one code path.
//!
//! `tls`: rustls (ring) for `https://`, the roots each endpoint trusts, and the `tls` error
//! kind with its one warning per endpoint.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
use axum::body::Body as AxumBody;
#[cfg(test)]
use mock::{MockServer, ResetConnection};
#[cfg(test)]
use tower::ServiceExt;

use metrics::ErrorKind;

mod tls;

pub use tls::install_crypto_provider;
pub(crate) use tls::{CaError, Trust, read_ca, rustls_error};

/// Where requests go.
#[derive(Clone, Debug)]
pub(crate) enum Transport {
    /// Real HTTP (and HTTPS), with what to say at the endpoint's first TLS failure.
    Http(reqwest::Client, Arc<tls::Hint>),
    /// The mock's router, called in-process (tests only: the oracle).
    #[cfg(test)]
    InProcess(MockServer),
}

/// A request that got no HTTP response.
#[derive(Debug)]
pub(crate) struct TransportError {
    /// What went wrong.
    pub(crate) kind: ErrorKind,
    /// The underlying message, for logs.
    pub(crate) detail: String,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl StdError for TransportError {}

/// How long an idle pooled connection to a remote server is kept (reqwest's default).
const REMOTE_IDLE: Duration = Duration::from_secs(90);

/// How long an idle pooled connection on loopback is kept: under half the mock's own idle
/// timeout (10 s, `docs/mock.md`), so the client drops a connection before the mock closes it
/// and a request never races the close (a redial on loopback costs next to nothing).
const LOOPBACK_IDLE: Duration = Duration::from_secs(4);

/// How one endpoint's connections are made.
#[derive(Clone, Debug, Default)]
pub(crate) struct Connection {
    /// Requests in flight at most: as many idle connections are kept.
    pub(crate) max_in_flight: u32,
    /// Limit of establishing a connection.
    pub(crate) connect_timeout: Duration,
    /// The endpoint is on this machine.
    pub(crate) loopback: bool,
    /// A PEM file of CA certificates trusted besides the platform's roots (read into a
    /// [`Trust`] by `build::route`).
    pub(crate) ca_cert: Option<PathBuf>,
    /// HTTP/2 with prior knowledge (h2c on plain HTTP).
    pub(crate) http2: bool,
}

impl Transport {
    /// A pooled HTTP transport for endpoint `target`. `max_in_flight` idle connections are
    /// kept per host so a full pool reuses its connections instead of dialling new ones;
    /// `loopback` turns off proxies (an environment proxy must not capture traffic to
    /// 127.0.0.1) and keeps idle connections [`LOOPBACK_IDLE`] instead of [`REMOTE_IDLE`].
    /// Over `https://`, HTTP/2 is offered by ALPN (`http2` asks for it alone); `trust` says
    /// which roots the server's certificate is checked against.
    pub(crate) fn http(target: &str, c: &Connection, trust: Trust) -> Result<Self, reqwest::Error> {
        install_crypto_provider();
        let embedded = matches!(trust, Trust::Only(_));
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::try_from(c.max_in_flight).unwrap_or(usize::MAX))
            .pool_idle_timeout(if c.loopback {
                LOOPBACK_IDLE
            } else {
                REMOTE_IDLE
            })
            .tcp_nodelay(true)
            .connect_timeout(c.connect_timeout);
        if c.loopback {
            builder = builder.no_proxy();
        }
        if c.http2 {
            builder = builder.http2_prior_knowledge();
        }
        let client = trust.apply(builder).build()?;
        Ok(Transport::Http(
            client,
            Arc::new(tls::Hint::new(target, embedded)),
        ))
    }

    /// A reqwest client for async-openai's `Client::build`, which wants one although every
    /// request goes through our service: this transport's own (over HTTP), or one that never
    /// reads a CA store. (`Client::with_config` builds a default client, which reads the
    /// platform's roots and panics on a machine without any, even for `http://`.)
    pub(crate) fn reqwest_client(&self) -> reqwest::Client {
        match self {
            Transport::Http(client, _) => client.clone(),
            #[cfg(test)]
            Transport::InProcess(_) => {
                install_crypto_provider();
                Trust::Plain
                    .apply(reqwest::Client::builder())
                    .build()
                    .expect("a client without TLS roots builds")
            }
        }
    }

    /// Sends one request.
    pub(crate) async fn send(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, TransportError> {
        match self {
            Transport::Http(client, hint) => {
                client.execute(request).await.map_err(|err| {
                    // Host and port only, and never the URL in a message: it may hold a query
                    // value taken from the environment.
                    let host = match err.url().map(|u| (u.host_str(), u.port())) {
                        Some((Some(host), Some(port))) => format!("{host}:{port}"),
                        Some((host, _)) => host.unwrap_or_default().to_owned(),
                        None => "the endpoint".to_owned(),
                    };
                    let err = err.without_url();
                    let kind = classify_reqwest(&err);
                    if kind == ErrorKind::Tls
                        && let Some(reason) = rustls_error(&err)
                    {
                        hint.warn_once(&host, reason);
                    }
                    TransportError {
                        kind,
                        detail: error_chain(&err),
                    }
                })
            }
            #[cfg(test)]
            Transport::InProcess(server) => in_process(server, request).await,
        }
    }
}

#[cfg(test)]
async fn in_process(
    server: &MockServer,
    request: reqwest::Request,
) -> Result<reqwest::Response, TransportError> {
    let mut builder = axum::http::Request::builder()
        .method(request.method().clone())
        .uri(match request.url().query() {
            Some(q) => format!("{}?{q}", request.url().path()),
            None => request.url().path().to_owned(),
        });
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(bytes::Bytes::copy_from_slice)
        .unwrap_or_default();
    let http_request = builder
        .body(AxumBody::from(body))
        .map_err(|err| TransportError {
            kind: ErrorKind::ClientError,
            detail: format!("cannot build the in-process request: {err}"),
        })?;
    // The mock's work is the server's, charged as shared heap, not to the calling agent.
    let response = heap::shared_future(server.router().oneshot(http_request))
        .await
        .unwrap_or_else(|never| match never {});
    if response.extensions().get::<ResetConnection>().is_some() {
        return Err(TransportError {
            kind: ErrorKind::Reset,
            detail: "connection reset by the mock".to_owned(),
        });
    }
    let (parts, body) = response.into_parts();
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    Ok(reqwest::Response::from(axum::http::Response::from_parts(
        parts, body,
    )))
}

/// The kind of a reqwest failure, from the error and its source chain. A certificate or
/// handshake failure is `tls` (a connect error to reqwest), a refused or unreachable host
/// `connect`.
pub(crate) fn classify_reqwest(err: &reqwest::Error) -> ErrorKind {
    if err.is_timeout() {
        return ErrorKind::Timeout;
    }
    if rustls_error(err).is_some() {
        return ErrorKind::Tls;
    }
    if err.is_connect() {
        return ErrorKind::Connect;
    }
    if let Some(io_kind) = io_kind(err) {
        return match io_kind {
            io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionAborted
                if err.is_body() || err.is_decode() =>
            {
                ErrorKind::Truncated
            }
            _ => ErrorKind::Reset,
        };
    }
    if err.is_body() || err.is_decode() {
        // The head arrived, then the body broke off.
        return ErrorKind::Truncated;
    }
    // The connection closed before a complete response head (hyper's IncompleteMessage).
    ErrorKind::Reset
}

fn io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = e.source();
    }
    None
}

/// An error and its causes on one line.
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
