//! An agent of your own, in Rust, under fleetbench's load (docs/architecture.md, "The fleet
//! runner"): implement [`fleet::Agent`] and hand a constructor to [`fleet::run`]. The fleet
//! gives it the scenario's sessions, arrival, stop conditions and the shared clients (pooled,
//! rate-limited, retried, with breakers); it reports one [`TurnReport`] per turn, and the
//! report judges it against the same targets as the built-in agent. With the tracking
//! allocator installed (as below), every byte the agent allocates is charged to it: its heap
//! per agent comes for free.
//!
//! `Triage` is a small support agent with its own memory policy: it keeps the system prompt
//! and its last `window` messages (no summaries, no compression pipeline), asks the LLM, runs
//! the tools it asks for one after another, and answers after at most three LLM calls.
//!
//! `cargo run --release --example custom_agent` runs 200 of them for two simulated minutes
//! against the embedded mock (virtual clock, a few seconds) and prints the summary `fleetbench
//! run` prints; `cargo test --example custom_agent` checks the run.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, FunctionCall,
};
use clients::{LlmRequest, LlmResponse};
use fleet::{Agent, AgentContext, RunOptions, RunOutcome, TurnReport};
use tokio::time::Instant;

/// Every allocation is charged to the agent that makes it (the `heap` crate).
#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

/// The fleet: 200 agents, two tools, the embedded mock, two simulated minutes.
const SCENARIO: &str = r#"
name = "custom-agent"
seed = 11
clock = "virtual"

[fleet]
agents = 200
ramp_up = "20s"
duration = "2m"

[session]
turns = { dist = "uniform", min = 2, max = 6 }
think_time = { dist = "lognormal", median = "3s", p95 = "10s" }

[tools.search]
description = "Search the knowledge base."
args = { query = "string" }

[tools.lookup_order]
description = "Look up an order by id."
args = { order_id = "id" }
cache = { ttl = "30s" }

[targets]
min_concurrent_agents = 100
"#;

/// LLM calls per turn at most: the third answer is final whatever it asks for.
const MAX_STEPS: usize = 3;

/// A support agent that keeps the system prompt and its last `window` messages.
struct Triage {
    window: usize,
    messages: Vec<ChatCompletionRequestMessage>,
}

impl Triage {
    fn new(window: usize) -> Self {
        Self {
            window,
            messages: Vec::new(),
        }
    }

    /// The request for the conversation so far (system prompt first, then the window).
    fn request(&self, ctx: &AgentContext<'_>) -> LlmRequest {
        let start = self.messages.len().saturating_sub(self.window).max(1);
        let mut messages = Vec::with_capacity(self.window + 1);
        messages.push(self.messages[0].clone());
        // A window that starts inside a tool exchange would orphan its results: skip them.
        let mut rest = self.messages[start..].iter().peekable();
        while matches!(rest.peek(), Some(ChatCompletionRequestMessage::Tool(_))) {
            rest.next();
        }
        messages.extend(rest.cloned());
        let prompt_tokens: usize = messages.iter().map(|m| text_of(m).len() / 4 + 4).sum();
        LlmRequest {
            messages,
            tools: ctx.tools.clone(),
            max_tokens: ctx.scenario.session.max_output_tokens,
            prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
        }
    }

    /// One turn after the user's message: LLM, tools, LLM ... until an answer.
    async fn turn(&mut self, ctx: &AgentContext<'_>, seed: u64) -> TurnReport {
        let mut report = TurnReport::default();
        for step in 0..MAX_STEPS {
            let built = Instant::now();
            let request = self.request(ctx);
            report.context_build += built.elapsed();
            let (record, answer) = ctx.clients.llm.call(&request, seed + step as u64).await;
            report.llm.push(record);
            let answer = match answer {
                Ok(answer) => answer,
                Err(kind) => {
                    report.error = Some(kind);
                    return report;
                }
            };
            let calls = answer.tool_calls.clone();
            self.messages.push(assistant(answer));
            if calls.is_empty() || step + 1 == MAX_STEPS {
                break;
            }
            for call in calls {
                let args = serde_json::from_str(&call.arguments).unwrap_or_default();
                let (record, result) = ctx.clients.tools.call(&call.name, &args, seed).await;
                report.tools.push(record);
                let content = match result {
                    Ok(result) => result.output.to_string(),
                    // The model sees the failure and goes on, as most frameworks do.
                    Err(kind) => format!("error: the tool failed ({kind})"),
                };
                self.messages.push(
                    ChatCompletionRequestToolMessage {
                        content: content.into(),
                        tool_call_id: call.id,
                    }
                    .into(),
                );
            }
        }
        report
    }
}

