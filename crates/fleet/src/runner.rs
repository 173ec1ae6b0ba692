//! Running a fleet: agents (closed loop, ramped) or sessions on a schedule (open loop) share
//! the clients until a stop condition, then get a grace period; every turn is recorded, and
//! the run ends in a [`metrics::RunSnapshot`].
//!
//! Live clock: one current-thread runtime per core, the agents spread over them
//! ([`crate::workers`]: why not tokio's multi-thread runtime), and real HTTP (the embedded mock on 127.0.0.1:0, over
//! TLS when `[mock] tls_cert` is set, its clients trusting exactly that certificate).
//! Virtual clock: a current-thread runtime with paused time and the mock in-process, so a
//! seed gives the same run every time and an hour of fleet time takes seconds; with
//! `fleet.shards` above 1, one such runtime per part of the fleet, each on its own thread
//! ([`crate::shard`]).
//!
//! [`run`] picks the clock and the parts; `fleet` is one part from start to collection; the
//! steps live beside it: `closed_loop` and `open_loop` (how agents or sessions start),
//! `progress` (the readings while it runs), `wind_down` (grace, then cancellation).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use clients::{Clients, Embedded, ErrorKind};
use metrics::{AgentSummary, BreakerSummary, MemoryMethod, ProcessStats, Registry};
use mock::{MockConfig, MockServer};
use scenario::{ClockMode, Endpoint, Scenario, SimRng};

use conversation::cold::Dictionary;

use crate::agent::{Agent, AgentContext, TurnReport, tool_definitions};
use crate::dictionary;
use crate::intervals::Merger;
pub use crate::options::{
    IntervalFn, MockFn, Progress, ProgressFn, RunError, RunOptions, RunOutcome,
};
use crate::process;
use crate::saturation;
use crate::schedule::OpenSchedule;
use crate::shard::{self, Part, PartOutcome};
use crate::stop::{Stop, StopReason};
use crate::tally::{self, Tally};
use crate::turn_metrics;
use crate::workers::{Spawner, Workers};

/// Runs `scenario` with agents made by `make_agent` (called with each agent's id).
pub fn run<A, F>(
    scenario: &Scenario,
    make_agent: F,
    options: RunOptions,
) -> Result<RunOutcome, RunError>
where
    A: Agent + 'static,
    F: Fn(u64) -> A + Send + Sync + 'static,
{
    let wall = std::time::Instant::now();
    let tracking = heap::installed();
    tally::warm_shared_state(scenario);
    let make_agent = Arc::new(make_agent);
    // `run --part`: this process runs one part, delivered as a whole run's.
    let only = options.part;
    let parts_of = match (scenario.clock, only) {
        (ClockMode::Live, _) | (_, Some(_)) => 1,
        (ClockMode::Virtual, None) => scenario.fleet.shards.max(1),
    };
    let merger = options
        .on_interval
        .clone()
        .map(|on_interval| Merger::new(parts_of, on_interval));
    // The one part this process runs (`run --part`), or the whole fleet.
    let part = only.unwrap_or(Part::WHOLE);
    let parts = match (scenario.clock, only) {
        (ClockMode::Live, _) => {
            let _ = clients::raise_fd_limit();
            let workers = Workers::start().map_err(RunError::Runtime)?;
            let spawner = workers.spawner();
            vec![workers.run(live(
                Arc::new(shard::scale(scenario, part)),
                make_agent,
                options,
                (part, merger, spawner),
            ))?]
        }
        (ClockMode::Virtual, None) if scenario.fleet.shards > 1 => {
            shard::run_parts(scenario.fleet.shards, &options, |part, options| {
                virtual_part(scenario, part, make_agent.clone(), options, merger.clone())
            })?
        }
        (ClockMode::Virtual, _) => {
            vec![virtual_part(scenario, part, make_agent, options, merger)?]
        }
    };
    let part = only.and_then(|_| parts.first().cloned());
    let mut outcome = finish(scenario, parts, wall, tracking);
    outcome.part = part;
    Ok(outcome)
}

/// Part `part` of a virtual run, on this thread: its own paused current-thread runtime,
/// in-process mock and clients, with its share of every shared limit.
fn virtual_part<A, F>(
    scenario: &Scenario,
    part: Part,
    make_agent: Arc<F>,
    options: RunOptions,
    merger: Option<Arc<Merger>>,
) -> Result<PartOutcome, RunError>
where
    A: Agent + 'static,
    F: Fn(u64) -> A + Send + Sync + 'static,
{
    let scenario = Arc::new(shard::scale(scenario, part));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(async {
        let server = MockServer::new(MockConfig::from_scenario(&scenario));
        let embedded = uses_embedded(&scenario).then(|| server.clone());
        let clients = build(&scenario, &Embedded::InProcess(server), &options)?;
        let dictionary = dictionary::train(&scenario)?;
        let mut outcome = fleet(
            scenario,
            Arc::new(clients),
            make_agent,
            options,
            (part, merger, Spawner::default()),
            dictionary,
        )
        .await;
        outcome.mock_observed = embedded.map(|m| observed(&m));
        Ok(outcome)
    })
}

