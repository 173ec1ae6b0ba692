//! MCP sessions (`Mcp-Session-Id`), bounded: rmcp's in-memory session manager, which ends a
//! session idle for [`IDLE`], behind a cap of [`MAX_SESSIONS`] that closes the oldest session
//! to admit a new one. A fleet whose agents each open a session, or a client that never sends
//! `DELETE /mcp`, cannot grow the mock without bound: each session is a task and its channels.
//! A client whose session was closed gets 404 on its next request, which MCP tells it to
//! answer with a new `initialize`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures_util::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId};

/// How long a session may go without a request before it is ended (rmcp's default is 5
/// minutes). An agent thinking longer than this between tool calls re-initializes.
pub(crate) const IDLE: Duration = Duration::from_secs(120);

/// The most sessions kept at once: far more than the tool clients of a fleet (each pools
/// one), few enough that a leak of sessions costs tens of megabytes, not the machine.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// rmcp's local sessions, at most `cap` of them.
#[derive(Debug)]
pub(crate) struct BoundedSessions {
    inner: LocalSessionManager,
    /// Live session ids, oldest first: the one to close when a new session would exceed
    /// `cap`. Creating a session and recording it are not one step, so concurrent creations
    /// can pass the cap by as many as are in flight; it is a bound on growth, not an exact
    /// count.
    order: Mutex<VecDeque<SessionId>>,
    cap: usize,
}

impl BoundedSessions {
    pub(crate) fn new(cap: usize) -> Self {
        let mut config = SessionConfig::default();
        config.keep_alive = Some(IDLE);
        // No SSE priming event ahead of a response: the first event of a POST's stream is its
        // answer, which `super` waits for before sending the head.
        config.sse_retry = None;
        let mut inner = LocalSessionManager::default();
        inner.session_config = config;
        Self {
            inner,
            order: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
        }
    }

    fn order(&self) -> MutexGuard<'_, VecDeque<SessionId>> {
        self.order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sessions open now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order().len()
    }
}

impl SessionManager for BoundedSessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let oldest = {
            let mut order = self.order();
            (order.len() >= self.cap)
                .then(|| order.pop_front())
                .flatten()
        };
        if let Some(oldest) = oldest {
            self.inner.close_session(&oldest).await?;
        }
        let (id, transport) = self.inner.create_session().await?;
        self.order().push_back(id.clone());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.order().retain(|open| open != id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_session_is_closed_to_admit_one_past_the_cap() {
        let sessions = BoundedSessions::new(2);
        let mut ids = Vec::new();
        for _ in 0..3 {
            // The transport is dropped: its worker ends, as a session nobody initializes does.
            let (id, _transport) = sessions.create_session().await.unwrap();
            ids.push(id);
        }
        assert_eq!(sessions.len(), 2);
        assert!(!sessions.has_session(&ids[0]).await.unwrap());
        assert!(sessions.has_session(&ids[2]).await.unwrap());
        sessions.close_session(&ids[2]).await.unwrap();
        assert_eq!(sessions.len(), 1);
        assert!(!sessions.has_session(&ids[2]).await.unwrap());
    }
}
