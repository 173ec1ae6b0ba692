//! The HTTP agent driver (`[agent] kind = "http"`): each simulated user runs sessions against
//! a team's own agent runtime, with the scenario's turns, think times, arrivals and stops.
//! Every user message carries a session marker (`[fb:s17t3]`); the runtime passes it into
//! its prompts, the embedded mock finds it there and carries it back in the tool arguments it
//! invents, so the mock attributes every LLM and tool call the runtime makes to the turn that
//! caused it ([`mock::SessionMarker`], `docs/agents.md`). After each answer the driver takes
//! the turn's calls from the mock and splits the response time into the runtime's LLM time,
//! its tool time and the rest: framework overhead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use clients::{AgentFailure, AgentTurn, Attempt, CallRecord, ErrorKind};
use metrics::{LatencyHistogram, MetricKind, RuntimeFailures, RuntimeSection, TurnSplit};
use mock::{Injected, MockServer, Observed, ObservedCall, SessionMarker};
use scenario::{FaultKind, text};

use crate::agent::{Agent, AgentContext, TurnReport};
use crate::runtime_memory::Sampler;

/// What every HTTP agent of a run shares: the mock that attributes the runtime's calls, the
/// session numbering, the split of each turn and the runtime's failures.
#[derive(Debug)]
pub struct HttpDriver {
    mock: MockServer,
    /// Tells this run's session ids from another run's (a runtime may keep sessions).
    nonce: String,
    next_session: AtomicU64,
    live: Arc<AtomicU64>,
    /// The first answer of the run has been looked at.
    checked: AtomicBool,
    /// Bad input found in the first answer: the run stops and the CLI exits 2 with this.
    fatal: OnceLock<String>,
    interrupt: CancellationToken,
    tally: Mutex<Tally>,
}

/// The driver's own figures, beside the run's recorder.
#[derive(Debug, Default)]
struct Tally {
    split: BTreeMap<MetricKind, LatencyHistogram>,
    response_total: Duration,
    overhead_total: Duration,
    failures: RuntimeFailures,
    /// Each successful turn's split, for the tail breakdown.
    turns: Vec<TurnSplit>,
}

impl HttpDriver {
    /// A driver whose runtime calls `mock` (made with attribution on); `interrupt` is the
    /// run's, cancelled when the first answer shows the scenario cannot work.
    pub fn new(mock: MockServer, interrupt: CancellationToken) -> Arc<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        Arc::new(Self {
            mock,
            nonce: format!("{:06x}", (nanos ^ std::process::id()) & 0xff_ffff),
            next_session: AtomicU64::new(1),
            live: Arc::default(),
            checked: AtomicBool::new(false),
            fatal: OnceLock::new(),
            interrupt,
            tally: Mutex::default(),
        })
    }

    /// An agent of this driver.
    pub fn agent(self: &Arc<Self>) -> HttpAgent {
        HttpAgent {
            driver: self.clone(),
        }
    }

    /// Sessions running now.
    pub fn live_sessions(&self) -> Arc<AtomicU64> {
        self.live.clone()
    }

    /// Bad input only the runtime's first answer could show (a JSON pointer that matches
    /// nothing), as a message naming the key and the fix.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.get().map(String::as_str)
    }

    /// The runtime's section of the report, the per-turn split histograms for its `latency`
    /// section, and each successful turn's split.
    pub fn finish(
        &self,
        url: &str,
        memory: Option<Sampler>,
        agent_memory_target: u64,
    ) -> (
        RuntimeSection,
        BTreeMap<MetricKind, LatencyHistogram>,
        Vec<TurnSplit>,
    ) {
        let tally = std::mem::take(&mut *self.tally.lock().unwrap_or_else(PoisonError::into_inner));
        let attribution = self.mock.stats().attribution.unwrap_or_default();
        let section = RuntimeSection {
            url: url.to_owned(),
            llm_calls: attribution.llm_attributed,
            tool_calls: attribution.tool_attributed,
            unattributed_llm_calls: attribution.llm_unattributed,
            unattributed_tool_calls: attribution.tool_unattributed,
            overhead_share: (!tally.response_total.is_zero())
                .then(|| tally.overhead_total.as_secs_f64() / tally.response_total.as_secs_f64()),
            failures: tally.failures,
            memory: memory.map(|m| m.finish(agent_memory_target)),
        };
        (section, tally.split, tally.turns)
    }

    fn stop_with(&self, message: String) {
        if self.fatal.set(message).is_ok() {
            self.interrupt.cancel();
        }
    }
}