impl Agent for Triage {
    async fn session(
        &mut self,
        ctx: AgentContext<'_>,
        report: &mut (dyn FnMut(TurnReport) + Send),
    ) {
        self.messages.clear();
        self.messages.push(
            ChatCompletionRequestSystemMessage::from("You are a support agent. Use the tools.")
                .into(),
        );
        let turns = ctx.scenario.session.turns.sample(ctx.rng).0.max(1);
        let mut start = ctx.intended_start;
        for turn in 0..turns {
            if ctx.stop.is_stopped() {
                break;
            }
            let started = start.take().unwrap_or_else(Instant::now);
            let question = format!("Customer {} asks about order ORD-{turn}.", ctx.id);
            self.messages
                .push(ChatCompletionRequestUserMessage::from(question).into());
            let seed = ctx
                .id
                .wrapping_mul(1_000)
                .wrapping_add(u64::from(turn) * 10);
            let mut turn_report = self.turn(&ctx, seed).await;
            turn_report.response = started.elapsed();
            let bytes: usize = self.messages.iter().map(|m| text_of(m).len()).sum();
            turn_report.conversation_bytes = bytes as u64;
            turn_report.memory_bytes = bytes as u64;
            report(turn_report);
            ctx.stop.turn_done();
            let think: Duration = ctx.scenario.session.think_time.sample(ctx.rng).0;
            tokio::select! {
                biased;
                () = ctx.stop.token().cancelled() => break,
                () = tokio::time::sleep(think) => {}
            }
        }
    }
}

/// The assistant message that answers with `answer`.
fn assistant(answer: LlmResponse) -> ChatCompletionRequestMessage {
    let tool_calls = (!answer.tool_calls.is_empty()).then(|| {
        answer
            .tool_calls
            .into_iter()
            .map(|c| {
                ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                    id: c.id,
                    function: FunctionCall {
                        name: c.name,
                        arguments: c.arguments,
                    },
                })
            })
            .collect()
    });
    ChatCompletionRequestAssistantMessage {
        content: (!answer.content.is_empty()).then(|| answer.content.into()),
        tool_calls,
        ..ChatCompletionRequestAssistantMessage::default()
    }
    .into()
}

/// The text a message holds, for the token estimate and the memory figure.
fn text_of(message: &ChatCompletionRequestMessage) -> String {
    serde_json::to_value(message)
        .ok()
        .and_then(|v| v.get("content").and_then(|c| c.as_str().map(str::to_owned)))
        .unwrap_or_default()
}

fn run() -> anyhow::Result<RunOutcome> {
    let scenario = scenario::Scenario::from_toml(SCENARIO, "custom_agent")?;
    Ok(fleet::run(
        &scenario,
        |_| Triage::new(8),
        RunOptions::default(),
    )?)
}

fn main() -> anyhow::Result<()> {
    let outcome = run()?;
    print!("{}", report::terminal(&outcome.snapshot));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_of_custom_agents_runs_and_is_measured_like_the_built_in_one() {
        let outcome = run().unwrap();
        let snap = &outcome.snapshot;
        let c = &snap.counters;
        assert!(c.turns > 200, "{c:?}");
        assert!(c.tool_calls > 0 && c.llm_calls > c.turns, "{c:?}");
        assert_eq!(c.turns_failed, 0, "{:?}", snap.errors);
        assert!(
            snap.latency
                .contains_key(&metrics::MetricKind::AgentResponse)
        );
        // The heap per agent comes from the tracking allocator installed above.
        assert_eq!(snap.agents.memory_method, metrics::MemoryMethod::Allocator);
        assert!(snap.agents.peak_memory_p50_bytes > 0, "{:?}", snap.agents);
    }
}
