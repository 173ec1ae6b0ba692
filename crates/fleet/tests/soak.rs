//! The soak's mechanism in small (`BENCH_ONLY=soak cargo bench --bench fleet` is the real
//! one): the soak scenario's fleet, cut to a few agents and hours, reports its heap every
//! simulated hour; a fleet whose agents let go of each session stays level and gives every
//! byte back at the end, a fleet that keeps something per session grows hour by hour, and a
//! sharded run reports both parts' agents and gives every byte back too.
//!
//! This test binary installs the tracking allocator. The heap figures are the process's, so
//! the tests run one at a time ([`one_at_a_time`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fleet::{Agent, AgentContext, Progress, RunOptions, ScriptedAgent, TurnReport};
use fleetbench_fleet as fleet;
use scenario::{Dur, Scenario};

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

const HOUR: Duration = Duration::from_secs(3600);
const MIB: u64 = 1 << 20;
/// Agents of the cut-down fleet: few, so that a debug build runs it in seconds.
const AGENTS: u32 = 8;

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `soak.toml` with `agents` agents for `hours` simulated hours in `shards` parts, and a
/// short system prompt (a debug build spends most of a turn on the prompt's text).
fn soak(agents: u32, hours: u32, shards: u32) -> Scenario {
    let path = testkit::scenario_fixture("soak.toml");
    let text = std::fs::read_to_string(&path).expect("soak.toml is readable");
    let short = text.replace("system_prompt_tokens = 1200", "system_prompt_tokens = 100");
    assert_ne!(short, text, "soak.toml sets system_prompt_tokens = 1200");
    let mut s = Scenario::from_toml(&short, "soak.toml").expect("soak.toml loads");
    s.fleet.agents = agents;
    s.fleet.shards = shards;
    s.fleet.duration = Some(Dur(hours * HOUR));
    s.check("soak.toml").expect("the cut-down soak is valid");
    s
}

/// Runs `s` with agents from `make` and returns its hourly progress.
fn hourly<A: Agent + 'static>(
    s: &Scenario,
    make: impl Fn(u64) -> A + Send + Sync + 'static,
) -> Vec<Progress> {
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let options = RunOptions {
        progress: Some(Arc::new(move |p: &Progress| {
            sink.lock().unwrap_or_else(PoisonError::into_inner).push(*p);
        })),
        progress_every: HOUR,
        ..RunOptions::default()
    };
    fleet::run(s, make, options).expect("the fleet runs");
    seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[test]
fn a_fleet_that_lets_go_of_its_sessions_stays_level_and_gives_every_byte_back() {
    let _one = one_at_a_time();
    let before = heap::accounts_live();
    let hours = hourly(&soak(AGENTS, 3, 1), |_| ScriptedAgent);
    let after = heap::accounts_live();

    let at: Vec<u64> = hours.iter().map(|p| p.elapsed.as_secs()).collect();
    assert!(
        at.starts_with(&[3600, 7200]),
        "progress every simulated hour: {at:?}"
    );
    for pair in hours.windows(2) {
        assert!(pair[1].sessions_completed > pair[0].sessions_completed);
        assert!(pair[1].turns > pair[0].turns);
    }
    for p in &hours {
        assert_eq!(p.alive, u64::from(AGENTS));
        assert!(p.agents_heap > 0 && p.shared_heap > 0, "{p:?}");
        // Each agent between sessions or in a short one: well under a MiB each.
        assert!(p.agents_heap < u64::from(AGENTS) * MIB, "{p:?}");
    }
    let (first, last) = (hours[0].agents_heap, hours[hours.len() - 1].agents_heap);
    assert!(
        last < 2 * first + MIB,
        "agents' heap {first} at hour 1, {last} at the end"
    );
    assert_eq!(
        after, before,
        "every byte charged to an agent is freed with it"
    );
}

/// The scripted agent, keeping `leak` bytes more after every session.
struct Leaky {
    leak: usize,
    kept: Vec<Vec<u8>>,
}

impl Agent for Leaky {
    async fn session(
        &mut self,
        ctx: AgentContext<'_>,
        report: &mut (dyn FnMut(TurnReport) + Send),
    ) {
        ScriptedAgent.session(ctx, report).await;
        self.kept.push(vec![1; self.leak]);
    }
}

#[test]
fn a_fleet_that_keeps_something_per_session_grows_hour_by_hour() {
    let _one = one_at_a_time();
    let leak = 256 << 10;
    let hours = hourly(&soak(AGENTS, 2, 1), move |_| Leaky {
        leak,
        kept: Vec::new(),
    });
    assert!(hours.len() >= 2, "{hours:?}");
    for pair in hours.windows(2) {
        // An agent finishes about six sessions an hour.
        let sessions = pair[1].sessions_completed - pair[0].sessions_completed;
        let grown = pair[1].agents_heap.saturating_sub(pair[0].agents_heap);
        assert!(
            grown > sessions * leak as u64 / 2,
            "{sessions} sessions kept {leak} bytes each, the agents' heap grew by {grown}"
        );
    }
}

#[test]
fn a_sharded_run_reports_its_parts_and_gives_every_byte_back() {
    // How the parts' figures add is unit-tested in `shard.rs`; here, a real two-part run. Its
    // parts run on their own threads and clocks, so when part 0 reports an hour the other
    // part's latest reading may be an hour old, or not there yet on a busy machine: the sum
    // is bounded by the whole fleet, not equal to it at every reading.
    let _one = one_at_a_time();
    let before = heap::accounts_live();
    let hours = hourly(&soak(AGENTS, 2, 2), |_| ScriptedAgent);
    let after = heap::accounts_live();
    assert!(!hours.is_empty());
    for p in &hours {
        assert!(
            p.alive >= u64::from(AGENTS / 2) && p.alive <= u64::from(AGENTS),
            "part 0's agents at least, the fleet at most: {p:?}"
        );
        assert!(p.agents_heap > 0 && p.shared_heap > 0, "{p:?}");
        assert!(p.agents_heap < u64::from(AGENTS) * MIB, "{p:?}");
    }
    assert_eq!(
        after, before,
        "every byte charged to an agent is freed with it"
    );
}
