//! The scripted agent's `recall` tool (`[compression] recall_probability`): offered while
//! its cold store holds spans, run by the agent itself (its cold store is its own), never
//! through the tool client; the span comes back as the tool's result.

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};

use clients::ToolCall;
use scenario::compression::RECALL_TOOL;

use super::Talk;
use crate::agent::TurnReport;

impl Talk<'_> {
    /// With `recall_probability` above 0, adds the recall tool to the tools offered once the
    /// cold store holds a span, and makes it again when the store gains one: its `handle` is
    /// one of those stored (an `enum`, so the mock model picks a real one).
    pub(super) fn offer_recall(&mut self) {
        let handles = self.history.cold_handles();
        if self.scenario.compression.recall_probability.0 == 0.0 || handles == self.recall_handles {
            return;
        }
        self.recall_handles = handles;
        let recall = ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: RECALL_TOOL.to_owned(),
                description: Some(
                    "Bring back verbatim the messages a stub moved to cold storage.".to_owned(),
                ),
                parameters: Some(serde_json::json!({
                    "type": "object",
                    "properties": {"handle": {
                        "type": "integer",
                        "description": "The handle the stub names.",
                        "enum": (0..handles).collect::<Vec<u64>>(),
                    }},
                    "required": ["handle"],
                })),
                strict: None,
            },
        });
        self.offered = self
            .offered
            .iter()
            .filter(|t| !is_recall(t))
            .cloned()
            .chain([recall])
            .collect();
    }

    /// Runs the model's `recall` call: the span under its handle comes back as the tool's
    /// result, counted in `recalls` and `recalled_tokens`; an unknown handle gets an error
    /// result naming the handles there are, and is not counted.
    pub(super) fn recall(&mut self, call: &ToolCall, turn_report: &mut TurnReport) {
        let handle = serde_json::from_str::<serde_json::Value>(&call.arguments)
            .ok()
            .and_then(|args| args.get("handle").and_then(serde_json::Value::as_u64));
        match handle.and_then(|h| self.history.recall(h)) {
            Some((text, tokens)) => {
                self.history.tool_result(&call.id, RECALL_TOOL, &text);
                turn_report.recalls += 1;
                turn_report.recalled_tokens = turn_report
                    .recalled_tokens
                    .saturating_add(u32::try_from(tokens).unwrap_or(u32::MAX));
            }
            None => {
                let there = self.history.cold_handles();
                self.history.tool_result(
                    &call.id,
                    RECALL_TOOL,
                    &format!(
                        "error: no span is stored under {}: recall a handle from 0 to {}",
                        call.arguments,
                        there.saturating_sub(1)
                    ),
                );
            }
        }
    }
}

