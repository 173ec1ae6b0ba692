//! What tracking costs per allocation: nanoseconds per alloc+free pair of mimalloc (the
//! tracking allocator's base) called directly next to a `TrackingAllocator` called directly
//! through `GlobalAlloc` (not installed: this binary runs on `System`), for 16 B, 256 B,
//! 4 KiB and 64 KiB blocks.
//!
//! Cases: one thread, and two threads in parallel; each charged to the shared figure (no
//! current account), to an account of its own, or (two threads) both to one account. With two
//! threads, "shared" and "one account" make both threads hit one counter, the worst case.
//! Each pair writes one byte to its block, as any user would.
//!
//! A round runs pairs on each thread until `ROUND` after it starts; a thread's figure is its
//! wall time over its pairs, a round's the mean over its threads. On a shared machine many
//! rounds are disturbed, so (on 64-bit Linux) a round only counts if every thread was on a
//! CPU for at least 95 % of its wall time (its thread CPU clock) and, with two threads, they
//! ran at the same time for 95 % of it. Each figure is the best and the median of up to
//! `ROUNDS` clean rounds (at most `ATTEMPTS` tried), mimalloc and tracking rounds
//! interleaved; the table says how many were clean.
//!
//! `cargo bench -p fleetbench-heap` (about 5 s on a quiet machine, up to a minute on a busy
//! one). Without `--bench` (as `cargo test --benches` runs it) one tiny round each, to check
//! it runs.

#![allow(clippy::print_stdout, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use fleetbench_heap as heap;
use heap::{Account, TrackingAllocator, charged_to};
use mimalloc::MiMalloc;

const ROUNDS: usize = 21;
const ATTEMPTS: usize = 200;
const ROUND: Duration = Duration::from_millis(5);
const SIZES: [usize; 4] = [16, 256, 4 << 10, 64 << 10];
/// Share of its wall time a thread must have been on a CPU for a round to count.
const CLEAN: f64 = 0.95;
/// Pairs between two looks at the clock.
const CHUNK: u64 = 64;

/// Who the pairs are charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charge {
    /// No current account.
    Shared,
    /// Each thread its own account.
    OwnAccount,
    /// Both threads one account (an agent's tasks on two workers).
    OneAccount,
}

impl Charge {
    fn label(self) -> &'static str {
        match self {
            Charge::Shared => "shared",
            Charge::OwnAccount => "own account",
            Charge::OneAccount => "one account",
        }
    }
}

/// Nanoseconds this thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`, exact; the
/// `/proc` schedstat figure only moves at scheduler ticks), where the platform says.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn on_cpu() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` (libc, linked by std) writes one `struct timespec`, which on
    // 64-bit Linux is two i64s, into the valid, exclusive `now`.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (status == 0).then(|| now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn on_cpu() -> Option<u64> {
    None
}

/// One thread's run: when it started and ended, nanoseconds per pair, and whether it kept its
/// CPU throughout.
struct Run {
    start: Instant,
    end: Instant,
    per_pair: f64,
    undisturbed: bool,
}

/// Runs alloc+free pairs of `layout` through `allocator` until `deadline`.
fn run_until<A: GlobalAlloc>(allocator: &A, layout: Layout, deadline: Instant) -> Run {
    let cpu_before = on_cpu();
    let start = Instant::now();
    let mut pairs = 0_u64;
    let mut now = start;
    while now < deadline {
        for _ in 0..CHUNK {
            // SAFETY: `layout` has a non-zero size; the block is checked for null, written
            // within its size, and freed with the layout it was allocated with.
            unsafe {
                let block = allocator.alloc(layout);
                assert!(!block.is_null(), "out of memory");
                block.write_volatile(1);
                allocator.dealloc(black_box(block), layout);
            }
        }
        pairs += CHUNK;
        now = Instant::now();
    }
    let wall = (now - start).as_nanos() as f64;
    let undisturbed = match (cpu_before, on_cpu()) {
        (Some(before), Some(after)) => (after - before) as f64 >= CLEAN * wall,
        _ => true,
    };
    Run {
        start,
        end: now,
        per_pair: wall / pairs.max(1) as f64,
        undisturbed,
    }
}

