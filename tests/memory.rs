//! Per-agent heap through the fleet runner. This test binary installs the tracking allocator
//! (`tests.rs`), as the `fleetbench` binary does, so agents' figures come from the allocator.

use std::time::Duration;

use fleet::{Agent, AgentContext, RunOptions, TurnReport};
use metrics::{MemoryMethod, RunSnapshot};
use scenario::{ClockMode, Scenario};

use crate::common::{fleetbench, scenario};

const MIB: usize = 1 << 20;

/// What a test agent does with its known buffer.
#[derive(Clone, Copy, Debug)]
enum Keep {
    /// Holds it in its own state for the whole run.
    Hold,
    /// Frees it before its turn ends.
    Free,
    /// Hands it to a task no agent owns, which keeps it.
    HandOff,
    /// Has a task spawned with `fleet::spawn` allocate and keep it.
    Spawned,
}

/// An agent that allocates `bytes` once per session and does nothing else that lasts.
struct Holder {
    bytes: usize,
    keep: Keep,
    held: Vec<Vec<u8>>,
}

impl Agent for Holder {
    async fn session(
        &mut self,
        ctx: AgentContext<'_>,
        report: &mut (dyn FnMut(TurnReport) + Send),
    ) {
        if self.held.is_empty() {
            let buffer = vec![1u8; self.bytes];
            match self.keep {
                Keep::Hold => self.held.push(buffer),
                Keep::Free => drop(buffer),
                Keep::HandOff => {
                    // A task spawned without `heap::inherit` runs unattributed: it is shared.
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(buffer);
                    });
                    self.held.push(Vec::new());
                }
                Keep::Spawned => {
                    let bytes = self.bytes;
                    fleet::spawn(async move {
                        let buffer = vec![1u8; bytes];
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(buffer);
                    });
                    self.held.push(Vec::new());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ctx.stop.turn_done();
        report(TurnReport {
            response: Duration::from_millis(50),
            ..TurnReport::default()
        });
    }
}

fn holders(clock: ClockMode, keep: Keep, unit: usize) -> RunSnapshot {
    let mut s = scenario::load(&scenario("smoke.toml")).expect("the smoke fixture loads");
    s.clock = clock;
    s.fleet.agents = 4;
    s.fleet.duration = Some(scenario::Dur(Duration::from_millis(800)));
    s.fleet.ramp_up = scenario::Dur(Duration::from_millis(100));
    s.check("test").expect("the scenario is valid");
    run(&s, keep, unit)
}

fn run(s: &Scenario, keep: Keep, unit: usize) -> RunSnapshot {
    let agent = move |id: u64| Holder {
        bytes: unit * (usize::try_from(id).expect("small ids") + 1),
        keep,
        held: Vec::new(),
    };
    fleet::run(s, agent, RunOptions::default())
        .expect("the run starts")
        .snapshot
}

/// Agent `id` is known to hold `(id + 1) * unit` bytes.
fn known(id: u64, unit: usize) -> u64 {
    (id + 1) * unit as u64
}

#[test]
fn an_agent_holding_known_bytes_is_reported_within_five_percent() {
    let s = holders(ClockMode::Live, Keep::Hold, 4 * MIB);
    assert_eq!(s.agents.memory_method, MemoryMethod::Allocator);
    assert_eq!(s.agents.count, 4);
    for a in &s.agents.list {
        let want = known(a.id, 4 * MIB) as f64;
        for (what, got) in [
            ("peak", a.peak_memory_bytes),
            ("final", a.final_memory_bytes),
        ] {
            let got = got as f64;
            assert!(
                got >= want && got <= want * 1.05,
                "agent {} {what}: {got} bytes, holds {want}",
                a.id
            );
        }
    }
    assert_eq!(s.agents.worst_memory[0].id, 3);
    let memory = s
        .targets
        .iter()
        .find(|v| v.target == "agent_memory")
        .expect("the memory verdict");
    assert_eq!(memory.measured, Some(s.agents.peak_memory_max_bytes as f64));
}

#[test]
fn under_the_virtual_clock_the_figures_are_exact_and_repeat() {
    let unit = 3 * MIB + 17;
    let a = holders(ClockMode::Virtual, Keep::Hold, unit);
    let b = holders(ClockMode::Virtual, Keep::Hold, unit);
    assert_eq!(a.agents.list, b.agents.list);
    // Agents differ only in how much they hold, so their figures differ by exactly that.
    let base = &a.agents.list[0];
    for agent in &a.agents.list {
        let extra = known(agent.id, unit) - known(base.id, unit);
        assert_eq!(agent.peak_memory_bytes - base.peak_memory_bytes, extra);
        assert_eq!(agent.final_memory_bytes - base.final_memory_bytes, extra);
    }
    // Besides its buffer, an agent holds its task and a few small things.
    assert!(
        base.peak_memory_bytes - known(0, unit) < 64 * 1024,
        "{base:?}"
    );
}

#[test]
fn no_agent_is_charged_for_the_runtime_s_run_queue() {
    // A runtime queues every task spawned before it runs any, and its run queue doubles as it
    // fills: the agent whose spawn crossed a power of two was charged the whole queue (agent
    // 4,094 of 5,000 held 64 kB more than the others). Agents here differ only by their
    // buffer.
    let mut s = scenario::load(&scenario("smoke.toml")).expect("the smoke fixture loads");
    s.clock = ClockMode::Virtual;
    s.fleet.agents = 5_000;
    s.fleet.duration = Some(scenario::Dur(Duration::from_millis(800)));
    s.fleet.ramp_up = scenario::Dur(Duration::from_millis(100));
    s.check("test").expect("the scenario is valid");
    let snap = run(&s, Keep::Hold, 8);
    assert_eq!(snap.agents.list.len(), 5_000);
    let excess: Vec<u64> = snap
        .agents
        .list
        .iter()
        .map(|a| a.peak_memory_bytes - known(a.id, 8))
        .collect();
    let (least, most) = (excess.iter().min(), excess.iter().max());
    let (least, most) = (*least.expect("agents"), *most.expect("agents"));
    assert!(
        most - least < 1024,
        "agents' own figures range from {least} to {most} bytes beyond their buffers"
    );
}

#[test]
fn a_freed_buffer_returns_to_zero() {
    let s = holders(ClockMode::Virtual, Keep::Free, 2 * MIB);
    for a in &s.agents.list {
        assert!(a.peak_memory_bytes >= known(a.id, 2 * MIB), "{a:?}");
        assert!(a.final_memory_bytes < 64 * 1024, "{a:?}");
    }
}

/// Runs agents that `keep` their buffer and checks each still holds it after its last turn.
fn each_agent_still_holds_its_buffer(keep: Keep) {
    let s = holders(ClockMode::Virtual, keep, 2 * MIB);
    for a in &s.agents.list {
        let want = known(a.id, 2 * MIB);
        assert!(
            a.final_memory_bytes >= want && a.final_memory_bytes < want + 64 * 1024,
            "{keep:?}: {a:?}"
        );
    }
}

#[test]
fn a_buffer_handed_to_a_shared_task_stays_charged_to_its_owner() {
    each_agent_still_holds_its_buffer(Keep::HandOff);
}

#[test]
fn a_task_an_agent_spawns_is_charged_to_the_agent() {
    each_agent_still_holds_its_buffer(Keep::Spawned);
}

/// `report.json` of the binary's virtual smoke run, with `env` set.
fn smoke_report(env: &[(&str, &str)]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("a temp dir");
    fleetbench()
        .envs(env.iter().copied())
        .arg("run")
        .arg(scenario("smoke.toml"))
        .args(["--clock", "virtual", "--duration", "3s", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn the_binary_measures_agents_with_the_allocator() {
    let report = smoke_report(&[]);
    let agents = &report["agents"];
    assert_eq!(agents["memory_method"], "allocator");
    // The heap an agent uses includes its conversation's text and more besides.
    for a in agents["list"].as_array().expect("a list") {
        let heap = a["peak_memory_bytes"].as_u64().expect("bytes");
        let conversation = a["conversation_bytes"].as_u64().expect("bytes");
        assert!(heap > conversation, "{a}");
    }
    assert!(report["process"]["shared_heap_peak_bytes"].as_u64() > Some(0));
}

#[test]
fn fleetbench_heap_off_passes_allocations_through_and_reports_structural_sizes() {
    let report = smoke_report(&[("FLEETBENCH_HEAP", "off")]);
    assert_eq!(report["agents"]["memory_method"], "structural");
    assert_eq!(report["process"]["shared_heap_peak_bytes"], 0);
    for a in report["agents"]["list"].as_array().expect("a list") {
        assert_eq!(a["peak_memory_bytes"], a["structural_peak_bytes"], "{a}");
    }
}