/// One simulated user of the runtime under test.
#[derive(Debug)]
pub struct HttpAgent {
    driver: Arc<HttpDriver>,
}

/// Counts a session as live for as long as it runs (a cancelled one too).
struct Live(Arc<AtomicU64>);

impl Live {
    fn enter(count: &Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Agent for HttpAgent {
    async fn session(
        &mut self,
        ctx: AgentContext<'_>,
        report: &mut (dyn FnMut(TurnReport) + Send),
    ) {
        let AgentContext {
            scenario,
            clients,
            rng,
            stop,
            intended_start,
            ..
        } = ctx;
        let Some(endpoint) = clients.agent.as_ref() else {
            return;
        };
        let driver = &*self.driver;
        let _live = Live::enter(&driver.live);
        let number = driver.next_session.fetch_add(1, Ordering::Relaxed);
        let id = format!("fb-{}-{number}", driver.nonce);
        let session = &scenario.session;
        let turns = session.turns.sample(rng).0.max(1);
        let mut history: Vec<(String, String)> = Vec::new();
        let mut cookies: BTreeMap<String, String> = BTreeMap::new();
        let mut first_turn_start = intended_start;
        for turn in 1..=turns {
            if stop.is_stopped() {
                break;
            }
            let marker = SessionMarker {
                session: number,
                turn,
            };
            let words = session.user_message_tokens.sample(rng).0;
            let message = format!("{} {marker}", text::words(rng, words));
            let cookie_header = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let started = first_turn_start.take().unwrap_or_else(Instant::now);
            let sent = Instant::now();
            let request = AgentTurn {
                session: &id,
                turn,
                message: &message,
                history: &history,
                cookies: &cookie_header,
            };
            let result = tokio::select! {
                biased;
                () = clients.cancelled() => Err(AgentFailure {
                    kind: ErrorKind::Cancelled,
                    status: None,
                    detail: "the run ended".to_owned(),
                    no_answer: false,
                }),
                r = endpoint.send(&request) => r,
            };
            let answered = Instant::now();
            let observed = driver.mock.take_observed(number);
            let turn_report = driver.account(
                &observed,
                turn,
                (started, sent, answered),
                result.as_ref().err(),
            );
            driver.check_first(&result, endpoint.url());
            let failed = result.is_err();
            if let Ok(reply) = result {
                for c in reply.cookies {
                    if let Some((k, v)) = c.split_once('=') {
                        cookies.insert(k.trim().to_owned(), v.trim().to_owned());
                    }
                }
                history.push((message, reply.text));
            }
            report(turn_report);
            stop.turn_done();
            if failed && stop.is_stopped() {
                break;
            }
            if turn < turns {
                let think: Duration = session.think_time.sample(rng).0;
                if !stop.pause(think).await {
                    break;
                }
            }
        }
        // Calls still landing for this session are not kept.
        driver.mock.forget_session(number);
    }
}

impl HttpDriver {
    /// The turn's report from the calls the mock saw for it, and the driver's own split and
    /// failure counts.
    fn account(
        &self,
        observed: &[Observed],
        turn: u32,
        (started, sent, answered): (Instant, Instant, Instant),
        failure: Option<&AgentFailure>,
    ) -> TurnReport {
        let mut report = TurnReport {
            response: answered - started,
            error: failure.map(|f| f.kind),
            ..TurnReport::default()
        };
        for o in observed {
            let record = record(o);
            match o.call {
                ObservedCall::Llm { .. } => report.llm.push(record),
                ObservedCall::Tool { .. } => report.tools.push(record),
            }
        }
        if report.error == Some(ErrorKind::Cancelled) {
            return report;
        }
        // This turn's calls only: a call of an earlier turn that finished late is counted
        // above, not in this turn's time.
        let mine = || observed.iter().filter(|o| o.turn == turn);
        let within = |o: &Observed| (o.started.max(sent), o.finished.min(answered));
        let llm: Vec<_> = mine()
            .filter(|o| matches!(o.call, ObservedCall::Llm { .. }))
            .map(within)
            .collect();
        let all: Vec<_> = mine().map(within).collect();
        let llm_time = union(llm);
        let busy = union(all);
        let tools_time = busy.saturating_sub(llm_time);
        let overhead = report.response.saturating_sub(busy);
        let injected = mine().any(|o| o.injected.is_some_and(is_failure));
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            for (kind, d) in [
                (MetricKind::TurnLlm, llm_time),
                (MetricKind::TurnTools, tools_time),
                (MetricKind::FrameworkOverhead, overhead),
            ] {
                tally.split.entry(kind).or_default().record(d);
            }
            tally
                .turns
                .push([report.response, llm_time, tools_time, overhead]);
            tally.response_total += report.response;
            tally.overhead_total += overhead;
        }
        let f = &mut tally.failures;
        if let Some(failure) = failure {
            f.examples
                .entry(failure.kind)
                .or_insert_with(|| failure.detail.chars().take(300).collect());
        }
        match (failure, injected) {
            (Some(failure), true) => *f.after_injected_fault.entry(failure.kind).or_default() += 1,
            (Some(failure), false) => *f.own.entry(failure.kind).or_default() += 1,
            (None, true) => f.faults_absorbed += 1,
            (None, false) => {}
        }
        report
    }

    /// The first answer of the run decides whether `answer` can work at all: a pointer that
    /// matches nothing in it stops the run as bad input.
    fn check_first<T>(&self, result: &Result<T, AgentFailure>, url: &str) {
        let decisive = match result {
            Ok(_) => true,
            Err(f) => f.no_answer || f.status.is_some(),
        };
        if !decisive || self.checked.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Err(f) = result
            && f.no_answer
        {
            self.stop_with(format!(
                "`agent.answer`: the runtime's first answer (from {url}) has no text where the pointer says: {}; point `answer` at the answer's text in that body (RFC 6901, like \"/answer\" or \"/choices/0/message/content\")",
                f.detail
            ));
        }
    }
}

/// Whether an injected fault makes the call fail (a slow first token does not).
fn is_failure(injected: Injected) -> bool {
    !matches!(injected, Injected::Fault(FaultKind::SlowFirstToken))
}

/// A call the runtime made, as the mock served it: one attempt (the runtime's own retries
/// are calls of their own), failed when the mock injected a failure or refused the request.
fn record(o: &Observed) -> CallRecord {
    let (target, tokens) = match &o.call {
        ObservedCall::Llm { model } => (model.clone(), (o.tokens_in, o.tokens_out)),
        ObservedCall::Tool { name } => (name.clone(), (0, 0)),
    };
    let error = match o.injected {
        Some(Injected::Fault(kind)) => fault_error(kind),
        Some(Injected::ToolFailure) => Some(ErrorKind::ServerError),
        None if o.status >= 400 => Some(ErrorKind::from_status(o.status)),
        None => None,
    };
    let total = o.finished.saturating_duration_since(o.started);
    CallRecord {
        target: target.clone(),
        total,
        attempts: vec![Attempt {
            target,
            duration: total,
            ttft: None,
            status: (o.status != 0).then_some(o.status),
            error,
            probe: false,
        }],
        tokens_in: tokens.0,
        tokens_out: tokens.1,
        error,
        ..CallRecord::default()
    }
}

/// The error kind a client meets for an injected fault.
fn fault_error(kind: FaultKind) -> Option<ErrorKind> {
    Some(match kind {
        FaultKind::RateLimit => ErrorKind::RateLimited,
        FaultKind::ServerError => ErrorKind::ServerError,
        FaultKind::Unavailable => ErrorKind::Unavailable,
        FaultKind::Reset => ErrorKind::Reset,
        FaultKind::Stall => ErrorKind::Timeout,
        FaultKind::Truncate => ErrorKind::Truncated,
        FaultKind::Malformed => ErrorKind::Malformed,
        FaultKind::SlowFirstToken => return None,
    })
}

/// The length of the union of `intervals` (empty ones ignored).
fn union(mut intervals: Vec<(Instant, Instant)>) -> Duration {
    intervals.retain(|(a, b)| b > a);
    intervals.sort_unstable();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in intervals {
        match current {
            Some((s, e)) if a <= e => current = Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                current = Some((a, b));
            }
            None => current = Some((a, b)),
        }
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_counts_overlaps_once() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        assert_eq!(union(vec![]), Duration::ZERO);
        assert_eq!(
            union(vec![
                (ms(0), ms(10)),
                (ms(5), ms(20)),
                (ms(30), ms(40)),
                (ms(35), ms(35))
            ]),
            Duration::from_millis(30)
        );
    }

    #[test]
    fn injected_faults_are_the_errors_a_client_meets() {
        assert_eq!(
            fault_error(FaultKind::RateLimit),
            Some(ErrorKind::RateLimited)
        );
        assert_eq!(fault_error(FaultKind::Stall), Some(ErrorKind::Timeout));
        assert_eq!(fault_error(FaultKind::SlowFirstToken), None);
        assert!(!is_failure(Injected::Fault(FaultKind::SlowFirstToken)));
        assert!(is_failure(Injected::ToolFailure));
    }
}