fn is_recall(t: &ChatCompletionTools) -> bool {
    matches!(t, ChatCompletionTools::Function(f) if f.function.name == RECALL_TOOL)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clients::{Clients, Embedded};
    use conversation::cold::Dictionary;
    use mock::{MockConfig, MockServer};
    use scenario::{Scenario, SimRng};
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    use crate::agent::{Agent, AgentContext, TurnReport};
    use crate::history::History;
    use crate::stop::Stop;
    use crate::{ScriptedAgent, tool_definitions};

    /// Ten turns of tool rounds offloaded at 300 tokens.
    fn offloading(extra: &str) -> Scenario {
        let mut s = Scenario::from_toml(
            &format!(
                "[session]\nthink_time = \"1s\"\nuser_message_tokens = 20\nsystem_prompt_tokens = 50\nmax_steps = 4\n\
                 [tools.search]\nargs = {{ query = \"string\" }}\nmock = {{ latency = \"100ms\", response_tokens = 120 }}\n\
                 [mock]\nprefill_per_token = \"0s\"\nbase_latency = \"50ms\"\ninter_token = \"1ms\"\noutput_tokens = 10\n\
                 tool_call_probability = 1.0\ntool_followup_probability = 0.0\n\
                 [compression]\nstrategy = \"offload\"\ntrigger = {{ tokens = 300 }}\nkeep_first = 2\n{extra}"
            ),
            "t",
        )
        .unwrap();
        s.session.turns = scenario::Dist::Constant(scenario::Tokens(10));
        s
    }

    async fn run(s: &Scenario, dictionary: Option<&Dictionary>) -> Vec<TurnReport> {
        let server = MockServer::new(MockConfig::from_scenario(s));
        let clients = Clients::build(s, &Embedded::InProcess(server)).unwrap();
        let tools: Arc<[_]> = tool_definitions(s).into();
        let stop = Stop::new(&s.fleet, Instant::now(), CancellationToken::new());
        let mut rng = SimRng::for_agent(s.seed, 1);
        let mut reports = Vec::new();
        let ctx = AgentContext {
            id: 1,
            scenario: s,
            clients: &clients,
            tools: &tools,
            rng: &mut rng,
            stop: &stop,
            intended_start: None,
            dictionary,
        };
        ScriptedAgent.session(ctx, &mut |r| reports.push(r)).await;
        reports
    }

    fn sum(r: &[TurnReport], f: fn(&TurnReport) -> u64) -> u64 {
        r.iter().map(f).sum()
    }

    #[tokio::test(start_paused = true)]
    async fn the_model_recalls_offloaded_spans_at_the_scenarios_probability() {
        let off = run(&offloading(""), None).await;
        let on = run(&offloading("recall_probability = 0.5\n"), None).await;
        assert_eq!(sum(&off, |r| u64::from(r.recalls)), 0);
        let recalls = sum(&on, |r| u64::from(r.recalls));
        assert!(recalls > 0, "{on:?}");
        assert!(sum(&on, |r| u64::from(r.recalled_tokens)) > 0);
        assert!(on.iter().all(|r| r.error.is_none()));
        // Run by the agent: no tool client call is made or recorded for a recall.
        for r in &on {
            assert!(
                r.tools.iter().all(|t| t.target != super::RECALL_TOOL),
                "{r:?}"
            );
        }
        // Deterministic: the same seed, the same recalls.
        let again = run(&offloading("recall_probability = 0.5\n"), None).await;
        assert_eq!(sum(&again, |r| u64::from(r.recalls)), recalls);
        assert_eq!(
            sum(&again, |r| u64::from(r.recalled_tokens)),
            sum(&on, |r| u64::from(r.recalled_tokens))
        );
    }

    #[test]
    fn a_recall_brings_the_span_back_as_text() {
        let s = offloading("");
        let mut h = History::new(&s.compression, "You are terse.");
        for i in 0..12 {
            h.user(&format!("question {i} about module_{i}"));
            let call = clients::ToolCall {
                id: format!("c{i}"),
                name: "search".to_owned(),
                arguments: format!(r#"{{"query":"q{i}"}}"#),
            };
            h.assistant("", std::slice::from_ref(&call));
            h.tool_result(
                &call.id,
                "search",
                &format!("result {i}: {}", "x ".repeat(80)),
            );
            h.assistant(&format!("answer {i}"), &[]);
            h.compress();
        }
        assert!(h.cold_handles() > 0);
        let (text, tokens) = h.recall(0).expect("handle 0 is stored");
        assert!(text.starts_with("[handle 0: "), "{text}");
        assert!(text.contains("calls search({\"query\":\"q"), "{text}");
        assert!(text.contains("tool (search): result "), "{text}");
        assert!(tokens > 0);
        assert_eq!(h.recall(h.cold_handles()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_dictionary_shrinks_the_cold_stores_and_changes_nothing_else() {
        let s = offloading("zstd_dictionary = 8192\n");
        let dict = crate::dictionary::train(&s).unwrap().expect("asked for");
        let plain = run(&s, None).await;
        let trained = run(&s, Some(&dict)).await;
        let bytes = |r: &[TurnReport]| sum(r, |t| u64::from(t.cold_bytes));
        let raw = |r: &[TurnReport]| sum(r, |t| u64::from(t.cold_raw_bytes));
        assert!(bytes(&plain) > 0);
        assert_eq!(raw(&plain), raw(&trained), "the same spans are stored");
        assert!(
            bytes(&trained) < bytes(&plain),
            "{} with vs {} without",
            bytes(&trained),
            bytes(&plain)
        );
        let tokens = |r: &[TurnReport]| sum(r, |t| t.conversation_tokens);
        assert_eq!(tokens(&plain), tokens(&trained));
    }
}
