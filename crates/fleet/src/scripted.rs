//! The built-in agent: a tool-using assistant. Each turn it reads a user message of a sampled
//! size, sends the conversation to the LLM, runs the tools the answer asks for (in parallel
//! up to `max_parallel_tools`) and sends their results back, until a final answer or
//! `max_steps` LLM calls; then it thinks before the next turn. Before each LLM call the
//! conversation is compressed if the scenario's `[compression]` trigger fires.

use std::sync::Arc;
use std::time::Duration;

use async_openai::types::chat::ChatCompletionTools;
use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use clients::{Clients, ErrorKind, LlmRequest, LlmResponse, ToolCall};
use scenario::compression::RECALL_TOOL;
use scenario::{SimRng, text};

use crate::agent::{Agent, AgentContext, TurnReport};
use crate::history::History;
use crate::summary;

mod recall;

/// The scripted agent. It keeps no state between sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptedAgent;

impl Agent for ScriptedAgent {
    async fn session(
        &mut self,
        ctx: AgentContext<'_>,
        report: &mut (dyn FnMut(TurnReport) + Send),
    ) {
        let AgentContext {
            scenario,
            clients,
            tools,
            rng,
            stop,
            intended_start,
            dictionary,
            ..
        } = ctx;
        let session = &scenario.session;
        let turns = session.turns.sample(rng).0.max(1);
        let system_tokens = session.system_prompt_tokens.sample(rng).0;
        let system = generated(rng, system_tokens);
        let (summarizer, pending) = summary::summarizer(&scenario.compression);
        let mut talk = Talk {
            history: History::with_summarizer(&scenario.compression, &system, summarizer),
            pending,
            offered: Arc::clone(tools),
            recall_handles: 0,
            scenario,
            clients,
        };
        if let Some(dict) = dictionary {
            talk.history.use_dictionary(dict.clone());
        }
        let mut first_turn_start = intended_start;
        for turn in 0..turns {
            if stop.is_stopped() {
                break;
            }
            let started = first_turn_start.take().unwrap_or_else(Instant::now);
            let user_tokens = session.user_message_tokens.sample(rng).0;
            talk.history.user(&generated(rng, user_tokens));
            // Boxed: the turn's future (its LLM and tool calls in flight) is the largest state
            // of a session, and unboxed the session's future would hold room for it through
            // every think time too; an idle agent keeps only what lasts between turns.
            let mut turn_report = Box::pin(talk.turn(rng)).await;
            turn_report.response = started.elapsed();
            turn_report.conversation_bytes = talk.history.bytes();
            turn_report.memory_bytes = talk.history.memory_bytes();
            turn_report.conversation_tokens = talk.history.tokens();
            report(turn_report);
            stop.turn_done();
            if turn + 1 < turns {
                let think: Duration = session.think_time.sample(rng).0;
                if !stop.pause(think).await {
                    break;
                }
            }
        }
    }
}

/// One session's conversation and what it talks to.
struct Talk<'a> {
    history: History,
    /// `summarizer = "llm"`: the summary the last compression left to write.
    pending: Option<summary::Slot>,
    /// The tool definitions, lent to each request and handed back; with the recall tool
    /// while the cold store holds spans and `recall_probability` is above 0.
    offered: Arc<[ChatCompletionTools]>,
    /// The cold store's handles when `offered` was last made: the recall tool offers
    /// `0..recall_handles` (none while 0).
    recall_handles: u64,
    /// The scenario (its `[session]` and `[compression]`): one pointer in the agent's future.
    scenario: &'a scenario::Scenario,
    clients: &'a Clients,
}

