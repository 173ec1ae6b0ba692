//! Tests of the circuit breaker, on a paused clock.
use super::*;

use scenario::{Dur, Probability};
use tokio::time::advance;

const OPEN_FOR: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_secs(10);

/// Rate 0.5 over 10 s with 10 calls minimum, 3 failures in a row, open 5 s, 2 probes.
fn config() -> scenario::Breaker {
    scenario::Breaker {
        enabled: true,
        failure_rate: Probability(0.5),
        window: Dur(WINDOW),
        min_calls: 10,
        consecutive_failures: 3,
        open_for: Dur(OPEN_FOR),
        half_open_probes: 2,
    }
}

/// A config that only opens on failures in a row, so rate tests and streak tests do not
/// disturb each other.
fn streak_only(n: u32) -> scenario::Breaker {
    scenario::Breaker {
        consecutive_failures: n,
        min_calls: u32::MAX,
        ..config()
    }
}

/// A config that only opens on the failure rate.
fn rate_only() -> scenario::Breaker {
    scenario::Breaker {
        consecutive_failures: u32::MAX,
        ..config()
    }
}

fn succeed(b: &CircuitBreaker) {
    b.try_acquire()
        .expect("breaker lets the call through")
        .success();
}

fn fail(b: &CircuitBreaker) {
    b.try_acquire()
        .expect("breaker lets the call through")
        .failure();
}

/// Opens a `config()` breaker with three failures in a row.
fn open(b: &CircuitBreaker) {
    for _ in 0..3 {
        fail(b);
    }
    assert_eq!(b.state(), BreakerState::Open);
}

