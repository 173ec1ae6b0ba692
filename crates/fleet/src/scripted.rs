//! The built-in agent: a tool-using assistant. Each turn it reads a user message of a sampled
//! size, sends the conversation to the LLM, runs the tools the answer asks for (in parallel
//! up to `max_parallel_tools`) and sends their results back, until a final answer or
//! `max_steps` LLM calls; then it thinks before the next turn. Before each LLM call the
//! conversation is compressed if the scenario's `[compression]` trigger fires.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use clients::LlmRequest;
use scenario::text;

use crate::agent::{Agent, AgentContext, TurnReport};
use crate::history::History;
use crate::summary;

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
            ..
        } = ctx;
        let session = &scenario.session;
        let turns = session.turns.sample(rng).0.max(1);
        let system_tokens = session.system_prompt_tokens.sample(rng).0;
        let system = generated(rng, system_tokens);
        let (summarizer, pending) = summary::summarizer(&scenario.compression);
        let mut history = History::with_summarizer(&scenario.compression, &system, summarizer);
        let mut offered = Arc::clone(tools);
        let mut first_turn_start = intended_start;
        for turn in 0..turns {
            if stop.is_stopped() {
                break;
            }
            let started = first_turn_start.take().unwrap_or_else(Instant::now);
            let user_tokens = session.user_message_tokens.sample(rng).0;
            history.user(&generated(rng, user_tokens));
            let mut turn_report = TurnReport::default();
            for step in 0..session.max_steps.max(1) {
                let compressing = Instant::now();
                if let Some(done) = history.compress() {
                    turn_report.compressions += 1;
                    turn_report.compressed_tokens +=
                        done.tokens_before.saturating_sub(done.tokens_after);
                }
                turn_report.compression += compressing.elapsed();
                let summarize = pending.as_ref().and_then(|p| history.summary_request(p));
                if let Some(request) = summarize {
                    // A failed call keeps the extractive summary; its error is counted.
                    let (record, result) = clients.llm.call(&request, rng.next_u64()).await;
                    turn_report.llm.push(record);
                    turn_report.summaries += 1;
                    if let Ok(answer) = result {
                        history.replace_summary(&answer.content);
                    }
                }
                let building = Instant::now();
                // The prompt and the tools are lent to the request, not copied.
                let request = LlmRequest {
                    messages: history.lend(),
                    tools: std::mem::take(&mut offered),
                    max_tokens: session.max_output_tokens,
                    prompt_tokens: u32::try_from(history.tokens()).unwrap_or(u32::MAX),
                };
                turn_report.context_build += building.elapsed();
                let (record, result) = clients
                    .llm
                    .call_with_digest(&request, history.digest(), rng.next_u64())
                    .await;
                history.give_back(request.messages);
                offered = request.tools;
                turn_report.llm.push(record);
                let answer = match result {
                    Ok(answer) => answer,
                    Err(kind) => {
                        turn_report.error = Some(kind);
                        break;
                    }
                };
                let last_step = step + 1 == session.max_steps.max(1);
                if answer.tool_calls.is_empty() || last_step {
                    history.assistant(&answer.content, &[]);
                    break;
                }
                history.assistant(&answer.content, &answer.tool_calls);
                let parallel = usize::try_from(session.max_parallel_tools.max(1)).unwrap_or(1);
                let seeds: Vec<u64> = answer.tool_calls.iter().map(|_| rng.next_u64()).collect();
                // Owned items: a borrowed item would need a higher-ranked lifetime the
                // compiler cannot prove `Send` for.
                let calls: Vec<(String, String, u64)> = answer
                    .tool_calls
                    .iter()
                    .zip(seeds)
                    .map(|(call, seed)| (call.name.clone(), call.arguments.clone(), seed))
                    .collect();
                let results: Vec<_> = stream::iter(calls)
                    .map(|(name, arguments, seed)| async move {
                        let args =
                            serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
                        clients.tools.call(&name, &args, seed).await
                    })
                    .buffered(parallel)
                    .collect()
                    .await;
                for (call, (record, result)) in answer.tool_calls.iter().zip(results) {
                    match result {
                        Ok(output) => history.tool_result(&call.id, &call.name, &output.output),
                        // The model learns of the failure and carries on, as real agents do.
                        Err(kind) => history.tool_result(
                            &call.id,
                            &call.name,
                            &format!("error: the tool failed ({kind})"),
                        ),
                    }
                    turn_report.tools.push(record);
                }
                if turn_report
                    .tools
                    .iter()
                    .any(|t| t.error == Some(clients::ErrorKind::Cancelled))
                {
                    // The run is over: no further LLM call for this turn.
                    turn_report.error = Some(clients::ErrorKind::Cancelled);
                    break;
                }
            }
            turn_report.response = started.elapsed();
            turn_report.conversation_bytes = history.bytes();
            turn_report.memory_bytes = history.memory_bytes();
            turn_report.conversation_tokens = history.tokens();
            report(turn_report);
            stop.turn_done();
            if turn + 1 < turns {
                let think: Duration = session.think_time.sample(rng).0;
                // `biased`: select! otherwise polls its branches in a random order, and a stop
                // at the very tick a wait ends would go either way, run to run.
                tokio::select! {
                    biased;
                    () = stop.token().cancelled() => break,
                    () = tokio::time::sleep(think) => {}
                }
            }
        }
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

    use clients::{Clients, Embedded, ErrorKind};
    use mock::{MockConfig, MockServer};
    use scenario::{Scenario, SimRng};
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
