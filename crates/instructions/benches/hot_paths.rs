//! Instruction counts of fleetbench's hot paths, under valgrind's callgrind (gungraun).
//!
//! Each benchmark repeats one operation a fixed number of times ([`CALLS`] or [`OPS`]) so the
//! fixed cost of entering it (a `block_on`, a loop) is a rounding error; divide a count by
//! the repetitions for the cost of one operation. Everything the operation needs (the
//! runtime, the clients, the mock, the tokenizer's tables, the first of any lazy
//! initialisation) is made in gungraun's `setup`, which callgrind does not count, and each
//! benchmark hands its state back so that dropping it is not counted either.
//!
//! Each benchmark function only calls a function written outside it: gungraun's macro moves
//! the benchmark function into a `__gungraun_wrapper_mod` module, and callgrind toggles its
//! count on entering and leaving any function of that module, so an async block or closure
//! written inside a benchmark function (a function of that module too) would switch the
//! count off while it runs.
//!
//! Every input is fixed (seeds, texts) and every clock is tokio's paused one, so a count is
//! the same run to run on one build, but for up to 0.01 % in `llm_call` and `scripted_turn`
//! (glibc's `memcmp` costs a little more or less with where a string lies; docs/performance.md).
//! The benchmarks:
//! - `llm_call`: one chat call through the whole client stack (routing, breaker, pool,
//!   limiter, timeouts, the call record) to the in-process mock; [`CALLS`] calls.
//! - `histogram_record`: one latency recorded into a `metrics::LatencyHistogram`; [`OPS`].
//! - `limiter_acquire`: one request and its tokens admitted by a `clients::limiter::Limiter`
//!   with RPM and TPM limits that never make it wait; [`OPS`].
//! - `breaker_permit`: one permit of a closed `clients::breaker::CircuitBreaker`, taken and
//!   reported a success; [`OPS`].
//! - `scripted_turn`: one turn of `fleet::ScriptedAgent` (user message, LLM call asking for a
//!   tool, the tool, the final LLM call) against the in-process mock with no latency;
//!   [`SESSIONS`] sessions of [`TURNS`] turns.
//! - `count_tokens`: the o200k tokens of one user message, encoded by tiktoken
//!   (`encode`), or found in the process-wide memo the agents and the mock share
//!   (`memoized`); [`CALLS`] counts.
//!
//! `cargo run -p fleetbench-instructions --bin instructions-gate` runs them and compares the
//! counts with `crates/instructions/baseline.json` (docs/performance.md, "Instruction
//! counts").

// `exit`: gungraun's `main!` exits with the runner's status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::exit)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_openai::types::chat::{ChatCompletionRequestMessage, ChatCompletionRequestUserMessage};
use clients::breaker::CircuitBreaker;
use clients::limiter::Limiter;
use clients::{Clients, Embedded, LlmRequest};
use conversation::{Tiktoken, TokenCounter};
use fleet::stop::Stop;
use fleet::{Agent, AgentContext, ScriptedAgent};
use gungraun::{library_benchmark, library_benchmark_group, main};
use metrics::LatencyHistogram;
use mock::{MockConfig, MockServer};
use scenario::{Scenario, SimRng, Tokenizer};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// The allocator fleetbench itself runs with, so allocations cost what they cost there.
#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

/// Repetitions of the heavier operations (an LLM call, a token count).
const CALLS: u64 = 100;
/// Repetitions of the light operations (a histogram record, a limiter check, a permit).
const OPS: u64 = 1_000;
/// Sessions of `scripted_turn`, each a fresh conversation.
const SESSIONS: u64 = 10;
/// Turns of each session of `scripted_turn`.
const TURNS: u32 = 10;

/// The mock answers at once (no latency model), with 16-token answers, like
/// `fixtures/scenarios/zero-latency.toml`.
const ZERO_LATENCY: &str = r#"
seed = 7
[[llm.providers]]
name = "mock"
base_url = "embedded"
model = "mock-gpt"
limits = { max_in_flight = 512, max_queue = 100000 }
[mock]
capacity = 100000
prefill_per_token = "0s"
base_latency = "0s"
inter_token = "0s"
output_tokens = 16
"#;

/// A support agent's user message: words, an id, a date, punctuation and a JSON fragment,
/// so tiktoken has real work (not only the generator's words, which are looked up).
const MESSAGE: &str = "Hi, my order ORD-48213 was due last Tuesday (2024-03-12) and the tracking \
page still says \"label created\". I paid $49.99 for express shipping. Can you check where it \
is and refund the shipping if it's late? The app showed {\"status\": \"pending\", \"eta\": null} \
when I tried this morning.";

