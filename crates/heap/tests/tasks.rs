//! Attribution under tokio: tasks spawned through `inherit` are charged to the agent that
//! spawned them (plain spawns are not), and a virtual-clock fleet gives the same per-account
//! figures every run.

use std::time::Duration;

use fleetbench_heap as heap;
use heap::{Account, Usage, attribute, current, inherit};

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

const BUFFER: usize = 4 << 20;
/// What tokio itself may charge the parent for a spawn (the task cell, a queue slot).
const TASK_SLACK: u64 = 64 << 10;

/// A child allocates and holds `BUFFER` bytes, then reports the parent's live bytes.
async fn child(parent: Account) -> (Option<Account>, u64) {
    let held = vec![9_u8; BUFFER];
    tokio::task::yield_now().await;
    let seen = (current(), parent.usage().live);
    drop(held);
    seen
}

async fn parent_spawns(parent: Account) -> ((Option<Account>, u64), (Option<Account>, u64)) {
    let inherited = tokio::spawn(inherit(child(parent)));
    let inherited = inherited.await.expect("the inherited child does not panic");
    let plain = tokio::spawn(child(parent));
    let plain = plain.await.expect("the plain child does not panic");
    (inherited, plain)
}

fn check_spawns(parent: Account, inherited: (Option<Account>, u64), plain: (Option<Account>, u64)) {
    assert_eq!(inherited.0, Some(parent));
    assert!(
        inherited.1 >= BUFFER as u64 && inherited.1 < BUFFER as u64 + TASK_SLACK,
        "parent live {} while its inherited child held {BUFFER}",
        inherited.1
    );
    assert_eq!(plain.0, None);
    assert!(
        plain.1 < TASK_SLACK,
        "parent live {} while a plain child held {BUFFER}",
        plain.1
    );
    assert!(parent.usage().peak >= BUFFER as u64);
}

#[test]
fn inherited_spawns_are_charged_to_the_parent_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let parent = Account::open();
    let (inherited, plain) = runtime.block_on(attribute(parent, parent_spawns(parent)));
    check_spawns(parent, inherited, plain);
    drop(runtime);
    assert_eq!(
        parent.usage().live,
        0,
        "tokio frees what it charged the parent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherited_spawns_are_charged_to_the_parent_on_a_multi_thread_runtime() {
    let parent = Account::open();
    let (inherited, plain) = tokio::spawn(attribute(parent, parent_spawns(parent)))
        .await
        .expect("the parent does not panic");
    check_spawns(parent, inherited, plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_moving_between_workers_stays_charged() {
    let agent = Account::open();
    let held = tokio::spawn(attribute(agent, async {
        let mut held = Vec::new();
        for round in 0..50 {
            held.push(vec![round as u8; 10_000]);
            tokio::task::yield_now().await;
        }
        held
    }))
    .await
    .expect("the agent does not panic");
    let bytes: usize = held.iter().map(Vec::capacity).sum::<usize>();
    let live = agent.usage().live;
    assert!(
        live >= bytes as u64 && live < (bytes as u64) + TASK_SLACK,
        "live {live} for {bytes} held"
    );
    drop(held);
    assert!(agent.usage().live < TASK_SLACK);
}

/// One simulated agent: turns paced by virtual sleeps, a growing history, scratch work, and a
/// spawned helper per turn. Returns its history (freed by the caller, outside the account).
async fn agent(id: usize) -> Vec<String> {
    let mut history = Vec::new();
    for turn in 0..10 + 2 * id {
        tokio::time::sleep(Duration::from_millis(10 * (id as u64 + 1))).await;
        let message = format!(
            "agent {id} turn {turn}: {}",
            "x".repeat(100 * ((turn + id) % 7))
        );
        let summary = tokio::spawn(inherit(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            message
                .split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .join("/")
        }));
        let summary = summary.await.expect("the helper does not panic");
        history.push(summary);
        if history.len() > 8 {
            history.drain(..4);
        }
    }
    history
}

/// Per-agent (usage when all agents are done, usage after the runtime is gone).
fn run_fleet() -> Vec<(Usage, Usage)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused current-thread runtime");
    let accounts: Vec<Account> = (0..6).map(|_| Account::open()).collect();
    let done = runtime.block_on(async {
        let agents: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(id, &account)| tokio::spawn(attribute(account, agent(id))))
            .collect();
        let mut histories = Vec::new();
        for agent in agents {
            histories.push(agent.await.expect("the agent does not panic"));
        }
        let done: Vec<Usage> = accounts.iter().map(|account| account.usage()).collect();
        drop(histories);
        done
    });
    drop(runtime);
    done.into_iter()
        .zip(accounts.iter().map(|account| account.usage()))
        .collect()
}

#[test]
fn a_virtual_clock_fleet_gives_the_same_figures_every_run() {
    let first = run_fleet();
    let second = run_fleet();
    assert_eq!(first, second);
    assert!(
        first.windows(2).all(|pair| pair[0] != pair[1]),
        "agents differ: {first:?}"
    );
    for (done, after) in &first {
        assert!(done.live > 0 && done.peak >= done.live);
        assert_eq!(after.live, 0);
    }
}
