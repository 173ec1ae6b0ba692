//! [`AnyLlm`] and [`AnyTool`]: the backend a scenario's endpoint names, chosen once when the
//! clients are built. An enum, not a `Box<dyn>`: the trait's futures stay unboxed (no
//! allocation per attempt, charged to the agent that makes it), and a new backend is one
//! more variant.

use super::{
    Attempted, ConversationCache, HttpLlm, HttpResponses, HttpTool, LlmBackend, McpTool, MockLlm,
    MockTool, ToolBackend,
};
use crate::llm::{LlmRequest, LlmResponse};
use crate::tool::ToolResult;

/// An LLM provider's backend.
#[derive(Debug)]
pub enum AnyLlm {
    /// Chat completions over HTTP.
    Http(HttpLlm),
    /// The Responses API over HTTP.
    Responses(HttpResponses),
    /// The embedded mock in-process.
    Mock(MockLlm),
}

impl LlmBackend for AnyLlm {
    fn prepare(&self, conversation: &mut ConversationCache, request: &LlmRequest) {
        match self {
            AnyLlm::Http(b) => b.prepare(conversation, request),
            AnyLlm::Responses(b) => b.prepare(conversation, request),
            AnyLlm::Mock(b) => b.prepare(conversation, request),
        }
    }

    async fn attempt(
        &self,
        request: &LlmRequest,
        conversation: &ConversationCache,
    ) -> Attempted<LlmResponse> {
        match self {
            AnyLlm::Http(b) => b.attempt(request, conversation).await,
            AnyLlm::Responses(b) => b.attempt(request, conversation).await,
            AnyLlm::Mock(b) => b.attempt(request, conversation).await,
        }
    }
}

/// A tool's backend.
#[derive(Debug)]
pub enum AnyTool {
    /// A URL, over HTTP.
    Http(HttpTool),
    /// A tool of an MCP server (streamable HTTP).
    Mcp(McpTool),
    /// The embedded mock in-process.
    Mock(MockTool),
}

impl ToolBackend for AnyTool {
    async fn attempt(&self, args: &serde_json::Value) -> Attempted<ToolResult> {
        match self {
            AnyTool::Http(b) => b.attempt(args).await,
            // Boxed: rmcp's call future is kilobytes, and unboxed it would grow every tool
            // call's future, which lives in each agent's task (and its memory figure),
            // whichever backend the scenario uses.
            AnyTool::Mcp(b) => Box::pin(b.attempt(args)).await,
            AnyTool::Mock(b) => b.attempt(args).await,
        }
    }
}