impl Talk<'_> {
    /// One turn after the user's message: steps of (compression, an LLM summary if one is
    /// due, the LLM call, the tools it asks for) until a final answer, a failure or
    /// `max_steps` LLM calls.
    async fn turn(&mut self, rng: &mut SimRng) -> TurnReport {
        let mut turn_report = TurnReport::default();
        let steps = self.scenario.session.max_steps.max(1);
        for step in 0..steps {
            self.compress(&mut turn_report);
            self.summarize(rng, &mut turn_report).await;
            let answer = match self.ask(rng, &mut turn_report).await {
                Ok(answer) => answer,
                Err(kind) => {
                    turn_report.error = Some(kind);
                    break;
                }
            };
            if answer.tool_calls.is_empty() || step + 1 == steps {
                self.history.assistant(&answer.content, &[]);
                break;
            }
            self.history.assistant(&answer.content, &answer.tool_calls);
            if self
                .run_tools(&answer.tool_calls, rng, &mut turn_report)
                .await
            {
                // The run is over: no further LLM call for this turn.
                turn_report.error = Some(ErrorKind::Cancelled);
                break;
            }
        }
        turn_report
    }

    /// Compresses the conversation if the scenario's trigger fires.
    fn compress(&mut self, turn_report: &mut TurnReport) {
        let compressing = Instant::now();
        let (bytes, raw) = self.history.cold_size();
        if let Some(done) = self.history.compress() {
            turn_report.compressions += 1;
            turn_report.compressed_tokens += done.tokens_before.saturating_sub(done.tokens_after);
            let (now, now_raw) = self.history.cold_size();
            let grown = |after: u64, before: u64| u32::try_from(after - before).unwrap_or(u32::MAX);
            turn_report.cold_bytes = turn_report.cold_bytes.saturating_add(grown(now, bytes));
            turn_report.cold_raw_bytes = turn_report
                .cold_raw_bytes
                .saturating_add(grown(now_raw, raw));
        }
        turn_report.compression += compressing.elapsed();
    }

    /// `summarizer = "llm"`: asks the LLM for the summary the last compression left to write.
    /// A failed call keeps the extractive summary; its error is counted.
    async fn summarize(&mut self, rng: &mut SimRng, turn_report: &mut TurnReport) {
        let request = self
            .pending
            .as_ref()
            .and_then(|p| self.history.summary_request(p));
        if let Some(request) = request {
            // `summarizer_provider` (validated to name a provider) takes every summary; the
            // fleet's routing otherwise.
            let provider = self.clients.llm.provider_index(
                self.scenario
                    .compression
                    .summarizer_provider
                    .as_deref()
                    .unwrap_or_default(),
            );
            let seed = rng.next_u64();
            let (record, result) = match provider {
                Some(index) => self.clients.llm.call_on(index, &request, seed).await,
                None => self.clients.llm.call(&request, seed).await,
            };
            turn_report.llm.push(record);
            turn_report.summaries += 1;
            if let Ok(answer) = result {
                self.history.replace_summary(&answer.content);
            }
        }
    }

    /// The LLM call with the conversation as it stands.
    async fn ask(
        &mut self,
        rng: &mut SimRng,
        turn_report: &mut TurnReport,
    ) -> Result<LlmResponse, ErrorKind> {
        let building = Instant::now();
        self.offer_recall();
        // The prompt and the tools are lent to the request, not copied.
        let request = LlmRequest {
            messages: self.history.lend(),
            tools: std::mem::take(&mut self.offered),
            max_tokens: self.scenario.session.max_output_tokens,
            prompt_tokens: u32::try_from(self.history.tokens()).unwrap_or(u32::MAX),
        };
        turn_report.context_build += building.elapsed();
        let (record, result) = self
            .clients
            .llm
            .call_in(self.history.cache(), &request, rng.next_u64())
            .await;
        self.history.give_back(request.messages);
        self.offered = request.tools;
        turn_report.llm.push(record);
        result
    }

    /// Runs the tool calls the model asked for, in parallel up to `max_parallel_tools`, and
    /// adds their results (or their failures) to the conversation. `true` when a call was
    /// cancelled: the run is over.
    async fn run_tools(
        &mut self,
        tool_calls: &[ToolCall],
        rng: &mut SimRng,
        turn_report: &mut TurnReport,
    ) -> bool {
        let parallel =
            usize::try_from(self.scenario.session.max_parallel_tools.max(1)).unwrap_or(1);
        let seeds: Vec<u64> = tool_calls.iter().map(|_| rng.next_u64()).collect();
        // Owned items: a borrowed item would need a higher-ranked lifetime the compiler
        // cannot prove `Send` for.
        // `recall` runs here, in the agent (its cold store is its own), not through the tool
        // client: it is left out of the calls made.
        let calls: Vec<(String, String, u64)> = tool_calls
            .iter()
            .zip(seeds)
            .filter(|(call, _)| call.name != RECALL_TOOL)
            .map(|(call, seed)| (call.name.clone(), call.arguments.clone(), seed))
            .collect();
        let tools = &self.clients.tools;
        let results: Vec<_> = stream::iter(calls)
            .map(|(name, arguments, seed)| async move {
                let args = serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
                tools.call(&name, &args, seed).await
            })
            .buffered(parallel)
            .collect()
            .await;
        let mut results = results.into_iter();
        for call in tool_calls {
            if call.name == RECALL_TOOL {
                self.recall(call, turn_report);
                continue;
            }
            let Some((record, result)) = results.next() else {
                break;
            };
            match result {
                Ok(output) => self
                    .history
                    .tool_result(&call.id, &call.name, &output.output),
                // The model learns of the failure and carries on, as real agents do.
                Err(kind) => self.history.tool_result(
                    &call.id,
                    &call.name,
                    &format!("error: the tool failed ({kind})"),
                ),
            }
            turn_report.tools.push(record);
        }
        turn_report
            .tools
            .iter()
            .any(|t| t.error == Some(ErrorKind::Cancelled))
    }
}