/// Nanoseconds per pair on `threads` threads in parallel (mean over threads), each thread
/// charged as `charge` says, and whether the round was clean.
fn round<A: GlobalAlloc + Sync>(
    allocator: &A,
    layout: Layout,
    length: Duration,
    threads: usize,
    charge: Charge,
) -> (f64, bool) {
    let common = Account::open();
    let start = Barrier::new(threads + 1);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let start = &start;
                scope.spawn(move || {
                    let account = match charge {
                        Charge::Shared => None,
                        Charge::OwnAccount => Some(Account::open()),
                        Charge::OneAccount => Some(common),
                    };
                    start.wait();
                    let deadline = Instant::now() + length;
                    match account {
                        Some(account) => {
                            charged_to(account, || run_until(allocator, layout, deadline))
                        }
                        None => run_until(allocator, layout, deadline),
                    }
                })
            })
            .collect();
        start.wait();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a bench thread does not panic"))
            .collect()
    });
    // With two threads, they must also have run at the same time.
    let first_end = runs.iter().map(|run| run.end).min();
    let last_start = runs.iter().map(|run| run.start).max();
    let overlap = match (first_end, last_start) {
        (Some(end), Some(start)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    };
    let clean = runs.iter().all(|run| {
        let wall = (run.end - run.start).as_nanos() as f64;
        run.undisturbed && overlap.as_nanos() as f64 >= CLEAN * wall
    });
    let per_pair = runs.iter().map(|run| run.per_pair).sum::<f64>() / threads as f64;
    (per_pair, clean)
}

fn best(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(samples: &[f64]) -> f64 {
    let mut samples = samples.to_vec();
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (rounds, attempts, length) = if full {
        (ROUNDS, ATTEMPTS, ROUND)
    } else {
        (1, 1, Duration::from_micros(100))
    };
    let cases = [
        (1, Charge::Shared),
        (1, Charge::OwnAccount),
        (2, Charge::Shared),
        (2, Charge::OwnAccount),
        (2, Charge::OneAccount),
    ];
    let tracking = TrackingAllocator::new();
    let started = Instant::now();
    println!(
        "ns per alloc+free pair, best of up to {rounds} clean rounds (median in brackets); \
         TrackingAllocator called directly"
    );
    println!();
    println!(
        "| threads | charged to  |   size |   mimalloc ns |     tracking ns | added ns | overhead \
         | clean rounds |"
    );
    println!(
        "|--------:|-------------|-------:|--------------:|----------------:|---------:|---------:\
         |-------------:|"
    );
    for (threads, charge) in cases {
        for size in SIZES {
            let layout = Layout::from_size_align(size, 8).expect("valid layout");
            let (mut system, mut tracked, mut tried) = (Vec::new(), Vec::new(), 0);
            while tried < attempts && system.len().min(tracked.len()) < rounds {
                tried += 1;
                // The tiny check run keeps every round; a real run only clean ones.
                if system.len() < rounds {
                    let (ns, clean) = round(&MiMalloc, layout, length, threads, charge);
                    if clean || !full {
                        system.push(ns);
                    }
                }
                if tracked.len() < rounds {
                    let (ns, clean) = round(&tracking, layout, length, threads, charge);
                    if clean || !full {
                        tracked.push(ns);
                    }
                }
            }
            let clean = system.len().min(tracked.len());
            if clean == 0 {
                println!(
                    "| {threads:>7} | {:<11} | {:>6} | no clean round: the machine is too busy \
                     |   {clean:>5} / {tried:<5} |",
                    charge.label(),
                    human(size),
                );
                continue;
            }
            let (system_median, tracked_median) = (median(&system), median(&tracked));
            let (system_best, tracked_best) = (best(&system), best(&tracked));
            println!(
                "| {threads:>7} | {:<11} | {:>6} | {system_best:>5.1} ({system_median:>5.1}) | \
                 {tracked_best:>6.1} ({tracked_median:>6.1}) | {:>8.1} | {:>7.0}% \
                 | {clean:>5} / {tried:<5} |",
                charge.label(),
                human(size),
                tracked_best - system_best,
                (tracked_best - system_best) / system_best * 100.0,
            );
        }
    }
    println!();
    println!("took {:.1} s", started.elapsed().as_secs_f64());
}

fn human(bytes: usize) -> String {
    if bytes >= 1 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}
