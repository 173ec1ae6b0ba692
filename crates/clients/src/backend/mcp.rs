//! [`McpTool`]: a tool of an MCP server, over the streamable HTTP transport, through the
//! official Rust SDK (rmcp) on our own reqwest client: the endpoint's TLS trust (`ca_cert`),
//! pool and connect timeout apply, and its key, headers and query parameters go with every
//! request.
//!
//! The tools of one server (same `endpoint` and connection keys) share one MCP session
//! ([`session`]), and so do all agents: started at the preflight ([`preflight`]: every
//! configured tool must be one the server lists) or by the first call, used by concurrent
//! calls, started again when the server has dropped it. An attempt is one `tools/call`; a
//! result with `isError` is a failure (`server_error`, as a 500 from an HTTP tool), and
//! failures are classified as HTTP ones ([`classify`]). The policies around it (pool,
//! limiter, breaker, retries, timeout, cache, metrics) are those of every tool.
//!
//! Under the virtual clock an `endpoint = "embedded"` MCP tool is the mock called in-process
//! ([`super::MockTool`]), as an HTTP tool is: no wire, so no MCP framing either; the answers,
//! latency model and faults are the same tool machinery the mock's `/mcp` serves.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};

use metrics::ErrorKind;

use super::{Attempted, Failure, Measured, ToolBackend};
use crate::build::BuildError;
use crate::tool::ToolResult;

mod classify;
mod http;
mod session;
#[cfg(test)]
mod tests;

pub(crate) use session::Session;

/// A tool of an MCP server.
#[derive(Debug)]
pub struct McpTool {
    /// The tool's name on the server (its `[tools.NAME]` table).
    name: Arc<str>,
    /// The session with its server, shared with the server's other tools.
    session: Arc<Session>,
    /// How long the preflight waits for the server: the tool's attempt `timeout`.
    timeout: Duration,
}

impl McpTool {
    /// The tool `name` of the server `session` talks to.
    pub(crate) fn new(name: &str, session: Arc<Session>, timeout: Duration) -> Self {
        Self {
            name: name.into(),
            session,
            timeout,
        }
    }
}

impl ToolBackend for McpTool {
    async fn attempt(&self, args: &serde_json::Value) -> Attempted<ToolResult> {
        let mut params = CallToolRequestParams::new(self.name.to_string());
        match args {
            serde_json::Value::Object(map) => params = params.with_arguments(map.clone()),
            serde_json::Value::Null => {}
            // MCP arguments are an object.
            _ => return Err(Failure::new(ErrorKind::ClientError)),
        }
        let running = self
            .session
            .get()
            .await
            .map_err(|e| classify::initialize(&e))?;
        match running.call_tool(params).await {
            Ok(result) => read(&result),
            Err(err) => {
                if Session::is_gone(&err) {
                    self.session.drop_if_current(&running);
                }
                Err(classify::service(&err))
            }
        }
    }
}

/// A `tools/call` result as a tool result: its text content joined by line breaks, its
/// tokens the server's (`structuredContent.tokens` or `_meta.tokens`) or estimated at 4
/// characters a token, as for an HTTP tool's text.
fn read(result: &CallToolResult) -> Attempted<ToolResult> {
    if result.is_error == Some(true) {
        return Err(Failure::new(ErrorKind::ServerError));
    }
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    let tokens = server_tokens(result)
        .unwrap_or_else(|| u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX));
    let measured = Measured {
        // The answer came in an HTTP 200 (an event stream or JSON).
        status: Some(200),
        tokens_out: tokens,
        ..Measured::default()
    };
    let output = ToolResult {
        output: text.into(),
        tokens,
    };
    Ok((output, measured))
}

/// The token count the server states, if it does.
fn server_tokens(result: &CallToolResult) -> Option<u32> {
    let from = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    from(
        result
            .structured_content
            .as_ref()
            .and_then(|s| s.get("tokens")),
    )
    .or_else(|| from(result.meta.as_ref().and_then(|m| m.0.get("tokens"))))
}

/// Whether tools `a` and `b` reach the same MCP server the same way, and so share a session:
/// the same endpoint and connection keys.
pub(crate) fn same_server(a: &scenario::Tool, b: &scenario::Tool) -> bool {
    a.protocol == scenario::ToolProtocol::Mcp
        && b.protocol == scenario::ToolProtocol::Mcp
        && a.endpoint == b.endpoint
        && a.api_key_env == b.api_key_env
        && a.ca_cert == b.ca_cert
        && a.http2 == b.http2
        && a.headers == b.headers
        && a.query == b.query
}

/// Before the fleet starts: each MCP server of `tools` (name, backend) started and listed,
/// every configured tool required among those it lists. The first problem is the error.
pub(crate) async fn preflight<'a>(
    tools: impl Iterator<Item = (&'a str, &'a McpTool)>,
) -> Result<(), BuildError> {
    let mut servers: Vec<(&Arc<Session>, Vec<&'a str>, Duration)> = Vec::new();
    for (name, tool) in tools {
        match servers
            .iter_mut()
            .find(|(s, ..)| Arc::ptr_eq(s, &tool.session))
        {
            Some((_, names, limit)) => {
                names.push(name);
                *limit = (*limit).max(tool.timeout);
            }
            None => servers.push((&tool.session, vec![name], tool.timeout)),
        }
    }
    for (session, names, limit) in servers {
        let unreachable = |reason: String| BuildError::McpServer {
            target: names[0].to_owned(),
            url: session.shown.clone(),
            reason,
        };
        let listed = tokio::time::timeout(limit, async {
            let running = session.get().await.map_err(|e| {
                let kind = classify::initialize(&e).kind;
                match &e {
                    // Its text holds the transport error's: only the causes under it.
                    rmcp::service::ClientInitializeError::TransportError { error, .. } => {
                        reason(kind, error.error.as_ref())
                    }
                    _ => reason(kind, &e),
                }
            })?;
            running
                .list_all_tools()
                .await
                .map_err(|e| reason(classify::service(&e).kind, &e))
        })
        .await
        .map_err(|_| unreachable(format!("no answer within {limit:?} (the tool's `timeout`)")))?
        .map_err(unreachable)?;
        let listed: Vec<String> = listed.into_iter().map(|t| t.name.into_owned()).collect();
        if let Some(missing) = names.iter().find(|n| !listed.iter().any(|l| l == *n)) {
            return Err(BuildError::McpToolMissing {
                target: (*missing).to_owned(),
                url: session.shown.clone(),
                listed,
            });
        }
    }
    Ok(())
}

/// Why a server could not be used, for a message: the failure's kind and the innermost cause
/// (the refused connection, the certificate's problem), never a reqwest error's text, which
/// holds the URL and so the endpoint's query, a value from the environment among them.
fn reason(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let mut cause = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        next = e.source();
        if let Some(StreamableHttpError::Client(inner)) =
            e.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            // Its text holds the inner error's, URL included: only the causes under it.
            next = std::error::Error::source(inner);
            continue;
        }
        // A text with a URL in it (reqwest's, and every error wrapping one) is left out.
        let text = e.to_string();
        if e.downcast_ref::<reqwest::Error>().is_none() && !text.contains("://") {
            cause = Some(text);
        }
    }
    match cause {
        Some(cause) => format!("{kind} ({cause})"),
        None => kind.to_string(),
    }
}
