//! The agent interface: what an agent gets (clients, scenario, its RNG, the stop signal) and
//! what it reports (one [`TurnReport`] per turn). Teams plug their own agent logic in by
//! implementing [`Agent`]; the built-in [`crate::ScriptedAgent`] behaves like a tool-using
//! support agent.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};

use clients::{CallRecord, Clients, ErrorKind};
use conversation::cold::Dictionary;
use scenario::{Scenario, SimRng};

use crate::stop::Stop;

/// Everything an agent works with during a session.
#[derive(Debug)]
pub struct AgentContext<'a> {
    /// The agent's id (its RNG derives from it and the run seed).
    pub id: u64,
    /// The scenario (session shape, tools, targets).
    pub scenario: &'a Scenario,
    /// The shared LLM and tool clients.
    pub clients: &'a Clients,
    /// The tool definitions offered to the LLM.
    pub tools: &'a Arc<[ChatCompletionTools]>,
    /// The agent's own seeded randomness.
    pub rng: &'a mut SimRng,
    /// The run's stop conditions: check before starting work, count turns.
    pub stop: &'a Stop,
    /// When this session was meant to start (open loop): the first turn's response is
    /// measured from here, so a late start shows in the latency.
    pub intended_start: Option<tokio::time::Instant>,
    /// `[compression] zstd_dictionary`: the dictionary trained before the run, for the
    /// agent's cold store (shared: cloning it clones an `Arc`).
    pub dictionary: Option<&'a Dictionary>,
}

/// What one turn did: the user message to the final answer.
#[derive(Clone, Debug, Default)]
pub struct TurnReport {
    /// The turn's response time (`agent_response`).
    pub response: Duration,
    /// Every LLM call, in order.
    pub llm: Vec<CallRecord>,
    /// Every tool call, in order.
    pub tools: Vec<CallRecord>,
    /// Assembling prompts from the conversation (`context_build`), summed over the turn.
    pub context_build: Duration,
    /// Compressing the conversation (`compression`), summed over the turn.
    pub compression: Duration,
    /// Times the compression pipeline ran in the turn (its trigger fired).
    pub compressions: u32,
    /// Prompt tokens compression removed in the turn (before minus after, summed).
    pub compressed_tokens: u64,
    /// `summarizer = "llm"`: summaries asked of the LLM in the turn (each call is also in
    /// `llm`).
    pub summaries: u32,
    /// Spans recalled from the cold store in the turn (the `recall` tool, run by the agent:
    /// not in `tools`). u32 like the other per-turn counts: the report sums them as u64.
    pub recalls: u32,
    /// Tokens of the spans recalled in the turn.
    pub recalled_tokens: u32,
    /// Bytes the cold store's frames grew by in the turn (its frames are never dropped, so
    /// the turns' growths sum to what the stores hold).
    pub cold_bytes: u32,
    /// The same spans' bytes before compression.
    pub cold_raw_bytes: u32,
    /// Why the turn failed (an LLM call that failed for good); `None` when it succeeded.
    pub error: Option<ErrorKind>,
    /// Conversation size after the turn: bytes of text held, hot messages and cold store.
    pub conversation_bytes: u64,
    /// Prompt tokens of the conversation's hot messages after the turn.
    pub conversation_tokens: u64,
    /// The agent's state in memory after the turn, bytes: the structural size of its
    /// conversation, cold store and converted prompt (see `docs/metrics.md`).
    pub memory_bytes: u64,
}

/// Spawns `future` as part of the calling agent: what the task allocates is charged to the
/// agent whose poll spawns it (`heap::inherit`), as its own work would be. A plain
/// `tokio::spawn` from an agent makes a task whose allocations are shared, though what the
/// agent hands it stays the agent's.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(heap::inherit(future))
}

/// An agent: runs sessions and reports its turns. Spawn helper tasks with [`spawn`] so their
/// memory counts as the agent's.
pub trait Agent: Send {
    /// Runs one session, calling `report` after every turn.
    fn session(
        &mut self,
        ctx: AgentContext<'_>,
        report: &mut (dyn FnMut(TurnReport) + Send),
    ) -> impl Future<Output = ()> + Send;
}

/// The function definitions of the session's tools, as the LLM sees them.
pub fn tool_definitions(scenario: &Scenario) -> Vec<ChatCompletionTools> {
    scenario
        .session_tools()
        .into_iter()
        .map(|(name, tool)| {
            // The mock's `/mcp` lists the same schema (`tools/list`).
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: name.to_owned(),
                    description: (!tool.description.is_empty()).then(|| tool.description.clone()),
                    parameters: Some(mock::tool_parameters(&tool.args)),
                    strict: None,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tool_definitions_carry_typed_arguments() {
        let s = Scenario::from_toml(
            "[tools.lookup_order]\ndescription = \"Fetch an order\"\nargs = { order_id = \"id\", verbose = \"boolean\" }\n",
            "t",
        )
        .unwrap();
        let defs = serde_json::to_value(tool_definitions(&s)).unwrap();
        assert_eq!(defs[0]["type"], "function");
        assert_eq!(defs[0]["function"]["name"], "lookup_order");
        assert_eq!(
            defs[0]["function"]["parameters"]["properties"]["verbose"]["type"],
            "boolean"
        );
        assert_eq!(
            defs[0]["function"]["parameters"]["required"],
            json!(["order_id", "verbose"])
        );
    }
}