/// Opens a `config()` breaker and waits out `open_for`.
async fn half_open(b: &CircuitBreaker) {
    open(b);
    advance(OPEN_FOR).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

fn rejected(b: &CircuitBreaker) -> Rejected {
    b.try_acquire().expect_err("breaker rejects the call")
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<CircuitBreaker>();
    check::<Permit>();
}

#[tokio::test(start_paused = true)]
async fn opens_after_consecutive_failures() {
    let b = CircuitBreaker::new(&streak_only(3));
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(rejected(&b).state, BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let b = CircuitBreaker::new(&streak_only(3));
    fail(&b);
    fail(&b);
    succeed(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn opens_on_failure_rate_only_once_min_calls_is_reached() {
    let b = CircuitBreaker::new(&rate_only());
    // 8 calls, 4 failures: the share is 0.5 but min_calls (10) is not reached.
    for _ in 0..4 {
        fail(&b);
        succeed(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    // 9 calls, 5 failures: still below min_calls.
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    // 10 calls, 5 failures: the share 0.5 reaches failure_rate.
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn stays_closed_below_the_failure_rate() {
    let b = CircuitBreaker::new(&rate_only());
    // 20 calls, 4 failures (0.2 < 0.5).
    for i in 0..20 {
        if i % 5 == 0 { fail(&b) } else { succeed(&b) }
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats(), BreakerStats::default());
}

#[tokio::test(start_paused = true)]
async fn old_failures_leave_the_window() {
    // Both breakers see 5 failures at 0 s.
    let kept = CircuitBreaker::new(&rate_only());
    let forgotten = CircuitBreaker::new(&rate_only());
    for _ in 0..5 {
        fail(&kept);
        fail(&forgotten);
    }
    // 1 ms before `window` has passed the failures still count: 5 of 10 opens.
    advance(WINDOW - Duration::from_millis(1)).await;
    for _ in 0..5 {
        succeed(&kept);
    }
    assert_eq!(kept.state(), BreakerState::Open);
    // Once `window` has passed they are forgotten: 5 successes alone do not open...
    advance(Duration::from_millis(1)).await;
    for _ in 0..5 {
        succeed(&forgotten);
    }
    assert_eq!(forgotten.state(), BreakerState::Closed);
    // ...and it takes 5 fresh failures to make 10 calls with a share of 0.5.
    for _ in 0..4 {
        fail(&forgotten);
    }
    assert_eq!(forgotten.state(), BreakerState::Closed);
    fail(&forgotten);
    assert_eq!(forgotten.state(), BreakerState::Open);
}

/// 4 successes at 0 s, 3 failures at 5 s, then one more failure at `at`: with rate 0.6
/// and 4 calls minimum, that is 4 of 8 (closed) while the successes are in the window and
/// 4 of 4 (open) once their bucket has rotated out.
async fn rotation_scenario(at: Duration) -> BreakerState {
    let b = CircuitBreaker::new(&scenario::Breaker {
        failure_rate: Probability(0.6),
        min_calls: 4,
        ..rate_only()
    });
    for _ in 0..4 {
        succeed(&b);
    }
    advance(Duration::from_secs(5)).await;
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    advance(at - Duration::from_secs(5)).await;
    fail(&b);
    b.state()
}

#[tokio::test(start_paused = true)]
async fn buckets_rotate_as_time_passes() {
    // The 0 s bucket still counts 1 ms before `window`...
    let before = rotation_scenario(WINDOW - Duration::from_millis(1)).await;
    assert_eq!(before, BreakerState::Closed);
    // ...and is gone at `window`, while the 5 s bucket stays.
    let after = rotation_scenario(WINDOW).await;
    assert_eq!(after, BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn rejects_while_open_counts_rejections_and_never_waits() {
    let b = CircuitBreaker::new(&config());
    open(&b);
    let before = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            b.try_acquire().expect_err("open breaker rejects"),
            Rejected {
                state: BreakerState::Open
            }
        );
    }
    assert_eq!(Instant::now(), before, "try_acquire must not wait");
    assert_eq!(b.stats().rejected, 100);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn becomes_half_open_after_open_for_exactly() {
    let b = CircuitBreaker::new(&config());
    open(&b);
    advance(OPEN_FOR - Duration::from_millis(1)).await;
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(rejected(&b).state, BreakerState::Open);
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let permit = b
        .try_acquire()
        .expect("half-open breaker hands out a probe");
    assert!(permit.is_probe());
    permit.success();
}

#[tokio::test(start_paused = true)]
async fn becomes_half_open_lazily_on_try_acquire() {
    let b = CircuitBreaker::new(&config());
    open(&b);
    advance(OPEN_FOR).await;
    // No `state()` call in between: `try_acquire` itself notices open_for has passed.
    let permit = b
        .try_acquire()
        .expect("half-open breaker hands out a probe");
    assert!(permit.is_probe());
    assert_eq!(b.stats().half_opened, 1);
    drop(permit);
}

#[tokio::test(start_paused = true)]
async fn hands_out_exactly_half_open_probes() {
    let b = CircuitBreaker::new(&config());
    half_open(&b).await;
    let first = b.try_acquire().expect("first probe");
    let second = b.try_acquire().expect("second probe");
    assert!(first.is_probe() && second.is_probe());
    assert_eq!(rejected(&b).state, BreakerState::HalfOpen);
    // A succeeded probe keeps its slot: the period's two probes are used up.
    first.success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(rejected(&b).state, BreakerState::HalfOpen);
    assert_eq!(b.stats().rejected, 2);
    second.success();
}

#[tokio::test(start_paused = true)]
async fn closes_after_half_open_probes_successes() {
    let b = CircuitBreaker::new(&config());
    half_open(&b).await;
    let first = b.try_acquire().expect("first probe");
    let second = b.try_acquire().expect("second probe");
    first.success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    second.success();
    assert_eq!(b.state(), BreakerState::Closed);
    // Closed again with a clean slate: permits are not probes, and the consecutive count
    // starts from zero (two failures do not reopen).
    let permit = b.try_acquire().expect("closed breaker lets calls through");
    assert!(!permit.is_probe());
    permit.failure();
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn closing_clears_the_window() {
    let b = CircuitBreaker::new(&scenario::Breaker {
        min_calls: 4,
        ..rate_only()
    });
    // 4 calls, 2 failures → opens on the rate.
    fail(&b);
    succeed(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    advance(OPEN_FOR).await;
    succeed(&b);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    // Had the old failures survived, 2 of 4 would open again; a clean window needs 4
    // fresh calls.
    fail(&b);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn reopens_on_a_probe_failure_with_a_fresh_open_for() {
    let b = CircuitBreaker::new(&config());
    half_open(&b).await;
    let first = b.try_acquire().expect("first probe");
    let second = b.try_acquire().expect("second probe");
    first.success();
    advance(Duration::from_secs(1)).await;
    second.failure();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(rejected(&b).state, BreakerState::Open);
    // open_for counts from the failed probe, not from the first opening.
    advance(OPEN_FOR - Duration::from_millis(1)).await;
    assert_eq!(b.state(), BreakerState::Open);
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    // A new half-open period gets all its probe slots back.
    let third = b.try_acquire().expect("probe of the new period");
    let fourth = b.try_acquire().expect("probe of the new period");
    third.success();
    fourth.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let b = CircuitBreaker::new(&config());
    half_open(&b).await;
    let first = b.try_acquire().expect("first probe");
    let second = b.try_acquire().expect("second probe");
    assert_eq!(rejected(&b).state, BreakerState::HalfOpen);
    drop(first); // a cancelled call
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let third = b
        .try_acquire()
        .expect("the freed slot goes to another caller");
    assert!(third.is_probe());
    assert_eq!(rejected(&b).state, BreakerState::HalfOpen);
    // The dropped probe counted as nothing: two successes still close.
    second.success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    third.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_closed_permit_counts_as_nothing() {
    let b = CircuitBreaker::new(&streak_only(2));
    fail(&b);
    drop(b.try_acquire().expect("closed"));
    // The drop neither reset nor extended the streak.
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_stale_failure_does_not_extend_the_open_period() {
    let b = CircuitBreaker::new(&config());
    let slow = b.try_acquire().expect("closed");
    open(&b);
    advance(OPEN_FOR - Duration::from_secs(1)).await;
    // The slow call started while closed fails now; the breaker must not reopen.
    slow.failure();
    assert_eq!(b.stats().opened, 1);
    advance(Duration::from_secs(1)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn stale_permits_do_not_touch_a_half_open_breaker() {
    let b = CircuitBreaker::new(&config());
    let early_success = b.try_acquire().expect("closed");
    let early_failure = b.try_acquire().expect("closed");
    let early_dropped = b.try_acquire().expect("closed");
    half_open(&b).await;
    let first = b.try_acquire().expect("first probe");
    // A closed-era success is not a probe success, a closed-era failure does not reopen,
    // and a closed-era drop frees no probe slot.
    early_success.success();
    early_failure.failure();
    drop(early_dropped);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let second = b.try_acquire().expect("second probe");
    assert_eq!(rejected(&b).state, BreakerState::HalfOpen);
    first.success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    second.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn stale_probes_of_an_earlier_half_open_period_are_ignored() {
    let b = CircuitBreaker::new(&config());
    half_open(&b).await;
    let stale_success = b.try_acquire().expect("probe");
    let failing = b.try_acquire().expect("probe");
    failing.failure();
    assert_eq!(b.state(), BreakerState::Open);
    advance(OPEN_FOR).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let fresh = b.try_acquire().expect("probe of the new period");
    // The old period's probe neither counts as a success nor frees a slot.
    stale_success.success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    fresh.success();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let last = b.try_acquire().expect("second probe of the new period");
    assert_eq!(rejected(&b).state, BreakerState::HalfOpen);
    last.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn disabled_breaker_never_opens() {
    let b = CircuitBreaker::new(&scenario::Breaker {
        enabled: false,
        ..config()
    });
    for _ in 0..1_000 {
        let permit = b.try_acquire().expect("disabled breaker allows every call");
        assert!(!permit.is_probe());
        permit.failure();
    }
    advance(WINDOW).await;
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats(), BreakerStats::default());
}

#[tokio::test(start_paused = true)]
async fn clones_share_state() {
    let b = CircuitBreaker::new(&config());
    let c = b.clone();
    fail(&b);
    fail(&c);
    fail(&b);
    assert_eq!(c.state(), BreakerState::Open);
    assert_eq!(rejected(&c).state, BreakerState::Open);
    assert_eq!(b.stats().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn stats_count_the_transitions() {
    let b = CircuitBreaker::new(&config());
    assert_eq!(b.stats(), BreakerStats::default());

    open(&b); // opened 1
    rejected(&b); // rejected 1
    advance(OPEN_FOR).await;
    assert_eq!(b.state(), BreakerState::HalfOpen); // half_opened 1
    assert_eq!(b.state(), BreakerState::HalfOpen); // asking again is not a transition
    fail(&b); // probe fails: opened 2
    rejected(&b); // rejected 2
    advance(OPEN_FOR).await;
    succeed(&b); // half_opened 2 (lazily, on try_acquire)
    succeed(&b); // closed 1
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(
        b.stats(),
        BreakerStats {
            opened: 2,
            half_opened: 2,
            closed: 1,
            rejected: 2,
        }
    );

    // stats() itself notices a due half-open transition.
    open(&b);
    advance(OPEN_FOR).await;
    assert_eq!(
        b.stats(),
        BreakerStats {
            opened: 3,
            half_opened: 3,
            closed: 1,
            rejected: 2,
        }
    );
}

#[test]
fn rejected_displays_the_state() {
    assert_eq!(
        Rejected {
            state: BreakerState::Open
        }
        .to_string(),
        "circuit breaker is open"
    );
    assert_eq!(
        Rejected {
            state: BreakerState::HalfOpen
        }
        .to_string(),
        "circuit breaker is half-open and every probe slot is taken"
    );
}