/// The clients, with the secrets `options` carries or those of the environment.
fn build(
    scenario: &Scenario,
    embedded: &Embedded,
    options: &RunOptions,
) -> Result<Clients, clients::BuildError> {
    match &options.secrets {
        Some(secrets) => Clients::build_with(scenario, embedded, secrets),
        None => Clients::build(scenario, embedded),
    }
}

/// The mock's `GET /stats` body.
fn observed(mock: &MockServer) -> serde_json::Value {
    heap::shared(|| serde_json::to_value(mock.stats()).expect("the mock's stats serialize"))
}

fn uses_embedded(s: &Scenario) -> bool {
    s.llm
        .providers
        .iter()
        .any(|p| p.base_url == Endpoint::Embedded)
        || s.tools.values().any(|t| t.endpoint == Endpoint::Embedded)
}

async fn live<A, F>(
    scenario: Arc<Scenario>,
    make_agent: Arc<F>,
    options: RunOptions,
    (part, merger, spawner): (Part, Option<Arc<Merger>>, Spawner),
) -> Result<PartOutcome, RunError>
where
    A: Agent + 'static,
    F: Fn(u64) -> A + Send + Sync + 'static,
{
    let stop_mock = CancellationToken::new();
    let mut mock = None;
    let (embedded, serving) = if uses_embedded(&scenario) || scenario.agent.is_http() {
        let (server, embedded, serving) =
            serve_mock(&scenario, &options, &stop_mock, &spawner).await?;
        mock = Some(server);
        (embedded, Some(serving))
    } else {
        // No endpoint is embedded: the placeholder is never used.
        (Embedded::Http("http://127.0.0.1:9".to_owned()), None)
    };
    let clients = Arc::new(build(&scenario, &embedded, &options)?);
    // Bad input only the servers can tell (an MCP server that lacks a configured tool) stops
    // the run here, before any traffic.
    clients.preflight().await?;
    // The harness's own probe runs beside the fleet: is the process itself the bottleneck?
    let probe = saturation::Probe::start();
    let dictionary = dictionary::train(&scenario)?;
    let live = options.live.clone();
    if let Some(at) = options.start_at {
        wait_until(at, &options.interrupt).await;
    }
    let mut outcome = fleet(
        scenario,
        clients,
        make_agent,
        options,
        (part, merger, spawner),
        dictionary,
    )
    .await;
    probe.finish().await.record_into(&mut outcome.recorder);
    if let Some(watch) = live {
        // The probe's figures too (`scheduler_lag`): the watch holds what the report holds.
        watch.done(part.index, outcome.recorder.clone());
    }
    outcome.mock_observed = mock.as_ref().map(observed);
    stop_mock.cancel();
    if let Some(serving) = serving {
        let _ = serving.await;
    }
    Ok(outcome)
}

/// Waits for the wall clock to reach `at` (`run --start-at`), or for an interrupt.
async fn wait_until(at: std::time::SystemTime, interrupt: &CancellationToken) {
    let Ok(wait) = at.duration_since(std::time::SystemTime::now()) else {
        return;
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = interrupt.cancelled() => {}
    }
}

/// Starts the embedded mock of a live run: the one `options` hands over or one made from the
/// scenario, on `[mock] listen` (a free port of 127.0.0.1 without it), over TLS when
/// `[mock] tls_cert` is set; tells `options.on_mock` its address.
async fn serve_mock(
    scenario: &Scenario,
    options: &RunOptions,
    stop: &CancellationToken,
    spawner: &Spawner,
) -> Result<
    (
        MockServer,
        Embedded,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ),
    RunError,
> {
    let addr = scenario
        .mock
        .listen
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| match scenario.mock.listen {
            Some(addr) => RunError::MockListen { addr, source },
            None => RunError::Mock(source),
        })?;
    let addr = listener.local_addr().map_err(RunError::Mock)?;
    let server = match &options.mock {
        Some(server) => server.clone(),
        None => MockServer::new(MockConfig::from_scenario(scenario)),
    };
    let token = stop.clone();
    let stopped = async move { token.cancelled().await };
    let (embedded, tls) = match (&scenario.mock.tls_cert, &scenario.mock.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = mock::TlsConfig::from_pem_files(cert, key)
                .map_err(|err| RunError::Mock(std::io::Error::other(err)))?;
            let base = format!("https://{addr}");
            (
                Embedded::Https {
                    base,
                    cert: cert.clone(),
                },
                Some(tls),
            )
        }
        _ => (Embedded::Http(format!("http://{addr}")), None),
    };
    let (threads, server_) = (spawner.clone(), server.clone());
    let serving = tokio::spawn(async move {
        mock::serve_spread(listener, server_, tls, threads.threads(), stopped).await
    });
    if let Some(on_mock) = &options.on_mock {
        on_mock(match &embedded {
            Embedded::Http(base) | Embedded::Https { base, .. } => base,
            Embedded::InProcess(_) => "",
        });
    }
    Ok((server, embedded, serving))
}

