//! The shared figure: what `shared` charges to it, and that a buffer freed outside its owner's
//! polls (on another thread, in another task) is credited to the owner and leaves the shared
//! figure alone.
//!
//! The shared figure is process-wide and the test harness allocates too, so these tests take
//! a lock (one at a time) and compare shared deltas within `SLACK` of what they expect, with
//! buffers much larger than that: a wrong attribution moves it by a whole buffer.

use std::sync::{Mutex, MutexGuard};

use fleetbench_heap as heap;
use heap::{Account, Usage, attribute, charged_to, current, shared, shared_usage};

mod common;
use common::block_on;

#[global_allocator]
static HEAP: heap::TrackingAllocator = heap::TrackingAllocator::new();

const BUFFER: usize = 8 << 20;
const SLACK: i64 = 256 << 10;

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared_live() -> i64 {
    shared_usage().live as i64
}

#[test]
fn shared_inside_an_attributed_poll_charges_the_shared_figure() {
    let _one = one_at_a_time();
    let agent = Account::open();
    let before = shared_live();
    let (held, agent_live, shared_delta) = block_on(attribute(agent, async move {
        let held = shared(|| {
            assert_eq!(current(), None);
            Vec::<u8>::with_capacity(BUFFER)
        });
        assert_eq!(current(), Some(agent));
        (held, agent.usage().live, shared_live() - before)
    }));
    assert_eq!(agent_live, 0);
    assert!(
        (shared_delta - BUFFER as i64).abs() < SLACK,
        "shared grew by {shared_delta}, expected {BUFFER}"
    );
    drop(held);
    assert!((shared_live() - before).abs() < SLACK);
    assert_eq!(agent.usage(), Usage::default());
}

#[test]
fn a_buffer_freed_on_another_thread_is_credited_to_its_owner() {
    let _one = one_at_a_time();
    let owner = Account::open();
    let buffer = block_on(attribute(owner, async { vec![1_u8; BUFFER] }));
    assert_eq!(owner.usage().live, BUFFER as u64);
    let shared_delta = std::thread::spawn(move || {
        assert_eq!(current(), None);
        let before = shared_live();
        drop(buffer);
        shared_live() - before
    })
    .join()
    .expect("the freeing thread does not panic");
    assert_eq!(
        owner.usage(),
        Usage {
            live: 0,
            peak: BUFFER as u64
        }
    );
    assert!(shared_delta.abs() < SLACK, "shared moved by {shared_delta}");
}

#[test]
fn a_buffer_freed_by_an_unattributed_task_is_credited_to_its_owner() {
    let _one = one_at_a_time();
    let owner = Account::open();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let (owner_before, owner_after, shared_delta) = runtime.block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
        // Spawned outside any account: its polls run shared.
        let dropper = tokio::spawn(async move {
            let buffer = rx.await.expect("the agent sends its buffer");
            assert_eq!(current(), None);
            let (owner_before, before) = (owner.usage().live, shared_live());
            drop(buffer);
            (owner_before, owner.usage().live, shared_live() - before)
        });
        attribute(owner, async move {
            let buffer = vec![2_u8; BUFFER];
            tx.send(buffer).expect("the dropper is waiting");
        })
        .await;
        dropper.await.expect("the dropper does not panic")
    });
    drop(runtime);
    assert_eq!(owner_before - owner_after, BUFFER as u64);
    assert!(shared_delta.abs() < SLACK, "shared moved by {shared_delta}");
    assert_eq!(
        owner.usage().live,
        0,
        "nothing else stays charged to the owner"
    );
    assert!(owner.usage().peak >= BUFFER as u64);
}

#[test]
fn shared_inside_charged_to_charges_the_shared_figure() {
    let _one = one_at_a_time();
    let agent = Account::open();
    let before = shared_live();
    let held = charged_to(agent, || shared(|| vec![3_u8; BUFFER]));
    let delta = shared_live() - before;
    assert!(
        (delta - BUFFER as i64).abs() < SLACK,
        "shared grew by {delta}"
    );
    assert_eq!(agent.usage(), Usage::default());
    drop(held);
}

#[test]
fn shared_blocks_made_on_many_threads_and_freed_on_another_add_up() {
    let _one = one_at_a_time();
    // 60,000 bytes a thread: under the 64 KiB at which a thread's lane is emptied into the
    // common counter, so most of the 4.8 MB are only in the lanes when they are read. More
    // threads than lanes (64): some lanes are shared.
    const THREADS: usize = 80;
    const BLOCKS: usize = 6;
    const SIZE: usize = 10_000;
    let before = shared_usage();
    let made: Vec<Vec<Vec<u8>>> = (0..THREADS)
        .map(|_| std::thread::spawn(|| (0..BLOCKS).map(|_| vec![7_u8; SIZE]).collect()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().expect("an allocating thread does not panic"))
        .collect();
    let held = (THREADS * BLOCKS * SIZE) as i64;
    let during = shared_usage();
    let grew = during.live as i64 - before.live as i64;
    assert!(
        (grew - held).abs() < SLACK,
        "shared grew by {grew}, expected {held}"
    );
    assert!(during.peak >= during.live);
    // Freed here: this thread's lane goes below zero by what the others' went above it.
    drop(made);
    let after = shared_usage();
    let left = after.live as i64 - before.live as i64;
    assert!(left.abs() < SLACK, "shared kept {left} after the frees");
    assert!(
        after.peak >= during.live,
        "the peak keeps the highest total read"
    );
}