/// `tokens` words of generated text, the agent's; their count is remembered in the
/// process's token memo ([`tokencount::remember_words`], charged to shared heap), so counting the
/// message costs a hash.
fn generated(rng: &mut scenario::SimRng, tokens: u32) -> String {
    let out = text::words(rng, tokens);
    heap::shared(|| tokencount::remember_words(&out, tokens));
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clients::Embedded;
    use mock::{MockConfig, MockServer};
    use scenario::Scenario;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::stop::Stop;
    use crate::tool_definitions;

    const SESSION: &str = r#"
[session]
turns = 3
think_time = "1s"
user_message_tokens = 20
system_prompt_tokens = 50
max_steps = 4
[tools.search]
args = { query = "string" }
mock = { latency = "100ms", response_tokens = 40 }
[mock]
prefill_per_token = "0s"
base_latency = "50ms"
inter_token = "1ms"
output_tokens = 10
tool_call_probability = 1.0
tool_followup_probability = 0.0
"#;

    async fn run(s: &Scenario) -> (Vec<TurnReport>, Duration) {
        let server = MockServer::new(MockConfig::from_scenario(s));
        let clients = Clients::build(s, &Embedded::InProcess(server)).unwrap();
        let tools: Arc<[_]> = tool_definitions(s).into();
        let stop = Stop::new(&s.fleet, Instant::now(), CancellationToken::new());
        let mut rng = SimRng::for_agent(s.seed, 1);
        let mut reports = Vec::new();
        let t0 = Instant::now();
        let ctx = AgentContext {
            id: 1,
            scenario: s,
            clients: &clients,
            tools: &tools,
            rng: &mut rng,
            stop: &stop,
            intended_start: None,
            dictionary: None,
        };
        ScriptedAgent.session(ctx, &mut |r| reports.push(r)).await;
        (reports, t0.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_runs_its_turns_with_tool_rounds() {
        let s = Scenario::from_toml(SESSION, "t").unwrap();
        let (reports, elapsed) = run(&s).await;
        assert_eq!(reports.len(), 3);
        for r in &reports {
            // The model always calls a tool on a user message and never after tool results:
            // LLM → search → LLM.
            assert_eq!(r.llm.len(), 2, "{r:?}");
            assert_eq!(r.tools.len(), 1);
            assert!(r.error.is_none());
            assert!(r.response >= Duration::from_millis(200));
        }
        assert!(reports[2].conversation_bytes > reports[0].conversation_bytes);
        // Three turns and two thinks of 1 s.
        let busy: Duration = reports.iter().map(|r| r.response).sum();
        assert_eq!(elapsed, busy + Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_compressed_conversation_still_yields_valid_requests() {
        // In this crate's tests `History::lend` checks every prompt it lends: no invariant of
        // the conversation crate broken (tool results follow their calls), and equal to the
        // conversation's prompt converted.
        let session = |strategy: &str| {
            let mut s = Scenario::from_toml(
                &format!("{SESSION}\n[compression]\nstrategy = \"{strategy}\"\ntrigger = {{ tokens = 300 }}\nmask_keep_last = 1\n"),
                "t",
            )
            .unwrap();
            s.session.turns = scenario::Dist::Constant(scenario::Tokens(10));
            s
        };
        let (none, _) = run(&session("none")).await;
        let (masked, _) = run(&session("observation-masking+rolling-summary")).await;
        assert_eq!((none.len(), masked.len()), (10, 10));
        let sum = |r: &[TurnReport], f: fn(&TurnReport) -> u64| r.iter().map(f).sum::<u64>();
        assert!(masked.iter().all(|r| r.error.is_none() && r.llm.len() == 2));
        assert!(sum(&masked, |r| u64::from(r.compressions)) > 0);
        assert!(sum(&masked, |r| r.compressed_tokens) > 0);
        assert_eq!(sum(&none, |r| r.compressed_tokens), 0);
        let (last_none, last_masked) = (&none[9], &masked[9]);
        assert!(
            last_masked.conversation_tokens < last_none.conversation_tokens
                && last_masked.memory_bytes < last_none.memory_bytes,
            "{last_masked:?} vs {last_none:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_llm_summarizer_makes_one_more_llm_call_per_summary() {
        let mut s = Scenario::from_toml(
            &format!("{SESSION}\n[compression]\nstrategy = \"rolling-summary\"\ntrigger = {{ tokens = 300 }}\nsummarizer = \"llm\"\n"),
            "t",
        )
        .unwrap();
        s.session.turns = scenario::Dist::Constant(scenario::Tokens(10));
        let (reports, _) = run(&s).await;
        assert_eq!(reports.len(), 10);
        assert!(reports.iter().map(|r| r.summaries).sum::<u32>() > 0);
        for r in &reports {
            assert!(r.error.is_none() && r.summaries <= r.compressions, "{r:?}");
            assert_eq!(r.llm.len(), 2 + r.summaries as usize, "{r:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn summaries_go_to_the_summarizer_provider_only() {
        let mut s = Scenario::from_toml(
            &format!("{SESSION}\n[compression]\nstrategy = \"rolling-summary\"\ntrigger = {{ tokens = 300 }}\nsummarizer = \"llm\"\nsummarizer_provider = \"cheap\"\n[llm]\nrouting = \"round-robin\"\n[[llm.providers]]\nname = \"main\"\nmodel = \"big\"\n[[llm.providers]]\nname = \"cheap\"\nmodel = \"small\"\n"),
            "t",
        )
        .unwrap();
        s.session.turns = scenario::Dist::Constant(scenario::Tokens(10));
        let (reports, _) = run(&s).await;
        let summaries: u32 = reports.iter().map(|r| r.summaries).sum();
        assert!(summaries > 0);
        let cheap: usize = reports
            .iter()
            .flat_map(|r| &r.llm)
            .filter(|c| c.target == "cheap")
            .count();
        let main: usize = reports
            .iter()
            .flat_map(|r| &r.llm)
            .filter(|c| c.target == "main")
            .count();
        let agent_calls = cheap + main - summaries as usize;
        // Round-robin splits the agent's calls evenly; every summary lands on `cheap`.
        assert_eq!(
            main,
            agent_calls / 2,
            "cheap {cheap}, main {main}, summaries {summaries}"
        );
        assert_eq!(cheap, agent_calls - agent_calls / 2 + summaries as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn an_llm_failure_fails_the_turn_and_the_session_goes_on() {
        let s = Scenario::from_toml(
            &format!("{SESSION}\n[[mock.faults]]\nendpoint = \"chat\"\nkind = \"server-error\"\nprobability = 1.0\n[[llm.providers]]\nname = \"p\"\nmodel = \"m\"\nretry = {{ max_attempts = 1 }}\n"),
            "t",
        )
        .unwrap();
        let (reports, _) = run(&s).await;
        assert_eq!(reports.len(), 3);
        assert!(
            reports
                .iter()
                .all(|r| r.error == Some(ErrorKind::ServerError) && r.tools.is_empty())
        );
    }
}