/// A paused current-thread runtime: tokio's clock only moves when every task waits, so no
/// count depends on the wall clock.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

fn scenario(toml: &str) -> Scenario {
    Scenario::from_toml(toml, "hot_paths").expect("the benchmark's scenario is valid")
}

/// The client stack over the in-process mock, and one request.
struct Stack {
    runtime: Runtime,
    clients: Clients,
    request: LlmRequest,
}

fn stack() -> Stack {
    let runtime = runtime();
    let s = scenario(ZERO_LATENCY);
    let server = MockServer::new(MockConfig::from_scenario(&s));
    let clients = Clients::build(&s, &Embedded::InProcess(server)).expect("the clients build");
    let message: ChatCompletionRequestMessage =
        ChatCompletionRequestUserMessage::from(MESSAGE).into();
    let request = LlmRequest {
        messages: vec![message],
        tools: Arc::new([]),
        max_tokens: 64,
        prompt_tokens: tokencount::count(Tokenizer::O200k, MESSAGE),
    };
    // One call first: the tokenizer's tables, the message's token count and the stack's
    // lazily made parts are ready before counting starts.
    runtime.block_on(async {
        let (_, result) = clients.llm.call(&request, 0).await;
        result.expect("the mock answers");
    });
    Stack {
        runtime,
        clients,
        request,
    }
}

/// [`CALLS`] calls, one after another.
fn llm_calls(stack: &Stack) {
    stack.runtime.block_on(async {
        for seed in 1..=CALLS {
            let (record, result) = stack.clients.llm.call(&stack.request, seed).await;
            black_box((record, result.expect("the mock answers")));
        }
    });
}

#[library_benchmark]
#[bench::in_process(setup = stack)]
fn llm_call(stack: Stack) -> Stack {
    llm_calls(&stack);
    stack
}

/// An empty histogram and [`OPS`] latencies between 100 µs and 10 s, spread over its range.
fn latencies() -> (LatencyHistogram, Vec<Duration>) {
    let mut rng = SimRng::new(7);
    let values = (0..OPS)
        .map(|_| Duration::from_micros(100 * 10_u64.pow(rng.below(5) as u32) + rng.below(10_000)))
        .collect();
    (LatencyHistogram::default(), values)
}

fn record_all(histogram: &mut LatencyHistogram, values: &[Duration]) {
    for value in values {
        histogram.record(black_box(*value));
    }
}

#[library_benchmark]
#[bench::latency(setup = latencies)]
fn histogram_record(
    (mut histogram, values): (LatencyHistogram, Vec<Duration>),
) -> (LatencyHistogram, Vec<Duration>) {
    record_all(&mut histogram, &values);
    (histogram, values)
}

/// RPM and TPM limits whose one-second bursts (1/60 of a minute's) hold every acquisition,
/// so the limiter checks and never waits.
fn limiter() -> (Runtime, Limiter) {
    let runtime = runtime();
    let limits = scenario::ClientLimits {
        rpm: Some(6_000_000),
        tpm: Some(600_000_000),
        ..Default::default()
    };
    let limiter = runtime.block_on(async { Limiter::new(&limits) });
    (runtime, limiter)
}

/// [`OPS`] acquisitions of one request of 100 tokens.
fn acquisitions(runtime: &Runtime, limiter: &Limiter) {
    runtime.block_on(async {
        for _ in 0..OPS {
            let waited = limiter.acquire(black_box(100)).await;
            assert!(waited.is_zero(), "the bursts hold every acquisition");
        }
    });
}

#[library_benchmark]
#[bench::rpm_and_tpm(setup = limiter)]
fn limiter_acquire((runtime, limiter): (Runtime, Limiter)) -> (Runtime, Limiter) {
    acquisitions(&runtime, &limiter);
    (runtime, limiter)
}

/// A closed breaker with the default policy, made on the paused clock.
fn breaker() -> (Runtime, CircuitBreaker) {
    let runtime = runtime();
    let breaker = runtime.block_on(async { CircuitBreaker::new(&scenario::Breaker::default()) });
    (runtime, breaker)
}

/// [`OPS`] permits, each reported a success.
fn permits(runtime: &Runtime, breaker: &CircuitBreaker) {
    runtime.block_on(async {
        for _ in 0..OPS {
            breaker
                .try_acquire()
                .expect("a closed breaker admits")
                .success();
        }
    });
}

#[library_benchmark]
#[bench::closed(setup = breaker)]
fn breaker_permit((runtime, breaker): (Runtime, CircuitBreaker)) -> (Runtime, CircuitBreaker) {
    permits(&runtime, &breaker);
    (runtime, breaker)
}