/// State every agent task shares.
struct Shared {
    scenario: Arc<Scenario>,
    /// `[compression] zstd_dictionary`: shared by every agent's cold store.
    dictionary: Option<Dictionary>,
    clients: Arc<Clients>,
    tools: Arc<[async_openai::types::chat::ChatCompletionTools]>,
    stop: Stop,
    registry: Registry,
    alive: AtomicU64,
    alive_peak: AtomicU64,
    /// Where agents' tasks run: spread over the live workers, or this runtime.
    spawner: Spawner,
}

impl Shared {
    /// Records into this thread's recorder. The recorders are the harness's: a thread's first
    /// recording creates its recorder, charged as shared heap, not to the agent that happened
    /// to record first.
    fn record(&self, f: impl FnOnce(&mut metrics::Recorder)) {
        heap::shared(|| self.registry.with(f));
    }

    fn enter(&self) {
        let now = self.alive.fetch_add(1, Ordering::Relaxed) + 1;
        self.alive_peak.fetch_max(now, Ordering::Relaxed);
    }

    fn leave(&self) {
        self.alive.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One fleet (or one part of a sharded one) from start to collection: agents or sessions
/// start until a stop condition, progress is read beside them, calls in flight get the grace
/// period, and what every agent and client measured is collected.
async fn fleet<A, F>(
    scenario: Arc<Scenario>,
    clients: Arc<Clients>,
    make_agent: Arc<F>,
    options: RunOptions,
    (part, merger, spawner): (Part, Option<Arc<Merger>>, Spawner),
    dictionary: Option<Dictionary>,
) -> PartOutcome
where
    A: Agent + 'static,
    F: Fn(u64) -> A + Send + Sync + 'static,
{
    let start = Instant::now();
    let started_unix_ms = (scenario.clock == ClockMode::Live).then(unix_ms);
    let shared = Arc::new(Shared {
        dictionary,
        tools: tool_definitions(&scenario).into(),
        stop: Stop::new(&scenario.fleet, start, options.interrupt.clone()),
        registry: Registry::default(),
        alive: AtomicU64::new(0),
        alive_peak: AtomicU64::new(0),
        clients,
        scenario,
        spawner,
    });
    let tallies: Arc<Mutex<Vec<Tally>>> = Arc::default();
    let tracking = heap::installed();
    let mut tasks = JoinSet::new();
    let progress = options.progress.clone().map(|f| {
        tokio::spawn(report_progress(
            shared.clone(),
            tallies.clone(),
            f,
            options.progress_every,
            start,
        ))
    });
    if let Some(watch) = &options.live {
        watch.running(part.index, live_reader(&shared));
    }
    let cutting = merger.map(|m| Cutting::start(&shared, m, (start, options.interval, part.index)));
    arrivals(&shared, make_agent, &tallies, (start, part), &mut tasks).await;
    let stopped = Instant::now();
    wind_down(&shared, &mut tasks).await;
    if let Some(p) = progress {
        p.abort();
    }
    settle_caches(&shared);
    if let Some(cutting) = cutting {
        cutting.finish().await;
    }
    let mut outcome = collect(&shared, &tallies, tracking, stopped - start);
    outcome.started_unix_ms = started_unix_ms;
    if let Some(watch) = &options.live {
        watch.done(part.index, outcome.recorder.clone());
    }
    outcome
}

/// Reads the part for a [`crate::LiveWatch`]: the recorders (as the progress line does), agents
/// alive and the clients' requests in flight, on demand.
fn live_reader(shared: &Arc<Shared>) -> Arc<dyn Fn() -> crate::LiveReading + Send + Sync> {
    let shared = shared.clone();
    Arc::new(move || crate::LiveReading {
        recorder: heap::shared(|| shared.registry.snapshot()),
        alive: shared.alive.load(Ordering::Relaxed),
        in_flight: (shared.clients.llm.in_flight() + shared.clients.tools.in_flight()) as u64,
        ..crate::LiveReading::default()
    })
}

/// Starts agents or sessions until a stop condition and returns at the stop: the closed
/// loop's fleet on its ramp, or the open loop's sessions on their schedule.
async fn arrivals<A, F>(
    shared: &Arc<Shared>,
    make_agent: Arc<F>,
    tallies: &Arc<Mutex<Vec<Tally>>>,
    (start, part): (Instant, Part),
    tasks: &mut JoinSet<()>,
) where
    A: Agent + 'static,
    F: Fn(u64) -> A + Send + Sync + 'static,
{
    let fleet = &shared.scenario.fleet;
    match OpenSchedule::for_part(fleet, shared.scenario.seed, part) {
        None => {
            closed_loop::spawn_agents(shared, &*make_agent, tallies, (start, part), tasks);
            shared.stop.stopped().await;
        }
        Some(schedule) => {
            let scheduler = open_loop::run(
                shared.clone(),
                make_agent,
                tallies.clone(),
                schedule,
                (start, part),
                tasks,
            );
            tokio::select! {
                biased;
                () = shared.stop.stopped() => {}
                () = scheduler => shared.stop.stopped().await,
            }
        }
    }
}

/// What the part measured, once its agents are done: the recorders, each agent's totals and
/// heap, the breakers, the most agents alive at once, how long it ran and why it stopped.
fn collect(
    shared: &Shared,
    tallies: &Mutex<Vec<Tally>>,
    tracking: bool,
    simulated: std::time::Duration,
) -> PartOutcome {
    let agents: Vec<AgentSummary> = tallies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|t| t.finish(tracking))
        .collect();
    PartOutcome {
        recorder: shared.registry.snapshot(),
        agents,
        breakers: breakers(&shared.clients),
        alive_peak: shared.alive_peak.load(Ordering::Relaxed),
        simulated,
        stop: shared.stop.reason().unwrap_or(StopReason::Duration),
        mock_observed: None,
        started_unix_ms: None,
    }
}

/// Now, ms since the epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Records the caches' own counts, which no call records, once the agents are done (in the
/// last interval of the time series).
fn settle_caches(shared: &Shared) {
    for (tool, stats) in shared.clients.tools.cache_stats() {
        shared.record(|r| {
            let cache = r.tool_cache.entry(tool).or_default();
            cache.evictions += stats.evictions;
            cache.expirations += stats.expirations;
        });
    }
}

/// The run's outcome from its parts ([`crate::merge_parts`]), with this process's figures.
fn finish(
    scenario: &Scenario,
    parts: Vec<PartOutcome>,
    wall: std::time::Instant,
    tracking: bool,
) -> RunOutcome {
    let shared_heap = heap::shared_usage();
    let process = ProcessStats {
        wall_time_ms: u64::try_from(wall.elapsed().as_millis()).unwrap_or(u64::MAX),
        shared_heap_peak_bytes: shared_heap.peak,
        shared_heap_final_bytes: shared_heap.live,
        ..process::stats()
    };
    let memory_method = if tracking {
        MemoryMethod::Allocator
    } else {
        MemoryMethod::Structural
    };
    crate::merge_parts(scenario, parts, process, memory_method)
}

/// Records one turn into the metrics and the agent's own totals.
fn on_turn(shared: &Shared, tally: &Tally, turn: &TurnReport) {
    // A turn cut off at the end of the run is not one of the agent's turns (`turn_metrics::turn`).
    if turn.error != Some(ErrorKind::Cancelled) {
        tally.turn(turn);
    }
    let on_target = shared.scenario.targets.agent_response_p95.0;
    shared.record(|r| turn_metrics::turn(r, turn, on_target));
}

async fn session<A: Agent>(
    shared: &Shared,
    agent: &mut A,
    tally: &Tally,
    id: u64,
    rng: &mut SimRng,
    intended: Option<Instant>,
) {
    shared.record(|r| r.counters.sessions_started += 1);
    let ctx = AgentContext {
        id,
        scenario: &shared.scenario,
        clients: &shared.clients,
        tools: &shared.tools,
        rng,
        stop: &shared.stop,
        intended_start: intended,
        dictionary: shared.dictionary.as_ref(),
    };
    agent
        .session(ctx, &mut |turn| on_turn(shared, tally, &turn))
        .await;
    shared.record(|r| r.counters.sessions_completed += 1);
}

/// Every breaker's state and transitions at the end of the run.
fn breakers(clients: &Clients) -> Vec<BreakerSummary> {
    let llm = clients.llm.breakers().into_iter().map(|b| ("llm", b));
    let tools = clients.tools.breakers().into_iter().map(|b| ("tool", b));
    llm.chain(tools)
        .map(|(class, (name, state, stats))| BreakerSummary {
            target: format!("{class}:{name}"),
            state,
            opened: stats.opened,
            half_opened: stats.half_opened,
            closed: stats.closed,
            rejected: stats.rejected,
        })
        .collect()
}

mod closed_loop;
mod cutting;
mod open_loop;
mod progress;
mod wind_down;

use cutting::Cutting;
use progress::report_progress;
use wind_down::wind_down;

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
