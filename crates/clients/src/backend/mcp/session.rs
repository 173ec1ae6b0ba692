//! One MCP session per server, shared by every agent and every tool of that server: started
//! once (at the preflight, or by the first call), used by concurrent calls, started again when
//! the server has dropped it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::super::credentials::Extras;

/// A running MCP client session.
pub(crate) type Running = RunningService<RoleClient, ClientConfig>;

/// The session with one MCP server, started lazily and again after the server dropped it.
pub(crate) struct Session {
    /// Our pooled client (TLS trust, `ca_cert`, pool, connect timeout), cloned into rmcp.
    client: reqwest::Client,
    /// The URL requests go to, the endpoint's query parameters included (they may hold a
    /// value from the environment: never shown).
    uri: Arc<str>,
    /// The URL as the scenario wrote it, for messages.
    pub(crate) shown: String,
    /// The endpoint's key and headers, sent on every request of the session.
    headers: HashMap<reqwest::header::HeaderName, reqwest::header::HeaderValue>,
    /// POSTs rmcp lets run at once: the sum of the `max_in_flight` of the tools sharing the
    /// session, so rmcp never queues a call our pools let through.
    max_in_flight: usize,
    /// The session in use, if one is up. A std mutex: held only to clone or swap the `Arc`,
    /// never across an await.
    current: Mutex<Option<Arc<Running>>>,
    /// Held while a session starts, so that concurrent callers wait for one handshake rather
    /// than each starting their own.
    starting: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the URI (its query may hold a secret) nor the headers' values.
        f.debug_struct("Session")
            .field("url", &self.shown)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session with the server at `url` (`shown` in messages), through `client`, with the
    /// key, headers and query parameters of `extras`.
    pub(crate) fn new(
        client: reqwest::Client,
        url: &str,
        extras: &Extras,
        max_in_flight: usize,
    ) -> Result<Self, url::ParseError> {
        let mut uri = reqwest::Url::parse(url)?;
        extras.add_query(&mut uri);
        let mut headers = reqwest::header::HeaderMap::new();
        extras.apply(&mut headers);
        Ok(Self {
            client,
            uri: uri.as_str().into(),
            shown: url.to_owned(),
            headers: headers
                .into_iter()
                .filter_map(|(name, value)| Some((name?, value)))
                .collect(),
            max_in_flight: max_in_flight.max(1),
            current: Mutex::new(None),
            starting: tokio::sync::Mutex::new(()),
        })
    }

    /// The session up now, started if none is (or the one there was has closed).
    pub(crate) async fn get(&self) -> Result<Arc<Running>, ClientInitializeError> {
        if let Some(up) = self.up() {
            return Ok(up);
        }
        let _starting = self.starting.lock().await;
        // Another caller may have started it while this one waited.
        if let Some(up) = self.up() {
            return Ok(up);
        }
        let running = Arc::new(self.start().await?);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(running.clone());
        Ok(running)
    }

    /// Forgets `used` if it is still the current session, after a call found its transport
    /// closed: the next call starts a new one. (A session the server expired, HTTP 404, rmcp
    /// restarts by itself and retries the call once.)
    pub(crate) fn drop_if_current(&self, used: &Arc<Running>) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, used)) {
            *current = None;
        }
    }

    /// Whether `err` means the session is gone rather than one call failed.
    pub(crate) fn is_gone(err: &ServiceError) -> bool {
        matches!(err, ServiceError::TransportClosed)
    }

    fn up(&self) -> Option<Arc<Running>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|r| !r.is_closed() && !r.peer().is_transport_closed())
            .cloned()
    }

    async fn start(&self) -> Result<Running, ClientInitializeError> {
        use rmcp::ServiceExt;
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.uri.clone())
            .max_concurrent_requests(self.max_in_flight);
        config.custom_headers = self.headers.clone();
        config.reinit_on_expired_session = true;
        let client = super::http::Scrubbed(self.client.clone());
        let transport = StreamableHttpClientTransport::with_client(client, config);
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("fleetbench", env!("CARGO_PKG_VERSION")),
        );
        info.serve(transport).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_s_query_and_key_go_in_the_session_s_requests_and_not_its_debug() {
        crate::install_crypto_provider();
        let secrets = scenario::Secrets::from_pairs([("Q", "q-secret"), ("K", "sk-secret")]);
        let query = [("team".to_owned(), scenario::Param::Env("Q".to_owned()))].into();
        let extras = Extras::new(
            "t",
            Some("sk-secret"),
            &Default::default(),
            &query,
            &secrets,
        )
        .expect("the extras build");
        let session = Session::new(reqwest::Client::new(), "http://h:1/mcp", &extras, 8)
            .expect("the URL parses");
        assert_eq!(&*session.uri, "http://h:1/mcp?team=q-secret");
        let auth = &session.headers[&reqwest::header::AUTHORIZATION];
        assert!(auth.is_sensitive());
        assert_eq!(auth.to_str().ok(), Some("Bearer sk-secret"));
        let shown = format!("{session:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