/// Every turn: the model asks for one tool on the user's message and answers after its
/// result, so a turn is two LLM calls and one tool call; nothing waits.
const SESSION: &str = r#"
seed = 7
[fleet]
max_turns = 1000000
[session]
think_time = "0s"
user_message_tokens = 40
system_prompt_tokens = 200
max_steps = 4
[tools.search]
args = { query = "string" }
mock = { latency = "0s", response_tokens = 60 }
[mock]
prefill_per_token = "0s"
base_latency = "0s"
inter_token = "0s"
output_tokens = 16
tool_call_probability = 1.0
tool_followup_probability = 0.0
"#;

/// What a scripted agent's sessions share: the scenario, the clients over the in-process
/// mock, the tool definitions and the stop conditions.
struct Fleet {
    runtime: Runtime,
    scenario: Scenario,
    clients: Clients,
    tools: Arc<[async_openai::types::chat::ChatCompletionTools]>,
    stop: Stop,
}

impl Fleet {
    /// Runs the session of agent `id` (its own seeded randomness); returns its turns.
    async fn session(&self, id: u64) -> u64 {
        let mut rng = SimRng::for_agent(self.scenario.seed, id);
        let mut turns = 0;
        let ctx = AgentContext {
            id,
            scenario: &self.scenario,
            clients: &self.clients,
            tools: &self.tools,
            rng: &mut rng,
            stop: &self.stop,
            intended_start: None,
            dictionary: None,
        };
        ScriptedAgent
            .session(ctx, &mut |report| {
                assert!(report.error.is_none(), "{report:?}");
                black_box(report);
                turns += 1;
            })
            .await;
        turns
    }
}

fn scripted() -> Fleet {
    let runtime = runtime();
    let mut s = scenario(SESSION);
    s.session.turns = scenario::Dist::Constant(scenario::Tokens(TURNS));
    let server = MockServer::new(MockConfig::from_scenario(&s));
    let clients = Clients::build(&s, &Embedded::InProcess(server)).expect("the clients build");
    let tools: Arc<[_]> = fleet::tool_definitions(&s).into();
    let stop = runtime.block_on(async {
        Stop::new(
            &s.fleet,
            tokio::time::Instant::now(),
            CancellationToken::new(),
        )
    });
    let fleet = Fleet {
        runtime,
        scenario: s,
        clients,
        tools,
        stop,
    };
    // One session first (agent 0, not counted): tables and lazily made parts are ready.
    let turns = fleet.runtime.block_on(fleet.session(0));
    assert_eq!(turns, u64::from(TURNS));
    fleet
}

/// [`SESSIONS`] sessions, one after another (agents 1, 2, …).
fn sessions(fleet: &Fleet) {
    let turns = fleet.runtime.block_on(async {
        let mut turns = 0;
        for id in 1..=SESSIONS {
            turns += fleet.session(id).await;
        }
        turns
    });
    assert_eq!(turns, SESSIONS * u64::from(TURNS));
}

#[library_benchmark]
#[bench::tool_round(setup = scripted)]
fn scripted_turn(fleet: Fleet) -> Fleet {
    sessions(&fleet);
    fleet
}

/// How `count_tokens` counts.
#[derive(Clone, Copy, Debug)]
enum Counting {
    /// tiktoken's o200k encoder, every time (`conversation::Tiktoken`).
    Encode,
    /// The shared memo (`tokencount::count`): a hash and a lookup once the text is known.
    Memoized,
}

/// Loads the o200k tables and counts [`MESSAGE`] once (which memoizes it).
fn warmed(counting: Counting) -> Counting {
    assert_eq!(
        Tiktoken::O200k.count(MESSAGE),
        tokencount::count(Tokenizer::O200k, MESSAGE)
    );
    counting
}

/// [`CALLS`] counts of [`MESSAGE`]; their sum.
fn counts(counting: Counting) -> u32 {
    let mut total = 0;
    for _ in 0..CALLS {
        let text = black_box(MESSAGE);
        total += match counting {
            Counting::Encode => Tiktoken::O200k.count(text),
            Counting::Memoized => tokencount::count(Tokenizer::O200k, text),
        };
    }
    total
}

#[library_benchmark]
#[bench::encode(args = (Counting::Encode), setup = warmed)]
#[bench::memoized(args = (Counting::Memoized), setup = warmed)]
fn count_tokens(counting: Counting) -> u32 {
    counts(counting)
}

library_benchmark_group!(
    name = hot_paths,
    benchmarks = [
        llm_call,
        histogram_record,
        limiter_acquire,
        breaker_permit,
        scripted_turn,
        count_tokens
    ]
);

main!(library_benchmark_groups = hot_paths);
