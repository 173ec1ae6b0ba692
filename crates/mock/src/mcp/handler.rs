//! The MCP server's handler: `tools/list` from the configuration, `tools/call` through the
//! same machinery as `POST /tools/{name}` (`crate::tools`): latency model, seeded faults of
//! endpoint `tools` / `tool:NAME`, output and tokens, `/stats`.
//!
//! What a failure becomes (`docs/mock.md`, "MCP server"):
//! - the tool failed (its `failure_rate`, or a `server_error` fault): a result with
//!   `isError: true` and the error text, as MCP asks of tool errors;
//! - `rate_limit` (429) and `unavailable` (503): the HTTP status of the `POST /mcp`, with
//!   `Retry-After` on a 429, set through the request's [`Verdict`] slot (`super`): an MCP
//!   client classifies those as it does any HTTP 429/5xx (rmcp: `HttpStatusError`);
//! - `reset`, and a `stall` that reaches its limit: the connection reset, before a response
//!   head, as on `POST /tools/{name}`;
//! - `truncate` / `malformed`: the response event cut in half (then the connection aborted),
//!   or half of it ended as an event;
//! - an unknown tool: the JSON-RPC error `-32602` (invalid params), as MCP specifies.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, JsonObject, ListToolsResult, MetaObject, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::{Verdict, VerdictSlot};
use crate::app::{Ending, Rejection, Shared};
use crate::attribution::ObservedCall;
use crate::tools::{self, ToolDelivery};

/// The `_meta` key of a successful call's result that carries the output's size in tokens
/// (the `tokens` of `POST /tools/{name}`'s body).
pub(crate) const TOKENS_META: &str = "tokens";

/// One MCP session's handler; every session shares the mock's state.
#[derive(Clone, Debug)]
pub(crate) struct Tools {
    shared: Arc<Shared>,
    /// `tools/list`'s answer, built once.
    listed: Arc<[Tool]>,
}

impl Tools {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let listed = shared
            .config
            .tools
            .iter()
            .map(|(name, tool)| {
                let schema = match crate::schema::tool_parameters(&tool.args) {
                    Value::Object(schema) => schema,
                    _ => JsonObject::new(),
                };
                let description = (!tool.description.is_empty()).then(|| tool.description.clone());
                Tool::new_with_raw(name.clone(), description.map(Into::into), schema)
            })
            .collect();
        Self { shared, listed }
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("fleetbench-mock", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.listed.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.listed.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The HTTP request the call came in, which rmcp hands over: its key for `/stats`, and
        // the slot through which a fault reaches the HTTP response.
        let parts = context.extensions.get::<Parts>();
        let key = Shared::key(parts.map(|p| &p.headers).unwrap_or(&Default::default()));
        let slot = parts.and_then(|p| p.extensions.get::<VerdictSlot>());
        // The arguments as `POST /tools/{name}` would carry them: compact JSON, keys sorted
        // (what the mock LLM generates), so both paths give the same output for them.
        let args = serde_json::to_vec(&request.arguments.unwrap_or_default())
            .expect("a JSON object serializes");
        // Attribution finds the marker in those bytes, and records the call with the status
        // its outcome has on `POST /tools/{name}` (see `Observed::status`).
        let call = ObservedCall::Tool {
            name: request.name.to_string(),
        };
        let mut watch = self.shared.watch(call, &args);
        let answer = tools::answer(&self.shared, &request.name, &key, &args, &mut watch).await;
        if let Err(rejection) = &answer {
            watch.reject(rejection);
        }
        outcome(answer, slot).map(Into::into)
    }
}

/// The MCP answer to a tool call's outcome; what the HTTP response must do instead of carrying
/// it is left in `slot`.
fn outcome(
    answer: Result<ToolDelivery, Rejection>,
    slot: Option<&VerdictSlot>,
) -> Result<CallToolResult, ErrorData> {
    let set = |verdict| {
        if let Some(slot) = slot {
            slot.set(verdict);
        }
    };
    match answer {
        Ok(delivery) => {
            if delivery.ending != Ending::Complete {
                set(Verdict::Cut(delivery.ending));
            }
            let mut result = CallToolResult::success(vec![ContentBlock::text(delivery.output)]);
            let mut meta = JsonObject::new();
            meta.insert(TOKENS_META.to_owned(), delivery.tokens.into());
            result.meta = Some(MetaObject(meta));
            Ok(result)
        }
        Err(Rejection::Status(reply)) => match reply.status {
            StatusCode::NOT_FOUND => Err(ErrorData::invalid_params(reply.message, None)),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                // What a client without the HTTP layer would see; over HTTP the status wins.
                let data = json!({
                    "status": reply.status.as_u16(),
                    "retry_after": reply.retry_after.map(|after| after.as_secs()),
                });
                let error = ErrorData::internal_error(reply.message.clone(), Some(data));
                set(Verdict::Status(reply));
                Err(error)
            }
            _ => Ok(CallToolResult::error(vec![ContentBlock::text(
                reply.message,
            )])),
        },
        Err(Rejection::Reset) => {
            set(Verdict::Reset);
            Err(ErrorData::internal_error(
                "connection reset (injected fault)",
                None,
            ))
        }
    }
}
